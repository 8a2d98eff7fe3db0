//! The JSON Schema of `canon.toml`, derived from the serde structs the loader parses
//! (`project::raw`), so that editors (taplo, Even Better TOML) complete tables and keys,
//! show each key's doc comment and flag mistakes while the file is written.
//!
//! The schema says what can be checked one value at a time: every table and key (unknown
//! ones are refused, as the loader refuses them), each value's type, the names an enum
//! accepts, the keys a format forbids, and the shapes of sizes, durations, timestamps and
//! URLs, written as patterns that accept what their parsers (bytesize, humantime, chrono,
//! url) accept; only values out of range (a 13th month, a duration that overflows) pass the
//! pattern and fail the loader. What needs the whole file or the engine stays the loader's
//! alone: SQL that parses, Arrow type names, locations that exist, key columns that are
//! declared, names declared twice, setting values DataFusion parses.
//!
//! The schema is committed as `schema/canon.schema.json` and printed by `canon schema`; a
//! test keeps the two equal.

use std::borrow::Cow;

use datafusion_common::config::{ConfigOptions, Dialect};
use schemars::generate::SchemaSettings;
use schemars::transform::{RecursiveTransform, Transform};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use crate::contract::Format;
use crate::model::ModelKind;
use crate::profile::owner_of_setting;
use crate::project::raw::RawProject;
use crate::store::StoreKind;

/// The schema's `$id`: a name for it, not an address it is served from.
const ID: &str = "urn:canon:schema:canon.toml";
/// The schema's `title`.
const TITLE: &str = "Canon project file (canon.toml)";
/// The prefix of the DataFusion settings `[profile.parquet]` holds.
const PARQUET_PREFIX: &str = "datafusion.execution.parquet.";

/// Text with something besides whitespace: the loader trims a value before calling it empty.
pub(crate) const NON_BLANK: &str = r"\S";
/// A lowercase SQL name, as declared functions, arguments and prepared statements need.
pub(crate) const LOWER_NAME: &str = "^[a-z_][a-z0-9_]*$";
/// A name DataFusion's `PARTITIONED BY` takes unquoted (`util::is_plain_identifier`).
pub(crate) const PLAIN_IDENTIFIER: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// A size as bytesize reads it after the loader trims it: bytes as an integer, or a number
/// and a unit (B, K/KB/KiB, M/MB/MiB, … up to E/EB/EiB, in any case).
const SIZE_PATTERN: &str =
    r"^\s*(?:\+?[0-9]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?:[KkMmGgTtPpEe][Ii]?[Bb]?|[Bb]))\s*$";

/// A duration as humantime reads it: "0", or numbers (with an optional fraction) each
/// followed by a unit, such as "30s", "1h 30m" or "1.5s".
const DURATION_PATTERN: &str = concat!(
    r"^(?:0|\s*(?:[0-9][0-9\s]*(?:\.\s*[0-9][0-9\s]*)?",
    r"(?:nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s",
    r"|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|wks|wk|w",
    r"|months|month|M|years|year|yrs|yr|y)\s*)+)$"
);

/// An RFC 3339 timestamp as chrono reads it: `T`, `t` or a space between date and time, an
/// optional fraction of a second, and `Z` or an offset.
const TIMESTAMP_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+−-][0-9]{2}:[0-9]{2})$";

/// The JSON Schema (draft 2020-12) of a Canon project file, as `canon schema` prints it
/// and `schema/canon.schema.json` holds it.
pub fn project_schema() -> Value {
    let mut schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<RawProject>();
    RecursiveTransform(tidy).transform(&mut schema);
    let mut value = schema.to_value();
    if let Some(root) = value.as_object_mut() {
        root.insert("$id".into(), ID.into());
        root.insert("title".into(), TITLE.into());
    }
    value
}

/// Fits what schemars derives to a TOML file read in an editor:
/// - TOML has no null (an unset key is absent), but schemars lets every `Option` be null:
///   null comes back out of types, enums and `anyOf`s;
/// - integer `format`s (`uint`, `uint32`) are Rust's, not JSON Schema's: editors would
///   call them unknown;
/// - doc comments are wrapped source lines: a description's paragraphs become one line each.
fn tidy(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::String(text)) = object.get_mut("description") {
        let paragraphs: Vec<String> = text
            .split("\n\n")
            .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        *text = paragraphs.join("\n\n");
    }
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            object.insert("type".into(), only);
        }
    }
    if object.get("type").is_some_and(|t| t == "integer") {
        object.remove("format");
    }
    if let Some(Value::Array(values)) = object.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if let Some(Value::Array(branches)) = object.get_mut("anyOf") {
        branches.retain(|branch| *branch != json!({ "type": "null" }));
        if branches.len() == 1
            && let Some(Value::Object(only)) = branches.pop()
        {
            object.remove("anyOf");
            for (key, value) in only {
                object.entry(key).or_insert(value);
            }
        }
    }
}

