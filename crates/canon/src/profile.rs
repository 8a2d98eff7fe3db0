//! The built runtime profile: the session configuration and runtime environment made
//! once from the project's `[profile]` and shared by every session.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::{
    CacheManagerConfig, DEFAULT_FILE_STATISTICS_MEMORY_LIMIT,
};
use datafusion::execution::memory_pool::{
    FairSpillPool, GreedyMemoryPool, MemoryPool, TrackConsumersPool,
};
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;

use crate::error::CanonError;
use crate::policy::SqlPolicy;
use crate::project::Project;
use crate::sql::IdentifierCase;
use crate::stores::Stores;

pub use canon_model::profile::{
    CacheSpec, DiagnosticsSpec, JoinOrderKind, MemoryPoolKind, OnWriteError, ProfileSpec,
    canonical_settings, fingerprint, owner_of_setting,
};

/// The built profile: session configuration and runtime environment, made once and shared
/// by every session.
#[derive(Debug, Clone)]
pub struct RuntimeProfile {
    settings: BTreeMap<String, String>,
    fingerprint: String,
    config: SessionConfig,
    runtime_env: Arc<RuntimeEnv>,
    stores: Arc<Stores>,
}

impl RuntimeProfile {
    /// Builds the session configuration and runtime environment for a project's profile
    /// and policy, reading and writing through its stores.
    pub fn build(project: &Project) -> Result<Self, DataFusionError> {
        let (spec, policy) = (&project.profile, &project.policy);
        let settings = canonical_settings(spec, policy);
        let fingerprint = fingerprint(&settings);
        let config = session_config(spec, policy)?;
        let stores =
            Stores::for_project(project).map_err(|e| CanonError::from(e).into_datafusion())?;
        let stores = Arc::new(stores);
        let runtime_env = runtime_env(spec, &stores)?;
        Ok(Self {
            settings,
            fingerprint,
            config,
            runtime_env,
            stores,
        })
    }

    /// Every setting Canon decided, by canonical key, as fingerprinted.
    pub fn settings(&self) -> &BTreeMap<String, String> {
        &self.settings
    }

    /// Hex SHA-256 of the canonical settings: same file, same fingerprint, on any machine.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The session configuration every session starts from.
    pub fn session_config(&self) -> &SessionConfig {
        &self.config
    }

    /// The shared runtime: memory pool, disk manager, caches, object stores.
    pub fn runtime_env(&self) -> &Arc<RuntimeEnv> {
        &self.runtime_env
    }

    /// The runtime's object stores, which its runtime environment reads and writes through.
    pub fn stores(&self) -> &Arc<Stores> {
        &self.stores
    }
}

/// The partitions a profile plans with: as declared, or for `0` one per core and one more.
///
/// With exactly one partition per core, a core idles whenever its partition waits on a
/// read or runs out of rows before the others (a skewed hash bucket); the spare partition
/// gives it work meanwhile. On 2 cores, over 7 processes of TPC-H SF 1 in one hour, three
/// partitions made Canon 0.72x the plain session's time against 0.75x with two, and lifted
/// the trailing queries above the plain session (BENCHMARKS.md, "One spare partition").
fn partitions(declared: usize) -> usize {
    match declared {
        0 => std::thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .saturating_add(1),
        n => n,
    }
}

/// The estimated size under which a hash join builds one table for all partitions instead
/// of repartitioning both sides (DataFusion's default is 1 MiB; a profile's settings may
/// set `datafusion.optimizer.hash_join_single_partition_threshold` again).
///
/// The join order puts the selective joins first, so the build sides above them are small,
/// but DataFusion estimates a join's output bytes from its inputs' and overrates them: with
/// 1 MiB, TPC-DS q72's build of a few thousand sales rows was taken for more and the join
/// repartitioned all 11.7 M inventory rows to meet it (BENCHMARKS.md, "One build table").
/// Once a reordered region gives its own estimate, the estimates are closer and larger:
/// TPC-DS q78's aggregate of a year's catalog sales, rated 15 MB, is still built faster
/// as one table than met by repartitioning both sides.
const COLLECT_LEFT_BYTES: usize = 16 * 1024 * 1024;

