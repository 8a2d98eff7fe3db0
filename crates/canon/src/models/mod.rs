//! Models: datasets whose rows come from SQL, compiled against contracts and built in
//! dependency order.
//!
//! Layers, bottom to top: [`compile`] (each query planned against the contracts of what it
//! reads, its output checked against its own contract; the graph and its build order) and
//! `build` (write-audit-publish into each stored model's table, in that order).

pub mod build;
pub mod compile;

pub use build::{BuildOptions, BuildReport, ModelBuild, Progress, Status, build};
pub use compile::{Compiled, CompiledModel, compile, infer};
