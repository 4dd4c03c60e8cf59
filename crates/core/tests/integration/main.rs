//! mxray-core's integration tests (one binary per crate).

mod props;
mod spf_suite;
