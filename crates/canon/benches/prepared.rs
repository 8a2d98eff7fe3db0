//! A recurring query, as `EXECUTE` of a prepared statement next to planning the same SQL
//! text every time, in one session of one runtime:
//! - to a physical plan (parse + plan + optimize, or bind parameters + optimize);
//! - to results (the same, then run on a small parquet dataset).
//!
//! Run: `cargo bench -p canon --bench prepared` (optionally `-- ITERATIONS`).

use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use canon::datafusion::arrow::datatypes::{DataType, Field, Schema};
use canon::datafusion::common::ScalarValue;
use canon::datafusion::parquet::arrow::ArrowWriter;
use canon::{CanonError, Runtime};

const RUNS: usize = 5;
const FILES: usize = 8;
const ROWS_PER_FILE: i64 = 2_000;

const QUERY: &str = "SELECT region, count(*) AS n, sum(amount) AS total FROM sales \
    WHERE customer % 100 = $1 AND amount > $2 GROUP BY region ORDER BY region";

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BenchResult<()> {
    let iterations: u32 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200);
    let dir = tempfile::tempdir()?;
    generate(dir.path())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let runtime = rt.block_on(Runtime::load(dir.path().join("canon.toml")))?;
    let session = runtime.session();
    rt.block_on(session.sql(&format!("PREPARE recurring(BIGINT, DOUBLE) AS {QUERY}")))?;
    let literal = QUERY.replace("$1", "7").replace("$2", "10.0");
    let params = || {
        vec![
            ScalarValue::Int64(Some(7)),
            ScalarValue::Float64(Some(10.0)),
        ]
    };

    // Both paths must agree before they are timed.
    let executed = rt.block_on(async {
        Ok::<_, CanonError>(
            session
                .execute("recurring", params())
                .await?
                .collect()
                .await?,
        )
    })?;
    let planned =
        rt.block_on(async { Ok::<_, CanonError>(session.sql(&literal).await?.collect().await?) })?;
    if executed != planned {
        return Err("EXECUTE and the literal SQL disagree".into());
    }

    println!(
        "Prepared statements: {} parquet rows, median of {RUNS} runs of {iterations} queries",
        FILES as i64 * ROWS_PER_FILE
    );
    println!(
        "{:<32} {:>14} {:>14} {:>8}",
        "per query", "EXECUTE", "SQL text", "ratio"
    );
    let plan_execute = median(|| {
        time(iterations, || {
            rt.block_on(async {
                let df = session.execute("recurring", params()).await?;
                df.create_physical_plan().await?;
                Ok(())
            })
        })
    })?;
    let plan_sql = median(|| {
        time(iterations, || {
            rt.block_on(async {
                session.sql(&literal).await?.create_physical_plan().await?;
                Ok(())
            })
        })
    })?;
    row("to a physical plan", plan_execute, plan_sql);
    let run_execute = median(|| {
        time(iterations, || {
            rt.block_on(async {
                session
                    .execute("recurring", params())
                    .await?
                    .collect()
                    .await?;
                Ok(())
            })
        })
    })?;
    let run_sql = median(|| {
        time(iterations, || {
            rt.block_on(async {
                session.sql(&literal).await?.collect().await?;
                Ok(())
            })
        })
    })?;
    row("to results", run_execute, run_sql);
    Ok(())
}

fn time(
    iterations: u32,
    mut once: impl FnMut() -> Result<(), CanonError>,
) -> BenchResult<Duration> {
    let start = Instant::now();
    for _ in 0..iterations {
        once()?;
    }
    Ok(start.elapsed() / iterations)
}

fn median(mut f: impl FnMut() -> BenchResult<Duration>) -> BenchResult<Duration> {
    let mut times = (0..RUNS).map(|_| f()).collect::<BenchResult<Vec<_>>>()?;
    times.sort();
    Ok(times[RUNS / 2])
}

fn row(label: &str, execute: Duration, sql: Duration) {
    println!(
        "{label:<32} {:>14} {:>14} {:>7.2}x",
        format!("{} µs", execute.as_micros()),
        format!("{} µs", sql.as_micros()),
        execute.as_secs_f64() / sql.as_secs_f64()
    );
}

/// A small dataset of parquet files, so that planning is a visible share of each query.
fn generate(dir: &std::path::Path) -> BenchResult<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    std::fs::create_dir_all(dir.join("sales"))?;
    for f in 0..FILES as i64 {
        let ids: Vec<i64> = (f * ROWS_PER_FILE..(f + 1) * ROWS_PER_FILE).collect();
        let regions = ["eu", "us", "apac"];
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(StringArray::from_iter_values(
                    ids.iter().map(|i| regions[(*i % 3) as usize]),
                )),
                Arc::new(Float64Array::from_iter_values(
                    ids.iter().map(|i| (*i % 97) as f64 * 1.5),
                )),
            ],
        )?;
        let file = File::create(dir.join(format!("sales/part-{f}.parquet")))?;
        let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), None)?;
        writer.write(&batch)?;
        writer.close()?;
    }
    std::fs::write(
        dir.join("canon.toml"),
        r#"[project]
name = "bench"

[[dataset]]
name = "sales"
format = "parquet"
location = "sales/"
columns = [
  { name = "customer", type = "Int64", nullable = false },
  { name = "region", type = "Utf8", nullable = false },
  { name = "amount", type = "Float64", nullable = false },
]
"#,
    )?;
    Ok(())
}
