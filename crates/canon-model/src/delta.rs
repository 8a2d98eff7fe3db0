//! The Delta part of a contract (`[dataset.delta]`) and its round trip through the DDL's
//! `OPTIONS (…)`, so that a Delta dataset registers through the same DDL path as any other;
//! and Delta Lake's type system, so that a contract declares only types a Delta table
//! stores and reads back unchanged.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, TimeUnit};
use serde::Serialize;

/// The `STORED AS` keyword of Delta datasets.
pub const STORED_AS: &str = "DELTA";

/// Which version of a Delta table a dataset reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeTravel {
    /// Exactly this table version.
    Version(u64),
    /// The latest version committed at or before this RFC 3339 instant.
    Timestamp(String),
}

/// How a Delta dataset is scanned and created, from `[dataset.delta]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeltaSpec {
    /// Name of an extra column holding each row's source file path.
    pub file_column: Option<String>,
    /// Push filters into the parquet scan, not only into file pruning.
    pub parquet_pushdown: bool,
    /// Read strings and binaries as `Utf8View` / `BinaryView`.
    pub view_types: bool,
    /// Read string partition values dictionary-encoded.
    pub wrap_partition_values: bool,
    /// A pinned version or timestamp; `None` reads the latest version at every scan.
    pub time_travel: Option<TimeTravel>,
    /// Whether the table is created with the Change Data Feed enabled.
    pub change_data_feed: bool,
}

impl Default for DeltaSpec {
    fn default() -> Self {
        Self {
            file_column: None,
            parquet_pushdown: true,
            view_types: false,
            wrap_partition_values: true,
            time_travel: None,
            change_data_feed: false,
        }
    }
}

const FILE_COLUMN: &str = "delta.file_column";
const PARQUET_PUSHDOWN: &str = "delta.parquet_pushdown";
const VIEW_TYPES: &str = "delta.view_types";
const WRAP_PARTITION_VALUES: &str = "delta.wrap_partition_values";
const VERSION: &str = "delta.version";
const TIMESTAMP: &str = "delta.timestamp";
const CHANGE_DATA_FEED: &str = "delta.change_data_feed";

impl DeltaSpec {
    /// The DDL options for this spec: every setting explicit, so the DDL says it all.
    pub fn to_options(&self) -> BTreeMap<String, String> {
        let mut options = BTreeMap::new();
        let mut set = |key: &str, value: String| options.insert(key.to_string(), value);
        if let Some(column) = &self.file_column {
            set(FILE_COLUMN, column.clone());
        }
        set(PARQUET_PUSHDOWN, self.parquet_pushdown.to_string());
        set(VIEW_TYPES, self.view_types.to_string());
        set(
            WRAP_PARTITION_VALUES,
            self.wrap_partition_values.to_string(),
        );
        set(CHANGE_DATA_FEED, self.change_data_feed.to_string());
        match &self.time_travel {
            Some(TimeTravel::Version(v)) => set(VERSION, v.to_string()),
            Some(TimeTravel::Timestamp(t)) => set(TIMESTAMP, t.clone()),
            None => None,
        };
        options
    }

    /// Reads a spec back from `CREATE EXTERNAL TABLE … STORED AS DELTA OPTIONS (…)`;
    /// unknown keys and malformed values are refused, naming the key.
    pub fn from_options(options: &HashMap<String, String>) -> Result<Self, String> {
        let mut spec = Self::default();
        let mut keys: Vec<&String> = options.keys().collect();
        keys.sort();
        for key in keys {
            let value = &options[key];
            let flag = || {
                value
                    .parse::<bool>()
                    .map_err(|_| format!("option `{key}` must be true or false, not `{value}`"))
            };
            match key.as_str() {
                FILE_COLUMN => spec.file_column = Some(value.clone()),
                PARQUET_PUSHDOWN => spec.parquet_pushdown = flag()?,
                VIEW_TYPES => spec.view_types = flag()?,
                WRAP_PARTITION_VALUES => spec.wrap_partition_values = flag()?,
                CHANGE_DATA_FEED => spec.change_data_feed = flag()?,
                VERSION => {
                    let version = value.parse().map_err(|_| {
                        format!("option `{key}` must be a table version number, not `{value}`")
                    })?;
                    spec.pin(TimeTravel::Version(version))?;
                }
                TIMESTAMP => {
                    check_timestamp(value).map_err(|e| format!("option `{key}`: {e}"))?;
                    spec.pin(TimeTravel::Timestamp(value.clone()))?;
                }
                other => {
                    return Err(format!(
                        "unknown Delta option `{other}`; expected one of {}",
                        [
                            CHANGE_DATA_FEED,
                            FILE_COLUMN,
                            PARQUET_PUSHDOWN,
                            TIMESTAMP,
                            VERSION,
                            VIEW_TYPES,
                            WRAP_PARTITION_VALUES
                        ]
                        .join(", ")
                    ));
                }
            }
        }
        Ok(spec)
    }

