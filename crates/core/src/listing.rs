//! Directory listings, sans-I/O: parsing the pages web servers generate (nginx `autoindex`,
//! Apache `mod_autoindex` with `HTMLTable`, fancy `<pre>` or plain `<ul>`, lighttpd
//! `mod_dirlisting`, Python's `http.server`, IIS directory browsing, any "Index of /" page),
//! recognising a mail store in the pages a bounded descent fetched, planning that descent,
//! and masking the addresses the evidence shows.
//!
//! Bodies are attacker-controlled: every function is bounded by its input and keeps at most
//! [`MAX_ENTRIES`] entries per page; [`Descent`] never plans more than its budget.

use crate::model::{DirListing, ListingEntry};
use std::collections::{BTreeSet, VecDeque};

/// Most entries kept per listing page.
pub const MAX_ENTRIES: usize = 200;
/// How far below the listing it starts from a descent goes.
pub const MAX_DEPTH: u8 = 3;
/// Bytes after an entry's link searched for its size.
const MAX_TAIL: usize = 400;
/// Longest path a descent requests.
const MAX_PATH: usize = 1024;

/// Which program generated a listing page.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Flavour {
    /// nginx `autoindex` (`<hr><pre>`, sizes in bytes).
    Nginx,
    /// Apache `mod_autoindex`, `IndexOptions FancyIndexing HTMLTable` (Debian's default).
    ApacheTable,
    /// Apache `mod_autoindex`, `FancyIndexing` without `HTMLTable` (a `<pre>` block).
    ApacheFancy,
    /// Apache `mod_autoindex` without `FancyIndexing` (a `<ul>` of names, no sizes).
    ApachePlain,
    /// lighttpd `mod_dirlisting`.
    Lighttpd,
    /// Python's `http.server` ("Directory listing for", no sizes).
    Python,
    /// IIS directory browsing.
    Iis,
    /// Any other "Index of /" page.
    Generic,
}

impl Flavour {
    /// The name stored in [`DirListing::flavour`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nginx => "nginx",
            Self::ApacheTable => "apache-table",
            Self::ApacheFancy => "apache-fancy",
            Self::ApachePlain => "apache-plain",
            Self::Lighttpd => "lighttpd",
            Self::Python => "python",
            Self::Iis => "iis",
            Self::Generic => "generic",
        }
    }
}

fn flavour(body: &str) -> Option<Flavour> {
    let l = body.to_ascii_lowercase();
    let index_of = ["<title>index of ", "<h1>index of ", "<h2>index of "]
        .iter()
        .any(|t| l.contains(t));
    Some(if l.contains("directory listing for ") {
        Flavour::Python
    } else if l.contains("<td class=\"n\">") && index_of {
        Flavour::Lighttpd
    } else if l.contains("?c=n;o=d") || l.contains("<address>apache") {
        if l.contains("<table") {
            Flavour::ApacheTable
        } else if l.contains("<pre>") {
            Flavour::ApacheFancy
        } else {
            Flavour::ApachePlain
        }
    } else if l.contains("[to parent directory]") {
        Flavour::Iis
    } else if l.contains("<title>index of ") && l.contains("<hr><pre>") {
        Flavour::Nginx
    } else if index_of {
        Flavour::Generic
    } else {
        return None;
    })
}

/// One `<a href>` with the text up to the end of its row.
struct Link<'a> {
    href: &'a str,
    text: &'a str,
    tail: &'a str,
}

