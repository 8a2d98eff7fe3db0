//! Prepared statements: `PREPARE`/`EXECUTE`/`DEALLOCATE` on every entry point, under the
//! SQL policy, with typed (declared or inferred) parameters checked before anything
//! runs; statements declared in the project (`[[prepared]]`) and Canon's own system
//! statements, prepared once per session on first use; and `canon.prepared`.

pub(crate) mod run;
mod table;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::config::Dialect;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{LogicalPlan, Statement as PlanStatement};

use datafusion::sql::parser::Statement;

use canon_model::declarations::prepare_sql;
use canon_model::util::quote_literal;

use crate::error::{DeclarationError, Result};
use crate::policy::SqlPolicy;

pub use crate::error::PreparedError;
pub use canon_model::declarations::{Parameter, PreparedOrigin, PreparedSpec, SYSTEM_STATEMENTS};

pub(crate) use run::declares_types;
pub(crate) use table::prepared_view;

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
            PreparedOrigin::System => {
                canon_model::dialect::parse("generic", &self.sql).map_err(Into::into)
            }
            _ => Ok(policy.parse(&self.sql)?),
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

    pub(crate) fn insert(&self, name: String, entry: Entry) {
        self.lock().insert(name, entry);
    }

    pub(crate) fn remove(&self, name: &str) {
        self.lock().remove(name);
    }

    pub(crate) fn executed(&self, name: &str) {
        if let Some(e) = self.lock().get_mut(name) {
            e.executions += 1;
        }
    }

    /// Names a session can execute, for error messages.
    pub(crate) fn known(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.extend(self.declared.iter().map(|d| d.name.clone()));
        names.sort();
        names.dedup();
        names
    }
}

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
            .map_err(|e| error(crate::error::plain(&e)))?;
        let typed = run::declares_types(&statement);
        let plan = state
            .statement_to_plan(statement)
            .await
            .map_err(|e| error(crate::error::plain(&e)))?;
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
