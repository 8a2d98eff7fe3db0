//! `canon-bench` as the benchmark suite runs it: every TPC-H query through Canon and a
//! plain DataFusion session over data `tpcgen-cli` generates, the answers compared.

mod tpch;

use std::path::PathBuf;
use std::process::Command;

/// The test tools' Python from `scripts/test-python-deps` (`CANON_TEST_PYTHON` names it in
/// CI), with `tpcgen-cli` beside it, or `None` with a message. With `CI` set, a missing
/// tool fails the test.
pub fn test_python() -> Option<PathBuf> {
    let python = match std::env::var_os("CANON_TEST_PYTHON") {
        Some(python) => Some(PathBuf::from(python)),
        None => {
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../scripts/test-python-deps"
            );
            Command::new(script)
                .output()
                .ok()
                .filter(|out| out.status.success())
                .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        }
    };
    let found = python.filter(|p| tpcgen(p).is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tpcgen-cli is missing (scripts/test-python-deps installs it)"
        );
        eprintln!("skipping: tpcgen-cli is missing (scripts/test-python-deps installs it)");
    }
    found
}

/// `tpcgen-cli`, beside [`test_python`].
pub fn tpcgen(python: &std::path::Path) -> PathBuf {
    python
        .parent()
        .map(|dir| dir.join("tpcgen-cli"))
        .unwrap_or_default()
}