/// The links of a page, in order, capped. ASCII lowercasing keeps byte offsets.
fn links(body: &str) -> Vec<Link<'_>> {
    let lower = body.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while out.len() < MAX_ENTRIES * 2 {
        let Some(i) = lower[at..].find("<a ") else {
            break;
        };
        let tag_start = at + i;
        let Some(tag_len) = lower[tag_start..].find('>') else {
            break;
        };
        let tag_end = tag_start + tag_len;
        at = tag_end + 1;
        let Some(h) = lower[tag_start..tag_end].find("href=") else {
            continue;
        };
        let v = tag_start + h + 5;
        let quote = body[v..tag_end]
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'');
        let from = v + quote.map_or(0, char::len_utf8);
        let rest = &body[from..tag_end];
        let end = match quote {
            Some(c) => rest.find(c),
            None => rest.find([' ', '\t']),
        }
        .unwrap_or(rest.len());
        let href = &rest[..end];
        let mut window_end = at + (body.len() - at).min(2048);
        while !body.is_char_boundary(window_end) {
            window_end -= 1;
        }
        let close = lower[at..window_end].find("</a").map_or(at, |c| at + c);
        let text = &body[at..close];
        let after = lower[close..]
            .find('>')
            .map_or(body.len(), |c| close + c + 1);
        let mut tail_end = after + (body.len() - after).min(MAX_TAIL);
        while !body.is_char_boundary(tail_end) {
            tail_end -= 1;
        }
        let window = &lower[after..tail_end];
        let stop = ["</tr", "\n", "</li", "<a "]
            .iter()
            .filter_map(|s| window.find(s))
            .min()
            .unwrap_or(window.len());
        out.push(Link {
            href,
            text,
            tail: &body[after..after + stop],
        });
        at = after.max(at);
    }
    out
}

/// Decodes the entities listing generators write in attributes (`&amp;` and friends).
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Percent-decodes `%40` and friends (listing links are URL-encoded), lossy.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A size column: `1234`, `0.1K`, `2.5M`, `1G` (units of 1024); `-` and anything else: none.
fn size(tail: &str) -> Option<u64> {
    let mut text = String::with_capacity(tail.len());
    let mut in_tag = false;
    for c in tail.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.replace("&nbsp;", " ");
    let tok = text.split_whitespace().rfind(|t| {
        *t == "-"
            || (t.starts_with(|c: char| c.is_ascii_digit())
                && t.trim_end_matches(['K', 'M', 'G', 'T', 'k'])
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.')
                && t.bytes().filter(|b| *b == b'.').count() <= 1)
    })?;
    if tok == "-" {
        return None;
    }
    let (num, mult) = match tok.chars().last() {
        Some('K' | 'k') => (&tok[..tok.len() - 1], 1024.0),
        Some('M') => (&tok[..tok.len() - 1], 1024.0 * 1024.0),
        Some('G') => (&tok[..tok.len() - 1], 1024.0 * 1024.0 * 1024.0),
        Some('T') => (&tok[..tok.len() - 1], 1024.0 * 1024.0 * 1024.0 * 1024.0),
        _ => (tok, 1.0),
    };
    let v: f64 = num.parse().ok()?;
    let bytes = (v * mult).round();
    ((0.0..1e18).contains(&bytes)).then_some(bytes as u64)
}

/// Recognises a directory listing and extracts its entries (link target, decoded name,
/// directory or not, size when the page shows one). Sort links, parent links and links to
/// other sites are not entries.
pub fn parse(body: &str) -> Option<DirListing> {
    let flavour = flavour(body)?;
    let mut entries = Vec::new();
    let mut items = Vec::new();
    for l in links(body) {
        let href = unescape(l.href);
        let text = unescape(l.text.trim());
        let text = text.trim();
        if href.is_empty()
            || href.starts_with('?')
            || href.starts_with('#')
            || href == "../"
            || href == ".."
            || href == "/"
            || href.contains("://")
            || href.starts_with("//")
            || href.to_ascii_lowercase().starts_with("mailto:")
            || href.to_ascii_lowercase().starts_with("javascript:")
            || text.eq_ignore_ascii_case("parent directory")
            || text.eq_ignore_ascii_case("[to parent directory]")
        {
            continue;
        }
        let dir = href.ends_with('/');
        let t = href.split(['?', '#']).next().unwrap_or("");
        let t = t.trim_end_matches('/');
        let name = percent_decode(t.rsplit('/').next().unwrap_or(t));
        if name.is_empty() || name == "." || name == ".." {
            continue;
        }
        items.push(ListingEntry {
            name,
            dir,
            size: if dir { None } else { size(l.tail) },
        });
        entries.push(href);
        if entries.len() >= MAX_ENTRIES {
            break;
        }
    }
    Some(DirListing {
        flavour: flavour.as_str().to_owned(),
        entries,
        items,
    })
}

