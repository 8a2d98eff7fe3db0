//! sqllogictest files (`tests/slt/*.slt`, DataFusion's format) run through plain DataFusion
//! and through Canon sessions under a permissive policy, with the same tables: every file
//! holds plain DataFusion's answers, and Canon must give the same. Where Canon deliberately
//! answers otherwise, the record is listed in [`DIFFERENCES`] with the error Canon gives and
//! why; each listed record must still be refused that way, and every entry must be used.
//!
//! `CANON_SLT_COMPLETE=1` first rewrites the files with plain DataFusion's answers, as
//! DataFusion's own `--complete` does; review the diff before committing it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use canon::datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use canon::datafusion::arrow::datatypes::{DataType, Schema};
use canon::datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use canon::datafusion::error::DataFusionError;
use canon::datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use canon::datafusion::sql::parser::Statement as DfStatement;
use canon::datafusion::sql::sqlparser::ast::Statement;
use canon::{CanonError, Session};
use sqllogictest::{
    AsyncDB, DBOutput, DefaultColumnType, Record, Runner, default_normalizer, default_validator,
    strict_column_validator,
};

use crate::common::{Fixture, arr, batch};

/// A record where Canon deliberately answers otherwise than DataFusion.
struct Difference {
    /// The record's SQL.
    sql: &'static str,
    /// What Canon's error says.
    error: &'static str,
    /// Why Canon differs.
    reason: &'static str,
}

const DIFFERENCES: [Difference; 3] = [
    Difference {
        sql: "SET datafusion.execution.batch_size = 1024",
        error: "`datafusion.execution.batch_size` is set by the project ([profile] batch_size)",
        reason: "the profile owns the batch size: one home per knob, and a session never \
                 reports one value while its runtime was built with another",
    },
    Difference {
        sql: "SET datafusion.sql_parser.dialect = 'PostgreSQL'",
        error: "`datafusion.sql_parser.dialect` is set by the project ([policy] dialect)",
        reason: "Canon parses every statement in the policy's dialect, so a session setting \
                 would be shown and not used",
    },
    Difference {
        sql: "DROP TABLE trips",
        error: "`trips` is a dataset of the project and cannot be dropped from a session",
        reason: "datasets come from the project file and are shared by every session",
    },
];

const PROJECT: &str = r#"[project]
name = "slt"

[policy]
allow_ddl = true
allow_dml = true
allow_statements = true

[[dataset]]
name = "trips"
format = "parquet"
location = "trips"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "city", type = "Utf8" },
  { name = "fare", type = "Float64" },
  { name = "tip", type = "Float64" },
]
"#;

/// A Canon session as sqllogictest's database.
struct CanonDb {
    session: Session,
}

#[async_trait]
impl AsyncDB for CanonDb {
    type Error = CanonError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, CanonError> {
        let is_dml = self.session.parse(sql)?.iter().any(is_dml);
        let df = self.session.sql(sql).await?;
        let schema = df.schema().inner().clone();
        Ok(output(is_dml, &schema, &df.collect().await?)?)
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "canon"
    }
}

/// Plain DataFusion as sqllogictest's database: where every file's answers come from.
struct PlainDb {
    ctx: SessionContext,
}

#[async_trait]
impl AsyncDB for PlainDb {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let state = self.ctx.state();
        let statement =
            state.sql_to_statement(sql, &state.config().options().sql_parser.dialect)?;
        let df = self.ctx.sql(sql).await?;
        let schema = df.schema().inner().clone();
        output(is_dml(&statement), &schema, &df.collect().await?)
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "datafusion"
    }
}

fn is_dml(statement: &DfStatement) -> bool {
    matches!(statement, DfStatement::Statement(s)
        if matches!(**s, Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_)))
}

/// A statement's result as sqllogictest compares it: DML answers with its row count, a
/// statement without columns with 0.
fn output(
    is_dml: bool,
    schema: &Schema,
    batches: &[RecordBatch],
) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
    let rows = render(batches)?;
    if is_dml {
        let count = rows
            .first()
            .and_then(|r| r.first())
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        return Ok(DBOutput::StatementComplete(count));
    }
    if schema.fields().is_empty() {
        return Ok(DBOutput::StatementComplete(0));
    }
    let types = schema
        .fields()
        .iter()
        .map(|f| column_type(f.data_type()))
        .collect();
    Ok(DBOutput::Rows { types, rows })
}

/// Integers are `I`, floats and decimals `R`, strings `T`, everything else `?`.
fn column_type(data_type: &DataType) -> DefaultColumnType {
    if data_type.is_integer() {
        DefaultColumnType::Integer
    } else if data_type.is_floating() || data_type.is_decimal() {
        DefaultColumnType::FloatingPoint
    } else if matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        DefaultColumnType::Text
    } else {
        DefaultColumnType::Any
    }
}