/// The dataset rules that depend on the format, and the keys every dataset needs although
/// serde lets them default (the loader asks for them).
pub(crate) fn dataset_rules(schema: &mut Schema) {
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        for key in ["location", "columns"] {
            if !required.iter().any(|k| k == key) {
                required.push(key.into());
            }
        }
    }
    // A unique key names each of its columns once.
    if let Some(Value::Object(key)) = schema.pointer_mut("/properties/unique/items") {
        key.insert("uniqueItems".into(), true.into());
    }
    let delta = Format::Delta.name();
    // Formats with no table options of their own (Arrow files); Delta's come from
    // [dataset.delta].
    let optionless: Vec<&str> = enum_values::<Format>()
        .iter()
        .filter_map(|name| Format::parse(name))
        .filter(|f| *f != Format::Delta && f.config_file_type().is_none())
        .map(Format::name)
        .collect();
    schema.insert(
        "allOf".into(),
        json!([
            {
                "if": { "properties": { "format": { "const": delta } }, "required": ["format"] },
                "then": {
                    "description": "A Delta table keeps its own schema history, sort order and \
                                    scan options: no evolution, ordered_by or options.",
                    "properties": {
                        "evolution": false,
                        "ordered_by": { "maxItems": 0 },
                        "options": { "maxProperties": 0 }
                    }
                },
                "else": {
                    "description": "[dataset.delta] is for datasets with format = \"delta\".",
                    "properties": { "delta": false }
                }
            },
            {
                "if": { "properties": { "format": { "enum": optionless } }, "required": ["format"] },
                "then": {
                    "description": "This format takes no scan options.",
                    "properties": { "options": { "maxProperties": 0 } }
                }
            }
        ]),
    );
}

/// The model rules serde cannot say: the query is `sql` or `sql_file`, never both; the
/// columns are required; a view stores nothing, and every other kind needs a location.
pub(crate) fn model_rules(schema: &mut Schema) {
    if let Some(Value::Array(required)) = schema.get_mut("required")
        && !required.iter().any(|k| k == "columns")
    {
        required.push("columns".into());
    }
    if let Some(Value::Object(key)) = schema.pointer_mut("/properties/unique/items") {
        key.insert("uniqueItems".into(), true.into());
    }
    let view = ModelKind::View.name();
    schema.insert(
        "oneOf".into(),
        json!([{ "required": ["sql"] }, { "required": ["sql_file"] }]),
    );
    schema.insert(
        "if".into(),
        json!({ "properties": { "kind": { "const": view } }, "required": ["kind"] }),
    );
    schema.insert(
        "then".into(),
        json!({
            "description": "A view stores nothing: no format, location, partitioning or Delta options.",
            "properties": {
                "format": false,
                "location": false,
                "partitioned_by": { "maxItems": 0 },
                "delta": false
            }
        }),
    );
    schema.insert("else".into(), json!({ "required": ["location"] }));
    let (append, merge) = (ModelKind::Append.name(), ModelKind::Merge.name());
    schema.insert(
        "allOf".into(),
        json!([
            {
                "if": { "properties": { "kind": { "const": append } }, "required": ["kind"] },
                "then": {
                    "description": "An append model reads only new rows: it needs `incremental` and a primary key.",
                    "required": ["incremental", "primary_key"]
                }
            },
            {
                "if": { "properties": { "kind": { "const": merge } }, "required": ["kind"] },
                "then": {
                    "description": "A merge model merges rows by their primary key.",
                    "required": ["primary_key"]
                }
            },
            {
                "if": { "properties": { "kind": { "const": append } }, "required": ["kind"] },
                "then": {
                    "description": "An append model finds its new rows by a column, not by a change feed.",
                    "properties": { "incremental": { "properties": { "changes": false } } }
                }
            },
            {
                "if": { "properties": { "kind": { "enum": [append, merge] } }, "required": ["kind"] },
                "else": {
                    "description": "Only append and merge models are incremental.",
                    "properties": { "incremental": false }
                }
            }
        ]),
    );
}

