//! Validation of a dataset's evolution rules and constraints against its columns.

use std::collections::{BTreeMap, HashMap};

use datafusion_common::ScalarValue;
use datafusion_sql::parser::DFParser;
use toml::Spanned;

use super::raw::RawEvolution;
use super::validate::Validator;
use crate::contract::ColumnSpec;
use crate::evolution::{EvolutionSpec, MissingPolicy};

impl Validator<'_> {
    pub(super) fn evolution(
        &mut self,
        raw: Spanned<RawEvolution>,
        columns: &[ColumnSpec],
        partitioned_by: &[String],
        key: &dyn Fn(&str) -> String,
    ) -> EvolutionSpec {
        let raw = raw.into_inner();
        let file_column = |name: &str| {
            columns
                .iter()
                .find(|c| c.name == name && !partitioned_by.iter().any(|p| p == name))
        };
        let mut renames = BTreeMap::new();
        let mut targets: HashMap<String, String> = HashMap::new();
        for (old, new) in raw.renames {
            let rename_key = key(&format!("evolution.renames.{}", old.get_ref()));
            if file_column(new.get_ref()).is_none() {
                let message = format!(
                    "rename target `{}` is not a file column of the contract",
                    new.get_ref()
                );
                self.problem(new.span(), rename_key, message);
            } else if columns.iter().any(|c| &c.name == old.get_ref()) {
                let message = format!(
                    "old name `{}` is itself a contract column; a rename maps a name that is \
                     no longer in the contract",
                    old.get_ref()
                );
                self.problem(old.span(), rename_key, message);
            } else if let Some(first) = targets.insert(new.get_ref().clone(), old.get_ref().clone())
            {
                let message = format!("`{}` is already the target of `{first}`", new.get_ref());
                self.problem(new.span(), rename_key, message);
            } else {
                renames.insert(old.into_inner(), new.into_inner());
            }
        }
        let mut defaults = BTreeMap::new();
        for (name, value) in raw.defaults {
            let default_key = key(&format!("evolution.defaults.{}", name.get_ref()));
            let Some(column) = file_column(name.get_ref()) else {
                let message = format!("`{}` is not a file column of the contract", name.get_ref());
                self.problem(name.span(), default_key, message);
                continue;
            };
            let Some(text) = self.scalar(&value, &default_key) else {
                continue;
            };
            match parse_literal(&text, column) {
                Ok(scalar) => {
                    defaults.insert(column.name.clone(), scalar);
                }
                Err(message) => self.problem(value.span(), default_key, message),
            }
        }
        EvolutionSpec {
            missing: raw.missing.unwrap_or(MissingPolicy::Null),
            defaults,
            renames,
            widen: raw.widen.unwrap_or(false),
        }
    }

    pub(super) fn constraints(
        &mut self,
        raw: &[Spanned<String>],
        key: &dyn Fn(&str) -> String,
    ) -> Vec<String> {
        let mut constraints = Vec::new();
        for (i, text) in raw.iter().enumerate() {
            match DFParser::parse_sql_into_expr(text.get_ref()) {
                Ok(_) => constraints.push(text.get_ref().clone()),
                Err(e) => {
                    let message = format!(
                        "`{}` is not an SQL boolean expression: {}",
                        text.get_ref(),
                        e.strip_backtrace()
                    );
                    self.problem(text.span(), key(&format!("constraints[{i}]")), message);
                }
            }
        }
        constraints
    }
}

/// Reads a default as an SQL literal (`0.0`, `'unknown'`, `true`, `NULL`) of the
/// column's type.
fn parse_literal(text: &str, column: &ColumnSpec) -> Result<ScalarValue, String> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("null") {
        return if column.nullable {
            ScalarValue::try_from(&column.data_type).map_err(|e| e.strip_backtrace())
        } else {
            Err(format!(
                "default NULL for NOT NULL column `{}`",
                column.name
            ))
        };
    }
    let unquoted = trimmed
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .map(|s| s.replace("''", "'"))
        .unwrap_or_else(|| trimmed.to_string());
    ScalarValue::try_from_string(unquoted, &column.data_type).map_err(|e| {
        format!(
            "default `{text}` does not parse as {}, the type of `{}`: {}",
            column.data_type,
            column.name,
            e.strip_backtrace()
        )
    })
}
