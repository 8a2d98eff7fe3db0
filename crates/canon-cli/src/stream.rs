//! Running a statement's DataFrame and printing its batches as they come, with the
//! progress line on a terminal.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use canon::CanonError;
use canon::datafusion::arrow::array::RecordBatch;
use canon::datafusion::arrow::error::ArrowError;
use canon::datafusion::dataframe::DataFrame;
use canon::datafusion::error::Result as DfResult;
use canon::datafusion::physical_plan::{SendableRecordBatchStream, execute_stream};

use crate::output::{OutputFormat, ResultWriter};
use crate::progress::Progress;

/// Why printing a result stopped.
#[derive(Debug)]
pub enum StreamError {
    /// Planning or running the query failed.
    Query(CanonError),
    /// Writing the output failed.
    Output(ArrowError),
}

impl From<CanonError> for StreamError {
    fn from(e: CanonError) -> Self {
        Self::Query(e)
    }
}

impl From<ArrowError> for StreamError {
    fn from(e: ArrowError) -> Self {
        Self::Output(e)
    }
}

/// Runs a statement's DataFrame and writes its result batch by batch, so memory stays
/// bounded whatever the number of rows.
pub async fn print(
    df: DataFrame,
    out: impl Write,
    format: OutputFormat,
    first: bool,
) -> Result<(), StreamError> {
    let task_ctx = Arc::new(df.task_ctx());
    // The DataFrame's own session state makes the physical plan, so Canon's plan hook
    // applies the policy and records the plan exactly as `collect` would.
    let plan = df.create_physical_plan().await.map_err(CanonError::from)?;
    let mut progress = Progress::start(Arc::clone(&plan));
    let mut stream = execute_stream(plan, task_ctx).map_err(CanonError::from)?;
    let mut writer = ResultWriter::new(out, stream.schema(), format, first)?;
    // Rows printed to the terminal the progress line is on would tear it, and are
    // progress enough; rows going to a file or pipe leave it up until the end.
    let rows_share_the_terminal = std::io::stdout().is_terminal();
    while let Some(batch) = next_batch(&mut stream).await {
        let batch = batch.map_err(CanonError::from)?;
        if rows_share_the_terminal {
            progress.stop();
        }
        writer.write(&batch)?;
    }
    progress.stop();
    writer.finish()?;
    Ok(())
}

/// The stream's next batch; the trait object's own `poll_next`, so no stream utilities
/// are needed.
async fn next_batch(stream: &mut SendableRecordBatchStream) -> Option<DfResult<RecordBatch>> {
    std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await
}

/// A writer that remembers whether its reader went away (`canon query … | head`), so the
/// command can stop quietly instead of reporting the closed pipe as a failure.
pub struct Output<W: Write> {
    inner: W,
    closed: bool,
}

impl<W: Write> Output<W> {
    /// Wraps a writer.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            closed: false,
        }
    }

    /// Whether a write failed because the reading end of the pipe was closed.
    pub fn closed(&self) -> bool {
        self.closed
    }

    fn note<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            self.closed = true;
        }
        result
    }
}

impl<W: Write> Write for Output<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.note(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}
