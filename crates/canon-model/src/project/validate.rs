//! Turns the raw file model into validated specs, collecting every problem with its
//! line, column and key instead of stopping at the first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use arrow_schema::DataType;
use datafusion_common::config::TableOptions;
use datafusion_sql::parser::DFParserBuilder;
use datafusion_sql::sqlparser::ast::Expr;
use toml::Spanned;

use super::raw::{RawColumn, RawDataset, RawProject, SpannedMap};
use super::{Project, Source};
use crate::contract::{ColumnSpec, DatasetSpec, Format, Origin, SortKey};
use crate::error::{Problem, ProjectError};
use crate::store::{PROJECT_SCHEME, StoreKind, store_key};
use crate::util::is_plain_identifier;

pub(super) fn project(
    raw: RawProject,
    source: &Source<'_>,
    root: &Path,
) -> Result<Project, ProjectError> {
    let mut v = Validator {
        source,
        problems: Vec::new(),
    };
    let name = raw.project.name;
    if name.get_ref().trim().is_empty() {
        v.problem(name.span(), "project.name", "must not be empty");
    }
    let profile = v.profile(raw.profile, root);
    let policy = v.policy(raw.policy);
    let overrides = v.overrides(raw.functions);
    let functions = v.macros(raw.macros, &policy);
    let prepared = v.prepared(raw.prepared, &policy);
    let server = v.server(raw.server);
    let distributed = v.distributed(raw.distributed);
    let lineage = v.lineage(raw.lineage, name.get_ref(), root);

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut datasets = Vec::new();
    for raw_dataset in raw.datasets {
        let dataset_name = raw_dataset.get_ref().name.clone();
        let (line, _) = source.locate(dataset_name.span().start);
        if let Some(first) = seen.insert(dataset_name.get_ref().clone(), line) {
            let message = format!("declared twice (first at line {first})");
            let key = format!("dataset[{}].name", dataset_name.get_ref());
            v.problem(dataset_name.span(), key, message);
            continue;
        }
        if let Some(spec) = v.dataset(raw_dataset, root, "dataset") {
            datasets.push(spec);
        }
    }
    let models = v.models(raw.models, &seen, root);

    if v.problems.is_empty() {
        Ok(Project {
            name: name.into_inner(),
            file: source.file.to_path_buf(),
            root: root.to_path_buf(),
            profile,
            policy,
            datasets,
            models,
            functions,
            overrides,
            prepared,
            server,
            distributed,
            lineage,
        })
    } else {
        v.problems.sort_by_key(|p| (p.line, p.column));
        Err(ProjectError::Invalid {
            file: source.file.to_path_buf(),
            problems: v.problems,
        })
    }
}

/// The parts of a dataset's declaration Delta validation looks at.
pub(super) struct DeltaContext<'a> {
    pub is_delta: bool,
    pub format: Range<usize>,
    pub evolution: Option<Range<usize>>,
    pub ordered_by: &'a [Spanned<String>],
}

