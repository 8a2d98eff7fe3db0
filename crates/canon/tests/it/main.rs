//! Canon's integration tests: one binary, one module per area.

mod common;
mod ddl;
mod evolution;
mod formats;
mod options;
mod partitioned;
mod policy;
mod project_errors;
mod registration;
mod sessions;
mod system_tables;
mod types;
