//! The progress line of a long-running query, as DuckDB's CLI shows one.
//!
//! When standard error is a terminal and a query is still running after [`DELAY`], a line
//! on standard error shows what the plan's scans have read so far against what they will
//! read: rows and bytes. The totals are known before the query runs, from the physical
//! plan's leaves — each leaf's statistics (row count, exact or estimated) and, for file
//! scans, the sizes of the files listed. What has been read comes from the same leaves'
//! live metrics (`output_rows`, and parquet's `bytes_scanned`), which DataFusion updates
//! while the plan executes; a background thread polls them every [`INTERVAL`] while the
//! result stream is consumed. The line is cleared when the query ends or fails, and
//! nothing is ever written when standard error is not a terminal.
//!
//! A thread rather than an async task: it only sleeps and reads atomic counters, and it
//! must keep drawing when the runtime's workers are all busy executing the plan.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use canon::datafusion::datasource::physical_plan::FileScanConfig;
use canon::datafusion::datasource::source::DataSourceExec;
use canon::datafusion::physical_plan::ExecutionPlan;
use canon::datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};

/// How long a query runs before the progress line appears; quicker ones never show it.
pub const DELAY: Duration = Duration::from_secs(1);

/// How often the line is redrawn.
pub const INTERVAL: Duration = Duration::from_millis(200);

/// The progress display of one running plan; stopping (or dropping) it clears the line.
pub struct Progress {
    worker: Option<(Sender<()>, JoinHandle<()>)>,
}

impl Progress {
    /// Starts watching `plan`, which is about to execute; inert unless standard error is
    /// a terminal.
    pub fn start(plan: Arc<dyn ExecutionPlan>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { worker: None };
        }
        let totals = Totals::of(plan.as_ref());
        let (stop, stopped) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("canon-progress".into())
            .spawn(move || watch(plan.as_ref(), &totals, &stopped))
            .ok();
        // Without a thread there is no progress line, and the query runs all the same.
        Self {
            worker: worker.map(|handle| (stop, handle)),
        }
    }

    /// Stops the display and clears its line; returns once the line is gone, so output
    /// written next does not mix with it. Stopping twice does nothing.
    pub fn stop(&mut self) {
        if let Some((stop, handle)) = self.worker.take() {
            // The worker may have ended on its own; then the send has no receiver.
            let _ = stop.send(());
            let _ = handle.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Draws the line until told to stop (or the sender is gone), then clears it.
fn watch(plan: &dyn ExecutionPlan, totals: &Totals, stopped: &mpsc::Receiver<()>) {
    let started = Instant::now();
    if !matches!(stopped.recv_timeout(DELAY), Err(RecvTimeoutError::Timeout)) {
        return;
    }
    let mut err = std::io::stderr();
    loop {
        let line = render(&Scanned::of(plan), totals, started.elapsed());
        // A terminal that cannot be written to simply shows no progress.
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
        if !matches!(
            stopped.recv_timeout(INTERVAL),
            Err(RecvTimeoutError::Timeout)
        ) {
            break;
        }
    }
    let _ = write!(err, "\r\x1b[K");
    let _ = err.flush();
}

/// What the plan's scans will read, as far as it is known before they run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Rows, when every leaf knows (exactly or by estimate) how many it produces.
    pub rows: Option<usize>,
    /// Bytes of the files the scans read, when every leaf is a file scan.
    pub bytes: Option<u64>,
}

impl Totals {
    /// The totals of the plan's leaves.
    pub fn of(plan: &dyn ExecutionPlan) -> Self {
        let mut totals = Self {
            rows: Some(0),
            bytes: Some(0),
        };
        let statistics = StatisticsContext::new();
        for leaf in leaves(plan) {
            let rows = statistics
                .compute(leaf, &StatisticsArgs::new())
                .ok()
                .and_then(|s| s.num_rows.get_value().copied());
            totals.rows = totals.rows.zip(rows).map(|(a, b)| a.saturating_add(b));
            totals.bytes = totals
                .bytes
                .zip(file_bytes(leaf))
                .map(|(a, b)| a.saturating_add(b));
        }
        totals
    }
}

/// What the plan's scans have read so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scanned {
    /// Rows the leaves have produced.
    pub rows: usize,
    /// Bytes read from files, as far as the scans count them (parquet's `bytes_scanned`).
    pub bytes: Option<usize>,
}

impl Scanned {
    /// Reads the leaves' metrics now.
    pub fn of(plan: &dyn ExecutionPlan) -> Self {
        let mut scanned = Self::default();
        for leaf in leaves(plan) {
            let Some(metrics) = leaf.metrics() else {
                continue;
            };
            scanned.rows += metrics.output_rows().unwrap_or(0);
            if let Some(bytes) = metrics.sum_by_name("bytes_scanned") {
                *scanned.bytes.get_or_insert(0) += bytes.as_usize();
            }
        }
        scanned
    }
}

/// The plan's leaves: the operators that read data rather than transform it.
fn leaves(plan: &dyn ExecutionPlan) -> Vec<&dyn ExecutionPlan> {
    let children = plan.children();
    if children.is_empty() {
        return vec![plan];
    }
    children
        .into_iter()
        .flat_map(|child| leaves(child.as_ref()))
        .collect()
}