fn session_config(
    spec: &ProfileSpec,
    policy: &SqlPolicy,
) -> Result<SessionConfig, DataFusionError> {
    let partitions = partitions(spec.target_partitions);
    let mut config = SessionConfig::new()
        .with_target_partitions(partitions)
        .with_batch_size(spec.batch_size)
        .with_information_schema(true)
        // Canon builds each session's catalogs itself (see `session`).
        .with_create_default_catalog_and_schema(false);
    let options = config.options_mut();
    options.set("datafusion.sql_parser.dialect", &policy.dialect)?;
    options.sql_parser.enable_ident_normalization = policy.identifiers == IdentifierCase::Lower;
    options.optimizer.hash_join_single_partition_threshold = COLLECT_LEFT_BYTES;
    for (k, v) in spec.parquet.iter().chain(&spec.settings) {
        options.set(k, v)?;
    }
    // How the query planner orders joins, where it and `explain` read it.
    Ok(config.with_extension(Arc::new(spec.join_order)))
}

fn runtime_env(
    spec: &ProfileSpec,
    stores: &Arc<Stores>,
) -> Result<Arc<RuntimeEnv>, DataFusionError> {
    let registry: Arc<dyn ObjectStoreRegistry> = Arc::clone(stores) as _;
    let mut builder = RuntimeEnvBuilder::new().with_object_store_registry(registry);
    if let Some(limit) = spec.memory_limit {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        // Naming the largest consumers turns a bare "resources exhausted" into a lead.
        let top = NonZeroUsize::new(5).unwrap_or(NonZeroUsize::MIN);
        let pool: Arc<dyn MemoryPool> = match spec.memory_pool {
            MemoryPoolKind::Fair => {
                Arc::new(TrackConsumersPool::new(FairSpillPool::new(limit), top))
            }
            MemoryPoolKind::Greedy => {
                Arc::new(TrackConsumersPool::new(GreedyMemoryPool::new(limit), top))
            }
        };
        builder = builder.with_memory_pool(pool);
    }
    if let Some((_, dir)) = &spec.spill_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            DataFusionError::Context(
                format!("creating spill_dir {}", dir.display()),
                Box::new(DataFusionError::IoError(e)),
            )
        })?;
        builder = builder.with_temp_file_path(dir);
    }
    builder = builder.with_max_temp_directory_size(spec.max_temp_directory_size);
    let statistics_limit = if spec.cache.statistics {
        DEFAULT_FILE_STATISTICS_MEMORY_LIMIT
    } else {
        0
    };
    let cache = CacheManagerConfig::default()
        .with_metadata_cache_limit(to_usize(spec.cache.metadata))
        .with_list_files_cache_limit(to_usize(spec.cache.list_files))
        .with_list_files_cache_ttl(spec.cache.list_files_ttl)
        .with_file_statistics_cache_limit(statistics_limit);
    builder.with_cache_manager(cache).build_arc()
}

fn to_usize(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use datafusion::execution::cache::cache_manager as df;

    /// The model states DataFusion's cache defaults without depending on the engine.
    #[test]
    fn cache_defaults_are_datafusions() {
        use canon_model::profile as model;
        let same = |model: u64, engine: usize| u64::try_from(engine).ok() == Some(model);
        assert!(same(
            model::DEFAULT_METADATA_CACHE_LIMIT,
            df::DEFAULT_METADATA_CACHE_LIMIT
        ));
        assert!(same(
            model::DEFAULT_LIST_FILES_CACHE_MEMORY_LIMIT,
            df::DEFAULT_LIST_FILES_CACHE_MEMORY_LIMIT
        ));
        assert!(same(
            model::DEFAULT_FILE_STATISTICS_MEMORY_LIMIT,
            df::DEFAULT_FILE_STATISTICS_MEMORY_LIMIT
        ));
        assert_eq!(
            model::DEFAULT_MAX_TEMP_DIRECTORY_SIZE,
            datafusion::execution::disk_manager::DEFAULT_MAX_TEMP_DIRECTORY_SIZE
        );
    }
}
