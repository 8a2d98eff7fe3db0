//! What a model's build records with its commit, under `canon.model` in the table's commit
//! metadata, so that any machine can tell what the table was built from: the query's plan
//! fingerprint and the contract it was built under. `canon plan` compares the project with it.

use canon_model::model::{IncrementalSpec, ModelSpec};
use serde::{Deserialize, Serialize};

use crate::error::{CanonError, Result};
use crate::registry::{Formats, format_of};

/// The commit-metadata key a model build's record is kept under.
pub use crate::registry::MODEL_RECORD_KEY as KEY;

/// How many commits back `canon plan` looks for a build's record (maintenance commits such
/// as OPTIMIZE and VACUUM come between builds).
const DEPTH: usize = 100;

/// What the last build of `model` recorded in its table's log, as written; `None` when it
/// has no table, no format compiled in, or no build record in its last [`DEPTH`] commits.
pub(crate) async fn last(
    formats: &Formats,
    model: &ModelSpec,
) -> Result<Option<serde_json::Value>> {
    let Some(format) = format_of(formats, model.contract.format) else {
        return Ok(None);
    };
    format
        .commit_metadata(&model.contract, KEY, DEPTH)
        .await
        .map_err(CanonError::Format)
}

/// What one build of a model recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// The fingerprint of the model's query, planned against the contracts it reads.
    pub fingerprint: String,
    /// The contract's columns, in order.
    pub columns: Vec<RecordedColumn>,
    /// The contract's primary key.
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// The contract's unique keys.
    #[serde(default)]
    pub unique: Vec<Vec<String>>,
    /// An incremental model's column and lookback (`column - lookback`), or `changes`: a
    /// watermark is only good for the column it was taken on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<String>,
    /// An append model's watermark: the largest value of its incremental column the table
    /// holds, in the column's own units (a timestamp's, days for a date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<i64>,
    /// A changes model's upstream version: the last whose changes the table holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_version: Option<u64>,
}

/// A contract column as a build recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedColumn {
    /// The column's name.
    pub name: String,
    /// Its Arrow type, as `canon.toml` writes it.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Whether it may hold NULLs.
    pub nullable: bool,
}

impl BuildRecord {
    /// The record of building `model` from a query with this plan fingerprint.
    pub fn of(model: &ModelSpec, fingerprint: String) -> Self {
        Self {
            fingerprint,
            columns: model
                .contract
                .columns
                .iter()
                .map(|c| RecordedColumn {
                    name: c.name.clone(),
                    data_type: c.data_type.to_string(),
                    nullable: c.nullable,
                })
                .collect(),
            primary_key: model.contract.primary_key.clone(),
            unique: model.contract.unique.clone(),
            incremental: model.incremental.as_ref().map(|i| match i {
                IncrementalSpec::Watermark(w) => {
                    format!("{} - {}", w.column, humantime::format_duration(w.lookback))
                }
                IncrementalSpec::Changes => "changes".to_string(),
            }),
            watermark: None,
            upstream_version: None,
        }
    }
}
