//! Checks a dataset's data files against its contract at registration: formats that
//! carry a schema (parquet, arrow) must have every contract column with a compatible
//! type; CSV files with a header must name the contract's file columns, in order, since
//! CSV columns are read by position.

use std::sync::Arc;

use datafusion::common::parsers::CompressionTypeVariant;
use datafusion::common::stats::Precision;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::listing::{ListingTable, ListingTableUrl};
use datafusion::execution::context::SessionState;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};

use crate::contract::{DatasetSpec, Format};
use crate::error::DatasetError;
use crate::evolution::{FileColumn, check_widened_value, resolve_file_column, widening_factor};
use crate::registry::lister::{LocalLister, list_files};
use crate::registry::verified::{DatasetEntry, Stamp};

/// How much of a CSV file is read to find its header line.
const HEADER_PROBE_BYTES: u64 = 64 * 1024;

/// What can be checked in a file without reading its rows.
#[derive(Clone, Copy)]
pub(crate) enum Probe<'a> {
    /// The schema the file carries (parquet, arrow).
    Schema,
    /// The header line of an uncompressed CSV file that has one.
    Header(&'a CsvFormat),
    /// Nothing (JSON, headerless or compressed CSV).
    Nothing,
}

/// How the files of a listing table can be checked.
pub(crate) fn probe<'a>(
    state: &SessionState,
    spec: &DatasetSpec,
    table: &'a ListingTable,
) -> Probe<'a> {
    match table.options().format.downcast_ref::<CsvFormat>() {
        Some(csv) => {
            let has_header = csv
                .has_header()
                .unwrap_or(state.config_options().catalog.has_header);
            let uncompressed = csv.options().compression == CompressionTypeVariant::UNCOMPRESSED;
            if has_header && uncompressed {
                Probe::Header(csv)
            } else {
                Probe::Nothing
            }
        }
        None if matches!(spec.format, Format::Parquet | Format::Arrow) => Probe::Schema,
        None => Probe::Nothing,
    }
}

/// Every data file of a listing table, with the table path it was found under, in path
/// order; local paths are listed on `lister`'s thread when there is one.
pub(crate) async fn list(
    state: &SessionState,
    table: &ListingTable,
    lister: Option<&LocalLister>,
) -> Result<Vec<(ListingTableUrl, ObjectMeta)>, DatasetError> {
    let mut all = Vec::new();
    let extension = &table.options().file_extension;
    for url in table.table_paths() {
        let store = state
            .runtime_env()
            .object_store(url)
            .map_err(|e| DatasetError::caused(e.strip_backtrace(), e))?;
        let files = match lister {
            Some(lister) => lister.list(state, url, store, extension).await,
            None => list_files(state, url, store.as_ref(), extension).await,
        }
        .map_err(|e| DatasetError::caused(format!("listing {url}: {}", e.strip_backtrace()), e))?;
        all.extend(files.into_iter().map(|f| (url.clone(), f)));
    }
    all.sort_by(|a, b| a.1.location.cmp(&b.1.location));
    Ok(all)
}

/// The file as the DDL's LOCATION names it: its absolute path for local files, else its
/// URL (`s3://bucket/key`). Object-store paths drop the scheme, bucket and leading `/`.
pub(crate) fn display_path(url: &ListingTableUrl, file: &ObjectMeta) -> String {
    let store = url.object_store();
    match store.as_str() {
        "file:///" => format!("/{}", file.location),
        base => format!("{base}{}", file.location),
    }
}

/// Checks one file against the contract as far as `probe` allows.
pub(crate) async fn check_file(
    state: &SessionState,
    spec: &DatasetSpec,
    table: &ListingTable,
    url: &ListingTableUrl,
    file: &ObjectMeta,
    probe: Probe<'_>,
) -> Result<(), DatasetError> {
    let store = state
        .runtime_env()
        .object_store(url)
        .map_err(|e| DatasetError::caused(e.strip_backtrace(), e))?;
    match probe {
        Probe::Schema => check_schema(state, &store, file, table.options(), spec).await,
        Probe::Header(csv) => check_header(store.as_ref(), file, csv, spec).await,
        Probe::Nothing => Ok(()),
    }
}

