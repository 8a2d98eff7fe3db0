//! OpenLineage run events as JSON (RunEvent 2-0-2), with the facets Canon knows: schema,
//! symlinks and column lineage on datasets, the SQL and job type on jobs, the engine,
//! the parent run and the error on runs.

use canon_model::lineage::{Direct, Influence, Lineage};
use serde_json::{Map, Value, json};

use super::naming::DatasetName;

const RUN_EVENT: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
const SYMLINKS: &str = "https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json#/$defs/SymlinksDatasetFacet";
const COLUMN_LINEAGE: &str = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet";
const SQL: &str = "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet";
const JOB_TYPE: &str =
    "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
const ENGINE: &str = "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet";
const ERROR: &str = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
const PARENT: &str =
    "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet";

/// Who produced the events: Canon, at its version (a URN: the spec asks for a URI).
pub(crate) const PRODUCER: &str = concat!("urn:canon:", env!("CARGO_PKG_VERSION"));

/// A facet: its fields, with the producer and schema every facet carries.
fn facet(schema: &str, fields: Value) -> Value {
    let mut facet = Map::new();
    facet.insert("_producer".into(), PRODUCER.into());
    facet.insert("_schemaURL".into(), schema.into());
    if let Value::Object(fields) = fields {
        facet.extend(fields);
    }
    Value::Object(facet)
}

/// A dataset Canon knows: its OpenLineage identity, Canon's name for it and its columns.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    pub name: DatasetName,
    /// The dataset's or model's name in the project.
    pub canon: String,
    /// Column names and types, in order.
    pub columns: Vec<(String, String)>,
}

/// A dataset in an event: identity and facets (schema and, when its identity is its
/// storage, a symlink to Canon's name).
pub(crate) fn dataset(known: &Known, namespace: &str, lineage: Option<Value>) -> Value {
    let fields: Vec<Value> = known
        .columns
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| json!({ "name": name, "type": ty, "ordinal_position": i + 1 }))
        .collect();
    let mut facets = Map::new();
    facets.insert("schema".into(), facet(SCHEMA, json!({ "fields": fields })));
    if known.name.namespace != namespace || known.name.name != known.canon {
        let identifier = json!({ "namespace": namespace, "name": known.canon, "type": "TABLE" });
        facets.insert(
            "symlinks".into(),
            facet(SYMLINKS, json!({ "identifiers": [identifier] })),
        );
    }
    if let Some(lineage) = lineage {
        facets.insert("columnLineage".into(), lineage);
    }
    json!({
        "namespace": known.name.namespace,
        "name": known.name.name,
        "facets": facets,
    })
}

/// The `columnLineage` facet of an output, from Canon's column lineage: each column's
/// DIRECT sources, and the INDIRECT columns that shape which rows there are. `find` gives
/// the identity of a table the lineage names; columns of tables it does not know are left
/// out.
pub(crate) fn column_lineage<'a>(
    lineage: &Lineage,
    find: impl Fn(&str) -> Option<&'a Known>,
) -> Value {
    let input = |table: &str, column: &str, kind: &str, subtype: &str| {
        find(table).map(|known| {
            json!({
                "namespace": known.name.namespace,
                "name": known.name.name,
                "field": column,
                "transformations": [{ "type": kind, "subtype": subtype }],
            })
        })
    };
    let mut fields = Map::new();
    for column in &lineage.columns {
        let inputs: Vec<Value> = column
            .sources
            .iter()
            .filter_map(|source| {
                let subtype = match column.kind(source).unwrap_or(Direct::Transformed) {
                    Direct::Copied => "IDENTITY",
                    Direct::Transformed => "TRANSFORMATION",
                    Direct::Aggregated => "AGGREGATION",
                };
                input(&source.table, &source.column, "DIRECT", subtype)
            })
            .collect();
        fields.insert(column.name.clone(), json!({ "inputFields": inputs }));
    }
    let dataset: Vec<Value> = lineage
        .influences
        .iter()
        .flat_map(|(source, how)| {
            how.iter().filter_map(|influence| {
                let subtype = match influence {
                    Influence::Filter => "FILTER",
                    Influence::Join => "JOIN",
                    Influence::Group => "GROUP_BY",
                    Influence::Sort => "SORT",
                    Influence::Window => "WINDOW",
                };
                input(&source.table, &source.column, "INDIRECT", subtype)
            })
        })
        .collect();
    facet(
        COLUMN_LINEAGE,
        json!({ "fields": fields, "dataset": dataset }),
    )
}

