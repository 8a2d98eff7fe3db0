//! The dataset's keys across all its files: a primary key or unique column set whose
//! values repeat is reported with how many values repeat and one of them. (NULLs in a
//! primary key are NOT NULL violations, reported per file; a unique set ignores rows with
//! a NULL in it, as SQL's UNIQUE does.)

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::context::SessionContext;

use crate::contract::DatasetSpec;
use canon_model::util::quote_ident;

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
        match duplicates(ctx, table, columns).await {
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
struct Duplicates {
    /// How many distinct key values occur more than once.
    values: i64,
    /// The most repeated one, as `column = value` pairs.
    sample: String,
    /// How many rows hold it.
    rows: i64,
}

async fn duplicates(
    ctx: &SessionContext,
    table: &str,
    columns: &[String],
) -> Result<Option<Duplicates>, String> {
    let quoted: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let list = quoted.join(", ");
    let present = quoted
        .iter()
        .map(|c| format!("{c} IS NOT NULL"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let sql = format!(
        "SELECT count(*) OVER () AS canon_values, canon_rows, {list} FROM \
         (SELECT {list}, count(*) AS canon_rows FROM {table} WHERE {present} \
          GROUP BY {list} HAVING count(*) > 1) \
         ORDER BY canon_rows DESC LIMIT 1"
    );
    let batches = ctx
        .sql(&sql)
        .await
        .map_err(|e| e.strip_backtrace())?
        .collect()
        .await
        .map_err(|e| e.strip_backtrace())?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let count = |i: usize| {
        batch
            .column(i)
            .as_any()
            .downcast_ref::<Int64Array>()
            .filter(|a| !a.is_null(0))
            .map_or(0, |a| a.value(0))
    };
    let options = FormatOptions::default().with_null("NULL");
    let sample = columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let value = ArrayFormatter::try_new(batch.column(i + 2).as_ref(), &options)
                .map(|f| f.value(0).to_string())
                .unwrap_or_else(|_| "?".into());
            format!("{name} = {value}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Some(Duplicates {
        values: count(0),
        sample,
        rows: count(1),
    }))
}
