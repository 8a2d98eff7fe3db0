//! Compiling models: each model's query is planned against the contracts of what it reads,
//! never its data. Datasets and models stand in as empty tables with their contracts'
//! schemas, so no data file is listed or read and a model compiles the same before anything
//! is built. The plan's output schema is then checked against the model's own contract:
//! names and order, exact Arrow types, and nullability.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use canon_model::model::{IncrementalSpec, ModelKind, ModelSpec, build_order, contract_mismatches};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::SchemaProvider;
use datafusion::catalog::memory::MemorySchemaProvider;
use datafusion::datasource::empty::EmptyTable;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr, Spanned, Statement as SqlStatement};

use crate::diagnostics::Diagnostics;
use crate::error::{CanonError, CompileProblem, ModelError, Result, SqlSpot};
use crate::functions;
use crate::profile::RuntimeProfile;
use crate::project::Project;
use crate::sql::Lineage;

/// A model that compiled: what it reads and the schema its query yields (its contract's).
#[derive(Debug, Clone)]
pub struct CompiledModel {
    /// The model.
    pub name: String,
    /// Its kind.
    pub kind: ModelKind,
    /// The datasets and models its query reads, by name, sorted.
    pub reads: Vec<String>,
    /// The models among `reads`: what must be built before it.
    pub upstreams: Vec<String>,
    /// The schema its query yields, equal to its contract's.
    pub schema: SchemaRef,
    /// Its unoptimized logical plan against the contracts, for fingerprints and explanations.
    pub plan: LogicalPlan,
    /// Where each output column comes from: the columns of what it reads.
    pub lineage: Lineage,
}

/// Every model of a project, compiled, in build order.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    /// The models, each after every model it reads; ties in name order.
    pub models: Vec<CompiledModel>,
}

impl Compiled {
    /// The compiled model with this name.
    pub fn model(&self, name: &str) -> Option<&CompiledModel> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The models that read `name`, directly or through other models, in build order.
    pub fn downstream(&self, name: &str) -> Vec<&str> {
        let mut reached: BTreeSet<&str> = BTreeSet::from([name]);
        let mut out = Vec::new();
        for model in &self.models {
            if model.upstreams.iter().any(|u| reached.contains(u.as_str())) {
                reached.insert(&model.name);
                out.push(model.name.as_str());
            }
        }
        out
    }

    /// The models `name` reads, directly or through other models, in build order.
    pub fn upstream(&self, name: &str) -> Vec<&str> {
        let mut needed: BTreeSet<&str> = BTreeSet::from([name]);
        let mut out = Vec::new();
        for model in self.models.iter().rev() {
            if needed.contains(model.name.as_str()) {
                needed.extend(model.upstreams.iter().map(String::as_str));
                if model.name != name {
                    out.push(model.name.as_str());
                }
            }
        }
        out.reverse();
        out
    }
}

