//! The OpenSPF conformance suites (RFC 7208 and RFC 4408), driven through `SpfDns` with the
//! zone data of each scenario, following pyspf's driver rules (`shared/testdata/spf/README.md`).

use mxray_core::model::Lookup;
use mxray_core::spf::{SpfDns, SpfQuery, check_host};
use serde_yaml_ng::Value;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// RFC 7208 cases the evaluator is known to get wrong, each with its reason.
const EXPECTED_FAILURES_7208: &[(&str, &str)] = &[(
    "v-macro-ip6",
    "the result (fail) is right; only the explanation text differs: the suite writes the \
     client as CAFE:BABE::1 and expects %{ir} in upper-case nibbles, a pyspf artefact of \
     keeping the address as typed. mxray expands %{i} from the parsed address in lower case, \
     as RFC 7208 §7.4's own example does; DNS names are case-insensitive",
)];

fn testdata(file: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/spf");
    let path = dir.join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "SPF suite missing: {} ({e}). The repository must be checked out with shared/ beside it \
             (as CI does).",
            path.display()
        )
    })
}

#[derive(Clone, Debug)]
enum Rec {
    Spf(Vec<u8>),
    Txt(Option<Vec<u8>>),
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Mx(String),
    Ptr(String),
    Cname(String),
    Timeout,
}

struct Zone(HashMap<String, Vec<Rec>>);

fn key(n: &str) -> String {
    n.strip_suffix('.').unwrap_or(n).to_ascii_lowercase()
}

fn txt_value(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Sequence(parts) => parts
            .iter()
            .flat_map(|p| p.as_str().unwrap_or_default().as_bytes().to_vec())
            .collect(),
        other => panic!("unexpected TXT value {other:?}"),
    }
}

impl Zone {
    fn from_yaml(z: Option<&Value>) -> Self {
        let mut map = HashMap::new();
        let Some(Value::Mapping(m)) = z else {
            return Self(map);
        };
        for (name, recs) in m {
            let name = key(name.as_str().expect("owner name"));
            let mut out = Vec::new();
            for r in recs.as_sequence().expect("record list") {
                match r {
                    Value::String(s) if s == "TIMEOUT" => out.push(Rec::Timeout),
                    Value::Mapping(m) => {
                        for (t, v) in m {
                            let t = t.as_str().expect("type");
                            let none = v.as_str() == Some("NONE");
                            out.push(match t {
                                "SPF" if none => continue,
                                "SPF" => Rec::Spf(txt_value(v)),
                                "TXT" if none => Rec::Txt(None),
                                "TXT" => Rec::Txt(Some(txt_value(v))),
                                "A" => Rec::A(v.as_str().unwrap().parse().unwrap()),
                                "AAAA" => Rec::Aaaa(v.as_str().unwrap().parse().unwrap()),
                                "MX" => {
                                    let s = v.as_sequence().unwrap();
                                    Rec::Mx(s[1].as_str().unwrap().to_owned())
                                }
                                "PTR" => Rec::Ptr(v.as_str().unwrap().to_owned()),
                                "CNAME" => Rec::Cname(v.as_str().unwrap().to_owned()),
                                other => panic!("unknown record type {other}"),
                            });
                        }
                    }
                    other => panic!("unexpected record {other:?}"),
                }
            }
            map.insert(name, out);
        }
        Self(map)
    }

    /// Records of one type at `name` (following one CNAME), with the driver's rules.
    fn query<T>(&self, name: &str, pick: impl Fn(&Rec, bool) -> Option<T>) -> Lookup<Vec<T>> {
        self.query_depth(name, &pick, 0)
    }

    fn query_depth<T>(
        &self,
        name: &str,
        pick: &impl Fn(&Rec, bool) -> Option<T>,
        depth: u32,
    ) -> Lookup<Vec<T>> {
        let name = key(name);
        let Some(recs) = self.0.get(&name) else {
            if name.starts_with("error.") {
                return Lookup::Unknown("timeout".into());
            }
            return Lookup::NxDomain;
        };
        let has_txt = recs.iter().any(|r| matches!(r, Rec::Txt(_)));
        let mut out = Vec::new();
        for r in recs {
            if matches!(r, Rec::Timeout) {
                if out.is_empty() {
                    return Lookup::Unknown("timeout".into());
                }
                break;
            }
            if let Rec::Cname(target) = r {
                if depth > 8 {
                    return Lookup::Unknown("CNAME loop".into());
                }
                return self.query_depth(target, pick, depth + 1);
            }
            if let Some(v) = pick(r, has_txt) {
                out.push(v);
            }
        }
        if out.is_empty() {
            Lookup::NoData
        } else {
            Lookup::Found(out)
        }
    }
}

