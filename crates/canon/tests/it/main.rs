//! Canon's integration tests: one binary, one module per area.

mod common;
mod ddl;
mod dialects;
mod evolution;
mod fingerprints;
mod formats;
mod lineage;
mod options;
mod partitioned;
mod plan_hook;
mod policy;
mod project_errors;
mod registration;
mod sessions;
mod sql_fixture;
mod system_tables;
mod types;
