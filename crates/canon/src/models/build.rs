//! Building models, write-audit-publish: each stored model's query runs in a session of
//! the runtime, its rows are checked against the model's contract (key uniqueness first,
//! then every row's types, NOT NULL columns and constraints as it is written), and only
//! then replace the table, in one commit. A model that fails commits nothing, and the
//! models that read it are skipped.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use canon_model::model::{ModelKind, ModelSpec};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::prelude::{Expr, ident, lit};

use super::compile::{Compiled, compile, unknown_model};
use super::record::{BuildRecord, KEY};
use crate::diagnostics::Diagnostics;
use crate::error::{CanonError, ModelError, Result};
use crate::policy::SqlPolicy;
use crate::profile::RuntimeProfile;
use crate::project::Project;
use crate::registry::CommitMetadata;
use crate::runtime::Runtime;
use crate::session::Session;

/// Which models a build takes.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The models named; every model when empty.
    pub models: Vec<String>,
    /// Also every model the named ones read, directly or not.
    pub upstream: bool,
    /// Also every model that reads the named ones, directly or not.
    pub downstream: bool,
}

/// What became of one model in a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Its table was replaced with the rows its query yields now.
    Built,
    /// A view: nothing to store; it reads its upstreams whenever it is queried.
    View,
    /// Its query or its audit failed; nothing was committed.
    Failed,
    /// A model it reads failed or was skipped, so it did not run.
    Skipped,
}

