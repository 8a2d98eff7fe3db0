//! Canon: a contract-first runtime for Apache DataFusion and Delta Lake.
//!
//! A project file (`canon.toml`) declares the runtime profile, the SQL policy and every
//! dataset as a contract. [`Runtime::load`] turns it into one session factory and one
//! registration path:
//!
//! ```no_run
//! # async fn example() -> canon::Result<()> {
//! let runtime = canon::Runtime::load("canon.toml").await?;
//! let session = runtime.session();
//! let batches = session.sql("SELECT count(*) FROM trips").await?.collect().await?;
//! # Ok(()) }
//! ```
//!
//! The project file and its contracts are plain data in the `canon-model` crate, which this
//! crate re-exports where its modules stand (`project`, `policy`, parts of `contract`,
//! `profile`, `evolution`, `functions`, `prepared` and `sql`). This crate is the runtime
//! core. Its layers, bottom to top; each imports only from the layers below it:
//!
//! 1. [`error`]: every error type, importing nothing of the runtime.
//! 2. [`diagnostics`]: the event stream, a leaf whose events carry their own payloads;
//!    [`process`]: process-wide settings Canon's binaries apply at start, a leaf too;
//!    [`results`]: results made ready for text formats, a leaf.
//! 3. Engine adapters: [`contract`] (the `ARROW(…)` type planner), `view` (tables
//!    computed at scan time), `finished` (the root node that records how a plan's run
//!    ended), [`stores`] (the object store registry: local files, S3, Azure, GCS and
//!    HTTP, each store counting its requests), [`optimizer`] (Canon's own logical
//!    optimizer rules), `hosted` (tables whose scans run in Canon's runtime when another
//!    DataFusion context reads them) and [`distributed`] (distributed plans over
//!    datafusion-distributed: the coordinator's planner and channels, workers' sessions).
//! 4. [`profile`]: the `SessionConfig` and `RuntimeEnv` built from the profile.
//! 5. [`evolution`] (the schema-evolution adapter) and [`registry`] (contract → DDL →
//!    table, with one [`registry::TableFormat`] hook per format that brings its own
//!    factory).
//! 6. [`functions`], `cache` and [`prepared`]; [`sql`] (canonical SQL, lineage,
//!    fingerprints, explanations); `plans` (the optimized plans of repeated statements).
//! 7. `hook`: the plan hook every executed plan passes.
//! 8. [`session`]: one `impl Session`, every way to run SQL.
//! 9. `system`: the `canon` schema of system tables.
//! 10. [`runtime`], [`check`] and [`analyze`]: what callers start from.
//! 11. [`models`]: models compiled against contracts and built in dependency order.
//!
//! Optional: [`delta`] (cargo feature `delta`, on by default), which plugs in through the
//! registry's format hook; the core names no Delta type. `formats` is the one place that
//! lists the formats compiled in.

#![deny(missing_docs)]

pub mod analyze;
mod cache;
pub mod check;
pub mod contract;
#[cfg(feature = "delta")]
pub mod delta;
pub mod diagnostics;
pub mod distributed;
pub mod error;
pub mod evolution;
mod finished;
mod formats;
pub mod functions;
mod hook;
mod hosted;
pub mod models;
mod openlineage;
pub mod optimizer;
mod plans;
pub mod prepared;
pub mod process;
pub mod profile;
pub mod registry;
pub mod results;
pub mod runtime;
pub mod session;
pub mod sql;
pub mod stores;
mod system;
mod view;

pub use canon_model;
pub use canon_model::{policy, project};
pub use datafusion;

pub use analyze::Analysis;
pub use contract::{ColumnSpec, DatasetSpec, Format};
#[cfg(feature = "delta")]
pub use delta::DeltaError;
pub use diagnostics::{Diagnostics, Event, Record};
pub use error::{
    CanonError, CompileProblem, DeclarationError, ModelError, ProjectError, RegistrationError,
    Result, SessionError, WorkerError,
};
pub use functions::Tier;
pub use policy::{PolicyViolation, SqlPolicy, StatementClass};
pub use prepared::{Parameter, PreparedError, PreparedOrigin};
pub use profile::{ProfileSpec, RuntimeProfile};
pub use project::Project;
pub use registry::RegisteredDataset;
pub use runtime::Runtime;
pub use session::Session;
pub use sql::{Explanation, IdentifierCase, Lineage};