pub(super) struct Validator<'a> {
    source: &'a Source<'a>,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    /// Where a span is, as an origin for specs that outlive validation.
    pub(super) fn origin(&self, span: &Range<usize>) -> Origin {
        let (line, _) = self.source.locate(span.start);
        Origin {
            file: self.source.file.display().to_string(),
            line,
        }
    }

    /// The project file.
    pub(super) fn file(&self) -> &Path {
        self.source.file
    }

    /// The line and column of the first character inside a TOML string whose value spans
    /// `span`: after its opening quotes and, for a multi-line string, the newline TOML
    /// trims after them.
    pub(super) fn string_start(&self, span: &Range<usize>) -> (usize, usize) {
        let rest = self.source.text.get(span.start..).unwrap_or_default();
        let mut offset = span.start;
        if rest.starts_with("\"\"\"") || rest.starts_with("'''") {
            offset += 3;
            let after = &rest[3..];
            if after.starts_with("\r\n") {
                offset += 2;
            } else if after.starts_with('\n') {
                offset += 1;
            }
        } else if rest.starts_with(['"', '\'']) {
            offset += 1;
        }
        self.source.locate(offset)
    }

    /// How many problems were found so far.
    pub(super) fn problems_len(&self) -> usize {
        self.problems.len()
    }

    pub(super) fn problem(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        let (line, column) = self.source.locate(span.start);
        self.problems.push(Problem {
            line,
            column,
            key: key.into(),
            // One problem, one line: DataFusion's messages can carry "caused by" lines.
            message: message
                .into()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        });
    }

    /// A dataset's contract, or a model's output contract when `table` is `model`: the
    /// table name keys start with.
    pub(super) fn dataset(
        &mut self,
        raw: Spanned<RawDataset>,
        root: &Path,
        table: &str,
    ) -> Option<DatasetSpec> {
        let before = self.problems.len();
        let span = raw.span();
        let raw = raw.into_inner();
        let name = raw.name.get_ref().clone();
        let key = |k: &str| format!("{table}[{name}].{k}");
        if name.trim().is_empty() {
            self.problem(raw.name.span(), key("name"), "must not be empty");
        }

        let format = Format::parse(raw.format.get_ref()).or_else(|| {
            let message = format!(
                "unknown format `{}`; expected one of parquet, csv, json, arrow, delta",
                raw.format.get_ref()
            );
            self.problem(raw.format.span(), key("format"), message);
            None
        });
        let is_delta = format == Some(Format::Delta);

        let location = match &raw.location {
            None => {
                self.problem(
                    span.clone(),
                    key("location"),
                    if table == "model" {
                        "missing: a stored model needs a location (only views have none)"
                    } else {
                        "missing: every dataset needs a location"
                    },
                );
                None
            }
            // A Delta table may not exist yet: `canon delta create` makes it.
            Some(loc) => match resolve_location(loc.get_ref(), root, !is_delta) {
                Ok(resolved) => Some(resolved),
                Err(message) => {
                    self.problem(loc.span(), key("location"), message);
                    None
                }
            },
        };

        let partitioned_by: Vec<String> = raw
            .partitioned_by
            .iter()
            .map(|p| p.get_ref().clone())
            .collect();
        let columns = self.columns(&raw, &partitioned_by, is_delta, span.clone(), &key);
        self.partitions(&raw, &columns, is_delta, &key);
        let ordered_by = self.ordered_by(&raw, &columns, &key);
        let (primary_key, unique) = self.keys(&raw, &columns, &key);
        let evolution_span = raw.evolution.as_ref().map(Spanned::span);
        let evolution = raw
            .evolution
            .map(|rules| self.evolution(rules, &columns, &partitioned_by, &key));
        let constraints = self.constraints(&raw.constraints, &key);
        let delta = self.delta(
            raw.delta,
            DeltaContext {
                is_delta,
                format: raw.format.span(),
                evolution: evolution_span,
                ordered_by: &raw.ordered_by,
            },
            &columns,
            &key,
        );
        let options = match (&delta, format) {
            (Some(delta), _) => {
                if let Some((name, _)) = raw.options.iter().next() {
                    let message = "Delta datasets take their scan options from [dataset.delta]";
                    self.problem(
                        name.span(),
                        key(&format!("options.{}", name.get_ref())),
                        message,
                    );
                }
                delta.to_options()
            }
            (None, Some(f)) => self.options(f, raw.options, &key),
            (None, None) => BTreeMap::new(),
        };

        let (line, _) = self.source.locate(span.start);
        let origin = Origin {
            file: self.source.file.display().to_string(),
            line,
        };
        if self.problems.len() > before {
            return None;
        }
        Some(DatasetSpec {
            name,
            format: format?,
            declared_location: raw.location.map(Spanned::into_inner).unwrap_or_default(),
            location: location?,
            partitioned_by,
            ordered_by,
            options,
            columns,
            evolution,
            constraints,
            primary_key,
            unique,
            delta,
            origin,
        })
    }

    fn columns(
        &mut self,
        raw: &RawDataset,
        partitioned_by: &[String],
        is_delta: bool,
        span: Range<usize>,
        key: &dyn Fn(&str) -> String,
    ) -> Vec<ColumnSpec> {
        if raw.columns.is_empty() {
            let message = "no columns declared: a contract lists every column with its type";
            self.problem(span, key("columns"), message);
        }
        let mut seen = HashSet::new();
        let mut columns = Vec::with_capacity(raw.columns.len());
        for (i, column) in raw.columns.iter().enumerate() {
            let RawColumn {
                name,
                data_type,
                nullable,
                tags,
            } = column.get_ref();
            let col_key = |k: &str| key(&format!("columns[{i}].{k}"));
            if name.get_ref().is_empty() {
                self.problem(name.span(), col_key("name"), "must not be empty");
            } else if !seen.insert(name.get_ref().as_str()) {
                let message = format!("duplicate column `{}`", name.get_ref());
                self.problem(name.span(), col_key("name"), message);
            }
            let is_partition = partitioned_by.contains(name.get_ref());
            // Delta stores partition values (nulls included) in its log, not in paths.
            if is_partition && !is_delta && nullable.as_ref().is_some_and(|n| *n.get_ref()) {
                let message = format!(
                    "partition column `{}` cannot be nullable: DataFusion never produces nulls \
                     for partition values",
                    name.get_ref()
                );
                self.problem(
                    nullable.as_ref().map_or(name.span(), |n| n.span()),
                    col_key("nullable"),
                    message,
                );
            }
            let parsed = match data_type.get_ref().parse::<DataType>() {
                Ok(t) => t,
                Err(e) => {
                    let message = format!(
                        "`{}` is not an Arrow type name (e.g. Int64, Utf8, \
                         Timestamp(Microsecond, Some(\"UTC\"))): {e}",
                        data_type.get_ref()
                    );
                    self.problem(data_type.span(), col_key("type"), message);
                    continue;
                }
            };
            if let Some(narrow) = narrow_decimal(&parsed) {
                let message = format!(
                    "`{narrow}` cannot be declared: DataFusion 55 computes with 32- and 64-bit \
                     decimals as integers wherever they meet an integer or a CASE (`1 - 0.05` \
                     gives 1), so declare `{}`, which reads the same files",
                    widened_decimal(narrow)
                );
                self.problem(data_type.span(), col_key("type"), message);
                continue;
            }
            let mut column_tags: Vec<String> = Vec::with_capacity(tags.len());
            for (j, tag) in tags.iter().enumerate() {
                let text = tag.get_ref();
                if !crate::util::is_plain_identifier(text) {
                    let message =
                        format!("tag `{text}` must be a plain name (letters, digits, `_`)");
                    self.problem(tag.span(), col_key(&format!("tags[{j}]")), message);
                } else if column_tags.contains(text) {
                    let message = format!("tag `{text}` is given twice");
                    self.problem(tag.span(), col_key(&format!("tags[{j}]")), message);
                } else {
                    column_tags.push(text.clone());
                }
            }
            columns.push(ColumnSpec {
                name: name.get_ref().clone(),
                tags: column_tags,
                data_type: parsed,
                // Unsaid, a column is nullable; only a file dataset's partition columns are
                // not, since DataFusion never produces nulls for values read from paths.
                // Delta partition columns hold nulls like any other (other writers put them
                // there), so they default like any other column.
                nullable: nullable
                    .as_ref()
                    .map_or(!is_partition || is_delta, |n| *n.get_ref()),
            });
        }
        columns
    }

    /// DataFusion appends partition columns after the file columns, so a contract that
    /// round-trips exactly lists them last, in `partitioned_by` order.
    fn partitions(
        &mut self,
        raw: &RawDataset,
        columns: &[ColumnSpec],
        is_delta: bool,
        key: &dyn Fn(&str) -> String,
    ) {
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let n = raw.partitioned_by.len();
        for (i, part) in raw.partitioned_by.iter().enumerate() {
            let part_key = key(&format!("partitioned_by[{i}]"));
            if !is_plain_identifier(part.get_ref()) {
                let message = format!(
                    "partition column `{}` must be a plain identifier (letters, digits, `_`): \
                     DataFusion's PARTITIONED BY clause cannot quote names",
                    part.get_ref()
                );
                self.problem(part.span(), part_key, message);
                continue;
            }
            match names.iter().position(|c| c == part.get_ref()) {
                None => {
                    let message =
                        format!("partition column `{}` is not in `columns`", part.get_ref());
                    self.problem(part.span(), part_key, message);
                }
                Some(pos) if !is_delta && names.len() >= n && pos != names.len() - n + i => {
                    let message = format!(
                        "partition column `{}` must be declared among the last {n} column(s), in \
                         `partitioned_by` order: DataFusion appends partition columns after the \
                         file columns",
                        part.get_ref()
                    );
                    self.problem(part.span(), part_key, message);
                }
                Some(_) => {}
            }
        }
    }

    fn ordered_by(
        &mut self,
        raw: &RawDataset,
        columns: &[ColumnSpec],
        key: &dyn Fn(&str) -> String,
    ) -> Vec<SortKey> {
        let mut keys = Vec::new();
        for (i, text) in raw.ordered_by.iter().enumerate() {
            let sort_key = key(&format!("ordered_by[{i}]"));
            let parsed = DFParserBuilder::new(text.get_ref().as_str())
                .build()
                .and_then(|mut p| p.parse_order_by_expr());
            let order = match parsed {
                Ok(order) => order,
                Err(e) => {
                    let message = format!(
                        "`{}` is not a sort key like \"column ASC NULLS LAST\": {}",
                        text.get_ref(),
                        e.strip_backtrace()
                    );
                    self.problem(text.span(), sort_key, message);
                    continue;
                }
            };
            let column = match &order.expr {
                Expr::Identifier(ident) => ident.value.clone(),
                other => {
                    let message = format!("sort keys must be plain column names, not `{other}`");
                    self.problem(text.span(), sort_key, message);
                    continue;
                }
            };
            if !columns.iter().any(|c| c.name == column) {
                let message = format!("sort column `{column}` is not in `columns`");
                self.problem(text.span(), sort_key, message);
                continue;
            }
            let descending = order.options.asc == Some(false);
            // DataFusion sorts nulls as the largest values unless told otherwise.
            let nulls_first = order.options.nulls_first.unwrap_or(descending);
            keys.push(SortKey {
                column,
                descending,
                nulls_first,
            });
        }
        keys
    }

    fn options(
        &mut self,
        format: Format,
        raw: SpannedMap,
        key: &dyn Fn(&str) -> String,
    ) -> BTreeMap<String, String> {
        let mut options = BTreeMap::new();
        for (name, value) in raw {
            let lower = name.get_ref().to_lowercase();
            let canonical = if lower.contains('.') {
                lower
            } else {
                format!("format.{lower}")
            };
            let opt_key = key(&format!("options.{}", name.get_ref()));
            let Some(text) = self.scalar(&value, &opt_key) else {
                continue;
            };
            let checked = match format.config_file_type() {
                None => Err(format!("{format} datasets take no scan options")),
                Some(_) if !canonical.starts_with("format.") => Err(format!(
                    "`{canonical}` is not a scan option: per-table options are format options \
                     (`format.<name>`); session settings belong in [profile.settings]"
                )),
                Some(file_type) => {
                    let mut table_options = TableOptions::new();
                    table_options.set_config_format(file_type);
                    table_options.set(&canonical, &text).map_err(|e| {
                        format!("not a valid {format} option: {}", e.strip_backtrace())
                    })
                }
            };
            match checked {
                Ok(()) => {
                    options.insert(canonical, text);
                }
                Err(message) => self.problem(name.span(), opt_key, message),
            }
        }
        options
    }
}

