//! Findings about the services intruders look for on mail hosts (issue 16, seed 001): telnet,
//! SMB, open HTTP/SOCKS proxies, anonymous FTP.

use super::service;
use crate::finding::{Finding, Severity};
use crate::ftp::Anonymous;
use crate::model::{
    ExtraServices, FtpObservation, ProbeStatus, ProxyObservation, SmbObservation,
    TelnetObservation, TranscriptLine,
};
use crate::proxy::{ProxyKind, ProxyVerdict};
use crate::smb::Smb1Answer;
use std::net::IpAddr;

/// Evidence lines: the transcript's first lines, rendered.
fn evidence(t: &[TranscriptLine]) -> Vec<String> {
    t.iter().take(12).map(TranscriptLine::render).collect()
}

pub(super) fn check(ip: IpAddr, x: &ExtraServices) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in &x.telnet {
        out.extend(telnet(ip, t));
    }
    for s in &x.smb {
        out.extend(smb(ip, s));
    }
    for p in &x.proxy {
        out.extend(proxy(ip, p));
    }
    for f in &x.ftp {
        out.extend(ftp(ip, f));
    }
    out
}

fn telnet(ip: IpAddr, t: &TelnetObservation) -> Option<Finding> {
    if t.status != ProbeStatus::Success || (t.negotiation.is_empty() && t.banner.is_empty()) {
        return None;
    }
    let prompt = t
        .banner
        .last()
        .map_or(String::new(), |l| format!(" ({l:?})"));
    Some(
        Finding::new(
            "telnet.exposed",
            Severity::High,
            service(ip, t.port),
            format!(
                "Telnet answers on port {} of a mail host{prompt}: logins travel in clear text",
                t.port
            ),
            "Turn telnet off (use SSH) or restrict the port to management networks.",
        )
        .with_evidence(evidence(&t.transcript)),
    )
}

fn smb(ip: IpAddr, s: &SmbObservation) -> Vec<Finding> {
    let mut out = Vec::new();
    let negotiated = s.dialect.is_some() || s.smb1 == Some(Smb1Answer::Accepted);
    if s.status != ProbeStatus::Success || !negotiated {
        return out;
    }
    let dialect = s.dialect.as_deref().unwrap_or("SMB1 only");
    out.push(
        Finding::new(
            "smb.exposed",
            Severity::High,
            service(ip, s.port),
            format!("SMB answers on port {} (dialect {dialect})", s.port),
            "Block ports 139 and 445 from the Internet; file sharing belongs on internal networks or behind a VPN.",
        )
        .with_evidence(evidence(&s.transcript)),
    );
    if s.smb1 == Some(Smb1Answer::Accepted) {
        out.push(
            Finding::new(
                "smb.smb1",
                Severity::High,
                service(ip, s.port),
                format!("SMB1 (NT LM 0.12) is accepted on port {}", s.port),
                "Disable SMB1 (Samba: `server min protocol = SMB2_10`; Windows: remove the SMB 1.0/CIFS feature).",
            )
            .with_evidence(evidence(&s.transcript)),
        );
    }
    out
}

fn proxy(ip: IpAddr, p: &ProxyObservation) -> Option<Finding> {
    if !p.verdict.is_open() {
        return None;
    }
    let (id, what) = match p.kind {
        ProxyKind::HttpConnect => ("proxy.open_http", "HTTP CONNECT"),
        ProxyKind::Socks5 => ("proxy.open_socks", "SOCKS5"),
        ProxyKind::Socks4 => ("proxy.open_socks", "SOCKS4"),
    };
    let target = p.target.as_deref().unwrap_or("the host itself");
    let how = match p.verdict {
        ProxyVerdict::Tunnelled => "and the SMTP greeting came through the tunnel".to_owned(),
        ProxyVerdict::ForwardFailed => "and tried to connect (the attempt failed)".to_owned(),
        _ => "(no greeting came through)".to_owned(),
    };
    let mut ev = Vec::new();
    if let Some(r) = &p.reply {
        ev.push(format!("proxy: {r}"));
    }
    if let Some(g) = &p.tunnelled_greeting {
        ev.push(format!("through the tunnel: {g}"));
    }
    ev.extend(evidence(&p.transcript));
    Some(
        Finding::new(
            id,
            Severity::Critical,
            service(ip, p.port),
            format!(
                "Open {what} proxy on port {}: it accepted a connection to {target} for an arbitrary client {how}",
                p.port
            ),
            "Allow the proxy only to your own clients (an ACL on source addresses) or require authentication; never expose it to the Internet.",
        )
        .with_evidence(ev),
    )
}

