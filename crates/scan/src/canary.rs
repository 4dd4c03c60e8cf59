//! The relay confirmation of `mxray audit` (never used by a scan): one uniquely marked
//! message sent with DATA through a server in scope to the operator's canary mailbox, then
//! that mailbox (IMAP or POP3, through [`crate::mailbox_session::Session`]) watched for a
//! bounded time for the mail that arrived since the message was sent, and the canary
//! deleted when it is found.
//! The message goes out through [`crate::submit`].

use crate::mailbox_session::{Account, MailboxError, Session};
use crate::net::{Limits, Policy};
use crate::submit::{Sent, submit};
use mxray_core::checks::audit::RelayCanary;
use mxray_core::scope::Canary;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// A fresh marker: `mxray-canary-` and 24 random hex digits.
pub fn marker() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 12];
    // A failing system RNG leaves zeros: the marker is then merely not unique.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    format!("mxray-canary-{}", crate::tls::hex(&b))
}

/// Runs the relay confirmation through `relay`: notes where new mail starts in the canary
/// mailbox (nothing is sent when it cannot be read), sends the marked message, watches the
/// mailbox up to `canary.wait` seconds, and deletes the canary it finds there.
pub async fn run(
    policy: &Policy,
    limits: Limits,
    relay: SocketAddr,
    ehlo: &str,
    canary: &Canary,
    marker: &str,
) -> RelayCanary {
    let failed = |e: MailboxError| RelayCanary::Failed { why: e.to_string() };
    let account = Account::from(canary);
    let from = match mark(policy, limits, account).await {
        Ok(m) => m,
        Err(e) => return failed(e),
    };
    let to = &canary.address;
    let reply = match submit(
        policy,
        limits,
        relay,
        ehlo,
        to,
        to,
        &message(to, marker, relay),
    )
    .await
    {
        Sent::Accepted(reply) => reply,
        Sent::Refused(reply) => return RelayCanary::Refused { reply },
        Sent::Failed(why) => return RelayCanary::Failed { why },
    };
    let wait = Duration::from_secs(u64::from(canary.wait));
    match watch(policy, limits, account, from, marker, wait).await {
        Ok(Some(seen)) => RelayCanary::Arrived {
            after_s: seen.after_s,
            reply,
            deleted: seen.deleted,
        },
        Ok(None) => RelayCanary::NotArrived {
            waited_s: wait.as_secs(),
            reply,
        },
        Err(e) => failed(e),
    }
}

/// Where new mail will start in the mailbox.
async fn mark(policy: &Policy, limits: Limits, account: Account<'_>) -> Result<u32, MailboxError> {
    let mut s = Session::open(policy, limits, account).await?;
    let m = s.mark().await;
    let _ = s.close().await;
    m
}

/// The marked message (CRLF lines, no final dot), from and to the canary mailbox.
fn message(canary: &str, marker: &str, relay: SocketAddr) -> String {
    format!(
        "From: <{canary}>\r\nTo: <{canary}>\r\nSubject: mxray relay canary {marker}\r\n\
         Message-ID: <{marker}@mxray.invalid>\r\nX-Mxray-Canary: {marker}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         This message was sent by mxray audit through {relay} to confirm whether that server\r\n\
         relays mail for outside recipients. It can be deleted."
    )
}

/// The canary in the mailbox.
struct Seen {
    /// Seconds from acceptance to arrival (rounded up).
    after_s: u64,
    /// Whether it was deleted.
    deleted: bool,
}

/// Watches the mailbox for `marker` among the messages from `mark` on, for up to `wait`
/// (one session a second or so), and deletes the copies it finds; `Ok(None)`: not seen.
async fn watch(
    policy: &Policy,
    limits: Limits,
    account: Account<'_>,
    mark: u32,
    marker: &str,
    wait: Duration,
) -> Result<Option<Seen>, MailboxError> {
    let started = Instant::now();
    loop {
        let mut s = Session::open(policy, limits, account).await?;
        let found: Vec<u32> = match s.new_messages(mark).await {
            Ok(msgs) => msgs
                .into_iter()
                .filter(|(_, m)| m.carries(marker))
                .map(|(id, _)| id)
                .collect(),
            Err(e) => {
                let _ = s.close().await;
                return Err(e);
            }
        };
        if !found.is_empty() {
            let after_s = started.elapsed().as_secs() + 1;
            let deleted = s.delete_and_close(&found).await.is_ok();
            return Ok(Some(Seen { after_s, deleted }));
        }
        let _ = s.close().await;
        if started.elapsed() >= wait {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn markers_are_unique() {
        let (a, b) = (super::marker(), super::marker());
        assert!(a.starts_with("mxray-canary-") && a.len() == 37);
        assert_ne!(a, b);
    }

    #[test]
    fn the_message_carries_its_marker() {
        let text = super::message(
            "c@canary.lab",
            "mxray-canary-01",
            ([127, 0, 0, 1], 25).into(),
        );
        let m = mxray_core::listmail::Message::parse(text.as_bytes());
        assert_eq!(m.header("X-Mxray-Canary"), Some("mxray-canary-01"));
        assert!(m.carries("mxray-canary-01") && m.body.contains("127.0.0.1:25"));
    }
}
