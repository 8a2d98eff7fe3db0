//! `canon.builds`: every build of the project's stored models, read from their tables' logs
//! when scanned, so it holds the builds of every process and machine, not only this one's.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::error::{DataFusionError, Result};
use serde_json::Value;

use crate::registry::{CommitInfo, MODEL_RECORD_KEY, RegisteredDataset};
use crate::view::{SystemView, ViewRows};

/// How many commits of each model's log the table reads, newest first.
const DEPTH: usize = 1_000;

/// The builds view over the runtime's datasets; `models` names the stored models.
pub(super) fn builds_view(
    datasets: Arc<Vec<Arc<RegisteredDataset>>>,
    models: BTreeSet<String>,
) -> SystemView<Builds> {
    SystemView::new("builds", schema(), Builds { datasets, models })
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("version", DataType::UInt64, false),
        Field::new("time", DataType::Utf8, true),
        Field::new("operation", DataType::Utf8, true),
        Field::new("rows", DataType::UInt64, true),
        Field::new("fingerprint", DataType::Utf8, true),
        Field::new("watermark", DataType::Int64, true),
    ]))
}

/// The rows of `canon.builds`.
pub(super) struct Builds {
    datasets: Arc<Vec<Arc<RegisteredDataset>>>,
    models: BTreeSet<String>,
}

/// One build: the model and the commit its build made.
struct Row {
    model: String,
    commit: CommitInfo,
}

#[async_trait]
impl ViewRows for Builds {
    async fn columns(&self, _state: &dyn Session) -> Result<Vec<ArrayRef>> {
        let mut rows = Vec::new();
        for dataset in self.datasets.iter() {
            if !self.models.contains(&dataset.spec.name) {
                continue;
            }
            // A model that was never built has no log, and so no builds.
            let Some(commits) = dataset.commits(DEPTH).await else {
                continue;
            };
            let commits = commits.map_err(DataFusionError::External)?;
            rows.extend(
                commits
                    .into_iter()
                    .filter(|c| c.info.contains_key(MODEL_RECORD_KEY))
                    .map(|commit| Row {
                        model: dataset.spec.name.clone(),
                        commit,
                    }),
            );
        }
        let record = |r: &Row, key: &str| {
            r.commit
                .info
                .get(MODEL_RECORD_KEY)
                .and_then(|m| m.get(key))
                .cloned()
        };
        Ok(vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.model.as_str()),
            )),
            Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|r| r.commit.version),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.commit.time.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.commit.operation.as_deref()),
            )),
            Arc::new(UInt64Array::from_iter(rows.iter().map(written))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| {
                record(r, "fingerprint").and_then(|v| v.as_str().map(str::to_string))
            }))),
            Arc::new(Int64Array::from_iter(
                rows.iter()
                    .map(|r| record(r, "watermark").and_then(|v| v.as_i64())),
            )),
        ])
    }
}

/// The rows a build's commit wrote, from its operation's metrics: added rows for a write,
/// inserted and updated ones for a merge.
fn written(row: &Row) -> Option<u64> {
    let metrics = row.commit.info.get("operationMetrics")?;
    let count = |key: &str| metrics.get(key).and_then(Value::as_u64);
    count("num_added_rows").or_else(|| {
        let inserted = count("num_target_rows_inserted")?;
        let updated = count("num_target_rows_updated")?;
        Some(inserted.saturating_add(updated))
    })
}
