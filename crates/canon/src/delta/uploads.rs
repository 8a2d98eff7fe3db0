//! Uploads a killed writer left in a local table directory. object_store writes a local
//! file as `<name>#<n>` and renames it when the upload completes, and it hides such
//! staging files from listings; so a writer killed mid-upload leaves files that no Delta
//! vacuum sees. `vacuum` with orphans finds them here. (In object storage an unfinished
//! upload is no object at all; the bucket's lifecycle rules abort it.)

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use std::{fs, io};

/// An unfinished upload older than the retention period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Abandoned {
    /// Its path relative to the table directory, with `/` separators, as vacuum lists files.
    pub relative: String,
    /// Its path on disk.
    pub path: PathBuf,
}

/// The staging files under `table_dir` last modified at least `retention` ago, in path
/// order. The log and hidden directories (`_…`, `.…`) are not searched, as Delta's vacuum
/// does not search them.
pub(crate) fn abandoned(table_dir: &Path, retention: Duration) -> io::Result<Vec<Abandoned>> {
    let now = SystemTime::now();
    let mut found = Vec::new();
    let mut pending = vec![(table_dir.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            let relative = format!("{prefix}{name}");
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push((entry.path(), format!("{relative}/")));
            } else if kind.is_file() && is_staging(&name) {
                let modified = entry.metadata()?.modified()?;
                let age = now.duration_since(modified).unwrap_or_default();
                if age >= retention {
                    found.push(Abandoned {
                        relative,
                        path: entry.path(),
                    });
                }
            }
        }
    }
    found.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(found)
}

/// Whether a file name is one of object_store's local staging names: `<name>#<digits>`.
fn is_staging(name: &str) -> bool {
    match name.rsplit_once('#') {
        Some((stem, suffix)) => {
            !stem.is_empty() && !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names() {
        assert!(is_staging("part-00001-abc.c000.snappy.parquet#1"));
        assert!(is_staging("part-1.parquet#27"));
        assert!(!is_staging("part-1.parquet"));
        assert!(!is_staging("part-1.parquet#"));
        assert!(!is_staging("part-1.parquet#a1"));
        assert!(!is_staging("#1"));
    }

    #[test]
    fn finds_old_staging_files_outside_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("region=eu")).expect("partition");
        fs::create_dir_all(root.join("_delta_log")).expect("log");
        for file in [
            "region=eu/part-1.parquet#1",
            "region=eu/part-2.parquet",
            "part-3.parquet#2",
            "_delta_log/00000.json#1",
        ] {
            fs::write(root.join(file), b"x").expect("write");
        }
        let found = abandoned(root, Duration::ZERO).expect("walk");
        let names: Vec<&str> = found.iter().map(|a| a.relative.as_str()).collect();
        assert_eq!(names, ["part-3.parquet#2", "region=eu/part-1.parquet#1"]);
        let recent = abandoned(root, Duration::from_secs(3600)).expect("walk");
        assert!(recent.is_empty(), "{recent:?}");
    }
}
