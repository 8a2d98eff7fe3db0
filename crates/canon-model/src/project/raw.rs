//! The serde model of `canon.toml`, exactly as written; `validate` turns it into specs.
//!
//! Every scalar that is checked after parsing is `Spanned`, so that a problem can name
//! the line and column it comes from.
//!
//! The same structs derive the file's JSON Schema (`crate::schema`): their doc comments are
//! the help editors show, so they speak to the person writing the file. `Spanned` has no
//! schema of its own, so each spanned field says what it holds with `schemars(with = …)`,
//! and values checked after parsing carry the schema of what validation accepts.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::schema::{
    ByteSize, DataFusionSettings, DialectName, Duration, LOWER_NAME, NON_BLANK, PLAIN_IDENTIFIER,
    ParquetSettings, Scalar, StoreOptionValue, StoreUrl, Timestamp, WorkerUrl,
};

pub(crate) type SpannedMap = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

/// A Canon project: its datasets' contracts, the runtime profile, the SQL policy and what
/// sessions share (functions, prepared statements, object stores, serving limits, workers).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProject {
    /// The project itself.
    pub project: RawProjectInfo,
    /// Session and runtime settings: partitions, batches, memory, spilling, caches and any
    /// other DataFusion setting.
    #[serde(default)]
    pub profile: RawProfile,
    /// What SQL may run, and how it is read.
    #[serde(default)]
    pub policy: RawPolicy,
    /// Dataset contracts (`[[dataset]]`): a table of files or a Delta table, with every column
    /// and its type.
    #[serde(default, rename = "dataset")]
    #[schemars(with = "Vec<RawDataset>")]
    pub datasets: Vec<Spanned<RawDataset>>,
    /// Models (`[[model]]`): datasets whose rows come from one SQL query over datasets and
    /// other models, built by `canon build` under their own contract.
    #[serde(default, rename = "model")]
    #[schemars(with = "Vec<RawModel>")]
    pub models: Vec<Spanned<RawModel>>,
    /// Builtin functions that the project's macros and Canon's functions may replace.
    #[serde(default)]
    pub functions: RawFunctions,
    /// SQL macros (`[[function]]`): a name, typed arguments and one SQL expression.
    #[serde(default, rename = "function")]
    #[schemars(with = "Vec<RawMacro>")]
    pub macros: Vec<Spanned<RawMacro>>,
    /// Prepared statements every session can execute (`[[prepared]]`).
    #[serde(default)]
    #[schemars(with = "Vec<RawPrepared>")]
    pub prepared: Vec<Spanned<RawPrepared>>,
    /// What Canon does when its diagnostics log cannot be written.
    #[serde(default)]
    pub diagnostics: RawDiagnostics,
    /// Object stores (`[[store]]`): options of one bucket, container or host.
    #[serde(default, rename = "store")]
    #[schemars(with = "Vec<RawStore>")]
    pub stores: Vec<Spanned<RawStore>>,
    /// The limits `canon serve` keeps.
    #[serde(default)]
    pub server: RawServer,
    /// Where OpenLineage events about Canon's runs go.
    #[serde(default)]
    pub lineage: RawLineage,
    /// The workers distributed plans run on.
    #[serde(default)]
    pub distributed: RawDistributed,
}

/// The workers distributed plans run on; without workers, every plan runs in-process.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Distributed")]
pub(crate) struct RawDistributed {
    /// Worker addresses, `http://host:port`, each once; `CANON_WORKERS` overrides them.
    #[serde(default)]
    #[schemars(with = "Vec<WorkerUrl>", extend("uniqueItems" = true))]
    pub workers: Vec<Spanned<String>>,
    /// How long connecting to a worker may take before the query fails (at least 1s).
    #[schemars(with = "Option<Duration>")]
    pub connect_timeout: Option<Spanned<String>>,
    /// How long a worker may stay silent mid-query before the query fails (at least 1s).
    #[schemars(with = "Option<Duration>")]
    pub keepalive_timeout: Option<Spanned<String>>,
    /// File bytes per partition: larger scans spread over more workers (more than 0).
    #[schemars(with = "Option<ByteSize>")]
    pub bytes_per_partition: Option<Spanned<String>>,
}

