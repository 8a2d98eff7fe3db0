//! Typed errors for every stage of Canon's path, from project file to query.
//!
//! The bottom of the runtime: this module imports nothing from the layers above it. The
//! model's errors (project file, policy, SQL text) arrive as they are; errors of optional
//! parts such as table formats arrive boxed, with their source chain. Inside DataFusion's
//! machinery Canon's errors travel as `DataFusionError::External` and come back typed.

mod models;

use std::path::PathBuf;
use std::sync::Arc;

use canon_model::declarations::Parameter;
use canon_model::dialect::{SqlError, UnsupportedSyntax};
use canon_model::policy::PolicyViolation;
use datafusion::error::DataFusionError;

pub use canon_model::error::{Problem, ProjectError};
pub use models::{CompileProblem, Cycle, ModelError, SqlSpot};

/// A boxed error of an optional part (a table format), kept with its source chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    /// Models do not compile, or cannot be built in any order.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Planning or execution failed inside DataFusion.
    #[error(transparent)]
    DataFusion(DataFusionError),
    /// A table format's own operation (for Delta: create, history, vacuum, optimize)
    /// failed; the format's typed error is the source.
    #[error(transparent)]
    Format(BoxError),
    /// An object store the project needs could not be made.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The workers of distributed plans are misdeclared, or one failed a query.
    #[error(transparent)]
    Worker(#[from] Box<WorkerError>),
    /// Writing the diagnostics log failed.
    #[error("diagnostics file {}: {source}", path.display())]
    DiagnosticsLog {
        /// The JSON-lines file Canon was appending to.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A command named a dataset the project does not declare.
    #[error("no dataset `{name}` in the project; it declares: {}", known.join(", "))]
    UnknownDataset {
        /// The name given.
        name: String,
        /// The datasets the project declares.
        known: Vec<String>,
    },
    /// OpenLineage's transport (`[lineage] openlineage`) could not start.
    #[error("[lineage] openlineage: cannot send events to {target}: {source}")]
    OpenLineage {
        /// The file or endpoint.
        target: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

/// Canon's own errors raised inside DataFusion's machinery (the plan hook's policy
/// refusals, diagnostics failures) come back typed, not as opaque external errors.
impl From<DataFusionError> for CanonError {
    fn from(error: DataFusionError) -> Self {
        let inner = match error {
            DataFusionError::External(inner) => inner,
            // An error several tasks share (a failed worker's, say) is held once the query
            // is over; unwrapped, it keeps its own type.
            DataFusionError::Shared(shared) => {
                return match shared.as_ref() {
                    DataFusionError::External(inner) => match inner.downcast_ref::<WorkerError>() {
                        Some(worker) => Self::Worker(Box::new(worker.clone())),
                        None => Self::DataFusion(DataFusionError::Shared(shared)),
                    },
                    _ => Self::DataFusion(DataFusionError::Shared(shared)),
                };
            }
            error => return Self::DataFusion(error),
        };
        match inner.downcast::<PolicyViolation>() {
            Ok(violation) => Self::Policy(*violation),
            Err(inner) => match inner.downcast::<CanonError>() {
                Ok(canon) => *canon,
                Err(inner) => match inner.downcast::<WorkerError>() {
                    Ok(worker) => Self::Worker(worker),
                    Err(inner) => Self::DataFusion(DataFusionError::External(inner)),
                },
            },
        }
    }
}

impl From<WorkerError> for CanonError {
    fn from(error: WorkerError) -> Self {
        Self::Worker(Box::new(error))
    }
}

impl From<SqlError> for CanonError {
    fn from(error: SqlError) -> Self {
        match error {
            SqlError::Unsupported(syntax) => Self::Syntax(syntax),
            SqlError::Parse(e) => Self::DataFusion(e),
        }
    }
}

impl CanonError {
    /// Carries this error through DataFusion, typed, as `DataFusionError::External`; the
    /// `From<DataFusionError>` conversion recovers it.
    pub fn into_datafusion(self) -> DataFusionError {
        match self {
            Self::DataFusion(e) => e,
            other => DataFusionError::External(Box::new(other)),
        }
    }

    /// Whether the error comes from the project (its file or its data) rather than a query.
    pub fn is_project_error(&self) -> bool {
        matches!(
            self,
            Self::Project(_) | Self::Registration(_) | Self::Declaration(_) | Self::Store(_)
        ) || matches!(self, Self::Model(m) if !matches!(
            m,
            ModelError::NotUnique { .. } | ModelError::NeedsFullRefresh { .. }
        )) || matches!(
            self,
            Self::Worker(worker)
                if matches!(**worker, WorkerError::List { .. } | WorkerError::NotBuilt { .. })
        )
    }
}

/// A worker of distributed plans: its address list, or a query it could not take part in.
/// Every error names the worker, so that the one to look at is known. Cloned, because
/// every task a worker's failure stops reports the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WorkerError {
    /// `CANON_WORKERS` or `CANON_WORKER_TOKEN` holds something Canon cannot use.
    #[error("{variable}: {message}")]
    List {
        /// The environment variable read.
        variable: &'static str,
        /// What is wrong with its value.
        message: String,
    },
    /// Workers are declared, but this build of Canon plans no distributed queries.
    #[error(
        "{origin} names workers, but this build of Canon has no distributed plans \
         (it was built without the cargo feature `distributed`)"
    )]
    NotBuilt {
        /// Where the workers were declared: `CANON_WORKERS` or `[distributed] workers`.
        origin: &'static str,
    },
    /// No connection to the worker could be made.
    #[error("worker {worker} cannot be reached: {}", causes(source.as_ref()))]
    Unreachable {
        /// The worker's address.
        worker: url::Url,
        /// The transport's error.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// Connecting took longer than `distributed.connect_timeout`.
    #[error(
        "worker {worker} did not answer within {} (distributed.connect_timeout)",
        humantime::format_duration(*timeout)
    )]
    ConnectTimeout {
        /// The worker's address.
        worker: url::Url,
        /// The bound that passed.
        timeout: std::time::Duration,
    },
    /// The worker was reached, but its part of the query failed or the connection broke.
    #[error("worker {worker}: {}", source.message())]
    Failed {
        /// The worker's address.
        worker: url::Url,
        /// What the worker or the transport reported.
        source: Arc<DataFusionError>,
    },
}

