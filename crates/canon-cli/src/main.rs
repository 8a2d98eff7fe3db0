//! `canon`: the command-line front end of a Canon project.

#[cfg(feature = "delta")]
mod delta;
mod explain;
mod graph;
mod models;
mod output;
mod progress;
#[cfg(feature = "serve")]
mod serve;
mod shell;
mod stream;
#[cfg(feature = "distributed")]
mod worker;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use canon::datafusion::error::DataFusionError;
use canon::{Analysis, CanonError, Diagnostics, Project, Runtime, Session, Tier};
use clap::{Parser, Subcommand};

use output::OutputFormat;

/// mimalloc, as datafusion-cli and datafusion-python use (see BENCHMARKS.md for its figure).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Query and inspect a Canon project.
#[derive(Debug, Parser)]
#[command(name = "canon", version, about)]
struct Cli {
    /// The project file.
    #[arg(
        short,
        long,
        global = true,
        env = "CANON_PROJECT",
        default_value = "canon.toml"
    )]
    project: PathBuf,

    /// Also append every diagnostics event to this file, as JSON lines.
    #[arg(long, global = true, value_name = "FILE")]
    diagnostics: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run SQL: one statement, or each `;`-separated statement of a file, in one session.
    Query {
        /// The SQL to run.
        #[arg(
            required_unless_present_any = ["file", "execute"],
            conflicts_with_all = ["file", "execute"]
        )]
        sql: Option<String>,
        /// Read the SQL from this file instead.
        #[arg(short, long, value_name = "FILE", conflicts_with = "execute")]
        file: Option<PathBuf>,
        /// Execute a prepared statement (declared in the project, or Canon's) instead.
        #[arg(long, value_name = "NAME")]
        execute: Option<String>,
        /// A parameter for --execute, in order, read as the parameter's type.
        #[arg(
            long = "param",
            value_name = "VALUE",
            requires = "execute",
            allow_hyphen_values = true
        )]
        params: Vec<String>,
        /// Also print the executed plan with its metrics, and the parquet scan metrics
        /// (predicate cache, pushdown, pruning).
        #[arg(long)]
        analyze: bool,
        /// How to print results.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        /// Read the SQL in this dialect instead of the policy's (generic, postgresql, mysql, …).
        #[arg(long, value_name = "DIALECT")]
        dialect: Option<String>,
    },
    /// List functions: DataFusion's builtins, Canon's own, and the project's macros.
    Functions {
        /// A SQL LIKE pattern for the name; without `%` or `_` it matches names containing it.
        pattern: Option<String>,
        /// Only functions of this tier.
        #[arg(long, value_enum)]
        tier: Option<TierArg>,
        /// How to print results.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Show the runtime's caches (listings, file metadata, statistics) and their limits.
    Cache {
        /// How to print results.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Explain a query: plans, column lineage, plan fingerprint and canonical SQL; without
    /// one, `--format dot|mermaid` draws the project's model graph.
    Explain {
        /// The query to explain.
        #[arg(value_name = "SQL")]
        query: Option<String>,
        /// Print only the canonical SQL (combines with --lineage and --fingerprint).
        #[arg(long = "sql")]
        canonical_sql: bool,
        /// Print only the column lineage.
        #[arg(long)]
        lineage: bool,
        /// Print only the plan fingerprint.
        #[arg(long)]
        fingerprint: bool,
        /// Also run the query and show the physical plan's metrics.
        #[arg(long)]
        analyze: bool,
        /// Read the SQL in this dialect instead of the policy's.
        #[arg(long, value_name = "DIALECT")]
        dialect: Option<String>,
        /// How to print the explanation; dot and mermaid draw the lineage and the plan
        /// as a graph (with --lineage, the lineage alone).
        #[arg(long, value_enum, default_value_t = explain::ExplainFormat::Text)]
        format: explain::ExplainFormat,
    },
    /// An interactive SQL shell with history.
    Shell {
        /// How to print results.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Print the canonical DDL of one dataset, or of all of them.
    Ddl {
        /// The dataset; all datasets when omitted.
        dataset: Option<String>,
    },
    /// Show a dataset's contract, registered schema and registration notes.
    Describe {
        /// The dataset.
        dataset: String,
    },
    /// Show the runtime profile's settings and fingerprint.
    Profile,
    /// Print the JSON Schema of the project file, for editors and CI; needs no project.
    Schema,
    /// Serve the project over Flight SQL and Postgres wire, a session per connection.
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
    /// Run the stages of the project's distributed plans that coordinators send here.
    #[cfg(feature = "distributed")]
    Worker(worker::WorkerArgs),
    /// Create, write and maintain the project's Delta datasets.
    #[cfg(feature = "delta")]
    Delta {
        #[command(subcommand)]
        command: delta::DeltaCommand,
    },
    /// Compile every model against the contracts it reads, without reading data: each
    /// query must yield its model's contract exactly (names, types, nullability).
    Compile(models::CompileArgs),
    /// List the models in build order, with the datasets and models each reads, or draw
    /// the graph (--format dot|mermaid).
    Models(models::ModelsArgs),
    /// Build models in dependency order (all when none are named): each query's rows are
    /// checked against its contract, then replace the model's table in one commit.
    Build(models::BuildArgs),
    /// Compare every model with its last build: unchanged, changed, or breaking, with the
    /// models each change reaches.
    Plan(models::PlanArgs),
    /// Trace a model column back to the dataset columns it is computed from, or
    /// (--forward) a column to every model column it feeds.
    Lineage(models::LineageArgs),
    /// Check every file of the datasets (all when none are named) against their contracts.
    Check {
        /// The datasets to check.
        datasets: Vec<String>,
        /// How to print the report.
        #[arg(long, value_enum, default_value_t = output::ReportFormat::Table)]
        format: output::ReportFormat,
        /// Instead of checking, propose keys for DATASET from its data: the columns (or
        /// pairs) unique and never NULL, as lines to paste into its `[[dataset]]`.
        #[arg(long, value_name = "DATASET", conflicts_with = "datasets")]
        suggest_keys: Option<String>,
    },
}

/// A function tier, as `canon functions --tier` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TierArg {
    /// DataFusion's functions.
    Builtin,
    /// Canon's own functions.
    Canon,
    /// The project's and the session's SQL macros.
    Macro,
}

impl TierArg {
    fn tier(self) -> Tier {
        match self {
            Self::Builtin => Tier::Builtin,
            Self::Canon => Tier::Canon,
            Self::Macro => Tier::Macro,
        }
    }
}

/// A failure, with the exit status it maps to.
struct Failure {
    status: u8,
    message: String,
}

impl From<CanonError> for Failure {
    fn from(e: CanonError) -> Self {
        let status = if e.is_project_error() { 2 } else { 1 };
        Self {
            status,
            message: e.to_string(),
        }
    }
}

impl From<canon::ProjectError> for Failure {
    fn from(e: canon::ProjectError) -> Self {
        CanonError::from(e).into()
    }
}

impl Failure {
    /// A failure of SQL text, shown with the offending line and a caret when the error
    /// says where in `sql` it is.
    fn sql(e: CanonError, sql: &str) -> Self {
        let status = if e.is_project_error() { 2 } else { 1 };
        Self {
            status,
            message: canon::sql::render_error(&e, sql),
        }
    }

    fn usage(message: impl Into<String>) -> Self {
        Self {
            status: 2,
            message: message.into(),
        }
    }

    fn runtime(message: impl Into<String>) -> Self {
        Self {
            status: 1,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        // Without CANON_LOG, only errors, the progress of long Delta writes and the tasks
        // a worker runs show.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CANON_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "error,canon::delta=info,canon::distributed=info",
                )
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(error) = canon::process::disable_transparent_huge_pages() {
        tracing::debug!(%error, "transparent huge pages stay on");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Query {
            sql,
            file,
            execute,
            params,
            analyze,
            format,
            dialect,
        } => {
            // Files are read before the project loads, so a bad path is a usage error.
            let sql = match (sql, file) {
                (Some(sql), _) => Some(sql),
                (None, Some(file)) => Some(read_sql(&file)?),
                (None, None) => None,
            };
            let runtime =
                load_in_dialect(&cli.project, cli.diagnostics.as_deref(), dialect.as_deref())
                    .await?;
            let session = runtime.session();
            let frames = match (&sql, execute) {
                (Some(text), _) => session
                    .parse(text)
                    .map_err(|e| Failure::sql(e, text))?
                    .into_iter()
                    .map(Frame::Sql)
                    .collect(),
                (None, Some(name)) => vec![Frame::Execute(name, params)],
                (None, None) => return Err(Failure::usage("give SQL, --file or --execute")),
            };
            // Errors of SQL text point into it; a prepared statement's have no text here.
            let failure = |e: CanonError| match &sql {
                Some(text) => Failure::sql(e, text),
                None => Failure::from(e),
            };
            let mut out = stream::Output::new(std::io::BufWriter::new(std::io::stdout().lock()));
            for (i, frame) in frames.into_iter().enumerate() {
                let df = match frame {
                    Frame::Sql(statement) => session.statement(statement).await,
                    Frame::Execute(name, params) => session.execute_text(&name, &params).await,
                }
                .map_err(failure)?;
                let printed = if analyze {
                    let analysis = Analysis::collect(df).await.map_err(failure)?;
                    output::analysis(&mut out, &analysis, format, i == 0)
                } else {
                    match stream::print(df, &mut out, format, i == 0).await {
                        Err(stream::StreamError::Query(e)) => return Err(failure(e)),
                        Err(stream::StreamError::Output(e)) => Err(e),
                        Ok(()) => Ok(()),
                    }
                };
                if out.closed() {
                    // The reader has all it wanted (`canon query … | head`).
                    return Ok(());
                }
                printed.map_err(|e| Failure::runtime(e.to_string()))?;
            }
            match out.flush() {
                Err(_) if out.closed() => Ok(()),
                flushed => flushed.map_err(|e| Failure::runtime(e.to_string())),
            }
        }
        Command::Functions {
            pattern,
            tier,
            format,
        } => {
            let runtime = load(&cli.project, cli.diagnostics.as_deref()).await?;
            let session = runtime.session();
            let pattern = match pattern {
                None => "%".to_string(),
                Some(p) if p.contains(['%', '_']) => p,
                Some(p) => format!("%{p}%"),
            };
            let tier = tier.map_or(String::new(), |t| t.tier().name().to_string());
            let batches = session
                .execute_text("canon_functions", &[pattern, tier])
                .await?
                .collect()
                .await
                .map_err(CanonError::from)?;
            let mut out = std::io::stdout().lock();
            output::functions(&mut out, &batches, format)
                .map_err(|e| Failure::runtime(e.to_string()))
        }
        Command::Cache { format } => {
            let runtime = load(&cli.project, cli.diagnostics.as_deref()).await?;
            let session = runtime.session();
            let mut out = std::io::stdout().lock();
            for (i, function) in ["list_files_cache", "metadata_cache", "statistics_cache"]
                .into_iter()
                .enumerate()
            {
                let batches = session
                    .sql(&format!("SELECT * FROM {function}()"))
                    .await?
                    .collect()
                    .await
                    .map_err(CanonError::from)?;
                output::cache(&mut out, function, &batches, format, i == 0)
                    .map_err(|e| Failure::runtime(e.to_string()))?;
            }
            Ok(())
        }
        Command::Explain {
            query,
            canonical_sql,
            lineage,
            fingerprint,
            analyze,
            dialect,
            format,
        } => {
            let Some(query) = query else {
                return match format {
                    explain::ExplainFormat::Dot | explain::ExplainFormat::Mermaid => {
                        let mermaid = format == explain::ExplainFormat::Mermaid;
                        models::draw(&cli.project, mermaid).await
                    }
                    _ => Err(Failure::usage(
                        "give the query to explain; without one, --format dot or mermaid \
                         draws the project's model graph",
                    )),
                };
            };
            if format.is_graph() && (canonical_sql || fingerprint) {
                return Err(Failure::usage(
                    "--format dot and mermaid draw the lineage and the plan; \
                     --sql and --fingerprint are text (use --format text or json)",
                ));
            }
            let runtime =
                load_in_dialect(&cli.project, cli.diagnostics.as_deref(), dialect.as_deref())
                    .await?;
            let explanation = runtime
                .session()
                .explain(&query, analyze)
                .await
                .map_err(|e| Failure::sql(e, &query))?;
            let sections = explain::Sections {
                sql: canonical_sql,
                lineage,
                fingerprint,
            };
            let text = explain::render(&explanation, sections, format).map_err(Failure::runtime)?;
            print!("{text}");
            Ok(())
        }
        Command::Shell { format } => {
            let runtime = load(&cli.project, cli.diagnostics.as_deref()).await?;
            shell::run(&runtime, format).await
        }
        Command::Ddl { dataset } => {
            let project = Project::load(&cli.project)?;
            let datasets: Vec<_> = match &dataset {
                Some(name) => vec![find(&project, name)?],
                None => project.datasets.iter().collect(),
            };
            let ddl: Vec<String> = datasets.iter().map(|d| format!("{};\n", d.ddl())).collect();
            print!("{}", ddl.join("\n"));
            Ok(())
        }
        Command::Describe { dataset } => {
            let runtime = load(&cli.project, cli.diagnostics.as_deref()).await?;
            find(runtime.project(), &dataset)?;
            let session = runtime.session();
            print!("{}", describe(&runtime, &session, &dataset).await?);
            Ok(())
        }
        Command::Check {
            suggest_keys: Some(dataset),
            ..
        } => {
            let project = Project::load(&cli.project)?;
            find(&project, &dataset)?;
            let suggestion = canon::check::suggest_keys(&project, &dataset).await?;
            print!("{}", suggestion.to_toml());
            Ok(())
        }
        Command::Check {
            datasets, format, ..
        } => {
            let project = Project::load(&cli.project)?;
            for name in &datasets {
                find(&project, name)?;
            }
            let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let mut progress = |dataset: &str, done: usize, total: usize| {
                if interactive {
                    eprint!("\rchecking {dataset}: {done}/{total} files\x1b[K");
                }
            };
            let report = canon::check::check_project(&project, &datasets, &mut progress).await?;
            if interactive {
                eprint!("\r\x1b[K");
            }
            print!("{}", output::check_report(&report, format));
            if report.ok() {
                Ok(())
            } else {
                Err(Failure::runtime("the check found problems"))
            }
        }
        #[cfg(feature = "delta")]
        Command::Delta { command } => {
            delta::run(&cli.project, cli.diagnostics.as_deref(), command).await
        }
        #[cfg(feature = "serve")]
        Command::Serve(args) => serve::run(&cli.project, cli.diagnostics.as_deref(), args).await,
        #[cfg(feature = "distributed")]
        Command::Worker(args) => worker::run(&cli.project, cli.diagnostics.as_deref(), args).await,
        Command::Compile(args) => models::compile(&cli.project, args).await,
        Command::Models(args) => models::list(&cli.project, args).await,
        Command::Build(args) => models::build(&cli.project, cli.diagnostics.as_deref(), args).await,
        Command::Plan(args) => models::plan(&cli.project, args).await,
        Command::Lineage(args) => models::lineage(&cli.project, args).await,
        Command::Schema => {
            let schema = canon::canon_model::schema::project_schema();
            let text = serde_json::to_string_pretty(&schema)
                .map_err(|e| Failure::runtime(e.to_string()))?;
            match writeln!(std::io::stdout().lock(), "{text}") {
                // The reader has all it wanted (`canon schema | head`).
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                written => written.map_err(|e| Failure::runtime(e.to_string())),
            }
        }
        Command::Profile => {
            let project = Project::load(&cli.project)?;
            let profile = canon::RuntimeProfile::build(&project)
                .map_err(|e| Failure::from(CanonError::from(e)))?;
            println!("fingerprint  {}", profile.fingerprint());
            let width = profile
                .settings()
                .keys()
                .map(String::len)
                .max()
                .unwrap_or(0);
            for (k, v) in profile.settings() {
                println!("{k:width$}  {v}");
            }
            Ok(())
        }
    }
}

/// One unit of work of `canon query`.
enum Frame {
    Sql(canon::datafusion::sql::parser::Statement),
    Execute(String, Vec<String>),
}

/// `canon describe`: the contract from the runtime, the registered columns from Canon's
/// `canon_describe` statement.
pub(crate) async fn describe(
    runtime: &Runtime,
    session: &Session,
    dataset: &str,
) -> Result<String, CanonError> {
    let batches = session
        .execute_text("canon_describe", &[dataset.to_string()])
        .await?
        .collect()
        .await?;
    let columns =
        output::cells(&batches).map_err(|e| CanonError::from(DataFusionError::from(e)))?;
    Ok(output::describe(runtime, dataset, &columns))
}

async fn load(project: &Path, diagnostics: Option<&Path>) -> Result<Runtime, Failure> {
    load_in_dialect(project, diagnostics, None).await
}

/// Loads the project, reading SQL in `dialect` instead of the policy's when one is given.
async fn load_in_dialect(
    project: &Path,
    diagnostics: Option<&Path>,
    dialect: Option<&str>,
) -> Result<Runtime, Failure> {
    let mut project = Project::load(project)?;
    if let Some(dialect) = dialect {
        project
            .policy
            .set_dialect(dialect)
            .map_err(|e| Failure::usage(format!("--dialect: {}", e.strip_backtrace())))?;
    }
    let diagnostics = match diagnostics {
        Some(path) => Diagnostics::with_log(path).map_err(|e| Failure::usage(e.to_string()))?,
        None => Diagnostics::new(),
    };
    Ok(Runtime::new(project, diagnostics).await?)
}

fn find<'a>(project: &'a Project, name: &str) -> Result<&'a canon::DatasetSpec, Failure> {
    project.dataset(name).ok_or_else(|| {
        let known: Vec<&str> = project.datasets.iter().map(|d| d.name.as_str()).collect();
        Failure::usage(format!(
            "no dataset `{name}` in {}; datasets: {}",
            project.file.display(),
            known.join(", ")
        ))
    })
}

fn read_sql(file: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(file)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))
}