/// An incremental model reads either past a watermark column or a change feed.
pub(crate) fn incremental_rules(schema: &mut Schema) {
    schema.insert(
        "oneOf".into(),
        json!([
            {
                "description": "New rows from a column whose values only grow.",
                "required": ["column"],
                "properties": { "changes": false }
            },
            {
                "description": "New, changed and deleted rows from the upstream's Change Data Feed.",
                "required": ["changes"],
                "properties": { "changes": { "const": true }, "column": false, "lookback": false }
            }
        ]),
    );
}

/// The string values an enum's schema allows, in order (`enum`, or `oneOf` of `const`s).
pub(crate) fn enum_values<T: JsonSchema>() -> Vec<String> {
    let schema = SchemaGenerator::default().into_root_schema_for::<T>();
    let strings = |values: &Value| -> Vec<String> {
        values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    if let Some(values) = schema.get("enum") {
        return strings(values);
    }
    schema
        .get("oneOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|branch| branch.get("const").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// A regex alternative that matches `word` in any ASCII case (JSON Schema patterns have no
/// case-insensitive flag).
fn any_case(word: &str) -> String {
    word.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
            } else {
                regex_escape(c)
            }
        })
        .collect()
}

fn regex_escape(c: char) -> String {
    if r"\.+*?()|[]{}^$-/".contains(c) {
        format!(r"\{c}")
    } else {
        c.to_string()
    }
}

/// A size in bytes, written as text.
pub(crate) struct ByteSize;

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A size: bytes (\"1048576\", \"0\"), or a number and a unit: \
                            \"64MiB\", \"4GiB\", \"1.5GB\", \"512KiB\".",
            "pattern": SIZE_PATTERN,
            "examples": ["64MiB", "4GiB", "0"]
        })
    }
}

/// A length of time, written as text.
pub(crate) struct Duration;

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration: numbers with units, such as \"500ms\", \"30s\", \"5m\", \
                            \"1h 30m\" or \"2days\".",
            "pattern": DURATION_PATTERN,
            "examples": ["30s", "5m", "1h"]
        })
    }
}

/// A point in time, written as RFC 3339 text.
pub(crate) struct Timestamp;

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "An RFC 3339 timestamp with a zone, such as \"2026-01-01T00:00:00Z\" \
                            or \"2026-01-01T09:30:00+02:00\".",
            "pattern": TIMESTAMP_PATTERN
        })
    }
}

/// One value of an option table: the loader passes it on as text.
pub(crate) struct Scalar;

impl JsonSchema for Scalar {
    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A string, number or boolean, passed on as text.",
            "type": ["string", "number", "boolean"]
        })
    }
}

/// One value of a store's `options`.
pub(crate) struct StoreOptionValue;

impl JsonSchema for StoreOptionValue {
    fn schema_name() -> Cow<'static, str> {
        "StoreOptionValue".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A string, integer or boolean, passed on as text.",
            "type": ["string", "integer", "boolean"]
        })
    }
}

/// A `[[store]]` URL: a scheme that names an object store (`StoreKind::schemes`).
pub(crate) struct StoreUrl;

impl JsonSchema for StoreUrl {
    fn schema_name() -> Cow<'static, str> {
        "StoreUrl".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let schemes: Vec<&str> = StoreKind::schemes().collect();
        let any_case_schemes: Vec<String> = schemes.iter().map(|s| any_case(s)).collect();
        json_schema!({
            "type": "string",
            "description": format!(
                "A bucket, container or host, without a path: {}://, then its name.",
                schemes.join("://, ")
            ),
            "pattern": format!(r"^\s*(?:{})://", any_case_schemes.join("|")),
            "examples": ["s3://bucket", "az://container", "gs://bucket", "https://host"]
        })
    }
}

/// A worker's address: workers speak plain HTTP/2.
pub(crate) struct WorkerUrl;

impl JsonSchema for WorkerUrl {
    fn schema_name() -> Cow<'static, str> {
        "WorkerUrl".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A worker's address, http://host:port (never https://, never with \
                            credentials).",
            "pattern": format!(r"^\s*{}://", any_case("http")),
            "examples": ["http://worker-1:50061"]
        })
    }
}

/// A dialect DataFusion's parser knows, by its name or an alias, in any case.
pub(crate) struct DialectName;

