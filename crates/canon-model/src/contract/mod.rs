//! Dataset contracts: what a dataset is (columns, types, layout, scan options) and its
//! canonical `CREATE EXTERNAL TABLE` rendering.

mod ddl;
mod types;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion_common::config::ConfigFileType;
use sha2::{Digest, Sha256};

use crate::delta::DeltaSpec;
use crate::evolution::EvolutionSpec;
use crate::util::hex;

pub use types::sql_type;

/// The file formats a dataset can be stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[schemars(rename_all = "lowercase")]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Comma (or otherwise) separated values.
    Csv,
    /// Newline-delimited JSON.
    Json,
    /// Arrow IPC files.
    Arrow,
    /// A Delta Lake table, read and written through delta-rs.
    Delta,
}

impl Format {
    /// Parses a format name as written in `canon.toml`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "parquet" => Some(Self::Parquet),
            "csv" => Some(Self::Csv),
            "json" => Some(Self::Json),
            "arrow" => Some(Self::Arrow),
            "delta" => Some(Self::Delta),
            _ => None,
        }
    }

    /// The name used in `canon.toml` and system tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Arrow => "arrow",
            Self::Delta => "delta",
        }
    }

    /// The `STORED AS` keyword DataFusion knows this format by.
    pub fn stored_as(self) -> &'static str {
        match self {
            Self::Parquet => "PARQUET",
            Self::Csv => "CSV",
            Self::Json => "JSON",
            Self::Arrow => "ARROW",
            Self::Delta => crate::delta::STORED_AS,
        }
    }

    /// The table-options namespace of this format; Arrow files take no format options,
    /// Delta tables take theirs from `[dataset.delta]`.
    pub fn config_file_type(self) -> Option<ConfigFileType> {
        match self {
            Self::Parquet => Some(ConfigFileType::PARQUET),
            Self::Csv => Some(ConfigFileType::CSV),
            Self::Json => Some(ConfigFileType::JSON),
            Self::Arrow | Self::Delta => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One column of a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    /// Column name, case-sensitive.
    pub name: String,
    /// The exact Arrow type the table exposes.
    pub data_type: DataType,
    /// Whether the column may hold nulls.
    pub nullable: bool,
    /// Labels of what the column holds (`pii`, …); they follow the data into every model
    /// computed from it, which must declare them too.
    pub tags: Vec<String>,
}

/// One key of a dataset's declared sort order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// The sorted column.
    pub column: String,
    /// `DESC` when true.
    pub descending: bool,
    /// `NULLS FIRST` when true.
    pub nulls_first: bool,
}

/// Where in the project file a dataset was declared, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The project file.
    pub file: String,
    /// 1-based line of the dataset's table.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A validated dataset contract.
#[derive(Debug, Clone)]
pub struct DatasetSpec {
    /// Table name the dataset is registered under.
    pub name: String,
    /// Storage format.
    pub format: Format,
    /// The location as written in the project file.
    pub declared_location: String,
    /// The location DataFusion reads: an absolute path (directories end in `/`) or a URL.
    pub location: String,
    /// Hive-style partition columns, in directory order; always the trailing columns.
    pub partitioned_by: Vec<String>,
    /// The order rows are known to be sorted in within each file.
    pub ordered_by: Vec<SortKey>,
    /// Per-table scan options, with canonical `format.`-prefixed lowercase keys.
    pub options: BTreeMap<String, String>,
    /// Every column, in table order.
    pub columns: Vec<ColumnSpec>,
    /// How files written under older schemas are read; `None` means they must match.
    pub evolution: Option<EvolutionSpec>,
    /// SQL boolean expressions every row must satisfy (NULL counts as satisfied).
    pub constraints: Vec<String>,
    /// The columns whose values identify a row: unique, never NULL; empty when none is
    /// declared. DataFusion plans with it (functional dependencies); `canon check` verifies it.
    pub primary_key: Vec<String>,
    /// Further column sets whose values are unique where none of them is NULL.
    pub unique: Vec<Vec<String>>,
    /// How a Delta dataset is scanned and created; `Some` exactly for `format = "delta"`.
    pub delta: Option<DeltaSpec>,
    /// Where the dataset is declared.
    pub origin: Origin,
}

impl DatasetSpec {
    /// The exact Arrow schema the registered table must expose.
    pub fn schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| Field::new(&c.name, c.data_type.clone(), c.nullable))
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The columns stored inside the data files (all but the partition columns).
    pub fn file_columns(&self) -> impl Iterator<Item = &ColumnSpec> {
        self.columns
            .iter()
            .filter(|c| !self.partitioned_by.contains(&c.name))
    }

    /// The rules files are read under: the declared ones, or strict when none are.
    pub fn read_rules(&self) -> EvolutionSpec {
        self.evolution.clone().unwrap_or_else(EvolutionSpec::strict)
    }

    /// The canonical, deterministic `CREATE EXTERNAL TABLE` statement for this dataset.
    pub fn ddl(&self) -> String {
        ddl::render(self)
    }

    /// A stable hash of the contract schema (names, types, nullability, order).
    pub fn schema_fingerprint(&self) -> String {
        schema_fingerprint(&self.schema())
    }
}

/// A stable hex SHA-256 over a schema's fields, independent of metadata.
pub fn schema_fingerprint(schema: &Schema) -> String {
    let mut hasher = Sha256::new();
    for field in schema.fields() {
        hasher.update(field.name().as_bytes());
        hasher.update(b"\t");
        hasher.update(field.data_type().to_string().as_bytes());
        hasher.update(if field.is_nullable() {
            "\tnull\n"
        } else {
            "\tnot null\n"
        });
    }
    hex(&hasher.finalize())
}

/// Every way `actual` differs from the contract's schema, in column order.
pub fn schema_diffs(contract: &Schema, actual: &Schema) -> Vec<String> {
    let mut diffs = Vec::new();
    if contract.fields().len() != actual.fields().len() {
        diffs.push(format!(
            "{} columns, contract has {}",
            actual.fields().len(),
            contract.fields().len()
        ));
    }
    for (i, (c, r)) in contract.fields().iter().zip(actual.fields()).enumerate() {
        if c.name() != r.name() {
            diffs.push(format!(
                "column {i} is `{}`, contract says `{}`",
                r.name(),
                c.name()
            ));
        } else if c.data_type() != r.data_type() {
            diffs.push(format!(
                "column `{}` is {}, contract says {}",
                c.name(),
                r.data_type(),
                c.data_type()
            ));
        } else if c.is_nullable() != r.is_nullable() {
            let null = |n: bool| if n { "nullable" } else { "NOT NULL" };
            diffs.push(format!(
                "column `{}` is {}, contract says {}",
                c.name(),
                null(r.is_nullable()),
                null(c.is_nullable())
            ));
        }
    }
    diffs
}
