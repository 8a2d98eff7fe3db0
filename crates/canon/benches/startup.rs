//! Start-up costs, next to plain DataFusion in the same run:
//! - project load + registration of a generated project of 1,000 parquet datasets, against
//!   registering the same tables with plain `CREATE EXTERNAL TABLE` in a `SessionContext`;
//! - one session from the runtime, against `SessionContext::new()`, bare and with a query.
//!
//! Run: `cargo bench -p canon --bench startup` (optionally `-- DATASETS`).

use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use canon::datafusion::arrow::datatypes::{DataType, Field, Schema};
use canon::datafusion::parquet::arrow::ArrowWriter;
use canon::datafusion::prelude::SessionContext;
use canon::{Diagnostics, Project, Runtime};

const RUNS: usize = 5;
const SESSIONS: usize = 1_000;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BenchResult<()> {
    let datasets: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000);
    let dir = tempfile::tempdir()?;
    generate(dir.path(), datasets)?;
    let project_file = dir.path().join("canon.toml");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    println!("Canon start-up benchmark: {datasets} parquet datasets, median of {RUNS} runs");
    println!(
        "{:<48} {:>12} {:>12} {:>8}",
        "", "canon", "datafusion", "ratio"
    );

    let canon_load = median(RUNS, || {
        let start = Instant::now();
        let project = Project::load(&project_file)?;
        let runtime = rt.block_on(Runtime::new(project, Diagnostics::new()))?;
        std::hint::black_box(runtime.datasets().len());
        Ok(start.elapsed())
    })?;
    let ddl = plain_ddl(dir.path(), datasets);
    let plain_load = median(RUNS, || {
        let start = Instant::now();
        let ctx = SessionContext::new();
        rt.block_on(async {
            for statement in &ddl {
                ctx.sql(statement).await?;
            }
            Ok::<_, canon::datafusion::error::DataFusionError>(())
        })?;
        Ok(start.elapsed())
    })?;
    row(
        &format!("load + register {datasets} datasets"),
        canon_load,
        plain_load,
        1,
    );

    let runtime = rt.block_on(Runtime::load(&project_file))?;
    let canon_session = median(RUNS, || {
        let start = Instant::now();
        for _ in 0..SESSIONS {
            std::hint::black_box(runtime.session());
        }
        Ok(start.elapsed())
    })?;
    let plain_session = median(RUNS, || {
        let start = Instant::now();
        for _ in 0..SESSIONS {
            std::hint::black_box(SessionContext::new());
        }
        Ok(start.elapsed())
    })?;
    row(
        "one session (per session)",
        canon_session,
        plain_session,
        SESSIONS,
    );

    let canon_query = median(RUNS, || {
        let start = Instant::now();
        rt.block_on(async {
            for _ in 0..100 {
                let session = runtime.session();
                session.sql("SELECT 1").await?.collect().await?;
            }
            Ok::<_, canon::CanonError>(())
        })?;
        Ok(start.elapsed())
    })?;
    let plain_query = median(RUNS, || {
        let start = Instant::now();
        rt.block_on(async {
            for _ in 0..100 {
                SessionContext::new()
                    .sql("SELECT 1")
                    .await?
                    .collect()
                    .await?;
            }
            Ok::<_, canon::datafusion::error::DataFusionError>(())
        })?;
        Ok(start.elapsed())
    })?;
    row(
        "one session + SELECT 1 (per session)",
        canon_query,
        plain_query,
        100,
    );
    Ok(())
}

fn row(label: &str, canon: Duration, plain: Duration, per: usize) {
    let (c, p) = (canon / per as u32, plain / per as u32);
    println!(
        "{label:<48} {:>12} {:>12} {:>7.2}x",
        fmt(c),
        fmt(p),
        c.as_secs_f64() / p.as_secs_f64()
    );
}

fn fmt(d: Duration) -> String {
    match d.as_micros() {
        us if us < 10_000 => format!("{us} µs"),
        _ => format!("{:.1} ms", d.as_secs_f64() * 1e3),
    }
}

fn median(runs: usize, mut f: impl FnMut() -> BenchResult<Duration>) -> BenchResult<Duration> {
    let mut times = (0..runs).map(|_| f()).collect::<BenchResult<Vec<_>>>()?;
    times.sort();
    Ok(times[runs / 2])
}

/// One small parquet file per dataset, and a project declaring them all.
fn generate(dir: &Path, datasets: usize) -> BenchResult<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(0..100)),
            Arc::new(StringArray::from_iter_values(
                (0..100).map(|i| format!("n{i}")),
            )),
            Arc::new(Float64Array::from_iter_values((0..100).map(f64::from))),
        ],
    )?;
    let mut toml = String::from("[project]\nname = \"bench\"\n");
    for i in 0..datasets {
        let sub = dir.join(format!("d{i:04}"));
        std::fs::create_dir_all(&sub)?;
        let mut writer = ArrowWriter::try_new(
            File::create(sub.join("part-0.parquet"))?,
            schema.clone(),
            None,
        )?;
        writer.write(&batch)?;
        writer.close()?;
        write!(
            toml,
            "\n[[dataset]]\nname = \"d{i:04}\"\nformat = \"parquet\"\nlocation = \"d{i:04}/\"\ncolumns = [\n  \
             {{ name = \"id\", type = \"Int64\", nullable = false }},\n  {{ name = \"name\", type = \"Utf8\" }},\n  \
             {{ name = \"value\", type = \"Float64\" }},\n]\n"
        )?;
    }
    std::fs::write(dir.join("canon.toml"), toml)?;
    Ok(())
}

/// What a hand-written setup would run: the same tables, declared columns, plain DDL.
fn plain_ddl(dir: &Path, datasets: usize) -> Vec<String> {
    (0..datasets)
        .map(|i| {
            format!(
                "CREATE EXTERNAL TABLE d{i:04} (id BIGINT NOT NULL, name VARCHAR, value DOUBLE) \
                 STORED AS PARQUET LOCATION '{}/d{i:04}/'",
                dir.display()
            )
        })
        .collect()
}
