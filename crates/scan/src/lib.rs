//! mxray's network side: every packet the scanner sends is sent from this crate.
//!
//! `resolve` asks DNS, `discovery` turns a domain into mail-host addresses, `net` enforces the
//! address policy and the bounds on every conversation, `probe` holds the dialogues, `tls`
//! the certificate-recording TLS client, and `engine` schedules it all.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod canary;
pub mod discovery;
pub mod dnssec;
pub mod engine;
pub mod lists;
pub mod login;
pub mod mailauth;
pub mod mailbox_session;
mod mux;
pub mod net;
pub mod pace;
pub mod probe;
pub mod reputation;
pub mod resolve;
pub mod submit;
pub mod tls;

pub use engine::{
    Engine, Event, HostGate, MailboxPort, PendingHost, Progress, ScanConfig, Seed, SmtpPort,
    WebPort,
};
