//! The runtime: built once per project load. It owns the profile (config, runtime
//! environment), the session template, the registered datasets and the diagnostics, and
//! is the only place sessions come from.

use std::path::Path;
use std::sync::Arc;

use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    SchemaProvider, TableProvider,
};
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::optimizer::analyzer::Analyzer;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;

use crate::contract::ArrowTypePlanner;
use crate::diagnostics::{Diagnostics, Event};
#[cfg(feature = "distributed")]
use crate::distributed::{DatasetFiles, WorkerSessions};
use crate::error::Result;
#[cfg(feature = "distributed")]
use crate::evolution::EvolutionAdapterFactory;
use crate::evolution::WithoutFileStatistics;
use crate::functions;
use crate::hosted::HostedSchema;
use crate::prepared::{self, Declared, SessionStatements};
use crate::profile::RuntimeProfile;
use crate::project::Project;
use crate::registry::{self, DatasetTables, Formats, RegisteredDataset};
pub use crate::session::SYSTEM_SCHEMA;
use crate::session::{Session, SessionSchema};
use crate::system;
use canon_model::distributed::DistributedSpec;
#[cfg(feature = "distributed")]
use datafusion::physical_expr_adapter::PhysicalExprAdapterFactory;

/// A loaded project, ready to hand out sessions.
pub struct Runtime {
    project: Project,
    profile: RuntimeProfile,
    template: SessionState,
    datasets: Arc<Vec<Arc<RegisteredDataset>>>,
    tables: DatasetTables,
    system: Arc<dyn SchemaProvider>,
    diagnostics: Diagnostics,
    /// Canon's system statements and the project's, executable in every session.
    declared: Arc<Vec<Declared>>,
    /// OpenLineage's emitter, when the project sends events (`[lineage] openlineage`).
    lineage_events: Option<Arc<crate::openlineage::Emitter>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("project", &self.project.name)
            .field("fingerprint", &self.profile.fingerprint())
            .field("datasets", &self.tables.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Whether a table is a listing of files, which a query may scan twice and read alike (a
/// Delta table's scans each load its newest snapshot).
fn lists_files(table: &dyn TableProvider) -> bool {
    let table = table as &dyn std::any::Any;
    table.is::<ListingTable>() || table.is::<WithoutFileStatistics>()
}

/// The session template: the profile's config and runtime, DataFusion's default
/// functions and formats, the factories of Canon's own table formats, and Canon's type
/// planner. Catalogs are added per session.
pub(crate) fn template(
    profile: &RuntimeProfile,
    formats: &Formats,
    workers: Vec<url::Url>,
    distributed: &DistributedSpec,
) -> Result<SessionState> {
    // The dictionary counts and sampled shares the join order's estimates read, shared by
    // every session.
    let config = profile
        .session_config()
        .clone()
        .with_extension(Arc::new(crate::optimizer::DictionaryCounts::default()))
        .with_extension(Arc::new(crate::optimizer::SampledShares::default()));
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(Arc::clone(profile.runtime_env()))
        .with_default_features()
        .with_type_planner(Arc::new(ArrowTypePlanner))
        .with_catalog_list(Arc::new(MemoryCatalogProviderList::new()));
    // First, so that the plan a kept plan expands to passes every other analyzer rule.
    let mut analyzer = Analyzer::new().rules;
    analyzer.insert(0, Arc::new(crate::plans::ExpandReused));
    // Before Canon's rules add key sets, so that the aliases they carry are their own.
    analyzer.insert(1, Arc::new(crate::optimizer::ReservedAliases));
    builder = builder.with_analyzer_rules(analyzer);
    for rule in crate::optimizer::rules(lists_files) {
        builder = builder.with_optimizer_rule(rule);
    }
    let physical = PhysicalOptimizer::new().rules;
    builder =
        builder.with_physical_optimizer_rules(crate::optimizer::with_estimates_forgotten(physical));
    let memory = profile.runtime_env().memory_pool.memory_limit();
    let distributes = !workers.is_empty();
    let metadata = profile
        .runtime_env()
        .cache_manager
        .get_file_metadata_cache();
    for rule in crate::optimizer::physical_rules(memory, metadata, distributes) {
        builder = builder.with_physical_optimizer_rule(rule);
    }
    if !distributes {
        // A distributed plan crosses processes, which a shared result cannot.
        let reused = Arc::new(crate::plans::ReusedPlanner);
        let planner = crate::optimizer::SharingPlanner::with_planners(vec![reused]);
        builder = builder.with_query_planner(Arc::new(planner));
    }
    // Without the feature `distributed::workers` refuses declared workers, so there are
    // none here.
    #[cfg(feature = "distributed")]
    if distributes {
        builder = crate::distributed::coordinate(builder, workers, distributed)?;
    }
    #[cfg(not(feature = "distributed"))]
    let _ = (workers, distributed);
    let mut state = builder.build();
    if distributes {
        crate::distributed::mark(&mut state);
        // A distributed plan is planned by the coordinator's planner, which keeps the
        // query's order.
        state
            .config_mut()
            .set_extension(Arc::new(crate::profile::JoinOrderKind::Written));
    }
    for format in formats.iter() {
        state
            .table_factories_mut()
            .insert(format.stored_as().to_string(), format.factory());
    }
    Ok(state)
}

/// Buffered diagnostics reach the log when the runtime goes, even while sessions made from
/// it live on (they flush again when the last of them is dropped).
impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(emitter) = &self.lineage_events {
            emitter.drain();
        }
        if let Err(error) = self.diagnostics.flush() {
            tracing::error!(%error, "flushing diagnostics when the runtime was dropped");
        }
    }
}

impl Runtime {
    /// Loads a project file and builds its runtime, with in-memory diagnostics.
    pub async fn load(file: impl AsRef<Path>) -> Result<Self> {
        Self::new(Project::load(file)?, Diagnostics::new()).await
    }

