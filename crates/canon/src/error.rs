//! Typed errors for every stage of Canon's path, from project file to query.

use std::path::PathBuf;

use datafusion::error::DataFusionError;

use crate::policy::PolicyViolation;
use crate::prepared::PreparedError;
use crate::sql::UnsupportedSyntax;

/// Result alias for Canon's library API.
pub type Result<T, E = CanonError> = std::result::Result<T, E>;

/// Any error Canon's library returns.
#[derive(Debug, thiserror::Error)]
pub enum CanonError {
    /// The project file could not be read, parsed or validated.
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// One or more datasets could not be registered; nothing was registered.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// A statement was refused by the SQL policy before anything ran.
    #[error(transparent)]
    Policy(#[from] PolicyViolation),
    /// SQL text uses a construct its dialect cannot express.
    #[error(transparent)]
    Syntax(#[from] Box<UnsupportedSyntax>),
    /// A function, override or prepared statement the project declares cannot be set up.
    #[error(transparent)]
    Declaration(#[from] DeclarationError),
    /// A PREPARE, EXECUTE or DEALLOCATE broke Canon's prepared-statement rules.
    #[error(transparent)]
    Prepared(#[from] PreparedError),
    /// Planning or execution failed inside DataFusion.
    #[error(transparent)]
    DataFusion(DataFusionError),
    /// A Delta operation (create, history, vacuum, optimize) failed.
    #[error(transparent)]
    Delta(#[from] DeltaError),
    /// Writing the diagnostics log failed.
    #[error("diagnostics file {}: {source}", path.display())]
    DiagnosticsLog {
        /// The JSON-lines file Canon was appending to.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

/// Canon's own errors raised inside DataFusion's machinery (the plan hook's policy
/// refusals, diagnostics failures) come back typed, not as opaque external errors.
impl From<DataFusionError> for CanonError {
    fn from(error: DataFusionError) -> Self {
        let DataFusionError::External(inner) = error else {
            return Self::DataFusion(error);
        };
        match inner.downcast::<PolicyViolation>() {
            Ok(violation) => Self::Policy(*violation),
            Err(inner) => match inner.downcast::<CanonError>() {
                Ok(canon) => *canon,
                Err(inner) => Self::DataFusion(DataFusionError::External(inner)),
            },
        }
    }
}

impl CanonError {
    /// Whether the error comes from the project (its file or its data) rather than a query.
    pub fn is_project_error(&self) -> bool {
        matches!(
            self,
            Self::Project(_) | Self::Registration(_) | Self::Declaration(_)
        )
    }
}

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

/// One dataset that failed to register, and why.
#[derive(Debug, Clone)]
pub struct DatasetFailure {
    /// The dataset's name.
    pub dataset: String,
    /// Where the dataset is declared, as `file:line`.
    pub origin: String,
    /// What went wrong, for people.
    pub message: String,
}

/// A Delta operation on a dataset failed.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// The dataset is not a Delta dataset (or not one of the project's).
    #[error("dataset `{dataset}` is not a Delta dataset of this project")]
    NotDelta {
        /// The dataset named.
        dataset: String,
    },
    /// The request does not fit the dataset or its table.
    #[error("Delta dataset `{dataset}`: {message}")]
    Invalid {
        /// The dataset.
        dataset: String,
        /// What is wrong.
        message: String,
    },
    /// delta-rs refused or failed the operation.
    #[error("Delta dataset `{dataset}`: {source}")]
    Table {
        /// The dataset.
        dataset: String,
        /// delta-rs's error.
        source: Box<deltalake_core::DeltaTableError>,
    },
}

/// Registration of the project's datasets failed; no dataset was registered.
#[derive(Debug, thiserror::Error)]
#[error("{}", render_failures(failures))]
pub struct RegistrationError {
    /// Every failing dataset, in project order.
    pub failures: Vec<DatasetFailure>,
}

fn render_failures(failures: &[DatasetFailure]) -> String {
    let mut out = format!(
        "{} dataset(s) could not be registered; nothing was registered",
        failures.len()
    );
    for f in failures {
        out.push_str(&format!(
            "\n  {}: dataset `{}`: {}",
            f.origin, f.dataset, f.message
        ));
    }
    out
}

/// Something the project declares (a macro, an override, a prepared statement) or Canon
/// itself brings (a function whose name is taken) could not be set up at start-up.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{origin}: {kind} `{name}`: {message}")]
pub struct DeclarationError {
    /// `function`, `override` or `prepared statement`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// Where it is declared, as `file:line` (or `Canon` for Canon's own).
    pub origin: String,
    /// What is wrong, for people.
    pub message: String,
}
