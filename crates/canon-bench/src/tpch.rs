//! TPC-H: the 22 queries through Canon, a plain `SessionContext` and (from the DuckDB
//! script's JSON) DuckDB, over the same parquet files; results checked to agree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use canon::Runtime;
use canon::datafusion::prelude::SessionContext;

use crate::BenchResult;
use crate::compare::{self, Row};
use crate::duckdb_served::{self, Served};
use crate::memory;
use crate::report::{Table, median, median_f64, ms, paired, ratio, times};
use crate::tpch_project::{self, TABLES};

/// One TPC-H query, compiled in.
pub type Query = Statement<'static>;

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
    /// Whether the project declares columns only: no key, no order.
    pub columns_only: bool,
    /// A project file to use instead of the generated one (to measure a profile setting).
    pub project: Option<PathBuf>,
    /// A Python that imports `duckdb`: DuckDB then runs in each round beside the other two
    /// engines (see [`duckdb_served`]).
    pub duckdb_python: Option<PathBuf>,
}

/// Timings and first-run rows of one engine for one query.
pub(crate) struct Outcome {
    times: Vec<Duration>,
    rows: Vec<Row>,
    /// Why the engine could not run the query (DuckDB's parser refuses a few of
    /// DataFusion's TPC-DS texts).
    error: Option<String>,
}

/// One query's timings in Canon and the plain session, from one process or gathered from
/// several.
pub(crate) struct Timings {
    pub name: String,
    pub canon: Vec<Duration>,
    pub plain: Vec<Duration>,
    /// Each process's paired ratio (plain / Canon), one per process.
    pub paired: Vec<f64>,
    /// The process's peak resident size during each engine's runs (the largest over
    /// processes).
    pub canon_peak: Option<u64>,
    pub plain_peak: Option<u64>,
    /// DuckDB's runs in the same rounds, where it ran in them.
    pub duckdb: Vec<Duration>,
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
    std::fs::write(&file, tpch_project::render(&sorted, true))
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
    Ok(file)
}

/// Writes `canon-columns.toml` into the data directory: the tables' columns, with no key
/// and no order declared, as a team that has not described its data yet would start.
pub fn write_columns_project(data: &Path) -> BenchResult<PathBuf> {
    let file = data.join("canon-columns.toml");
    let unsorted = vec![false; TABLES.len()];
    std::fs::write(&file, tpch_project::render(&unsorted, false))
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
    Ok(file)
}

/// The plain session over TPC-H's tables.
pub async fn plain_session(data: &Path) -> BenchResult<SessionContext> {
    let tables: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    plain_session_over(data, &tables).await
}

/// The plain session: `SessionContext::new()` and one `CREATE EXTERNAL TABLE` per table
/// (a directory of `data` by its name), the schema inferred from the files.
pub(crate) async fn plain_session_over(
    data: &Path,
    tables: &[&str],
) -> BenchResult<SessionContext> {
    let ctx = SessionContext::new();
    for table in tables {
        let location = data.join(table);
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE {table} STORED AS PARQUET LOCATION '{}/'",
            location.display()
        ))
        .await
        .map_err(|e| format!("registering {table} in the plain session: {e}"))?;
    }
    Ok(ctx)
}

/// The project Canon runs on: the one given, or the generated one.
pub fn project(options: &Options) -> BenchResult<PathBuf> {
    match &options.project {
        Some(project) => Ok(project.clone()),
        None if options.columns_only => write_columns_project(&options.data),
        None => write_project(&options.data, options.declare_order),
    }
}

/// Runs the benchmark in this process and prints its table; an error if any engine's rows
/// differ.
pub async fn run(options: &Options) -> BenchResult<()> {
    let project = project(options)?;
    let duckdb = load_duckdb_option(options)?;
    let mut served = Served::start_if(
        options.duckdb_python.as_deref(),
        "tpch",
        &options.data,
        Path::new(duckdb_served::TPCH_QUERIES),
    )?;
    let timings = measure(options, &project, false, duckdb.as_ref(), served.as_mut()).await?;
    report(&title(options), options.runs, &timings, 1, duckdb.as_ref())
}

/// The report's title for `options`.
pub(crate) fn title(options: &Options) -> String {
    let declared = if options.columns_only {
        "columns only"
    } else if options.declare_order {
        "keys and orders declared"
    } else {
        "keys declared"
    };
    format!("TPC-H over {} ({declared})", options.data.display())
}

/// Times each TPC-H query in both engines, `options.runs` rounds each, and checks that
/// Canon, the plain session and DuckDB (when given) return the same rows. `plain_first`
/// builds the plain session first and lets it open the first round, so that a set of
/// processes can take turns.
pub(crate) async fn measure(
    options: &Options,
    project: &Path,
    plain_first: bool,
    duckdb: Option<&DuckDb>,
    served: Option<&mut Served>,
) -> BenchResult<Vec<Timings>> {
    let statements: Vec<Statement> = select(&options.only)?.into_iter().copied().collect();
    let tables: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    let workload = Workload {
        statements: &statements,
        runs: options.runs,
        data: &options.data,
        tables: &tables,
    };
    measure_workload(&workload, project, plain_first, duckdb, served).await
}

