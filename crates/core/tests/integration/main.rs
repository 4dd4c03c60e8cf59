//! mxray-core's integration tests (one binary per crate).

mod spf_suite;