/// Compiles every model of `project` against the contracts it reads, and orders them.
pub async fn compile(project: &Project) -> Result<Compiled> {
    let state = contract_state(project).await?;
    let mut problems = Vec::new();
    let mut compiled = BTreeMap::new();
    for model in &project.models {
        match compile_model(&state, project, model).await {
            Ok(c) => {
                compiled.insert(model.name.clone(), c);
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    if !problems.is_empty() {
        return Err(ModelError::Compile(problems).into());
    }
    let upstreams: BTreeMap<String, BTreeSet<String>> = compiled
        .values()
        .map(|c: &CompiledModel| (c.name.clone(), c.upstreams.iter().cloned().collect()))
        .collect();
    let order = build_order(&upstreams).map_err(ModelError::from)?;
    let models = order
        .iter()
        .filter_map(|name| compiled.remove(name))
        .collect();
    Ok(Compiled { models })
}

/// The runtime's session template (profile, functions, macros, type planner) with every
/// dataset and model as an empty table of its contract's schema.
async fn contract_state(project: &Project) -> Result<SessionState> {
    let profile = RuntimeProfile::build(project)?;
    let formats = crate::formats::compiled(profile.stores());
    // Compiling plans in this process: workers would only ever see these plans' shapes.
    let mut state = crate::runtime::template(&profile, &formats, Vec::new(), &project.distributed)?;
    functions::install(
        &mut state,
        &project.functions,
        &project.overrides,
        &Diagnostics::new(),
    )
    .await?;
    let schema = MemorySchemaProvider::new();
    let contracts = project
        .datasets
        .iter()
        .map(|d| (&d.name, d.schema()))
        .chain(
            project
                .models
                .iter()
                .map(|m| (&m.name, m.contract.schema())),
        );
    for (name, contract) in contracts {
        schema.register_table(name.clone(), Arc::new(EmptyTable::new(contract)))?;
    }
    Ok(crate::registry::models::with_default_schema(
        &state,
        Arc::new(schema),
    )?)
}

/// What planning a model's query gives: the names it reads, its plan, and where each
/// output column's select item is.
struct Planned {
    reads: BTreeSet<String>,
    plan: LogicalPlan,
    projection: Option<Vec<(usize, usize)>>,
}

/// One model, compiled: planned, then its output checked against its own contract.
async fn compile_model(
    state: &SessionState,
    project: &Project,
    model: &ModelSpec,
) -> std::result::Result<CompiledModel, Vec<CompileProblem>> {
    let Planned {
        reads,
        plan,
        projection,
    } = plan_model(state, project, model)
        .await
        .map_err(|p| vec![p])?;
    let found = plan.schema().as_arrow().clone();
    let mismatches = contract_mismatches(&model.contract.schema(), &found);
    if !mismatches.is_empty() {
        return Err(mismatches
            .into_iter()
            .map(|m| {
                let at = m
                    .index
                    .and_then(|i| projection.as_ref().and_then(|p| p.get(i).copied()));
                problem(model, m.column.as_deref(), m.message, at)
            })
            .collect());
    }
    let lineage = crate::sql::lineage::in_session(&plan, state.config_options());
    let shed = shed_tags(project, model, &lineage);
    if !shed.is_empty() {
        return Err(shed
            .into_iter()
            .map(|(i, column, message)| {
                let at = projection.as_ref().and_then(|p| p.get(i).copied());
                problem(model, Some(&column), message, at)
            })
            .collect());
    }
    if model.incremental == Some(IncrementalSpec::Changes) {
        let wrong = match super::changes::feed_source(project, &reads) {
            Ok(source) => super::changes::not_row_wise(&plan, &source.name),
            Err(message) => Some(message),
        };
        if let Some(message) = wrong {
            return Err(vec![problem(model, None, message, None)]);
        }
    }
    let upstreams = reads
        .iter()
        .filter(|r| project.model(r).is_some())
        .cloned()
        .collect();
    Ok(CompiledModel {
        name: model.name.clone(),
        kind: model.kind,
        reads: reads.into_iter().collect(),
        upstreams,
        schema: Arc::new(found),
        plan,
        lineage,
    })
}

/// Every output column that receives a tagged column without declaring its tag, as
/// (position, column, message). Each model declares the tags its own columns carry, and
/// compile checks every model, so looking one step upstream covers the whole graph.
fn shed_tags(
    project: &Project,
    model: &ModelSpec,
    lineage: &Lineage,
) -> Vec<(usize, String, String)> {
    let mut shed = Vec::new();
    for (i, (column, traced)) in model
        .contract
        .columns
        .iter()
        .zip(&lineage.columns)
        .enumerate()
    {
        for source in &traced.sources {
            let contract = project.contract(&source.table);
            let Some(from) =
                contract.and_then(|c| c.columns.iter().find(|c| c.name == source.column))
            else {
                continue;
            };
            for tag in from.tags.iter().filter(|t| !column.tags.contains(t)) {
                let message = format!(
                    "receives `{}.{}`, tagged `{tag}`, without the tag: declare tags = [\"{tag}\"] on \
                     the column (tags follow the data, whatever it is renamed to)",
                    source.table, source.column
                );
                shed.push((i, column.name.clone(), message));
            }
        }
    }
    shed
}

/// The schema a model's query yields, whatever its contract says: the contract
/// `canon compile --infer` prints.
pub async fn infer(project: &Project, name: &str) -> Result<SchemaRef> {
    let Some(model) = project.model(name) else {
        return Err(unknown_model(project, name).into());
    };
    let state = contract_state(project).await?;
    let planned = plan_model(&state, project, model)
        .await
        .map_err(|p| ModelError::Compile(vec![p]))?;
    Ok(Arc::new(planned.plan.schema().as_arrow().clone()))
}

/// The error for a model name the project does not declare.
pub(crate) fn unknown_model(project: &Project, name: &str) -> ModelError {
    ModelError::Unknown {
        name: name.to_string(),
        declared: project.models.iter().map(|m| m.name.clone()).collect(),
    }
}

fn problem(
    model: &ModelSpec,
    column: Option<&str>,
    message: String,
    at: Option<(usize, usize)>,
) -> CompileProblem {
    CompileProblem {
        model: model.name.clone(),
        column: column.map(str::to_string),
        message,
        at: at.and_then(|(line, column)| spot(model, line, column)),
    }
}

/// A model's query parsed in the project's dialect, refused unless it is one query, and
/// planned against the contracts.
async fn plan_model(
    state: &SessionState,
    project: &Project,
    model: &ModelSpec,
) -> std::result::Result<Planned, CompileProblem> {
    let sql = &model.sql.text;
    let failed = |e: CanonError| {
        let (message, at) = crate::sql::report::position(&e, sql);
        problem(model, None, message, at)
    };
    let limit = state.config_options().sql_parser.recursion_limit.get();
    let mut statements = project
        .policy
        .parse_with_limit(sql, limit)
        .map_err(|e| failed(e.into()))?;
    let statement = match (statements.pop(), statements.is_empty()) {
        (Some(statement), true) => statement,
        (last, _) => {
            let found = statements.len() + usize::from(last.is_some());
            let message = format!("a model is one query; found {found} statements");
            return Err(problem(model, None, message, None));
        }
    };
    let query = match &statement {
        Statement::Statement(s) if matches!(s.as_ref(), SqlStatement::Query(_)) => s,
        other => {
            let what = match canon_model::policy::classify(other).rule() {
                Some("allow_ddl") => "DDL",
                Some("allow_dml") => "DML",
                _ => "a statement that is not a query",
            };
            let message = format!(
                "a model is a query (SELECT …), but this is {what}: models read datasets and \
                 never change the catalog or data"
            );
            return Err(problem(model, None, message, start_of(other)));
        }
    };
    let projection = select_items(query);
    let references = state
        .resolve_table_references(&statement)
        .map_err(|e| failed(e.into()))?;
    let reads: BTreeSet<String> = references.iter().map(|r| r.table().to_string()).collect();
    let plan = match state.statement_to_plan(statement.clone()).await {
        Ok(plan) => plan,
        Err(e) => {
            let mut problem = failed(e.into());
            let known =
                |name: &&String| project.dataset(name).is_some() || project.model(name).is_some();
            if let Some(name) = reads.iter().find(|name| !known(name)) {
                problem.message = format!("reads `{name}`, which is neither a dataset nor a model");
            }
            return Err(problem);
        }
    };
    Ok(Planned {
        reads,
        plan,
        projection,
    })
}

/// Where each output column's select item starts, when the query is a plain SELECT whose
/// items map one to one onto its output (no `*`).
fn select_items(query: &SqlStatement) -> Option<Vec<(usize, usize)>> {
    let SqlStatement::Query(query) = query else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => None,
            item => location(item.span().start),
        })
        .collect()
}

fn start_of(statement: &Statement) -> Option<(usize, usize)> {
    match statement {
        Statement::Statement(s) => location(s.span().start),
        _ => None,
    }
}

fn location(at: datafusion::sql::sqlparser::tokenizer::Location) -> Option<(usize, usize)> {
    let line = usize::try_from(at.line).ok().filter(|l| *l > 0)?;
    let column = usize::try_from(at.column).ok().filter(|c| *c > 0)?;
    Some((line, column))
}

/// The place `line:column` of a model's query, in its file.
fn spot(model: &ModelSpec, line: usize, column: usize) -> Option<SqlSpot> {
    let text = model.sql.text.split('\n').nth(line.checked_sub(1)?)?;
    let (file_line, file_column) = model.sql.locate(line, column);
    Some(SqlSpot {
        file: model.sql.file.clone(),
        line: file_line,
        column: file_column,
        text: text.strip_suffix('\r').unwrap_or(text).to_string(),
        caret: column,
    })
}
