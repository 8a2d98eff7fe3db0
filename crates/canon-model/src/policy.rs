//! The SQL policy: which statement classes may run, the dialect SQL text is read in and how
//! its identifiers are normalized. Checked on the parsed statement (so a refusal names the
//! rule before planning) and again on every plan DataFusion executes (see `hook`), so no
//! entry point can slip past it.

use std::fmt;

use datafusion_common::DataFusionError;
use datafusion_common::tree_node::TreeNodeRecursion;
use datafusion_expr::{LogicalPlan, Statement as PlanStatement};
use datafusion_sql::parser::Statement;
use datafusion_sql::sqlparser::ast::Statement as SqlStatement;
use serde::Serialize;

use crate::dialect::{IdentifierCase, SqlError};

/// What SQL may run, and how SQL text is parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SqlPolicy {
    /// A dialect name DataFusion's parser knows (`generic`, `postgresql`, `mysql`, …).
    pub dialect: String,
    /// Whether DDL (`CREATE`, `DROP`, `ALTER`, …) may run.
    pub allow_ddl: bool,
    /// Whether DML (`INSERT`, `UPDATE`, `DELETE`, `COPY`, …) may run.
    pub allow_dml: bool,
    /// Whether other statements (`SET`, transactions, …) may run.
    pub allow_statements: bool,
    /// How unquoted identifiers are read: lowercased (the default) or as written.
    pub identifiers: IdentifierCase,
}

impl Default for SqlPolicy {
    fn default() -> Self {
        Self {
            dialect: "generic".into(),
            allow_ddl: false,
            allow_dml: false,
            allow_statements: false,
            identifiers: IdentifierCase::Lower,
        }
    }
}

/// The classes of statement the policy rules over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementClass {
    /// Read-only: queries, `EXPLAIN`, `SHOW`, and executing prepared queries.
    Query,
    /// Schema changes.
    Ddl,
    /// Data changes.
    Dml,
    /// Everything else: `SET`, `RESET`, transactions, …
    Statement,
}

impl StatementClass {
    /// The policy key that governs this class, if any.
    pub fn rule(self) -> Option<&'static str> {
        match self {
            Self::Query => None,
            Self::Ddl => Some("allow_ddl"),
            Self::Dml => Some("allow_dml"),
            Self::Statement => Some("allow_statements"),
        }
    }
}

impl fmt::Display for StatementClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Query => "query",
            Self::Ddl => "DDL",
            Self::Dml => "DML",
            Self::Statement => "statement",
        })
    }
}

/// A statement the policy refused; nothing ran.
#[derive(Debug, Clone, thiserror::Error)]
#[error("SQL policy refuses {class} (policy.{rule} = false): {statement}")]
pub struct PolicyViolation {
    /// The policy key that refused it.
    pub rule: &'static str,
    /// The statement's class.
    pub class: StatementClass,
    /// The statement (or plan node), shortened for display.
    pub statement: String,
}

impl SqlPolicy {
    /// Parses SQL text in the policy's dialect into statements; a construct the dialect
    /// cannot express is named in the error.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>, SqlError> {
        crate::dialect::parse(&self.dialect, sql)
    }

    /// [`Self::parse`], nesting at most `recursion_limit` deep (a session's
    /// `datafusion.sql_parser.recursion_limit`).
    pub fn parse_with_limit(
        &self,
        sql: &str,
        recursion_limit: usize,
    ) -> Result<Vec<Statement>, SqlError> {
        crate::dialect::parse_with_limit(&self.dialect, sql, recursion_limit)
    }

    /// Switches the dialect SQL text is read in, by any name DataFusion knows.
    pub fn set_dialect(&mut self, name: &str) -> Result<(), DataFusionError> {
        self.dialect = crate::dialect::canonical_dialect(name)?.to_string();
        Ok(())
    }

    /// Whether the policy lets this class of statement run.
    pub fn allows(&self, class: StatementClass) -> bool {
        match class {
            StatementClass::Query => true,
            StatementClass::Ddl => self.allow_ddl,
            StatementClass::Dml => self.allow_dml,
            StatementClass::Statement => self.allow_statements,
        }
    }

    /// Checks a parsed statement; returns its class when allowed.
    pub fn check(&self, statement: &Statement) -> Result<StatementClass, PolicyViolation> {
        let class = classify(statement);
        self.verdict(class, || statement.to_string())?;
        Ok(class)
    }

    /// Checks a logical plan, whichever way it was built.
    pub fn check_plan(&self, plan: &LogicalPlan) -> Result<(), PolicyViolation> {
        let mut violation = None;
        // The closure never returns an error; violations are carried out through `violation`.
        let _ = plan.apply_with_subqueries(|node| {
            let (class, name) = match node {
                LogicalPlan::Ddl(ddl) => (StatementClass::Ddl, ddl.name().to_string()),
                LogicalPlan::Dml(dml) => (StatementClass::Dml, dml.op.to_string()),
                LogicalPlan::Copy(_) => (StatementClass::Dml, "COPY".to_string()),
                // Preparing is judged by the prepared plan (visited as its child), and
                // executing runs a plan that was judged when it was prepared.
                LogicalPlan::Statement(
                    PlanStatement::Prepare(_)
                    | PlanStatement::Execute(_)
                    | PlanStatement::Deallocate(_),
                ) => return Ok(TreeNodeRecursion::Continue),
                LogicalPlan::Statement(s) => (StatementClass::Statement, s.name().to_string()),
                _ => return Ok(TreeNodeRecursion::Continue),
            };
            match self.verdict(class, || name) {
                Ok(()) => Ok(TreeNodeRecursion::Continue),
                Err(v) => {
                    violation = Some(v);
                    Ok(TreeNodeRecursion::Stop)
                }
            }
        });
        violation.map_or(Ok(()), Err)
    }

    fn verdict(
        &self,
        class: StatementClass,
        text: impl FnOnce() -> String,
    ) -> Result<(), PolicyViolation> {
        match class.rule() {
            Some(rule) if !self.allows(class) => Err(PolicyViolation {
                rule,
                class,
                statement: shorten(&text()),
            }),
            _ => Ok(()),
        }
    }
}

