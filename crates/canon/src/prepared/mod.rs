//! Prepared statements: `PREPARE`/`EXECUTE`/`DEALLOCATE` on every entry point, under the
//! SQL policy, with typed (declared or inferred) parameters checked before anything
//! runs; statements declared in the project (`[[prepared]]`) and Canon's own system
//! statements, prepared once per session on first use; and `canon.prepared`.

mod run;
mod table;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::arrow::datatypes::DataType;
use datafusion::config::Dialect;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{LogicalPlan, Statement as PlanStatement};
use serde::Serialize;

use datafusion::sql::parser::Statement;

use crate::contract::Origin;
use crate::contract::ddl::quote_literal;
use crate::error::{DeclarationError, Result};
use crate::policy::SqlPolicy;

pub(crate) use run::declares_types;
pub(crate) use table::prepared_view;

/// A prepared statement declared in the project file (`[[prepared]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedSpec {
    /// The statement's name (lowercase).
    pub name: String,
    /// The statement to prepare, with `$1`, `$2`, … parameters.
    pub sql: String,
    /// Declared SQL types of the parameters; empty to infer them from the statement.
    pub params: Vec<String>,
    /// Where it is declared.
    pub origin: Origin,
}

impl PreparedSpec {
    /// The `PREPARE` statement this declaration stands for.
    pub fn prepare_sql(&self) -> String {
        prepare_sql(&self.name, &self.params, &self.sql)
    }
}

fn prepare_sql(name: &str, params: &[String], sql: &str) -> String {
    match params.len() {
        0 => format!("PREPARE {name} AS {sql}"),
        _ => format!("PREPARE {name}({}) AS {sql}", params.join(", ")),
    }
}

/// Where a prepared statement comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PreparedOrigin {
    /// One of Canon's own recurring queries (catalog, describe, datasets).
    System,
    /// Declared in the project file.
    Project,
    /// Prepared by SQL in this session.
    Session,
}

impl PreparedOrigin {
    /// The origin's name, as in `canon.prepared.origin`.
    pub fn name(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Project => "project",
            Self::Session => "session",
        }
    }
}

/// One parameter of a prepared statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parameter {
    /// `$1`, `$2`, …
    pub name: String,
    /// Its type; `None` when neither declared nor determined by the statement.
    #[serde(serialize_with = "type_name")]
    pub data_type: Option<DataType>,
    /// Whether the type was inferred from the statement rather than declared.
    pub inferred: bool,
}

fn type_name<S: serde::Serializer>(t: &Option<DataType>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.as_ref().map_or("any".into(), |t| t.to_string()))
}

impl fmt::Display for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.data_type {
            Some(t) if self.inferred => write!(f, "{} {t} (inferred)", self.name),
            Some(t) => write!(f, "{} {t}", self.name),
            None => write!(f, "{} any", self.name),
        }
    }
}

/// A statement every session can execute without preparing it first.
#[derive(Debug, Clone)]
pub(crate) struct Declared {
    pub name: String,
    /// The full `PREPARE … AS …` text.
    pub sql: String,
    pub origin: PreparedOrigin,
    /// `file:line` for project statements.
    pub location: Option<String>,
    /// Parameters as planned at start-up.
    pub params: Vec<Parameter>,
}

impl Declared {
    /// The statement parsed: Canon's own in the generic dialect, the project's in the
    /// policy's (the dialect its SQL is written in).
    pub(crate) fn parse(&self, policy: &SqlPolicy) -> Result<Vec<Statement>> {
        match self.origin {
            PreparedOrigin::System => crate::sql::dialect::parse("generic", &self.sql),
            _ => policy.parse(&self.sql),
        }
    }
}

/// A statement prepared in one session.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub origin: PreparedOrigin,
    pub sql: String,
    pub params: Vec<Parameter>,
    pub executions: u64,
}

