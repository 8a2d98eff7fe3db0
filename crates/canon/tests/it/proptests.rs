//! Property tests: the project parser on mutated project files, contracts of generated
//! Arrow types through the registration path, and hostile SQL through a session.
//!
//! Each property runs a modest, fixed number of cases from a fixed seed, so a failure is
//! reproducible and the suite stays fast in debug builds.

use std::path::Path;
use std::sync::Arc;

use canon::datafusion::arrow::array::Int64Array;
use canon::datafusion::arrow::datatypes::{DataType, Field, Fields, IntervalUnit, TimeUnit};
use canon::error::ProjectError;
use canon::{Project, Runtime, Session};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

use crate::common::{Fixture, arr, batch};

/// A runner with `cases` cases from a fixed seed, that writes no regression files.
fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

// ---------------------------------------------------------------------------------------
// (a) The project parser: never panics; every problem is located inside the file.
// ---------------------------------------------------------------------------------------

/// Valid project files covering every section; `numbers` and `cities` exist in the root.
const SEEDS: [&str; 3] = [
    r#"[project]
name = "seed"

[profile]
target_partitions = 2
batch_size = 4096
memory_limit = "1GiB"
memory_pool = "greedy"
spill_dir = "spill"
max_temp_directory_size = "10GiB"

[profile.cache]
metadata = "64MiB"
list_files = "0"
list_files_ttl = "30s"
statistics = false

[profile.parquet]
pushdown_filters = true

[profile.settings]
"datafusion.optimizer.max_passes" = "5"

[diagnostics]
on_write_error = "warn"

[policy]
dialect = "postgresql"
identifiers = "preserve"
allow_ddl = true
allow_dml = false
allow_statements = true

[[dataset]]
name = "numbers"
format = "parquet"
location = "numbers"
ordered_by = ["n ASC NULLS LAST"]
options = { skip_metadata = "true" }
columns = [
  { name = "n", type = "Int64", nullable = false },
  { name = "label", type = "Utf8" },
  { name = "at", type = "Timestamp(Microsecond, Some(\"UTC\"))" },
]
constraints = ["n >= 0"]
"#,
    r#"[project]
name = "evolving"

[[dataset]]
name = "numbers"
format = "parquet"
location = "numbers/"
partitioned_by = ["year"]
columns = [
  { name = "n", type = "Int64" },
  { name = "fare", type = "Float64" },
  { name = "tip", type = "Float64" },
  { name = "year", type = "Int32" },
]

[dataset.evolution]
missing = "default"
defaults = { tip = "0.0" }
renames = { fare_amt = "fare" }
widen = true

[[dataset]]
name = "cities"
format = "csv"
location = "cities.csv"
options = { "format.has_header" = "true", delimiter = "," }
columns = [
  { name = "id", type = "Int64" },
  { name = "name", type = "Utf8" },
]
"#,
    r#"[project]
name = "declared"

[functions]
overrides = ["stable_id"]

[[function]]
name = "double_it"
args = [{ name = "x", type = "BIGINT" }]
returns = "BIGINT"
body = "x * 2"
description = "Twice x"

[[prepared]]
name = "by_n"
sql = "SELECT n FROM numbers WHERE n = $1"
params = ["BIGINT"]

[[dataset]]
name = "numbers"
format = "parquet"
location = "numbers"
columns = [{ name = "n", type = "Int64" }]

[[dataset]]
name = "events"
format = "delta"
location = "events"
columns = [{ name = "id", type = "Int64", nullable = false }]

[dataset.delta]
file_column = "_file"
version = 3
"#,
];

/// Values a mutation puts after a line's `=`.
const VALUES: [&str; 16] = [
    "\"\"",
    "-1",
    "0",
    "1e400",
    "18446744073709551616",
    "\"x\"",
    "[]",
    "{}",
    "true",
    "\"Int64\"",
    "\"Timestamp(\"",
    "\"🦀 \\u00e9\"",
    "[\"a\", 1]",
    "{ name = \"n\" }",
    "\"../../etc\"",
    "\"0B\"",
];

