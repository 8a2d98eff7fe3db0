//! The runtime's object stores: local files, and the S3, Azure, GCS and HTTP stores that
//! datasets' URLs name, built when first used from the environment and the project's
//! `[[store]]` declarations, each wrapped to count its requests.
//!
//! [`Stores`] is the runtime environment's object store registry, so DataFusion's listing
//! tables, Canon's file checks and delta-rs all reach a bucket through the same store.

mod build;
mod counting;
mod view;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use url::Url;

use canon_model::Project;
use canon_model::store::{PROJECT_SCHEME, StoreKind, StoreSpec, store_key};

pub use crate::error::StoreError;
use counting::CountingStore;
pub use counting::{Counters, RequestCounts};
pub(crate) use view::stores_view;

/// The key of local files in the registry and in `canon.stores`.
const LOCAL: &str = "file://";
/// The key of the project directory's store (`project:///…` locations).
const PROJECT: &str = "project://";

/// One store as `canon.stores` shows it: never a secret's value.
#[derive(Debug, Clone)]
pub struct StoreInfo {
    /// `scheme://authority`; `file://` for local files, `project://` for the project
    /// directory.
    pub url: String,
    /// `local`, `s3`, `azure`, `gcs` or `http`.
    pub kind: &'static str,
    /// Whether the project declares it (`[[store]]`); otherwise the environment configures it.
    pub declared: bool,
    /// The declared non-secret options, by canonical key.
    pub options: BTreeMap<String, String>,
    /// The declared secrets: option and the environment variable it is read from.
    pub secrets: BTreeMap<String, String>,
    /// Requests so far; zero until the store is first used.
    pub requests: RequestCounts,
}

/// A built store and its counters.
#[derive(Debug)]
struct Built {
    store: Arc<dyn ObjectStore>,
    counters: Arc<Counters>,
}

/// The runtime's object store registry.
#[derive(Debug)]
pub struct Stores {
    declared: BTreeMap<String, StoreSpec>,
    /// The directory `project:///…` locations are in.
    root: PathBuf,
    built: RwLock<BTreeMap<String, Arc<Built>>>,
}

impl Stores {
    /// A registry for a project: its directory serves `project:///…` locations; its
    /// declared stores are built when first used.
    pub fn for_project(project: &Project) -> Result<Self, StoreError> {
        Self::new(&project.profile.stores, &project.root)
    }

    /// A registry for declared stores and a project directory; no store is contacted.
    pub fn new(declared: &[StoreSpec], project_root: &Path) -> Result<Self, StoreError> {
        let local = Built::counted(Arc::new(LocalFileSystem::new()), Access::ReadWrite);
        let root =
            LocalFileSystem::new_with_prefix(project_root).map_err(|source| StoreError::Build {
                url: format!("{PROJECT}/ ({})", project_root.display()),
                source,
            })?;
        let project = Built::counted(Arc::new(root), Access::SortedListings);
        Ok(Self {
            root: project_root.to_path_buf(),
            declared: declared
                .iter()
                .map(|s| (s.url.clone(), s.clone()))
                .collect(),
            built: RwLock::new(BTreeMap::from([
                (LOCAL.to_string(), Arc::new(local)),
                (PROJECT.to_string(), Arc::new(project)),
            ])),
        })
    }

    /// The store serving a URL, built on first use.
    pub fn store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>, StoreError> {
        let key = registry_key(url);
        if let Some(built) = self.read().get(&key) {
            return Ok(Arc::clone(&built.store));
        }
        let kind = StoreKind::of_scheme(url.scheme()).ok_or_else(|| StoreError::Unsupported {
            url: url.to_string(),
        })?;
        let inner = build::build(&key, kind, self.declared.get(&key))?;
        let access = if kind.writable() {
            Access::ReadWrite
        } else {
            Access::ReadOnly
        };
        let built = Arc::new(Built::counted(inner, access));
        let mut map = self.built.write().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have built it meanwhile; the first one stays, with its counts.
        let entry = map.entry(key).or_insert(built);
        Ok(Arc::clone(&entry.store))
    }

