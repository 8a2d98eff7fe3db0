//! The new rows of an incremental model. An `append` model's are those past the last
//! build's watermark on its incremental column (less the lookback, for late rows) whose
//! primary key the table does not hold yet. A `merge` model's are those past the watermark
//! (all of them without an incremental column) that the table does not hold as they are:
//! new keys, and keys whose values changed. The watermark travels in the build's commit
//! record, so any machine can resume, and a build killed before its commit leaves the last
//! one in force.

use canon_model::model::{IncrementalSpec, ModelKind, ModelSpec};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{JoinType, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::functions_aggregate::expr_fn::{count, max};
use datafusion::prelude::{Expr, ident, lit};

use super::record::BuildRecord;
use crate::error::{CanonError, ModelError, Result};
use crate::session::Session;

/// What an incremental build writes.
pub(crate) struct NewRows {
    /// The rows to write.
    pub rows: DataFrame,
    /// How many there are.
    pub count: u64,
    /// The watermark after the build: the largest value the table will hold.
    pub watermark: Option<i64>,
    /// Whether they replace the table (a first build or a full refresh), or are appended or
    /// merged into it.
    pub replace: bool,
}

/// The rows an incremental build writes: all of the query's when the table starts over
/// (first build, `--full-refresh`), else only the new ones.
pub(crate) async fn new_rows(
    session: &Session,
    model: &ModelSpec,
    all: DataFrame,
    previous: Option<&BuildRecord>,
    now: &BuildRecord,
    full_refresh: bool,
) -> Result<NewRows> {
    let resumes = previous.is_some() && !full_refresh;
    let resume = match previous {
        Some(before) if !full_refresh => {
            can_resume(model, before, now)?;
            before.watermark
        }
        // Rows but no record of the build that wrote them (another writer, or a log
        // cleaned up past it): starting over would drop what only the table still holds.
        None if !full_refresh && holds_rows(session, model).await? => {
            return Err(ModelError::NeedsFullRefresh {
                model: model.name.clone(),
                reason: "its table holds rows, but no build record was found in its log"
                    .to_string(),
            }
            .into());
        }
        _ => None,
    };
    let incremental = model
        .incremental
        .as_ref()
        .and_then(IncrementalSpec::watermark);
    let mut rows = all;
    if let (Some(watermark), Some(incremental)) = (resume, incremental) {
        let column = &incremental.column;
        let data_type = rows
            .schema()
            .field_with_unqualified_name(column)
            .map(|f| f.data_type().clone())?;
        let back = lookback_in_units(&data_type, incremental.lookback)?;
        let from = bound(watermark.saturating_sub(back), &data_type)?;
        // From the watermark itself, not past it: a row that arrives later with the
        // largest value the table holds is new too. Rows the table holds already are told
        // apart by key below.
        rows = rows.filter(ident(column).gt_eq(lit(from)))?;
    }
    if resumes {
        rows = match model.kind {
            ModelKind::Merge => {
                let held = session.table(&model.name).await?;
                rows.except(held)?
            }
            _ if resume.is_some() => not_held(session, model, rows).await?,
            _ => rows,
        };
        // Computed once: the count, the audit and the write then see the same rows, even
        // from a query whose results vary between runs (a float sum's last digits do).
        rows = rows.cache().await?;
    }
    let top = match incremental {
        Some(inc) => max(ident(&inc.column)),
        None => max(lit(ScalarValue::Int64(None))),
    };
    let stats = rows
        .clone()
        .aggregate(vec![], vec![count(lit(1)).alias("rows"), top.alias("top")])?
        .collect()
        .await?;
    let (count, top) = match stats.first().filter(|b| b.num_rows() == 1) {
        Some(batch) => {
            let count = ScalarValue::try_from_array(batch.column(0), 0)?;
            let top = ScalarValue::try_from_array(batch.column(1), 0)?;
            let count = match count {
                ScalarValue::Int64(Some(n)) => u64::try_from(n).unwrap_or(0),
                _ => 0,
            };
            (count, raw(&top))
        }
        None => (0, None),
    };
    let watermark = match (resume, top) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    // An append model starts over without a watermark; a merge model whenever there is
    // no table to merge into.
    let replace = match model.kind {
        ModelKind::Merge => !resumes,
        _ => resume.is_none(),
    };
    Ok(NewRows {
        rows,
        count,
        watermark,
        replace,
    })
}

/// Refuses to add to a table built under another contract or incremental setting.
pub(crate) fn can_resume(model: &ModelSpec, before: &BuildRecord, now: &BuildRecord) -> Result<()> {
    let reason = if before.columns != now.columns || before.primary_key != now.primary_key {
        "its contract changed since the last build"
    } else if before.incremental != now.incremental {
        "how it finds new rows (its incremental column, lookback or change feed) changed since \
         the last build"
    } else {
        return Ok(());
    };
    Err(ModelError::NeedsFullRefresh {
        model: model.name.clone(),
        reason: reason.to_string(),
    }
    .into())
}

/// Whether the model's table holds any row (an unbuilt model's stand-in holds none).
async fn holds_rows(session: &Session, model: &ModelSpec) -> Result<bool> {
    let Ok(table) = session.table(&model.name).await else {
        return Ok(false);
    };
    match table.limit(0, Some(1))?.collect().await {
        Ok(batches) => Ok(batches.iter().any(|b| b.num_rows() > 0)),
        // The stand-in of a model that has no table yet refuses to be scanned.
        Err(_) => Ok(false),
    }
}

/// The rows whose primary key the model's table does not hold.
async fn not_held(session: &Session, model: &ModelSpec, rows: DataFrame) -> Result<DataFrame> {
    let table = session.table(&model.name).await?;
    not_in(rows, table, &model.contract.primary_key)
}

/// The rows of `rows` whose `key` no row of `others` holds.
pub(crate) fn not_in(rows: DataFrame, others: DataFrame, key: &[String]) -> Result<DataFrame> {
    // Renamed, so that the join's two sides never share a column name.
    let held: Vec<String> = (0..key.len()).map(|i| format!("canon_held_{i}")).collect();
    let held_keys = others.select(
        key.iter()
            .zip(&held)
            .map(|(k, h)| ident(k).alias(h))
            .collect::<Vec<Expr>>(),
    )?;
    let left: Vec<&str> = key.iter().map(String::as_str).collect();
    let right: Vec<&str> = held.iter().map(String::as_str).collect();
    Ok(rows.join(held_keys, JoinType::LeftAnti, &left, &right, None)?)
}

/// A lookback in the column's own units: its timestamp unit, or days for a date (rounded
/// up, so no late row is missed). Numbers take no lookback (validation sees to it).
fn lookback_in_units(data_type: &DataType, lookback: std::time::Duration) -> Result<i64> {
    let nanos = lookback.as_nanos();
    let units = match data_type {
        DataType::Timestamp(TimeUnit::Second, _) => nanos / 1_000_000_000,
        DataType::Timestamp(TimeUnit::Millisecond, _) => nanos / 1_000_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) => nanos / 1_000,
        DataType::Timestamp(TimeUnit::Nanosecond, _) => nanos,
        DataType::Date32 => nanos.div_ceil(86_400_000_000_000),
        _ => 0,
    };
    i64::try_from(units).map_err(|_| plan_error(format!("lookback {lookback:?} is too long")))
}