/// The items of a stored listing; listings stored before items existed get theirs from
/// the link targets (name and directory flag, no size).
pub fn items(l: &DirListing) -> Vec<ListingEntry> {
    if !l.items.is_empty() || l.entries.is_empty() {
        return l.items.clone();
    }
    l.entries
        .iter()
        .map(|e| {
            let t = e.trim_end_matches('/');
            ListingEntry {
                name: percent_decode(t.rsplit('/').next().unwrap_or(t)),
                dir: e.ends_with('/'),
                size: None,
            }
        })
        .collect()
}

/// `local@domain.tld`: a non-empty local part and a domain with a dot.
pub fn is_address(name: &str) -> bool {
    name.split_once('@').is_some_and(|(l, r)| {
        !l.is_empty()
            && !l.contains('/')
            && r.contains('.')
            && !r.starts_with('.')
            && !r.ends_with('.')
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    })
}

/// Looks like a domain name (`example.jp`, `mail.example.co.jp`): letters, digits and hyphens
/// in two or more labels, the last one alphabetic.
pub fn is_domain(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.bytes().all(|b| b.is_ascii_alphabetic()))
        && !matches!(
            labels.last().map(|t| t.to_ascii_lowercase()).as_deref(),
            Some("d" | "old" | "bak" | "orig" | "git" | "svn" | "cache" | "tmp")
        )
}

/// What proves that a listing holds mail.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Ord, PartialOrd)]
pub enum MailSign {
    /// A directory or file named like an address (`taro@example.jp/`).
    AddressName,
    /// A Maildir: `cur/`, `new/` and `tmp/` side by side, or a directory named `Maildir`.
    Maildir,
    /// A message file (`.eml`).
    MessageFile,
    /// An mbox file: `mbox`, `Inbox`, `*.mbox`, `*.mbx`, or `Sent`/`Trash`/… in a `mail/` folder.
    Mbox,
    /// A mail server's own file: Dovecot (`dovecot.index`, `dovecot-uidlist`, …), Courier
    /// (`courierimapuiddb`, …), `maildirsize`, `maildirfolder`.
    ServerFile,
}

impl MailSign {
    /// How evidence names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AddressName => "address-named",
            Self::Maildir => "Maildir",
            Self::MessageFile => "message file",
            Self::Mbox => "mbox file",
            Self::ServerFile => "mail server file",
        }
    }
}

/// One path that proves a mail store, and how.
#[derive(Clone, Debug, Eq, PartialEq, Ord, PartialOrd)]
pub struct MailProof {
    /// The path (decoded; addresses are NOT masked here: see [`mask_addresses`]).
    pub path: String,
    /// What it shows.
    pub sign: MailSign,
}

/// `path` as a directory path: ends with `/`.
pub fn dir_path(path: &str) -> String {
    if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    }
}

const MBOX_FOLDERS: &[&str] = &[
    "sent",
    "trash",
    "drafts",
    "junk",
    "spam",
    "sent-mail",
    "sent messages",
    "deleted messages",
    "saved-messages",
    "outbox",
    "archive",
];

fn server_file(n: &str) -> bool {
    n.starts_with("dovecot.index")
        || n.starts_with("dovecot.list.index")
        || n.starts_with("dovecot-uidvalidity")
        || matches!(
            n,
            "dovecot-uidlist"
                | "dovecot-keywords"
                | "courierimapuiddb"
                | "courierimapkeywords"
                | "courierimapsubscribed"
                | "courierimaphieracl"
                | "maildirsize"
                | "maildirfolder"
        )
}