    fn pin(&mut self, travel: TimeTravel) -> Result<(), String> {
        if self.time_travel.is_some() {
            return Err(
                "a Delta dataset reads either a `version` or a `timestamp`, not both".into(),
            );
        }
        self.time_travel = Some(travel);
        Ok(())
    }
}

/// Checks an RFC 3339 instant as delta-rs will read it.
pub fn check_timestamp(value: &str) -> Result<(), String> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|_| ())
        .map_err(|e| {
            format!("`{value}` is not an RFC 3339 timestamp like 2026-01-01T00:00:00Z: {e}")
        })
}

/// The Arrow type a Delta table stores `data_type` as, and so reads it back as; an error
/// says why Delta Lake has no type for it.
///
/// This is the Delta protocol's type system as delta-rs's kernel maps it to Arrow (strings,
/// binaries and lists in their one Delta form, unsigned integers as signed, microsecond
/// timestamps either without zone or in UTC, decimals up to 38 digits). The runtime's Delta
/// tests check it against the kernel's own conversion.
pub fn delta_read_type(data_type: &DataType) -> Result<DataType, String> {
    use DataType as D;
    Ok(match data_type {
        D::Utf8 | D::LargeUtf8 | D::Utf8View => D::Utf8,
        D::Int8 | D::UInt8 => D::Int8,
        D::Int16 | D::UInt16 => D::Int16,
        D::Int32 | D::UInt32 => D::Int32,
        D::Int64 | D::UInt64 => D::Int64,
        D::Null | D::Float32 | D::Float64 | D::Boolean => data_type.clone(),
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => D::Binary,
        D::Decimal128(precision, scale) => {
            if *scale < 0 {
                return Err("negative decimal scales are not supported in Delta".into());
            }
            if *precision == 0 || *precision > 38 || i16::from(*scale) > i16::from(*precision) {
                return Err(format!(
                    "Delta decimals have a precision of 1 to 38 and a scale of at most the                      precision, not ({precision}, {scale})"
                ));
            }
            data_type.clone()
        }
        D::Date32 | D::Date64 => D::Date32,
        D::Timestamp(TimeUnit::Second, _) => {
            return Err("Delta timestamps have millisecond or finer units".into());
        }
        D::Timestamp(_, None) => D::Timestamp(TimeUnit::Microsecond, None),
        D::Timestamp(_, Some(zone)) if zone.eq_ignore_ascii_case("utc") => {
            D::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        D::Timestamp(_, Some(zone)) => {
            return Err(format!(
                "Delta timestamps are without zone or in UTC, not in `{zone}`"
            ));
        }
        D::Struct(fields) => {
            let fields = fields
                .iter()
                .map(|f| {
                    delta_read_type(f.data_type()).map(|t| field(f.name(), t, f.is_nullable()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            D::Struct(Fields::from(fields))
        }
        D::List(item)
        | D::ListView(item)
        | D::LargeList(item)
        | D::LargeListView(item)
        | D::FixedSizeList(item, _) => D::List(Arc::new(field(
            "element",
            delta_read_type(item.data_type())?,
            item.is_nullable(),
        ))),
        D::Map(entries, _) => {
            let D::Struct(kv) = entries.data_type() else {
                return Err("a map's entries must be a struct of key and value".into());
            };
            let [key, value] = kv.iter().collect::<Vec<_>>()[..] else {
                return Err("a map's entries must be a struct of key and value".into());
            };
            let entries = D::Struct(Fields::from(vec![
                field("key", delta_read_type(key.data_type())?, false),
                field(
                    "value",
                    delta_read_type(value.data_type())?,
                    value.is_nullable(),
                ),
            ]));
            D::Map(Arc::new(field("key_value", entries, false)), false)
        }
        D::Dictionary(_, values) => delta_read_type(values)?,
        other => return Err(format!("Delta Lake has no type for {other}")),
    })
}

fn field(name: &str, data_type: DataType, nullable: bool) -> Field {
    Field::new(name, data_type, nullable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip() {
        let spec = DeltaSpec {
            file_column: Some("_file".into()),
            parquet_pushdown: false,
            view_types: true,
            wrap_partition_values: false,
            time_travel: Some(TimeTravel::Version(12)),
            change_data_feed: true,
        };
        let options: HashMap<String, String> = spec.to_options().into_iter().collect();
        assert_eq!(DeltaSpec::from_options(&options), Ok(spec));
        let mut both = options.clone();
        both.insert(TIMESTAMP.into(), "2026-01-01T00:00:00Z".into());
        assert!(
            DeltaSpec::from_options(&both)
                .unwrap_err()
                .contains("not both")
        );
        let mut unknown = options;
        unknown.insert("delta.vesion".into(), "1".into());
        assert!(
            DeltaSpec::from_options(&unknown)
                .unwrap_err()
                .contains("delta.vesion")
        );
    }
}
