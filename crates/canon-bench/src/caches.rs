//! Caches: queries over one dataset of many small parquet files, the first run after
//! registration against repeated runs in the same session — Canon with its default profile,
//! Canon with every cache off, and a plain `SessionContext`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use canon::Runtime;
use canon::datafusion::arrow::array::RecordBatch;
use canon::datafusion::prelude::SessionContext;

use crate::BenchResult;
use crate::compare;
use crate::report::{Table, median, ms};
use crate::smallfiles::{self, CONTRACT_COLUMNS, DDL_COLUMNS};

/// Rows per generated file; ids run on from file to file, so file statistics prune by id.
const ROWS_PER_FILE: i64 = 1_000;

/// What the cache run needs.
pub struct Options {
    /// Scratch directory for the files and projects.
    pub work: PathBuf,
    /// Files in the dataset.
    pub files: usize,
    /// Fresh registrations per engine, and repeated runs after each.
    pub runs: usize,
}

/// The three set-ups compared.
#[derive(Clone, Copy)]
enum Engine {
    CanonDefault,
    CanonNoCache,
    Plain,
}

impl Engine {
    fn label(self) -> &'static str {
        match self {
            Engine::CanonDefault => "canon (default profile)",
            Engine::CanonNoCache => "canon (caches off)",
            Engine::Plain => "datafusion SessionContext::new()",
        }
    }
}

/// A registered dataset in one of the set-ups, ready to query.
enum Ready {
    Canon(canon::Session),
    Plain(SessionContext),
}

impl Ready {
    async fn query(&self, sql: &str) -> BenchResult<Vec<RecordBatch>> {
        Ok(match self {
            Ready::Canon(session) => session.sql(sql).await?.collect().await?,
            Ready::Plain(ctx) => ctx.sql(sql).await?.collect().await?,
        })
    }
}

/// Runs the benchmark and prints its table.
pub async fn run(options: &Options) -> BenchResult<()> {
    let dir = options.work.join("caches");
    let (default_project, nocache_project) = generate(&dir, options.files)?;
    let queries = smallfiles::queries(options.files, ROWS_PER_FILE);
    println!(
        "Caches: one dataset of {} parquet files x {ROWS_PER_FILE} rows; per set-up {} fresh \
         registrations, each followed by a first run and {} repeated runs in the same session; \
         medians (ms)",
        options.files, options.runs, options.runs
    );
    let mut table = Table::new(&[
        "query",
        "set-up",
        "register",
        "first run",
        "register + first",
        "repeated",
        "first/repeated",
    ])
    .left_aligned(&[1]);
    for (label, sql) in &queries {
        let mut reference: Option<Vec<compare::Row>> = None;
        for engine in [Engine::CanonDefault, Engine::CanonNoCache, Engine::Plain] {
            let (mut register, mut first, mut to_first, mut repeated) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..options.runs.max(1) {
                let start = Instant::now();
                let ready = match engine {
                    Engine::CanonDefault => canon_ready(&default_project).await?,
                    Engine::CanonNoCache => canon_ready(&nocache_project).await?,
                    Engine::Plain => plain_ready(&dir).await?,
                };
                register.push(start.elapsed());
                let (batches, t) = timed(&ready, sql).await?;
                first.push(t);
                to_first.push(start.elapsed());
                let rows = compare::rows_from_batches(&batches)?;
                match &reference {
                    None => reference = Some(rows),
                    Some(expected) => compare::compare(expected, &rows, true).map_err(|m| {
                        format!("caches, {label}: {} differs: {}", engine.label(), m)
                    })?,
                }
                for _ in 0..options.runs.max(1) {
                    repeated.push(timed(&ready, sql).await?.1);
                }
            }
            let (f, r) = (median(&first), median(&repeated));
            table.row(vec![
                label.to_string(),
                engine.label().into(),
                ms(median(&register)),
                ms(f),
                ms(median(&to_first)),
                ms(r),
                format!("{:.1}x", f.as_secs_f64() / r.as_secs_f64().max(1e-9)),
            ]);
        }
    }
    print!("{}", table.render());
    Ok(())
}

async fn timed(ready: &Ready, sql: &str) -> BenchResult<(Vec<RecordBatch>, Duration)> {
    let start = Instant::now();
    let batches = ready.query(sql).await?;
    Ok((batches, start.elapsed()))
}

async fn canon_ready(project: &Path) -> BenchResult<Ready> {
    let runtime = Runtime::load(project)
        .await
        .map_err(|e| format!("loading {}: {e}", project.display()))?;
    Ok(Ready::Canon(runtime.session()))
}

async fn plain_ready(dir: &Path) -> BenchResult<Ready> {
    let ctx = SessionContext::new();
    ctx.sql(&format!(
        "CREATE EXTERNAL TABLE many {DDL_COLUMNS} STORED AS PARQUET LOCATION '{}/'",
        dir.join("many").display()
    ))
    .await?;
    Ok(Ready::Plain(ctx))
}

/// The files, and two projects over them: the default profile and one with caches off.
fn generate(dir: &Path, files: usize) -> BenchResult<(PathBuf, PathBuf)> {
    let data = dir.join("many");
    smallfiles::fresh_dir(&data)?;
    for i in 0..files {
        smallfiles::write_file(
            &data.join(format!("part-{i:05}.parquet")),
            i as i64 * ROWS_PER_FILE,
            ROWS_PER_FILE,
        )?;
    }
    let dataset = format!(
        "[[dataset]]\nname = \"many\"\nformat = \"parquet\"\nlocation = \"many/\"\n\
         columns = {CONTRACT_COLUMNS}\n"
    );
    let default_project = dir.join("canon-default.toml");
    let nocache_project = dir.join("canon-nocache.toml");
    for (file, profile) in [
        (&default_project, ""),
        (
            &nocache_project,
            "[profile.cache]\nmetadata = \"0\"\nlist_files = \"0\"\nstatistics = false\n\n",
        ),
    ] {
        let text = format!("[project]\nname = \"caches\"\n\n{profile}{dataset}");
        std::fs::write(file, text).map_err(|e| format!("writing {}: {e}", file.display()))?;
    }
    Ok((default_project, nocache_project))
}
