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

pub mod analyze;
mod cache;
pub mod check;
pub mod contract;
pub mod delta;
pub mod diagnostics;
pub mod error;
pub mod evolution;
pub mod functions;
mod hook;
pub mod policy;
pub mod prepared;
pub mod profile;
pub mod project;
pub mod registry;
pub mod runtime;
pub mod session;
pub mod sql;
mod system;

pub use datafusion;

pub use analyze::Analysis;
pub use contract::{ColumnSpec, DatasetSpec, Format};
pub use diagnostics::{Diagnostics, Event, Record};
pub use error::{
    CanonError, DeclarationError, DeltaError, ProjectError, RegistrationError, Result,
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