fn ftp(ip: IpAddr, f: &FtpObservation) -> Option<Finding> {
    if !f.anonymous.is_offered() {
        return None;
    }
    let how = if f.anonymous == Anonymous::NoPassword {
        "logs `anonymous` in without a password"
    } else {
        "offers anonymous login"
    };
    Some(
        Finding::new(
            "ftp.anonymous",
            Severity::Medium,
            service(ip, f.port),
            format!("FTP on port {} {how}", f.port),
            "Disable anonymous FTP (vsftpd: `anonymous_enable=NO`) unless the host is a deliberate public archive with nothing writable.",
        )
        .with_evidence(evidence(&f.transcript)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftp::FtpReply;

    fn ip() -> IpAddr {
        "192.0.2.1".parse().unwrap()
    }

    fn ids(x: &ExtraServices) -> Vec<String> {
        check(ip(), x).into_iter().map(|f| f.id).collect()
    }

    fn telnet_obs(status: ProbeStatus, banner: &[&str]) -> TelnetObservation {
        TelnetObservation {
            port: 23,
            status,
            detail: None,
            negotiation: Vec::new(),
            banner: banner.iter().map(|s| s.to_string()).collect(),
            transcript: Vec::new(),
        }
    }

    fn smb_obs(dialect: Option<&str>, smb1: Option<Smb1Answer>) -> SmbObservation {
        SmbObservation {
            port: 445,
            status: ProbeStatus::Success,
            detail: None,
            netbios: None,
            dialect: dialect.map(str::to_owned),
            signing_required: Some(false),
            smb1,
            transcript: Vec::new(),
        }
    }

    fn proxy_obs(kind: ProxyKind, verdict: ProxyVerdict) -> ProxyObservation {
        ProxyObservation {
            port: 3128,
            kind,
            status: ProbeStatus::Success,
            detail: None,
            target: Some("192.0.2.1:25".into()),
            verdict,
            reply: None,
            tunnelled_greeting: None,
            transcript: Vec::new(),
        }
    }

    fn ftp_obs(anonymous: Anonymous) -> FtpObservation {
        FtpObservation {
            port: 21,
            status: ProbeStatus::Success,
            detail: None,
            greeting: Some(FtpReply {
                code: 220,
                lines: vec!["(vsFTPd 3.0.3)".into()],
            }),
            anonymous_reply: None,
            control_reply: None,
            anonymous,
            transcript: Vec::new(),
        }
    }

    #[test]
    fn telnet_verdicts() {
        let x = |t| ExtraServices {
            telnet: vec![t],
            ..Default::default()
        };
        assert_eq!(
            ids(&x(telnet_obs(ProbeStatus::Success, &["login:"]))),
            ["telnet.exposed"]
        );
        assert!(ids(&x(telnet_obs(ProbeStatus::Success, &[]))).is_empty());
        assert!(ids(&x(telnet_obs(ProbeStatus::ConnectRefused, &["login:"]))).is_empty());
    }

    #[test]
    fn smb_verdicts() {
        let x = |s| ExtraServices {
            smb: vec![s],
            ..Default::default()
        };
        assert_eq!(
            ids(&x(smb_obs(Some("3.1.1"), Some(Smb1Answer::Closed)))),
            ["smb.exposed"]
        );
        assert_eq!(
            ids(&x(smb_obs(Some("3.1.1"), Some(Smb1Answer::Accepted)))),
            ["smb.exposed", "smb.smb1"]
        );
        assert_eq!(
            ids(&x(smb_obs(None, Some(Smb1Answer::Accepted)))),
            ["smb.exposed", "smb.smb1"]
        );
        assert!(ids(&x(smb_obs(None, Some(Smb1Answer::Refused)))).is_empty());
    }

    #[test]
    fn proxy_verdicts() {
        for (kind, verdict, want) in [
            (
                ProxyKind::HttpConnect,
                ProxyVerdict::Tunnelled,
                Some("proxy.open_http"),
            ),
            (
                ProxyKind::HttpConnect,
                ProxyVerdict::ForwardFailed,
                Some("proxy.open_http"),
            ),
            (ProxyKind::HttpConnect, ProxyVerdict::Refused, None),
            (ProxyKind::HttpConnect, ProxyVerdict::AuthRequired, None),
            (
                ProxyKind::Socks5,
                ProxyVerdict::Tunnelled,
                Some("proxy.open_socks"),
            ),
            (
                ProxyKind::Socks4,
                ProxyVerdict::Granted,
                Some("proxy.open_socks"),
            ),
            (ProxyKind::Socks5, ProxyVerdict::AuthRequired, None),
            (ProxyKind::Socks5, ProxyVerdict::NoTarget, None),
            (ProxyKind::Socks5, ProxyVerdict::NotProxy, None),
        ] {
            let x = ExtraServices {
                proxy: vec![proxy_obs(kind, verdict)],
                ..Default::default()
            };
            assert_eq!(
                ids(&x),
                want.into_iter().collect::<Vec<_>>(),
                "{kind:?} {verdict:?}"
            );
        }
    }

    #[test]
    fn ftp_verdicts() {
        for (a, want) in [
            (Anonymous::Offered, true),
            (Anonymous::NoPassword, true),
            (Anonymous::Refused, false),
            (Anonymous::Indistinguishable, false),
            (Anonymous::NotAsked, false),
        ] {
            let x = ExtraServices {
                ftp: vec![ftp_obs(a)],
                ..Default::default()
            };
            assert_eq!(!ids(&x).is_empty(), want, "{a:?}");
        }
    }
}
