//! Building models, write-audit-publish: each stored model's query runs in a session of
//! the runtime, its rows are checked against the model's contract (key uniqueness first,
//! then every row's types, NOT NULL columns and constraints as it is written), and only
//! then replace the table, in one commit. A model that fails commits nothing, and the
//! models that read it are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use canon_model::model::{IncrementalSpec, ModelKind, ModelSpec};
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{ident, lit};
use tokio::task::JoinSet;

use super::changes;
use super::compile::{Compiled, CompiledModel, compile, unknown_model};
use super::incremental;
use super::record::{self, BuildRecord, KEY};
use crate::diagnostics::{Diagnostics, Event};
use crate::error::{CanonError, ModelError, Result};
use crate::policy::SqlPolicy;
use crate::profile::RuntimeProfile;
use crate::project::Project;
use crate::registry::{CommitMetadata, Formats, format_of};
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
    /// Rebuild incremental models from all their query's rows instead of the new ones.
    pub full_refresh: bool,
    /// How many models may build at once (models that do not read each other); 0 for as
    /// many as the machine has cores.
    pub jobs: usize,
}

/// What became of one model in a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Its table was replaced with the rows its query yields now, or (append) the new
    /// rows were added to it.
    Built,
    /// An incremental model with no new rows: no commit was made.
    Unchanged,
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
            Self::Unchanged => "unchanged",
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
            .all(|m| matches!(m.status, Status::Built | Status::Unchanged | Status::View))
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

