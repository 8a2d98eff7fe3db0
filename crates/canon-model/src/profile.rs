//! The runtime profile as declared: every SessionConfig and RuntimeEnv knob Canon sets,
//! in canonical form, with a fingerprint that is the same on every machine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::policy::SqlPolicy;
use crate::store::StoreSpec;
use crate::util::hex;

/// DataFusion's default parquet metadata cache size (`DEFAULT_METADATA_CACHE_LIMIT`); the
/// runtime's tests check that these three still equal DataFusion's.
pub const DEFAULT_METADATA_CACHE_LIMIT: u64 = 50 * 1024 * 1024;
/// DataFusion's default list-files cache size (`DEFAULT_LIST_FILES_CACHE_MEMORY_LIMIT`).
pub const DEFAULT_LIST_FILES_CACHE_MEMORY_LIMIT: u64 = 1024 * 1024;
/// DataFusion's default limit on the spill files' total size
/// (`DEFAULT_MAX_TEMP_DIRECTORY_SIZE`).
pub const DEFAULT_MAX_TEMP_DIRECTORY_SIZE: u64 = 100 * 1024 * 1024 * 1024;
/// DataFusion's default file statistics cache size (`DEFAULT_FILE_STATISTICS_MEMORY_LIMIT`).
pub const DEFAULT_FILE_STATISTICS_MEMORY_LIMIT: u64 = 20 * 1024 * 1024;

/// How query operators share the memory limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemoryPoolKind {
    /// Spilling operators get equal shares (DataFusion's `FairSpillPool`).
    #[default]
    Fair,
    /// First come, first served (DataFusion's `GreedyMemoryPool`).
    Greedy,
}

impl MemoryPoolKind {
    /// The name used in `canon.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fair => "fair",
            Self::Greedy => "greedy",
        }
    }
}

/// How the joins of a query are ordered, and whether aggregates may start below them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JoinOrderKind {
    /// By estimated cost, from the files' statistics and the declared keys; an aggregate
    /// is computed in part below its join where the estimates say that pays.
    #[default]
    Cost,
    /// As the query writes them (DataFusion's own behaviour: each join's sides may swap),
    /// each aggregate above its joins.
    Written,
}

impl JoinOrderKind {
    /// The name used in `canon.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cost => "cost",
            Self::Written => "written",
        }
    }
}

/// Sizes and lifetimes of DataFusion's caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    /// Parquet metadata (footer and page index) cache, in bytes.
    pub metadata: u64,
    /// List-files cache, in bytes; 0 disables it.
    pub list_files: u64,
    /// How long a listing stays valid; `None` keeps it until evicted.
    pub list_files_ttl: Option<Duration>,
    /// Whether file statistics are cached.
    pub statistics: bool,
}

impl Default for CacheSpec {
    fn default() -> Self {
        Self {
            metadata: DEFAULT_METADATA_CACHE_LIMIT,
            list_files: DEFAULT_LIST_FILES_CACHE_MEMORY_LIMIT,
            // New files become visible within a minute in long-lived sessions.
            list_files_ttl: Some(Duration::from_secs(60)),
            statistics: true,
        }
    }
}

/// What Canon does when an event cannot be appended to the diagnostics log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, schemars::JsonSchema)]
#[schemars(rename_all = "lowercase")]
pub enum OnWriteError {
    /// The statement whose event cannot be written fails, naming the log file, and so does
    /// every later one: the log is an audit trail, and nothing runs without its record.
    #[default]
    Fail,
    /// A warning is logged once; events stay in memory only and statements go on.
    Warn,
}

impl OnWriteError {
    /// The name used in `canon.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Warn => "warn",
        }
    }

    /// The rule named `name` in `canon.toml`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "fail" => Some(Self::Fail),
            "warn" => Some(Self::Warn),
            _ => None,
        }
    }
}

/// The `[diagnostics]` section, validated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiagnosticsSpec {
    /// What happens when the diagnostics log cannot be written.
    pub on_write_error: OnWriteError,
}

/// The `[profile]` section, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSpec {
    /// Partitions per query; 0 means one per core and one more.
    pub target_partitions: usize,
    /// Rows per batch.
    pub batch_size: usize,
    /// Memory limit in bytes for query operators; `None` is unbounded.
    pub memory_limit: Option<u64>,
    /// Memory pool policy, used when a limit is set.
    pub memory_pool: MemoryPoolKind,
    /// How joins are ordered.
    pub join_order: JoinOrderKind,
    /// Spill directory, as declared and resolved; `None` uses the system temp dir.
    pub spill_dir: Option<(String, PathBuf)>,
    /// The most spill files may hold on disk at once, in bytes; a query that would spill
    /// more fails.
    pub max_temp_directory_size: u64,
    /// Cache sizes.
    pub cache: CacheSpec,
    /// Session-wide parquet defaults, as full `datafusion.execution.parquet.*` keys.
    pub parquet: BTreeMap<String, String>,
    /// Any other DataFusion setting, by full key.
    pub settings: BTreeMap<String, String>,
    /// The `[diagnostics]` section. It is declared at the top level of the file but is a
    /// runtime knob like the others here, and is fingerprinted with them.
    pub diagnostics: DiagnosticsSpec,
    /// The `[[store]]` declarations, top-level in the file like `[diagnostics]`: where
    /// data is read from is part of the runtime, and its non-secret options are
    /// fingerprinted.
    pub stores: Vec<StoreSpec>,
}

