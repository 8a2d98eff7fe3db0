//! The `canon` schema: system tables over the runtime's datasets, profile, diagnostics and
//! model builds, computed when scanned so they always show the current state.

mod builds;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, Session};
use datafusion::error::Result;

use crate::diagnostics::Diagnostics;
use crate::functions::Overrides;
use crate::functions::catalog::functions_view;
use crate::prepared::prepared_view;
use crate::profile::RuntimeProfile;
use crate::registry::{Formats, RegisteredDataset};
use crate::view::{SystemView, ViewRows};

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

/// Builds the `canon` schema for a runtime; `models` names its stored models.
pub(crate) fn schema(
    datasets: Arc<Vec<Arc<RegisteredDataset>>>,
    models: std::collections::BTreeSet<String>,
    formats: &Formats,
    profile: &RuntimeProfile,
    diagnostics: Diagnostics,
    overrides: Overrides,
    lineage_events: Option<Arc<crate::openlineage::Emitter>>,
) -> Result<Arc<dyn SchemaProvider>> {
    let schema = MemorySchemaProvider::new();
    let builds = builds::builds_view(Arc::clone(&datasets), models);
    schema.register_table("builds".into(), Arc::new(builds))?;
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
        "keys",
    ];
    // One JSON column per table format with a factory of its own (`delta`), holding the
    // state of that format's datasets.
    let format_names: Vec<&'static str> = formats.iter().map(|f| f.name()).collect();
    let state_columns = format_names.clone();
    let rows = Computed(Box::new(move || {
        let d = datasets.as_slice();
        let options: Vec<String> = d.iter().map(|r| json(&r.spec.options)).collect();
        let notes: Vec<String> = d.iter().map(|r| json(&r.notes)).collect();
        let evolution: Vec<String> = d.iter().map(|r| json(&r.spec.read_rules())).collect();
        let keys: Vec<String> = d
            .iter()
            .map(|r| {
                json(&serde_json::json!({
                    "primary_key": r.spec.primary_key,
                    "unique": r.spec.unique,
                }))
            })
            .collect();
        let mut columns: Vec<ArrayRef> = vec![
            strings(d.iter().map(|r| r.spec.name.as_str())),
            strings(d.iter().map(|r| r.spec.format.name())),
            strings(d.iter().map(|r| r.spec.location.as_str())),
            strings(d.iter().map(|r| r.ddl.as_str())),
            strings(d.iter().map(|r| r.schema_fingerprint.as_str())),
            strings(options.iter().map(String::as_str)),
            strings(notes.iter().map(String::as_str)),
            strings(evolution.iter().map(String::as_str)),
            strings(d.iter().map(|r| r.adapter)),
            strings(keys.iter().map(String::as_str)),
        ];
        for name in &state_columns {
            // Read at scan time: the version a Delta dataset reads moves with its writes.
            let states: Vec<Option<String>> = d
                .iter()
                .map(|r| {
                    let ours = r.spec.format.name() == *name;
                    ours.then(|| r.state()).flatten().map(|state| json(&state))
                })
                .collect();
            columns.push(Arc::new(StringArray::from(states)));
        }
        Ok(columns)
    }));
    let mut fields = utf8_schema(&columns).fields().to_vec();
    for name in format_names {
        fields.push(Arc::new(Field::new(name, DataType::Utf8, true)));
    }
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
    register(
        &schema,
        "lineage_events",
        lineage_events_schema(),
        lineage_events_rows(lineage_events),
    )?;
    schema.register_table(
        "stores".into(),
        crate::stores::stores_view(Arc::clone(profile.stores())),
    )?;

    Ok(Arc::new(schema))
}

/// `canon.lineage_events`: what OpenLineage's transport has done, one row when the
/// project sends events.
fn lineage_events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("transport", DataType::Utf8, false),
        Field::new("target", DataType::Utf8, false),
        Field::new("emitted", DataType::UInt64, false),
        Field::new("sent", DataType::UInt64, false),
        Field::new("dropped", DataType::UInt64, false),
        Field::new("last_error", DataType::Utf8, true),
    ]))
}

fn lineage_events_rows(emitter: Option<Arc<crate::openlineage::Emitter>>) -> Computed {
    Computed(Box::new(move || {
        let row = emitter.as_ref().map(|e| e.counts());
        let counts = |i: usize| -> ArrayRef {
            Arc::new(UInt64Array::from_iter_values(row.iter().map(|r| r.2[i])))
        };
        Ok(vec![
            strings(row.iter().map(|r| r.0)),
            strings(row.iter().map(|r| r.1.as_str())),
            counts(0),
            counts(1),
            counts(2),
            Arc::new(StringArray::from_iter(row.iter().map(|r| r.3.as_deref()))),
        ])
    }))
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
