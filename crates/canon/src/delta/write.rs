//! Canon's write path into a Delta dataset: rows are cast to the table's schema, checked
//! against every NOT NULL column and named constraint (a violation names the constraint
//! and shows a row, and nothing is committed), then written and committed by delta-rs.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{cast, filter_record_batch, is_null};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::catalog::Session;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::{DFSchema, DataFusionError, Result, exec_err};
use datafusion::datasource::provider_as_source;
use datafusion::datasource::sink::DataSink;
use datafusion::execution::context::SessionState;
use datafusion::execution::{SendableRecordBatchStream, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use deltalake_core::delta_datafusion::planner::DeltaPlanner;
use deltalake_core::kernel::transaction::CommitProperties;
use deltalake_core::operations::write::WriteBuilder;
use deltalake_core::protocol::SaveMode;
use futures::StreamExt;

use super::state::{Inner, external};
use crate::registry::CommitMetadata;

/// How often a long write reports progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// A row that breaks the table's rules, as the error a write fails with.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "write to Delta dataset `{dataset}` refused: {rule} violated by {count} row(s) in a \
     batch, e.g. {{{sample}}}; nothing was committed"
)]
pub struct ConstraintViolation {
    /// The dataset written to.
    pub dataset: String,
    /// `constraint <name> (<expression>)` or `NOT NULL column <name>`.
    pub rule: String,
    /// How many rows of the offending batch break it.
    pub count: usize,
    /// One offending row, as `column: value` pairs.
    pub sample: String,
}

/// The sink behind `INSERT INTO` a Delta dataset.
pub(crate) struct DeltaSink {
    inner: Arc<Inner>,
    mode: SaveMode,
    /// The inserting session's state with delta-rs's planner: the statement itself already
    /// passed Canon's policy and plan hook; the write's internal plans are delta-rs's.
    state: SessionState,
    rules: Arc<Rules>,
}

/// What every written batch is checked against.
pub(super) struct Rules {
    dataset: String,
    schema: SchemaRef,
    /// Constraints compiled against the table schema, with their display names.
    checks: Vec<(String, Arc<dyn PhysicalExpr>)>,
    /// The violation that stopped the write: delta-rs flattens errors from its input into
    /// text, so the typed error is kept here and returned in place of delta-rs's.
    refused: Mutex<Option<ConstraintViolation>>,
}

impl fmt::Debug for DeltaSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeltaSink")
            .field("dataset", &self.inner.name)
            .field("mode", &self.mode)
            .finish()
    }
}

impl DisplayAs for DeltaSink {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DeltaSink: dataset={} mode={:?}",
            self.inner.name, self.mode
        )
    }
}

/// What the writing session records with its commit (a model build's record), as delta-rs
/// takes it.
pub(super) fn commit_properties(state: &SessionState) -> CommitProperties {
    let metadata = state
        .config()
        .get_extension::<CommitMetadata>()
        .map(|m| m.0.clone())
        .unwrap_or_default();
    CommitProperties::default().with_metadata(metadata)
}

/// The writing session's state with delta-rs's planner: the statement itself already
/// passed Canon's policy and plan hook; the write's internal plans are delta-rs's.
pub(super) fn delta_state(session: &dyn Session) -> Result<SessionState> {
    let Some(state) = session.as_any().downcast_ref::<SessionState>() else {
        return exec_err!("writes to Delta datasets run in a Canon session");
    };
    Ok(SessionStateBuilder::new_from_existing(state.clone())
        .with_query_planner(DeltaPlanner::new())
        .build())
}

impl DeltaSink {
    pub(crate) fn new(inner: Arc<Inner>, mode: SaveMode, session: &dyn Session) -> Result<Self> {
        let state = delta_state(session)?;
        let rules = Rules::new(&inner, &state)?;
        Ok(Self {
            inner,
            mode,
            state,
            rules,
        })
    }
}

impl Rules {
    /// The rules of a table's writes: its NOT NULL columns and every constraint, compiled
    /// against its schema.
    pub(super) fn new(inner: &Inner, state: &SessionState) -> Result<Arc<Self>> {
        let df_schema = DFSchema::try_from(Arc::clone(&inner.logical))?;
        let constraints = inner
            .constraints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let checks = constraints
            .iter()
            .map(|c| {
                let expr = state.create_logical_expr(&c.expression, &df_schema)?;
                let rule = format!("constraint `{}` ({})", c.name, c.expression);
                Ok((rule, state.create_physical_expr(expr, &df_schema)?))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(Rules {
            dataset: inner.name.clone(),
            schema: Arc::clone(&inner.logical),
            checks,
            refused: Mutex::new(None),
        }))
    }

    /// Casts a batch to the table's own types (view and dictionary types are scan-side
    /// only) and checks it against every rule.
    pub(super) fn conform(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let schema = &self.schema;
        let columns = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(column, field)| Ok(cast(column, field.data_type())?))
            .collect::<Result<Vec<_>>>()?;
        // Nullability is checked below, with a readable error, so the batch is built
        // against a nullable copy of the schema first.
        let batch = RecordBatch::try_new(nullable(schema), columns)?;
        for (i, field) in schema.fields().iter().enumerate() {
            let column = batch.column(i);
            if !field.is_nullable() && column.null_count() > 0 {
                let nulls = is_null(column)?;
                return Err(self.violation(
                    format!("NOT NULL column `{}`", field.name()),
                    &batch,
                    &nulls,
                ));
            }
        }
        for (rule, check) in &self.checks {
            let result = check.evaluate(&batch)?.into_array(batch.num_rows())?;
            let Some(result) = result.as_any().downcast_ref::<BooleanArray>() else {
                return exec_err!("{rule} is not a boolean expression");
            };
            // As in every Delta writer, a check that evaluates to NULL rejects the row.
            let failed: BooleanArray = result.iter().map(|v| Some(v != Some(true))).collect();
            if failed.true_count() > 0 {
                return Err(self.violation(rule.clone(), &batch, &failed));
            }
        }
        Ok(RecordBatch::try_new(
            Arc::clone(schema),
            batch.columns().to_vec(),
        )?)
    }