/// The proofs of a mail store in listing pages (`(path of the page, its listing)`), in
/// page order, at most one per path. Empty: no mail seen (a plain directory listing).
pub fn mail_proofs<'a>(
    pages: impl IntoIterator<Item = (&'a str, &'a DirListing)>,
) -> Vec<MailProof> {
    let mut out: Vec<MailProof> = Vec::new();
    let mut push = |path: String, sign| {
        if !out.iter().any(|p: &MailProof| p.path == path) && out.len() < MAX_ENTRIES {
            out.push(MailProof { path, sign });
        }
    };
    for (path, listing) in pages {
        let base = dir_path(&percent_decode(path));
        let here = base
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let items = items(listing);
        let has = |n: &str| {
            items
                .iter()
                .any(|i| i.dir && i.name.eq_ignore_ascii_case(n))
        };
        if has("cur") && has("new") && has("tmp") {
            push(base.clone(), MailSign::Maildir);
        }
        for i in &items {
            let n = i.name.to_ascii_lowercase();
            let full = if i.dir {
                format!("{base}{}/", i.name)
            } else {
                format!("{base}{}", i.name)
            };
            let stem = n
                .strip_suffix(".mbox")
                .or_else(|| n.strip_suffix(".eml"))
                .unwrap_or(&n);
            if is_address(stem) {
                push(full, MailSign::AddressName);
            } else if i.dir && (n == "maildir" || n == ".maildir") {
                push(full, MailSign::Maildir);
            } else if i.dir {
                if n == "courierimapkeywords" {
                    push(full, MailSign::ServerFile);
                }
            } else if n.ends_with(".eml") {
                push(full, MailSign::MessageFile);
            } else if n == "mbox"
                || n == "inbox"
                || n.ends_with(".mbox")
                || n.ends_with(".mbx")
                || (here == "mail" && MBOX_FOLDERS.contains(&n.as_str()))
            {
                push(full, MailSign::Mbox);
            } else if server_file(&n) {
                push(full, MailSign::ServerFile);
            }
        }
    }
    out
}

/// Masks the local part of every address in `text` in the middle: `taro@example.jp` →
/// `t***@example.jp` (reports and evidence name the mailbox without naming its owner).
pub fn mask_addresses(text: &str) -> String {
    let stop = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '/' | '"' | '\'' | '<' | '>' | '(' | ')' | ',' | ';' | ':' | '[' | ']' | '@'
            )
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let (before, after) = rest.split_at(at);
        let local_start = before.rfind(stop).map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
        let local = &before[local_start..];
        let domain_end = after[1..].find(stop).map_or(after.len(), |i| i + 1);
        let domain = &after[1..domain_end];
        out.push_str(&before[..local_start]);
        if !local.is_empty() && is_address(&format!("x@{}", domain.trim_end_matches('.'))) {
            let first = local.chars().next().unwrap_or('*');
            out.push(first);
            out.push_str("***");
        } else {
            out.push_str(local);
        }
        out.push('@');
        rest = &after[1..];
    }
    out.push_str(rest);
    out
}

/// The directory a link leads to, when a descent may follow it: a directory of the same
/// listing (one path segment below `page`), relative or absolute on the same host, without
/// `..`, a query or a fragment, not hidden (except `.maildir`).
pub fn child_dir(page: &str, href: &str) -> Option<String> {
    let base = dir_path(page);
    if !href.ends_with('/')
        || href.contains(['?', '#', '\\'])
        || href.contains("://")
        || href.starts_with("//")
    {
        return None;
    }
    let seg = match href.strip_prefix('/') {
        Some(_) => href.strip_prefix(base.as_str())?,
        None => href,
    };
    let name = seg.strip_suffix('/')?;
    let decoded = percent_decode(name);
    if name.is_empty()
        || name.contains('/')
        || decoded.contains('/')
        || decoded == "."
        || decoded.contains("..")
        || (decoded.starts_with('.') && !decoded.eq_ignore_ascii_case(".maildir"))
        || decoded.chars().any(char::is_control)
    {
        return None;
    }
    let path = format!("{base}{seg}");
    (path.len() <= MAX_PATH).then_some(path)
}

/// Which directories are worth a request first: mail-shaped names, then the folders mail
/// stores live in, then the rest.
fn priority(name: &str) -> u8 {
    let n = name.trim_end_matches('/').to_ascii_lowercase();
    if is_address(&n) || n == "maildir" || n == ".maildir" {
        0
    } else if is_domain(&n)
        || matches!(
            n.as_str(),
            "mail"
                | "mails"
                | "vmail"
                | "mailboxes"
                | "mailbox"
                | "maildata"
                | "spool"
                | "home"
                | "users"
                | "user"
                | "imap"
                | "var"
                | "backup"
                | "backups"
                | "archive"
                | "srv"
                | "data"
                | "inbox"
        )
    {
        1
    } else {
        2
    }
}

/// A bounded descent of directory listings: which listing pages to request next, most
/// promising first, at most [`MAX_DEPTH`] levels below the page it started from, never a
/// page twice, and no more than its budget.
#[derive(Clone, Debug, Default)]
pub struct Descent {
    queue: VecDeque<(u8, u8, String)>,
    seen: BTreeSet<String>,
}

