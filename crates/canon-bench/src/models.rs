//! Models: `canon compile` over a generated graph of many models, and an append model's
//! incremental build against a full rebuild of the same table, under a memory limit.
//!
//! The compile figures are a whole `canon compile` process (which plans every model
//! against contracts and reads no data file) and the same work in-process. The build
//! figures run `canon::models::build` in this process, so the peak resident size is
//! measured over each build alone.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::datafusion::arrow::array::{
    Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray,
};
use canon::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use canon::datafusion::parquet::arrow::ArrowWriter;
use canon::models::{BuildOptions, Status};
use canon::{Diagnostics, Project};

use crate::BenchResult;
use crate::memory::{mib, with_peak};
use crate::report::{Table, median_of, ms};
use crate::smallfiles::{self, CONTRACT_COLUMNS};

/// What the models benchmark needs.
pub struct Options {
    /// The release `canon` binary.
    pub canon: PathBuf,
    /// Scratch directory for the generated projects and data.
    pub work: PathBuf,
    /// Models in the generated graph that `canon compile` plans.
    pub models: usize,
    /// Rows the append model holds before the incremental build.
    pub rows: i64,
    /// Rows added upstream before the incremental build.
    pub new_rows: i64,
    /// The runtime's memory limit for the builds, as the project file writes it.
    pub memory_limit: String,
    /// Timed runs of `canon compile`.
    pub runs: usize,
}

/// Runs both parts and prints their tables.
pub async fn run(options: &Options) -> BenchResult<()> {
    compile(options).await?;
    append(options).await
}

/// `canon compile` over `options.models` generated models.
async fn compile(options: &Options) -> BenchResult<()> {
    let dir = options
        .work
        .join(format!("models-compile-{}", options.models));
    let project = generate_graph(&dir, options.models)?;
    println!(
        "Models: `canon -p P compile` over {} generated models (views and tables, a tree over one \
         dataset, every fifth joining it again); median of {} runs (ms)",
        options.models, options.runs
    );
    let process = median_of(options.runs, || spawn_compile(&options.canon, &project))?;
    let mut in_process = Vec::new();
    for _ in 0..options.runs.max(1) {
        let start = Instant::now();
        let loaded = Project::load(&project)?;
        let compiled = canon::models::compile(&loaded).await?;
        in_process.push(start.elapsed());
        if compiled.models.len() != options.models {
            return Err(format!(
                "compiled {} models, generated {}",
                compiled.models.len(),
                options.models
            )
            .into());
        }
    }
    in_process.sort();
    let mut table = Table::new(&[
        "models",
        "canon compile process",
        "in-process load + compile",
    ]);
    table.row(vec![
        options.models.to_string(),
        ms(process),
        ms(in_process[in_process.len() / 2]),
    ]);
    println!("{}", table.render());
    Ok(())
}

/// A project of one small dataset and `models` models over it: model `i` reads model
/// `(i - 1) / 2` (the dataset for the first), so the graph is a tree of depth log2(models).
fn generate_graph(dir: &Path, models: usize) -> BenchResult<PathBuf> {
    smallfiles::fresh_dir(dir)?;
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    smallfiles::write_file(&data.join("base.parquet"), 0, 1000)?;
    let mut toml = format!(
        "[project]\nname = \"models-bench\"\n\n[[dataset]]\nname = \"base\"\nformat = \
         \"parquet\"\nlocation = \"data/\"\nprimary_key = [\"id\"]\ncolumns = {CONTRACT_COLUMNS}\n"
    );
    for i in 0..models {
        let upstream = match i {
            0 => "base".to_string(),
            _ => format!("m{}", (i - 1) / 2),
        };
        let sql = if i % 5 == 4 {
            format!(
                "SELECT u.id, u.name, u.value + b.value AS value FROM {upstream} u JOIN base b ON \
                 b.id = u.id WHERE u.id % 7 <> {}",
                i % 7
            )
        } else {
            format!(
                "SELECT id, upper(name) AS name, value * 2 AS value FROM {upstream} WHERE id % 11 \
                 <> {}",
                i % 11
            )
        };
        let kind = if i % 2 == 0 {
            "kind = \"view\"".to_string()
        } else {
            format!("location = \"build/m{i}\"")
        };
        writeln!(
            toml,
            "\n[[model]]\nname = \"m{i}\"\n{kind}\nsql = \"{sql}\"\nprimary_key = \
             [\"id\"]\ncolumns = {CONTRACT_COLUMNS}"
        )?;
    }
    let project = dir.join("canon.toml");
    std::fs::write(&project, toml)?;
    Ok(project)
}

/// One `canon compile` process; fails unless it compiled.
fn spawn_compile(canon: &Path, project: &Path) -> BenchResult<Duration> {
    let start = Instant::now();
    let status = Command::new(canon)
        .arg("-p")
        .arg(project)
        .arg("compile")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()?;
    let elapsed = start.elapsed();
    if !status.success() {
        return Err(format!("canon compile failed ({status}) on {}", project.display()).into());
    }
    Ok(elapsed)
}

/// Rows per generated file of the append benchmark's upstream.
const ROWS_PER_FILE: i64 = 1_000_000;

