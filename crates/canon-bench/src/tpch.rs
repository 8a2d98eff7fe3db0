//! TPC-H: the 22 queries through Canon, a plain `SessionContext` and (from the DuckDB
//! script's JSON) DuckDB, over the same parquet files; results checked to agree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::Runtime;
use canon::datafusion::arrow::array::RecordBatch;
use canon::datafusion::physical_plan as execution_plan;
use canon::datafusion::prelude::SessionContext;

use crate::BenchResult;
use crate::compare::{self, Row};
use crate::memory;
use crate::report::{Table, median, ms, paired_ratio, ratio};
use crate::tpch_project::{self, TABLES};

/// One TPC-H query: its name, SQL, and whether its ORDER BY fixes the order of every row.
pub struct Query {
    pub name: &'static str,
    pub sql: &'static str,
    /// True where the ORDER BY keys are unique per row, so the order is part of the answer;
    /// otherwise rows are compared sorted (ties may come in any order).
    pub ordered: bool,
}

macro_rules! query {
    ($name:literal, $ordered:expr) => {
        Query {
            name: $name,
            sql: include_str!(concat!("../queries/", $name, ".sql")),
            ordered: $ordered,
        }
    };
}

/// The queries, with the specification's validation substitution parameters.
pub const QUERIES: &[Query] = &[
    query!("q1", true),
    query!("q2", true),
    query!("q3", false),
    query!("q4", true),
    query!("q5", false),
    query!("q6", true),
    query!("q7", true),
    query!("q8", true),
    query!("q9", true),
    query!("q10", false),
    query!("q11", false),
    query!("q12", true),
    query!("q13", true),
    query!("q14", true),
    query!("q15", true),
    query!("q16", true),
    query!("q17", true),
    query!("q18", false),
    query!("q19", true),
    query!("q20", true),
    query!("q21", true),
    query!("q22", true),
];

/// What the TPC-H run needs.
pub struct Options {
    /// Directory with one sub-directory of parquet files per table.
    pub data: PathBuf,
    /// JSON written by `scripts/duckdb_tpch.py`, if DuckDB ran.
    pub duckdb: Option<PathBuf>,
    /// Timed runs per query and engine.
    pub runs: usize,
    /// Only these queries (all when empty).
    pub only: Vec<String>,
    /// Whether the project declares the tables' sort orders.
    pub declare_order: bool,
    /// A project file to use instead of the generated one (to measure a profile setting).
    pub project: Option<PathBuf>,
}

/// Timings and first-run rows of one engine for one query.
struct Outcome {
    times: Vec<Duration>,
    rows: Vec<Row>,
}

/// Writes `canon.toml` into the data directory, after checking which sort keys hold; with
/// `declare_order` false, writes `canon-unordered.toml` without any, to measure what the
/// declared orders change.
pub fn write_project(data: &Path, declare_order: bool) -> BenchResult<PathBuf> {
    let mut sorted = Vec::new();
    for table in TABLES {
        if !declare_order {
            sorted.push(false);
            continue;
        }
        let files = tpch_project::table_files(data, table.name)?;
        let holds = tpch_project::is_sorted(&files, table.sort_key)?;
        if !holds {
            println!(
                "note: {} is not sorted by {}; no order declared",
                table.name,
                table.sort_key.join(", ")
            );
        }
        sorted.push(holds);
    }
    let file = data.join(if declare_order {
        "canon.toml"
    } else {
        "canon-unordered.toml"
    });
    std::fs::write(&file, tpch_project::render(&sorted))
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
    Ok(file)
}

/// The plain session: `SessionContext::new()` and one `CREATE EXTERNAL TABLE` per table,
/// the schema inferred from the files.
pub async fn plain_session(data: &Path) -> BenchResult<SessionContext> {
    let ctx = SessionContext::new();
    for table in TABLES {
        let location = data.join(table.name);
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE {} STORED AS PARQUET LOCATION '{}/'",
            table.name,
            location.display()
        ))
        .await
        .map_err(|e| format!("registering {} in the plain session: {e}", table.name))?;
    }
    Ok(ctx)
}

