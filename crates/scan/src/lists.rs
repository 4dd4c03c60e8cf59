//! The mailing-list posting canary of `mxray audit` (never used by a scan): one uniquely
//! marked post from a non-member to a list in scope, optionally one subscriber-list request to
//! the list manager, then a subscriber's mailbox (IMAP or POP3) read for a bounded time.
//!
//! Sends: SMTP `EHLO`, `MAIL FROM`, `RCPT TO`, `DATA` with the marked message, `QUIT`;
//! IMAP `LOGIN`, `SELECT INBOX`, `UID SEARCH UID n:*`, `UID FETCH … BODY.PEEK[]<0.16384>`,
//! at the end `UID STORE … +FLAGS (\Deleted)` and `UID EXPUNGE` for the canary's copies only,
//! `LOGOUT`; POP3 `USER`, `PASS`, `STAT`, `TOP n 200`, at the end `DELE` for the canary's
//! copies only, `QUIT`. The password is never recorded (the transcript notes "withheld").
//! Only messages that arrived after the test began (IMAP UIDs from the `UIDNEXT` before the
//! post, POP3 numbers past the `STAT` count before it) are read, at most [`MAX_NEW`] per
//! look, each cut at 16 KiB; the received text is parsed by `core::listmail`.

use crate::net::{self, Limits, LineConn, NetError, Policy};
use mxray_core::checks::audit::{ListPost, ListRoster};
use mxray_core::listmail::{self, Message};
use mxray_core::mailbox::{ImapLine, imap_line};
use mxray_core::scope::{ListEntry, ListManager, MailboxKind, Subscriber};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

const MAX_LINES: usize = 200;
/// Most new messages read in one look.
pub const MAX_NEW: usize = 10;
/// Bytes of each new message read.
const PEEK: usize = 16 * 1024;

async fn reply(c: &mut LineConn) -> Result<mxray_core::smtp::Reply, NetError> {
    crate::probe::smtp::reply_of_lines(c, MAX_LINES).await
}

/// How one SMTP submission ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Accepted after the data (the reply).
    Accepted(String),
    /// Refused (the reply).
    Refused(String),
    /// Not completed.
    Failed(String),
}

/// Sends one message: envelope `from` → `rcpt`, `message` the full text (CRLF lines, no
/// final dot).
pub async fn submit(
    policy: &Policy,
    limits: Limits,
    server: SocketAddr,
    ehlo: &str,
    from: &str,
    rcpt: &str,
    message: &str,
) -> Sent {
    let deadline = Instant::now() + limits.step_timeout * 8;
    let stream = match net::connect(policy, server, &limits, deadline).await {
        Ok(s) => s,
        Err(e) => return Sent::Failed(e.to_string()),
    };
    let mut c = LineConn::new(Box::new(stream), limits, deadline);
    let out = async {
        let g = reply(&mut c)
            .await
            .map_err(|e| Sent::Failed(e.to_string()))?;
        if g.code != 220 {
            return Err(Sent::Refused(g.to_wire_text()));
        }
        for cmd in [
            format!("EHLO {ehlo}"),
            format!("MAIL FROM:<{from}>"),
            format!("RCPT TO:<{rcpt}>"),
            "DATA".to_owned(),
        ] {
            c.send(&cmd)
                .await
                .map_err(|e| Sent::Failed(e.to_string()))?;
            let r = reply(&mut c)
                .await
                .map_err(|e| Sent::Failed(e.to_string()))?;
            let ok = if cmd == "DATA" {
                r.code == 354
            } else {
                r.is_positive()
            };
            if !ok {
                return Err(Sent::Refused(r.to_wire_text()));
            }
        }
        let mut data = String::with_capacity(message.len() + 8);
        for line in message.split("\r\n") {
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
            data.push_str("\r\n");
        }
        data.push_str(".\r\n");
        c.send_raw(data.as_bytes())
            .await
            .map_err(|e| Sent::Failed(e.to_string()))?;
        let r = reply(&mut c)
            .await
            .map_err(|e| Sent::Failed(e.to_string()))?;
        if r.is_positive() {
            Ok(r.to_wire_text())
        } else {
            Err(Sent::Refused(r.to_wire_text()))
        }
    }
    .await;
    let _ = c.send("QUIT").await;
    let _ = c.close().await;
    match out {
        Ok(r) => Sent::Accepted(r),
        Err(s) => s,
    }
}

/// The canary post: marked in Subject, `X-Mxray-Canary` and `Message-ID`.
pub fn canary_message(list: &str, sender: &str, marker: &str) -> (String, String) {
    let message_id = format!("<{marker}@mxray.invalid>");
    let text = format!(
        "From: <{sender}>\r\nTo: <{list}>\r\nSubject: mxray list canary {marker}\r\n\
         Message-ID: {message_id}\r\nX-Mxray-Canary: {marker}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         This message was sent by mxray audit, on behalf of the list's operator, from an\r\n\
         address that is not subscribed, to check whether {list} distributes posts from\r\n\
         anyone. If you received it, the list is open to everyone. It can be deleted."
    );
    (message_id, text)
}