impl SpfDns for Zone {
    async fn txt(&self, name: &str) -> Lookup<Vec<Vec<u8>>> {
        self.query(name, |r, has_txt| match r {
            Rec::Txt(Some(t)) => Some(t.clone()),
            Rec::Spf(t) if !has_txt => Some(t.clone()),
            _ => None,
        })
    }
    async fn a(&self, name: &str) -> Lookup<Vec<Ipv4Addr>> {
        self.query(name, |r, _| match r {
            Rec::A(a) => Some(*a),
            _ => None,
        })
    }
    async fn aaaa(&self, name: &str) -> Lookup<Vec<Ipv6Addr>> {
        self.query(name, |r, _| match r {
            Rec::Aaaa(a) => Some(*a),
            _ => None,
        })
    }
    async fn mx(&self, name: &str) -> Lookup<Vec<String>> {
        self.query(name, |r, _| match r {
            Rec::Mx(m) => Some(m.clone()),
            _ => None,
        })
    }
    async fn ptr(&self, ip: IpAddr) -> Lookup<Vec<String>> {
        let name = match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
            }
            IpAddr::V6(v6) => {
                let mut s = String::new();
                for b in v6.octets().iter().rev() {
                    s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
                }
                s + "ip6.arpa"
            }
        };
        self.query(&name, |r, _| match r {
            Rec::Ptr(p) => Some(p.clone()),
            _ => None,
        })
    }
}

struct Tally {
    passed: usize,
    failed: Vec<String>,
}

fn run_suite(file: &str, expected_failures: &[(&str, &str)]) -> Tally {
    let text = testdata(file);
    let mut tally = Tally {
        passed: 0,
        failed: Vec::new(),
    };
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let doc = <Value as serde::Deserialize>::deserialize(doc).expect("YAML document");
        if doc.is_null() {
            continue;
        }
        let zone = Zone::from_yaml(doc.get("zonedata"));
        let tests = doc.get("tests").and_then(Value::as_mapping).expect("tests");
        for (id, t) in tests {
            let id = id.as_str().expect("test id");
            let s = |k: &str| {
                t.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let ip: IpAddr = s("host").parse().expect("host");
            let helo = s("helo");
            let mailfrom = s("mailfrom");
            let q = if mailfrom.is_empty() {
                SpfQuery::helo(ip, &helo)
            } else {
                SpfQuery::mail_from(ip, &helo, &mailfrom)
            };
            let expected: Vec<String> = match t.get("result") {
                Some(Value::String(r)) => vec![r.to_ascii_lowercase()],
                Some(Value::Sequence(rs)) => rs
                    .iter()
                    .map(|r| r.as_str().unwrap().to_ascii_lowercase())
                    .collect(),
                other => panic!("{id}: result {other:?}"),
            };
            let got = futures::executor::block_on(check_host(&zone, &q));
            let mut ok = expected.iter().any(|e| e == got.result.as_str());
            if ok && let Some(exp) = t.get("explanation").and_then(Value::as_str) {
                // "DEFAULT": the receiver's own text, i.e. no exp= explanation.
                let want = (exp != "DEFAULT").then_some(exp);
                ok = got.explanation.as_deref() == want;
            }
            if ok {
                tally.passed += 1;
            } else {
                let known = expected_failures.iter().find(|(k, _)| *k == id);
                tally.failed.push(format!(
                    "{id}: expected {expected:?}{}, got {} {:?} ({}){}",
                    t.get("explanation")
                        .and_then(Value::as_str)
                        .map(|e| format!(" exp={e:?}"))
                        .unwrap_or_default(),
                    got.result,
                    got.explanation,
                    got.reason,
                    known
                        .map(|(_, why)| format!(" [expected failure: {why}]"))
                        .unwrap_or_default(),
                ));
            }
        }
    }
    tally
}

/// Writes past libtest's capture (which only takes the print macros), so the count shows in
/// CI output even when the test passes.
fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn rfc7208_suite() {
    let t = run_suite("rfc7208-tests.yml", EXPECTED_FAILURES_7208);
    let total = t.passed + t.failed.len();
    for f in &t.failed {
        println!("FAIL {f}");
    }
    report(&format!("RFC 7208 suite: {} of {total} passed", t.passed));
    assert_eq!(total, 203, "the RFC 7208 suite has 203 cases");
    let unexpected: Vec<&String> = t
        .failed
        .iter()
        .filter(|f| !f.contains("[expected failure"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected failures: {unexpected:#?}"
    );
}

#[test]
fn rfc4408_suite() {
    let t = run_suite("rfc4408-tests.yml", &[]);
    let total = t.passed + t.failed.len();
    for f in &t.failed {
        println!("FAIL (4408) {f}");
    }
    report(&format!("RFC 4408 suite: {} of {total} passed", t.passed));
    assert_eq!(total, 191, "the RFC 4408 suite has 191 cases");
}