/// The limits `canon serve` keeps; its command-line flags override them.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Server")]
pub(crate) struct RawServer {
    /// Connections served at once; further ones are refused, with the reason.
    #[schemars(with = "Option<u32>", range(min = 1, max = u32::MAX))]
    pub max_connections: Option<Spanned<i64>>,
    /// How long one statement may run, planning and streaming included ("0s": no limit).
    #[schemars(with = "Option<Duration>")]
    pub statement_timeout: Option<Spanned<String>>,
    /// How long a connection with nothing in flight stays open ("0s": no limit).
    #[schemars(with = "Option<Duration>")]
    pub idle_timeout: Option<Spanned<String>>,
    /// How long shutting down waits for statements in flight.
    #[schemars(with = "Option<Duration>")]
    pub shutdown_timeout: Option<Spanned<String>>,
}

/// Where OpenLineage events about Canon's runs go: `openlineage = { url = "…" }` or
/// `{ file = "…" }`, with the jobs' `namespace`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Lineage")]
pub(crate) struct RawLineage {
    /// The namespace of Canon's jobs in the events (the project's name by default).
    #[schemars(with = "Option<String>", pattern(NON_BLANK))]
    pub namespace: Option<Spanned<String>>,
    /// Where OpenLineage events go.
    #[schemars(with = "Option<RawOpenLineage>")]
    pub openlineage: Option<Spanned<RawOpenLineage>>,
}

/// An OpenLineage destination: an HTTP endpoint (`url`, with `timeout`, `retries` and
/// `queue`) or a JSON-lines `file`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "OpenLineage")]
pub(crate) struct RawOpenLineage {
    /// The endpoint events are POSTed to, such as `http://marquez:5000/api/v1/lineage`.
    #[schemars(with = "Option<String>", url)]
    pub url: Option<Spanned<String>>,
    /// A file events are appended to, one per line, relative to the project file.
    #[schemars(with = "Option<String>", pattern(NON_BLANK))]
    pub file: Option<Spanned<String>>,
    /// How long one POST may take (default "5s", at most "10m").
    #[schemars(with = "Option<Duration>")]
    pub timeout: Option<Spanned<String>>,
    /// How many times a failed POST is tried again (default 2).
    #[schemars(with = "Option<u32>", range(min = 0, max = 10))]
    pub retries: Option<Spanned<i64>>,
    /// How many events may wait to be sent; later ones are dropped and counted (default
    /// 10000, at most 1000000).
    #[schemars(with = "Option<u64>", range(min = 1, max = 1_000_000))]
    pub queue: Option<Spanned<i64>>,
}

/// An object store: the options of one bucket, container or host that datasets' locations
/// name.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Store")]
pub(crate) struct RawStore {
    /// The bucket, container or host, without a path: `s3://bucket`, `az://container`,
    /// `gs://bucket`, `https://host`.
    #[schemars(with = "StoreUrl")]
    pub url: Spanned<String>,
    /// object_store's configuration keys for this kind of store (`region`, `endpoint`, …);
    /// never credentials, which go in `secrets`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, StoreOptionValue>")]
    pub options: SpannedMap,
    /// Credentials, each read from an environment variable: `{ access_key_id = { env =
    /// "KEY" } }`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawSecret>")]
    pub secrets: BTreeMap<Spanned<String>, Spanned<RawSecret>>,
}

/// Where a secret's value comes from: only the environment.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Secret")]
pub(crate) struct RawSecret {
    /// The environment variable that holds the secret.
    #[schemars(with = "String", pattern(NON_BLANK))]
    pub env: Spanned<String>,
}

/// What Canon does when its diagnostics log (`--diagnostics`) cannot be written.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Diagnostics")]
pub(crate) struct RawDiagnostics {
    /// `fail` (the default): statements fail while their events cannot be recorded;
    /// `warn`: a warning, and statements go on.
    #[schemars(with = "Option<crate::profile::OnWriteError>")]
    pub on_write_error: Option<Spanned<String>>,
}

