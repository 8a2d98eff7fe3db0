//! Validation of `[functions]`, `[[function]]` and `[[prepared]]`: names, shapes, and
//! that the SQL parses (and, for prepared statements, passes the policy) — each problem
//! at its file:line. Whether a macro body type-checks and a statement plans is known only
//! once the runtime exists; those errors carry the same file:line.

use std::collections::HashMap;
use std::ops::Range;

use datafusion_sql::parser::Statement;
use datafusion_sql::sqlparser::ast::Statement as SqlStatement;
use toml::Spanned;

use super::raw::{RawFunctions, RawMacro, RawPrepared};
use super::validate::Validator;
use crate::declarations::{MacroSpec, OverrideSpec};
use crate::declarations::{PreparedSpec, SYSTEM_STATEMENTS};
use crate::dialect::SqlError;
use crate::policy::SqlPolicy;

/// SQL folds unquoted names to lowercase, so declared names must already be.
fn is_lower_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A parse error as one message (the dialect's own wording for unsupported syntax).
fn parse_error(e: &SqlError) -> String {
    match e {
        SqlError::Parse(e) => e.strip_backtrace(),
        SqlError::Unsupported(syntax) => syntax.to_string(),
    }
}

const NAME_RULE: &str = "must be a lowercase SQL name (a-z, 0-9, `_`, not starting with a digit)";

impl Validator<'_> {
    /// Checks a declared name: lowercase identifier, and not declared before.
    fn declared_name(
        &mut self,
        name: &Spanned<String>,
        key: String,
        seen: &mut HashMap<String, usize>,
    ) -> bool {
        if !is_lower_identifier(name.get_ref()) {
            self.problem(name.span(), key, NAME_RULE);
            return false;
        }
        let line = self.origin(&name.span()).line;
        if let Some(first) = seen.insert(name.get_ref().clone(), line) {
            let message = format!("declared twice (first at line {first})");
            self.problem(name.span(), key, message);
            return false;
        }
        true
    }

    fn not_empty(&mut self, value: &Spanned<String>, key: String) -> bool {
        if value.get_ref().trim().is_empty() {
            self.problem(value.span(), key, "must not be empty");
            return false;
        }
        true
    }

    /// `[functions] overrides`.
    pub(super) fn overrides(&mut self, raw: RawFunctions) -> Vec<OverrideSpec> {
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        for (i, name) in raw.overrides.into_iter().enumerate() {
            if self.declared_name(&name, format!("functions.overrides[{i}]"), &mut seen) {
                out.push(OverrideSpec {
                    origin: self.origin(&name.span()),
                    name: name.into_inner(),
                });
            }
        }
        out
    }

    /// `[[function]]`: SQL macros.
    pub(super) fn macros(
        &mut self,
        raw: Vec<Spanned<RawMacro>>,
        policy: &SqlPolicy,
    ) -> Vec<MacroSpec> {
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        for raw in raw {
            let span = raw.span();
            let raw = raw.into_inner();
            let before = self.problems_len();
            let name = raw.name.get_ref().clone();
            let key = |k: &str| format!("function[{name}].{k}");
            self.declared_name(&raw.name, key("name"), &mut seen);
            let mut arg_names = HashMap::new();
            let mut args = Vec::new();
            for (i, arg) in raw.args.iter().enumerate() {
                let arg = arg.get_ref();
                let arg_key = key(&format!("args[{i}]"));
                self.declared_name(&arg.name, format!("{arg_key}.name"), &mut arg_names);
                self.not_empty(&arg.data_type, format!("{arg_key}.type"));
                args.push((arg.name.get_ref().clone(), arg.data_type.get_ref().clone()));
            }
            self.not_empty(&raw.returns, key("returns"));
            self.not_empty(&raw.body, key("body"));
            if self.problems_len() > before {
                continue;
            }
            let spec = MacroSpec {
                name: name.clone(),
                args,
                returns: raw.returns.get_ref().clone(),
                body: raw.body.get_ref().clone(),
                description: raw.description,
                origin: self.origin(&span),
            };
            match policy.parse(&spec.create_sql()) {
                Ok(statements) if statements.len() == 1 => out.push(spec),
                Ok(_) => self.problem(raw.body.span(), key("body"), "must be one expression"),
                Err(e) => {
                    let message = format!(
                        "`{}` does not parse as CREATE FUNCTION: {}",
                        spec.create_sql(),
                        parse_error(&e)
                    );
                    self.problem(raw.body.span(), key("body"), message);
                }
            }
        }
        out
    }

    /// `[[prepared]]`: statements every session can execute, which must pass the policy.
    pub(super) fn prepared(
        &mut self,
        raw: Vec<Spanned<RawPrepared>>,
        policy: &SqlPolicy,
    ) -> Vec<PreparedSpec> {
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        for raw in raw {
            let span = raw.span();
            let raw = raw.into_inner();
            let name = raw.name.get_ref().clone();
            let key = |k: &str| format!("prepared[{name}].{k}");
            if !self.declared_name(&raw.name, key("name"), &mut seen) {
                continue;
            }
            if SYSTEM_STATEMENTS.contains(&name.as_str()) {
                let message = "is the name of one of Canon's system statements";
                self.problem(raw.name.span(), key("name"), message);
                continue;
            }
            if !self.statement_sql(&raw.sql, &key("sql"), policy) {
                continue;
            }
            let spec = PreparedSpec {
                name: name.clone(),
                sql: raw.sql.get_ref().clone(),
                params: raw.params.iter().map(|p| p.get_ref().clone()).collect(),
                origin: self.origin(&span),
            };
            if let Err(e) = policy.parse(&spec.prepare_sql()) {
                let span: Range<usize> = raw.params.first().map_or(raw.sql.span(), |p| p.span());
                let message = format!("parameter types do not parse: {}", parse_error(&e));
                self.problem(span, key("params"), message);
                continue;
            }
            out.push(spec);
        }
        out
    }

    /// The statement of a `[[prepared]]`: one statement, not itself a prepared-statement
    /// command, allowed by the policy.
    fn statement_sql(&mut self, sql: &Spanned<String>, key: &str, policy: &SqlPolicy) -> bool {
        let statements = match policy.parse(sql.get_ref()) {
            Ok(statements) => statements,
            Err(e) => {
                let message = format!("does not parse: {}", parse_error(&e));
                self.problem(sql.span(), key, message);
                return false;
            }
        };
        let [statement] = statements.as_slice() else {
            let message = format!("must be exactly one statement, found {}", statements.len());
            self.problem(sql.span(), key, message);
            return false;
        };
        if let Statement::Statement(s) = statement
            && matches!(
                s.as_ref(),
                SqlStatement::Prepare { .. }
                    | SqlStatement::Execute { .. }
                    | SqlStatement::Deallocate { .. }
            )
        {
            let message = "is the statement to prepare, not a PREPARE, EXECUTE or DEALLOCATE";
            self.problem(sql.span(), key, message);
            return false;
        }
        if let Err(violation) = policy.check(statement) {
            self.problem(sql.span(), key, violation.to_string());
            return false;
        }
        true
    }
}