impl Status {
    /// The status as the build summary shows it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Built => "built",
            Self::View => "view",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One model's line of the build summary.
#[derive(Debug, Clone)]
pub struct ModelBuild {
    /// The model.
    pub model: String,
    /// Its kind.
    pub kind: ModelKind,
    /// What became of it.
    pub status: Status,
    /// The rows written (built models only).
    pub rows: Option<u64>,
    /// How long it took.
    pub seconds: f64,
    /// Why it failed or was skipped.
    pub message: Option<String>,
}

/// Every model a build took, in build order.
#[derive(Debug, Clone, Default)]
pub struct BuildReport {
    /// One line per model.
    pub models: Vec<ModelBuild>,
}

impl BuildReport {
    /// Whether no model failed (and so none was skipped).
    pub fn ok(&self) -> bool {
        self.models
            .iter()
            .all(|m| matches!(m.status, Status::Built | Status::View))
    }
}

/// What a build reports while it runs.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A model starts: its place in the build and how many models the build takes.
    Started {
        /// The model.
        model: &'a str,
        /// 1-based.
        index: usize,
        /// How many models the build takes.
        total: usize,
    },
    /// A model is done.
    Finished(&'a ModelBuild),
}

/// Compiles the project's models, then builds the selected ones in dependency order.
/// Compile errors stop the build before anything runs; a model that fails stops only the
/// models downstream of it.
pub async fn build(
    project: Project,
    diagnostics: Diagnostics,
    options: &BuildOptions,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<BuildReport> {
    let compiled = compile(&project).await?;
    let selected = select(&project, &compiled, options)?;
    let tables = create_tables(&project, &selected).await?;
    let runtime = Runtime::new(project, diagnostics).await?;
    // The project declares its models, so a build may write their tables whatever the
    // policy says of DML in sessions; the queries themselves compiled as queries.
    let policy = SqlPolicy {
        allow_dml: true,
        ..runtime.project().policy.clone()
    };
    let session = runtime.session().with_policy(policy);

    let total = selected.len();
    let mut stopped: BTreeSet<String> = BTreeSet::new();
    let mut report = BuildReport::default();
    for (i, name) in selected.iter().enumerate() {
        let (Some(model), Some(node)) = (runtime.project().model(name), compiled.model(name))
        else {
            continue;
        };
        progress(Progress::Started {
            model: name,
            index: i + 1,
            total,
        });
        let started = Instant::now();
        let blocked = node.upstreams.iter().find(|u| stopped.contains(*u));
        let (status, rows, message) = if let Some(upstream) = blocked {
            let message = format!("`{upstream}`, which it reads, did not build");
            (Status::Skipped, None, Some(message))
        } else if let Some(Err(message)) = tables.iter().find(|(n, _)| n == name).map(|(_, r)| r) {
            (Status::Failed, None, Some(message.clone()))
        } else if !model.kind.is_stored() {
            (Status::View, None, None)
        } else {
            let record = BuildRecord::of(model, crate::sql::fingerprint(&node.plan));
            match build_one(&session, model, &record).await {
                Ok(rows) => (Status::Built, Some(rows), None),
                Err(e) => (Status::Failed, None, Some(reason(&e))),
            }
        };
        if matches!(status, Status::Failed | Status::Skipped) {
            stopped.insert(name.clone());
        }
        let line = ModelBuild {
            model: name.clone(),
            kind: model.kind,
            status,
            rows,
            seconds: started.elapsed().as_secs_f64(),
            message,
        };
        progress(Progress::Finished(&line));
        report.models.push(line);
    }
    Ok(report)
}

/// Why a model failed, for people: an error Canon raised inside DataFusion (a constraint
/// violation) as its own message, without DataFusion's wrapping.
fn reason(error: &CanonError) -> String {
    match error {
        CanonError::DataFusion(e) => match e.find_root() {
            datafusion::error::DataFusionError::External(inner) => inner.to_string(),
            root => root.strip_backtrace(),
        },
        other => other.to_string(),
    }
}

/// The models a build takes, in build order.
fn select(project: &Project, compiled: &Compiled, options: &BuildOptions) -> Result<Vec<String>> {
    if options.models.is_empty() {
        return Ok(compiled.models.iter().map(|m| m.name.clone()).collect());
    }
    let mut wanted: BTreeSet<&str> = BTreeSet::new();
    for name in &options.models {
        if compiled.model(name).is_none() {
            return Err(unknown_model(project, name).into());
        }
        wanted.insert(name);
        if options.upstream {
            wanted.extend(compiled.upstream(name));
        }
        if options.downstream {
            wanted.extend(compiled.downstream(name));
        }
    }
    Ok(compiled
        .models
        .iter()
        .filter(|m| wanted.contains(m.name.as_str()))
        .map(|m| m.name.clone())
        .collect())
}

/// Creates the table of every selected stored model that has none yet, so the runtime
/// registers it; per model, what creating it gave (a failure fails that model's build).
async fn create_tables(
    project: &Project,
    selected: &[String],
) -> Result<Vec<(String, std::result::Result<(), String>)>> {
    let profile = RuntimeProfile::build(project)?;
    let formats = crate::formats::compiled(profile.stores());
    let mut out = Vec::new();
    for model in selected.iter().filter_map(|n| project.model(n)) {
        if !model.kind.is_stored() {
            continue;
        }
        let format = model.contract.format;
        let created = match formats.iter().find(|f| f.name() == format.name()) {
            Some(f) => f
                .create_if_absent(&model.contract)
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot create its table: {e}")),
            None => Err(format!(
                "models are stored as {format} tables, and this build of Canon has no {format} \
                 support (cargo feature `{format}`)"
            )),
        };
        out.push((model.name.clone(), created));
    }
    Ok(out)
}

/// Builds one stored model: audits its keys, then replaces its table with its rows,
/// committing `record` with them.
async fn build_one(session: &Session, model: &ModelSpec, record: &BuildRecord) -> Result<u64> {
    let keys = std::iter::once(&model.contract.primary_key)
        .chain(&model.contract.unique)
        .filter(|k| !k.is_empty());
    for key in keys {
        if let Some(duplicate) = duplicate_key(session, model, key).await? {
            return Err(ModelError::NotUnique {
                model: model.name.clone(),
                key: key.clone(),
                duplicate,
            }
            .into());
        }
    }
    let record = serde_json::to_value(record).map_err(|e| {
        CanonError::DataFusion(datafusion::error::DataFusionError::External(e.into()))
    })?;
    let metadata = CommitMetadata([(KEY.to_string(), record)].into_iter().collect());
    let session = session.with_extension(Arc::new(metadata));
    let rows = session.sql(&model.sql.text).await?;
    session.insert(&model.name, rows, true).await
}

/// One value of `key` that more than one of the model's rows hold (NULLs aside, as a
/// unique key allows them), shown as `column = value` pairs with its count.
async fn duplicate_key(
    session: &Session,
    model: &ModelSpec,
    key: &[String],
) -> Result<Option<String>> {
    let columns: Vec<Expr> = key.iter().map(ident).collect();
    let not_null = columns
        .iter()
        .cloned()
        .map(Expr::is_not_null)
        .reduce(Expr::and)
        .unwrap_or_else(|| lit(true));
    let found = session
        .sql(&model.sql.text)
        .await?
        .filter(not_null)?
        .aggregate(columns, vec![count(lit(1)).alias("canon_rows")])?
        .filter(ident("canon_rows").gt(lit(1_i64)))?
        .limit(0, Some(1))?
        .collect()
        .await?;
    let Some(batch) = found.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let options = FormatOptions::default();
    let value = |i: usize| {
        ArrayFormatter::try_new(batch.column(i).as_ref(), &options)
            .map(|f| f.value(0).to_string())
            .unwrap_or_default()
    };
    let pairs: Vec<String> = key
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{column} = {}", value(i)))
        .collect();
    Ok(Some(format!(
        "{} is held by {} rows",
        pairs.join(", "),
        value(key.len())
    )))
}
