//! Object storage: one dataset of many small parquet files on local disk and the same
//! files in a bucket of an S3 server on loopback (moto's, started by `scripts/bench`), with
//! Canon's default caches and with every cache off. For each, the first query after
//! registration against repeated queries, with the requests each phase made of the store,
//! as `canon.stores` counts them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::Runtime;
use canon::datafusion::object_store::aws::AmazonS3Builder;
use canon::datafusion::object_store::path::Path as StorePath;
use canon::datafusion::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use canon::stores::RequestCounts;

use crate::BenchResult;
use crate::compare;
use crate::report::{Table, median, ms};
use crate::smallfiles::{self, CONTRACT_COLUMNS};

/// Rows per generated file.
const ROWS_PER_FILE: i64 = 1_000;
/// The bucket the files are copied to.
const BUCKET: &str = "canon-bench";

/// What the object-storage run needs.
pub struct Options {
    /// Scratch directory for the files and projects.
    pub work: PathBuf,
    /// The S3 server's endpoint, e.g. `http://127.0.0.1:9000`. Canon signs its requests
    /// with the credentials of the standard `AWS_*` variables, which moto accepts whatever
    /// they are.
    pub endpoint: String,
    /// Files in the dataset.
    pub files: usize,
    /// Fresh registrations per set-up, and repeated runs after each.
    pub runs: usize,
}

/// Requests of one phase, for the table.
fn requests(c: RequestCounts) -> String {
    format!(
        "{} GET ({:.1} MiB), {} HEAD, {} LIST",
        c.gets,
        c.get_bytes as f64 / (1024.0 * 1024.0),
        c.heads,
        c.lists
    )
}

fn minus(after: RequestCounts, before: RequestCounts) -> RequestCounts {
    RequestCounts {
        gets: after.gets.saturating_sub(before.gets),
        get_bytes: after.get_bytes.saturating_sub(before.get_bytes),
        heads: after.heads.saturating_sub(before.heads),
        lists: after.lists.saturating_sub(before.lists),
        puts: after.puts.saturating_sub(before.puts),
        put_bytes: after.put_bytes.saturating_sub(before.put_bytes),
        deletes: after.deletes.saturating_sub(before.deletes),
        copies: after.copies.saturating_sub(before.copies),
    }
}

/// The store's counts in a runtime: the bucket's, or the project directory's.
fn counts(runtime: &Runtime, url: &str) -> RequestCounts {
    runtime
        .profile()
        .stores()
        .infos()
        .into_iter()
        .find(|i| i.url == url)
        .map(|i| i.requests)
        .unwrap_or_default()
}

/// Runs the benchmark and prints its table.
pub async fn run(options: &Options) -> BenchResult<()> {
    let dir = options.work.join("storage");
    let projects = generate(&dir, options).await?;
    let queries = smallfiles::queries(options.files, ROWS_PER_FILE);
    println!(
        "Object storage: {} parquet files x {ROWS_PER_FILE} rows on local disk and on an S3 \
         server on loopback ({}); per set-up {} fresh registrations, each followed by a first \
         run and {} repeated runs; medians (ms); requests of the last registration, its first \
         run, and one repeated run",
        options.files, options.endpoint, options.runs, options.runs
    );
    let mut table = Table::new(&[
        "query",
        "set-up",
        "register",
        "first run",
        "repeated",
        "requests: register",
        "first run",
        "repeated run",
    ])
    .left_aligned(&[1, 5, 6, 7]);
    for (label, sql) in &queries {
        let mut reference: Option<Vec<compare::Row>> = None;
        for (setup, project, store) in &projects {
            let (mut register, mut first, mut repeated) = (Vec::new(), Vec::new(), Vec::new());
            let mut phases = [RequestCounts::default(); 3];
            for _ in 0..options.runs.max(1) {
                let start = Instant::now();
                let runtime = Runtime::load(project)
                    .await
                    .map_err(|e| format!("loading {}: {e}", project.display()))?;
                let session = runtime.session();
                register.push(start.elapsed());
                let registered = counts(&runtime, store);
                let (batches, t) = timed(&session, sql).await?;
                first.push(t);
                let after_first = counts(&runtime, store);
                let rows = compare::rows_from_batches(&batches)?;
                match &reference {
                    None => reference = Some(rows),
                    Some(expected) => compare::compare(expected, &rows, true)
                        .map_err(|m| format!("storage, {label}: {setup} differs: {m}"))?,
                }
                let mut last = after_first;
                for _ in 0..options.runs.max(1) {
                    repeated.push(timed(&session, sql).await?.1);
                    let now = counts(&runtime, store);
                    phases[2] = minus(now, last);
                    last = now;
                }
                phases[0] = registered;
                phases[1] = minus(after_first, registered);
            }
            table.row(vec![
                label.to_string(),
                setup.to_string(),
                ms(median(&register)),
                ms(median(&first)),
                ms(median(&repeated)),
                requests(phases[0]),
                requests(phases[1]),
                requests(phases[2]),
            ]);
        }
    }
    print!("{}", table.render());
    Ok(())
}

