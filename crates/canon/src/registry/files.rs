//! Checks a dataset's data files against its contract at registration: formats that
//! carry a schema (parquet, arrow) must have every contract column with a compatible
//! type; CSV files with a header must name the contract's file columns, in order, since
//! CSV columns are read by position.

use datafusion::common::parsers::CompressionTypeVariant;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionState;
use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStore};

use crate::contract::{DatasetSpec, Format};
use crate::evolution::resolve_file_column;

/// How much of a CSV file is read to find its header line.
const HEADER_PROBE_BYTES: u64 = 64 * 1024;

/// Checks every file of a listing table against the contract.
pub(super) async fn check(
    state: &SessionState,
    spec: &DatasetSpec,
    table: &ListingTable,
) -> Result<(), String> {
    let options = table.options();
    let csv = options.format.downcast_ref::<CsvFormat>();
    let has_header = csv.map(|f| {
        f.has_header()
            .unwrap_or(state.config_options().catalog.has_header)
    });
    let check_csv = matches!(has_header, Some(true))
        && csv.is_some_and(|f| f.options().compression == CompressionTypeVariant::UNCOMPRESSED);
    if !matches!(spec.format, Format::Parquet | Format::Arrow) && !check_csv {
        return Ok(());
    }
    for url in table.table_paths() {
        let store = state
            .runtime_env()
            .object_store(url)
            .map_err(|e| e.strip_backtrace())?;
        let files: Vec<ObjectMeta> = url
            .list_all_files(state, store.as_ref(), &options.file_extension)
            .await
            .map_err(|e| e.strip_backtrace())?
            .try_collect()
            .await
            .map_err(|e| format!("listing {url}: {}", e.strip_backtrace()))?;
        for file in &files {
            // Object-store paths drop the leading `/`; Canon reads the local file system,
            // so name the file by its absolute path, as the DDL's LOCATION does.
            let path = format!("/{}", file.location);
            match csv {
                Some(format) => check_header(store.as_ref(), file, format, spec)
                    .await
                    .map_err(|e| format!("file {path}: {e}"))?,
                None => check_schema(state, &store, file, options, spec)
                    .await
                    .map_err(|e| format!("file {path}: {e}"))?,
            }
        }
    }
    Ok(())
}

pub(crate) async fn check_schema(
    state: &SessionState,
    store: &std::sync::Arc<dyn ObjectStore>,
    file: &ObjectMeta,
    options: &datafusion::datasource::listing::ListingOptions,
    spec: &DatasetSpec,
) -> Result<(), String> {
    let schema = options
        .format
        .infer_schema(state, store, std::slice::from_ref(file))
        .await
        .map_err(|e| format!("cannot read its schema: {}", e.strip_backtrace()))?;
    let rules = spec.read_rules();
    for column in spec.file_columns() {
        resolve_file_column(column, &schema, &rules)?;
    }
    Ok(())
}

pub(crate) async fn check_header(
    store: &dyn ObjectStore,
    file: &ObjectMeta,
    format: &CsvFormat,
    spec: &DatasetSpec,
) -> Result<(), String> {
    if file.size == 0 {
        return Ok(());
    }
    let probe = 0..file.size.min(HEADER_PROBE_BYTES);
    let bytes = store
        .get_ranges(&file.location, &[probe])
        .await
        .map_err(|e| format!("cannot read its header: {e}"))?
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
        .map_err(|e| format!("cannot parse its header: {e}"))?;
    let header: Vec<&str> = record.iter().collect();
    let expected: Vec<&str> = spec.file_columns().map(|c| c.name.as_str()).collect();
    if header == expected {
        Ok(())
    } else {
        Err(format!(
            "header is [{}], contract columns are [{}] (CSV columns are read by position)",
            header.join(", "),
            expected.join(", ")
        ))
    }
}
