//! `canon.prepared`: the statements the reading session can execute — Canon's system
//! statements and the project's (prepared on first use) and the session's own.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::Session;
use datafusion::common::Result;

use super::{Parameter, SessionStatements};
use crate::view::{SystemView, ViewRows};

/// The `canon.prepared` table.
pub(crate) fn prepared_view() -> SystemView<PreparedRows> {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let schema = Schema::new(vec![
        text("name", false),
        text("origin", false),
        text("parameters", false),
        text("statement", false),
        text("declared_at", true),
        Field::new("prepared", DataType::Boolean, false),
        Field::new("executions", DataType::UInt64, false),
    ]);
    SystemView::new("canon.prepared", Arc::new(schema), PreparedRows)
}

/// The rows of `canon.prepared`, from the scanning session's statements.
pub(crate) struct PreparedRows;

/// One row of `canon.prepared`.
struct Row {
    name: String,
    origin: &'static str,
    parameters: String,
    statement: String,
    declared_at: Option<String>,
    prepared: bool,
    executions: u64,
}

fn parameters(params: &[Parameter]) -> String {
    let parts: Vec<String> = params.iter().map(ToString::to_string).collect();
    parts.join(", ")
}

fn rows(statements: &SessionStatements) -> Vec<Row> {
    let entries = statements.entries();
    let mut rows: Vec<Row> = statements
        .all_declared()
        .iter()
        .map(|d| {
            let entry = entries.get(&d.name);
            Row {
                name: d.name.clone(),
                origin: d.origin.name(),
                parameters: parameters(&d.params),
                statement: d.sql.clone(),
                declared_at: d.location.clone(),
                prepared: entry.is_some(),
                executions: entry.map_or(0, |e| e.executions),
            }
        })
        .collect();
    for (name, entry) in &entries {
        if statements.declared(name).is_none() {
            rows.push(Row {
                name: name.clone(),
                origin: entry.origin.name(),
                parameters: parameters(&entry.params),
                statement: entry.sql.clone(),
                declared_at: None,
                prepared: true,
                executions: entry.executions,
            });
        }
    }
    rows
}

#[async_trait]
impl ViewRows for PreparedRows {
    async fn columns(&self, state: &dyn Session) -> Result<Vec<ArrayRef>> {
        // Sessions Canon did not make have no statements of Canon's to list.
        let rows = state
            .config()
            .get_extension::<SessionStatements>()
            .map(|s| rows(&s))
            .unwrap_or_default();
        let text = |f: fn(&Row) -> Option<&str>| -> ArrayRef {
            Arc::new(StringArray::from_iter(rows.iter().map(f)))
        };
        let columns = vec![
            text(|r| Some(&r.name)),
            text(|r| Some(r.origin)),
            text(|r| Some(&r.parameters)),
            text(|r| Some(&r.statement)),
            text(|r| r.declared_at.as_deref()),
            Arc::new(BooleanArray::from_iter(
                rows.iter().map(|r| Some(r.prepared)),
            )),
            Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|r| r.executions),
            )),
        ];
        Ok(columns)
    }
}
