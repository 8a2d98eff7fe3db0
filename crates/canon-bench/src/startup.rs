//! Start-up and registration: `canon query "SELECT 1"` as a whole process, over generated
//! projects of small parquet datasets, next to the same work in-process: Canon's
//! `Runtime::load`, and plain `CREATE EXTERNAL TABLE` DDL in a `SessionContext`. The first
//! process of a fresh project reads every file's footer; later ones find the files in the
//! project's verified-files manifest.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use canon::Runtime;
use canon::datafusion::prelude::SessionContext;

use crate::BenchResult;
use crate::report::{Table, median_of, ms, ratio};
use crate::smallfiles::{self, CONTRACT_COLUMNS, DDL_COLUMNS};

/// What the start-up run needs.
pub struct Options {
    /// The release `canon` binary.
    pub canon: PathBuf,
    /// Scratch directory for the generated projects.
    pub work: PathBuf,
    /// Dataset counts, one project each.
    pub datasets: Vec<usize>,
    /// Timed runs (process spawns, in-process loads) per figure.
    pub runs: usize,
}

/// Runs the benchmark and prints its table.
pub async fn run(options: &Options) -> BenchResult<()> {
    println!(
        "Start-up and registration: `canon -p P query \"SELECT 1\"` as a process (first: a fresh \
         project, no verified-files manifest yet), and in-process load + SELECT 1; median of {} \
         runs (ms); ratio = datafusion / canon in-process",
        options.runs
    );
    let mut table = Table::new(&[
        "datasets",
        "canon process, first",
        "canon process",
        "canon in-process",
        "datafusion in-process",
        "ratio",
    ]);
    for &n in &options.datasets {
        let dir = options.work.join(format!("startup-{n}"));
        let project = generate(&dir, n)?;
        let first = spawn_canon(&options.canon, &project)?;
        let process = median_of(options.runs, || spawn_canon(&options.canon, &project))?;

        let mut canon_times = Vec::new();
        let mut plain_times = Vec::new();
        let ddl = plain_ddl(&dir, n);
        for _ in 0..options.runs.max(1) {
            let start = Instant::now();
            let runtime = Runtime::load(&project)
                .await
                .map_err(|e| format!("loading {}: {e}", project.display()))?;
            runtime.session().sql("SELECT 1").await?.collect().await?;
            canon_times.push(start.elapsed());

            let start = Instant::now();
            let ctx = SessionContext::new();
            for statement in &ddl {
                ctx.sql(statement).await?;
            }
            ctx.sql("SELECT 1").await?.collect().await?;
            plain_times.push(start.elapsed());
        }
        let (c, p) = (
            crate::report::median(&canon_times),
            crate::report::median(&plain_times),
        );
        table.row(vec![
            n.to_string(),
            ms(first),
            ms(process),
            ms(c),
            ms(p),
            ratio(p, c),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

/// One whole `canon query "SELECT 1"` process, which must succeed.
fn spawn_canon(canon: &Path, project: &Path) -> BenchResult<Duration> {
    let start = Instant::now();
    let output = Command::new(canon)
        .arg("-p")
        .arg(project)
        .args(["query", "SELECT 1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("running {}: {e}", canon.display()))?;
    let elapsed = start.elapsed();
    if !output.status.success() {
        return Err(format!(
            "{} -p {} query \"SELECT 1\" failed ({}): {}",
            canon.display(),
            project.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    Ok(elapsed)
}

/// One small parquet file per dataset, and a project declaring them all.
fn generate(dir: &Path, datasets: usize) -> BenchResult<PathBuf> {
    smallfiles::fresh_dir(dir)?;
    let mut toml = String::from("[project]\nname = \"startup\"\n");
    for i in 0..datasets {
        let sub = dir.join(format!("d{i:04}"));
        std::fs::create_dir_all(&sub).map_err(|e| format!("creating {}: {e}", sub.display()))?;
        smallfiles::write_file(&sub.join("part-0.parquet"), 0, 100)?;
        // Writing to a String cannot fail.
        let _ = write!(
            toml,
            "\n[[dataset]]\nname = \"d{i:04}\"\nformat = \"parquet\"\nlocation = \"d{i:04}/\"\n\
             columns = {CONTRACT_COLUMNS}\n"
        );
    }
    let project = dir.join("canon.toml");
    std::fs::write(&project, toml).map_err(|e| format!("writing {}: {e}", project.display()))?;
    Ok(project)
}

/// What a hand-written setup runs: the same tables and columns, one statement each.
fn plain_ddl(dir: &Path, datasets: usize) -> Vec<String> {
    (0..datasets)
        .map(|i| {
            format!(
                "CREATE EXTERNAL TABLE d{i:04} {DDL_COLUMNS} STORED AS PARQUET LOCATION '{}/d{i:04}/'",
                dir.display()
            )
        })
        .collect()
}
