//! Distinct values of a column, counted in its parquet files' dictionaries.
//!
//! Parquet writers seldom count distinct values, and an equality on a column whose count
//! is unknown (text, mostly) is taken to keep one row in two hundred. Flag and category
//! columns hold a handful of values and keep far more: TPC-DS q80's `p_channel_tv = 'N'`
//! keeps 294 of 300 promotions, and q91's marital and education statuses one
//! demographics row in twenty where the default said one in 40 000. Both put the wrong
//! table first. A column chunk whose data pages are all dictionary-encoded holds exactly
//! its dictionary's values, and the dictionary page's header counts them: one small read
//! per chunk, once, and kept for the runtime's life.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::catalog::Session;
use datafusion::parquet::basic::Encoding;
use datafusion::parquet::column::page::{Page, PageReader};
use datafusion::parquet::file::metadata::ColumnChunkMetaData;
use datafusion::parquet::file::reader::{ChunkReader, Length};
use datafusion::parquet::file::serialized_reader::SerializedPageReader;
use datafusion::physical_plan::ExecutionPlan;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use super::chunks::{ChunkKey, ChunkReads, column_metadata, parquet_scan};

/// Column chunks read for one column: the most of them a dictionary count looks at, so
/// that planning over a table of many files reads a sample, not every file.
const MAX_CHUNKS: usize = 16;

/// The largest dictionary read. A bigger one holds thousands of values, where the default
/// estimate for an unknown count is as good, and reading it would cost the query time.
const MAX_DICTIONARY_BYTES: u64 = 64 * 1024;

/// Dictionary counts read so far, by column chunk: one per runtime, shared by its sessions
/// through their configuration.
pub type DictionaryCounts = ChunkReads<u64>;

/// The distinct values of `column` in the parquet files `scan` (a table scan's physical
/// plan) reads: the most any of its dictionary-encoded column chunks holds, a lower bound
/// that is exact for the categorical columns it matters for. `None` when the session keeps
/// no [`DictionaryCounts`], the scan is not of parquet files, or some chunk read is not
/// wholly dictionary-encoded with a small dictionary.
pub(super) async fn distinct_values(
    scan: &Arc<dyn ExecutionPlan>,
    column: &str,
    session: &dyn Session,
) -> Option<f64> {
    let counts = session.config().get_extension::<DictionaryCounts>()?;
    let config = parquet_scan(scan.as_ref())?;
    let store = session
        .runtime_env()
        .object_store(&config.object_store_url)
        .ok()?;
    let mut most: u64 = 0;
    let mut chunks = 0;
    // DataFusion splits a large file into byte ranges across its groups; each file once.
    let mut files = HashSet::new();
    for file in config.file_groups.iter().flat_map(|group| group.iter()) {
        let meta = &file.object_meta;
        if !files.insert(&meta.location) {
            continue;
        }
        let (metadata, leaf) = column_metadata(store.as_ref(), meta, column, session).await?;
        for (index, row_group) in metadata.row_groups().iter().enumerate() {
            if chunks == MAX_CHUNKS {
                return Some(most as f64);
            }
            chunks += 1;
            let key = ChunkKey::new(meta, index, column);
            let count = match counts.get(&key) {
                Some(count) => count,
                None => {
                    let chunk = row_group.columns().get(leaf)?;
                    let count = dictionary_size(store.as_ref(), meta, chunk).await;
                    counts.put(key, count);
                    count
                }
            };
            most = most.max(count?);
        }
    }
    (chunks > 0).then_some(most as f64)
}

/// The values in `chunk`'s dictionary, read from its page header, when every data page of
/// the chunk is dictionary-encoded and the dictionary is small; else `None`.
async fn dictionary_size(
    store: &dyn ObjectStore,
    file: &ObjectMeta,
    chunk: &ColumnChunkMetaData,
) -> Option<u64> {
    let dictionary =
        |e: Encoding| matches!(e, Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY);
    // Without page encoding statistics (not every writer keeps them), a small dictionary
    // still counts: writers fall back to plain pages when the dictionary outgrows its
    // page (a megabyte by default), far beyond the largest read here.
    let all_dictionary = match chunk.page_encoding_stats_mask() {
        Some(mask) => {
            mask.is_only(Encoding::PLAIN_DICTIONARY) || mask.is_only(Encoding::RLE_DICTIONARY)
        }
        None => chunk.encodings().any(dictionary),
    };
    let start = u64::try_from(chunk.dictionary_page_offset()?).ok()?;
    let end = u64::try_from(chunk.data_page_offset()).ok()?;
    if !all_dictionary || end <= start || end - start > MAX_DICTIONARY_BYTES {
        return None;
    }
    let bytes = store.get_range(&file.location, start..end).await.ok()?;
    let reader = Arc::new(Slice { start, bytes });
    let mut pages = SerializedPageReader::new(reader, chunk, 0, None).ok()?;
    match pages.get_next_page().ok()?? {
        Page::DictionaryPage { num_values, .. } => Some(u64::from(num_values)),
        _ => None,
    }
}

/// The bytes of a file from `start` on, read where the file's offsets say.
struct Slice {
    start: u64,
    bytes: Bytes,
}

impl Slice {
    fn at(&self, offset: u64, length: usize) -> datafusion::parquet::errors::Result<Bytes> {
        let from = offset
            .checked_sub(self.start)
            .and_then(|from| usize::try_from(from).ok())
            .filter(|from| {
                from.checked_add(length)
                    .is_some_and(|to| to <= self.bytes.len())
            });
        match from {
            Some(from) => Ok(self.bytes.slice(from..from + length)),
            None => Err(datafusion::parquet::errors::ParquetError::EOF(format!(
                "bytes {offset}..+{length} lie outside the dictionary read"
            ))),
        }
    }
}

impl Length for Slice {
    fn len(&self) -> u64 {
        self.start.saturating_add(self.bytes.len() as u64)
    }
}

impl ChunkReader for Slice {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> datafusion::parquet::errors::Result<Self::T> {
        let rest = self.len().saturating_sub(start);
        let rest = usize::try_from(rest).unwrap_or(0);
        Ok(bytes::Buf::reader(self.at(start, rest)?))
    }

    fn get_bytes(&self, start: u64, length: usize) -> datafusion::parquet::errors::Result<Bytes> {
        self.at(start, length)
    }
}
