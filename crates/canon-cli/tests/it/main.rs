//! End-to-end tests of the `canon` binary, run as a real process on real files.

mod azurite;
mod check;
mod cli;
#[cfg(all(feature = "serve", feature = "delta"))]
mod console;
mod crash;
#[cfg(feature = "delta")]
mod delta;
#[cfg(feature = "distributed")]
mod distributed;
mod docs;
mod editor;
mod example;
mod explain;
mod explain_graph;
mod functions;
#[cfg(all(feature = "serve", feature = "delta"))]
mod http;
#[cfg(feature = "serve")]
mod jdbc;
#[cfg(feature = "delta")]
mod models;
mod moto;
mod object_storage;
#[cfg(feature = "delta")]
mod openlineage;
#[cfg(feature = "serve")]
mod postgres;
mod schema;
#[cfg(feature = "serve")]
mod serve;
mod sql_errors;
mod streaming;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The repository's quickstart example project.
pub fn quickstart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart")
}

/// A copy of the quickstart project in a temporary directory.
pub fn quickstart_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&quickstart_dir(), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        // What Canon keeps between runs of the checkout's own project is not part of it.
        if entry.file_name() == ".canon" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Runs `canon` with arguments in `dir`, with optional standard input.
pub fn canon(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_canon"))
        .args(args)
        .current_dir(dir)
        .env_remove("CANON_PROJECT")
        .env("HOME", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn canon");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait for canon")
}

/// Writes one batch of `columns` as a parquet file, making its directory.
pub fn write_parquet(path: &Path, columns: Vec<(&str, canon::datafusion::arrow::array::ArrayRef)>) {
    use canon::datafusion::arrow::array::RecordBatch;
    use canon::datafusion::parquet::arrow::ArrowWriter;
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let batch = RecordBatch::try_from_iter(columns).expect("batch");
    let file = std::fs::File::create(path).expect("create");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts success and returns standard output.
pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "canon failed ({:?}): {}",
        output.status,
        stderr(&output)
    );
    stdout(&output)
}

/// The Python interpreter with the test tools `scripts/test-python-deps` installs (the
/// `deltalake` package, pyarrow, moto's S3 server, Azure's blob client), installing them
/// on first use, or `None` (with a message) where that fails.
pub fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    tool(&PYTHON, "CANON_TEST_PYTHON", "test-python-deps")
}

/// Azurite's blob server, installed by `scripts/test-azurite` on first use, or `None`.
pub fn azurite() -> Option<PathBuf> {
    static AZURITE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    tool(&AZURITE, "CANON_TEST_AZURITE", "test-azurite")
}

/// pgjdbc's jar (with a JDK on the path), found or installed by `scripts/test-jdbc`.
pub fn jdbc() -> Option<PathBuf> {
    static JDBC: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    tool(&JDBC, "CANON_TEST_JDBC", "test-jdbc")
}

/// The Python that drives Chromium with Selenium, with Chromium and chromedriver found or
/// installed by `scripts/test-browser`.
pub fn browser() -> Option<PathBuf> {
    static BROWSER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    tool(&BROWSER, "CANON_TEST_BROWSER", "test-browser")
}

/// taplo's command line, the TOML engine of editors' schema support, found or installed by
/// `scripts/test-taplo`.
pub fn taplo() -> Option<PathBuf> {
    static TAPLO: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    tool(&TAPLO, "CANON_TEST_TAPLO", "test-taplo")
}

/// psql, Postgres's command-line client, found or installed by `scripts/test-psql`.
pub fn psql() -> Option<PathBuf> {
    static PSQL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    tool(&PSQL, "CANON_TEST_PSQL", "test-psql")
}

/// A test tool: the path in `variable` (CI sets it), else what the project's install
/// script prints. With `CI` set, a missing tool fails the test; elsewhere it skips, saying
/// so.
fn tool(
    found: &OnceLock<Result<PathBuf, String>>,
    variable: &str,
    script: &str,
) -> Option<PathBuf> {
    let found = found.get_or_init(|| {
        if let Some(path) = std::env::var_os(variable) {
            return Ok(PathBuf::from(path));
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scripts")
            .join(script);
        let output = Command::new(&script)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        let path = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if output.status.success() && !path.is_empty() {
            Ok(PathBuf::from(path))
        } else {
            Err(format!("{} failed ({})", script.display(), output.status))
        }
    });
    match found {
        Ok(path) => Some(path.clone()),
        // CI installs the tools; a missing one fails, never skips.
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but a test tool is missing: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: a test tool is missing ({e}); CI installs it");
            None
        }
    }
}

/// Runs a Python script (`python -c`) with arguments and extra environment, asserts it
/// succeeded and returns its standard output.
pub fn run_python(
    python: &Path,
    script: &str,
    args: &[&str],
    env: &[(&'static str, String)],
) -> String {
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
