//! Validation of `[[model]]`: the query's source, the kind, and the output contract, which
//! is checked by the same rules as a dataset's.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::raw::{RawDataset, RawModel};
use super::validate::Validator;
use crate::contract::Format;
use crate::model::{IncrementalSpec, ModelKind, ModelSpec, ModelSql, Watermark};

impl Validator<'_> {
    /// Every model, each named once among datasets and models. `seen` holds the datasets'
    /// names with their lines.
    pub(super) fn models(
        &mut self,
        raw: Vec<Spanned<RawModel>>,
        seen: &HashMap<String, usize>,
        root: &Path,
    ) -> Vec<ModelSpec> {
        let mut names = seen.clone();
        let mut models = Vec::with_capacity(raw.len());
        for model in raw {
            let name = &model.get_ref().name;
            let key = format!("model[{}].name", name.get_ref());
            if name.get_ref().trim().is_empty() {
                self.problem(name.span(), key, "must not be empty");
                continue;
            }
            let line = self.origin(&name.span()).line;
            if let Some(first) = names.insert(name.get_ref().clone(), line) {
                let message = format!("declared twice (first at line {first})");
                self.problem(name.span(), key, message);
                continue;
            }
            if let Some(spec) = self.model(model, root) {
                models.push(spec);
            }
        }
        models
    }

    fn model(&mut self, raw: Spanned<RawModel>, root: &Path) -> Option<ModelSpec> {
        let before = self.problems_len();
        let span = raw.span();
        let raw = raw.into_inner();
        let name = raw.name.get_ref().clone();
        let key = |k: &str| format!("model[{name}].{k}");

        let kind = match &raw.kind {
            None => Some(ModelKind::Table),
            Some(kind) => ModelKind::parse(kind.get_ref()).or_else(|| {
                let expected: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
                let message = format!(
                    "unknown kind `{}`; expected one of {}",
                    kind.get_ref(),
                    expected.join(", ")
                );
                self.problem(kind.span(), key("kind"), message);
                None
            }),
        };
        let sql = self.model_sql(&raw, root, span.clone(), &key);

        let stored = kind.is_none_or(ModelKind::is_stored);
        if !stored {
            // A view stores nothing: the keys that say how it would be stored are mistakes.
            let unstored = [
                ("format", raw.format.as_ref().map(Spanned::span)),
                ("location", raw.location.as_ref().map(Spanned::span)),
                (
                    "partitioned_by",
                    raw.partitioned_by.first().map(Spanned::span),
                ),
                ("delta", raw.delta.as_ref().map(Spanned::span)),
            ];
            for (k, at) in unstored {
                if let Some(at) = at {
                    self.problem(
                        at,
                        key(k),
                        "a view stores nothing: remove it, or set kind = \"table\"",
                    );
                }
            }
        } else if let Some(format) = &raw.format
            && Format::parse(format.get_ref()) != Some(Format::Delta)
        {
            let message = format!(
                "models are stored as Delta tables: format must be \"delta\", not `{}`",
                format.get_ref()
            );
            self.problem(format.span(), key("format"), message);
        }

        let incremental = self.incremental(&raw, kind, &key);

        // The output contract is a dataset contract in all but name: same rules, same spec.
        // A view's is validated with a stand-in location that is never used, then cleared.
        let format = Spanned::new(span.clone(), Format::Delta.name().to_string());
        let location = if stored {
            raw.location
        } else {
            Some(Spanned::new(raw.name.span(), ".".to_string()))
        };
        let contract = RawDataset {
            name: raw.name,
            format,
            location,
            partitioned_by: if stored {
                raw.partitioned_by
            } else {
                Vec::new()
            },
            ordered_by: Vec::new(),
            options: BTreeMap::new(),
            columns: raw.columns,
            evolution: None,
            constraints: raw.constraints,
            primary_key: raw.primary_key,
            unique: raw.unique,
            delta: if stored { raw.delta } else { None },
        };
        let mut contract = self.dataset(Spanned::new(span, contract), root, "model");
        if !stored && let Some(contract) = &mut contract {
            contract.location.clear();
            contract.declared_location.clear();
        }
        if let (Some((IncrementalSpec::Watermark(spec), at)), Some(contract)) =
            (&incremental, &contract)
        {
            let appends = kind == Some(ModelKind::Append);
            self.incremental_column(spec, at.clone(), contract, appends, &key);
        }
        if self.problems_len() > before {
            return None;
        }
        Some(ModelSpec {
            name,
            kind: kind?,
            sql: sql?,
            description: raw.description,
            incremental: incremental.map(|(spec, _)| spec),
            contract: contract?,
        })
    }

    /// An append model's `incremental`, with the span of its column; only append models
    /// have one, and they must.
    fn incremental(
        &mut self,
        raw: &RawModel,
        kind: Option<ModelKind>,
        key: &dyn Fn(&str) -> String,
    ) -> Option<(IncrementalSpec, Range<usize>)> {
        let appends = kind == Some(ModelKind::Append);
        let merges = kind == Some(ModelKind::Merge);
        if merges && raw.primary_key.is_empty() {
            let message = "a merge model needs a primary_key: rows are merged by their key";
            self.problem(raw.name.span(), key("primary_key"), message);
        }
        let Some(incremental) = &raw.incremental else {
            if appends {
                let message = "an append model needs `incremental = { column = \"…\" }`: the \
                               column whose values only grow";
                self.problem(raw.name.span(), key("incremental"), message);
            }
            return None;
        };
        if !appends && !merges {
            let message = "only append and merge models are incremental";
            self.problem(incremental.span(), key("incremental"), message);
            return None;
        }
        let inc = incremental.get_ref();
        match (&inc.changes, &inc.column) {
            (Some(changes), None) => {
                if !changes.get_ref() {
                    let message = "`changes` is true or left out: without a change feed, name \
                                   the column whose values only grow";
                    self.problem(changes.span(), key("incremental.changes"), message);
                    return None;
                }
                if appends {
                    let message = "an append model reads past a column's watermark; applying an \
                                   upstream's changes (updates and deletes too) is for kind = \
                                   \"merge\"";
                    self.problem(changes.span(), key("incremental.changes"), message);
                    return None;
                }
                if let Some(lookback) = &inc.lookback {
                    let message = "a change feed has no lookback: every change is read once";
                    self.problem(lookback.span(), key("incremental.lookback"), message);
                    return None;
                }
                return Some((IncrementalSpec::Changes, changes.span()));
            }
            (Some(changes), Some(_)) => {
                let message = "give `column` or `changes = true`, not both";
                self.problem(changes.span(), key("incremental"), message);
                return None;
            }
            (None, None) => {
                let message = "`incremental` needs `column = \"…\"` (a column whose values only \
                               grow) or, for a merge model, `changes = true`";
                self.problem(incremental.span(), key("incremental"), message);
                return None;
            }
            (None, Some(_)) => {}
        }
        let Some(column) = &inc.column else {
            return None;
        };
        let lookback = match &inc.lookback {
            None => std::time::Duration::ZERO,
            Some(text) => match humantime::parse_duration(text.get_ref()) {
                Ok(d) => d,
                Err(e) => {
                    let message =
                        format!("`{}` is not a duration like \"2h\": {e}", text.get_ref());
                    self.problem(text.span(), key("incremental.lookback"), message);
                    return None;
                }
            },
        };
        let spec = IncrementalSpec::Watermark(Watermark {
            column: column.get_ref().clone(),
            lookback,
        });
        Some((spec, column.span()))
    }

    /// The incremental column is an output column whose values can be compared with a
    /// watermark, a lookback needs a time, and new rows are told from old by the key.
    fn incremental_column(
        &mut self,
        spec: &Watermark,
        at: Range<usize>,
        contract: &crate::contract::DatasetSpec,
        appends: bool,
        key: &dyn Fn(&str) -> String,
    ) {
        use arrow_schema::DataType;
        let k = key("incremental.column");
        let Some(column) = contract.columns.iter().find(|c| c.name == spec.column) else {
            let message = format!("`{}` is not one of the model's columns", spec.column);
            self.problem(at.clone(), k.clone(), message);
            return;
        };
        if column.nullable {
            let message = format!(
                "the incremental column `{}` must be declared nullable = false: a row with NULL \
                 there would never be read again",
                spec.column
            );
            self.problem(at.clone(), k.clone(), message);
        }
        let is_time = matches!(column.data_type, DataType::Timestamp(..) | DataType::Date32);
        let is_number = matches!(column.data_type, DataType::Int32 | DataType::Int64);
        if !is_time && !is_number {
            let message = format!(
                "`{}` is {}: an incremental column is a timestamp, a Date32 or an Int32/Int64",
                spec.column, column.data_type
            );
            self.problem(at.clone(), k.clone(), message);
        } else if !is_time && !spec.lookback.is_zero() {
            let message = format!(
                "a lookback needs a time column; `{}` is a number",
                spec.column
            );
            self.problem(at.clone(), k.clone(), message);
        }
        if appends && contract.primary_key.is_empty() {
            let message = "an append model needs a primary_key: rows it already holds are told \
                           from new ones by their key";
            self.problem(at, key("primary_key"), message);
        }
    }

    /// The query, inline or from its file, with where its text starts.
    fn model_sql(
        &mut self,
        raw: &RawModel,
        root: &Path,
        span: Range<usize>,
        key: &dyn Fn(&str) -> String,
    ) -> Option<ModelSql> {
        let sql = match (&raw.sql, &raw.sql_file) {
            (Some(_), Some(file)) => {
                let message = "give the query once: `sql` or `sql_file`, not both";
                self.problem(file.span(), key("sql_file"), message);
                return None;
            }
            (None, None) => {
                let message = "missing: the query, as `sql` or in a `sql_file`";
                self.problem(span, key("sql"), message);
                return None;
            }
            (Some(sql), None) => {
                let (line, column) = self.string_start(&sql.span());
                ModelSql {
                    text: sql.get_ref().clone(),
                    file: self.file().to_path_buf(),
                    line,
                    column,
                }
            }
            (None, Some(file)) => {
                let path = root.join(file.get_ref());
                // Shown beside the project file as it was given, as its own problems are.
                let shown = self
                    .file()
                    .parent()
                    .unwrap_or(Path::new(""))
                    .join(file.get_ref());
                match std::fs::read_to_string(&path) {
                    Ok(text) => ModelSql {
                        text,
                        file: shown,
                        line: 1,
                        column: 1,
                    },
                    Err(e) => {
                        let message = format!("cannot read {}: {e}", path.display());
                        self.problem(file.span(), key("sql_file"), message);
                        return None;
                    }
                }
            }
        };
        if sql.text.trim().is_empty() {
            let at = raw
                .sql
                .as_ref()
                .or(raw.sql_file.as_ref())
                .map(Spanned::span);
            self.problem(at.unwrap_or_default(), key("sql"), "the query is empty");
            return None;
        }
        Some(sql)
    }
}