async fn timed(
    session: &canon::Session,
    sql: &str,
) -> BenchResult<(Vec<canon::datafusion::arrow::array::RecordBatch>, Duration)> {
    let start = Instant::now();
    let batches = session.sql(sql).await?.collect().await?;
    Ok((batches, start.elapsed()))
}

/// The files on disk and in the bucket, and four projects over them: (set-up, project
/// file, URL of the store it reads through).
async fn generate(
    dir: &Path,
    options: &Options,
) -> BenchResult<Vec<(&'static str, PathBuf, &'static str)>> {
    let data = dir.join("many");
    smallfiles::fresh_dir(&data)?;
    create_bucket(&options.endpoint)?;
    let bucket: Arc<dyn ObjectStore> = Arc::new(
        AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_endpoint(&options.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("bench")
            .with_secret_access_key("bench")
            .build()?,
    );
    for i in 0..options.files {
        let name = format!("part-{i:05}.parquet");
        let path = data.join(&name);
        smallfiles::write_file(&path, i as i64 * ROWS_PER_FILE, ROWS_PER_FILE)?;
        let bytes = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        bucket
            .put(
                &StorePath::from(format!("many/{name}")),
                PutPayload::from(bytes),
            )
            .await?;
    }
    let store = format!(
        "[[store]]\nurl = \"s3://{BUCKET}\"\noptions = {{ endpoint = \"{}\", allow_http = \
         \"true\", region = \"us-east-1\" }}\n\n",
        options.endpoint
    );
    let no_cache = "[profile.cache]\nmetadata = \"0\"\nlist_files = \"0\"\nstatistics = false\n\n";
    let mut projects = Vec::new();
    for (setup, file, profile, location, url) in [
        (
            "local disk, default caches",
            "local.toml",
            "",
            "many/",
            "project://",
        ),
        (
            "local disk, caches off",
            "local-nocache.toml",
            no_cache,
            "many/",
            "project://",
        ),
        (
            "S3, default caches",
            "s3.toml",
            "",
            "s3://canon-bench/many/",
            "s3://canon-bench",
        ),
        (
            "S3, caches off",
            "s3-nocache.toml",
            no_cache,
            "s3://canon-bench/many/",
            "s3://canon-bench",
        ),
    ] {
        let text = format!(
            "[project]\nname = \"storage\"\n\n{profile}{store}[[dataset]]\nname = \"many\"\n\
             format = \"parquet\"\nlocation = \"{location}\"\ncolumns = {CONTRACT_COLUMNS}\n"
        );
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        projects.push((setup, path, url));
    }
    Ok(projects)
}

/// Creates the bucket with one plain `PUT /bucket`, which moto takes unsigned; an existing
/// bucket is kept.
fn create_bucket(endpoint: &str) -> BenchResult<()> {
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or("the S3 endpoint must be http://host:port")?
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(authority)
        .map_err(|e| format!("cannot reach the S3 server at {endpoint}: {e}"))?;
    let request = format!(
        "PUT /{BUCKET} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let ok = answer.starts_with("HTTP/1.1 200") || answer.contains("BucketAlreadyOwnedByYou");
    if !ok {
        let status = answer.lines().next().unwrap_or_default();
        return Err(format!("creating bucket {BUCKET} at {endpoint}: {status}").into());
    }
    Ok(())
}
