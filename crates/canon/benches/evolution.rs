//! Scan cost of schema evolution: a dataset whose files are half in last year's schema
//! (Int32 ids, a renamed Float32 fare, no tip column) read through Canon's evolution
//! adapter, next to the same rows rewritten in the contract schema. Median of several
//! runs for a full aggregate scan and a filtered scan. The goal is at most 1.15×.
//!
//! Run: `cargo bench -p canon --bench evolution` (optionally `-- ROWS_PER_FILE`).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::datafusion::arrow::array::{
    ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
};
use canon::datafusion::parquet::arrow::ArrowWriter;
use canon::{Runtime, Session};

const FILES: usize = 16;
const RUNS: usize = 7;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const CONTRACT: &str = r#"columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "fare", type = "Float64" },
  { name = "tip", type = "Float64" },
]
"#;

fn main() -> BenchResult<()> {
    let rows: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(500_000);
    let dir = tempfile::tempdir()?;
    generate(dir.path(), rows)?;
    std::fs::write(
        dir.path().join("canon.toml"),
        format!(
            "[project]\nname = \"bench\"\n\n[[dataset]]\nname = \"evolved\"\nformat = \"parquet\"\nlocation = \"evolved/\"\n{CONTRACT}\n\
             [dataset.evolution]\nmissing = \"default\"\ndefaults = {{ tip = \"0\" }}\nrenames = {{ fare_amt = \"fare\" }}\nwiden = true\n\n\
             [[dataset]]\nname = \"uniform\"\nformat = \"parquet\"\nlocation = \"uniform/\"\n{CONTRACT}\n\
             [[dataset]]\nname = \"uniform_nostats\"\nformat = \"parquet\"\nlocation = \"uniform/\"\n{CONTRACT}\n\
             [dataset.evolution]\nrenames = {{ unused_old_name = \"tip\" }}\n"
        ),
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let runtime = rt.block_on(Runtime::load(dir.path().join("canon.toml")))?;
    let session = runtime.session();

    // Both tables must hold the same rows, or the timing means nothing. Float sums depend
    // on summation order across partitions, so the check compares exact aggregates.
    let check = "SELECT count(*) AS n, sum(id) AS ids, sum(CAST(round(fare * 100) AS BIGINT)) AS cents, \
                 sum(CAST(tip AS BIGINT)) AS tips, count(*) FILTER (WHERE fare > 90) AS high FROM {t}";
    rt.block_on(results_equal(&session, check))?;

    println!(
        "Schema evolution scan benchmark: {FILES} files x {rows} rows, half in the old schema; median of {RUNS} runs"
    );
    // The third column reads the uniform files without file statistics, as datasets with
    // renames or defaults must (see EvolutionSpec::conflicts_with_statistics): it separates
    // the adapter's cost from the cost of scanning without statistics.
    println!(
        "{:<34} {:>12} {:>12} {:>8} {:>16}",
        "", "evolved", "uniform", "ratio", "uniform, no stats"
    );
    let queries = [
        (
            "full scan: sum(fare), sum(tip)",
            "SELECT sum(fare), sum(tip), count(*) FROM {t}",
        ),
        (
            "filtered: fare > 90",
            "SELECT count(*), sum(tip) FROM {t} WHERE fare > 90",
        ),
        (
            "filtered on widened id",
            "SELECT sum(fare) FROM {t} WHERE id % 1000 = 7",
        ),
    ];
    for (label, sql) in queries {
        let evolved = median(|| run(&rt, &session, &sql.replace("{t}", "evolved")))?;
        let uniform = median(|| run(&rt, &session, &sql.replace("{t}", "uniform")))?;
        let no_stats = median(|| run(&rt, &session, &sql.replace("{t}", "uniform_nostats")))?;
        println!(
            "{label:<34} {:>9.1} ms {:>9.1} ms {:>7.2}x {:>13.1} ms",
            evolved.as_secs_f64() * 1e3,
            uniform.as_secs_f64() * 1e3,
            evolved.as_secs_f64() / uniform.as_secs_f64(),
            no_stats.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

fn run(rt: &tokio::runtime::Runtime, session: &Session, sql: &str) -> BenchResult<Duration> {
    let start = Instant::now();
    rt.block_on(async {
        session
            .sql(sql)
            .await?
            .collect()
            .await
            .map_err(canon::CanonError::from)
    })?;
    Ok(start.elapsed())
}

/// Runs `sql` on both tables; `Err` shows both results when they differ.
async fn results_equal(session: &Session, sql: &str) -> BenchResult<()> {
    let render = |t: &str| {
        let sql = sql.replace("{t}", t);
        async move {
            let batches = session.sql(&sql).await?.collect().await?;
            Ok::<_, Box<dyn std::error::Error>>(
                canon::datafusion::arrow::util::pretty::pretty_format_batches(&batches)?
                    .to_string(),
            )
        }
    };
    let (evolved, uniform) = (render("evolved").await?, render("uniform").await?);
    if evolved == uniform {
        Ok(())
    } else {
        Err(
            format!("the tables read different rows:\nevolved:\n{evolved}\nuniform:\n{uniform}")
                .into(),
        )
    }
}

fn median(mut f: impl FnMut() -> BenchResult<Duration>) -> BenchResult<Duration> {
    f()?; // warm the caches and the page cache
    let mut times = (0..RUNS).map(|_| f()).collect::<BenchResult<Vec<_>>>()?;
    times.sort();
    Ok(times[RUNS / 2])
}

/// Writes the same rows twice: into `evolved/` (even files in the old schema) and into
/// `uniform/` (all in the contract schema). Old files have no tip; it reads as 0.
fn generate(dir: &Path, rows: usize) -> BenchResult<()> {
    for i in 0..FILES {
        let first = (i * rows) as i64;
        let ids: Vec<i64> = (first..first + rows as i64).collect();
        let fares: Vec<f32> = ids.iter().map(|id| (id % 10_000) as f32 / 100.0).collect();
        let old = i % 2 == 0;
        let tips: Vec<f64> = if old {
            vec![0.0; rows]
        } else {
            ids.iter().map(|id| (id % 7) as f64).collect()
        };
        let uniform: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(Int64Array::from(ids.clone()))),
            (
                "fare",
                Arc::new(Float64Array::from_iter_values(
                    fares.iter().map(|f| f64::from(*f)),
                )),
            ),
            ("tip", Arc::new(Float64Array::from(tips.clone()))),
        ];
        write(&dir.join(format!("uniform/part-{i:02}.parquet")), uniform)?;
        let evolved: Vec<(&str, ArrayRef)> = if old {
            vec![
                (
                    "id",
                    Arc::new(Int32Array::from_iter_values(
                        ids.iter().map(|id| *id as i32),
                    )),
                ),
                ("fare_amt", Arc::new(Float32Array::from(fares))),
            ]
        } else {
            vec![
                ("id", Arc::new(Int64Array::from(ids))),
                (
                    "fare",
                    Arc::new(Float64Array::from_iter_values(
                        fares.iter().map(|f| f64::from(*f)),
                    )),
                ),
                ("tip", Arc::new(Float64Array::from(tips))),
            ]
        };
        write(&dir.join(format!("evolved/part-{i:02}.parquet")), evolved)?;
    }
    Ok(())
}

fn write(path: &Path, columns: Vec<(&str, ArrayRef)>) -> BenchResult<()> {
    std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
    let batch = RecordBatch::try_from_iter(columns)?;
    let mut writer = ArrowWriter::try_new(File::create(path)?, batch.schema(), None)?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(())
}
