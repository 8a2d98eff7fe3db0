//! The `canon` schema: system tables over the runtime's datasets, profile and
//! diagnostics, computed when scanned so they always show the current state.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, Session, TableProvider};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use crate::diagnostics::Diagnostics;
use crate::functions::Overrides;
use crate::functions::catalog::functions_view;
use crate::prepared::prepared_view;
use crate::profile::RuntimeProfile;
use crate::registry::RegisteredDataset;

/// How a read-only system view computes its columns when it is scanned.
#[async_trait]
pub(crate) trait ViewRows: Send + Sync + 'static {
    /// The view's columns, for the session that scans it.
    async fn columns(&self, state: &dyn Session) -> Result<Vec<ArrayRef>>;
}

/// A read-only table whose rows are produced at scan time, so it always shows the current
/// state: Canon's system tables and the cache table functions.
pub(crate) struct SystemView<R> {
    name: &'static str,
    schema: SchemaRef,
    rows: R,
}

impl<R: ViewRows> SystemView<R> {
    /// A view named `name` (for debugging output) with the given schema and rows.
    pub(crate) fn new(name: &'static str, schema: SchemaRef, rows: R) -> Self {
        Self { name, schema, rows }
    }
}

impl<R> fmt::Debug for SystemView<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemView")
            .field("name", &self.name)
            .finish()
    }
}

#[async_trait]
impl<R: ViewRows> TableProvider for SystemView<R> {
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
        let batch =
            RecordBatch::try_new(Arc::clone(&self.schema), self.rows.columns(state).await?)?;
        let exec =
            MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema(), projection.cloned())?;
        Ok(exec)
    }
}

/// Rows computed from the runtime alone, whichever session scans them.
struct Computed(Box<dyn Fn() -> Result<Vec<ArrayRef>> + Send + Sync>);

#[async_trait]
impl ViewRows for Computed {
    async fn columns(&self, _state: &dyn Session) -> Result<Vec<ArrayRef>> {
        (self.0)()
    }
}

fn utf8_schema(names: &[&str]) -> SchemaRef {
    let fields: Vec<Field> = names
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, false))
        .collect();
    Arc::new(Schema::new(fields))
}

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

/// Builds the `canon` schema for a runtime.
pub(crate) fn schema(
    datasets: Arc<Vec<Arc<RegisteredDataset>>>,
    profile: &RuntimeProfile,
    diagnostics: Diagnostics,
    overrides: Overrides,
) -> Result<Arc<dyn SchemaProvider>> {
    let schema = MemorySchemaProvider::new();
    // Both read the scanning session: its functions, and its prepared statements.
    schema.register_table("functions".into(), Arc::new(functions_view(overrides)))?;
    schema.register_table("prepared".into(), Arc::new(prepared_view()))?;

    let columns = [
        "name",
        "format",
        "location",
        "ddl",
        "schema_fingerprint",
        "options",
        "notes",
        "evolution",
        "adapter",
    ];
    let rows = Computed(Box::new(move || {
        let d = datasets.as_slice();
        let options: Vec<String> = d.iter().map(|r| json(&r.spec.options)).collect();
        let notes: Vec<String> = d.iter().map(|r| json(&r.notes)).collect();
        let evolution: Vec<String> = d.iter().map(|r| json(&r.spec.read_rules())).collect();
        // Read at scan time: the version a Delta dataset reads moves with its writes.
        let delta: Vec<Option<String>> = d
            .iter()
            .map(|r| r.delta().map(|t| json(&t.state())))
            .collect();
        Ok(vec![
            strings(d.iter().map(|r| r.spec.name.as_str())),
            strings(d.iter().map(|r| r.spec.format.name())),
            strings(d.iter().map(|r| r.spec.location.as_str())),
            strings(d.iter().map(|r| r.ddl.as_str())),
            strings(d.iter().map(|r| r.schema_fingerprint.as_str())),
            strings(options.iter().map(String::as_str)),
            strings(notes.iter().map(String::as_str)),
            strings(evolution.iter().map(String::as_str)),
            strings(d.iter().map(|r| r.adapter)),
            Arc::new(StringArray::from(delta)),
        ])
    }));
    let mut fields = utf8_schema(&columns).fields().to_vec();
    fields.push(Arc::new(Field::new("delta", DataType::Utf8, true)));
    register(&schema, "datasets", Arc::new(Schema::new(fields)), rows)?;

    let settings = profile.settings().clone();
    let fingerprint = profile.fingerprint().to_string();
    let rows = Computed(Box::new(move || {
        Ok(vec![
            strings(settings.keys().map(String::as_str)),
            strings(settings.values().map(String::as_str)),
            strings(settings.keys().map(|_| fingerprint.as_str())),
        ])
    }));
    register(
        &schema,
        "profile",
        utf8_schema(&["setting", "value", "fingerprint"]),
        rows,
    )?;

    let diagnostics_schema = Arc::new(Schema::new(vec![
        Field::new("seq", DataType::UInt64, false),
        Field::new("at", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("dataset", DataType::Utf8, true),
        Field::new("detail", DataType::Utf8, false),
    ]));
    let rows = Computed(Box::new(move || {
        let records = diagnostics.records();
        let details: Vec<String> = records.iter().map(|r| json(&r.event)).collect();
        Ok(vec![
            Arc::new(UInt64Array::from_iter_values(records.iter().map(|r| r.seq))),
            strings(records.iter().map(|r| r.at.as_str())),
            strings(records.iter().map(|r| r.event.kind())),
            Arc::new(StringArray::from_iter(
                records.iter().map(|r| r.event.dataset()),
            )),
            strings(details.iter().map(String::as_str)),
        ])
    }));
    register(&schema, "diagnostics", diagnostics_schema, rows)?;

    Ok(Arc::new(schema))
}

fn register(
    schema: &MemorySchemaProvider,
    name: &'static str,
    table_schema: SchemaRef,
    rows: Computed,
) -> Result<()> {
    let view = SystemView::new(name, table_schema, rows);
    schema.register_table(name.to_string(), Arc::new(view))?;
    Ok(())
}

fn json(value: &impl serde::Serialize) -> String {
    // Maps of strings and plain enums always serialize; an empty object is a safe fallback.
    serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
}