/// An append model over `options.rows` upstream rows: its first build, an incremental
/// build after `options.new_rows` more arrive, and a full rebuild of them all.
async fn append(options: &Options) -> BenchResult<()> {
    let dir = options.work.join(format!("models-append-{}", options.rows));
    let project = dir.join("canon.toml");
    generate_events(&dir, options)?;
    println!(
        "Models: an append model (incremental on a timestamp, keyed by id) over {} upstream rows, \
         then {} more; builds in-process under memory_limit = \"{}\"",
        options.rows, options.new_rows, options.memory_limit
    );
    let mut table = Table::new(&["build", "rows written", "seconds", "peak RSS (MiB)"]);
    let first = timed_build(&project, false).await?;
    table.row(first.cells(&format!("first, {} rows", options.rows)));

    let new_file = dir.join("data").join("new.parquet");
    write_events(&new_file, options.rows, options.new_rows)?;
    let incremental = timed_build(&project, false).await?;
    table.row(incremental.cells(&format!("incremental, {} new rows", options.new_rows)));
    let full = timed_build(&project, true).await?;
    table.row(full.cells("full rebuild (--full-refresh)"));
    println!("{}", table.render());
    println!(
        "incremental build: {:.1}x faster than the full rebuild\n",
        full.seconds / incremental.seconds.max(f64::EPSILON)
    );
    if incremental.rows != options.new_rows.unsigned_abs() {
        return Err(format!(
            "the incremental build wrote {} rows, expected {}",
            incremental.rows, options.new_rows
        )
        .into());
    }
    Ok(())
}

/// What one build did.
struct Measured {
    rows: u64,
    seconds: f64,
    peak: Option<u64>,
}

impl Measured {
    fn cells(&self, label: &str) -> Vec<String> {
        vec![
            label.to_string(),
            self.rows.to_string(),
            format!("{:.2}", self.seconds),
            mib(self.peak),
        ]
    }
}

/// Builds every model of `project` in this process; fails unless every model built.
async fn timed_build(project: &Path, full_refresh: bool) -> BenchResult<Measured> {
    let loaded = Project::load(project)?;
    let options = BuildOptions {
        full_refresh,
        ..BuildOptions::default()
    };
    let start = Instant::now();
    let (report, peak) = with_peak(canon::models::build(
        loaded,
        Diagnostics::new(),
        &options,
        &mut |_| {},
    ))
    .await;
    let seconds = start.elapsed().as_secs_f64();
    let report = report?;
    let mut rows = 0;
    for model in &report.models {
        if model.status != Status::Built {
            return Err(format!(
                "model {} {}: {}",
                model.model,
                model.status,
                model.message.as_deref().unwrap_or("")
            )
            .into());
        }
        rows += model.rows.unwrap_or(0);
    }
    Ok(Measured {
        rows,
        seconds,
        peak,
    })
}

/// The append benchmark's project and its upstream's first `options.rows` rows.
fn generate_events(dir: &Path, options: &Options) -> BenchResult<()> {
    smallfiles::fresh_dir(dir)?;
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let mut first = 0;
    let mut part = 0;
    while first < options.rows {
        let rows = ROWS_PER_FILE.min(options.rows - first);
        write_events(&data.join(format!("part-{part:04}.parquet")), first, rows)?;
        first += rows;
        part += 1;
    }
    let columns = "[\n  { name = \"id\", type = \"Int64\", nullable = false },\n  { name = \
                   \"at\", type = \"Timestamp(Microsecond, Some(\\\"UTC\\\"))\", nullable = false \
                   },\n  { name = \"value\", type = \"Float64\" },\n]";
    let toml = format!(
        "[project]\nname = \"append-bench\"\n\n[profile]\nmemory_limit = \"{limit}\"\nspill_dir \
         = \"spill/\"\n\n[[dataset]]\nname = \"events\"\nformat = \"parquet\"\nlocation = \
         \"data/\"\ncolumns = {columns}\n\n[[model]]\nname = \"events_kept\"\nkind = \
         \"append\"\nlocation = \"build/events_kept\"\nsql = \"SELECT id, at, value FROM events \
         WHERE value >= 0\"\nincremental = {{ column = \"at\" }}\nprimary_key = \
         [\"id\"]\ncolumns = {columns}\n",
        limit = options.memory_limit
    );
    std::fs::write(dir.join("canon.toml"), toml)?;
    Ok(())
}

fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("value", DataType::Float64, true),
    ]))
}

/// One parquet file of `rows` events whose ids start at `first_id`, one second apart.
fn write_events(path: &Path, first_id: i64, rows: i64) -> BenchResult<()> {
    let file = File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    let mut writer = ArrowWriter::try_new(file, events_schema(), None)?;
    let mut start = first_id;
    let end = first_id + rows;
    while start < end {
        let stop = (start + 131_072).min(end);
        let ids = start..stop;
        let batch = RecordBatch::try_new(
            events_schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(ids.clone())),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(
                        ids.clone().map(|i| 1_700_000_000_000_000 + i * 1_000_000),
                    )
                    .with_timezone("UTC"),
                ),
                Arc::new(Float64Array::from_iter_values(
                    ids.map(|i| (i % 1000) as f64),
                )),
            ],
        )?;
        writer.write(&batch)?;
        start = stop;
    }
    writer.close()?;
    Ok(())
}
