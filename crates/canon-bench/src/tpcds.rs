//! TPC-DS: DataFusion's query texts (99 queries, 103 statements) through Canon, a plain
//! `SessionContext` and (from the DuckDB script's JSON) DuckDB, over the parquet files
//! `tpcgen-cli` writes; every statement's rows checked to agree.
//!
//! The project is generated from the files: one contract per table with the columns,
//! types and nullability the files have, and, with `--keys`, TPC-DS's primary keys.
//!
//! The same machinery runs any directory of statements (`canon-bench statements`), one
//! per `*.sql` file, over any directory of tables: the single kernels BENCHMARKS.md
//! compares with DuckDB are such a directory.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

use canon::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use canon::datafusion::prelude::SessionContext;

use crate::BenchResult;
use crate::duckdb_served::Served;
use crate::tpch::{self, Statement, Workload};
use crate::{tpch_plans, tpch_project};

/// Which statements a run reads from its query directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// DataFusion's TPC-DS texts, `1.sql` … `99.sql`, all of them.
    Tpcds,
    /// Every `*.sql` file, one statement each, named by its file name without `.sql`.
    Statements,
}

impl Suite {
    /// The suite's name for `scripts/duckdb_tpch.py --suite`.
    fn script_name(self) -> &'static str {
        match self {
            Suite::Tpcds => "tpcds",
            Suite::Statements => "statements",
        }
    }
}

/// What the TPC-DS run needs.
pub struct Options {
    /// Which statements `queries` holds.
    pub suite: Suite,
    /// One sub-directory of parquet files per table.
    pub data: PathBuf,
    /// DataFusion's query texts, `1.sql` … `99.sql` (or the statements' files).
    pub queries: PathBuf,
    /// JSON written by `scripts/duckdb_tpch.py --suite tpcds` over the same data.
    pub duckdb: Option<PathBuf>,
    /// Timed runs per statement and engine.
    pub runs: usize,
    /// Only these statements (`q1`, `q14_2`, …); all when empty.
    pub only: Vec<String>,
    /// Declare TPC-DS's primary keys in the generated project.
    pub keys: bool,
    /// Keep each query's join order (`[profile] join_order = "written"`), to measure what
    /// Canon's order earns.
    pub written_order: bool,
    /// A `[profile] memory_limit` for Canon, e.g. "512MiB".
    pub memory_limit: Option<String>,
    /// A Python that imports `duckdb`: DuckDB then runs in each round beside the other two
    /// engines.
    pub duckdb_python: Option<PathBuf>,
}

/// Each table's primary key in the TPC-DS specification.
const KEYS: &[(&str, &[&str])] = &[
    ("call_center", &["cc_call_center_sk"]),
    ("catalog_page", &["cp_catalog_page_sk"]),
    ("catalog_returns", &["cr_item_sk", "cr_order_number"]),
    ("catalog_sales", &["cs_item_sk", "cs_order_number"]),
    ("customer", &["c_customer_sk"]),
    ("customer_address", &["ca_address_sk"]),
    ("customer_demographics", &["cd_demo_sk"]),
    ("date_dim", &["d_date_sk"]),
    ("household_demographics", &["hd_demo_sk"]),
    ("income_band", &["ib_income_band_sk"]),
    (
        "inventory",
        &["inv_date_sk", "inv_item_sk", "inv_warehouse_sk"],
    ),
    ("item", &["i_item_sk"]),
    ("promotion", &["p_promo_sk"]),
    ("reason", &["r_reason_sk"]),
    ("ship_mode", &["sm_ship_mode_sk"]),
    ("store", &["s_store_sk"]),
    ("store_returns", &["sr_item_sk", "sr_ticket_number"]),
    ("store_sales", &["ss_item_sk", "ss_ticket_number"]),
    ("time_dim", &["t_time_sk"]),
    ("warehouse", &["w_warehouse_sk"]),
    ("web_page", &["wp_web_page_sk"]),
    ("web_returns", &["wr_item_sk", "wr_order_number"]),
    ("web_sales", &["ws_item_sk", "ws_order_number"]),
    ("web_site", &["web_site_sk"]),
];