impl Default for ProfileSpec {
    fn default() -> Self {
        Self {
            target_partitions: 0,
            batch_size: 8192,
            memory_limit: None,
            memory_pool: MemoryPoolKind::Fair,
            join_order: JoinOrderKind::Cost,
            spill_dir: None,
            max_temp_directory_size: DEFAULT_MAX_TEMP_DIRECTORY_SIZE,
            cache: CacheSpec::default(),
            parquet: BTreeMap::new(),
            settings: BTreeMap::new(),
            diagnostics: DiagnosticsSpec::default(),
            stores: Vec::new(),
        }
    }
}

/// Which part of the project owns a DataFusion key that `[profile.settings]` may not set.
pub fn owner_of_setting(key: &str) -> Option<&'static str> {
    match key {
        "datafusion.execution.target_partitions" => Some("[profile] target_partitions"),
        "datafusion.execution.batch_size" => Some("[profile] batch_size"),
        "datafusion.sql_parser.dialect" => Some("[policy] dialect"),
        "datafusion.sql_parser.enable_ident_normalization" => Some("[policy] identifiers"),
        "datafusion.catalog.create_default_catalog_and_schema" => Some("session factory"),
        k if k.starts_with("datafusion.execution.parquet.") => Some("[profile.parquet] table"),
        k if k.starts_with("datafusion.runtime.") => Some(
            "[profile] memory_limit, memory_pool, spill_dir, max_temp_directory_size and \
                 [profile.cache]",
        ),
        _ => None,
    }
}

/// The declared profile and policy as sorted `key = value` pairs, machine-independent:
/// `target_partitions = 0` stays 0 rather than the core count, paths stay as declared.
pub fn canonical_settings(spec: &ProfileSpec, policy: &SqlPolicy) -> BTreeMap<String, String> {
    let mut s = BTreeMap::new();
    let mut put = |k: &str, v: String| s.insert(k.to_string(), v);
    put(
        "canon.target_partitions",
        spec.target_partitions.to_string(),
    );
    put("canon.batch_size", spec.batch_size.to_string());
    put(
        "canon.memory_limit",
        spec.memory_limit
            .map_or("unbounded".into(), |b| b.to_string()),
    );
    put("canon.memory_pool", spec.memory_pool.name().into());
    put("canon.join_order", spec.join_order.name().into());
    put(
        "canon.spill_dir",
        spec.spill_dir
            .as_ref()
            .map_or("system temp".into(), |(d, _)| d.clone()),
    );
    put(
        "canon.max_temp_directory_size",
        spec.max_temp_directory_size.to_string(),
    );
    put("canon.cache.metadata", spec.cache.metadata.to_string());
    put("canon.cache.list_files", spec.cache.list_files.to_string());
    put(
        "canon.cache.list_files_ttl",
        spec.cache
            .list_files_ttl
            .map_or("none".into(), |d| humantime::format_duration(d).to_string()),
    );
    put("canon.cache.statistics", spec.cache.statistics.to_string());
    // Fingerprinted because it decides what may run, like the policy's `allow_*` keys: under
    // "warn" a statement can run without its record in the audit log, under "fail" it
    // cannot. Two runs that differ here are not governed alike, though their results agree.
    put(
        "canon.diagnostics.on_write_error",
        spec.diagnostics.on_write_error.name().into(),
    );
    put("canon.policy.dialect", policy.dialect.clone());
    put("canon.policy.identifiers", policy.identifiers.name().into());
    put("canon.policy.allow_ddl", policy.allow_ddl.to_string());
    put("canon.policy.allow_dml", policy.allow_dml.to_string());
    put(
        "canon.policy.allow_statements",
        policy.allow_statements.to_string(),
    );
    for (k, v) in spec.parquet.iter().chain(&spec.settings) {
        put(k, v.clone());
    }
    // Only declared stores add keys, so that projects without any keep their fingerprint.
    // Secrets are left out; which variable holds one does not change what is read.
    for store in &spec.stores {
        put(
            &format!("canon.store.{}.kind", store.url),
            store.kind.name().into(),
        );
        for (k, v) in &store.options {
            put(&format!("canon.store.{}.{k}", store.url), v.clone());
        }
    }
    s
}

/// Hex SHA-256 over canonical settings: same file, same fingerprint, on any machine.
pub fn fingerprint(settings: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"canon-profile-v1\n");
    for (k, v) in settings {
        hasher.update(k.as_bytes());
        hasher.update(b"=");
        hasher.update(v.as_bytes());
        hasher.update(b"\n");
    }
    hex(&hasher.finalize())
}