impl JsonSchema for DialectName {
    fn schema_name() -> Cow<'static, str> {
        "Dialect".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = Dialect::metadata()
            .iter()
            .flat_map(|info| {
                std::iter::once(info.canonical_name).chain(info.aliases.iter().copied())
            })
            .collect();
        let any_case_names: Vec<String> = names.iter().map(|n| any_case(n)).collect();
        json_schema!({
            "type": "string",
            "description": format!("A SQL dialect of DataFusion's parser, in any case: {}.", Dialect::available()),
            // The enum is what editors offer; the pattern accepts the other cases too.
            "anyOf": [
                { "enum": names },
                { "pattern": format!("^(?:{})$", any_case_names.join("|")) }
            ]
        })
    }
}

/// `[profile.settings]`: DataFusion's settings by full key, except those Canon sets itself.
pub(crate) struct DataFusionSettings;

impl JsonSchema for DataFusionSettings {
    fn schema_name() -> Cow<'static, str> {
        "DataFusionSettings".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        settings_schema(generator, |key| {
            owner_of_setting(key).is_none().then_some(key)
        })
    }
}

/// `[profile.parquet]`: DataFusion's `datafusion.execution.parquet.*` settings, without the
/// prefix.
pub(crate) struct ParquetSettings;

impl JsonSchema for ParquetSettings {
    fn schema_name() -> Cow<'static, str> {
        "ParquetSettings".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        settings_schema(generator, |key| key.strip_prefix(PARQUET_PREFIX))
    }
}

/// A table of DataFusion settings: the keys `name` maps a setting's full key to (`None`
/// leaves it out), each with DataFusion's own description. DataFusion checks the values.
fn settings_schema(generator: &mut SchemaGenerator, name: impl Fn(&str) -> Option<&str>) -> Schema {
    let mut properties = Map::new();
    for entry in ConfigOptions::new().entries() {
        if let Some(key) = name(&entry.key) {
            let mut value = generator.subschema_for::<Scalar>();
            value.insert("description".into(), entry.description.into());
            properties.insert(key.to_string(), value.to_value());
        }
    }
    json_schema!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::IdentifierCase;
    use crate::evolution::MissingPolicy;
    use crate::profile::{MemoryPoolKind, OnWriteError};

    /// The committed schema is the generated one: editors read the file, so it must not
    /// drift from the model.
    #[test]
    fn committed_schema_is_generated() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../schema/canon.schema.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let committed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(
            committed == project_schema(),
            "schema/canon.schema.json is not the schema the model generates; regenerate it \
             with `canon schema > schema/canon.schema.json` (cargo run -p canon-cli -- schema)"
        );
    }

    /// Every name an enum's schema offers is one the loader reads as that enum.
    #[test]
    fn enum_names_are_the_loaders() {
        for name in enum_values::<Format>() {
            assert_eq!(Format::parse(&name).map(Format::name), Some(name.as_str()));
        }
        for name in enum_values::<OnWriteError>() {
            assert_eq!(
                OnWriteError::from_name(&name).map(OnWriteError::name),
                Some(name.as_str())
            );
        }
        for name in enum_values::<IdentifierCase>() {
            assert_eq!(
                IdentifierCase::from_name(&name).map(IdentifierCase::name),
                Some(name.as_str())
            );
        }
        for name in enum_values::<MemoryPoolKind>() {
            let parsed: Result<MemoryPoolKind, _> =
                serde_json::from_value(Value::from(name.clone()));
            assert_eq!(parsed.ok().map(MemoryPoolKind::name), Some(name.as_str()));
        }
        for name in enum_values::<MissingPolicy>() {
            let parsed: Result<MissingPolicy, _> =
                serde_json::from_value(Value::from(name.clone()));
            assert!(parsed.is_ok(), "{name}");
        }
    }

    /// No `null` type or value anywhere: TOML cannot write one.
    #[test]
    fn schema_has_no_null() {
        fn check(value: &Value, at: &str) {
            match value {
                Value::Null => panic!("null at {at}"),
                Value::Object(object) => {
                    if let Some(t) = object.get("type") {
                        assert!(
                            t != "null"
                                && !t.as_array().is_some_and(|a| a.iter().any(|t| t == "null")),
                            "null type at {at}"
                        );
                    }
                    for (key, value) in object {
                        check(value, &format!("{at}/{key}"));
                    }
                }
                Value::Array(values) => {
                    for (i, value) in values.iter().enumerate() {
                        check(value, &format!("{at}/{i}"));
                    }
                }
                _ => {}
            }
        }
        check(&project_schema(), "");
    }
}