/// Builtin functions that Canon's functions and the project's macros may replace.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Functions")]
pub(crate) struct RawFunctions {
    /// Names a Canon function or macro may take from a builtin, each once.
    #[serde(default)]
    #[schemars(
        with = "Vec<String>",
        inner(pattern(LOWER_NAME)),
        extend("uniqueItems" = true)
    )]
    pub overrides: Vec<Spanned<String>>,
}

/// An SQL macro: `name(args) RETURNS returns` that expands to `body`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Function")]
pub(crate) struct RawMacro {
    /// The macro's name: a lowercase SQL name, declared once.
    #[schemars(with = "String", pattern(LOWER_NAME))]
    pub name: Spanned<String>,
    /// The arguments, in order.
    #[serde(default)]
    #[schemars(with = "Vec<RawArg>")]
    pub args: Vec<Spanned<RawArg>>,
    /// The SQL type of the result, such as `DOUBLE`.
    #[schemars(with = "String", pattern(NON_BLANK))]
    pub returns: Spanned<String>,
    /// One SQL expression over the arguments.
    #[schemars(with = "String", pattern(NON_BLANK))]
    pub body: Spanned<String>,
    /// What the macro does, shown in `canon functions`.
    pub description: Option<String>,
}

/// An argument of an SQL macro.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "FunctionArg")]
pub(crate) struct RawArg {
    /// The argument's name: a lowercase SQL name, once per macro.
    #[schemars(with = "String", pattern(LOWER_NAME))]
    pub name: Spanned<String>,
    /// The argument's SQL type, such as `DOUBLE` or `VARCHAR`.
    #[serde(rename = "type")]
    #[schemars(with = "String", pattern(NON_BLANK))]
    pub data_type: Spanned<String>,
}

/// A statement every session can execute by name, with `$1`, `$2`, … parameters.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Prepared")]
pub(crate) struct RawPrepared {
    /// The statement's name: a lowercase SQL name, declared once, not one of Canon's own.
    #[schemars(
        with = "String",
        pattern(LOWER_NAME),
        extend("not" = { "enum": crate::declarations::SYSTEM_STATEMENTS })
    )]
    pub name: Spanned<String>,
    /// One SQL statement the policy allows.
    #[schemars(with = "String", pattern(NON_BLANK))]
    pub sql: Spanned<String>,
    /// The parameters' SQL types, in order; inferred from the statement when omitted.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub params: Vec<Spanned<String>>,
}

/// The project itself.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ProjectInfo")]
pub(crate) struct RawProjectInfo {
    /// The project's name.
    #[schemars(with = "String", pattern(NON_BLANK))]
    pub name: Spanned<String>,
}

/// Session and runtime settings: every knob Canon sets on DataFusion.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Profile")]
pub(crate) struct RawProfile {
    /// Partitions a plan runs in; 0 (the default) is one per core, plus one.
    pub target_partitions: Option<usize>,
    /// Rows per batch (default 8192).
    #[schemars(with = "Option<usize>", range(min = 1))]
    pub batch_size: Option<Spanned<usize>>,
    /// The most memory queries may hold before spilling or failing; unbounded when unset.
    #[schemars(with = "Option<ByteSize>")]
    pub memory_limit: Option<Spanned<String>>,
    /// How operators share `memory_limit`.
    pub memory_pool: Option<crate::profile::MemoryPoolKind>,
    /// How a query's inner joins are ordered: "cost" (the default) by estimates from the
    /// files' statistics and the declared keys, "written" as the query writes them.
    pub join_order: Option<crate::profile::JoinOrderKind>,
    /// Where spill files go, relative to canon.toml; the system's temporary directory when
    /// unset.
    #[schemars(with = "Option<String>")]
    pub spill_dir: Option<Spanned<String>>,
    /// The most the spill files may hold at once (default 100GiB).
    #[schemars(with = "Option<ByteSize>")]
    pub max_temp_directory_size: Option<Spanned<String>>,
    /// Sizes and lifetimes of DataFusion's caches.
    #[serde(default)]
    pub cache: RawCache,
    /// Session-wide parquet defaults: DataFusion's `datafusion.execution.parquet.*` settings,
    /// without the prefix.
    #[serde(default)]
    #[schemars(with = "ParquetSettings")]
    pub parquet: SpannedMap,
    /// Any other DataFusion setting, by its full key; DataFusion checks the values.
    #[serde(default)]
    #[schemars(with = "DataFusionSettings")]
    pub settings: SpannedMap,
    /// The top-level `[diagnostics]` section, moved here after parsing: it is validated
    /// with the profile and its spec lives there (see `ProfileSpec::diagnostics`).
    #[serde(skip)]
    pub diagnostics: RawDiagnostics,
    /// The top-level `[[store]]` declarations, moved here after parsing like `diagnostics`.
    #[serde(skip)]
    pub stores: Vec<Spanned<RawStore>>,
}