/// A path with `.` and `..` resolved lexically, so that `../shared/data` beside the project
/// is outside the project directory (and is not made a `project:///../…` URL).
fn normalized(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(component);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Resolves a declared location: local paths must exist when `must_exist`. A path inside
/// the project directory becomes a `project:///…` URL, so the DDL is the same wherever the
/// project lives; object-store URLs are kept as written and checked when the dataset is
/// registered, through the store.
fn resolve_location(declared: &str, root: &Path, must_exist: bool) -> Result<String, String> {
    let local = match declared.split_once("://") {
        Some(("file", path)) => PathBuf::from(path),
        Some((scheme, rest)) => {
            if StoreKind::of_scheme(&scheme.to_ascii_lowercase()).is_none() {
                return Err(format!(
                    "no object store for `{scheme}://` locations; expected a local path, \
                     file://, s3://, az://, abfss://, gs:// or http(s)://"
                ));
            }
            if store_key(declared).is_none() {
                return Err(format!("`{declared}` names no bucket, container or host"));
            }
            let mut url = declared.to_string();
            if !must_exist && !rest.ends_with('/') {
                url.push('/');
            }
            return Ok(url);
        }
        None => normalized(&root.join(declared)),
    };
    let is_glob = declared.contains(['*', '?', '[']);
    let mut directory = !must_exist;
    if must_exist && !is_glob {
        let meta = std::fs::metadata(&local).map_err(|_| {
            format!(
                "`{declared}` does not exist (resolved to {})",
                local.display()
            )
        })?;
        directory = meta.is_dir();
    }
    let directory = directory || declared.ends_with('/');
    let mut resolved = match local.strip_prefix(root) {
        // Declared relative (or absolute under the project): portable.
        Ok(inside) if !declared.starts_with('/') && !declared.starts_with("file:") => {
            let parts: Vec<String> = inside
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            format!("{PROJECT_SCHEME}:///{}", parts.join("/"))
        }
        _ => local.to_string_lossy().into_owned(),
    };
    if directory && !resolved.ends_with('/') {
        resolved.push('/');
    }
    Ok(resolved)
}

/// The first `Decimal32` or `Decimal64` in `data_type`, nested ones included.
///
/// DataFusion 55.2 coerces them with integers to `Int64` (`1 - x`, `x * 2`, `CASE`,
/// `COALESCE`, `UNION`), dropping their fraction without an error, while the same values
/// as `Decimal128` compute exactly; contracts therefore declare the wider type.
fn narrow_decimal(data_type: &DataType) -> Option<&DataType> {
    match data_type {
        DataType::Decimal32(..) | DataType::Decimal64(..) => Some(data_type),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => narrow_decimal(f.data_type()),
        DataType::Struct(fields) => fields.iter().find_map(|f| narrow_decimal(f.data_type())),
        DataType::Union(fields, _) => fields
            .iter()
            .find_map(|(_, f)| narrow_decimal(f.data_type())),
        DataType::Dictionary(key, value) => narrow_decimal(key).or_else(|| narrow_decimal(value)),
        DataType::RunEndEncoded(ends, values) => {
            narrow_decimal(ends.data_type()).or_else(|| narrow_decimal(values.data_type()))
        }
        _ => None,
    }
}

/// `Decimal128` of a narrow decimal's precision and scale.
fn widened_decimal(narrow: &DataType) -> DataType {
    match narrow {
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => DataType::Decimal128(*p, *s),
        other => other.clone(),
    }
}