    /// Builds the runtime for a validated project: profile, template, registration.
    pub async fn new(project: Project, diagnostics: Diagnostics) -> Result<Self> {
        diagnostics.set_on_write_error(project.diagnostics().on_write_error);
        let profile = RuntimeProfile::build(&project)?;
        diagnostics.record(Event::ProfileBuilt {
            fingerprint: profile.fingerprint().to_string(),
            settings: profile.settings().clone(),
        })?;
        let formats = crate::formats::compiled(profile.stores());
        let workers = crate::distributed::workers(&project.distributed)?;
        let mut template = template(&profile, &formats, workers, &project.distributed)?;
        let overrides = functions::install(
            &mut template,
            &project.functions,
            &project.overrides,
            &diagnostics,
        )
        .await?;

        let manifest = registry::Manifest::load(&project.cache_dir(), profile.fingerprint());
        let mut registered =
            match registry::register_all(&template, &formats, &project.datasets, &manifest).await {
                Ok(registered) => registered,
                Err(e) => {
                    for failure in &e.failures {
                        diagnostics.record(Event::RegistrationFailed {
                            dataset: failure.dataset.clone(),
                            error: failure.message.clone(),
                        })?;
                    }
                    return Err(e.into());
                }
            };
        // Models after datasets: a stored model is its table (or stands in, unbuilt), and
        // views are planned over everything registered before them.
        for model in project.models.iter().filter(|m| m.kind.is_stored()) {
            registered.push(registry::models::register_stored(&template, &formats, model).await);
        }
        let so_far = registered
            .iter()
            .map(|d| (d.spec.name.clone(), Arc::clone(&d.provider)))
            .collect();
        let views =
            registry::models::register_views(&template, &project.policy, &project.models, &so_far)
                .await?;
        registered.extend(views);
        for r in &registered {
            diagnostics.record(Event::DatasetRegistered {
                dataset: r.spec.name.clone(),
                format: r.spec.format.name().to_string(),
                location: r.spec.location.clone(),
                ddl: r.ddl.clone(),
                schema_fingerprint: r.schema_fingerprint.clone(),
                options: r.spec.options.clone(),
                notes: r.notes.clone(),
                evolution: r.spec.read_rules(),
                adapter: r.adapter.to_string(),
                format_state: r.state(),
            })?;
        }
        let tables: DatasetTables = Arc::new(
            registered
                .iter()
                .map(|d| (d.spec.name.clone(), Arc::clone(&d.provider)))
                .collect(),
        );
        let format_functions = formats
            .iter()
            .flat_map(|format| format.table_functions(&tables))
            .collect();
        functions::install_table_functions(
            &mut template,
            format_functions,
            &project.overrides,
            &diagnostics,
        )?;
        // Registration plans DDL only; sessions run queries, through the plan hook.
        let template = crate::hook::install(
            template,
            Arc::new(project.policy.clone()),
            diagnostics.clone(),
            project.profile.memory_limit,
        );
        let datasets: Arc<Vec<Arc<RegisteredDataset>>> =
            Arc::new(registered.into_iter().map(Arc::new).collect());
        let stored_models = project
            .models
            .iter()
            .filter(|m| m.kind.is_stored())
            .map(|m| m.name.clone())
            .collect();
        // Statements' runs are sent from here on: registration runs none.
        let lineage_events =
            crate::openlineage::Emitter::start(&project, profile.stores(), &diagnostics)?;
        let system = system::schema(
            Arc::clone(&datasets),
            stored_models,
            &formats,
            &profile,
            diagnostics.clone(),
            overrides,
            lineage_events.clone(),
        )?;
        let mut runtime = Self {
            project,
            profile,
            template,
            datasets,
            tables,
            system,
            diagnostics,
            declared: Arc::new(Vec::new()),
            lineage_events,
        };
        // Declared statements are planned once against a real session, so that one that
        // does not plan is reported (with its file:line) before any session is handed out.
        let scratch = runtime.session().ctx.state();
        let declared = prepared::declare(&scratch, &runtime.project.prepared).await?;
        runtime.declared = Arc::new(declared);
        Ok(runtime)
    }

