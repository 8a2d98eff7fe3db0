//! A filtered scan of a multi-version Delta table through Canon, next to the same scan
//! through delta-rs's own table provider on a plain `SessionContext`, in one run.
//!
//! Run: `cargo bench -p canon --bench delta` (optionally `-- VERSIONS ROWS_PER_VERSION`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::Runtime;
use canon::datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use canon::datafusion::prelude::SessionContext;
use deltalake_core::DeltaTable;
use deltalake_core::protocol::SaveMode;

const RUNS: usize = 9;
const REGIONS: [&str; 4] = ["eu", "us", "apac", "latam"];
const QUERY: &str = "SELECT count(*), sum(amount) FROM events \
                     WHERE region = 'eu' AND amount > 900.0";

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const PROJECT: &str = r#"
[project]
name = "delta-bench"

[policy]
allow_ddl = true

[[dataset]]
name = "events"
format = "delta"
location = "events"
partitioned_by = ["region"]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "amount", type = "Float64" },
  { name = "region", type = "Utf8" },
]
"#;

fn main() -> BenchResult<()> {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let versions: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(12);
    let rows: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(versions, rows))
}

async fn run(versions: usize, rows: usize) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("canon.toml");
    std::fs::write(&file, PROJECT)?;
    let project = canon::Project::load(&file)?;
    let spec = project.dataset("events").ok_or("no dataset")?;
    let stores = canon::stores::Stores::for_project(&project)?;
    canon::delta::ops::create(spec, &project.policy, &stores).await?;
    let url = url::Url::from_directory_path(dir.path().join("events"))
        .map_err(|_| "table path is not absolute")?;
    let mut table = DeltaTable::try_from_url(url.clone()).await?;
    for version in 0..versions {
        table = table
            .write(vec![batch(version, rows)?])
            .with_save_mode(SaveMode::Append)
            .await?;
    }
    println!(
        "Delta scan benchmark: {versions} appends x {rows} rows (table version {}), median of {RUNS} runs",
        table.version().unwrap_or_default()
    );
    println!("query: {QUERY}");

    let runtime = Runtime::load(&file).await?;
    let session = runtime.session();
    let canon = measure(|| async {
        let batches = session.sql(QUERY).await?.collect().await?;
        Ok(batches)
    })
    .await?;

    let ctx = SessionContext::new();
    let plain = DeltaTable::try_from_url(url).await?;
    ctx.register_table("events", plain.table_provider().await?)?;
    let peer = measure(|| async {
        let batches = ctx.sql(QUERY).await?.collect().await?;
        Ok(batches)
    })
    .await?;

    if canon.1 != peer.1 {
        return Err(format!("results differ: Canon {:?}, delta-rs {:?}", canon.1, peer.1).into());
    }
    println!("result: {}", canon.1);
    println!("{:<44} {:>10}", "", "median");
    println!(
        "{:<44} {:>8.2} ms",
        "Canon (dataset from canon.toml)",
        ms(canon.0)
    );
    println!(
        "{:<44} {:>8.2} ms",
        "delta-rs provider on SessionContext::new()",
        ms(peer.0)
    );
    println!("Canon / delta-rs: {:.2}x", ms(canon.0) / ms(peer.0));
    Ok(())
}

/// The median time of `RUNS` runs (after one warm-up) and the rendered result.
async fn measure<F, Fut>(query: F) -> BenchResult<(Duration, String)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = BenchResult<Vec<RecordBatch>>>,
{
    let warm = query().await?;
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        query().await?;
        times.push(started.elapsed());
    }
    times.sort();
    let shown = canon::datafusion::arrow::util::pretty::pretty_format_batches(&warm)?
        .to_string()
        .lines()
        .nth(3)
        .unwrap_or_default()
        .to_string();
    Ok((times[RUNS / 2], shown))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One version's rows: ids continue across versions, amounts spread over 0..1000.
fn batch(version: usize, rows: usize) -> BenchResult<RecordBatch> {
    let start = (version * rows) as i64;
    let ids = Int64Array::from_iter_values(start..start + rows as i64);
    let amounts = Float64Array::from_iter_values(
        (0..rows).map(|i| ((i * 7919 + version * 104_729) % 100_000) as f64 / 100.0),
    );
    let regions = StringArray::from_iter_values((0..rows).map(|i| REGIONS[i % REGIONS.len()]));
    Ok(RecordBatch::try_from_iter_with_nullable(vec![
        ("id", Arc::new(ids) as _, false),
        ("amount", Arc::new(amounts) as _, true),
        ("region", Arc::new(regions) as _, false),
    ])?)
}
