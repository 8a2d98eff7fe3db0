//! Models: datasets whose rows come from SQL, compiled against contracts and built in
//! dependency order.
//!
//! Layers, bottom to top: [`record`] (what a build commits with its table);
//! [`mod@compile`] (each query planned against the contracts of what it reads, its output
//! checked against its own contract; the graph and its build order); [`lineage`] (columns
//! traced across the graph); `incremental` (an append or merge model's new rows) and
//! `changes` (a merge model's rows from its upstream's change feed);
//! [`mod@build`] (write-audit-publish into each stored model's table, in that order) and
//! [`mod@plan`] (the project against the last builds).

pub mod build;
mod changes;
pub mod compile;
mod incremental;
pub mod lineage;
pub mod plan;
pub mod record;

pub use build::{BuildOptions, BuildReport, ModelBuild, Progress, Status, build};
pub use compile::{Compiled, CompiledModel, compile, infer};
pub use lineage::Trace;
pub use plan::{Change, ModelChange, Plan, plan};