/// Sizes and lifetimes of DataFusion's caches.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cache")]
pub(crate) struct RawCache {
    /// Parquet metadata (footer and page index) cache (default 50MiB).
    #[schemars(with = "Option<ByteSize>")]
    pub metadata: Option<Spanned<String>>,
    /// List-files cache; "0" disables it (default 1MiB).
    #[schemars(with = "Option<ByteSize>")]
    pub list_files: Option<Spanned<String>>,
    /// How long a directory listing stays valid (default 60s), so that new files show up in
    /// long-lived sessions.
    #[schemars(with = "Option<Duration>")]
    pub list_files_ttl: Option<Spanned<String>>,
    /// Whether file statistics are cached (default true).
    pub statistics: Option<bool>,
}

/// What SQL may run, and how it is read; by default, read-only queries in the generic
/// dialect.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Policy")]
pub(crate) struct RawPolicy {
    /// The SQL dialect DataFusion's parser reads (default generic).
    #[schemars(with = "Option<DialectName>")]
    pub dialect: Option<Spanned<String>>,
    /// Whether DDL may run: CREATE, DROP, ALTER (default false).
    pub allow_ddl: Option<bool>,
    /// Whether DML may run: INSERT, UPDATE, DELETE, COPY (default false).
    pub allow_dml: Option<bool>,
    /// Whether other statements may run: SET, RESET, transactions, … (default false).
    pub allow_statements: Option<bool>,
    /// How unquoted identifiers are read.
    #[schemars(with = "Option<crate::dialect::IdentifierCase>")]
    pub identifiers: Option<Spanned<String>>,
}

/// A dataset contract: where the data is, its format, and every column with its type.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Dataset", transform = crate::schema::dataset_rules)]
pub(crate) struct RawDataset {
    /// The table name queries use, declared once.
    #[schemars(with = "String", pattern(NON_BLANK))]
    pub name: Spanned<String>,
    /// How the data is stored.
    #[schemars(with = "crate::contract::Format")]
    pub format: Spanned<String>,
    /// A path relative to canon.toml, a `file://` URL, or an object store URL (`s3://`,
    /// `az://`, `abfss://`, `gs://`, `http(s)://`); a Delta table's root.
    #[schemars(with = "String")]
    pub location: Option<Spanned<String>>,
    /// Partition columns (Hive-style `key=value` directories), plain identifiers; for files,
    /// the last columns, in this order, and never nullable.
    #[serde(default)]
    #[schemars(with = "Vec<String>", inner(pattern(PLAIN_IDENTIFIER)))]
    pub partitioned_by: Vec<Spanned<String>>,
    /// The order rows are sorted in within each file: `column [ASC|DESC] [NULLS FIRST|LAST]`.
    #[serde(default)]
    #[schemars(with = "Vec<String>", inner(pattern(NON_BLANK)))]
    pub ordered_by: Vec<Spanned<String>>,
    /// Format options, DataFusion's `format.*` table options (the `format.` prefix is
    /// optional), such as `has_header` or `delimiter` for CSV.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Scalar>")]
    pub options: SpannedMap,
    /// Every column, in order: `{ name = "id", type = "Int64", nullable = false }`.
    #[serde(default)]
    #[schemars(with = "Vec<RawColumn>", length(min = 1))]
    pub columns: Vec<Spanned<RawColumn>>,
    /// How files written under older schemas are read (files only, not Delta tables).
    #[schemars(with = "Option<RawEvolution>")]
    pub evolution: Option<Spanned<RawEvolution>>,
    /// SQL boolean expressions every row satisfies; NULL counts as passing.
    #[serde(default)]
    #[schemars(with = "Vec<String>", inner(pattern(NON_BLANK)))]
    pub constraints: Vec<Spanned<String>>,
    /// The primary key's columns: unique and never NULL (declare them `nullable = false`).
    #[serde(default)]
    #[schemars(with = "Vec<String>", extend("uniqueItems" = true))]
    pub primary_key: Vec<Spanned<String>>,
    /// Sets of columns that are unique where none of them is NULL.
    #[serde(default)]
    #[schemars(with = "Vec<Vec<String>>", inner(length(min = 1)))]
    pub unique: Vec<Spanned<Vec<Spanned<String>>>>,
    /// How a Delta table is read (`format = "delta"` only).
    #[schemars(with = "Option<RawDelta>")]
    pub delta: Option<Spanned<RawDelta>>,
}

