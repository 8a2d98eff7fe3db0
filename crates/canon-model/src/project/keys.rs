//! Validation of a dataset's keys: `primary_key` and `unique` name declared columns, once
//! each; a primary key's columns are NOT NULL, since a primary key holds no NULLs.

use std::collections::HashSet;
use std::ops::Range;

use toml::Spanned;

use super::raw::RawDataset;
use super::validate::Validator;
use crate::contract::ColumnSpec;

impl Validator<'_> {
    /// The primary key and the unique column sets, as declared.
    pub(super) fn keys(
        &mut self,
        raw: &RawDataset,
        columns: &[ColumnSpec],
        key: &dyn Fn(&str) -> String,
    ) -> (Vec<String>, Vec<Vec<String>>) {
        let primary = match raw.primary_key.first() {
            Some(first) => {
                let span = first.span();
                self.key_columns(&raw.primary_key, span, columns, &key("primary_key"), true)
            }
            None => Vec::new(),
        };
        let unique = raw
            .unique
            .iter()
            .enumerate()
            .map(|(i, set)| {
                let set_key = key(&format!("unique[{i}]"));
                self.key_columns(set.get_ref(), set.span(), columns, &set_key, false)
            })
            .collect();
        (primary, unique)
    }

    fn key_columns(
        &mut self,
        names: &[Spanned<String>],
        span: Range<usize>,
        columns: &[ColumnSpec],
        key: &str,
        primary: bool,
    ) -> Vec<String> {
        if names.is_empty() {
            self.problem(span, key, "a key names at least one column");
            return Vec::new();
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for name in names {
            let column = columns.iter().find(|c| &c.name == name.get_ref());
            let message = match column {
                None => format!("key column `{}` is not in `columns`", name.get_ref()),
                Some(_) if !seen.insert(name.get_ref().clone()) => {
                    format!("key column `{}` is named twice", name.get_ref())
                }
                Some(c) if primary && c.nullable => format!(
                    "primary key column `{}` must be declared nullable = false: a primary \
                     key holds no NULLs",
                    c.name
                ),
                Some(c) => {
                    out.push(c.name.clone());
                    continue;
                }
            };
            self.problem(name.span(), key, message);
        }
        out
    }
}