    fn violation(
        &self,
        rule: String,
        batch: &RecordBatch,
        failed: &BooleanArray,
    ) -> DataFusionError {
        let count = failed.true_count();
        let sample = match filter_record_batch(batch, failed) {
            Ok(rows) => describe_row(&rows),
            Err(e) => format!("<row not shown: {e}>"),
        };
        let violation = ConstraintViolation {
            dataset: self.dataset.clone(),
            rule,
            count,
            sample,
        };
        *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(violation.clone());
        DataFusionError::External(Box::new(violation))
    }
}

#[async_trait]
impl DataSink for DeltaSink {
    fn schema(&self) -> &SchemaRef {
        &self.inner.logical
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let loaded = self.inner.fresh().await?;
        let snapshot = loaded
            .table
            .snapshot()
            .map_err(external)?
            .snapshot()
            .clone();
        let log_store = loaded.table.log_store();

        let rows = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&rows);
        let dataset = self.inner.name.clone();
        let started = Instant::now();
        let mut last = Instant::now();
        let conformed = data.map(move |batch| {
            let batch = batch?;
            let total = counted.fetch_add(batch.num_rows() as u64, Ordering::Relaxed)
                + batch.num_rows() as u64;
            if last.elapsed() >= PROGRESS_EVERY {
                last = Instant::now();
                tracing::info!(%dataset, rows = total, elapsed_s = started.elapsed().as_secs(), "writing");
            }
            Ok(batch)
        });
        let rules = Arc::clone(&self.rules);
        let checked = conformed.map(move |batch| batch.and_then(|b| rules.conform(b)));
        let stream: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.inner.logical),
            checked,
        ));
        let source = StreamingTable::try_new(
            Arc::clone(&self.inner.logical),
            vec![Arc::new(OneShot::new(
                stream,
                Arc::clone(&self.inner.logical),
            ))],
        )?;
        let plan =
            LogicalPlanBuilder::scan("canon_write", provider_as_source(Arc::new(source)), None)?
                .build()?;

        let table = WriteBuilder::new(log_store, Some(snapshot))
            .with_input_plan(plan)
            .with_commit_properties(commit_properties(&self.state))
            .with_save_mode(self.mode)
            .with_session_state(Arc::new(self.state.clone()))
            .await
            .map_err(|e| {
                let refused = self
                    .rules
                    .refused
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                match refused {
                    Some(violation) => DataFusionError::External(Box::new(violation)),
                    None => external(e),
                }
            })?;
        let written = rows.load(Ordering::Relaxed);
        let loaded = self.inner.replace(table)?;
        tracing::info!(
            dataset = %self.inner.name,
            rows = written,
            version = loaded.version,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "write committed"
        );
        Ok(written)
    }
}

/// Hands the sink's input stream to delta-rs's writer, once.
struct OneShot {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl OneShot {
    fn new(stream: SendableRecordBatchStream, schema: SchemaRef) -> Self {
        Self {
            schema,
            stream: Mutex::new(Some(stream)),
        }
    }
}

impl fmt::Debug for OneShot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneShot")
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().unwrap_or_else(|e| e.into_inner()).take();
        taken.unwrap_or_else(|| {
            let error = DataFusionError::Execution("a write's input can be read only once".into());
            Box::pin(RecordBatchStreamAdapter::new(
                Arc::clone(&self.schema),
                futures::stream::once(async move { Err(error) }),
            ))
        })
    }
}

fn nullable(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    Arc::new(datafusion::arrow::datatypes::Schema::new(fields))
}

/// The first row of a batch as `column: value` pairs.
fn describe_row(rows: &RecordBatch) -> String {
    let options = FormatOptions::default().with_null("NULL");
    rows.schema()
        .fields()
        .iter()
        .zip(rows.columns())
        .map(|(field, column)| {
            let value = ArrayFormatter::try_new(column.as_ref(), &options)
                .map(|f| f.value(0).to_string())
                .unwrap_or_else(|_| "?".into());
            format!("{}: {value}", field.name())
        })
        .collect::<Vec<_>>()
        .join(", ")
}