/// An error and its causes, one after another: a transport's own message alone
/// ("transport error") does not say what went wrong.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// An object store could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A secret's environment variable is not set; the message names the variable only.
    #[error(
        "store {url}: `{option}` is read from the environment variable {variable}, which is not set"
    )]
    MissingSecret {
        /// The store's URL.
        url: String,
        /// The option the secret sets.
        option: String,
        /// The environment variable it names.
        variable: String,
    },
    /// object_store refused the configuration.
    #[error("store {url}: {source}")]
    Build {
        /// The store's URL.
        url: String,
        /// object_store's answer.
        source: object_store::Error,
    },
    /// No store serves this URL's scheme.
    #[error(
        "no object store for {url}: expected a local path, file://, s3://, az://, abfss://, gs:// or http(s)://"
    )]
    Unsupported {
        /// The URL.
        url: String,
    },
    /// The store cannot take Delta commits safely.
    #[error(
        "Delta writes to {url} are refused: the store sets conditional_put = \"disabled\", and \
         without conditional put two writers could both commit the same version. Remove the \
         option (S3 and most S3-compatible servers support conditional put)"
    )]
    UnsafeCommits {
        /// The store's URL.
        url: String,
    },
    /// The store is read-only.
    #[error("{url} is read-only: Canon reads http(s) locations but never writes to them")]
    ReadOnly {
        /// The store's URL.
        url: String,
    },
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
    /// The error itself, with its source chain.
    pub error: Arc<DatasetError>,
}

impl DatasetFailure {
    /// `spec`'s failure to register with `error`.
    pub fn of(spec: &crate::contract::DatasetSpec, error: DatasetError) -> Self {
        Self {
            dataset: spec.name.clone(),
            origin: spec.origin.to_string(),
            message: error.to_string(),
            error: Arc::new(error),
        }
    }
}

