//! What Canon knows, as JSON: the datasets and models with their contracts
//! (`/api/datasets`, `/api/datasets/{name}`), the graph of datasets, models and columns
//! (`/api/lineage`), and the statements run lately (`/api/queries`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use canon::datafusion::arrow::array::RecordBatch;
use canon::datafusion::arrow::json;
use canon::{DatasetSpec, Event, RegisteredDataset, Runtime};
use serde::Deserialize;
use serde_json::{Value, json};

use super::answer::ApiError;
use super::{Caller, Shared};

/// How many commits of a Delta table a dataset's page shows.
const HISTORY: usize = 20;

/// Every dataset and model (`kind`: dataset, table, append, merge or view) and every system
/// table, with its columns.
pub(crate) async fn datasets(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let runtime = &shared.runtime;
    let mut out: Vec<Value> = runtime
        .datasets()
        .iter()
        .map(|d| summary(runtime, d))
        .collect();
    let session = runtime.session();
    let tables = session.tables().await.map_err(|e| ApiError::canon(&e))?;
    for table in tables.iter().filter(|t| t.schema == "canon") {
        out.push(json!({
            "name": format!("canon.{}", table.name),
            "kind": "system",
            "columns": table
                .columns
                .fields()
                .iter()
                .map(|f| json!({
                    "name": f.name(),
                    "type": f.data_type().to_string(),
                    "nullable": f.is_nullable(),
                }))
                .collect::<Vec<_>>(),
        }));
    }
    drop(caller);
    Ok(Json(json!({ "datasets": out })))
}

/// One dataset's or model's page: its contract, DDL, what registration noted, its files
/// and statistics (as `canon describe` reads them), and a Delta table's recent history.
pub(crate) async fn dataset(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let runtime = &shared.runtime;
    let Some(dataset) = runtime.dataset(&name) else {
        let known: Vec<&str> = runtime
            .datasets()
            .iter()
            .map(|d| d.spec.name.as_str())
            .collect();
        return Err(ApiError::missing(format!(
            "no dataset or model named `{name}`; the project has: {}",
            known.join(", ")
        )));
    };
    let mut page = summary(runtime, dataset);
    let session = runtime.session();
    let described = match session
        .execute_text("canon_describe", std::slice::from_ref(&name))
        .await
    {
        Ok(df) => df.collect().await.map_err(|e| ApiError::canon(&e.into()))?,
        Err(e) => return Err(ApiError::canon(&e)),
    };
    let history = match dataset.commits(HISTORY).await {
        Some(Ok(commits)) => commits
            .into_iter()
            .map(|c| {
                json!({
                    "version": c.version,
                    "time": c.time,
                    "operation": c.operation,
                    "info": c.info,
                })
            })
            .collect(),
        Some(Err(e)) => vec![json!({ "error": e.to_string() })],
        None => Vec::new(),
    };
    if let Some(object) = page.as_object_mut() {
        object.insert("ddl".into(), json!(dataset.ddl));
        object.insert("notes".into(), json!(dataset.notes));
        object.insert(
            "schema_fingerprint".into(),
            json!(dataset.schema_fingerprint),
        );
        object.insert("describe".into(), rows(&described)?);
        object.insert("history".into(), Value::Array(history));
        if let Some(state) = dataset.state() {
            object.insert("state".into(), state);
        }
    }
    drop(caller);
    Ok(Json(page))
}

/// A dataset's or model's name, kind, storage and contract.
fn summary(runtime: &Runtime, dataset: &RegisteredDataset) -> Value {
    let spec = &dataset.spec;
    let model = runtime.project().model(&spec.name);
    let kind = model.map_or("dataset", |m| m.kind.name());
    let description = model.and_then(|m| m.description.clone());
    json!({
        "name": spec.name,
        "kind": kind,
        "description": description,
        "format": spec.format.name(),
        "location": spec.declared_location,
        "columns": columns(spec),
        "primary_key": spec.primary_key,
        "unique": spec.unique,
        "constraints": spec.constraints,
        "partitioned_by": spec.partitioned_by,
        "ordered_by": spec.ordered_by.iter().map(|k| k.column.clone()).collect::<Vec<_>>(),
    })
}

fn columns(spec: &DatasetSpec) -> Vec<Value> {
    spec.columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.data_type.to_string(),
                "nullable": c.nullable,
                "tags": c.tags,
            })
        })
        .collect()
}

