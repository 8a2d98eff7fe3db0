//! The manifest of data files registration has already verified, kept in the project's
//! cache directory (`.canon/verified-files.json` beside the project file).
//!
//! Registration lists every dataset's files each time, so a new, changed or removed file
//! is always seen; what the manifest saves is reading again the footer or header of a file
//! whose path, size, modification time and entity tag are those it had when it passed,
//! under the same contract, evolution rules, profile and Canon version. A missing,
//! unreadable or foreign manifest only means every file is read; a manifest that cannot be
//! written is logged and otherwise ignored. `canon check` never consults it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use canon_model::util::hex;
use object_store::ObjectMeta;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::contract::DatasetSpec;

/// The manifest's file name inside the project's cache directory.
pub const MANIFEST_FILE: &str = "verified-files.json";

/// Bumped whenever what a manifest entry vouches for changes meaning.
const MANIFEST_VERSION: u32 = 1;

/// What one file looked like when it passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    size: u64,
    /// Modification time, microseconds since the epoch.
    modified_us: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e_tag: Option<String>,
}

impl Stamp {
    /// The stamp of a listed file.
    pub(crate) fn of(file: &ObjectMeta) -> Self {
        Self {
            size: file.size,
            modified_us: file.last_modified.timestamp_micros(),
            e_tag: file.e_tag.clone(),
        }
    }
}

/// The files of one dataset that passed, under one contract key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DatasetEntry {
    /// What the files were verified against (see [`Manifest::contract_key`]).
    contract: String,
    /// Each verified file's path (as errors name it) and stamp.
    files: BTreeMap<String, Stamp>,
}

impl DatasetEntry {
    /// The files that passed under `contract`.
    pub(crate) fn new(contract: String, files: impl IntoIterator<Item = (String, Stamp)>) -> Self {
        Self {
            contract,
            files: files.into_iter().collect(),
        }
    }

    /// Whether this file, as listed now, passed under the same contract.
    pub(crate) fn vouches_for(&self, contract: &str, path: &str, stamp: &Stamp) -> bool {
        self.contract == contract && self.files.get(path) == Some(stamp)
    }
}

#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stored {
    version: u32,
    datasets: BTreeMap<String, DatasetEntry>,
}

/// The manifest as loaded, and where it is kept (none: nothing is kept).
#[derive(Debug, Default)]
pub struct Manifest {
    file: Option<PathBuf>,
    /// Mixed into every contract key: the profile's fingerprint, since settings such as
    /// `schema_force_view_types` change what a footer's schema reads as.
    salt: String,
    stored: Stored,
}

impl Manifest {
    /// A manifest that vouches for nothing and keeps nothing: for tables with no listed
    /// files, such as a model's.
    pub fn none() -> Self {
        Self {
            file: None,
            salt: String::new(),
            stored: Stored::default(),
        }
    }

    /// The manifest kept in `cache_dir`, as far as it can be read.
    pub fn load(cache_dir: &Path, profile_fingerprint: &str) -> Self {
        let file = cache_dir.join(MANIFEST_FILE);
        let stored = match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<Stored>(&bytes) {
                Ok(stored) if stored.version == MANIFEST_VERSION => stored,
                Ok(_) => Stored::default(),
                Err(error) => {
                    tracing::debug!(file = %file.display(), %error, "verified-files manifest ignored");
                    Stored::default()
                }
            },
            Err(_) => Stored::default(),
        };
        Self {
            file: Some(file),
            salt: profile_fingerprint.to_string(),
            stored,
        }
    }

    /// What a dataset's files are verified against: its canonical DDL (columns, format,
    /// options, location), its schema's fingerprint and evolution rules, the profile and
    /// Canon's version.
    pub(crate) fn contract_key(
        &self,
        spec: &DatasetSpec,
        ddl: &str,
        schema_fingerprint: &str,
    ) -> String {
        let mut hasher = Sha256::new();
        for part in [
            env!("CARGO_PKG_VERSION"),
            &self.salt,
            ddl,
            schema_fingerprint,
            &serde_json::to_string(&spec.read_rules()).unwrap_or_default(),
        ] {
            hasher.update(part.as_bytes());
            hasher.update(b"\n");
        }
        hex(&hasher.finalize())
    }

    /// The entry recorded for a dataset, if any.
    pub(crate) fn entry(&self, dataset: &str) -> Option<&DatasetEntry> {
        self.stored.datasets.get(dataset)
    }

    /// Keeps the entries of this registration (every dataset's, replacing the old ones),
    /// unless they are what is kept already.
    pub(crate) fn save(&self, entries: BTreeMap<String, DatasetEntry>) {
        let Some(file) = &self.file else { return };
        if entries.is_empty() && self.stored.datasets.is_empty() {
            return;
        }
        let stored = Stored {
            version: MANIFEST_VERSION,
            datasets: entries,
        };
        if stored == self.stored {
            return;
        }
        if let Err(error) = write_atomically(file, &stored) {
            tracing::warn!(
                file = %file.display(),
                %error,
                "cannot keep the verified-files manifest; registration will read every file again"
            );
        }
    }
}

/// Writes beside the target and renames, so that a concurrent reader sees the old manifest
/// or the new one, never half of one.
fn write_atomically(file: &Path, stored: &Stored) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let bytes = serde_json::to_vec(stored).map_err(std::io::Error::other)?;
    let temporary = file.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, file).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}
