//! The mailing-list posting canary of `mxray audit` (never used by a scan): one uniquely
//! marked post from a non-member to a list in scope, optionally one subscriber-list request to
//! the list manager, then a subscriber's mailbox (IMAP or POP3) read for a bounded time.
//!
//! Sends: SMTP `EHLO`, `MAIL FROM`, `RCPT TO`, `DATA` with the marked message, `QUIT`; the
//! subscriber's mailbox is read through [`crate::mailbox_session::Session`] (only the
//! messages that arrived after the test began; at the end the canary's copies, and only
//! those, are deleted); the received text is parsed by `core::listmail`.

use crate::mailbox_session::Session;
use crate::net::{Limits, Policy};
use crate::submit::{Sent, submit};
use mxray_core::checks::audit::{ListPost, ListRoster};
use mxray_core::listmail::Message;
use mxray_core::scope::{ListEntry, ListManager};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

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
    let mark = match Session::open(policy, limits, sub.into()).await {
        Ok(mut s) => {
            let m = s.mark().await;
            let _ = s.close().await;
            match m {
                Ok(m) => m,
                Err(e) => return failed(e.to_string()),
            }
        }
        Err(e) => return failed(e.to_string()),
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
            match Session::open(policy, limits, sub.into()).await {
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
                    let _ = s.close().await;
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
        && let Ok(s) = Session::open(policy, limits, sub.into()).await
    {
        deleted = s.delete_and_close(&to_delete).await.is_ok();
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
        (Sent::Accepted(_), None, Some(e)) => ListPost::Failed { why: e.to_string() },
        (Sent::Accepted(reply), None, None) => ListPost::NotArrived { waited_s, reply },
    };
    if want_roster {
        roster = match (exposed, &error) {
            (Some((after_s, subject)), _) => ListRoster::Exposed {
                request,
                after_s,
                subject: mxray_core::sanitize::for_terminal(&subject),
            },
            (None, Some(e)) => ListRoster::Failed { why: e.to_string() },
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
