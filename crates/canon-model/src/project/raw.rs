//! The serde model of `canon.toml`, exactly as written; `validate` turns it into specs.
//!
//! Every scalar that is checked after parsing is `Spanned`, so that a problem can name
//! the line and column it comes from.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) type SpannedMap = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProject {
    pub project: RawProjectInfo,
    #[serde(default)]
    pub profile: RawProfile,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default, rename = "dataset")]
    pub datasets: Vec<Spanned<RawDataset>>,
    #[serde(default)]
    pub functions: RawFunctions,
    #[serde(default, rename = "function")]
    pub macros: Vec<Spanned<RawMacro>>,
    #[serde(default)]
    pub prepared: Vec<Spanned<RawPrepared>>,
    #[serde(default)]
    pub diagnostics: RawDiagnostics,
    #[serde(default, rename = "store")]
    pub stores: Vec<Spanned<RawStore>>,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub distributed: RawDistributed,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDistributed {
    #[serde(default)]
    pub workers: Vec<Spanned<String>>,
    pub connect_timeout: Option<Spanned<String>>,
    pub keepalive_timeout: Option<Spanned<String>>,
    pub bytes_per_partition: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub max_connections: Option<Spanned<i64>>,
    pub statement_timeout: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<String>>,
    pub shutdown_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub url: Spanned<String>,
    #[serde(default)]
    pub options: SpannedMap,
    #[serde(default)]
    pub secrets: BTreeMap<Spanned<String>, Spanned<RawSecret>>,
}

/// Where a secret's value comes from: only the environment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecret {
    pub env: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDiagnostics {
    pub on_write_error: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFunctions {
    #[serde(default)]
    pub overrides: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMacro {
    pub name: Spanned<String>,
    #[serde(default)]
    pub args: Vec<Spanned<RawArg>>,
    pub returns: Spanned<String>,
    pub body: Spanned<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawArg {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub data_type: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrepared {
    pub name: Spanned<String>,
    pub sql: Spanned<String>,
    #[serde(default)]
    pub params: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProjectInfo {
    pub name: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProfile {
    pub target_partitions: Option<usize>,
    pub batch_size: Option<Spanned<usize>>,
    pub memory_limit: Option<Spanned<String>>,
    pub memory_pool: Option<crate::profile::MemoryPoolKind>,
    pub spill_dir: Option<Spanned<String>>,
    pub max_temp_directory_size: Option<Spanned<String>>,
    #[serde(default)]
    pub cache: RawCache,
    #[serde(default)]
    pub parquet: SpannedMap,
    #[serde(default)]
    pub settings: SpannedMap,
    /// The top-level `[diagnostics]` section, moved here after parsing: it is validated
    /// with the profile and its spec lives there (see `ProfileSpec::diagnostics`).
    #[serde(skip)]
    pub diagnostics: RawDiagnostics,
    /// The top-level `[[store]]` declarations, moved here after parsing like `diagnostics`.
    #[serde(skip)]
    pub stores: Vec<Spanned<RawStore>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    pub metadata: Option<Spanned<String>>,
    pub list_files: Option<Spanned<String>>,
    pub list_files_ttl: Option<Spanned<String>>,
    pub statistics: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub dialect: Option<Spanned<String>>,
    pub allow_ddl: Option<bool>,
    pub allow_dml: Option<bool>,
    pub allow_statements: Option<bool>,
    pub identifiers: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDataset {
    pub name: Spanned<String>,
    pub format: Spanned<String>,
    pub location: Option<Spanned<String>>,
    #[serde(default)]
    pub partitioned_by: Vec<Spanned<String>>,
    #[serde(default)]
    pub ordered_by: Vec<Spanned<String>>,
    #[serde(default)]
    pub options: SpannedMap,
    #[serde(default)]
    pub columns: Vec<Spanned<RawColumn>>,
    pub evolution: Option<Spanned<RawEvolution>>,
    #[serde(default)]
    pub constraints: Vec<Spanned<String>>,
    #[serde(default)]
    pub primary_key: Vec<Spanned<String>>,
    #[serde(default)]
    pub unique: Vec<Spanned<Vec<Spanned<String>>>>,
    pub delta: Option<Spanned<RawDelta>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDelta {
    pub file_column: Option<Spanned<String>>,
    pub parquet_pushdown: Option<bool>,
    pub view_types: Option<bool>,
    pub wrap_partition_values: Option<bool>,
    pub version: Option<Spanned<i64>>,
    pub timestamp: Option<Spanned<String>>,
    pub change_data_feed: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvolution {
    pub missing: Option<crate::evolution::MissingPolicy>,
    #[serde(default)]
    pub defaults: SpannedMap,
    #[serde(default)]
    pub renames: BTreeMap<Spanned<String>, Spanned<String>>,
    pub widen: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawColumn {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub data_type: Spanned<String>,
    pub nullable: Option<Spanned<bool>>,
}