/// A run Canon makes: a statement or a model build.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub id: String,
    pub job_namespace: String,
    pub job_name: String,
    /// `QUERY` or `MODEL`.
    pub job_type: &'static str,
    /// The SQL it runs, if any.
    pub sql: Option<String>,
    pub inputs: Vec<Value>,
    pub outputs: Vec<Value>,
    /// The `parent` run facet, from the environment.
    pub parent: Option<Value>,
}

/// How a run's event is: `START`, `COMPLETE`, or `FAIL` with the error.
pub(crate) enum State<'a> {
    Start,
    Complete,
    Fail(&'a str),
}

/// One RunEvent of `run`.
pub(crate) fn run_event(run: &Run, state: State<'_>, at: &str) -> Value {
    let mut run_facets = Map::new();
    run_facets.insert(
        "processing_engine".into(),
        facet(
            ENGINE,
            json!({
                "name": "Apache DataFusion",
                "version": datafusion::DATAFUSION_VERSION,
                "openlineageAdapterVersion": env!("CARGO_PKG_VERSION"),
            }),
        ),
    );
    if let Some(parent) = &run.parent {
        run_facets.insert("parent".into(), parent.clone());
    }
    let event_type = match state {
        State::Start => "START",
        State::Complete => "COMPLETE",
        State::Fail(message) => {
            run_facets.insert(
                "errorMessage".into(),
                facet(
                    ERROR,
                    json!({ "message": message, "programmingLanguage": "RUST" }),
                ),
            );
            "FAIL"
        }
    };
    let mut job_facets = Map::new();
    job_facets.insert(
        "jobType".into(),
        facet(
            JOB_TYPE,
            json!({ "processingType": "BATCH", "integration": "CANON", "jobType": run.job_type }),
        ),
    );
    if let Some(sql) = &run.sql {
        job_facets.insert(
            "sql".into(),
            facet(SQL, json!({ "query": sql, "dialect": "datafusion" })),
        );
    }
    json!({
        "eventType": event_type,
        "eventTime": at,
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT,
        "run": { "runId": run.id, "facets": run_facets },
        "job": { "namespace": run.job_namespace, "name": run.job_name, "facets": job_facets },
        "inputs": run.inputs,
        "outputs": run.outputs,
    })
}

/// The `parent` run facet from `OPENLINEAGE_PARENT_ID` and `OPENLINEAGE_ROOT_PARENT_ID`
/// (`namespace/job/runId`, as Airflow and dbt set them); the root is the parent when
/// only the parent is given. `None` when the parent is unset or not of that form.
pub(crate) fn parent(parent: Option<&str>, root: Option<&str>) -> Option<Value> {
    let split = |text: &str| -> Option<(String, String, String)> {
        let mut parts = text.rsplitn(3, '/');
        let run = parts.next()?;
        let job = parts.next()?;
        let namespace = parts.next()?;
        let run = uuid::Uuid::parse_str(run).ok()?;
        (!job.is_empty() && !namespace.is_empty()).then(|| {
            (
                namespace.to_string(),
                job.to_string(),
                run.hyphenated().to_string(),
            )
        })
    };
    let (namespace, job, run) = split(parent?)?;
    let (root_namespace, root_job, root_run) = root
        .and_then(split)
        .unwrap_or_else(|| (namespace.clone(), job.clone(), run.clone()));
    Some(facet(
        PARENT,
        json!({
            "run": { "runId": run },
            "job": { "namespace": namespace, "name": job },
            "root": {
                "run": { "runId": root_run },
                "job": { "namespace": root_namespace, "name": root_job },
            },
        }),
    ))
}
