//! Reading the mailbox of an audit canary (the relay canary's mailbox, a list subscriber's)
//! over IMAP or POP3: where new mail will start, the messages that arrived since, and the
//! deletion of the canary's own copies.
//!
//! Sends: IMAP `LOGIN`, `SELECT INBOX`, `STATUS INBOX (UIDNEXT)`, `UID SEARCH UID n:*`,
//! `UID FETCH … BODY.PEEK[]<0.16384>`, `UID STORE … +FLAGS.SILENT (\Deleted)`,
//! `UID EXPUNGE`, `LOGOUT`; POP3 `USER`, `PASS`, `STAT`, `TOP n 200`, `DELE`, `QUIT`. The
//! password is never recorded (the transcript notes "withheld"). Only messages from a mark
//! on are read (IMAP UIDs from the `UIDNEXT` taken before the canary was sent, POP3 numbers
//! past the `STAT` count then), at most [`MAX_NEW`] a session, each cut at 16 KiB.

use crate::net::{self, Limits, LineConn, NetError, Policy};
use mxray_core::listmail::{self, Message};
use mxray_core::mailbox::{ImapLine, imap_line};
use mxray_core::scope::{Canary, MailboxKind, Subscriber};
use std::net::{IpAddr, SocketAddr};
use tokio::time::Instant;

const MAX_LINES: usize = 200;
/// Most new messages read in one session.
pub const MAX_NEW: usize = 10;
/// Bytes of each new message read.
const PEEK: usize = 16 * 1024;

/// Where and as whom to read a mailbox.
#[derive(Clone, Copy)]
pub struct Account<'a> {
    /// The mailbox server.
    pub addr: SocketAddr,
    /// IMAP or POP3.
    pub kind: MailboxKind,
    /// Login name.
    pub user: &'a str,
    /// Password (never recorded).
    pub password: &'a str,
}

impl<'a> Account<'a> {
    fn new(server: IpAddr, port: u16, kind: MailboxKind, user: &'a str, pw: &'a str) -> Self {
        Self {
            addr: SocketAddr::new(server, port),
            kind,
            user,
            password: pw,
        }
    }
}

impl<'a> From<&'a Subscriber> for Account<'a> {
    fn from(s: &'a Subscriber) -> Self {
        Self::new(s.server, s.port(), s.protocol, &s.user, &s.password)
    }
}

impl<'a> From<&'a Canary> for Account<'a> {
    fn from(c: &'a Canary) -> Self {
        Self::new(c.server, c.port(), c.protocol, &c.user, &c.password)
    }
}