/// The class of a logical plan: that of its first DDL, DML or other statement node (so
/// `EXPLAIN` and `PREPARE` take their inner plan's), else a query.
pub fn classify_plan(plan: &LogicalPlan) -> StatementClass {
    let mut class = StatementClass::Query;
    // The closure never fails; the class is carried out through `class`.
    let _ = plan.apply_with_subqueries(|node| {
        class = match node {
            LogicalPlan::Ddl(_) => StatementClass::Ddl,
            LogicalPlan::Dml(_) | LogicalPlan::Copy(_) => StatementClass::Dml,
            LogicalPlan::Statement(
                PlanStatement::Prepare(_)
                | PlanStatement::Execute(_)
                | PlanStatement::Deallocate(_),
            ) => return Ok(TreeNodeRecursion::Continue),
            LogicalPlan::Statement(_) => StatementClass::Statement,
            _ => return Ok(TreeNodeRecursion::Continue),
        };
        Ok(TreeNodeRecursion::Stop)
    });
    class
}

/// The class of a parsed statement; `EXPLAIN` and `PREPARE` take their inner statement's.
pub fn classify(statement: &Statement) -> StatementClass {
    match statement {
        Statement::Statement(s) => classify_sql(s),
        Statement::CreateExternalTable(_) => StatementClass::Ddl,
        Statement::CopyTo(_) => StatementClass::Dml,
        Statement::Explain(explain) => classify(&explain.statement),
        Statement::Reset(_) => StatementClass::Statement,
    }
}

fn classify_sql(statement: &SqlStatement) -> StatementClass {
    use SqlStatement as S;
    match statement {
        S::Query(_)
        | S::Execute { .. }
        | S::Deallocate { .. }
        | S::ExplainTable { .. }
        | S::ShowTables { .. }
        | S::ShowColumns { .. }
        | S::ShowFunctions { .. }
        | S::ShowVariable { .. }
        | S::ShowCreate { .. }
        | S::ShowSchemas { .. }
        | S::ShowCatalogs { .. }
        | S::ShowViews { .. } => StatementClass::Query,
        S::Prepare { statement, .. } | S::Explain { statement, .. } => classify_sql(statement),
        S::Insert(_)
        | S::Update(_)
        | S::Delete(_)
        | S::Merge(_)
        | S::Copy { .. }
        | S::Truncate(_) => StatementClass::Dml,
        S::CreateTable(_)
        | S::CreateView(_)
        | S::CreateSchema { .. }
        | S::CreateDatabase { .. }
        | S::CreateFunction(_)
        | S::CreateIndex(_)
        | S::CreateType { .. }
        | S::CreateMacro { .. }
        | S::AlterTable(_)
        | S::AlterSchema(_)
        | S::AlterView { .. }
        | S::Drop { .. }
        | S::DropFunction(_)
        | S::RenameTable(_) => StatementClass::Ddl,
        _ => StatementClass::Statement,
    }
}

fn shorten(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}
