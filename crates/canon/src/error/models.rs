//! Errors of models: why a model does not compile, shown at the place in its SQL, and why a
//! build could not start.

use std::fmt;
use std::path::PathBuf;

pub use canon_model::model::Cycle;

/// Models that cannot be compiled or built.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// One or more models do not compile against the contracts they read; nothing ran.
    #[error("{}", render_problems(.0))]
    Compile(Vec<CompileProblem>),
    /// Models read each other in a cycle, so none of them can be built first.
    #[error(transparent)]
    Cycle(#[from] Cycle),
    /// A key of a model's contract is not unique among the rows its query yields, so the
    /// build committed nothing.
    #[error(
        "model `{model}`: key ({}) is not unique: {duplicate}; nothing was committed",
        key.join(", ")
    )]
    NotUnique {
        /// The model.
        model: String,
        /// The key's columns.
        key: Vec<String>,
        /// One value more than one row holds, with how many rows hold it.
        duplicate: String,
    },
    /// An incremental model cannot resume from its last build; a full refresh rebuilds it.
    #[error("model `{model}`: {reason}; rebuild it with `canon build {model} --full-refresh`")]
    NeedsFullRefresh {
        /// The model.
        model: String,
        /// Why it cannot resume.
        reason: String,
    },
    /// A model named on the command line or in a call is not declared.
    #[error("no model named `{name}`; the project declares: {}", declared.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// Every declared model, in file order.
        declared: Vec<String>,
    },
}

fn render_problems(problems: &[CompileProblem]) -> String {
    let header = match problems.len() {
        1 => "a model does not compile".to_string(),
        n => format!("{n} problems in models"),
    };
    let body: Vec<String> = problems.iter().map(ToString::to_string).collect();
    format!("{header}\n{}", body.join("\n"))
}

/// Why one model does not compile, and where in its SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileProblem {
    /// The model.
    pub model: String,
    /// The column the problem is about, when it is about one.
    pub column: Option<String>,
    /// What is wrong, for people: what was expected against what was found.
    pub message: String,
    /// The place in the model's SQL, when the problem has one.
    pub at: Option<SqlSpot>,
}

impl fmt::Display for CompileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model `{}`: ", self.model)?;
        if let Some(column) = &self.column {
            write!(f, "column `{column}`: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(at) = &self.at {
            write!(f, "\n{at}")?;
        }
        Ok(())
    }
}

/// A place in a model's SQL: its file, line and column, and that line of the query, shown
/// with a caret under the place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlSpot {
    /// The file holding the SQL: the project file, or the model's `sql_file`.
    pub file: PathBuf,
    /// 1-based line in `file`.
    pub line: usize,
    /// 1-based column in `file`, in characters.
    pub column: usize,
    /// The line of the query the place is on.
    pub text: String,
    /// 1-based column of the place in `text` (differs from `column` on the first line of a
    /// query written inline, after `sql = "`).
    pub caret: usize,
}

impl fmt::Display for SqlSpot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        // Tabs keep their width under the caret; every other character is one column.
        let pad: String = self
            .text
            .chars()
            .take(self.caret.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(
            f,
            "  --> {}:{}:{}\n{gutter} |\n{number} | {}\n{gutter} | {pad}^",
            self.file.display(),
            self.line,
            self.column,
            self.text
        )
    }
}