/// Why one dataset could not be registered: what went wrong, for people, and the error
/// underneath it, kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DatasetError {
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl DatasetError {
    /// A failure with an underlying error; `message` already says what it means.
    pub fn caused(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

impl DatasetError {
    /// The same error, its message prefixed with where it happened (`file …`).
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        Self {
            message: format!("{context}: {}", self.message),
            source: self.source,
        }
    }
}

impl From<String> for DatasetError {
    fn from(message: String) -> Self {
        Self {
            message,
            source: None,
        }
    }
}

impl From<&str> for DatasetError {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

/// A request a session refuses before DataFusion runs anything. It reaches callers as
/// `CanonError::DataFusion(DataFusionError::External(..))` holding this type, so that it
/// reads like the engine's own planning errors and can still be matched by downcasting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// `sql` and `explain` take exactly one statement.
    #[error(
        "expected exactly one SQL statement, found {found}; run scripts statement by statement"
    )]
    NotOneStatement {
        /// How many statements the text holds.
        found: usize,
    },
    /// `explain` of a statement that runs without a query plan.
    #[error("explain shows query plans; this {class} statement has none: {statement}")]
    NoQueryPlan {
        /// The statement's class.
        class: String,
        /// The statement.
        statement: String,
    },
    /// `DROP TABLE` of one of the project's datasets.
    #[error("`{dataset}` is a dataset of the project and cannot be dropped from a session")]
    DropDataset {
        /// The dataset named.
        dataset: String,
    },
    /// `read_file` of a file whose format its name does not tell.
    #[error(
        "{}: cannot tell the file's format; expected a .parquet, .csv, .json, .ndjson or \
         .arrow file",
        path.display()
    )]
    UnknownFileFormat {
        /// The file.
        path: PathBuf,
    },
    /// `SET` or `RESET` of a setting the profile, the policy or Canon itself owns.
    #[error(
        "`{key}` is set by {}; Canon does not change it per session",
        owner_phrase(owner)
    )]
    OwnedSetting {
        /// The setting, as DataFusion names it.
        key: String,
        /// What owns it, as `[profile.settings]` names it (e.g. `[policy] dialect`).
        owner: &'static str,
    },
    /// A statement the project or Canon declares could not be prepared.
    #[error("declared statement `{name}` {problem}")]
    Declared {
        /// The statement's name.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// The project's keys read "the project ([policy] dialect)", Canon's own "Canon (…)".
fn owner_phrase(owner: &str) -> String {
    match owner.starts_with('[') {
        true => format!("the project ({owner})"),
        false => format!("Canon ({owner})"),
    }
}

impl From<SessionError> for CanonError {
    fn from(error: SessionError) -> Self {
        Self::DataFusion(DataFusionError::External(Box::new(error)))
    }
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

/// A statement refused or failed by Canon's prepared-statement rules; nothing ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreparedError {
    /// EXECUTE or DEALLOCATE of a name nothing is prepared under.
    #[error("no prepared statement `{name}` in this session{}", list(.known))]
    Unknown {
        /// The name given.
        name: String,
        /// The names this session can execute.
        known: Vec<String>,
    },
    /// EXECUTE with the wrong number of parameters.
    #[error("`{name}` takes {} parameter(s) ({}), but {given} were given", .params.len(), signature(.params))]
    ParameterCount {
        /// The statement.
        name: String,
        /// Its parameters.
        params: Vec<Parameter>,
        /// How many were given.
        given: usize,
    },
    /// EXECUTE with a value that is not of (or convertible to) the parameter's type.
    #[error("parameter {param} of `{name}` is {expected}; {value} cannot be used: {reason}")]
    ParameterType {
        /// The statement.
        name: String,
        /// `$1`, `$2`, …
        param: String,
        /// The parameter's type.
        expected: String,
        /// The value given, as SQL.
        value: String,
        /// Why it does not convert.
        reason: String,
    },
    /// EXECUTE with a parameter that is not a constant.
    #[error("parameter {param} of `{name}` must be a constant, not `{value}`")]
    NotConstant {
        /// The statement.
        name: String,
        /// `$1`, `$2`, …
        param: String,
        /// The expression given.
        value: String,
    },
    /// PREPARE or DEALLOCATE of a name that belongs to a declared statement.
    #[error("`{name}` is {what}; choose another name")]
    Reserved {
        /// The name.
        name: String,
        /// What holds it.
        what: String,
    },
    /// PREPARE of a name already prepared in the session.
    #[error("`{name}` is already prepared in this session; DEALLOCATE it first")]
    AlreadyPrepared {
        /// The name.
        name: String,
    },
    /// PREPARE whose parameters are only partly typed.
    #[error(
        "parameter {param} of `{name}` has no type that the statement determines; declare the \
         types: PREPARE {name}(<type>, …) AS …"
    )]
    Untyped {
        /// The statement.
        name: String,
        /// The untyped parameter.
        param: String,
    },
    /// PREPARE declaring a different number of types than the statement has parameters.
    #[error("PREPARE {name} declares {declared} parameter type(s) but the statement uses {used}")]
    TypeCount {
        /// The statement.
        name: String,
        /// Types declared.
        declared: usize,
        /// Parameters used.
        used: usize,
    },
    /// PREPARE whose parameter numbers skip one.
    #[error(
        "`{name}` uses ${highest} but not ${missing}; number parameters $1, $2, … without gaps"
    )]
    Gap {
        /// The statement.
        name: String,
        /// The number it skips.
        missing: usize,
        /// The highest number it uses.
        highest: usize,
    },
    /// PREPARE with named (`$name`) parameters.
    #[error("`{name}` uses parameter `{param}`; prepared statements take $1, $2, …")]
    NotPositional {
        /// The statement.
        name: String,
        /// The offending placeholder.
        param: String,
    },
}

fn list(known: &[String]) -> String {
    match known.len() {
        0 => String::new(),
        _ => format!("; known: {}", known.join(", ")),
    }
}

fn signature(params: &[Parameter]) -> String {
    let parts: Vec<String> = params.iter().map(ToString::to_string).collect();
    match parts.len() {
        0 => "none".into(),
        _ => parts.join(", "),
    }
}

/// A DataFusion error's text without the "Error during planning: " prefix that Canon's
/// own planning-time messages would otherwise carry.
pub(crate) fn plain(e: &DataFusionError) -> String {
    let text = e.strip_backtrace();
    match text.strip_prefix("Error during planning: ") {
        Some(rest) => rest.to_string(),
        None => text,
    }
}
