//! `canon.prepared`: the statements the reading session can execute — Canon's system
//! statements and the project's (prepared on first use) and the session's own.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::{Parameter, SessionStatements};

/// The `canon.prepared` table.
pub(crate) struct PreparedTable {
    schema: SchemaRef,
}

impl fmt::Debug for PreparedTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedTable").finish()
    }
}

impl PreparedTable {
    pub(crate) fn new() -> Self {
        let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
        Self {
            schema: Arc::new(Schema::new(vec![
                text("name", false),
                text("origin", false),
                text("parameters", false),
                text("statement", false),
                text("declared_at", true),
                Field::new("prepared", DataType::Boolean, false),
                Field::new("executions", DataType::UInt64, false),
            ])),
        }
    }
}

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
impl TableProvider for PreparedTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
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
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema(), projection.cloned())
            .map(|exec| exec as Arc<dyn ExecutionPlan>)
    }
}