/// Cells as DataFusion's sqllogictests write them: `NULL`, and `(empty)` for ''.
fn render(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, DataFusionError> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| match f.value(row).to_string() {
                        empty if empty.is_empty() => "(empty)".to_string(),
                        cell => cell,
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// Runs a file through plain DataFusion, with the same `trips` table: the file's answers
/// must be DataFusion's own. With `CANON_SLT_COMPLETE` set, writes them into the file first.
async fn plain_datafusion_answers(file: &Path, trips: &Path) {
    if std::env::var_os("CANON_SLT_COMPLETE").is_some() {
        plain_runner(trips)
            .update_test_file(
                file,
                " ",
                default_validator,
                default_normalizer,
                strict_column_validator,
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    if let Err(e) = plain_runner(trips).run_file_async(file).await {
        panic!(
            "{}: plain DataFusion does not give the file's answer: {}",
            file.display(),
            e.display(false)
        );
    }
}

/// A runner on a fresh plain DataFusion context with `trips` registered.
fn plain_runner(
    trips: &Path,
) -> Runner<PlainDb, impl sqllogictest::MakeConnection<Conn = PlainDb>> {
    let trips = trips.to_string_lossy().into_owned();
    let mut runner = Runner::new(move || {
        let trips = trips.clone();
        async move {
            // Canon's sessions show settings through the information schema too.
            let config = SessionConfig::new().with_information_schema(true);
            let ctx = SessionContext::new_with_config(config);
            ctx.register_parquet("trips", &trips, ParquetReadOptions::default())
                .await?;
            Ok::<_, DataFusionError>(PlainDb { ctx })
        }
    });
    runner.with_column_validator(strict_column_validator);
    runner
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

fn record_sql<T: sqllogictest::ColumnType>(record: &Record<T>) -> Option<&str> {
    match record {
        Record::Statement { sql, .. } | Record::Query { sql, .. } => Some(sql.trim()),
        _ => None,
    }
}

#[tokio::test]
async fn sqllogictest_files_answer_as_plain_datafusion_through_canon_sessions() {
    let fx = Fixture::new();
    fx.write_parquet(
        "trips/part-0.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![1, 2, 3, 4]))),
            (
                "city",
                arr(StringArray::from(vec!["Oslo", "Lima", "Oslo", "Rome"])),
            ),
            (
                "fare",
                arr(Float64Array::from(vec![10.0, 15.0, 30.0, 30.0])),
            ),
            (
                "tip",
                arr(Float64Array::from(vec![
                    Some(1.0),
                    None,
                    Some(3.0),
                    Some(2.0),
                ])),
            ),
        ]),
    );
    let files = slt_files();
    assert!(files.len() >= 7, "{files:?}");
    let trips = fx.root().join("trips");
    for file in &files {
        plain_datafusion_answers(file, &trips).await;
    }
    let runtime = fx.runtime(PROJECT).await;
    let mut used = BTreeSet::new();
    for file in &files {
        // One session per file: its tables and settings are its own.
        let session = runtime.session();
        let db_session = session.clone();
        let mut runner = Runner::new(move || {
            let session = db_session.clone();
            async move { Ok::<_, CanonError>(CanonDb { session }) }
        });
        runner.with_column_validator(strict_column_validator);
        let records = sqllogictest::parse_file::<DefaultColumnType>(file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for record in records {
            let listed =
                record_sql(&record).and_then(|sql| DIFFERENCES.iter().find(|d| d.sql == sql));
            if let Some(difference) = listed {
                let err = match session.sql(difference.sql).await {
                    Ok(_) => panic!(
                        "{}: `{}` is listed as a difference ({}) but Canon ran it",
                        file.display(),
                        difference.sql,
                        difference.reason
                    ),
                    Err(e) => e.to_string(),
                };
                assert!(
                    err.contains(difference.error),
                    "{}: `{}`: expected Canon's error {:?}, got {err}",
                    file.display(),
                    difference.sql,
                    difference.error
                );
                used.insert(difference.sql);
                continue;
            }
            if let Err(e) = runner.run_async(record).await {
                panic!("{}: {}", file.display(), e.display(false));
            }
        }
    }
    let stale: Vec<&str> = DIFFERENCES
        .iter()
        .map(|d| d.sql)
        .filter(|sql| !used.contains(sql))
        .collect();
    assert!(
        stale.is_empty(),
        "listed differences no file has: {stale:?}"
    );
}