/// One edit of a project file.
#[derive(Debug, Clone)]
enum Mutation {
    DropLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    ReplaceValue(Index, &'static str),
    InsertJunk(Index, Index, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::DropLine),
        any::<Index>().prop_map(Mutation::DuplicateLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<Index>(), prop::sample::select(VALUES.to_vec()))
            .prop_map(|(line, value)| Mutation::ReplaceValue(line, value)),
        (
            any::<Index>(),
            any::<Index>(),
            // Structure, quotes, escapes, multi-byte characters and line breaks.
            prop::collection::vec(
                prop::sample::select(vec![
                    "[", "]", "{", "}", "=", "\"", "'", "\\", ",", ".", "#", "\n", "\r\n", "\t",
                    " ", "é", "€", "🦀", "\u{0}", "\u{feff}", "x", "1", "[[", "]]", "\"\"\"",
                ]),
                1..6,
            )
            .prop_map(|parts| parts.concat()),
        )
            .prop_map(|(line, at, junk)| Mutation::InsertJunk(line, at, junk)),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let n = lines.len();
    match mutation {
        Mutation::DropLine(i) => {
            lines.remove(i.index(n));
        }
        Mutation::DuplicateLine(i) => {
            let line = lines[i.index(n)].clone();
            lines.insert(i.index(n), line);
        }
        Mutation::SwapLines(a, b) => lines.swap(a.index(n), b.index(n)),
        Mutation::ReplaceValue(i, value) => {
            let line = &mut lines[i.index(n)];
            if let Some(eq) = line.find('=') {
                line.truncate(eq + 1);
                line.push(' ');
                line.push_str(value);
            }
        }
        Mutation::InsertJunk(i, at, junk) => {
            let line = &mut lines[i.index(n)];
            let boundaries: Vec<usize> = line
                .char_indices()
                .map(|(b, _)| b)
                .chain([line.len()])
                .collect();
            line.insert_str(boundaries[at.index(boundaries.len())], junk);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[test]
fn the_project_parser_never_panics_and_locates_every_problem() {
    let fx = Fixture::new();
    fx.mkdir("numbers");
    fx.mkdir("events");
    fx.write_text("cities.csv", "id,name\n1,Oslo\n");
    let file = fx.root().join("canon.toml");
    let strategy = (
        prop::sample::select(SEEDS.to_vec()),
        prop::collection::vec(mutation(), 1..4),
    );
    let result = runner(64).run(&strategy, |(seed, mutations)| {
        let text = mutations.iter().fold(seed.to_string(), |t, m| apply(&t, m));
        check_located(&text, &file, fx.root())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The seeds themselves are valid (the mutations start from working files).
    for seed in SEEDS {
        if let Err(e) = Project::parse(seed, &file, fx.root()) {
            panic!("seed does not parse:\n{e}\n{seed}");
        }
    }
}

/// Parses `text`; every problem must point at a line of it and a column on that line.
fn check_located(text: &str, file: &Path, root: &Path) -> Result<(), TestCaseError> {
    let problems = match Project::parse(text, file, root) {
        Ok(_) => return Ok(()),
        Err(ProjectError::Invalid { problems, .. }) => problems,
        Err(other) => return Err(TestCaseError::fail(format!("unexpected error: {other}"))),
    };
    prop_assert!(!problems.is_empty(), "an error without problems:\n{text}");
    // The last line is the one after the final newline (where "end of file" points).
    let lines: Vec<&str> = text.split('\n').collect();
    for p in &problems {
        prop_assert!(
            p.line >= 1 && p.line <= lines.len(),
            "line {} outside 1..={} for {p:?} in:\n{text}",
            p.line,
            lines.len()
        );
        let width = lines[p.line - 1].chars().count();
        prop_assert!(
            p.column >= 1 && p.column <= width + 1,
            "column {} outside 1..={} for {p:?} in:\n{text}",
            p.column,
            width + 1
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// (b) Contracts: any valid contract registers with exactly its schema.
// ---------------------------------------------------------------------------------------

fn time_unit() -> impl Strategy<Value = TimeUnit> {
    prop::sample::select(vec![
        TimeUnit::Second,
        TimeUnit::Millisecond,
        TimeUnit::Microsecond,
        TimeUnit::Nanosecond,
    ])
}

fn primitive_type() -> impl Strategy<Value = DataType> {
    prop_oneof![
        prop::sample::select(vec![
            DataType::Boolean,
            DataType::Int8,
            DataType::Int16,
            DataType::Int32,
            DataType::Int64,
            DataType::UInt8,
            DataType::UInt16,
            DataType::UInt32,
            DataType::UInt64,
            DataType::Float16,
            DataType::Float32,
            DataType::Float64,
            DataType::Utf8,
            DataType::LargeUtf8,
            DataType::Utf8View,
            DataType::Binary,
            DataType::LargeBinary,
            DataType::BinaryView,
            DataType::Date32,
            DataType::Date64,
            DataType::Time32(TimeUnit::Second),
            DataType::Time32(TimeUnit::Millisecond),
            DataType::Time64(TimeUnit::Microsecond),
            DataType::Time64(TimeUnit::Nanosecond),
            DataType::Interval(IntervalUnit::YearMonth),
            DataType::Interval(IntervalUnit::DayTime),
            DataType::Interval(IntervalUnit::MonthDayNano),
        ]),
        (1..64_i32).prop_map(DataType::FixedSizeBinary),
        (
            time_unit(),
            prop::sample::select(vec![None, Some("UTC"), Some("+02:00"), Some("Europe/Oslo")])
        )
            .prop_map(|(unit, tz)| DataType::Timestamp(unit, tz.map(Arc::from))),
        time_unit().prop_map(DataType::Duration),
        (1..=38_u8)
            .prop_flat_map(|p| (Just(p), 0..=p as i8))
            .prop_map(|(p, s)| DataType::Decimal128(p, s)),
        (39..=76_u8)
            .prop_flat_map(|p| (Just(p), 0..=p as i8))
            .prop_map(|(p, s)| DataType::Decimal256(p, s)),
    ]
}

/// Names for struct fields and columns: SQL keywords, case, spaces, quotes, non-ASCII.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_]{0,8}",
        "[A-Za-z][A-Za-z0-9 _\"'.-]{0,10}",
        prop::sample::select(vec![
            "select".to_string(),
            "Order".to_string(),
            "größe".to_string(),
            "名前".to_string(),
            "a\"b".to_string(),
        ]),
    ]
}

/// Names of struct fields, which Arrow's type names carry: Arrow writes a `"` inside a
/// field name as `\"` but reads `\"` back as two characters, so contracts cannot name
/// such fields; every other character is kept.
fn field_name() -> impl Strategy<Value = String> {
    name().prop_filter("Arrow's type names do not round-trip quotes", |n| {
        !n.contains('"') && !n.contains('\\')
    })
}

fn data_type() -> impl Strategy<Value = DataType> {
    primitive_type().prop_recursive(3, 12, 4, |inner| {
        let field = (inner.clone(), any::<bool>())
            .prop_map(|(t, nullable)| Arc::new(Field::new("item", t, nullable)));
        prop_oneof![
            field.clone().prop_map(DataType::List),
            field.clone().prop_map(DataType::LargeList),
            (field, 1..5_i32).prop_map(|(f, n)| DataType::FixedSizeList(f, n)),
            prop::collection::btree_map(field_name(), (inner.clone(), any::<bool>()), 1..4)
                .prop_map(|fields| {
                    let fields: Fields = fields
                        .into_iter()
                        .map(|(n, (t, nullable))| Field::new(n, t, nullable))
                        .collect();
                    DataType::Struct(fields)
                }),
            (inner, any::<bool>(), any::<bool>()).prop_map(|(value, nullable, sorted)| {
                let entries = Fields::from(vec![
                    Field::new("key", DataType::Utf8, false),
                    Field::new("value", value, nullable),
                ]);
                let entries = Field::new("entries", DataType::Struct(entries), false);
                DataType::Map(Arc::new(entries), sorted)
            }),
            prop::sample::select(vec![DataType::Int8, DataType::Int32, DataType::UInt16])
                .prop_map(|k| DataType::Dictionary(Box::new(k), Box::new(DataType::Utf8))),
        ]
    })
}

/// A contract: file columns of any type, then up to two partition columns.
#[derive(Debug, Clone)]
struct Contract {
    columns: Vec<(String, DataType, bool)>,
    partitions: Vec<(String, DataType)>,
}

fn contract() -> impl Strategy<Value = Contract> {
    let columns = prop::collection::btree_map(name(), (data_type(), any::<bool>()), 1..6);
    let partitions = prop::collection::btree_map(
        "p_[a-z]{1,5}",
        prop::sample::select(vec![DataType::Utf8, DataType::Int32, DataType::Date32]),
        0..3,
    );
    (columns, partitions).prop_map(|(columns, partitions)| Contract {
        columns: columns
            .into_iter()
            .map(|(n, (t, nullable))| (n, t, nullable))
            .collect(),
        partitions: partitions.into_iter().collect(),
    })
}

/// A TOML basic string (JSON's escapes are TOML's).
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

impl Contract {
    fn project(&self) -> String {
        let mut columns: Vec<String> = self
            .columns
            .iter()
            .map(|(n, t, nullable)| {
                format!(
                    "  {{ name = {}, type = {}, nullable = {nullable} }}",
                    toml_string(n),
                    toml_string(&t.to_string())
                )
            })
            .collect();
        columns.extend(self.partitions.iter().map(|(n, t)| {
            format!(
                "  {{ name = {}, type = {} }}",
                toml_string(n),
                toml_string(&t.to_string())
            )
        }));
        let partitioned: Vec<String> = self
            .partitions
            .iter()
            .map(|(n, _)| toml_string(n))
            .collect();
        format!(
            "[project]\nname = \"contracts\"\n\n[[dataset]]\nname = \"t\"\nformat = \"parquet\"\n\
             location = \"t\"\npartitioned_by = [{}]\ncolumns = [\n{}\n]\n",
            partitioned.join(", "),
            columns.join(",\n")
        )
    }

    /// The schema the contract declares: partition columns last and NOT NULL.
    fn expected(&self) -> Vec<(String, DataType, bool)> {
        let mut fields = self.columns.clone();
        fields.extend(
            self.partitions
                .iter()
                .map(|(n, t)| (n.clone(), t.clone(), false)),
        );
        fields
    }
}

#[test]
fn any_valid_contract_registers_with_exactly_its_schema() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let fx = Fixture::new();
    fx.mkdir("t");
    let file = fx.root().join("canon.toml");
    let result = runner(64).run(&contract(), |contract| {
        // Column names must differ from the partition names (both are columns).
        prop_assume!(
            contract
                .columns
                .iter()
                .all(|(n, _, _)| contract.partitions.iter().all(|(p, _)| p != n))
        );
        let toml = contract.project();
        std::fs::write(&file, &toml).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let project =
            Project::load(&file).map_err(|e| TestCaseError::fail(format!("{e}\n{toml}")))?;
        let runtime = rt
            .block_on(Runtime::new(project, canon::Diagnostics::new()))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{toml}")))?;
        let dataset = runtime
            .dataset("t")
            .ok_or_else(|| TestCaseError::fail("no dataset t"))?;
        let schema = dataset.provider.schema();
        let actual: Vec<(String, DataType, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect();
        prop_assert_eq!(actual, contract.expected(), "DDL:\n{}", dataset.ddl);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------
// (c) Hostile SQL: an error or a result, never a panic; the session answers afterwards.
// ---------------------------------------------------------------------------------------

/// Literals of many types, as arguments to Canon's functions.
const ARGS: [&str; 14] = [
    "NULL",
    "1",
    "-9223372036854775808",
    "'x'",
    "1.5",
    "CAST(1.5 AS DECIMAL(38, 10))",
    "[1, 2]",
    "{a: 1}",
    "TIMESTAMP '2026-01-01 00:00:00'",
    "DATE '1500-01-01'",
    "X'00ff'",
    "true",
    "repeat('é', 10000)",
    "n",
];

const FUNCTIONS: [&str; 6] = [
    "stable_hash64",
    "stable_id",
    "list_files_cache",
    "metadata_cache",
    "statistics_cache",
    "table_changes",
];

/// SQL meant to break things.
fn hostile() -> impl Strategy<Value = String> {
    let args =
        prop::collection::vec(prop::sample::select(ARGS.to_vec()), 0..4).prop_map(|a| a.join(", "));
    prop_oneof![
        // Deep nesting: expressions, subqueries, function calls.
        (1..300_usize).prop_map(|d| format!("SELECT {}1{}", "(".repeat(d), ")".repeat(d))),
        (1..120_usize).prop_map(|d| {
            (0..d).fold("SELECT 1 AS x".to_string(), |q, i| {
                format!("SELECT x FROM ({q}) AS t{i}")
            })
        }),
        (1..200_usize).prop_map(|d| format!("SELECT {}1{}", "abs(".repeat(d), ")".repeat(d))),
        (1..200_usize).prop_map(|d| format!("SELECT 1{}", " + 1".repeat(d))),
        // Huge IN lists.
        (1..10_000_usize).prop_map(|n| {
            let list: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            format!(
                "SELECT count(*) FROM numbers WHERE n IN ({})",
                list.join(",")
            )
        }),
        // Overflowing casts and arithmetic.
        (
            prop::sample::select(vec![
                "9223372036854775807",
                "-9223372036854775808",
                "170141183460469231731687303715884105727",
                "1e308",
                "-1e400",
                "'NaN'",
                "'99999-12-31'",
                "'-infinity'",
                "n * 9223372036854775807",
            ]),
            prop::sample::select(vec![
                "TINYINT",
                "INT UNSIGNED",
                "BIGINT",
                "DECIMAL(5, 2)",
                "DECIMAL(76, 76)",
                "REAL",
                "DATE",
                "TIMESTAMP",
                "TIMESTAMP(0)",
                "INTERVAL",
                "ARROW('Timestamp(Second, None)')",
                "ARROW('Duration(Nanosecond)')",
            ]),
        )
            .prop_map(|(value, ty)| format!("SELECT CAST({value} AS {ty}) FROM numbers")),
        prop::sample::select(vec![
            "SELECT 9223372036854775807 + n FROM numbers",
            "SELECT -(-9223372036854775808)",
            "SELECT n / 0 FROM numbers",
            "SELECT n % 0 FROM numbers",
            "SELECT power(10, 400)",
            "SELECT CAST(n AS BIGINT) * 9223372036854775807 FROM numbers",
            "SELECT TIMESTAMP '2262-04-11 23:47:16' + INTERVAL '1 day'",
            "SELECT repeat('x', 10000000)",
        ])
        .prop_map(str::to_string),
        // Canon's functions and table functions with any arguments.
        (prop::sample::select(FUNCTIONS.to_vec()), args.clone())
            .prop_map(|(f, args)| format!("SELECT {f}({args}) FROM numbers")),
        (prop::sample::select(FUNCTIONS.to_vec()), args)
            .prop_map(|(f, args)| format!("SELECT * FROM {f}({args})")),
    ]
}

/// Runs `sql` to the end in its own task; fails the case if the task panicked.
fn survives(
    rt: &tokio::runtime::Runtime,
    session: &Session,
    sql: &str,
) -> Result<(), TestCaseError> {
    let (s, text) = (session.clone(), sql.to_string());
    let task = rt.spawn(async move {
        let df = s.sql(&text).await?;
        df.collect().await?;
        Ok::<_, canon::CanonError>(())
    });
    match rt.block_on(task) {
        Ok(_) => Ok(()),
        Err(e) if e.is_panic() => {
            let shown: String = sql.chars().take(300).collect();
            Err(TestCaseError::fail(format!("panicked: {e}\n{shown}")))
        }
        Err(e) => Err(TestCaseError::fail(format!("task failed: {e}"))),
    }
}

#[test]
fn hostile_sql_is_an_error_or_a_result_never_a_panic() {
    // DataFusion's SQL planner (not Canon) needs about 100 KiB of stack per nested subquery
    // in debug builds: on tokio's default 2 MiB worker stacks some 20 levels, well within
    // the parser's default limit, overflow the stack and abort the process, also in a plain
    // SessionContext. The workers get room for every depth the parser lets through.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(16 << 20)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let fx = Fixture::new();
    fx.write_parquet(
        "numbers/part-0.parquet",
        &batch(vec![("n", arr(Int64Array::from(vec![1, 2, 3])))]),
    );
    let toml = "[project]\nname = \"hostile\"\n\n\
                [[dataset]]\nname = \"numbers\"\nformat = \"parquet\"\nlocation = \"numbers\"\n\
                columns = [{ name = \"n\", type = \"Int64\" }]\n";
    let runtime = rt.block_on(fx.runtime(toml));
    // At the parser's default nesting limit (raised, the depth the planner needs has no
    // bound).
    let session = runtime.session();
    let result = runner(64).run(&hostile(), |sql| {
        let session = &session;
        survives(&rt, session, &sql)?;
        let answer = rt.block_on(async {
            let df = session.sql("SELECT 1 AS one").await?;
            Ok::<_, canon::CanonError>(df.collect().await?)
        });
        prop_assert!(answer.is_ok(), "after `{sql}`: {answer:?}");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