/// A watermark as a literal of the column's type.
fn bound(value: i64, data_type: &DataType) -> Result<ScalarValue> {
    let small = || {
        i32::try_from(value).map_err(|_| plan_error(format!("watermark {value} is out of range")))
    };
    Ok(match data_type {
        DataType::Timestamp(TimeUnit::Second, tz) => {
            ScalarValue::TimestampSecond(Some(value), tz.clone())
        }
        DataType::Timestamp(TimeUnit::Millisecond, tz) => {
            ScalarValue::TimestampMillisecond(Some(value), tz.clone())
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            ScalarValue::TimestampMicrosecond(Some(value), tz.clone())
        }
        DataType::Timestamp(TimeUnit::Nanosecond, tz) => {
            ScalarValue::TimestampNanosecond(Some(value), tz.clone())
        }
        DataType::Date32 => ScalarValue::Date32(Some(small()?)),
        DataType::Int32 => ScalarValue::Int32(Some(small()?)),
        DataType::Int64 => ScalarValue::Int64(Some(value)),
        other => return Err(plan_error(format!("{other} cannot hold a watermark"))),
    })
}

/// A watermark value as the number the build record keeps.
fn raw(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::TimestampSecond(v, _)
        | ScalarValue::TimestampMillisecond(v, _)
        | ScalarValue::TimestampMicrosecond(v, _)
        | ScalarValue::TimestampNanosecond(v, _)
        | ScalarValue::Int64(v) => *v,
        ScalarValue::Date32(v) | ScalarValue::Int32(v) => v.map(i64::from),
        _ => None,
    }
}

fn plan_error(message: String) -> CanonError {
    CanonError::DataFusion(datafusion::error::DataFusionError::Plan(message))
}