/// Runs the benchmark and prints its table; an error if any engine's rows differ.
pub async fn run(options: &Options) -> BenchResult<()> {
    let project = match &options.project {
        Some(project) => project.clone(),
        None => write_project(&options.data, options.declare_order)?,
    };
    let runtime = Runtime::load(&project)
        .await
        .map_err(|e| format!("loading {}: {e}", project.display()))?;
    let session = runtime.session();
    let plain = plain_session(&options.data).await?;
    let duckdb = match &options.duckdb {
        Some(file) => Some(load_duckdb(file)?),
        None => None,
    };

    let queries = select(&options.only)?;
    println!(
        "TPC-H over {}: {} queries, median of {} runs (ms); ratio = engine time / Canon time; \
         paired = the median of that ratio between the two engines' runs of each round; \
         MiB = the process's peak resident size during the engine's runs",
        options.data.display(),
        queries.len(),
        options.runs
    );
    let mut header = vec!["query", "canon", "datafusion", "df/canon", "paired"];
    if duckdb.is_some() {
        header.extend(["duckdb", "duckdb/canon"]);
    }
    header.extend(["canon MiB", "df MiB", "note"]);
    let mut table = Table::new(&header).left_aligned(&[header.len() - 1]);
    let mut totals = [Duration::ZERO; 3];
    let mut mismatches = Vec::new();
    let mut slower = Vec::new();
    for query in queries {
        let mut canon_out = Outcome {
            times: Vec::new(),
            rows: Vec::new(),
        };
        let mut plain_out = Outcome {
            times: Vec::new(),
            rows: Vec::new(),
        };
        // Runs alternate between the engines, and so does which of them goes first, so that
        // load from elsewhere on the machine and what the previous run left behind (caches,
        // freed memory) fall on both alike.
        let (mut canon_peak, mut plain_peak) = (None, None);
        for run in 0..options.runs.max(1) {
            let canon_first = run % 2 == 0;
            for canon_turn in [canon_first, !canon_first] {
                let (timed, peak) = memory::with_peak(time_async(async {
                    let frame = if canon_turn {
                        session.sql(query.sql).await?
                    } else {
                        plain.sql(query.sql).await?
                    };
                    Ok(frame.collect().await?)
                }))
                .await;
                let (engine, out, engine_peak) = if canon_turn {
                    ("canon", &mut canon_out, &mut canon_peak)
                } else {
                    ("datafusion", &mut plain_out, &mut plain_peak)
                };
                let (batches, t) = timed.map_err(|e| format!("{} on {engine}: {e}", query.name))?;
                *engine_peak = (*engine_peak).max(peak);
                out.times.push(t);
                if run == 0 {
                    out.rows = compare::rows_from_batches(&batches)?;
                }
            }
        }
        let (c, p) = (median(&canon_out.times), median(&plain_out.times));
        totals[0] += c;
        totals[1] += p;
        let mut cells = vec![
            query.name.to_string(),
            ms(c),
            ms(p),
            ratio(p, c),
            paired_ratio(&plain_out.times, &canon_out.times),
        ];
        if let Err(m) = compare::compare(&canon_out.rows, &plain_out.rows, query.ordered) {
            mismatches.push(format!(
                "{}: datafusion differs from canon: {}",
                query.name, m
            ));
        }
        if let Some(duckdb) = &duckdb {
            let d = duckdb
                .get(query.name)
                .ok_or_else(|| format!("{} is missing from the DuckDB results", query.name))?;
            let dm = median(&d.times);
            totals[2] += dm;
            cells.extend([ms(dm), ratio(dm, c)]);
            if let Err(m) = compare::compare(&canon_out.rows, &d.rows, query.ordered) {
                mismatches.push(format!("{}: duckdb differs from canon: {}", query.name, m));
            }
        }
        cells.extend([memory::mib(canon_peak), memory::mib(plain_peak)]);
        if c > p {
            slower.push(query.name);
            cells.push("canon slower".into());
        } else {
            cells.push(String::new());
        }
        table.row(cells);
    }
    let mut cells = vec![
        "total".into(),
        ms(totals[0]),
        ms(totals[1]),
        ratio(totals[1], totals[0]),
        String::new(),
    ];
    if duckdb.is_some() {
        cells.extend([ms(totals[2]), ratio(totals[2], totals[0])]);
    }
    cells.extend([String::new(), String::new()]);
    cells.push(if totals[0] > totals[1] {
        "canon slower".into()
    } else {
        String::new()
    });
    table.row(cells);
    print!("{}", table.render());
    if slower.is_empty() {
        println!("Canon was not slower than the plain session on any query.");
    } else {
        println!(
            "Canon slower than the plain session on: {}",
            slower.join(", ")
        );
    }
    if !mismatches.is_empty() {
        for m in &mismatches {
            eprintln!("RESULT MISMATCH {m}");
        }
        return Err(format!("{} result mismatches (see above)", mismatches.len()).into());
    }
    println!("Results: all engines returned the same rows for every query.");
    Ok(())
}

/// Prints each query's physical plan in Canon and in the plain session, one after the other.
pub async fn explain(
    data: &Path,
    declare_order: bool,
    analyze: bool,
    only: &[String],
) -> BenchResult<()> {
    let project = write_project(data, declare_order)?;
    let runtime = Runtime::load(&project).await?;
    let session = runtime.session();
    let plain = plain_session(data).await?;
    let explain = if analyze {
        "EXPLAIN ANALYZE"
    } else {
        "EXPLAIN"
    };
    for query in select(only)? {
        let sql = format!("{explain} {}", strip_comments(query.sql));
        let canon_plan = session.sql(&sql).await?.collect().await?;
        let plain_plan = plain.sql(&sql).await?.collect().await?;
        println!("== {} canon\n{}", query.name, plan_text(&canon_plan)?);
        println!("== {} datafusion\n{}", query.name, plan_text(&plain_plan)?);
    }
    Ok(())
}

