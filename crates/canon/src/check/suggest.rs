//! `canon check --suggest-keys`: the columns of a dataset whose values are unique and never
//! NULL across all its files, proposed as keys to declare. Declared keys let Canon plan
//! with uniqueness (joins, aggregates) and are then verified by every `canon check`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionContext;
use datafusion::functions_aggregate::expr_fn::{count, count_distinct};
use datafusion::prelude::{Expr, ident, lit};
use serde::Serialize;

use super::{DATASET_TABLE, nullable, reading_state, scratch_context};
use crate::error::{CanonError, Result};
use crate::project::Project;
use crate::registry;

/// How many of the most distinct columns are tried in pairs when no column alone is a key.
const PAIR_CANDIDATES: usize = 6;

/// What the data says about a dataset's possible keys.
#[derive(Debug, Clone, Serialize)]
pub struct KeySuggestion {
    /// The dataset.
    pub dataset: String,
    /// Its rows, across all files.
    pub rows: i64,
    /// Each column's NULLs and distinct values, in table order.
    pub columns: Vec<ColumnCounts>,
    /// Column sets whose values are unique and never NULL: single columns, or pairs when
    /// no column alone is one. The first is proposed as the primary key.
    pub keys: Vec<Vec<String>>,
    /// The columns the contract declares nullable.
    pub nullable: Vec<String>,
}

/// One column's counts.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnCounts {
    /// The column.
    pub name: String,
    /// Rows where it is NULL.
    pub nulls: i64,
    /// Its distinct non-NULL values.
    pub distinct: i64,
}

impl KeySuggestion {
    /// The proposal as project-file lines for the dataset's `[[dataset]]` table, ready to
    /// paste: the first key as the primary key when the contract declares its columns NOT
    /// NULL (the loader requires it), and the rest (or all) as unique keys.
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "# {}: {} rows; keys are column sets unique and never NULL in every file\n",
            self.dataset, self.rows
        );
        let quoted = |key: &[String]| {
            let names: Vec<String> = key.iter().map(|c| format!("{c:?}")).collect();
            format!("[{}]", names.join(", "))
        };
        let Some((first, others)) = self.keys.split_first() else {
            out.push_str("# no column, or pair of columns, is unique and never NULL\n");
            return out;
        };
        let nullable: Vec<&String> = first.iter().filter(|c| self.nullable.contains(c)).collect();
        let unique: Vec<&Vec<String>> = if nullable.is_empty() {
            out.push_str(&format!("primary_key = {}\n", quoted(first)));
            others.iter().collect()
        } else {
            let names: Vec<String> = nullable.iter().map(|c| format!("`{c}`")).collect();
            out.push_str(&format!(
                "# with {} declared nullable = false, {} could be the primary key\n",
                names.join(" and "),
                quoted(first)
            ));
            self.keys.iter().collect()
        };
        if !unique.is_empty() {
            let sets: Vec<String> = unique.iter().map(|k| quoted(k)).collect();
            out.push_str(&format!("unique = [{}]\n", sets.join(", ")));
        }
        out
    }
}

/// Counts every column of the dataset `name` and proposes its keys. The contract's own
/// keys and NOT NULLs are not trusted: the files are read as they are.
pub async fn suggest_keys(project: &Project, name: &str) -> Result<KeySuggestion> {
    let spec = project
        .dataset(name)
        .ok_or_else(|| CanonError::UnknownDataset {
            name: name.to_string(),
            known: project.datasets.iter().map(|d| d.name.clone()).collect(),
        })?;
    let (state, _) = reading_state(project)?;
    // A dataset that does not register is reported as registration reports it.
    let planned = registry::plan(&state, spec, &spec.ddl())
        .await
        .map_err(|error| crate::error::RegistrationError {
            failures: vec![crate::error::DatasetFailure::of(spec, error)],
        })?;
    let ctx = scratch_context(&state);
    let table = Arc::new(nullable::AllNullable::new(planned.provider));
    ctx.register_table(DATASET_TABLE, table)?;
    let rows = ctx.table(DATASET_TABLE).await?;
    // Nested columns have no equality to be a key by, and floats' (bit by bit in distinct
    // counts, IEEE in `=`: -0.0 and 0.0, NaNs) is not one a key can rest on.
    let columns: Vec<String> = spec
        .columns
        .iter()
        .filter(|c| {
            let ty = &c.data_type;
            !ty.is_nested() && !ty.is_floating() && *ty != DataType::Null
        })
        .map(|c| c.name.clone())
        .collect();
    let (total, counts) = count_columns(rows, &columns).await?;
    let mut keys: Vec<Vec<String>> = counts
        .iter()
        .filter(|c| total > 0 && c.nulls == 0 && c.distinct == total)
        .map(|c| vec![c.name.clone()])
        .collect();
    if keys.is_empty() && total > 0 {
        keys = unique_pairs(&ctx, &counts, total).await?;
    }
    Ok(KeySuggestion {
        dataset: spec.name.clone(),
        rows: total,
        columns: counts,
        keys,
        nullable: spec
            .columns
            .iter()
            .filter(|c| c.nullable)
            .map(|c| c.name.clone())
            .collect(),
    })
}

/// The rows, and each column's NULLs and distinct values, in one pass.
async fn count_columns(rows: DataFrame, columns: &[String]) -> Result<(i64, Vec<ColumnCounts>)> {
    let mut aggregates: Vec<Expr> = vec![count(lit(1)).alias("rows")];
    for (i, column) in columns.iter().enumerate() {
        aggregates.push(count(ident(column)).alias(format!("present_{i}")));
        aggregates.push(count_distinct(ident(column)).alias(format!("distinct_{i}")));
    }
    let batches = rows.aggregate(vec![], aggregates)?.collect().await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok((0, Vec::new()));
    };
    let value = |i: usize| -> i64 {
        batch
            .column(i)
            .as_primitive_opt::<Int64Type>()
            .filter(|a| a.is_valid(0))
            .map_or(0, |a| a.value(0))
    };
    let total = value(0);
    let counts = columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let present = value(1 + 2 * i);
            ColumnCounts {
                name: name.clone(),
                nulls: total.saturating_sub(present),
                distinct: value(2 + 2 * i),
            }
        })
        .collect();
    Ok((total, counts))
}

/// Pairs of never-NULL columns whose value pairs are unique, among the most distinct.
async fn unique_pairs(
    ctx: &SessionContext,
    counts: &[ColumnCounts],
    total: i64,
) -> Result<Vec<Vec<String>>> {
    let mut candidates: Vec<&ColumnCounts> = counts.iter().filter(|c| c.nulls == 0).collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.distinct));
    candidates.truncate(PAIR_CANDIDATES);
    let mut pairs = Vec::new();
    for (i, a) in candidates.iter().enumerate() {
        for b in &candidates[i + 1..] {
            // A pair can only be unique if its columns' distinct counts allow it.
            if a.distinct.saturating_mul(b.distinct) < total {
                continue;
            }
            let distinct = ctx
                .table(DATASET_TABLE)
                .await?
                .aggregate(vec![ident(&a.name), ident(&b.name)], vec![])?
                .count()
                .await?;
            if i64::try_from(distinct).is_ok_and(|d| d == total) {
                pairs.push(vec![a.name.clone(), b.name.clone()]);
            }
        }
    }
    Ok(pairs)
}