/// Batches as JSON row objects, written as `canon query --format json` writes them.
fn rows(batches: &[RecordBatch]) -> Result<Value, ApiError> {
    let mut writer = json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, json::writer::JsonArray>(Vec::new());
    for batch in batches {
        let batch =
            canon::results::json_ready(batch).map_err(|e| ApiError::internal(e.to_string()))?;
        writer
            .write(&batch)
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    writer
        .finish()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    serde_json::from_slice(&writer.into_inner()).map_err(|e| ApiError::internal(e.to_string()))
}

/// The graph of datasets and models: a node per dataset and model, an edge per model that
/// reads a dataset or model, and per model column the columns it comes from and how.
pub(crate) async fn lineage(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let graph = shared
        .lineage
        .get_or_try_init(|| graph(shared.runtime.project()))
        .await?;
    drop(caller);
    Ok(Json(graph.clone()))
}

/// The lineage graph of a project's datasets and models.
async fn graph(project: &canon::Project) -> Result<Value, ApiError> {
    let compiled = canon::models::compile(project)
        .await
        .map_err(|e| ApiError::canon(&e))?;
    let mut nodes: Vec<Value> = project
        .datasets
        .iter()
        .map(|d| json!({ "name": d.name, "kind": "dataset", "columns": columns(d) }))
        .collect();
    let mut edges = Vec::new();
    let mut column_edges = Vec::new();
    for model in &compiled.models {
        let spec = project.model(&model.name);
        nodes.push(json!({
            "name": model.name,
            "kind": model.kind.name(),
            "columns": spec.map(|m| columns(&m.contract)).unwrap_or_default(),
        }));
        for read in &model.reads {
            edges.push(json!({ "from": read, "to": model.name }));
        }
        for column in &model.lineage.columns {
            for source in &column.sources {
                column_edges.push(json!({
                    "from": { "table": source.table, "column": source.column },
                    "to": { "table": model.name, "column": column.name },
                    "kind": column.kind(source).map(|k| k.name()),
                }));
            }
        }
        for (source, how) in &model.lineage.influences {
            column_edges.push(json!({
                "from": { "table": source.table, "column": source.column },
                "to": { "table": model.name },
                "influence": how.iter().map(|h| h.name()).collect::<Vec<_>>(),
            }));
        }
    }
    Ok(json!({
        "nodes": nodes,
        "edges": edges,
        "columns": column_edges,
    }))
}

/// `/api/queries`'s parameters.
#[derive(Debug, Deserialize)]
pub(crate) struct Recent {
    /// How many statements, newest first (default 100, at most 1,000).
    limit: Option<u32>,
}

/// The statements the caller ran lately (as the user it authenticates as, over any
/// protocol), newest first, from diagnostics: over which protocol, the statement and its
/// fingerprint, how long it ran, the rows it yielded and any error.
pub(crate) async fn queries(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Query(recent): Query<Recent>,
) -> Result<Json<Value>, ApiError> {
    let limit = usize::try_from(recent.limit.unwrap_or(100).min(1000)).unwrap_or(1000);
    let records = shared.runtime.diagnostics().records();
    let mut sessions: HashMap<&str, (&str, &str)> = HashMap::new();
    let mut planned: HashMap<u64, (&str, &str)> = HashMap::new();
    for record in &records {
        match &record.event {
            Event::SessionOpened {
                session,
                protocol,
                user,
                ..
            } => {
                sessions.insert(session, (user, protocol));
            }
            Event::QueryPlanned { statement, .. } => {
                planned.insert(record.seq, (statement, &record.at));
            }
            _ => {}
        }
    }
    let finished: Vec<Value> = records
        .iter()
        .rev()
        .filter_map(|record| {
            let Event::QueryFinished {
                session,
                planned: seq,
                fingerprint,
                output_rows,
                error,
                ..
            } = &record.event
            else {
                return None;
            };
            let (user, protocol) = sessions.get(session.as_str()).copied()?;
            if user != caller.user {
                return None;
            }
            let (statement, started) = planned.get(seq).copied().unwrap_or(("", ""));
            Some(json!({
                "at": record.at,
                "user": user,
                "protocol": protocol,
                "statement": statement,
                "fingerprint": fingerprint,
                "duration_ms": millis_between(started, &record.at),
                "rows": output_rows,
                "error": error,
            }))
        })
        .take(limit)
        .collect();
    Ok(Json(json!({ "queries": finished })))
}

/// Milliseconds from one RFC 3339 time to a later one; `None` when either does not parse.
fn millis_between(from: &str, to: &str) -> Option<u64> {
    let from = humantime::parse_rfc3339(from).ok()?;
    let to = humantime::parse_rfc3339(to).ok()?;
    let elapsed = to.duration_since(from).ok()?;
    u64::try_from(elapsed.as_millis()).ok()
}
