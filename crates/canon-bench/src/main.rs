//! `canon-bench`: Canon next to a hand-configured DataFusion session and DuckDB.
//! Normally run through `scripts/bench`, which builds it, generates the data and runs
//! DuckDB; see BENCHMARKS.md.

mod caches;
mod compare;
mod distributed;
mod duckdb_served;
mod http_client;
mod memory;
mod models;
mod report;
mod serve;
mod smallfiles;
mod startup;
mod storage;
mod tpcds;
mod tpch;
mod tpch_plans;
mod tpch_processes;
mod tpch_project;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc, as datafusion-cli and datafusion-python use (see BENCHMARKS.md for its figure).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The error type of the benchmarks: any error, with its message.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Parser)]
#[command(
    name = "canon-bench",
    about = "Canon benchmarks against plain DataFusion and DuckDB"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The 22 TPC-H queries through Canon, a plain SessionContext and DuckDB's results.
    Tpch {
        /// Directory with one sub-directory of parquet files per TPC-H table.
        #[arg(long)]
        data: PathBuf,
        /// Leave the tables' sort orders out of the generated project.
        #[arg(long)]
        no_declared_order: bool,
        /// Declare the tables' columns only: no key, no sort order.
        #[arg(long)]
        columns_only: bool,
        /// JSON written by scripts/duckdb_tpch.py over the same data.
        #[arg(long)]
        duckdb: Option<PathBuf>,
        /// A Python that imports duckdb: DuckDB then runs each query in every round, after
        /// Canon and the plain session, through scripts/duckdb_tpch.py --serve.
        #[arg(long)]
        duckdb_python: Option<PathBuf>,
        /// Timed runs per query and engine.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Only these queries (q1 … q22); all when not given.
        #[arg(long = "query")]
        queries: Vec<String>,
        /// Run Canon on this project instead of the generated one, e.g. a copy of it in
        /// the data directory with one profile setting changed.
        #[arg(long)]
        project: Option<PathBuf>,
        /// Run the rounds in this many processes, one after the other, and report the
        /// median over them: each process has its own memory layout, which favours one
        /// engine or the other by a few percent.
        #[arg(long, default_value_t = 1)]
        processes: usize,
        /// As one of those processes: write the timings to this file as JSON, no table.
        #[arg(long, hide = true)]
        emit: Option<PathBuf>,
        /// As one of those processes: build the plain session first and let it open the
        /// first round.
        #[arg(long, hide = true)]
        plain_first: bool,
    },
    /// TPC-DS's 99 queries (DataFusion's texts) through Canon, a plain SessionContext and
    /// DuckDB's results.
    Tpcds {
        /// Directory with one sub-directory of parquet files per TPC-DS table.
        #[arg(long)]
        data: PathBuf,
        /// Directory with DataFusion's TPC-DS query texts, 1.sql … 99.sql.
        #[arg(long)]
        queries: PathBuf,
        /// JSON written by scripts/duckdb_tpch.py --suite tpcds over the same data.
        #[arg(long)]
        duckdb: Option<PathBuf>,
        /// A Python that imports duckdb: DuckDB then runs each statement in every round,
        /// after Canon and the plain session.
        #[arg(long)]
        duckdb_python: Option<PathBuf>,
        /// Timed runs per statement and engine.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Declare TPC-DS's primary keys in the generated project.
        #[arg(long)]
        keys: bool,
        /// Keep each query's join order (`join_order = "written"`), to measure Canon's.
        #[arg(long)]
        written_order: bool,
        /// Run Canon under this `memory_limit` (e.g. 512MiB).
        #[arg(long)]
        memory_limit: Option<String>,
        /// Only these statements (q1 … q99; q14_1, q14_2 where a query has two); all when
        /// not given.
        #[arg(long = "query")]
        only: Vec<String>,
        /// Instead of timing, run each statement once under `EXPLAIN ANALYZE` in Canon and
        /// the plain session and print both plans with their metrics.
        #[arg(long)]
        explain: bool,
        /// Instead of the suite, time each statement's planning and execution apart (over
        /// `--runs` runs) in Canon and the plain session.
        #[arg(long, conflicts_with = "explain")]
        phases: bool,
    },
    /// A directory of statements (one per `*.sql` file, named by it) through Canon, a plain
    /// SessionContext and DuckDB, over a directory of tables, in a project of columns only.
    Statements {
        /// Directory with one sub-directory of parquet files per table.
        #[arg(long)]
        data: PathBuf,
        /// Directory of `*.sql` files, one statement each.
        #[arg(long)]
        queries: PathBuf,
        /// A Python that imports duckdb: DuckDB then runs each statement in every round,
        /// after Canon and the plain session.
        #[arg(long)]
        duckdb_python: Option<PathBuf>,
        /// Timed runs per statement and engine.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Only these statements (file names without `.sql`); all when not given.
        #[arg(long = "query")]
        only: Vec<String>,
    },
    /// Physical plans of TPC-H queries in Canon and in the plain session.
    Explain {
        /// Directory with one sub-directory of parquet files per TPC-H table.
        #[arg(long)]
        data: PathBuf,
        /// Leave the tables' sort orders out of the generated project.
        #[arg(long)]
        no_declared_order: bool,
        /// Run the queries and show each operator's metrics (`EXPLAIN ANALYZE`).
        #[arg(long)]
        analyze: bool,
        /// Queries to explain (q1 … q22).
        #[arg(required = true)]
        queries: Vec<String>,
    },
    /// TPC-H queries' planning and execution times, apart, in Canon and the plain session.
    Phases {
        /// Directory with one sub-directory of parquet files per TPC-H table.
        #[arg(long)]
        data: PathBuf,
        /// Leave the tables' sort orders out of the generated project.
        #[arg(long)]
        no_declared_order: bool,
        /// Timed runs per query and engine.
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Only these queries (q1 … q22); all when not given.
        #[arg(long = "query")]
        queries: Vec<String>,
    },
    /// TPC-H on one node against the same queries over `canon worker` processes.
    Distributed {
        /// Directory with one sub-directory of parquet files per TPC-H table.
        #[arg(long)]
        data: PathBuf,
        /// The release `canon` binary, started as the workers.
        #[arg(long)]
        canon: PathBuf,
        /// How many workers.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Timed runs per query and set-up.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Only these queries (q1 … q22); all when not given.
        #[arg(long = "query")]
        queries: Vec<String>,
    },
    /// Whole-process `canon query "SELECT 1"` and in-process registration.
    Startup {
        /// The release `canon` binary.
        #[arg(long)]
        canon: PathBuf,
        /// Scratch directory for generated projects.
        #[arg(long, default_value = ".bench/work")]
        work: PathBuf,
        /// Dataset counts, one generated project each.
        #[arg(long, value_delimiter = ',', default_value = "0,10,1000")]
        datasets: Vec<usize>,
        /// Timed runs per figure.
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// First and repeated queries over many small files, with and without caches.
    Caches {
        /// Scratch directory for generated files and projects.
        #[arg(long, default_value = ".bench/work")]
        work: PathBuf,
        /// Files in the dataset.
        #[arg(long, default_value_t = 1000)]
        files: usize,
        /// Fresh registrations per set-up, and repeated runs after each.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// `canon serve` under 1, 8 and 32 Flight SQL clients, next to in-process sessions.
    Serve {
        /// The release `canon` binary.
        #[arg(long)]
        canon: PathBuf,
        /// Scratch directory for the data and the project.
        #[arg(long, default_value = ".bench/work")]
        work: PathBuf,
        /// Rows in the dataset.
        #[arg(long, default_value_t = 2_000_000)]
        rows: u64,
        /// Seconds each load runs.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// `canon compile` over many generated models, and an append model's incremental build
    /// against a full rebuild, under a memory limit.
    Models {
        /// The release `canon` binary.
        #[arg(long)]
        canon: PathBuf,
        /// Scratch directory for the generated projects and data.
        #[arg(long, default_value = ".bench/work")]
        work: PathBuf,
        /// Models in the generated graph.
        #[arg(long, default_value_t = 1000)]
        models: usize,
        /// Rows the append model holds before the incremental build.
        #[arg(long, default_value_t = 50_000_000)]
        rows: i64,
        /// Rows added upstream before the incremental build.
        #[arg(long, default_value_t = 1_000_000)]
        new_rows: i64,
        /// The builds' memory limit.
        #[arg(long, default_value = "512MiB")]
        memory_limit: String,
        /// Timed runs of `canon compile`.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// The same files on local disk and on an S3 server: first and repeated queries, with
    /// and without caches, and the requests each made.
    Storage {
        /// Scratch directory for generated files and projects.
        #[arg(long, default_value = ".bench/work")]
        work: PathBuf,
        /// The S3 server's endpoint (moto's, on loopback), e.g. http://127.0.0.1:9000.
        #[arg(long)]
        endpoint: String,
        /// Files in the dataset.
        #[arg(long, default_value_t = 200)]
        files: usize,
        /// Fresh registrations per set-up, and repeated runs after each.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    // As the `canon` binary runs; both engines measured here share the process.
    if let Err(e) = canon::process::disable_transparent_huge_pages() {
        eprintln!("canon-bench: transparent huge pages stay on: {e}");
    }
    match run(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("canon-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Cmd) -> BenchResult<()> {
    match command {
        Cmd::Tpch {
            data,
            no_declared_order,
            columns_only,
            duckdb,
            duckdb_python,
            runs,
            queries,
            project,
            processes,
            emit,
            plain_first,
        } => {
            if duckdb_python.is_some() && (processes > 1 || emit.is_some()) {
                return Err("--duckdb-python times DuckDB in one process's rounds; \
                            it does not combine with --processes"
                    .into());
            }
            let options = tpch::Options {
                data,
                duckdb,
                runs,
                only: queries,
                declare_order: !no_declared_order,
                columns_only,
                project,
                duckdb_python,
            };
            match emit {
                Some(out) => tpch_processes::emit(&options, &out, plain_first).await,
                None if processes > 1 => tpch_processes::run(&options, processes),
                None => tpch::run(&options).await,
            }
        }
        Cmd::Tpcds {
            data,
            queries,
            duckdb,
            duckdb_python,
            runs,
            keys,
            written_order,
            memory_limit,
            only,
            explain,
            phases,
        } => {
            let options = tpcds::Options {
                suite: tpcds::Suite::Tpcds,
                data,
                queries,
                duckdb,
                runs,
                only,
                keys,
                written_order,
                memory_limit,
                duckdb_python,
            };
            if explain {
                tpcds::explain(&options).await
            } else if phases {
                tpcds::phases(&options).await
            } else {
                tpcds::run(&options).await
            }
        }
        Cmd::Statements {
            data,
            queries,
            duckdb_python,
            runs,
            only,
        } => {
            let options = tpcds::Options {
                suite: tpcds::Suite::Statements,
                data,
                queries,
                duckdb: None,
                runs,
                only,
                keys: false,
                written_order: false,
                memory_limit: None,
                duckdb_python,
            };
            tpcds::run(&options).await
        }
        Cmd::Explain {
            data,
            no_declared_order,
            analyze,
            queries,
        } => tpch_plans::explain(&data, !no_declared_order, analyze, &queries).await,
        Cmd::Phases {
            data,
            no_declared_order,
            runs,
            queries,
        } => tpch_plans::phases(&data, !no_declared_order, runs, &queries).await,
        Cmd::Distributed {
            data,
            canon,
            workers,
            runs,
            queries,
        } => {
            distributed::run(&distributed::Options {
                data,
                canon,
                workers,
                runs,
                only: queries,
            })
            .await
        }
        Cmd::Startup {
            canon,
            work,
            datasets,
            runs,
        } => {
            startup::run(&startup::Options {
                canon,
                work,
                datasets,
                runs,
            })
            .await
        }
        Cmd::Serve {
            canon,
            work,
            rows,
            seconds,
        } => {
            serve::run(&serve::Options {
                canon,
                work,
                rows,
                seconds,
            })
            .await
        }
        Cmd::Models {
            canon,
            work,
            models,
            rows,
            new_rows,
            memory_limit,
            runs,
        } => {
            models::run(&models::Options {
                canon,
                work,
                models,
                rows,
                new_rows,
                memory_limit,
                runs,
            })
            .await
        }
        Cmd::Caches { work, files, runs } => {
            caches::run(&caches::Options { work, files, runs }).await
        }
        Cmd::Storage {
            work,
            endpoint,
            files,
            runs,
        } => {
            storage::run(&storage::Options {
                work,
                endpoint,
                files,
                runs,
            })
            .await
        }
    }
}
