//! Probes: one trait, one module per dialogue (zgrab2's module shape).
//!
//! A probe never fails: whatever happens on the wire becomes a status plus whatever data was
//! gathered up to that point, with the transcript as evidence.

pub mod dnsserver;
pub mod mailbox;
pub mod relay;
pub mod smtp;
pub mod ssh;
pub mod web;

use crate::net::{Limits, Policy};
use crate::tls::TlsClient;
use mxray_core::model::{MailboxObservation, SmtpObservation, SshObservation, WebObservation};
use mxray_core::relay::RelayObservation;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use tokio::time::Instant;

/// A boxed future, so probes can live in one list.
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = ProbeOutput> + Send + 'a>>;

/// What a probe produced.
#[derive(Clone, Debug)]
pub enum ProbeOutput {
    /// An SMTP service observation.
    Smtp(SmtpObservation),
    /// An open-relay battery.
    Relay(RelayObservation),
    /// A POP3 or IMAP service.
    Mailbox(MailboxObservation),
    /// An HTTP or HTTPS service.
    Web(WebObservation),
    /// An SSH identification.
    Ssh(SshObservation),
}

/// Everything a probe may use: the target, the bounds, the network policy.
#[derive(Clone, Debug)]
pub struct ProbeContext {
    /// The address probed.
    pub ip: IpAddr,
    /// Host names that led here (MX names), used for TLS name checks and relay forms.
    pub names: Vec<String>,
    /// A domain this host receives mail for (relay control recipient).
    pub local_domain: Option<String>,
    /// Our EHLO name: identifies the scanner to the operator reading their logs.
    pub ehlo_name: String,
    /// Who may be contacted.
    pub policy: Policy,
    /// Per-connection bounds.
    pub limits: Limits,
    /// The host's deadline.
    pub deadline: Instant,
    /// TLS client.
    pub tls: TlsClient,
}

/// One dialogue with one service.
pub trait Probe: Send + Sync {
    /// Stable name (`smtp`, `smtp-relay`), used in output and configuration.
    fn name(&self) -> &'static str;
    /// The port this instance talks to.
    fn port(&self) -> u16;
    /// Runs against `cx.ip`. Never fails; never exceeds `cx.deadline`.
    fn run<'a>(&'a self, cx: &'a ProbeContext) -> ProbeFuture<'a>;
}

/// A context for probing a test server on loopback (unit tests of the probes).
#[cfg(test)]
pub(crate) fn test_context(ip: std::net::IpAddr, name: &str) -> ProbeContext {
    ProbeContext {
        ip,
        names: vec![name.into()],
        local_domain: None,
        ehlo_name: "mxray-test.invalid".into(),
        policy: crate::net::Policy {
            allowed_classes: vec![mxray_core::addr::AddressClass::Loopback],
            ..crate::net::Policy::default()
        },
        limits: crate::net::Limits {
            step_timeout: std::time::Duration::from_secs(5),
            ..crate::net::Limits::default()
        },
        deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(60),
        tls: crate::tls::TlsClient::new(),
    }
}