/// Runs the benchmark in this process and prints its table; an error if any engine's rows
/// differ or a statement fails.
pub async fn run(options: &Options) -> BenchResult<()> {
    let tables = tables(&options.data)?;
    let project = write_project(&options.data, &tables, options)?;
    let texts = read_suite(options.suite, &options.queries)?;
    let statements = selected(&texts, &options.only)?;
    let names: Vec<&str> = tables.iter().map(String::as_str).collect();
    let workload = Workload {
        statements: &statements,
        runs: options.runs,
        data: &options.data,
        tables: &names,
    };
    let duckdb = options
        .duckdb
        .as_deref()
        .map(tpch::load_duckdb)
        .transpose()?;
    let mut served = Served::start_if(
        options.duckdb_python.as_deref(),
        options.suite.script_name(),
        &options.data,
        &options.queries,
    )?;
    let timings =
        tpch::measure_workload(&workload, &project, false, duckdb.as_ref(), served.as_mut())
            .await?;
    let suite = match options.suite {
        Suite::Tpcds => "TPC-DS".to_string(),
        Suite::Statements => format!("The statements of {}", options.queries.display()),
    };
    let title = format!(
        "{suite} over {} ({}{})",
        options.data.display(),
        if options.keys {
            "primary keys declared"
        } else {
            "columns only"
        },
        if options.written_order {
            ", joins in written order"
        } else {
            ""
        }
    );
    tpch::report(&title, options.runs, &timings, 1, duckdb.as_ref())
}

/// Runs each selected statement once under `EXPLAIN ANALYZE` in Canon and in the plain
/// session and prints both plans, to see where their work differs.
pub async fn explain(options: &Options) -> BenchResult<()> {
    let (runtime, plain, texts) = engines(options).await?;
    let session = runtime.session();
    for statement in selected(&texts, &options.only)? {
        let (name, sql) = (statement.name, statement.sql);
        tpch_plans::print_plans(&session, &plain, "EXPLAIN ANALYZE", name, sql).await?;
    }
    Ok(())
}

/// Times each selected statement's planning and execution apart, in Canon and the plain
/// session, to tell Canon's planning cost from the plan it chose.
pub async fn phases(options: &Options) -> BenchResult<()> {
    let (runtime, plain, texts) = engines(options).await?;
    let statements: Vec<_> = selected(&texts, &options.only)?
        .iter()
        .map(|s| (s.name, s.sql))
        .collect();
    tpch_plans::print_phases(
        "TPC-DS",
        &runtime.session(),
        &plain,
        &statements,
        options.runs,
    )
    .await
}

/// Canon's runtime over the generated project, the plain session over the same files,
/// and the query texts.
async fn engines(
    options: &Options,
) -> BenchResult<(canon::Runtime, SessionContext, Vec<(String, String)>)> {
    let tables = tables(&options.data)?;
    let project = write_project(&options.data, &tables, options)?;
    let texts = read_suite(options.suite, &options.queries)?;
    let runtime = canon::Runtime::load(&project)
        .await
        .map_err(|e| format!("loading {}: {e}", project.display()))?;
    let names: Vec<&str> = tables.iter().map(String::as_str).collect();
    let plain = tpch::plain_session_over(&options.data, &names).await?;
    Ok((runtime, plain, texts))
}

/// The statements `only` names (all when it is empty); an error for a name no file has.
fn selected<'a>(texts: &'a [(String, String)], only: &[String]) -> BenchResult<Vec<Statement<'a>>> {
    if let Some(unknown) = only
        .iter()
        .find(|o| !texts.iter().any(|(name, _)| name == *o))
    {
        let names: Vec<&str> = texts.iter().map(|(name, _)| name.as_str()).collect();
        return Err(format!(
            "unknown statement {unknown:?}; they are {}",
            names.join(", ")
        )
        .into());
    }
    Ok(texts
        .iter()
        .filter(|(name, _)| only.is_empty() || only.contains(name))
        .map(|(name, sql)| Statement {
            name,
            sql,
            ordered: false,
        })
        .collect())
}

/// The tables: the sub-directories of `data`, sorted, but for hidden ones (Canon's cache).
fn tables(data: &Path) -> BenchResult<Vec<String>> {
    let mut tables = Vec::new();
    for entry in std::fs::read_dir(data).map_err(|e| format!("reading {}: {e}", data.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir()
            && let Some(name) = entry.file_name().to_str()
            && !name.starts_with('.')
        {
            tables.push(name.to_string());
        }
    }
    tables.sort();
    if tables.is_empty() {
        return Err(format!("{} holds no table directories", data.display()).into());
    }
    Ok(tables)
}

/// The named statements of a suite's query directory.
fn read_suite(suite: Suite, dir: &Path) -> BenchResult<Vec<(String, String)>> {
    match suite {
        Suite::Tpcds => read_queries(dir),
        Suite::Statements => read_statement_files(dir),
    }
}

/// Every `*.sql` file of `dir`, sorted by name, each holding one statement named by the
/// file's name without `.sql`.
fn read_statement_files(dir: &Path) -> BenchResult<Vec<(String, String)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "sql")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            files.push((stem.to_string(), path));
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("{} holds no .sql file", dir.display()).into());
    }
    let mut out = Vec::with_capacity(files.len());
    for (name, path) in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        match <[String; 1]>::try_from(split_statements(&text)) {
            Ok([sql]) => out.push((name, sql)),
            Err(found) => {
                let n = found.len();
                return Err(format!("{} holds {n} statements, not one", path.display()).into());
            }
        }
    }
    Ok(out)
}

