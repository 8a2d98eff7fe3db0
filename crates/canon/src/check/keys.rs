//! The dataset's keys across all its files: a primary key or unique column set whose
//! values repeat is reported with how many values repeat and one of them. (NULLs in a
//! primary key are NOT NULL violations, reported per file; a unique set ignores rows with
//! a NULL in it, as SQL's UNIQUE does.)

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionContext;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::prelude::{Expr, ident, lit};

use crate::contract::DatasetSpec;

/// The problems of every declared key of `spec`, read from `table` in `ctx`.
pub(super) async fn key_problems(
    ctx: &SessionContext,
    table: &str,
    spec: &DatasetSpec,
) -> Vec<String> {
    let primary = (!spec.primary_key.is_empty()).then_some(("primary key", &spec.primary_key));
    let unique = spec.unique.iter().map(|set| ("unique key", set));
    let mut problems = Vec::new();
    for (kind, columns) in primary.into_iter().chain(unique) {
        let found = match ctx.table(table).await {
            Ok(rows) => duplicates(rows, columns).await,
            Err(e) => Err(e),
        };
        match found.map_err(|e| e.strip_backtrace()) {
            Ok(None) => {}
            Ok(Some(found)) => problems.push(format!(
                "{kind} ({}) has {} repeated value(s), e.g. {} in {} rows",
                columns.join(", "),
                found.values,
                found.sample,
                found.rows
            )),
            Err(e) => problems.push(format!(
                "{kind} ({}) cannot be checked: {e}",
                columns.join(", ")
            )),
        }
    }
    problems
}

/// Repeated values of one key.
pub(crate) struct Duplicates {
    /// How many distinct key values occur more than once.
    pub values: usize,
    /// The most repeated one, as `column = value` pairs.
    pub sample: String,
    /// How many rows hold it.
    pub rows: i64,
}

/// The repeated values of the key `columns` among `rows`, rows with a NULL in the key
/// aside (as SQL's UNIQUE does); `None` when every value occurs once. `canon check` reads a
/// dataset's files with it, a model build the rows it is about to write.
pub(crate) async fn duplicates(
    rows: DataFrame,
    columns: &[String],
) -> datafusion::error::Result<Option<Duplicates>> {
    let keys: Vec<Expr> = columns.iter().map(ident).collect();
    let present = keys
        .iter()
        .cloned()
        .map(Expr::is_not_null)
        .reduce(Expr::and)
        .unwrap_or_else(|| lit(true));
    let repeated = rows
        .filter(present)?
        .aggregate(keys, vec![count(lit(1)).alias("canon_rows")])?
        .filter(ident("canon_rows").gt(lit(1_i64)))?;
    let values = repeated.clone().count().await?;
    if values == 0 {
        return Ok(None);
    }
    let top = repeated
        .sort(vec![ident("canon_rows").sort(false, false)])?
        .limit(0, Some(1))?
        .collect()
        .await?;
    let Some(batch) = top.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let options = FormatOptions::default().with_null("NULL");
    let sample = columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let value = ArrayFormatter::try_new(batch.column(i).as_ref(), &options)
                .map(|f| f.value(0).to_string())
                .unwrap_or_else(|_| "?".into());
            format!("{name} = {value}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let rows = batch
        .column(columns.len())
        .as_any()
        .downcast_ref::<Int64Array>()
        .filter(|a| !a.is_null(0))
        .map_or(0, |a| a.value(0));
    Ok(Some(Duplicates {
        values,
        sample,
        rows,
    }))
}