/// The subscriber-list command address of `list` for `manager`.
pub fn roster_address(list: &str, manager: ListManager) -> String {
    match manager {
        ListManager::Mlmmj => match list.rsplit_once('@') {
            Some((local, domain)) => format!("{local}+list@{domain}"),
            None => list.to_owned(),
        },
    }
}

/// A mailbox session: where new messages start, and the connection.
struct Session {
    c: LineConn,
    kind: MailboxKind,
    next_tag: u32,
}

fn quote(s: &str) -> Option<String> {
    (!s.bytes().any(|b| b < b' ' || !b.is_ascii()))
        .then(|| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
}

impl Session {
    async fn open(policy: &Policy, limits: Limits, sub: &Subscriber) -> Result<Self, String> {
        let addr = SocketAddr::new(sub.server, sub.port());
        let deadline = Instant::now() + limits.step_timeout * 6;
        let stream = net::connect(policy, addr, &limits, deadline)
            .await
            .map_err(|e| format!("mailbox {addr}: {e}"))?;
        let mut s = Self {
            c: LineConn::new(Box::new(stream), limits, deadline),
            kind: sub.protocol,
            next_tag: 1,
        };
        let greeting = s.line().await?;
        match sub.protocol {
            MailboxKind::Imap => {
                if mxray_core::mailbox::imap_greeting_ok(&greeting) != Some(true) {
                    return Err(format!("IMAP greeting: {greeting}"));
                }
                let (Some(u), Some(p)) = (quote(&sub.user), quote(&sub.password)) else {
                    return Err(
                        "subscriber credentials cannot be sent as IMAP quoted strings".into(),
                    );
                };
                s.c.note("LOGIN <user> <password withheld>");
                let tag = s.tag();
                s.c.send_raw(format!("{tag} LOGIN {u} {p}\r\n").as_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
                s.tagged(&tag, |_| {}).await?;
                s.imap("SELECT INBOX", |_| {}).await?;
            }
            MailboxKind::Pop3 => {
                if mxray_core::mailbox::pop3_ok(&greeting) != Some(true) {
                    return Err(format!("POP3 greeting: {greeting}"));
                }
                s.pop3(&format!("USER {}", sub.user)).await?;
                s.c.note("PASS <password withheld>");
                s.c.send_raw(format!("PASS {}\r\n", sub.password).as_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
                let r = s.line().await?;
                if mxray_core::mailbox::pop3_ok(&r) != Some(true) {
                    return Err(format!("POP3 login: {r}"));
                }
            }
        }
        Ok(s)
    }

    fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("m{}", self.next_tag)
    }

    async fn line(&mut self) -> Result<String, String> {
        self.c.read_line().await.map_err(|e| e.to_string())
    }

    /// Reads until the tagged answer; `each` sees every untagged line; literals are read and
    /// handed over as messages through `literal`.
    async fn tagged(&mut self, tag: &str, mut each: impl FnMut(&str)) -> Result<(), String> {
        for _ in 0..MAX_LINES * 4 {
            let line = self.line().await?;
            match imap_line(&line, tag) {
                ImapLine::Tagged(status, text) => {
                    return if status == "OK" {
                        Ok(())
                    } else {
                        Err(format!("mailbox: {status} {text}"))
                    };
                }
                ImapLine::Untagged(rest) => each(rest),
                _ => {}
            }
        }
        Err("mailbox: no tagged answer".into())
    }

    async fn imap(&mut self, cmd: &str, each: impl FnMut(&str)) -> Result<(), String> {
        let tag = self.tag();
        self.c
            .send(&format!("{tag} {cmd}"))
            .await
            .map_err(|e| e.to_string())?;
        self.tagged(&tag, each).await
    }

    async fn pop3(&mut self, cmd: &str) -> Result<String, String> {
        self.c.send(cmd).await.map_err(|e| e.to_string())?;
        let r = self.line().await?;
        if mxray_core::mailbox::pop3_ok(&r) == Some(true) {
            Ok(r)
        } else {
            Err(format!("mailbox: {cmd:.4}: {r}"))
        }
    }

    /// Where new messages will start: IMAP the next UID, POP3 the count + 1.
    async fn mark(&mut self) -> Result<u32, String> {
        match self.kind {
            MailboxKind::Imap => {
                let mut next = None;
                self.imap("STATUS INBOX (UIDNEXT)", |l| {
                    if let Some(at) = l.find("UIDNEXT ") {
                        next = l[at + 8..]
                            .chars()
                            .take_while(char::is_ascii_digit)
                            .collect::<String>()
                            .parse()
                            .ok();
                    }
                })
                .await?;
                next.ok_or_else(|| "mailbox: no UIDNEXT".to_owned())
            }
            MailboxKind::Pop3 => {
                let r = self.pop3("STAT").await?;
                listmail::pop3_stat(&r)
                    .map(|n| n + 1)
                    .ok_or_else(|| format!("mailbox: STAT {r}"))
            }
        }
    }

    /// The messages from `mark` on (at most [`MAX_NEW`]): (id, message).
    async fn new_messages(&mut self, mark: u32) -> Result<Vec<(u32, Message)>, String> {
        let mut out = Vec::new();
        match self.kind {
            MailboxKind::Imap => {
                // A fresh SELECT shows messages delivered since the last look.
                self.imap("SELECT INBOX", |_| {}).await?;
                let mut uids = Vec::new();
                self.imap(&format!("UID SEARCH UID {mark}:*"), |l| {
                    if let Some(v) = listmail::imap_search(l) {
                        uids.extend(v.into_iter().filter(|u| *u >= mark));
                    }
                })
                .await?;
                uids.sort_unstable();
                uids.truncate(MAX_NEW);
                for uid in uids {
                    let tag = self.tag();
                    self.c
                        .send(&format!("{tag} UID FETCH {uid} BODY.PEEK[]<0.{PEEK}>"))
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut raw = None;
                    for _ in 0..MAX_LINES {
                        let line = self.line().await?;
                        if let ImapLine::Tagged(status, text) = imap_line(&line, &tag) {
                            if status != "OK" {
                                return Err(format!("mailbox: FETCH {status} {text}"));
                            }
                            break;
                        }
                        if let Some(n) = listmail::imap_literal(&line) {
                            let bytes = self
                                .c
                                .read_exact_raw(n.min(PEEK + 1))
                                .await
                                .map_err(|e| e.to_string())?;
                            raw = Some(bytes);
                        }
                    }
                    if let Some(raw) = raw {
                        out.push((uid, Message::parse(&raw)));
                    }
                }
            }
            MailboxKind::Pop3 => {
                let r = self.pop3("STAT").await?;
                let count = listmail::pop3_stat(&r).ok_or_else(|| format!("mailbox: STAT {r}"))?;
                for n in (mark..=count).take(MAX_NEW) {
                    self.pop3(&format!("TOP {n} 200")).await?;
                    let mut raw = Vec::new();
                    for _ in 0..2000 {
                        let line = self.line().await?;
                        if line == "." {
                            break;
                        }
                        let line = line.strip_prefix('.').unwrap_or(&line);
                        if raw.len() < PEEK {
                            raw.extend_from_slice(line.as_bytes());
                            raw.extend_from_slice(b"\r\n");
                        }
                    }
                    out.push((n, Message::parse(&raw)));
                }
            }
        }
        Ok(out)
    }

    /// Deletes the messages `ids` (only those).
    async fn delete(&mut self, ids: &[u32]) -> Result<(), String> {
        if ids.is_empty() {
            return Ok(());
        }
        match self.kind {
            MailboxKind::Imap => {
                let set = ids
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                self.imap(
                    &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
                    |_| {},
                )
                .await?;
                self.imap(&format!("UID EXPUNGE {set}"), |_| {}).await
            }
            MailboxKind::Pop3 => {
                for n in ids {
                    self.pop3(&format!("DELE {n}")).await?;
                }
                Ok(())
            }
        }
    }

    async fn close(mut self) {
        let cmd = match self.kind {
            MailboxKind::Imap => format!("{} LOGOUT", self.tag()),
            MailboxKind::Pop3 => "QUIT".to_owned(),
        };
        let _ = self.c.send(&cmd).await;
        // POP3 deletes at QUIT: wait for its answer.
        let _ = self.c.read_line().await;
        let _ = self.c.close().await;
    }
}

/// The outcome of one list's canary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListOutcome {
    /// The post.
    pub post: ListPost,
    /// The subscriber-list request.
    pub roster: ListRoster,
}

/// Runs the canary for one list whose server is `server`: marks the mailbox, posts, asks for
/// the roster when `list.manager` is set, watches the mailbox up to `list.wait` seconds, and
/// deletes the canary's copies.
pub async fn run(
    policy: &Policy,
    limits: Limits,
    server: SocketAddr,
    ehlo: &str,
    list: &ListEntry,
    marker: &str,
) -> ListOutcome {
    let failed = |why: String| ListOutcome {
        post: ListPost::Failed { why: why.clone() },
        roster: if list.manager.is_some() {
            ListRoster::Failed { why }
        } else {
            ListRoster::NotAsked
        },
    };
    let sub = &list.subscriber;
    let mark = match Session::open(policy, limits, sub).await {
        Ok(mut s) => {
            let m = s.mark().await;
            s.close().await;
            match m {
                Ok(m) => m,
                Err(e) => return failed(e),
            }
        }
        Err(e) => return failed(e),
    };
    let (message_id, text) = canary_message(&list.address, &list.sender, marker);
    let started = Instant::now();
    let sent = submit(
        policy,
        limits,
        server,
        ehlo,
        &list.sender,
        &list.address,
        &text,
    )
    .await;
    let accepted = match &sent {
        Sent::Accepted(r) => Some(r.clone()),
        _ => None,
    };
    let mut roster = ListRoster::NotAsked;
    let mut request = String::new();
    if let Some(m) = list.manager {
        request = roster_address(&list.address, m);
        let from = sub.mail_address();
        let ask = format!(
            "From: <{from}>\r\nTo: <{request}>\r\nSubject: list {marker}\r\n\
             Message-ID: <{marker}.roster@mxray.invalid>\r\nX-Mxray-Canary: {marker}-roster\r\n\r\nlist"
        );
        roster = match submit(policy, limits, server, ehlo, from, &request, &ask).await {
            Sent::Accepted(_) => ListRoster::NotExposed {
                request: request.clone(),
                waited_s: 0,
            },
            Sent::Refused(r) | Sent::Failed(r) => ListRoster::Failed {
                why: format!("request to {request}: {r}"),
            },
        };
    }
    let want_roster = matches!(roster, ListRoster::NotExposed { .. });
    let wait = Duration::from_secs(u64::from(list.wait));
    let mut arrived: Option<(u64, Message)> = None;
    let mut exposed: Option<(u64, String)> = None;
    let mut to_delete: Vec<u32> = Vec::new();
    let mut error = None;
    if accepted.is_some() || want_roster {
        loop {
            match Session::open(policy, limits, sub).await {
                Ok(mut s) => {
                    match s.new_messages(mark).await {
                        Ok(msgs) => {
                            let secs = started.elapsed().as_secs() + 1;
                            for (id, m) in msgs {
                                if m.carries(marker) {
                                    if !to_delete.contains(&id) {
                                        to_delete.push(id);
                                    }
                                    if arrived.is_none()
                                        && m.header("X-Mxray-Canary") == Some(marker)
                                    {
                                        arrived = Some((secs, m));
                                    }
                                } else if want_roster
                                    && exposed.is_none()
                                    && m.is_roster(&list.domain(), sub.mail_address())
                                {
                                    exposed = Some((secs, m.subject()));
                                }
                            }
                        }
                        Err(e) => error = Some(e),
                    }
                    s.close().await;
                }
                Err(e) => error = Some(e),
            }
            let post_done = accepted.is_none() || arrived.is_some();
            let roster_done = !want_roster || exposed.is_some();
            if error.is_some() || (post_done && roster_done) || started.elapsed() >= wait {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    // Delete the canary's copies (and only those).
    let mut deleted = false;
    if !to_delete.is_empty()
        && let Ok(mut s) = Session::open(policy, limits, sub).await
    {
        deleted = s.delete(&to_delete).await.is_ok();
        s.close().await;
    }
    let waited_s = started.elapsed().as_secs().min(u64::from(list.wait));
    let post = match (sent, arrived, &error) {
        (Sent::Refused(reply), _, _) => ListPost::Refused { reply },
        (Sent::Failed(why), _, _) => ListPost::Failed { why },
        (Sent::Accepted(reply), Some((after_s, m)), _) => ListPost::Arrived {
            after_s,
            reply,
            message_id,
            reply_to: m.reply_to(),
            reply_to_list: m.reply_to_list(&list.address),
            deleted,
        },
        (Sent::Accepted(_), None, Some(e)) => ListPost::Failed { why: e.clone() },
        (Sent::Accepted(reply), None, None) => ListPost::NotArrived { waited_s, reply },
    };
    if want_roster {
        roster = match (exposed, &error) {
            (Some((after_s, subject)), _) => ListRoster::Exposed {
                request,
                after_s,
                subject: mxray_core::sanitize::for_terminal(&subject),
            },
            (None, Some(e)) => ListRoster::Failed { why: e.clone() },
            (None, None) => ListRoster::NotExposed { request, waited_s },
        };
    }
    ListOutcome { post, roster }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_message() {
        assert_eq!(
            roster_address("open@lists.lab", ListManager::Mlmmj),
            "open+list@lists.lab"
        );
        let (id, text) = canary_message("open@lists.lab", "o@else.example", "mxray-canary-01");
        assert_eq!(id, "<mxray-canary-01@mxray.invalid>");
        let m = Message::parse(text.as_bytes());
        assert!(m.carries("mxray-canary-01"));
        assert_eq!(m.header("To"), Some("<open@lists.lab>"));
    }
}
