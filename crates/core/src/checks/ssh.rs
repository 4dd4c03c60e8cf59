//! Findings about SSH: the identification string, kept for fingerprinting.

use super::service;
use crate::finding::{Finding, Severity};
use crate::model::SshObservation;
use std::net::IpAddr;

pub(super) fn check(ip: IpAddr, s: &SshObservation) -> Vec<Finding> {
    let Some(id) = &s.identification else {
        return Vec::new();
    };
    vec![
        Finding::new(
            "ssh.banner",
            Severity::Info,
            service(ip, s.port),
            format!("SSH on port {} identifies itself as {id:?}", s.port),
            "Nothing to fix; keep the SSH server patched, and restrict port 22 to administrators' networks where possible.",
        )
        .with_evidence([format!("S: {id}")]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut s = SshObservation {
            port: 22,
            status: crate::model::ProbeStatus::Success,
            detail: None,
            identification: Some("SSH-2.0-OpenSSH_9.2p1 Debian-2".into()),
            pre_banner: vec![],
        };
        let f = check(ip, &s);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence, ["S: SSH-2.0-OpenSSH_9.2p1 Debian-2"]);
        s.identification = None;
        assert!(check(ip, &s).is_empty());
    }
}