/// One statement of a workload: its name, SQL, and whether its ORDER BY fixes the order
/// of every row.
#[derive(Debug, Clone, Copy)]
pub struct Statement<'a> {
    pub name: &'a str,
    pub sql: &'a str,
    /// True where the ORDER BY keys are unique per row, so the order is part of the answer;
    /// otherwise rows are compared sorted (ties may come in any order).
    pub ordered: bool,
}

/// Statements over a directory of tables, and how often to run each.
pub(crate) struct Workload<'a> {
    pub statements: &'a [Statement<'a>],
    pub runs: usize,
    /// One sub-directory of parquet files per table, for the plain session.
    pub data: &'a Path,
    pub tables: &'a [&'a str],
}

/// Times each statement in both engines, `runs` rounds each, and checks that Canon, the
/// plain session and DuckDB (when given) return the same rows; with `served`, DuckDB runs
/// each statement once in each round too, after the other two.
pub(crate) async fn measure_workload(
    workload: &Workload<'_>,
    project: &Path,
    plain_first: bool,
    duckdb: Option<&DuckDb>,
    mut served: Option<&mut Served>,
) -> BenchResult<Vec<Timings>> {
    let plain = if plain_first {
        Some(plain_session_over(workload.data, workload.tables).await?)
    } else {
        None
    };
    let runtime = Runtime::load(project)
        .await
        .map_err(|e| format!("loading {}: {e}", project.display()))?;
    let session = runtime.session();
    let plain = match plain {
        Some(plain) => plain,
        None => plain_session_over(workload.data, workload.tables).await?,
    };

    let mut timings = Vec::new();
    let mut mismatches = Vec::new();
    for query in workload.statements {
        let mut canon_out = Outcome {
            times: Vec::new(),
            rows: Vec::new(),
            error: None,
        };
        let mut plain_out = Outcome {
            times: Vec::new(),
            rows: Vec::new(),
            error: None,
        };
        // Runs alternate between the engines, and so does which of them goes first, so that
        // load from elsewhere on the machine and what the previous run left behind (caches,
        // freed memory) fall on both alike.
        let (mut canon_peak, mut plain_peak) = (None, None);
        let mut duckdb_times = Vec::new();
        for run in 0..workload.runs.max(1) {
            let canon_first = (run % 2 == 0) != plain_first;
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
            // A statement DuckDB refuses once is not asked for again: its times stay none.
            if let Some(served) = served.as_deref_mut()
                && (run == 0 || !duckdb_times.is_empty())
            {
                match served.run(query.name)? {
                    Some(t) => duckdb_times.push(t),
                    None => duckdb_times.clear(),
                }
            }
        }
        if let Err(m) = compare::compare(&canon_out.rows, &plain_out.rows, query.ordered) {
            mismatches.push(format!(
                "{}: datafusion differs from canon: {}",
                query.name, m
            ));
        }
        if let Some(duckdb) = duckdb {
            let d = duckdb
                .get(query.name)
                .ok_or_else(|| format!("{} is missing from the DuckDB results", query.name))?;
            if d.error.is_none()
                && let Err(m) = compare::compare(&canon_out.rows, &d.rows, query.ordered)
            {
                mismatches.push(format!("{}: duckdb differs from canon: {}", query.name, m));
            }
        }
        timings.push(Timings {
            name: query.name.to_string(),
            paired: paired(&plain_out.times, &canon_out.times)
                .into_iter()
                .collect(),
            duckdb: duckdb_times,
            canon: canon_out.times,
            plain: plain_out.times,
            canon_peak,
            plain_peak,
        });
    }
    if !mismatches.is_empty() {
        for m in &mismatches {
            eprintln!("RESULT MISMATCH {m}");
        }
        return Err(format!("{} result mismatches (see above)", mismatches.len()).into());
    }
    Ok(timings)
}