/// Why a mailbox session failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MailboxError {
    /// The connection to the mailbox server could not be made.
    #[error("mailbox {addr}: {error}")]
    Connect {
        /// The mailbox server.
        addr: SocketAddr,
        /// Why.
        error: NetError,
    },
    /// The connection broke or timed out during the session.
    #[error("mailbox: {0}")]
    Net(#[from] NetError),
    /// The user or password cannot be sent in a login command (an IMAP quoted string or a
    /// POP3 line: printable ASCII only).
    #[error("mailbox: the credentials cannot be sent in a {0:?} login")]
    Credentials(MailboxKind),
    /// The server answered a step with something other than success.
    #[error("mailbox: {step}: {reply}")]
    Refused {
        /// Our step (`greeting`, `LOGIN`, `UID FETCH`, `PASS`, `STAT`, …; never its
        /// arguments).
        step: &'static str,
        /// The server's answer, made safe for a terminal.
        reply: String,
    },
    /// The server's answers did not follow the protocol.
    #[error("mailbox: {0}")]
    Protocol(&'static str),
}

impl MailboxError {
    fn refused(step: &'static str, reply: &str) -> Self {
        Self::Refused {
            step,
            reply: mxray_core::sanitize::for_terminal(reply),
        }
    }
}

fn quote(s: &str) -> Option<String> {
    (!s.bytes().any(|b| b < b' ' || !b.is_ascii()))
        .then(|| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
}

/// A logged-in mailbox session (INBOX selected for IMAP).
pub struct Session {
    c: LineConn,
    kind: MailboxKind,
    next_tag: u32,
}

impl Session {
    /// Connects and logs in.
    pub async fn open(
        policy: &Policy,
        limits: Limits,
        account: Account<'_>,
    ) -> Result<Self, MailboxError> {
        let addr = account.addr;
        let deadline = Instant::now() + limits.step_timeout * 6;
        let stream = net::connect(policy, addr, &limits, deadline)
            .await
            .map_err(|error| MailboxError::Connect { addr, error })?;
        let mut s = Self {
            c: LineConn::new(Box::new(stream), limits, deadline),
            kind: account.kind,
            next_tag: 1,
        };
        let greeting = s.c.read_line().await?;
        match account.kind {
            MailboxKind::Imap => {
                if mxray_core::mailbox::imap_greeting_ok(&greeting) != Some(true) {
                    return Err(MailboxError::refused("greeting", &greeting));
                }
                let (Some(u), Some(p)) = (quote(account.user), quote(account.password)) else {
                    return Err(MailboxError::Credentials(MailboxKind::Imap));
                };
                s.c.note("LOGIN <user> <password withheld>");
                let tag = s.tag();
                s.c.send_raw(format!("{tag} LOGIN {u} {p}\r\n").as_bytes())
                    .await?;
                s.tagged("LOGIN", &tag, |_| {}).await?;
                s.imap("SELECT", "INBOX", |_| {}).await?;
            }
            MailboxKind::Pop3 => {
                if mxray_core::mailbox::pop3_ok(&greeting) != Some(true) {
                    return Err(MailboxError::refused("greeting", &greeting));
                }
                // Unquoted on the line: a line break would start another command.
                let printable =
                    |t: &str| !t.is_empty() && !t.bytes().any(|b| b < b' ' || b == 0x7f);
                if !printable(account.user) || !printable(account.password) {
                    return Err(MailboxError::Credentials(MailboxKind::Pop3));
                }
                s.pop3("USER", account.user).await?;
                s.c.note("PASS <password withheld>");
                s.c.send_raw(format!("PASS {}\r\n", account.password).as_bytes())
                    .await?;
                let r = s.c.read_line().await?;
                if mxray_core::mailbox::pop3_ok(&r) != Some(true) {
                    return Err(MailboxError::refused("PASS", &r));
                }
            }
        }
        Ok(s)
    }

    fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("m{}", self.next_tag)
    }

    /// Reads until the tagged answer to `step`; `each` sees every untagged line.
    async fn tagged(
        &mut self,
        step: &'static str,
        tag: &str,
        mut each: impl FnMut(&str),
    ) -> Result<(), MailboxError> {
        for _ in 0..MAX_LINES * 4 {
            let line = self.c.read_line().await?;
            match imap_line(&line, tag) {
                ImapLine::Tagged(status, text) => {
                    return if status == "OK" {
                        Ok(())
                    } else {
                        Err(MailboxError::refused(step, &format!("{status} {text}")))
                    };
                }
                ImapLine::Untagged(rest) => each(rest),
                _ => {}
            }
        }
        Err(MailboxError::Protocol("no tagged answer"))
    }

    /// Sends the IMAP command `step args` (`args` may be empty) and reads its answer.
    async fn imap(
        &mut self,
        step: &'static str,
        args: &str,
        each: impl FnMut(&str),
    ) -> Result<(), MailboxError> {
        let tag = self.tag();
        self.c
            .send(&format!("{tag} {}", command(step, args)))
            .await?;
        self.tagged(step, &tag, each).await
    }

    /// Sends the POP3 command `step args` (`args` may be empty); the `+OK` line.
    async fn pop3(&mut self, step: &'static str, args: &str) -> Result<String, MailboxError> {
        self.c.send(&command(step, args)).await?;
        let r = self.c.read_line().await?;
        if mxray_core::mailbox::pop3_ok(&r) == Some(true) {
            Ok(r)
        } else {
            Err(MailboxError::refused(step, &r))
        }
    }

    /// The POP3 message count.
    async fn stat(&mut self) -> Result<u32, MailboxError> {
        let r = self.pop3("STAT", "").await?;
        listmail::pop3_stat(&r).ok_or(MailboxError::Protocol("STAT answer without a count"))
    }

    /// Where new messages will start: IMAP the next UID, POP3 the count + 1.
    pub async fn mark(&mut self) -> Result<u32, MailboxError> {
        match self.kind {
            MailboxKind::Imap => {
                let mut next = None;
                self.imap("STATUS", "INBOX (UIDNEXT)", |l| {
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
                next.ok_or(MailboxError::Protocol("STATUS answer without UIDNEXT"))
            }
            MailboxKind::Pop3 => Ok(self.stat().await? + 1),
        }
    }

    /// The messages from `mark` on (at most [`MAX_NEW`]): (id, message), the id what
    /// [`Self::delete_and_close`] takes.
    pub async fn new_messages(&mut self, mark: u32) -> Result<Vec<(u32, Message)>, MailboxError> {
        let mut out = Vec::new();
        match self.kind {
            MailboxKind::Imap => {
                // A fresh SELECT shows messages delivered since the last look.
                self.imap("SELECT", "INBOX", |_| {}).await?;
                let mut uids = Vec::new();
                self.imap("UID SEARCH", &format!("UID {mark}:*"), |l| {
                    if let Some(v) = listmail::imap_search(l) {
                        uids.extend(v.into_iter().filter(|u| *u >= mark));
                    }
                })
                .await?;
                uids.sort_unstable();
                uids.truncate(MAX_NEW);
                for uid in uids {
                    if let Some(raw) = self.fetch(uid).await? {
                        out.push((uid, Message::parse(&raw)));
                    }
                }
            }
            MailboxKind::Pop3 => {
                let count = self.stat().await?;
                for n in (mark..=count).take(MAX_NEW) {
                    self.pop3("TOP", &format!("{n} 200")).await?;
                    let mut raw = Vec::new();
                    for _ in 0..2000 {
                        let line = self.c.read_line().await?;
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

    /// The first [`PEEK`] bytes of the message `uid` (`None`: the server sent no literal).
    async fn fetch(&mut self, uid: u32) -> Result<Option<Vec<u8>>, MailboxError> {
        let tag = self.tag();
        self.c
            .send(&format!("{tag} UID FETCH {uid} BODY.PEEK[]<0.{PEEK}>"))
            .await?;
        let mut raw = None;
        for _ in 0..MAX_LINES {
            let line = self.c.read_line().await?;
            if let ImapLine::Tagged(status, text) = imap_line(&line, &tag) {
                if status != "OK" {
                    return Err(MailboxError::refused(
                        "UID FETCH",
                        &format!("{status} {text}"),
                    ));
                }
                break;
            }
            if let Some(n) = listmail::imap_literal(&line) {
                raw = Some(self.c.read_exact_raw(n.min(PEEK + 1)).await?);
            }
        }
        Ok(raw)
    }

    /// Deletes the messages `ids` (only those) and logs out; `Ok` when both succeeded
    /// (POP3 carries out `DELE` only at `QUIT`: its answer is part of the deletion).
    pub async fn delete_and_close(mut self, ids: &[u32]) -> Result<(), MailboxError> {
        let deleted = self.delete(ids).await;
        let closed = self.close().await;
        deleted.and(closed)
    }

    async fn delete(&mut self, ids: &[u32]) -> Result<(), MailboxError> {
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
                    "UID STORE",
                    &format!("{set} +FLAGS.SILENT (\\Deleted)"),
                    |_| {},
                )
                .await?;
                self.imap("UID EXPUNGE", &set, |_| {}).await
            }
            MailboxKind::Pop3 => {
                for n in ids {
                    self.pop3("DELE", &n.to_string()).await?;
                }
                Ok(())
            }
        }
    }

    /// Logs out; `Ok` when the server acknowledged it.
    pub async fn close(mut self) -> Result<(), MailboxError> {
        let out = match self.kind {
            MailboxKind::Imap => self.imap("LOGOUT", "", |_| {}).await,
            MailboxKind::Pop3 => self.pop3("QUIT", "").await.map(drop),
        };
        let _ = self.c.close().await;
        out
    }
}

/// A command line: `step`, then `args` when there are any.
fn command(step: &str, args: &str) -> String {
    if args.is_empty() {
        step.to_owned()
    } else {
        format!("{step} {args}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// The probes' loopback policy and limits.
    fn policy() -> Policy {
        crate::probe::test_context([127, 0, 0, 1].into(), "mailbox.test").policy
    }

    fn limits() -> Limits {
        crate::probe::test_context([127, 0, 0, 1].into(), "mailbox.test").limits
    }

    /// A scripted server on 127.0.0.1:0 for one connection: `greeting`, then `answer(line)`
    /// after each line received; records the lines.
    async fn server(
        greeting: &'static str,
        answer: fn(&str) -> String,
    ) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
        crate::probe::scripted_server(greeting, move |l| answer(l).into_bytes()).await
    }

    fn account(addr: SocketAddr, kind: MailboxKind, password: &str) -> Account<'_> {
        Account {
            addr,
            kind,
            user: "canary@canary.lab",
            password,
        }
    }

    /// A POP3 mailbox of five messages; 5 carries a dot-stuffed body line.
    fn pop3(line: &str) -> String {
        match line.split(' ').next().unwrap_or("") {
            "STAT" => "+OK 5 900\r\n".into(),
            "TOP" if line == "TOP 5 200" => {
                "+OK\r\nSubject: mxray relay canary m-1\r\nX-Mxray-Canary: m-1\r\n\r\n..hi\r\n.\r\n"
                    .into()
            }
            "TOP" => "+OK\r\nSubject: other\r\n\r\n.\r\n".into(),
            "USER" | "PASS" | "DELE" | "QUIT" => "+OK\r\n".into(),
            _ => "-ERR what\r\n".into(),
        }
    }

    #[tokio::test]
    async fn pop3_marks_reads_only_new_mail_and_deletes_only_what_it_is_told() {
        let (addr, got) = server("+OK POP3 ready", pop3).await;
        let acc = account(addr, MailboxKind::Pop3, "s3cret");
        let mut s = Session::open(&policy(), limits(), acc).await.unwrap();
        assert_eq!(s.mark().await.unwrap(), 6);
        let new = s.new_messages(4).await.unwrap();
        let ids: Vec<u32> = new.iter().map(|(n, _)| *n).collect();
        assert_eq!(ids, [4, 5]);
        assert!(!new[0].1.carries("m-1"));
        assert!(new[1].1.carries("m-1"));
        assert!(new[1].1.body.contains(".hi") && !new[1].1.body.contains("..hi"));
        s.delete_and_close(&[5]).await.unwrap();
        let got = got.lock().unwrap().clone();
        assert_eq!(
            got,
            [
                "USER canary@canary.lab",
                "PASS s3cret",
                "STAT",
                "STAT",
                "TOP 4 200",
                "TOP 5 200",
                "DELE 5",
                "QUIT"
            ]
        );
    }

    #[tokio::test]
    async fn refusals_are_typed_and_their_text_made_safe() {
        let (addr, _) = server("+OK ready", |l| {
            if l.starts_with("PASS") {
                "-ERR [AUTH] no \u{1b}[2J\r\n".into()
            } else {
                "+OK\r\n".into()
            }
        })
        .await;
        let e = Session::open(&policy(), limits(), account(addr, MailboxKind::Pop3, "pw"))
            .await
            .err()
            .unwrap();
        assert_eq!(
            e,
            MailboxError::Refused {
                step: "PASS",
                reply: "-ERR [AUTH] no \\x1b[2J".into()
            }
        );
        assert!(!e.to_string().contains('\u{1b}'), "{e}");

        let (addr, got) = server("* OK IMAP ready", |l| {
            let tag = l.split(' ').next().unwrap_or("");
            format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
        })
        .await;
        let e = Session::open(
            &policy(),
            limits(),
            account(addr, MailboxKind::Imap, "p\"w"),
        )
        .await
        .err()
        .unwrap();
        assert!(
            matches!(&e, MailboxError::Refused { step: "LOGIN", reply } if reply.starts_with("NO")),
            "{e:?}"
        );
        // The password travels as an IMAP quoted string.
        assert!(got.lock().unwrap()[0].ends_with(r#" "canary@canary.lab" "p\"w""#));
    }

    #[tokio::test]
    async fn credentials_that_would_break_the_line_are_never_sent() {
        let (addr, got) = server("+OK ready", |_| "+OK\r\n".into()).await;
        let acc = account(addr, MailboxKind::Pop3, "pw\r\nDELE 1");
        let e = Session::open(&policy(), limits(), acc).await.err().unwrap();
        assert_eq!(e, MailboxError::Credentials(MailboxKind::Pop3));
        assert!(got.lock().unwrap().is_empty());

        let (addr, got) = server("* OK ready", |_| "* BAD\r\n".into()).await;
        let acc = account(addr, MailboxKind::Imap, "pw\r\na9 DELETE INBOX");
        let e = Session::open(&policy(), limits(), acc).await.err().unwrap();
        assert_eq!(e, MailboxError::Credentials(MailboxKind::Imap));
        assert!(got.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_unreachable_mailbox_names_its_address() {
        // Bound, then dropped: nothing listens there.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let acc = account(addr, MailboxKind::Imap, "pw");
        let e = Session::open(&policy(), limits(), acc).await.err().unwrap();
        assert!(
            matches!(e, MailboxError::Connect { addr: a, .. } if a == addr),
            "{e:?}"
        );
        assert!(e.to_string().contains(&addr.to_string()), "{e}");
    }
}