/// Compiles the project's models, then builds the selected ones in dependency order, at
/// most [`BuildOptions::jobs`] at a time. Compile errors stop the build before anything
/// runs; a model that fails stops only the models downstream of it.
pub async fn build(
    project: Project,
    diagnostics: Diagnostics,
    options: &BuildOptions,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<BuildReport> {
    let compiled = compile(&project).await?;
    let selected = select(&project, &compiled, options)?;
    let profile = RuntimeProfile::build(&project)?;
    let formats = crate::formats::compiled(profile.stores());
    let tables = create_tables(&formats, &project, &selected).await?;
    let runtime = Arc::new(Runtime::new(project, diagnostics).await?);
    // The project declares its models, so a build may write their tables whatever the
    // policy says of DML in sessions; the queries themselves compiled as queries.
    let policy = SqlPolicy {
        allow_dml: true,
        ..runtime.project().policy.clone()
    };
    let context = Arc::new(Context {
        runtime: Arc::clone(&runtime),
        session: runtime.session().with_policy(policy),
        formats,
        tables,
        full_refresh: options.full_refresh,
    });
    let jobs = match options.jobs {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };

    // Each model starts once every selected model it reads has finished; models outside
    // the selection are taken as built.
    let position: BTreeMap<&str, usize> = selected
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut waiting: Vec<&CompiledModel> =
        selected.iter().filter_map(|n| compiled.model(n)).collect();
    let mut finished: BTreeMap<String, Status> = BTreeMap::new();
    // Each build is a task of its own, so that builds side by side use every worker of
    // the runtime, not only the one polling this function.
    let mut running = JoinSet::new();
    let mut tasks = std::collections::HashMap::new();
    let mut started = 0;
    let mut report = BuildReport::default();
    loop {
        let mut i = 0;
        while i < waiting.len() && running.len() < jobs {
            let node = waiting[i];
            let ready = node
                .upstreams
                .iter()
                .all(|u| !position.contains_key(u.as_str()) || finished.contains_key(u));
            if !ready {
                i += 1;
                continue;
            }
            waiting.remove(i);
            started += 1;
            progress(Progress::Started {
                model: &node.name,
                index: started,
                total: selected.len(),
            });
            let blocked = node
                .upstreams
                .iter()
                .find(|u| matches!(finished.get(*u), Some(Status::Failed | Status::Skipped)))
                .cloned();
            let task = running.spawn(Arc::clone(&context).model(node.clone(), blocked));
            tasks.insert(task.id(), (node.name.clone(), node.kind));
        }
        let Some(joined) = running.join_next_with_id().await else {
            break;
        };
        // A build that panicked fails its model, as an error would.
        let line = match joined {
            Ok((_, line)) => line,
            Err(e) => {
                let (model, kind) = tasks
                    .remove(&e.id())
                    .unwrap_or_else(|| (String::new(), ModelKind::Table));
                ModelBuild {
                    model,
                    kind,
                    status: Status::Failed,
                    rows: None,
                    seconds: 0.0,
                    message: Some(format!("its build stopped: {e}")),
                }
            }
        };
        runtime.diagnostics().record(Event::ModelBuilt {
            model: line.model.clone(),
            model_kind: line.kind.name().to_string(),
            status: line.status.name().to_string(),
            rows: line.rows,
            elapsed_ms: (line.seconds * 1000.0) as u64,
            message: line.message.clone(),
        })?;
        progress(Progress::Finished(&line));
        finished.insert(line.model.clone(), line.status);
        report.models.push(line);
    }
    report
        .models
        .sort_by_key(|m| position.get(m.model.as_str()).copied());
    Ok(report)
}

/// What every model's build shares.
struct Context {
    runtime: Arc<Runtime>,
    session: Session,
    formats: Formats,
    tables: Vec<(String, std::result::Result<(), String>)>,
    full_refresh: bool,
}

impl Context {
    /// Builds one model (or skips it, when `blocked` names an upstream that did not build)
    /// and says what became of it.
    async fn model(self: Arc<Self>, node: CompiledModel, blocked: Option<String>) -> ModelBuild {
        let node = &node;
        let started = Instant::now();
        let name = &node.name;
        let line = |status, rows, message| ModelBuild {
            model: name.clone(),
            kind: node.kind,
            status,
            rows,
            seconds: started.elapsed().as_secs_f64(),
            message,
        };
        let Some(model) = self.runtime.project().model(name) else {
            let missing = unknown_model(self.runtime.project(), name).to_string();
            return line(Status::Failed, None, Some(missing));
        };
        let created = self.tables.iter().find(|(n, _)| n == name).map(|(_, r)| r);
        let (status, rows, message) = if let Some(upstream) = blocked {
            let message = format!("`{upstream}`, which it reads, did not build");
            (Status::Skipped, None, Some(message))
        } else if let Some(Err(message)) = created {
            (Status::Failed, None, Some(message.clone()))
        } else if !model.kind.is_stored() {
            (Status::View, None, None)
        } else {
            let record = BuildRecord::of(model, crate::sql::fingerprint(&node.plan));
            let events = self.runtime.lineage_events();
            let run = events.and_then(|e| e.model_started(name, &node.reads, &node.lineage));
            let written = async {
                let previous = last_record(&self.formats, model).await?;
                let feed = feed(&self.runtime, model, node).await?;
                build_one(
                    &self.session,
                    model,
                    record,
                    previous,
                    feed,
                    self.full_refresh,
                )
                .await
            }
            .await;
            if let Some(run) = run {
                let failed = written.as_ref().err().map(reason);
                run.finish(failed.as_deref());
            }
            match written {
                Ok(Some(rows)) => (Status::Built, Some(rows), None),
                Ok(None) => (Status::Unchanged, Some(0), Some("no new rows".to_string())),
                Err(e) => (Status::Failed, None, Some(reason(&e))),
            }
        };
        line(status, rows, message)
    }
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
    formats: &Formats,
    project: &Project,
    selected: &[String],
) -> Result<Vec<(String, std::result::Result<(), String>)>> {
    let mut out = Vec::new();
    for model in selected.iter().filter_map(|n| project.model(n)) {
        if !model.kind.is_stored() {
            continue;
        }
        let format = model.contract.format;
        let created = match format_of(formats, format) {
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

/// The record the model's last build committed, if its table has one.
async fn last_record(formats: &Formats, model: &ModelSpec) -> Result<Option<BuildRecord>> {
    let value = record::last(formats, model).await?;
    // A record this version of Canon cannot read is as good as none: the model starts over.
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

/// The change feed a changes model reads: its upstream, that upstream's key, and the
/// version the build reads up to (the upstream's latest when the build starts).
struct Feed {
    source: String,
    key: Vec<String>,
    version: u64,
}

/// The feed of a changes model; `None` for every other model.
async fn feed(runtime: &Runtime, model: &ModelSpec, node: &CompiledModel) -> Result<Option<Feed>> {
    if model.incremental != Some(IncrementalSpec::Changes) {
        return Ok(None);
    }
    let project = runtime.project();
    let fail = |reason: String| -> CanonError {
        ModelError::NeedsFullRefresh {
            model: model.name.clone(),
            reason,
        }
        .into()
    };
    let upstream = changes::feed_source(project, &node.reads).map_err(fail)?;
    let (source, key) = (upstream.name.clone(), upstream.primary_key.clone());
    let newest = match runtime.dataset(&source) {
        Some(dataset) => dataset.commits(1).await,
        None => None,
    };
    let version = match newest {
        Some(Ok(commits)) => commits.first().map(|c| c.version),
        Some(Err(e)) => return Err(CanonError::Format(e)),
        None => None,
    };
    let version =
        version.ok_or_else(|| fail(format!("`{source}` has no Delta log to read changes from")))?;
    Ok(Some(Feed {
        source,
        key,
        version,
    }))
}

/// Builds one stored model: picks its rows (all of them, or an incremental model's new or
/// changed ones), audits their keys, then writes them with `record` in one commit. `None`
/// when an incremental model has nothing new, and so nothing was committed.
async fn build_one(
    session: &Session,
    model: &ModelSpec,
    mut record: BuildRecord,
    previous: Option<BuildRecord>,
    feed: Option<Feed>,
    full_refresh: bool,
) -> Result<Option<u64>> {
    let resumed = previous.as_ref().filter(|_| !full_refresh);
    if let (Some(feed), Some(before)) = (&feed, resumed) {
        record.upstream_version = Some(feed.version);
        incremental::can_resume(model, before, &record)?;
        let Some(applied) = before.upstream_version else {
            return Err(ModelError::NeedsFullRefresh {
                model: model.name.clone(),
                reason: "its last build recorded no upstream version".to_string(),
            }
            .into());
        };
        if applied >= feed.version {
            return Ok(None);
        }
        let from = applied.saturating_add(1);
        let (rows, count) =
            changes::merge_rows(session, model, &feed.source, &feed.key, from, feed.version)
                .await?;
        if count == 0 {
            return Ok(None);
        }
        let upserts = rows
            .clone()
            .filter(ident(changes::CHANGE).eq(lit(changes::UPSERT)))?
            .drop_columns(&[changes::CHANGE])?;
        audit(model, upserts).await?;
        let session = session.with_extension(Arc::new(metadata(&record)?));
        // What the merge changed: a delete of a key the table does not hold counts for
        // nothing.
        return Ok(Some(merge(&session, model, rows, true).await?));
    }
    if let Some(feed) = &feed {
        // A first build or a full refresh reads the upstream from this version on (a later
        // one, if another writer commits meanwhile: applying those changes again at the
        // next build leaves the same rows).
        record.upstream_version = Some(feed.version);
    }
    let all = session.sql(&model.sql.text).await?;
    let (rows, replace, count) = match model.kind {
        ModelKind::Append | ModelKind::Merge => {
            let new = incremental::new_rows(
                session,
                model,
                all,
                previous.as_ref(),
                &record,
                full_refresh,
            )
            .await?;
            if new.count == 0 && !new.replace {
                return Ok(None);
            }
            record.watermark = new.watermark;
            (new.rows, new.replace, new.count)
        }
        ModelKind::Table | ModelKind::View => (all, true, 0),
    };
    audit(model, rows.clone()).await?;
    let session = session.with_extension(Arc::new(metadata(&record)?));
    if model.kind == ModelKind::Merge && !replace {
        merge(&session, model, rows, false).await?;
        return Ok(Some(count));
    }
    // The rows were planned in the build session; the write runs in one that records them.
    let rows = DataFrame::new(session.ctx.state(), rows.logical_plan().clone());
    Ok(Some(session.insert(&model.name, rows, replace).await?))
}

/// Fails unless every key of the model's contract is unique among `rows`.
async fn audit(model: &ModelSpec, rows: DataFrame) -> Result<()> {
    let keys = std::iter::once(&model.contract.primary_key)
        .chain(&model.contract.unique)
        .filter(|k| !k.is_empty());
    for key in keys {
        if let Some(found) = crate::check::keys::duplicates(rows.clone(), key).await? {
            return Err(ModelError::NotUnique {
                model: model.name.clone(),
                key: key.clone(),
                duplicate: format!("{} is held by {} rows", found.sample, found.rows),
            }
            .into());
        }
    }
    Ok(())
}

/// The commit metadata that carries a build's record.
fn metadata(record: &BuildRecord) -> Result<CommitMetadata> {
    let record = serde_json::to_value(record).map_err(|e| {
        CanonError::DataFusion(datafusion::error::DataFusionError::External(e.into()))
    })?;
    Ok(CommitMetadata(
        [(KEY.to_string(), record)].into_iter().collect(),
    ))
}

/// The prefix of the scratch table a merge build reads its changed rows from (one per
/// model, since models build side by side in one catalog).
const MERGE_SOURCE: &str = "canon_merge_source_";

/// Merges `rows` into a model's table by its primary key: a matched row takes the new
/// values, an unmatched one is inserted; with `changes`, a row marked for deletion
/// ([`changes::CHANGE`]) deletes its key instead. One `MERGE` statement, so one commit;
/// what it reports it changed.
async fn merge(
    session: &Session,
    model: &ModelSpec,
    rows: DataFrame,
    changes: bool,
) -> Result<u64> {
    let q = canon_model::util::quote_ident;
    let columns: Vec<&str> = model
        .contract
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let on: Vec<String> = model
        .contract
        .primary_key
        .iter()
        .map(|k| format!("t.{} = s.{}", q(k), q(k)))
        .collect();
    let set: Vec<String> = columns
        .iter()
        .filter(|c| !model.contract.primary_key.iter().any(|k| k == *c))
        .map(|c| format!("{} = s.{}", q(c), q(c)))
        .collect();
    let names: Vec<String> = columns.iter().map(|c| q(c)).collect();
    let values: Vec<String> = columns.iter().map(|c| format!("s.{}", q(c))).collect();
    let (delete, insert_when) = if changes {
        let is = |what: &str| format!("s.{} = '{what}'", q(changes::CHANGE));
        (
            format!(" WHEN MATCHED AND {} THEN DELETE", is(changes::DELETE)),
            format!(" AND {}", is(changes::UPSERT)),
        )
    } else {
        (String::new(), String::new())
    };
    let matched = if set.is_empty() {
        String::new()
    } else {
        format!(" WHEN MATCHED THEN UPDATE SET {}", set.join(", "))
    };
    let scratch = format!("{MERGE_SOURCE}{}", model.name);
    let sql = format!(
        "MERGE INTO {} AS t USING {} AS s ON {}{delete}{matched} \
         WHEN NOT MATCHED{insert_when} THEN INSERT ({}) VALUES ({})",
        q(&model.name),
        q(&scratch),
        on.join(" AND "),
        names.join(", "),
        values.join(", ")
    );
    let table = datafusion::common::TableReference::bare(scratch.as_str());
    session
        .ctx
        .register_table(table.clone(), rows.into_view())?;
    // Canon writes this statement, quoted as the generic dialect quotes, whatever dialect
    // the project's queries are read in.
    let merged = async {
        let mut statements = canon_model::dialect::parse("generic", &sql)?;
        let statement = statements.pop().ok_or_else(|| {
            CanonError::DataFusion(datafusion::error::DataFusionError::Plan(
                "the merge statement is empty".to_string(),
            ))
        })?;
        let batches = session.statement(statement).await?.collect().await?;
        Ok::<_, CanonError>(crate::session::rows_affected(&batches))
    }
    .await;
    session.ctx.deregister_table(table)?;
    merged
}
