//! Directory listing pages captured from real servers (`.ci/webstores.sh`: nginx autoindex,
//! Apache mod_autoindex with HTMLTable, fancy `<pre>` and plain, lighttpd mod_dirlisting,
//! Python's http.server) parsed into entries, and the mail stores recognised in them. The
//! pages are also the seeds for fuzzing `mxray_core::listing::parse`.

use mxray_core::listing::{self, Descent, MailSign};

fn page(name: &str) -> String {
    let p = format!(
        "{}/tests/fixtures/listings/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// (fixture, page path, flavour, entries as `name[/] size`, mail proofs as `path sign`).
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

const CASES: &[Case] = &[
    (
        "nginx-root.html",
        "/",
        "nginx",
        &["home/ -", "pub/ -", "about.html 16"],
        &[],
    ),
    (
        "nginx-domain.html",
        "/home/example.jp/",
        "nginx",
        &["hanako/ -", "taro/ -"],
        &[],
    ),
    (
        "nginx-maildir-cur.html",
        "/home/example.jp/taro/Maildir/cur/",
        "nginx",
        &["1700000000.M1P1.mx:2,S 56"],
        &[],
    ),
    (
        "nginx-software.html",
        "/releases/1.0/",
        "nginx",
        &["SHA256SUMS 24", "mxtool-1.0.tar.gz 21"],
        &[],
    ),
    (
        "apache-table-users.html",
        "/users",
        "apache-table",
        &["taro@example.jp/ -"],
        &["/users/taro@example.jp/ address-named"],
    ),
    (
        "apache-table-maildir.html",
        "/users/taro@example.jp",
        "apache-table",
        &[
            "cur/ -",
            "dovecot.index 0",
            "maildirsize 6",
            "new/ -",
            "tmp/ -",
        ],
        &[
            "/users/taro@example.jp/ Maildir",
            "/users/taro@example.jp/dovecot.index mail server file",
            "/users/taro@example.jp/maildirsize mail server file",
        ],
    ),
    (
        "apache-plain-root.html",
        "/",
        "apache-plain",
        &["docs/ -", "vmail/ -"],
        &[],
    ),
    (
        "apache-plain-mbox.html",
        "/vmail/example.jp/jiro",
        "apache-plain",
        &["Inbox -", "mail/ -"],
        &["/vmail/example.jp/jiro/Inbox mbox file"],
    ),
    (
        "apache-pre-maildir.html",
        "/backup/home/hanako/Maildir",
        "apache-fancy",
        &["courierimapuiddb 0", "cur/ -", "new/ -", "tmp/ -"],
        &[
            "/backup/home/hanako/Maildir/ Maildir",
            "/backup/home/hanako/Maildir/courierimapuiddb mail server file",
        ],
    ),
    (
        "lighttpd-root.html",
        "/",
        "lighttpd",
        &["archive/ -", "images/ -"],
        &[],
    ),
    (
        "lighttpd-eml.html",
        "/archive/example.jp/2026-11/",
        "lighttpd",
        &["0001.eml 102", "0002.eml 102", "0003.eml 102"],
        &[
            "/archive/example.jp/2026-11/0001.eml message file",
            "/archive/example.jp/2026-11/0002.eml message file",
            "/archive/example.jp/2026-11/0003.eml message file",
        ],
    ),
    (
        "python-mail.html",
        "/srv/mail/",
        "python",
        &["shiro@example.jp/ -"],
        &["/srv/mail/shiro@example.jp/ address-named"],
    ),
    (
        "python-cur.html",
        "/srv/mail/shiro@example.jp/cur/",
        "python",
        &["1700000000.M1P1.mx:2,S -"],
        &[],
    ),
];

#[test]
fn real_listing_pages_parse_into_entries_and_mail_proofs() {
    for (file, path, flavour, entries, proofs) in CASES {
        let body = page(file);
        let l = listing::parse(&body).unwrap_or_else(|| panic!("{file}: no listing"));
        assert_eq!(l.flavour, *flavour, "{file}");
        assert_eq!(l.entries.len(), l.items.len(), "{file}");
        let got: Vec<String> = listing::items(&l)
            .iter()
            .map(|i| {
                let size = i.size.map_or("-".to_owned(), |s| s.to_string());
                format!("{}{} {size}", i.name, if i.dir { "/" } else { "" })
            })
            .collect();
        assert_eq!(got, *entries, "{file}");
        let got: Vec<String> = listing::mail_proofs([(*path, &l)])
            .iter()
            .map(|p| format!("{} {}", p.path, p.sign.as_str()))
            .collect();
        assert_eq!(got, *proofs, "{file}");
    }
}

/// A mailbox split over pages: `Sent`/`Trash` only count inside a `mail/` folder.
#[test]
fn mbox_folders_count_only_inside_mail() {
    let l = listing::parse(
        "<title>Index of /x/mail</title><h1>Index of /x/mail</h1><ul><li><a href=\"Sent\"> Sent</a></li><li><a href=\"Trash\"> Trash</a></li></ul><address>Apache</address>",
    )
    .unwrap();
    assert_eq!(l.flavour, "apache-plain");
    let signs: Vec<MailSign> = listing::mail_proofs([("/x/mail", &l)])
        .iter()
        .map(|p| p.sign)
        .collect();
    assert_eq!(signs, [MailSign::Mbox, MailSign::Mbox]);
    assert!(listing::mail_proofs([("/x/docs/", &l)]).is_empty());
}

/// The descent follows the listing's own directories, mail-shaped names first, never a
/// page twice, never deeper than three levels below where it started.
#[test]
fn descent_plan_over_real_pages() {
    let root = listing::parse(&page("nginx-root.html")).unwrap();
    let mut d = Descent::new(["/", "/mail/", "/.git/HEAD"]);
    d.add_page("/", 0, &root);
    assert_eq!(
        d.next_page(),
        Some(("/home/".to_owned(), 1)),
        "home before pub"
    );
    assert_eq!(d.next_page(), Some(("/pub/".to_owned(), 1)));
    assert_eq!(d.next_page(), None);
    let users = listing::parse(&page("apache-table-users.html")).unwrap();
    d.add_page("/users", 1, &users);
    d.add_page("/users/", 1, &users);
    assert_eq!(
        d.next_page(),
        Some(("/users/taro@example.jp/".to_owned(), 2))
    );
    assert_eq!(d.next_page(), None, "the same directory is planned once");
    let dom = listing::parse(&page("nginx-domain.html")).unwrap();
    d.add_page("/a/b/c/", 3, &dom);
    assert_eq!(d.next_page(), None, "nothing below depth 3");
    d.add_page("/a/b/", 2, &dom);
    assert_eq!(d.next_page().map(|n| n.1), Some(3));
}
