//! DuckDB timed in the same rounds as Canon and the plain session: `scripts/duckdb_tpch.py
//! --serve` in a child process, asked for one run of a statement at a time.
//!
//! DuckDB's figures from the script's own pass come from minutes before or after Canon's,
//! and this machine's speed moves by a fifth between such spells; timed round by round,
//! beside the other two engines, DuckDB meets the same spell they do.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::BenchResult;

/// The DuckDB script, beside the crate in the source tree.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/duckdb_tpch.py");

/// The compiled-in TPC-H query texts, as files the script reads.
pub const TPCH_QUERIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/queries");

/// A running `duckdb_tpch.py --serve`.
pub struct Served {
    child: Child,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
}

impl Served {
    /// The script started (see [`Served::start`]) where the caller named a `python`.
    pub fn start_if(
        python: Option<&Path>,
        suite: &str,
        data: &Path,
        queries: &Path,
    ) -> BenchResult<Option<Self>> {
        python
            .map(|python| Self::start(python, suite, data, queries))
            .transpose()
    }

    /// Starts the script with `python` (one that imports `duckdb`) over `data`, with the
    /// `suite`'s query texts in `queries`, and prints the DuckDB it reports.
    fn start(python: &Path, suite: &str, data: &Path, queries: &Path) -> BenchResult<Self> {
        let mut child = Command::new(python)
            .arg(SCRIPT)
            .arg("--serve")
            .args(["--suite", suite])
            .arg("--data")
            .arg(data)
            .arg("--queries")
            .arg(queries)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {} {SCRIPT}: {e}", python.display()))?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("the DuckDB script's pipes were not opened".into());
        };
        let mut served = Self {
            child,
            input: BufWriter::new(input),
            output: BufReader::new(output),
        };
        let hello = served.read_line()?;
        println!(
            "DuckDB {} ({} threads), timed in the same rounds",
            hello["version"].as_str().unwrap_or("?"),
            hello["threads"]
        );
        Ok(served)
    }

    /// One run of statement `name`: its time, or `None` where DuckDB refused it.
    pub fn run(&mut self, name: &str) -> BenchResult<Option<Duration>> {
        writeln!(self.input, "{name}")
            .and_then(|()| self.input.flush())
            .map_err(|e| format!("asking DuckDB for {name}: {e}"))?;
        let answer = self.read_line()?;
        if answer["query"].as_str() != Some(name) {
            return Err(format!("DuckDB answered {answer} when asked for {name}").into());
        }
        if answer["error"].is_string() {
            return Ok(None);
        }
        let ms = answer["ms"]
            .as_f64()
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .ok_or_else(|| format!("DuckDB's answer for {name} has no time: {answer}"))?;
        Ok(Some(Duration::from_secs_f64(ms / 1e3)))
    }

    fn read_line(&mut self) -> BenchResult<serde_json::Value> {
        let mut line = String::new();
        let read = self
            .output
            .read_line(&mut line)
            .map_err(|e| format!("reading the DuckDB script's answer: {e}"))?;
        if read == 0 {
            return Err("the DuckDB script ended early (see its error above)".into());
        }
        Ok(serde_json::from_str(&line)
            .map_err(|e| format!("the DuckDB script answered {line:?}: {e}"))?)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // The script keeps nothing worth a clean exit, and may be inside a query: kill it
        // and reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
