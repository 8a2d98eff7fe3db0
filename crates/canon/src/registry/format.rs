//! Table formats with a factory of their own. DataFusion's listing formats (parquet, CSV,
//! JSON, Arrow) register through its `ListingTableFactory`; a format such as Delta brings
//! its own factory for its `STORED AS` keyword and finishes registration through this
//! hook, so the registry never needs to know which formats exist.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use datafusion::catalog::{TableFunctionImpl, TableProvider, TableProviderFactory};

use super::DatasetError;
use crate::contract::{DatasetSpec, Format};
use crate::error::BoxError;

/// The project's datasets by name, shared read-only by every session.
pub type DatasetTables = Arc<BTreeMap<String, Arc<dyn TableProvider>>>;

/// The one of `formats` that stores tables of `format`, when it is compiled in.
pub fn format_of(formats: &Formats, format: Format) -> Option<&Arc<dyn TableFormat>> {
    formats.iter().find(|f| f.name() == format.name())
}

/// The commit-metadata key under which a model's build records what it was built from.
pub const MODEL_RECORD_KEY: &str = "canon.model";

/// One commit of a table, as its format's log records it.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    /// The table version the commit made.
    pub version: u64,
    /// When, in RFC 3339, if the log says.
    pub time: Option<String>,
    /// The operation (WRITE, MERGE, …), if the log says.
    pub operation: Option<String>,
    /// The rest of the commit's information: its metrics and what the writer recorded.
    pub info: serde_json::Map<String, serde_json::Value>,
}

/// What a session's writes record in the metadata of their commit (a model build's
/// definition and state), set as a session config extension and read by the format's sink.
#[derive(Debug, Clone, Default)]
pub struct CommitMetadata(pub BTreeMap<String, serde_json::Value>);

/// A table format that registers through its own table factory.
#[async_trait::async_trait]
pub trait TableFormat: fmt::Debug + Send + Sync {
    /// The format's name in `canon.toml` (`format = "…"`) and in `canon.datasets`.
    fn name(&self) -> &'static str;

    /// The `STORED AS` keyword of its datasets' canonical DDL.
    fn stored_as(&self) -> &'static str;

    /// The factory that builds its tables from the planned DDL.
    fn factory(&self) -> Arc<dyn TableProviderFactory>;

    /// The expression adapter its scans use, as `canon.datasets` shows it.
    fn adapter(&self) -> &'static str;

    /// Finishes registering a table its factory built: attaches what the contract adds
    /// and returns notes on where the table differs from plain DDL.
    fn attach(
        &self,
        spec: &DatasetSpec,
        table: &Arc<dyn TableProvider>,
    ) -> Result<Vec<String>, DatasetError>;

    /// The current state of one of its tables, for `canon.datasets` and diagnostics.
    fn state(&self, table: &dyn TableProvider) -> Option<serde_json::Value>;

    /// Every constraint one of its tables enforces, as (name, SQL expression): the
    /// contract's and the table's own. `canon check` evaluates them all.
    fn constraints(&self, table: &dyn TableProvider) -> Vec<(String, String)>;

    /// Table functions over the project's datasets, added to every session.
    fn table_functions(&self, datasets: &DatasetTables) -> Vec<TableFunctionSpec>;

    /// One of its tables' commits, newest first, at most `limit`.
    async fn commits(
        &self,
        table: &dyn TableProvider,
        limit: usize,
    ) -> Result<Vec<CommitInfo>, BoxError>;

    /// Whether a table of this format is at the contract's location.
    async fn exists(&self, spec: &DatasetSpec) -> Result<bool, BoxError>;

    /// The value its newest commit that carries `key` in its metadata holds there, looking
    /// back at most `depth` commits; `None` when there is no table or no such commit.
    async fn commit_metadata(
        &self,
        spec: &DatasetSpec,
        key: &str,
        depth: usize,
    ) -> Result<Option<serde_json::Value>, BoxError>;

    /// Creates the empty table a contract describes where none exists yet, so that a
    /// model's first build has a table to write into; whether it created one.
    async fn create_if_absent(&self, spec: &DatasetSpec) -> Result<bool, BoxError>;
}

/// A table function Canon adds to every session, with its catalog description.
#[derive(Debug)]
pub struct TableFunctionSpec {
    /// Its name in SQL.
    pub name: &'static str,
    /// What it returns, for `canon.functions`.
    pub description: &'static str,
    /// What implements it.
    pub function: Arc<dyn TableFunctionImpl>,
}

/// The table formats this build of Canon has, by `STORED AS` keyword.
pub type Formats = Arc<Vec<Arc<dyn TableFormat>>>;