/// A model: one SQL query, what kind of dataset it makes, and the contract its rows keep.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Model", transform = crate::schema::model_rules)]
pub(crate) struct RawModel {
    /// The name readers query the model by: unique among datasets and models.
    #[schemars(with = "String", pattern(NON_BLANK))]
    pub name: Spanned<String>,
    /// `table` (the default): rebuilt whole at each build, replaced in one Delta commit;
    /// `append`: each build appends the new rows (see `incremental`); `merge`: each build
    /// merges the changed rows by primary key; `view`: the query runs whenever the model is
    /// read, and nothing is stored.
    #[schemars(with = "Option<crate::model::ModelKind>")]
    pub kind: Option<Spanned<String>>,
    /// The query, one SELECT over datasets and other models, named as queries name them.
    #[schemars(with = "Option<String>", pattern(NON_BLANK))]
    pub sql: Option<Spanned<String>>,
    /// A file holding the query, relative to canon.toml (instead of `sql`).
    #[schemars(with = "Option<String>", pattern(NON_BLANK))]
    pub sql_file: Option<Spanned<String>>,
    /// What the model is for.
    pub description: Option<String>,
    /// How an `append` or `merge` model finds its new rows: `{ column = "event_time",
    /// lookback = "2h" }`.
    #[schemars(with = "Option<RawIncremental>")]
    pub incremental: Option<Spanned<RawIncremental>>,
    /// How a stored model is kept: `delta` (the default and, for now, the only one).
    #[schemars(with = "Option<String>", extend("enum" = ["delta"]))]
    pub format: Option<Spanned<String>>,
    /// Where a stored model's table lives: a path relative to canon.toml or an object store
    /// URL. Views have none.
    #[schemars(with = "Option<String>")]
    pub location: Option<Spanned<String>>,
    /// Partition columns of the stored table.
    #[serde(default)]
    #[schemars(with = "Vec<String>", inner(pattern(PLAIN_IDENTIFIER)))]
    pub partitioned_by: Vec<Spanned<String>>,
    /// Every output column, in the query's order: `{ name = "id", type = "Int64",
    /// nullable = false }`. `canon compile` checks the query yields exactly these.
    #[serde(default)]
    #[schemars(with = "Vec<RawColumn>", length(min = 1))]
    pub columns: Vec<Spanned<RawColumn>>,
    /// SQL boolean expressions every built row satisfies; NULL counts as passing.
    #[serde(default)]
    #[schemars(with = "Vec<String>", inner(pattern(NON_BLANK)))]
    pub constraints: Vec<Spanned<String>>,
    /// The primary key's columns: unique and never NULL.
    #[serde(default)]
    #[schemars(with = "Vec<String>", extend("uniqueItems" = true))]
    pub primary_key: Vec<Spanned<String>>,
    /// Sets of columns that are unique where none of them is NULL.
    #[serde(default)]
    #[schemars(with = "Vec<Vec<String>>", inner(length(min = 1)))]
    pub unique: Vec<Spanned<Vec<Spanned<String>>>>,
    /// How the stored Delta table is read and created.
    #[schemars(with = "Option<RawDelta>")]
    pub delta: Option<Spanned<RawDelta>>,
}