impl Descent {
    /// A descent that will not request the paths already fetched.
    pub fn new<'a>(fetched: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            queue: VecDeque::new(),
            seen: fetched.into_iter().map(dir_path).collect(),
        }
    }

    /// Adds the directories of a listing page fetched `depth` levels below where the
    /// descent started.
    pub fn add_page(&mut self, path: &str, depth: u8, listing: &DirListing) {
        if depth >= MAX_DEPTH {
            return;
        }
        for href in &listing.entries {
            if let Some(child) = child_dir(path, href)
                && self.seen.insert(child.clone())
                && self.seen.len() <= MAX_ENTRIES * 4
            {
                let name = percent_decode(href.trim_end_matches('/'));
                let prio = priority(name.rsplit('/').next().unwrap_or(&name));
                self.queue.push_back((prio, depth + 1, child));
            }
        }
    }

    /// The next page to request and its depth: the best priority, then the shallowest,
    /// then the first found.
    pub fn next_page(&mut self) -> Option<(String, u8)> {
        let best = self
            .queue
            .iter()
            .enumerate()
            .min_by_key(|(i, (p, d, _))| (*p, *d, *i))
            .map(|(i, _)| i)?;
        self.queue.remove(best).map(|(_, d, p)| (p, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size("  07-Dec-2026 04:20                  56\r"), Some(56));
        assert_eq!(
            size(
                "</td><td align=\"right\">2026-12-07 04:20  </td><td align=\"right\"> 12K </td><td>&nbsp;</td>"
            ),
            Some(12288)
        );
        assert_eq!(
            size("</td><td class=\"s\">0.1K</td><td class=\"t\">x</td>"),
            Some(102)
        );
        assert_eq!(
            size("</td><td class=\"s\">- &nbsp;</td><td class=\"t\">Directory</td>"),
            None
        );
        assert_eq!(size(""), None);
        assert_eq!(size("1.2.3"), None);
    }

    #[test]
    fn addresses_are_masked_in_the_middle() {
        assert_eq!(
            mask_addresses("/users/taro@example.jp/cur/"),
            "/users/t***@example.jp/cur/"
        );
        assert_eq!(
            mask_addresses("a@b.jp and x: hanako@mail.example.co.jp."),
            "a***@b.jp and x: h***@mail.example.co.jp."
        );
        assert_eq!(
            mask_addresses("no address @ here, @x"),
            "no address @ here, @x"
        );
        assert_eq!(mask_addresses("日本@例.jp"), "日本@例.jp");
        assert_eq!(mask_addresses("@@a@b.c"), "@@a***@b.c");
    }

    /// A listing stored before entries were parsed (no `items`) is still judged.
    #[test]
    fn old_stored_listings_still_prove_mail() {
        let old: DirListing =
            serde_json::from_str(r#"{"flavour":"apache","entries":["bob%40example.jp/","a.txt"]}"#)
                .expect("old listing");
        assert!(old.items.is_empty());
        let got: Vec<(String, bool)> = items(&old).into_iter().map(|i| (i.name, i.dir)).collect();
        assert_eq!(
            got,
            [
                ("bob@example.jp".to_owned(), true),
                ("a.txt".to_owned(), false)
            ]
        );
        let proofs = mail_proofs([("/mail/", &old)]);
        assert_eq!(proofs[0].path, "/mail/bob@example.jp/");
        assert_eq!(proofs[0].sign, MailSign::AddressName);
    }

    #[test]
    fn child_dirs_stay_in_the_listing() {
        assert_eq!(child_dir("/", "home/").as_deref(), Some("/home/"));
        assert_eq!(
            child_dir("/users", "taro@example.jp/").as_deref(),
            Some("/users/taro@example.jp/")
        );
        assert_eq!(
            child_dir("/mail/", "/mail/bob@x.jp/").as_deref(),
            Some("/mail/bob@x.jp/")
        );
        for bad in [
            "../",
            "a/b/",
            "/other/",
            "http://evil.test/",
            "//evil.test/",
            "x?C=N/",
            "file.txt",
            ".git/",
            "%2e%2e/",
            "a%2fb/",
            "/",
            "",
        ] {
            assert_eq!(child_dir("/mail/", bad), None, "{bad}");
        }
        assert_eq!(child_dir("/", ".maildir/").as_deref(), Some("/.maildir/"));
    }
}
