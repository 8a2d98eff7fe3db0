//! `STORED AS DELTA`: the table factory Canon's DDL path uses for Delta datasets. It opens
//! the table with delta-rs, checks it against the DDL's schema and partitioning, and
//! builds the scan from the DDL's `delta.*` options.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::logical_expr::CreateExternalTable;
use deltalake_core::DeltaTableError;
use url::Url;

use super::state::{external, load, open};
use super::table::DeltaDataset;
use crate::stores::Stores;
use canon_model::delta::DeltaSpec;

/// Builds [`DeltaDataset`]s from `CREATE EXTERNAL TABLE … STORED AS DELTA`.
#[derive(Debug)]
pub struct DeltaTableFactory {
    stores: Arc<Stores>,
}

impl DeltaTableFactory {
    /// A factory opening tables through the runtime's object stores.
    pub fn new(stores: Arc<Stores>) -> Self {
        Self { stores }
    }
}

#[async_trait]
impl TableProviderFactory for DeltaTableFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let spec = DeltaSpec::from_options(&cmd.options).map_err(DataFusionError::Plan)?;
        let [location] = cmd.locations.as_slice() else {
            return plan_err!("a Delta table has exactly one location");
        };
        let url = table_url(location)?;
        let table = open(&url, spec.time_travel.as_ref(), &self.stores)
            .await
            .map_err(|e| open_error(e, &url, &cmd.name.to_string()))?;
        let state = table.snapshot().map_err(external)?;
        let version = state.version();
        let logical = state.snapshot().arrow_schema();
        let contract = Arc::clone(cmd.schema.inner());
        let diffs = crate::contract::schema_diffs(&contract, &logical);
        if !diffs.is_empty() {
            return plan_err!(
                "the Delta table at {} (version {version}) differs from the contract: {}",
                display(&url),
                diffs.join("; ")
            );
        }
        let partitions = state.metadata().partition_columns();
        if partitions != cmd.table_partition_cols {
            return plan_err!(
                "the Delta table at {} is partitioned by [{}], the contract says [{}]",
                display(&url),
                partitions.join(", "),
                cmd.table_partition_cols.join(", ")
            );
        }
        let loaded = load(table, &spec).map_err(external)?;
        Ok(Arc::new(DeltaDataset::new(
            cmd.name.table().to_string(),
            url,
            spec,
            contract,
            loaded,
            Arc::clone(&self.stores),
        )))
    }
}

/// The table URL for a DDL location: a local path (as Canon resolves them) or a URL.
pub(crate) fn table_url(location: &str) -> Result<Url> {
    if location.contains("://") {
        return Url::parse(location)
            .map_err(|e| DataFusionError::Plan(format!("`{location}` is not a URL: {e}")));
    }
    Url::from_directory_path(location)
        .map_err(|_| DataFusionError::Plan(format!("`{location}` is not an absolute path")))
}

/// The local path of a `file://` URL; `None` for any other scheme (`url` converts the
/// path of any URL).
pub(crate) fn local_path(url: &Url) -> Option<std::path::PathBuf> {
    (url.scheme() == "file")
        .then(|| url.to_file_path().ok())
        .flatten()
}

/// A location as people read it: the path for local tables, else the URL.
pub(crate) fn display(url: &Url) -> String {
    local_path(url)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| url.to_string())
}

fn open_error(error: DeltaTableError, url: &Url, name: &str) -> DataFusionError {
    let no_log = local_path(url).is_some_and(|path| !path.join("_delta_log").is_dir());
    if no_log || matches!(error, DeltaTableError::NotATable(_)) {
        DataFusionError::Plan(format!(
            "no Delta table at {} (no _delta_log): create it with `canon delta create {name}`",
            display(url)
        ))
    } else {
        DataFusionError::Plan(format!(
            "cannot open the Delta table at {}: {error}",
            display(url)
        ))
    }
}
