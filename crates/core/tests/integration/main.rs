//! mxray-core's integration tests (one binary per crate).

mod feeds;
mod listings;
mod props;
mod spf_suite;