/// Prints the table of `timings`, gathered from `processes` processes, with DuckDB's
/// timings beside them when given.
pub(crate) fn report(
    title: &str,
    runs: usize,
    timings: &[Timings],
    processes: usize,
    duckdb: Option<&DuckDb>,
) -> BenchResult<()> {
    let spread = processes > 1;
    let rounds = if spread {
        format!("{runs} runs in each of {processes} processes")
    } else {
        format!("{runs} runs")
    };
    println!(
        "{title}: {} queries, median of {rounds} (ms); ratio = engine time / Canon time; \
         paired = the median of that ratio between the two engines' runs of each round{}; \
         MiB = the process's peak resident size during the engine's runs",
        timings.len(),
        if spread {
            ", taken in each process, then the median over the processes (spread: the \
             lowest and highest process)"
        } else {
            ""
        },
    );
    // DuckDB timed in the same rounds, where it was, rather than in its own pass.
    let same_rounds = timings.iter().any(|t| !t.duckdb.is_empty());
    if same_rounds {
        println!(
            "DuckDB ran in the same rounds, after the other two engines; duck paired = the \
             median of DuckDB's time / Canon's, round by round"
        );
    }
    let mut header = vec!["query", "canon", "datafusion", "df/canon", "paired"];
    if spread {
        header.push("spread");
    }
    if duckdb.is_some() || same_rounds {
        header.extend(["duckdb", "duckdb/canon"]);
    }
    if same_rounds {
        header.push("duck paired");
    }
    header.extend(["canon MiB", "df MiB", "note"]);
    let mut table = Table::new(&header).left_aligned(&[header.len() - 1]);
    // Canon, the plain session, DuckDB, and Canon over the queries DuckDB ran.
    let mut totals = [Duration::ZERO; 4];
    let mut slower = Vec::new();
    let mut duckdb_failed = Vec::new();
    for t in timings {
        let (c, p) = (median(&t.canon), median(&t.plain));
        totals[0] += c;
        totals[1] += p;
        let mut cells = vec![
            t.name.to_string(),
            ms(c),
            ms(p),
            ratio(p, c),
            times(median_f64(&t.paired)),
        ];
        if spread {
            let lowest = t.paired.iter().copied().reduce(f64::min);
            let highest = t.paired.iter().copied().reduce(f64::max);
            cells.push(format!("{}–{}", times(lowest), times(highest)));
        }
        if same_rounds {
            if t.duckdb.is_empty() {
                duckdb_failed.push(format!("{} (refused)", t.name));
                cells.extend(["failed".into(), String::new(), String::new()]);
            } else {
                let dm = median(&t.duckdb);
                totals[2] += dm;
                totals[3] += c;
                let duck_paired = paired(&t.duckdb, &t.canon);
                cells.extend([ms(dm), ratio(dm, c), times(duck_paired)]);
            }
        } else if let Some(duckdb) = duckdb {
            let d = duckdb
                .get(&t.name)
                .ok_or_else(|| format!("{} is missing from the DuckDB results", t.name))?;
            match &d.error {
                Some(error) => {
                    duckdb_failed.push(format!("{} ({error})", t.name));
                    cells.extend(["failed".into(), String::new()]);
                }
                None => {
                    let dm = median(&d.times);
                    totals[2] += dm;
                    totals[3] += c;
                    cells.extend([ms(dm), ratio(dm, c)]);
                }
            }
        }
        cells.extend([memory::mib(t.canon_peak), memory::mib(t.plain_peak)]);
        if c > p {
            slower.push(t.name.as_str());
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
    if spread {
        cells.push(String::new());
    }
    if duckdb.is_some() || same_rounds {
        cells.extend([ms(totals[2]), ratio(totals[2], totals[3])]);
    }
    if same_rounds {
        cells.push(String::new());
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
    if !duckdb_failed.is_empty() {
        println!(
            "DuckDB could not run {} (its total and ratio leave them out): {}",
            duckdb_failed.len(),
            duckdb_failed.join("; ")
        );
    }
    if same_rounds && duckdb.is_none() {
        println!(
            "Results: Canon and the plain session returned the same rows for every query; \
             DuckDB's were not compared (no --duckdb results)."
        );
    } else {
        println!("Results: all engines returned the same rows for every query.");
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

pub(crate) async fn time_async<T>(
    f: impl Future<Output = BenchResult<T>>,
) -> BenchResult<(T, Duration)> {
    let start = Instant::now();
    let value = f.await?;
    Ok((value, start.elapsed()))
}

/// DuckDB's timings and rows per query, by query name.
pub(crate) type DuckDb = BTreeMap<String, Outcome>;

/// DuckDB's timings and rows per query when the options name its JSON.
pub(crate) fn load_duckdb_option(options: &Options) -> BenchResult<Option<DuckDb>> {
    options.duckdb.as_deref().map(load_duckdb).transpose()
}

/// DuckDB's timings and rows per query, from the script's JSON.
pub(crate) fn load_duckdb(file: &Path) -> BenchResult<DuckDb> {
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
        if let Some(error) = q["error"].as_str() {
            let outcome = Outcome {
                times: Vec::new(),
                rows: Vec::new(),
                error: Some(error.lines().next().unwrap_or_default().to_string()),
            };
            out.insert(name.to_string(), outcome);
            continue;
        }
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
        let outcome = Outcome {
            times,
            rows,
            error: None,
        };
        out.insert(name.to_string(), outcome);
    }
    Ok(out)
}
