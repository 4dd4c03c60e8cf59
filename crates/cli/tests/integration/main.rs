//! End-to-end tests: the `mxray` binary against the built-in lab (in this process) and, in
//! CI, against a real Postfix on loopback. Every network peer is on 127.0.0.0/8.

mod advisory_feeds;
mod audit;
mod concurrent_store;
mod dnssec;
mod ecosystem;
mod exposure;
mod exposure_extra;
mod hardening;
mod harness;
mod history;
mod inputs;
mod lab_scan;
mod lists;
mod mail_auth;
mod mmdb;
mod mta;
mod operator;
mod postfix;
mod probe_engine;
mod report;
mod reputation;
mod resume;
mod roles;
mod safety;
mod scale;
mod sim_relays;
mod software;
mod store_compact;
mod survey;
mod survey_report;
mod tls_audit;
mod watch;
mod webstores;
