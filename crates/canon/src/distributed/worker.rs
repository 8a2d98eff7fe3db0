//! The sessions a worker runs its tasks in: the coordinator's config for the task, over
//! the project's own profile, functions, object stores and memory pool; each task's plan
//! logged, and every file scan of a dataset given back the dataset's evolution rules,
//! which do not cross the wire.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::plan_err;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::physical_expr_adapter::PhysicalExprAdapterFactory;
use datafusion::physical_plan::{ExecutionPlan, displayable};
use datafusion_distributed::{
    DistributedConfig, DistributedExt, DistributedTaskContext, WorkerPlanRewriteEvent,
    WorkerPlanRewriteEventResponse, WorkerQueryContext, WorkerSessionBuilder,
};

use super::channels::Channels;

/// A dataset's file location and the adapter its scans read under.
#[derive(Debug, Clone)]
pub(crate) struct DatasetFiles {
    /// The dataset's name, for the log.
    pub name: String,
    /// Where its files are.
    pub location: ListingTableUrl,
    /// Its columns as its scans see them (file columns, then partition columns).
    pub columns: Vec<String>,
    /// The adapter of its evolution rules (strict without rules).
    pub adapter: Arc<dyn PhysicalExprAdapterFactory>,
}

/// Canon's [`WorkerSessionBuilder`], made from a runtime's template.
#[derive(Clone)]
pub(crate) struct WorkerSessions {
    template: SessionState,
    datasets: Arc<Vec<DatasetFiles>>,
    /// For the stages that read from other workers.
    channels: Channels,
}

impl WorkerSessions {
    /// Sessions from `template` (the runtime's), reading `datasets` under their rules and
    /// reaching other workers through `channels`.
    pub(crate) fn new(
        template: SessionState,
        datasets: Vec<DatasetFiles>,
        channels: Channels,
    ) -> Self {
        Self {
            template,
            datasets: Arc::new(datasets),
            channels,
        }
    }
}

#[async_trait]
impl WorkerSessionBuilder for WorkerSessions {
    async fn build_session_state(&self, ctx: WorkerQueryContext) -> Result<SessionState> {
        let mut builder = ctx.builder;
        // The project's settings, with what the coordinator sent for this task kept: its
        // extensions (task index, distributed options) and a shuffle batch size it set.
        if let Some(config) = builder.config().as_mut() {
            let sent = Arc::clone(config.options());
            let shuffle = DistributedConfig::from_config_options(&sent)?.shuffle_batch_size;
            let options = config.options_mut();
            *options = self.template.config().options().as_ref().clone();
            options.extensions = sent.extensions.clone();
            if shuffle != 0 {
                options.execution.batch_size = sent.execution.batch_size;
            }
        }
        let template = &self.template;
        let datasets = Arc::clone(&self.datasets);
        let builder: SessionStateBuilder = builder
            .with_scalar_functions(template.scalar_functions().values().cloned().collect())
            .with_aggregate_functions(template.aggregate_functions().values().cloned().collect())
            .with_window_functions(template.window_functions().values().cloned().collect())
            .with_distributed_channel_resolver(self.channels.clone())
            .with_distributed_worker_plan_rewrite_handler(
                move |event: WorkerPlanRewriteEvent<'_>| prepare(event, &datasets),
            );
        Ok(builder.build())
    }
}

/// Logs the task's plan and gives each dataset scan its adapter back.
fn prepare(
    event: WorkerPlanRewriteEvent<'_>,
    datasets: &[DatasetFiles],
) -> Result<WorkerPlanRewriteEventResponse> {
    let plan = event
        .plan
        .transform_up(|node| readapt(node, datasets))?
        .data;
    let task = event
        .session_config
        .get_extension::<DistributedTaskContext>();
    tracing::info!(
        task = task.as_ref().map(|t| t.task_index),
        tasks = task.as_ref().map(|t| t.task_count),
        plan = %outline(plan.as_ref()),
        "running a task"
    );
    tracing::debug!(plan = %displayable(plan.as_ref()).indent(true), "the task's plan");
    Ok(WorkerPlanRewriteEventResponse::new(plan))
}

/// The plan's operators top-down on one line, for the log: `AggregateExec > DataSourceExec`;
/// a node with several inputs lists them in brackets.
fn outline(plan: &dyn ExecutionPlan) -> String {
    let children = plan.children();
    match children.as_slice() {
        [] => plan.name().to_string(),
        [only] => format!("{} > {}", plan.name(), outline(only.as_ref())),
        many => {
            let inputs: Vec<String> = many.iter().map(|c| outline(c.as_ref())).collect();
            format!("{} [{}]", plan.name(), inputs.join(" | "))
        }
    }
}

/// A file scan with the adapter of the dataset whose location holds its files (the
/// innermost such location, when datasets nest).
fn readapt(
    node: Arc<dyn ExecutionPlan>,
    datasets: &[DatasetFiles],
) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
        return Ok(Transformed::no(node));
    };
    let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(Transformed::no(node));
    };
    if config.expr_adapter_factory.is_some() {
        return Ok(Transformed::no(node));
    }
    // A dataset's scan reads files under its location, with its columns; several datasets
    // may share a directory tree, so both must fit, and the innermost location wins.
    let columns: Vec<&String> = config
        .file_schema()
        .fields()
        .iter()
        .chain(config.table_partition_cols().iter())
        .map(|f| f.name())
        .collect();
    let holds = |dataset: &&DatasetFiles| {
        dataset.location.object_store() == config.object_store_url
            && dataset.columns.iter().eq(columns.iter().copied())
            && config.file_groups.iter().all(|group| {
                group
                    .iter()
                    .all(|file| dataset.location.contains(&file.object_meta.location, false))
            })
    };
    let depth = |d: &DatasetFiles| d.location.prefix().as_ref().len();
    let candidates: Vec<&DatasetFiles> = datasets.iter().filter(holds).collect();
    let Some(deepest) = candidates.iter().map(|d| depth(d)).max() else {
        return Ok(Transformed::no(node));
    };
    let innermost: Vec<&&DatasetFiles> =
        candidates.iter().filter(|d| depth(d) == deepest).collect();
    let [dataset] = innermost.as_slice() else {
        let names: Vec<&str> = innermost.iter().map(|d| d.name.as_str()).collect();
        return plan_err!(
            "a scan on this worker fits datasets {} alike (same location and columns); their \
             evolution rules cannot be told apart",
            names.join(", ")
        );
    };
    tracing::debug!(dataset = %dataset.name, "scan reads under the dataset's rules");
    let mut config = config.clone();
    config.expr_adapter_factory = Some(Arc::clone(&dataset.adapter));
    let scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
    Ok(Transformed::yes(scan))
}