/// Checks every file of a listing table against the contract; the first problem, in path
/// order, fails. Footers and headers are read several files at a time, as many as
/// DataFusion's `meta_fetch_concurrency` allows, which matters on object stores. A file
/// the dataset's manifest entry vouches for (same contract, same stamp) is not read again.
/// Returns the entry to keep for the dataset: every file that passed.
pub(super) async fn check(
    state: &SessionState,
    spec: &DatasetSpec,
    table: &ListingTable,
    contract: String,
    known: Option<&DatasetEntry>,
    lister: &LocalLister,
) -> Result<DatasetEntry, DatasetError> {
    let probe = probe(state, spec, table);
    if matches!(probe, Probe::Nothing) {
        return Ok(DatasetEntry::new(contract, Vec::new()));
    }
    let files = list(state, table, Some(lister)).await?;
    let concurrency = usize::from(state.config_options().execution.meta_fetch_concurrency);
    let contract = &contract;
    let passed: Vec<(String, Stamp)> =
        futures::stream::iter(files.iter().map(|(url, file)| async move {
            let path = display_path(url, file);
            let stamp = Stamp::of(file);
            if !known.is_some_and(|entry| entry.vouches_for(contract, &path, &stamp)) {
                check_file(state, spec, table, url, file, probe)
                    .await
                    .map_err(|e| e.context(format!("file {path}")))?;
            }
            Ok::<_, DatasetError>((path, stamp))
        }))
        .buffered(concurrency)
        .try_collect()
        .await?;
    Ok(DatasetEntry::new(contract.clone(), passed))
}

async fn check_schema(
    state: &SessionState,
    store: &Arc<dyn ObjectStore>,
    file: &ObjectMeta,
    options: &datafusion::datasource::listing::ListingOptions,
    spec: &DatasetSpec,
) -> Result<(), DatasetError> {
    let schema = options
        .format
        .infer_schema(state, store, std::slice::from_ref(file))
        .await
        .map_err(|e| {
            DatasetError::caused(
                format!("cannot read its schema: {}", e.strip_backtrace()),
                e,
            )
        })?;
    let rules = spec.read_rules();
    let mut widened = Vec::new();
    for column in spec.file_columns() {
        let resolved = resolve_file_column(column, &schema, &rules)?;
        if let FileColumn::Present {
            physical,
            widened_from: Some(from),
        } = resolved
            && let Some(factor) = widening_factor(&from, &column.data_type)
            && let Ok(index) = schema.index_of(&physical)
        {
            widened.push((column, index, factor));
        }
    }
    if widened.is_empty() {
        return Ok(());
    }
    // Widenings that multiply values: the footer's minimum and maximum must still fit.
    let statistics = options
        .format
        .infer_stats(state, store, Arc::clone(&schema), file)
        .await
        .map_err(|e| {
            let message = format!("cannot read its statistics: {}", e.strip_backtrace());
            DatasetError::caused(message, e)
        })?;
    for (column, index, factor) in widened {
        let Some(stats) = statistics.column_statistics.get(index) else {
            continue;
        };
        // Exact bounds only: an inexact one may lie beyond every stored value.
        for bound in [&stats.min_value, &stats.max_value] {
            if let Precision::Exact(value) = bound {
                check_widened_value(&column.name, value, factor, &column.data_type)?;
            }
        }
    }
    Ok(())
}

async fn check_header(
    store: &dyn ObjectStore,
    file: &ObjectMeta,
    format: &CsvFormat,
    spec: &DatasetSpec,
) -> Result<(), DatasetError> {
    if file.size == 0 {
        return Ok(());
    }
    let probe = 0..file.size.min(HEADER_PROBE_BYTES);
    let bytes = store
        .get_ranges(&file.location, &[probe])
        .await
        .map_err(|e| DatasetError::caused(format!("cannot read its header: {e}"), e))?
        .pop()
        .unwrap_or_default();
    let csv_options = format.options();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(csv_options.delimiter)
        .quote(csv_options.quote)
        .escape(csv_options.escape)
        .flexible(true)
        .from_reader(bytes.as_ref());
    let mut record = csv::StringRecord::new();
    reader
        .read_record(&mut record)
        .map_err(|e| DatasetError::caused(format!("cannot parse its header: {e}"), e))?;
    let header: Vec<&str> = record.iter().collect();
    let expected: Vec<&str> = spec.file_columns().map(|c| c.name.as_str()).collect();
    if header == expected {
        Ok(())
    } else {
        Err(format!(
            "header is [{}], contract columns are [{}] (CSV columns are read by position)",
            header.join(", "),
            expected.join(", ")
        )
        .into())
    }
}