/// The bytes a file scan will read: its files' sizes, or the byte ranges of files that
/// DataFusion split across partitions (so a split file counts once).
fn file_bytes(leaf: &dyn ExecutionPlan) -> Option<u64> {
    let source = leaf.downcast_ref::<DataSourceExec>()?;
    let config = source.data_source().downcast_ref::<FileScanConfig>()?;
    let bytes = config
        .file_groups
        .iter()
        .flat_map(|group| group.iter())
        .map(|file| match &file.range {
            Some(range) => u64::try_from(range.end.saturating_sub(range.start)).unwrap_or(0),
            None => file.object_meta.size,
        })
        .sum();
    Some(bytes)
}

/// Width of the bar, in characters.
const BAR: usize = 20;

/// The progress line: the share done (by rows when their total is known, else by bytes),
/// a bar, the counts and the time so far.
pub fn render(scanned: &Scanned, totals: &Totals, elapsed: Duration) -> String {
    let fraction = match (totals.rows, scanned.bytes, totals.bytes) {
        (Some(total), _, _) if total > 0 => Some(scanned.rows as f64 / total as f64),
        (_, Some(read), Some(total)) if total > 0 => Some(read as f64 / total as f64),
        _ => None,
    };
    let mut line = String::new();
    if let Some(fraction) = fraction {
        // Estimates can be exceeded; the query is not done until it says so.
        let fraction = fraction.clamp(0.0, 0.99);
        let filled = (fraction * BAR as f64).round() as usize;
        line.push_str(&format!(
            "{:>3}% [{}{}]  ",
            (fraction * 100.0).floor() as usize,
            "#".repeat(filled),
            ".".repeat(BAR - filled)
        ));
    }
    line.push_str(&count(scanned.rows));
    if let Some(total) = totals.rows {
        line.push_str(&format!(" of {}", count(total)));
    }
    line.push_str(" rows");
    match (scanned.bytes, totals.bytes) {
        (Some(read), Some(total)) => {
            line.push_str(&format!(", {} of {}", size(read as u64), size(total)));
        }
        (Some(read), None) => line.push_str(&format!(", {} read", size(read as u64))),
        (None, Some(total)) => line.push_str(&format!(" of {} of files", size(total))),
        (None, None) => {}
    }
    line.push_str(&format!("  {:.1}s", elapsed.as_secs_f64()));
    line
}

/// A count with thousands separators: 1,234,567.
fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A byte size in binary units: 512 B, 1.5 KiB, 3.2 GiB.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_by_rows_with_bytes() {
        let line = render(
            &Scanned {
                rows: 2_500_000,
                bytes: Some(3 * 1024 * 1024),
            },
            &Totals {
                rows: Some(10_000_000),
                bytes: Some(12 * 1024 * 1024),
            },
            Duration::from_millis(2_340),
        );
        assert_eq!(
            line,
            " 25% [#####...............]  2,500,000 of 10,000,000 rows, 3.0 MiB of 12.0 MiB  2.3s"
        );
    }

    #[test]
    fn line_by_bytes_and_without_totals() {
        let by_bytes = render(
            &Scanned {
                rows: 10,
                bytes: Some(512),
            },
            &Totals {
                rows: None,
                bytes: Some(1024),
            },
            Duration::from_secs(1),
        );
        assert_eq!(
            by_bytes,
            " 50% [##########..........]  10 rows, 512 B of 1.0 KiB  1.0s"
        );
        let unknown = render(
            &Scanned {
                rows: 1234,
                bytes: None,
            },
            &Totals::default(),
            Duration::from_secs(5),
        );
        assert_eq!(unknown, "1,234 rows  5.0s");
    }

    #[test]
    fn estimates_never_show_done() {
        let line = render(
            &Scanned {
                rows: 150,
                bytes: None,
            },
            &Totals {
                rows: Some(100),
                bytes: None,
            },
            Duration::ZERO,
        );
        assert!(line.starts_with(" 99% ["), "{line}");
    }

    #[tokio::test]
    async fn totals_and_scans_come_from_the_plan_leaves() {
        use canon::datafusion::physical_plan::collect;
        use canon::datafusion::prelude::{ParquetReadOptions, SessionContext};

        let trips = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/quickstart/data/trips");
        let files_bytes: u64 = std::fs::read_dir(&trips)
            .expect("trips dir")
            .map(|d| {
                let part = d.expect("entry").path().join("part-0.parquet");
                std::fs::metadata(part).expect("part file").len()
            })
            .sum();
        let ctx = SessionContext::new();
        ctx.register_parquet(
            "trips",
            trips.to_str().expect("utf-8 path"),
            ParquetReadOptions::default(),
        )
        .await
        .expect("register");
        let df = ctx.sql("SELECT fare FROM trips").await.expect("plan");
        let task_ctx = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await.expect("physical plan");
        assert_eq!(
            Totals::of(plan.as_ref()),
            Totals {
                rows: Some(6000),
                bytes: Some(files_bytes),
            }
        );
        assert_eq!(Scanned::of(plan.as_ref()).rows, 0);
        collect(Arc::clone(&plan), task_ctx).await.expect("run");
        let scanned = Scanned::of(plan.as_ref());
        assert_eq!(scanned.rows, 6000);
        assert!(scanned.bytes.is_some_and(|b| b > 0), "{scanned:?}");
    }
}
