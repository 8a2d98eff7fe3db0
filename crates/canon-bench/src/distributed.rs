//! TPC-H on one node against the same queries distributed over `canon worker` processes
//! on this machine: what distribution costs where it cannot add cores.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use canon::{Diagnostics, Project, Runtime};

use crate::BenchResult;
use crate::compare;
use crate::report::{Table, median, ms, ratio};
use crate::tpch::{self, select, time_async};

/// What the distributed run needs.
pub struct Options {
    /// Directory with one sub-directory of parquet files per TPC-H table.
    pub data: PathBuf,
    /// The release `canon` binary, started as the workers.
    pub canon: PathBuf,
    /// How many workers.
    pub workers: usize,
    /// Timed runs per query and set-up.
    pub runs: usize,
    /// Only these queries (all when empty).
    pub only: Vec<String>,
}

/// Worker processes, stopped when dropped.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `n` workers of `project` on loopback ports; returns them and their addresses.
fn start_workers(canon: &Path, project: &Path, n: usize) -> BenchResult<(Workers, Vec<String>)> {
    let mut workers = Workers(Vec::new());
    let mut urls = Vec::new();
    for _ in 0..n {
        let mut child = Command::new(canon)
            .arg("-p")
            .arg(project)
            .args(["worker", "--listen", "127.0.0.1:0", "--no-auth"])
            .env_remove("CANON_WORKERS")
            .env("CANON_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", canon.display()))?;
        let stdout = child.stdout.take().ok_or("no worker stdout")?;
        workers.0.push(child);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("canon worker: listening on ")
            .ok_or_else(|| format!("unexpected worker output: {line:?}"))?;
        urls.push(url.to_string());
    }
    Ok((workers, urls))
}

/// Runs every query on one node and distributed, alternating, and prints both.
pub async fn run(options: &Options) -> BenchResult<()> {
    let file = tpch::write_project(&options.data, true)?;
    let single = Runtime::load(&file)
        .await
        .map_err(|e| format!("loading {}: {e}", file.display()))?;
    let (_workers, urls) = start_workers(&options.canon, &file, options.workers)?;
    let mut project = Project::load(&file)?;
    project.distributed.workers = urls
        .iter()
        .map(|u| canon::canon_model::distributed::parse_worker(u))
        .collect::<Result<_, _>>()?;
    let distributed = Runtime::new(project, Diagnostics::new()).await?;
    let (one, many) = (single.session(), distributed.session());

    println!(
        "TPC-H over {}: one node against {} workers on the same machine ({} cores); median \
         of {} runs (ms); ratio = distributed / one node",
        options.data.display(),
        options.workers,
        std::thread::available_parallelism().map_or(0, usize::from),
        options.runs
    );
    let mut table = Table::new(&["query", "one node", "distributed", "ratio", "stages"]);
    let mut totals = [Duration::ZERO; 2];
    for query in select(&options.only)? {
        let mut times = [Vec::new(), Vec::new()];
        let mut rows = [Vec::new(), Vec::new()];
        for run in 0..options.runs.max(1) {
            for (i, session) in [&one, &many].into_iter().enumerate() {
                let (batches, t) =
                    time_async(async { Ok(session.sql(query.sql).await?.collect().await?) })
                        .await
                        .map_err(|e| {
                            format!("{} ({}): {e}", query.name, ["one node", "distributed"][i])
                        })?;
                times[i].push(t);
                if run == 0 {
                    rows[i] = compare::rows_from_batches(&batches)?;
                }
            }
        }
        compare::compare(&rows[0], &rows[1], query.ordered)
            .map_err(|m| format!("{}: distributed rows differ: {m}", query.name))?;
        let explained = many.explain(query.sql, false).await?;
        let stages = explained.physical_plan.matches("── Stage ").count();
        let (a, b) = (median(&times[0]), median(&times[1]));
        totals[0] += a;
        totals[1] += b;
        table.row(vec![
            query.name.to_string(),
            ms(a),
            ms(b),
            ratio(b, a),
            stages.to_string(),
        ]);
    }
    table.row(vec![
        "total".into(),
        ms(totals[0]),
        ms(totals[1]),
        ratio(totals[1], totals[0]),
        String::new(),
    ]);
    print!("{}", table.render());
    println!("Results: one node and distributed returned the same rows for every query.");
    Ok(())
}