/// One session's prepared statements; shared with the session's state (as a config
/// extension) so that `canon.prepared` can read it.
#[derive(Debug)]
pub(crate) struct SessionStatements {
    declared: Arc<Vec<Declared>>,
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl SessionStatements {
    pub(crate) fn new(declared: Arc<Vec<Declared>>) -> Self {
        Self {
            declared,
            entries: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        // The map is only ever replaced entry by entry, so a poisoned lock is still valid.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn declared(&self, name: &str) -> Option<&Declared> {
        self.declared.iter().find(|d| d.name == name)
    }

    pub(crate) fn all_declared(&self) -> &[Declared] {
        &self.declared
    }

    pub(crate) fn entry(&self, name: &str) -> Option<Entry> {
        self.lock().get(name).cloned()
    }

    pub(crate) fn entries(&self) -> BTreeMap<String, Entry> {
        self.lock().clone()
    }

    fn insert(&self, name: String, entry: Entry) {
        self.lock().insert(name, entry);
    }

    fn remove(&self, name: &str) {
        self.lock().remove(name);
    }

    fn executed(&self, name: &str) {
        if let Some(e) = self.lock().get_mut(name) {
            e.executions += 1;
        }
    }

    /// Names a session can execute, for error messages.
    fn known(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.extend(self.declared.iter().map(|d| d.name.clone()));
        names.sort();
        names.dedup();
        names
    }
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

/// The names of Canon's system statements, which projects and sessions cannot take.
pub const SYSTEM_STATEMENTS: [&str; 3] = ["canon_functions", "canon_describe", "canon_datasets"];

/// Canon's own recurring queries, in the session's default schema.
fn system_statements(default_schema: &str) -> Vec<(String, String)> {
    let schema = quote_literal(default_schema);
    vec![
        (
            "canon_functions".into(),
            prepare_sql(
                "canon_functions",
                &["VARCHAR".into(), "VARCHAR".into()],
                "SELECT name, kind, tier, arguments, return_type, volatility, description \
                 FROM canon.functions WHERE name LIKE $1 AND ($2 = '' OR tier = $2) \
                 ORDER BY name, kind, arguments",
            ),
        ),
        (
            "canon_describe".into(),
            prepare_sql(
                "canon_describe",
                &["VARCHAR".into()],
                &format!(
                    "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
                     WHERE table_schema = {schema} AND table_name = $1 \
                     ORDER BY ordinal_position"
                ),
            ),
        ),
        (
            "canon_datasets".into(),
            prepare_sql(
                "canon_datasets",
                &[],
                "SELECT name, format, location FROM canon.datasets",
            ),
        ),
    ]
}

/// Plans every system and project statement once, at start-up, so that a statement that
/// does not plan is reported with its `file:line` before any session exists.
pub(crate) async fn declare(
    state: &SessionState,
    project: &[PreparedSpec],
) -> Result<Vec<Declared>> {
    let default_schema = state.config().options().catalog.default_schema.clone();
    let system = system_statements(&default_schema)
        .into_iter()
        .map(|(name, sql)| (name, sql, PreparedOrigin::System, None));
    let declared = project.iter().map(|p| {
        (
            p.name.clone(),
            p.prepare_sql(),
            PreparedOrigin::Project,
            Some(p.origin.to_string()),
        )
    });
    let mut out = Vec::new();
    for (name, sql, origin, location) in system.chain(declared) {
        let error = |message: String| DeclarationError {
            kind: "prepared statement",
            name: name.clone(),
            origin: location.clone().unwrap_or_else(|| "Canon".into()),
            message,
        };
        let dialect = match origin {
            // Canon writes its own statements in the generic dialect, whatever the policy's.
            PreparedOrigin::System => Dialect::Generic,
            _ => state.config().options().sql_parser.dialect,
        };
        let statement = state
            .sql_to_statement(&sql, &dialect)
            .map_err(|e| error(crate::functions::plain(&e)))?;
        let typed = run::declares_types(&statement);
        let plan = state
            .statement_to_plan(statement)
            .await
            .map_err(|e| error(crate::functions::plain(&e)))?;
        let LogicalPlan::Statement(PlanStatement::Prepare(prepare)) = plan else {
            return Err(error("did not plan to PREPARE".into()).into());
        };
        let params = run::parameters(&prepare, typed).map_err(|e| error(e.to_string()))?;
        out.push(Declared {
            name,
            sql,
            origin,
            location,
            params,
        });
    }
    Ok(out)
}
