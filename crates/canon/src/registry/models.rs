//! Models as tables. A stored model registers through the one path, as the dataset its
//! contract describes; one that was never built (or whose table cannot be read) stands in
//! as a table of its contract's schema that reads the table once a build has made it, and
//! until then refuses scans, saying why and how to build it.
//! A view registers as a DataFusion view over the tables registered before it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use canon_model::model::{ModelSpec, build_order, contract_mismatches};
use canon_model::util::quote_ident;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::memory::{MemoryCatalogProvider, MemorySchemaProvider};
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProviderList, SchemaProvider, Session,
    TableProvider,
};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::{DatasetError, Formats, Manifest, RegisteredDataset, register_all};
use crate::error::{DatasetFailure, RegistrationError};
use crate::policy::SqlPolicy;

/// Registers a stored model's table; a model whose table cannot be registered (most
/// often: not built yet) stands in as an [`Unbuilt`] table, so the runtime loads and
/// every other dataset and model stays queryable.
pub(crate) async fn register_stored(
    state: &SessionState,
    formats: &Formats,
    model: &ModelSpec,
) -> RegisteredDataset {
    let format = super::format_of(formats, model.contract.format);
    // Asked first: opening a location without a table makes table formats log errors.
    match format {
        Some(format) => match format.exists(&model.contract).await {
            Ok(true) => {}
            Ok(false) => return unbuilt(state, formats, model, "it has no table yet".to_string()),
            Err(e) => return unbuilt(state, formats, model, e.to_string()),
        },
        None => {
            let reason = format!(
                "this build of Canon cannot read {} tables",
                model.contract.format
            );
            return unbuilt(state, formats, model, reason);
        }
    }
    let spec = std::slice::from_ref(&model.contract);
    // A model's table is its format's (Delta); there are no listed files to vouch for.
    match register_all(state, formats, spec, &Manifest::none()).await {
        Ok(mut registered) if registered.len() == 1 => registered.remove(0),
        Ok(_) => unbuilt(
            state,
            formats,
            model,
            "registration returned no table".to_string(),
        ),
        Err(e) => {
            let reason = e
                .failures
                .first()
                .map_or_else(|| e.to_string(), |f| f.message.clone());
            unbuilt(state, formats, model, reason)
        }
    }
}

fn unbuilt(
    state: &SessionState,
    formats: &Formats,
    model: &ModelSpec,
    reason: String,
) -> RegisteredDataset {
    let spec = model.contract.clone();
    let schema = spec.schema();
    RegisteredDataset {
        schema_fingerprint: crate::contract::schema_fingerprint(&schema),
        ddl: spec.ddl(),
        notes: vec![format!("not built: {reason}")],
        provider: Arc::new(Unbuilt {
            model: model.name.clone(),
            spec: model.contract.clone(),
            schema,
            reason,
            state: state.clone(),
            formats: Arc::clone(formats),
            built: tokio::sync::OnceCell::new(),
        }),
        adapter: "none",
        format: None,
        locations: Vec::new(),
        spec,
    }
}

/// The views among `models`, each planned over `tables` and the views before it, in an
/// order where every view comes after the views it reads.
pub(crate) async fn register_views(
    template: &SessionState,
    policy: &SqlPolicy,
    models: &[ModelSpec],
    tables: &BTreeMap<String, Arc<dyn TableProvider>>,
) -> Result<Vec<RegisteredDataset>, RegistrationError> {
    let views: BTreeMap<&str, &ModelSpec> = models
        .iter()
        .filter(|m| !m.kind.is_stored())
        .map(|m| (m.name.as_str(), m))
        .collect();
    if views.is_empty() {
        return Ok(Vec::new());
    }
    let schema = Arc::new(MemorySchemaProvider::new());
    for (name, table) in tables {
        schema
            .register_table(name.clone(), Arc::clone(table))
            .map_err(|e| failure_of(models, "", e.strip_backtrace()))?;
    }
    let state = with_default_schema(template, Arc::clone(&schema) as _)
        .map_err(|e| failure_of(models, "", e.strip_backtrace()))?;

    // Each view's reads, by parsing alone: planning needs the views it reads first.
    let mut reads: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for view in views.values() {
        let statement = parse(&state, policy, view)?;
        let names = state
            .resolve_table_references(&statement)
            .map_err(|e| failure(view, e.strip_backtrace()))?
            .iter()
            .map(|r| r.table().to_string())
            .collect();
        reads.insert(view.name.clone(), names);
    }
    let order = build_order(&reads).map_err(|cycle| failure_of(models, "", cycle.to_string()))?;

    let mut registered = Vec::with_capacity(order.len());
    for name in order {
        let Some(view) = views.get(name.as_str()) else {
            continue;
        };
        let statement = parse(&state, policy, view)?;
        let plan = state
            .statement_to_plan(statement)
            .await
            .map_err(|e| failure(view, e.strip_backtrace()))?;
        let found = plan.schema().as_arrow().clone();
        let mismatches = contract_mismatches(&view.contract.schema(), &found);
        if let Some(first) = mismatches.first() {
            let column = first
                .column
                .as_ref()
                .map(|c| format!("column `{c}`: "))
                .unwrap_or_default();
            let message = format!("{column}{} (see `canon compile`)", first.message);
            return Err(failure_of(models, &view.name, message));
        }
        let provider: Arc<dyn TableProvider> =
            Arc::new(ViewTable::new(plan, Some(view.sql.text.clone())));
        schema
            .register_table(view.name.clone(), Arc::clone(&provider))
            .map_err(|e| failure(view, e.strip_backtrace()))?;
        let spec = view.contract.clone();
        registered.push(RegisteredDataset {
            schema_fingerprint: crate::contract::schema_fingerprint(&spec.schema()),
            ddl: format!(
                "CREATE VIEW {} AS {}",
                quote_ident(&view.name),
                view.sql.text.trim()
            ),
            notes: Vec::new(),
            provider,
            adapter: "view",
            format: None,
            locations: Vec::new(),
            spec,
        });
    }
    Ok(registered)
}