    /// Where a location is on this machine's disk: `file://` and `project://` locations;
    /// `None` for object storage.
    pub fn local_path(&self, url: &Url) -> Option<PathBuf> {
        match url.scheme() {
            "file" => url.to_file_path().ok(),
            PROJECT_SCHEME => {
                // The same path as a `file://` URL decodes it the way `url` encoded it.
                let decoded = Url::parse("file:///").ok()?.join(url.path()).ok()?;
                let absolute = decoded.to_file_path().ok()?;
                Some(self.root.join(absolute.strip_prefix("/").ok()?))
            }
            _ => None,
        }
    }

    /// Refuses Delta commits to a store that cannot make them atomic or is read-only.
    pub fn check_delta_writes(&self, url: &Url) -> Result<(), StoreError> {
        let key = registry_key(url);
        match StoreKind::of_scheme(url.scheme()) {
            Some(StoreKind::Http) => Err(StoreError::ReadOnly { url: key }),
            Some(StoreKind::S3) if !build::conditional_put(self.declared.get(&key)) => {
                Err(StoreError::UnsafeCommits { url: key })
            }
            _ => Ok(()),
        }
    }

    /// Every store declared or used so far, by URL.
    pub fn infos(&self) -> Vec<StoreInfo> {
        let built = self.read();
        // Stores others registered (delta-rs's per-table URLs) are not the project's.
        let mut keys: Vec<&String> = built
            .keys()
            .chain(self.declared.keys())
            .filter(|k| [LOCAL, PROJECT].contains(&k.as_str()) || kind_of(k).is_some())
            .collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .map(|key| {
                let spec = self.declared.get(key);
                let kind = kind_of(key).map_or("local", StoreKind::name);
                StoreInfo {
                    url: key.clone(),
                    kind,
                    declared: spec.is_some(),
                    options: spec.map(|s| s.options.clone()).unwrap_or_default(),
                    secrets: spec.map(|s| s.secrets.clone()).unwrap_or_default(),
                    requests: built
                        .get(key)
                        .map(|b| b.counters.snapshot())
                        .unwrap_or_default(),
                }
            })
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Built>>> {
        self.built.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the counting wrapper lets through, besides counting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadWrite,
    /// Writes are refused (http(s) stores).
    ReadOnly,
    /// Listings come in path order (the project directory's store: Delta's log reader
    /// expects it of every store but `file://`).
    SortedListings,
}

impl Built {
    fn counted(inner: Arc<dyn ObjectStore>, access: Access) -> Self {
        let counters = Arc::new(Counters::default());
        let store = CountingStore::new(inner, Arc::clone(&counters), access == Access::ReadOnly);
        let store = match access {
            Access::SortedListings => store.sorted(),
            Access::ReadWrite | Access::ReadOnly => store,
        };
        Self {
            store: Arc::new(store),
            counters,
        }
    }
}

/// Refuses a statement that writes to a read-only location (`COPY … TO 'https://…'`).
pub(crate) fn check_write_target(url: &str) -> Result<(), StoreError> {
    match canon_model::store::location_kind(url) {
        Some(kind) if !kind.writable() => Err(StoreError::ReadOnly {
            url: store_key(url).unwrap_or_else(|| url.to_string()),
        }),
        _ => Ok(()),
    }
}

/// The kind of store a registry key names; `None` for local files and others' stores.
fn kind_of(key: &str) -> Option<StoreKind> {
    StoreKind::of_scheme(key.split("://").next().unwrap_or_default())
}

/// The registry key of a URL: `file://` for local files, else `scheme://authority`.
fn registry_key(url: &Url) -> String {
    match url.scheme() {
        "file" => LOCAL.to_string(),
        _ => store_key(url.as_str()).unwrap_or_else(|| format!("{}://", url.scheme())),
    }
}

impl ObjectStoreRegistry for Stores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        // Stores registered by others (delta-rs's per-table URLs, an embedding program's
        // own) are kept as given and counted like Canon's.
        let built = Arc::new(Built::counted(store, Access::ReadWrite));
        let mut map = self.built.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(registry_key(url), built)
            .map(|old| Arc::clone(&old.store))
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.store(url)
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }
}
