//! The probe engine's typed outcomes against a real server: a web port answered by a server
//! that is not HTTP is `protocol-mismatch`, not `closed-early` (`.ci/mismatch.sh`: OpenSSH on
//! 127.0.90.1:80; CI sets MXRAY_TEST_MISMATCH).

use crate::exposure::{lab_with, scan_keep};
use crate::harness::real_server as available;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_http_server_on_port_80_is_a_protocol_mismatch() {
    if !available("MXRAY_TEST_MISMATCH", ".ci/mismatch.sh") {
        return;
    }
    let lab = lab_with(
        [127, 77, 100],
        vec![],
        vec![],
        vec![("www.mxray-ssh-on-80.lab", "127.0.90.1")],
    )
    .await;
    let (_dir, _db, ex) = scan_keep(&lab, &["mxray-ssh-on-80.lab"], &["http=80"], &[]).await;
    let h = ex.host("127.0.90.1").expect("the web host was probed");
    let obs = &h["observation"];
    assert_eq!(obs["roles"][0], "web", "{obs}");
    let web = &obs["web"][0];
    assert_eq!(web["port"], 80, "{web}");
    assert_eq!(web["status"], "protocol-mismatch", "{web}");
    // What came back is kept as evidence: sshd's identification line, not an HTTP status.
    let first = &web["exchanges"][0];
    assert!(first["status_code"].is_null(), "{first}");
    assert!(
        first["status_line"]
            .as_str()
            .is_some_and(|l| l.starts_with("SSH-2.0-")),
        "{first}"
    );
    assert!(obs.get("status").is_none(), "no internal error: {obs}");
    // The HTTPS port (where nothing listens) stays what it is.
    let https = &obs["web"][1];
    assert_eq!(https["status"], "connect-refused", "{https}");
}