/// The template with one catalog holding `schema` as its default schema: where views are
/// planned over the registered tables, and models compiled over their contracts.
pub(crate) fn with_default_schema(
    template: &SessionState,
    schema: Arc<dyn SchemaProvider>,
) -> DfResult<SessionState> {
    let options = template.config().options();
    let catalog = MemoryCatalogProvider::new();
    catalog.register_schema(&options.catalog.default_schema, schema)?;
    let catalogs = MemoryCatalogProviderList::new();
    catalogs.register_catalog(options.catalog.default_catalog.clone(), Arc::new(catalog));
    Ok(SessionStateBuilder::new_from_existing(template.clone())
        .with_catalog_list(Arc::new(catalogs))
        .build())
}

fn parse(
    state: &SessionState,
    policy: &SqlPolicy,
    view: &ModelSpec,
) -> Result<datafusion::sql::parser::Statement, RegistrationError> {
    let limit = state.config_options().sql_parser.recursion_limit.get();
    let mut statements = policy
        .parse_with_limit(&view.sql.text, limit)
        .map_err(|e| failure(view, e.to_string()))?;
    match (statements.pop(), statements.is_empty()) {
        (Some(statement), true) => Ok(statement),
        _ => Err(failure(view, "a model is one query".to_string())),
    }
}

fn failure(view: &ModelSpec, message: String) -> RegistrationError {
    failure_of(std::slice::from_ref(view), &view.name, message)
}

/// A registration error for the model `name` (found in `models` for its origin).
fn failure_of(models: &[ModelSpec], name: &str, message: String) -> RegistrationError {
    let origin = models
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.origin().to_string())
        .unwrap_or_default();
    let error = DatasetError::from(message.as_str());
    RegistrationError {
        failures: vec![DatasetFailure {
            dataset: name.to_string(),
            origin,
            message,
            error: Arc::new(error),
        }],
    }
}

/// A stored model that was not built when the runtime loaded: its contract's schema, and a
/// scan that reads the model's table once a build has made it (a server keeps running while
/// `canon build` runs beside it), or fails with why and how to build it.
pub struct Unbuilt {
    model: String,
    spec: canon_model::contract::DatasetSpec,
    schema: SchemaRef,
    reason: String,
    /// The registration template and formats, to open the table once it exists.
    state: SessionState,
    formats: Formats,
    /// The table, once a scan has found and opened it.
    built: tokio::sync::OnceCell<Arc<dyn TableProvider>>,
}

impl std::fmt::Debug for Unbuilt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unbuilt")
            .field("model", &self.model)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl Unbuilt {
    /// The model's table, if a build has made it since the runtime loaded and it reads as
    /// the contract says (the stand-in's schema is the one queries were planned with).
    async fn table(&self) -> Option<Arc<dyn TableProvider>> {
        if let Some(table) = self.built.get() {
            return Some(Arc::clone(table));
        }
        let format = super::format_of(&self.formats, self.spec.format)?;
        if !format.exists(&self.spec).await.unwrap_or(false) {
            return None;
        }
        let (state, formats, spec) = (
            self.state.clone(),
            Arc::clone(&self.formats),
            self.spec.clone(),
        );
        // Registration's future is not provably `Send` inside a table provider's `scan`
        // (its closures' lifetimes defeat the check), so it runs on a blocking thread of
        // its own, driven by the current runtime.
        let runtime = tokio::runtime::Handle::current();
        let registered = tokio::task::spawn_blocking(move || {
            runtime.block_on(async {
                let spec = std::slice::from_ref(&spec);
                register_all(&state, &formats, spec, &Manifest::none()).await
            })
        })
        .await
        .ok()?;
        let table = registered.ok()?.pop()?.provider;
        if table.schema() != self.schema {
            return None;
        }
        Some(Arc::clone(self.built.get_or_init(|| async { table }).await))
    }
}

#[async_trait]
impl TableProvider for Unbuilt {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if let Some(table) = self.table().await {
            return table.scan(state, projection, filters, limit).await;
        }
        Err(DataFusionError::Plan(format!(
            "model `{}` is not built: run `canon build {}` ({})",
            self.model, self.model, self.reason
        )))
    }
}
