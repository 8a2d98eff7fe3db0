//! Errors of the project file: every problem located by file, line, column and key.

use std::path::PathBuf;

/// A problem with the project file, located by line, column and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the project file.
    pub line: usize,
    /// 1-based column in the project file.
    pub column: usize,
    /// Dotted path of the offending key, e.g. `dataset[trips].columns[2].type`.
    pub key: String,
    /// What is wrong, for people.
    pub message: String,
}

/// The project file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// The file could not be read.
    #[error("cannot read project file {}: {source}", file.display())]
    Read {
        /// The project file.
        file: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file was read but is malformed or contradictory.
    #[error("{}", render_problems(file, problems))]
    Invalid {
        /// The project file.
        file: PathBuf,
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
}

fn render_problems(file: &std::path::Path, problems: &[Problem]) -> String {
    let header = match problems.len() {
        1 => "invalid project file".to_string(),
        n => format!("invalid project file ({n} problems)"),
    };
    let lines: Vec<String> = problems
        .iter()
        .map(|p| {
            format!(
                "  {}:{}:{}: {}: {}",
                file.display(),
                p.line,
                p.column,
                p.key,
                p.message
            )
        })
        .collect();
    format!("{header}\n{}", lines.join("\n"))
}
