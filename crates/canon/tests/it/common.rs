//! Shared fixtures: a temporary project directory with real data files, a project file
//! written into it, and helpers to run SQL and compare results.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use canon::datafusion::arrow::array::{ArrayRef, RecordBatch};
use canon::datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use canon::datafusion::arrow::util::pretty::pretty_format_batches;
use canon::datafusion::parquet::arrow::ArrowWriter;
use canon::{CanonError, Runtime, Session};
use tempfile::TempDir;

/// A project directory under the system temp dir, removed when dropped.
pub struct Fixture {
    dir: TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("create temp dir"),
        }
    }

    /// The absolute project directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `root/rel`, as a string.
    pub fn abs(&self, rel: &str) -> String {
        self.root().join(rel).to_string_lossy().into_owned()
    }

    /// A path under the project directory (relative, or absolute under it) as Canon's DDL
    /// and messages name it: `project:///rel`.
    pub fn url(&self, path: impl AsRef<Path>) -> String {
        let path = path.as_ref();
        let rel = path.strip_prefix(self.root()).unwrap_or(path);
        format!("project:///{}", rel.to_string_lossy())
    }

    /// Creates a directory (and its parents) under the project directory.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let path = self.root().join(rel);
        fs::create_dir_all(&path).expect("create dir");
        path
    }

    /// Writes a text file under the project directory, creating parent directories.
    pub fn write_text(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.root().join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent dir");
        }
        fs::write(&path, text).expect("write file");
        path
    }

    /// Writes a parquet file with one batch under the project directory.
    pub fn write_parquet(&self, rel: &str, batch: &RecordBatch) -> PathBuf {
        let path = self.root().join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent dir");
        }
        let file = fs::File::create(&path).expect("create parquet file");
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("parquet writer");
        writer.write(batch).expect("write batch");
        writer.close().expect("close parquet writer");
        path
    }

    /// Writes `canon.toml` into the project directory and returns its path.
    pub fn write_project(&self, toml: &str) -> PathBuf {
        self.write_text("canon.toml", toml)
    }

    /// Writes the project file and loads a runtime from it.
    pub async fn load(&self, toml: &str) -> canon::Result<Runtime> {
        let file = self.write_project(toml);
        Runtime::load(&file).await
    }

    /// Writes the project file and loads a runtime, failing the test with the error text.
    pub async fn runtime(&self, toml: &str) -> Runtime {
        match self.load(toml).await {
            Ok(runtime) => runtime,
            Err(e) => panic!("runtime did not load:\n{e}"),
        }
    }

    /// Writes the project file and returns the error loading it, as text.
    pub fn project_error(&self, toml: &str) -> String {
        let file = self.write_project(toml);
        match canon::Project::load(&file) {
            Ok(_) => panic!("project loaded, expected an error:\n{toml}"),
            Err(e) => e.to_string(),
        }
    }

    /// The project file's path, as error messages print it.
    pub fn project_file(&self) -> String {
        self.abs("canon.toml")
    }
}

/// A record batch from named columns (all nullable).
pub fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).expect("build record batch")
}

/// Runs one statement and collects its batches.
pub async fn collect(session: &Session, sql: &str) -> Vec<RecordBatch> {
    let df = match session.sql(sql).await {
        Ok(df) => df,
        Err(e) => panic!("`{sql}` failed:\n{e}"),
    };
    match df.collect().await {
        Ok(batches) => batches,
        Err(e) => panic!("`{sql}` failed while executing:\n{e}"),
    }
}

/// Runs one statement and renders the result as an ASCII table.
pub async fn query(session: &Session, sql: &str) -> String {
    let batches = collect(session, sql).await;
    pretty_format_batches(&batches)
        .expect("format batches")
        .to_string()
}

/// Runs one statement and returns its error (planning or execution).
pub async fn query_err(session: &Session, sql: &str) -> CanonError {
    match session.sql(sql).await {
        Err(e) => e,
        Ok(df) => match df.collect().await {
            Err(e) => CanonError::DataFusion(e),
            Ok(batches) => panic!(
                "`{sql}` succeeded, expected an error:\n{}",
                pretty_format_batches(&batches).expect("format batches")
            ),
        },
    }
}

/// Runs one statement and returns each row's values rendered as strings.
pub async fn rows(session: &Session, sql: &str) -> Vec<Vec<String>> {
    let batches = collect(session, sql).await;
    let mut out = Vec::new();
    let options = FormatOptions::default().with_null("NULL");
    for batch in &batches {
        let formatters: Vec<ArrayFormatter<'_>> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter"))
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out
}

/// Runs one statement and returns the first column's values as strings.
pub async fn column(session: &Session, sql: &str) -> Vec<String> {
    rows(session, sql)
        .await
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect()
}

/// Compares an ASCII table with the expected one, ignoring indentation of the literal.
#[track_caller]
pub fn assert_table(actual: &str, expected: &str) {
    let expected: Vec<&str> = expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let actual_lines: Vec<&str> = actual.lines().map(str::trim).collect();
    assert_eq!(
        actual_lines,
        expected,
        "\nactual:\n{actual}\nexpected:\n{}",
        expected.join("\n")
    );
}

/// Asserts that `haystack` contains every needle, printing it whole when it does not.
#[track_caller]
pub fn assert_contains(haystack: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            haystack.contains(needle),
            "expected to find {needle:?} in:\n{haystack}"
        );
    }
}

/// 1-based line and column of a byte offset in `text`.
pub fn position_at(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Shorthand for an `Arc`ed array.
pub fn arr<A: canon::datafusion::arrow::array::Array + 'static>(array: A) -> ArrayRef {
    Arc::new(array)
}