/// The queries named (all when none are), or an error naming an unknown one.
pub(crate) fn select(only: &[String]) -> BenchResult<Vec<&'static Query>> {
    if let Some(unknown) = only
        .iter()
        .find(|o| !QUERIES.iter().any(|q| q.name == o.as_str()))
    {
        return Err(format!("unknown query {unknown:?}; the queries are q1 … q22").into());
    }
    Ok(QUERIES
        .iter()
        .filter(|q| only.is_empty() || only.iter().any(|o| o == q.name))
        .collect())
}

/// Each query's time split into planning (SQL text to physical plan) and execution (that
/// plan to collected batches), in Canon and the plain session: Canon's own work is in
/// planning (policy, lineage, fingerprint); execution is DataFusion's in both.
pub async fn phases(
    data: &Path,
    declare_order: bool,
    runs: usize,
    only: &[String],
) -> BenchResult<()> {
    let project = write_project(data, declare_order)?;
    let runtime = Runtime::load(&project).await?;
    let session = runtime.session();
    let plain = plain_session(data).await?;
    println!("TPC-H phases: median of {runs} runs (ms); ratio = datafusion / canon");
    let mut table = Table::new(&[
        "query",
        "plan canon",
        "plan df",
        "ratio",
        "fingerprint+lineage",
        "exec canon",
        "exec df",
        "ratio",
    ]);
    let mut totals = [Duration::ZERO; 5];
    for query in select(only)? {
        let mut times: [Vec<Duration>; 5] = Default::default();
        // The part of Canon's planning hook that is not DataFusion's: measured on its own,
        // through Canon's public functions, over the plan the hook is given.
        let optimized = session.sql(query.sql).await?.into_optimized_plan()?;
        for run in 0..runs.max(1) {
            let start = Instant::now();
            std::hint::black_box(canon::sql::fingerprint(&optimized));
            std::hint::black_box(canon::sql::lineage::of(&optimized, "datafusion", "public"));
            times[4].push(start.elapsed());
            // Which engine goes first alternates, as in `run`.
            let mut order = [(0, None), (1, Some(&plain))];
            if run % 2 == 1 {
                order.reverse();
            }
            for (engine, ctx) in order {
                let start = Instant::now();
                let (plan, task) = match ctx {
                    None => {
                        let df = session.sql(query.sql).await?;
                        let task = df.task_ctx();
                        (df.create_physical_plan().await?, task)
                    }
                    Some(ctx) => {
                        let df = ctx.sql(query.sql).await?;
                        let task = df.task_ctx();
                        (df.create_physical_plan().await?, task)
                    }
                };
                times[engine].push(start.elapsed());
                let start = Instant::now();
                execution_plan::collect(plan, Arc::new(task))
                    .await
                    .map_err(|e| format!("{}: {e}", query.name))?;
                times[engine + 2].push(start.elapsed());
            }
        }
        // In the table's order: plans, the hook's share, executions.
        let m: Vec<Duration> = [0, 1, 4, 2, 3].iter().map(|&i| median(&times[i])).collect();
        for (total, m) in totals.iter_mut().zip(&m) {
            *total += *m;
        }
        table.row(vec![
            query.name.into(),
            ms(m[0]),
            ms(m[1]),
            ratio(m[1], m[0]),
            ms(m[2]),
            ms(m[3]),
            ms(m[4]),
            ratio(m[4], m[3]),
        ]);
    }
    let t = totals;
    table.row(vec![
        "total".into(),
        ms(t[0]),
        ms(t[1]),
        ratio(t[1], t[0]),
        ms(t[2]),
        ms(t[3]),
        ms(t[4]),
        ratio(t[4], t[3]),
    ]);
    print!("{}", table.render());
    Ok(())
}

fn strip_comments(sql: &str) -> String {
    sql.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn plan_text(batches: &[RecordBatch]) -> BenchResult<String> {
    Ok(canon::datafusion::arrow::util::pretty::pretty_format_batches(batches)?.to_string())
}

pub(crate) async fn time_async<T>(
    f: impl Future<Output = BenchResult<T>>,
) -> BenchResult<(T, Duration)> {
    let start = Instant::now();
    let value = f.await?;
    Ok((value, start.elapsed()))
}

/// DuckDB's timings and rows per query, from the script's JSON.
fn load_duckdb(file: &Path) -> BenchResult<BTreeMap<String, Outcome>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("reading DuckDB results {}: {e}", file.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("parsing DuckDB results {}: {e}", file.display()))?;
    let queries = json["queries"]
        .as_array()
        .ok_or_else(|| format!("{}: no \"queries\" array", file.display()))?;
    let mut out = BTreeMap::new();
    for q in queries {
        let name = q["query"]
            .as_str()
            .ok_or_else(|| format!("{}: a query without a name", file.display()))?;
        let times = q["times_ms"]
            .as_array()
            .ok_or_else(|| format!("{}: {name} has no times_ms", file.display()))?
            .iter()
            .map(|t| {
                t.as_f64()
                    .map(|ms| Duration::from_secs_f64(ms / 1e3))
                    .ok_or_else(|| format!("{}: {name} has a non-numeric time", file.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rows = compare::rows_from_json(&q["rows"])
            .map_err(|e| format!("{}: {name}: {e}", file.display()))?;
        out.insert(name.to_string(), Outcome { times, rows });
    }
    Ok(out)
}