/// Every statement of `dir`'s `1.sql` … `99.sql`, named `q<N>`, or `q<N>_<i>` where a file
/// holds more than one.
pub(crate) fn read_queries(dir: &Path) -> BenchResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for n in 1..=99 {
        let path = dir.join(format!("{n}.sql"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading TPC-DS query {}: {e}", path.display()))?;
        let statements = split_statements(&text);
        if statements.is_empty() {
            return Err(format!("{} holds no statement", path.display()).into());
        }
        let many = statements.len() > 1;
        for (i, sql) in statements.into_iter().enumerate() {
            let name = if many {
                format!("q{n}_{}", i + 1)
            } else {
                format!("q{n}")
            };
            out.push((name, sql));
        }
    }
    Ok(out)
}

/// The statements of a file: split at each `;`, without the parts that hold only comments
/// (TPC-DS's texts have no `;` inside a string).
fn split_statements(text: &str) -> Vec<String> {
    text.split(';')
        .filter(|part| {
            part.lines()
                .map(str::trim)
                .any(|line| !line.is_empty() && !line.starts_with("--"))
        })
        .map(|part| part.trim().to_string())
        .collect()
}

/// Writes `canon.toml` (or `canon-keys.toml` with `keys`) into `data`: one contract per
/// table with the columns its first file declares. For a directory of statements it is
/// `canon-tables.toml`, so that it never replaces the project of the suite the tables
/// belong to.
fn write_project(data: &Path, tables: &[String], options: &Options) -> BenchResult<PathBuf> {
    let keys = options.keys;
    let (source, project) = match options.suite {
        Suite::Tpcds => ("TPC-DS parquet from tpcgen-cli", "tpcds"),
        Suite::Statements => ("the tables of this directory", "tables"),
    };
    let mut out = format!(
        "# Generated by canon-bench for {source}; locations are relative\n# to this file. \
         Columns, types and nullability are those of each table's first file.\n\n\
         [project]\nname = \"{project}\"\n\n[profile]\ntarget_partitions = 0\n"
    );
    if options.written_order {
        out.push_str("join_order = \"written\"\n");
    }
    if let Some(limit) = &options.memory_limit {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "memory_limit = \"{limit}\"");
    }
    for table in tables {
        let files = tpch_project::table_files(data, table)?;
        let file = files.first().ok_or("a table without files")?;
        let reader = File::open(file).map_err(|e| format!("opening {}: {e}", file.display()))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(reader)
            .map_err(|e| format!("reading {}: {e}", file.display()))?;
        let schema = builder.schema();
        let key = KEYS
            .iter()
            .find(|(name, _)| name == table)
            .map(|(_, key)| *key)
            .filter(|_| keys);
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "\n[[dataset]]\nname = \"{table}\"\nformat = \"parquet\"\nlocation = \"{table}/\"\n"
        );
        if let Some(key) = key {
            let quoted: Vec<String> = key.iter().map(|k| format!("\"{k}\"")).collect();
            let _ = writeln!(out, "primary_key = [{}]", quoted.join(", "));
        }
        out.push_str("columns = [\n");
        for field in schema.fields() {
            // A key's columns are declared NOT NULL, as a primary key requires; `canon
            // check` verifies it against the files.
            let nullable =
                field.is_nullable() && !key.is_some_and(|key| key.contains(&field.name().as_str()));
            let _ = writeln!(
                out,
                "  {{ name = \"{}\", type = \"{}\", nullable = {nullable} }},",
                field.name(),
                field.data_type()
            );
        }
        out.push_str("]\n");
    }
    let name = match (keys, options.written_order) {
        _ if options.suite == Suite::Statements => "canon-tables.toml",
        (false, false) => "canon.toml",
        (true, false) => "canon-keys.toml",
        (false, true) => "canon-written.toml",
        (true, true) => "canon-keys-written.toml",
    };
    let file = data.join(name);
    std::fs::write(&file, out).map_err(|e| format!("writing {}: {e}", file.display()))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_semicolons_without_comment_only_parts() {
        let text = "-- query 14\nselect 1;\n\nselect 2\n;\n-- end\n";
        // A statement keeps the comments before it; a part of comments alone is no statement.
        assert_eq!(
            split_statements(text),
            vec!["-- query 14\nselect 1", "select 2"]
        );
        assert_eq!(
            split_statements("-- only a comment\n"),
            Vec::<String>::new()
        );
    }
}
