//! Canon's integration tests: one binary, one module per area.

mod caches;
mod common;
mod conditions;
mod constant_keys;
mod ddl;
mod declarations;
#[cfg(feature = "delta")]
mod deletion_vectors;
#[cfg(feature = "delta")]
mod delta;
mod diagnostics_log;
mod dialects;
mod eager_aggregation;
mod evolution;
mod finest_groups;
mod fingerprints;
mod formats;
mod functions;
mod inserts;
mod join_order;
mod kept_plans;
mod keys;
mod lineage;
mod macros;
mod optimizer;
mod options;
mod owned_settings;
mod partitioned;
mod plan_hook;
mod policy;
mod prepared;
mod project_errors;
mod proptests;
mod region_estimates;
mod registration;
mod scan_reduction;
mod sessions;
mod shared_subplans;
mod slt;
mod spill;
mod sql_fixture;
mod stores;
mod system_tables;
mod types;
mod udfs;
mod verified_files;
