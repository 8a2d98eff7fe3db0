//! Canon's project model: everything a `canon.toml` says, as plain data, with no query
//! engine behind it.
//!
//! Tools that only read or validate projects (editors, CI linters, code generators) use
//! this crate alone; the `canon` runtime builds sessions and tables from what it holds.
//! It depends on Arrow's schema types, on DataFusion's narrow configuration and SQL
//! parser crates and on object_store's option names, never on the `datafusion` engine or
//! on deltalake.
//!
//! Layers, bottom to top:
//! 1. [`error`] and [`util`]: problems located at `file:line`, quoting and hex helpers.
//! 2. Specs: [`dialect`] and [`policy`] (how SQL is read and which statements may run),
//!    [`profile`] (the runtime knobs and their fingerprint), [`evolution`] and [`delta`]
//!    (per-dataset rules as data), [`declarations`] (macros, overrides, prepared
//!    statements), [`distributed`] (the workers of distributed plans), [`lineage`] (what a plan reads, as data), [`store`] (object stores
//!    and their options).
//! 3. [`contract`]: dataset contracts and their canonical `CREATE EXTERNAL TABLE`;
//!    [`model`]: models, a query with an output contract, and their build order.
//! 4. [`project`]: the project file, parsed and validated into all of the above.
//! 5. [`schema`]: the project file's JSON Schema, derived from the same serde model the
//!    project parser reads, for editors and CI.

#![deny(missing_docs)]

pub mod contract;
pub mod declarations;
pub mod delta;
pub mod dialect;
pub mod distributed;
pub mod error;
pub mod evolution;
pub mod lineage;
pub mod model;
pub mod openlineage;
pub mod policy;
pub mod profile;
pub mod project;
pub mod schema;
pub mod server;
pub mod store;
pub mod util;

pub use contract::{ColumnSpec, DatasetSpec, Format, Origin, SortKey};
pub use error::{Problem, ProjectError};
pub use model::{ModelKind, ModelSpec};
pub use project::Project;
