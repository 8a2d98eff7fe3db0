//! What a project declares besides datasets: SQL macros (`[[function]]`), the builtins
//! they may override (`[functions] overrides`) and prepared statements (`[[prepared]]`),
//! with the vocabulary the runtime's catalogs use for them (function tiers, statement
//! origins and parameters).

use std::fmt;

use arrow_schema::DataType;
use serde::Serialize;

use crate::contract::Origin;

/// A macro declared in the project file (`[[function]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroSpec {
    /// The function name (lowercase).
    pub name: String,
    /// Argument names and SQL types, in order.
    pub args: Vec<(String, String)>,
    /// The SQL return type.
    pub returns: String,
    /// The body: a SQL expression over the arguments.
    pub body: String,
    /// What the macro is for, shown in the catalog.
    pub description: Option<String>,
    /// Where it is declared.
    pub origin: Origin,
}

impl MacroSpec {
    /// The `CREATE FUNCTION` statement this declaration stands for.
    pub fn create_sql(&self) -> String {
        let args: Vec<String> = self.args.iter().map(|(n, t)| format!("{n} {t}")).collect();
        format!(
            "CREATE FUNCTION {}({}) RETURNS {} RETURN {}",
            self.name,
            args.join(", "),
            self.returns,
            self.body
        )
    }
}

/// Where a function comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// DataFusion's own functions.
    Builtin,
    /// Functions Canon adds to every session.
    Canon,
    /// SQL macros: `[[function]]` in the project file, or `CREATE FUNCTION` in a session.
    Macro,
}

impl Tier {
    /// The tier's name, as in `canon.functions.tier`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Builtin => "builtin",
            Self::Canon => "canon",
            Self::Macro => "macro",
        }
    }

    /// Reads a tier name (`builtin`, `canon` or `macro`).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Builtin, Self::Canon, Self::Macro]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name in `[functions] overrides`: a builtin or Canon function that a Canon function
/// or a macro may replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideSpec {
    /// The function name.
    pub name: String,
    /// Where the override is declared.
    pub origin: Origin,
}

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

/// `PREPARE name(types) AS sql`, the statement a declaration stands for.
pub fn prepare_sql(name: &str, params: &[String], sql: &str) -> String {
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

/// The names of Canon's system statements, which projects and sessions cannot take.
pub const SYSTEM_STATEMENTS: [&str; 3] = ["canon_functions", "canon_describe", "canon_datasets"];