    /// OpenLineage's emitter, when the project sends events.
    pub(crate) fn lineage_events(&self) -> Option<&Arc<crate::openlineage::Emitter>> {
        self.lineage_events.as_ref()
    }

    /// A new session from the template: same config, runtime, functions and policy.
    pub fn session(&self) -> Session {
        let options = self.template.config().options();
        let catalogs = MemoryCatalogProviderList::new();
        catalogs.register_catalog(
            options.catalog.default_catalog.clone(),
            self.session_catalog(),
        );
        let statements = Arc::new(SessionStatements::new(Arc::clone(&self.declared)));
        let config = self
            .template
            .config()
            .clone()
            .with_extension(Arc::clone(&statements));
        let state = SessionStateBuilder::new_from_existing(self.template.clone())
            .with_config(config)
            .with_catalog_list(Arc::new(catalogs))
            .build();
        Session::new(
            SessionContext::new_with_state(state),
            Arc::new(self.project.policy.clone()),
            Arc::clone(&self.tables),
            self.diagnostics.clone(),
            statements,
        )
    }

    /// The catalog every session starts with: the project's datasets in the default
    /// schema (read-only, with room for scratch tables) and Canon's system tables.
    fn session_catalog(&self) -> Arc<dyn CatalogProvider> {
        let options = self.template.config().options();
        let catalog = MemoryCatalogProvider::new();
        // Memory catalogs accept any schema name; these calls cannot fail.
        let _ = catalog.register_schema(
            &options.catalog.default_schema,
            Arc::new(SessionSchema::new(Arc::clone(&self.tables))),
        );
        let _ = catalog.register_schema(SYSTEM_SCHEMA, Arc::clone(&self.system));
        Arc::new(catalog)
    }

    /// The datasets and system tables as a catalog for another DataFusion context (such as
    /// datafusion-python's, through the FFI). Its scans are planned and run in a session of
    /// this runtime, with the project's object stores, caches and memory pool; everything
    /// else that context runs is its own, outside Canon's policy and plan hook.
    pub fn catalog(&self) -> Arc<dyn CatalogProvider> {
        let state = Arc::new(self.session().ctx.state());
        let own = self.session_catalog();
        let hosted = MemoryCatalogProvider::new();
        for name in own.schema_names() {
            if let Some(schema) = own.schema(&name) {
                let schema = HostedSchema::new(schema, Arc::clone(&state));
                // Memory catalogs accept any schema name; this cannot fail.
                let _ = hosted.register_schema(&name, Arc::new(schema));
            }
        }
        Arc::new(hosted)
    }

    /// A worker for this project's distributed plans (`canon worker`): the tasks it is
    /// sent run with the project's functions, profile, object stores and memory pool, and
    /// each dataset's file scans read under the dataset's evolution rules. Fails when
    /// `CANON_WORKER_TOKEN` cannot be sent.
    #[cfg(feature = "distributed")]
    pub fn worker(&self) -> Result<crate::distributed::Worker> {
        let datasets = self
            .datasets
            .iter()
            .flat_map(|d| {
                let adapter: Arc<dyn PhysicalExprAdapterFactory> = Arc::new(
                    EvolutionAdapterFactory::new(&d.spec.name, d.spec.read_rules()),
                );
                let columns: Vec<String> = d
                    .provider
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                d.locations.iter().map(move |location| DatasetFiles {
                    name: d.spec.name.clone(),
                    location: location.clone(),
                    columns: columns.clone(),
                    adapter: Arc::clone(&adapter),
                })
            })
            .collect();
        let channels = crate::distributed::channels(&self.project.distributed)?;
        let sessions = WorkerSessions::new(self.template.clone(), datasets, channels);
        Ok(crate::distributed::Worker::from_session_builder(sessions)
            .with_runtime_env(Arc::clone(self.profile.runtime_env())))
    }

    /// The project this runtime was built from.
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// The built profile.
    pub fn profile(&self) -> &RuntimeProfile {
        &self.profile
    }

    /// The registered datasets, in project order.
    pub fn datasets(&self) -> &[Arc<RegisteredDataset>] {
        &self.datasets
    }

    /// The registered dataset with this name.
    pub fn dataset(&self, name: &str) -> Option<&RegisteredDataset> {
        self.datasets
            .iter()
            .find(|d| d.spec.name == name)
            .map(Arc::as_ref)
    }

    /// The runtime's event stream.
    pub fn diagnostics(&self) -> &Diagnostics {
        &self.diagnostics
    }
}