/// How an incremental model finds its new rows.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Incremental", transform = crate::schema::incremental_rules)]
pub(crate) struct RawIncremental {
    /// An output column whose values only grow (a timestamp, a date or an integer): each
    /// build reads the rows past the largest value the table holds.
    #[schemars(with = "Option<String>", pattern(NON_BLANK))]
    pub column: Option<Spanned<String>>,
    /// `true` (merge models): each build applies what the model's one Delta upstream
    /// inserted, updated and deleted since the last build, read from its Change Data Feed.
    #[schemars(with = "Option<bool>")]
    pub changes: Option<Spanned<bool>>,
    /// How far before that value each build reads again, for rows that arrive late
    /// (timestamp and date columns; default "0s"). Rows already in the table are not
    /// written twice.
    #[schemars(with = "Option<Duration>")]
    pub lookback: Option<Spanned<String>>,
}

/// How a Delta table is read; every key is optional.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Delta", extend("not" = { "required": ["version", "timestamp"] }))]
pub(crate) struct RawDelta {
    /// An extra column with each row's source file (default: none); not a contract column.
    #[schemars(with = "Option<String>")]
    pub file_column: Option<Spanned<String>>,
    /// Push filters into the parquet scan, not only file pruning (default true).
    pub parquet_pushdown: Option<bool>,
    /// Read strings as Utf8View (default false).
    pub view_types: Option<bool>,
    /// Read string partition values dictionary-encoded (default true).
    pub wrap_partition_values: Option<bool>,
    /// Time travel: read this table version; the latest, re-checked at every scan, when
    /// neither `version` nor `timestamp` is set.
    #[schemars(with = "Option<u64>")]
    pub version: Option<Spanned<i64>>,
    /// Time travel: read the table as of this RFC 3339 time, e.g. "2026-01-01T00:00:00Z".
    #[schemars(with = "Option<Timestamp>")]
    pub timestamp: Option<Spanned<String>>,
    /// Create the table with the Change Data Feed on (default false).
    pub change_data_feed: Option<bool>,
}

/// How files written under older schemas are read.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Evolution")]
pub(crate) struct RawEvolution {
    /// What happens when a file lacks a contract column (default null).
    pub missing: Option<crate::evolution::MissingPolicy>,
    /// Per column, the SQL literal used when `missing = "default"`: `{ tip = "0.0" }`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Scalar>")]
    pub defaults: SpannedMap,
    /// Old physical column name → contract column name.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub renames: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Allow safe widening casts: Int32 to Int64, Float32 to Float64, Utf8 to LargeUtf8,
    /// coarser to finer timestamps, decimals that keep every value (default false).
    pub widen: Option<bool>,
}

/// A column of a contract.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Column")]
pub(crate) struct RawColumn {
    /// The column's name, once per dataset.
    #[schemars(with = "String", length(min = 1))]
    pub name: Spanned<String>,
    /// An Arrow type name: Int64, Utf8, Float64, Date32, Decimal128(12, 2),
    /// Timestamp(Microsecond, Some("UTC")), …
    #[serde(rename = "type")]
    #[schemars(with = "String", pattern(NON_BLANK))]
    pub data_type: Spanned<String>,
    /// Whether the column may hold NULLs (default true, except file partition columns).
    #[schemars(with = "Option<bool>")]
    pub nullable: Option<Spanned<bool>>,
    /// Labels of what the column holds, such as "pii": every model column computed from it
    /// must carry them too, so no one sheds them by renaming a column.
    #[serde(default)]
    #[schemars(
        with = "Vec<String>",
        inner(pattern(PLAIN_IDENTIFIER)),
        extend("uniqueItems" = true)
    )]
    pub tags: Vec<Spanned<String>>,
}
