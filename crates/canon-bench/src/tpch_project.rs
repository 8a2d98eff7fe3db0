//! The Canon project for generated TPC-H data: one contract per table with the types
//! `tpchgen-cli` writes, and sort orders only where the files are checked to be sorted.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

use canon::datafusion::arrow::array::{Array, Int64Array};
use canon::datafusion::arrow::compute::cast;
use canon::datafusion::arrow::datatypes::DataType;
use canon::datafusion::parquet::arrow::ProjectionMask;
use canon::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::BenchResult;

/// One TPC-H table: its columns as (name, Arrow type) and the key it is generated in.
pub struct TableSpec {
    pub name: &'static str,
    pub columns: &'static [(&'static str, &'static str)],
    /// Columns the generator emits rows in ascending order of, within each file.
    pub sort_key: &'static [&'static str],
    /// The table's primary key in the TPC-H specification (clause 1.4.2.2).
    pub primary_key: &'static [&'static str],
}

const MONEY: &str = "Decimal128(15, 2)";
const TEXT: &str = "Utf8View";

/// The eight tables as `tpchgen-cli` (tpchgen-arrow 4) writes them: keys `Int64`, money
/// `DECIMAL(15,2)`, dates `Date32`, text `Utf8View`, every column NOT NULL.
pub const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "lineitem",
        columns: &[
            ("l_orderkey", "Int64"),
            ("l_partkey", "Int64"),
            ("l_suppkey", "Int64"),
            ("l_linenumber", "Int32"),
            ("l_quantity", MONEY),
            ("l_extendedprice", MONEY),
            ("l_discount", MONEY),
            ("l_tax", MONEY),
            ("l_returnflag", TEXT),
            ("l_linestatus", TEXT),
            ("l_shipdate", "Date32"),
            ("l_commitdate", "Date32"),
            ("l_receiptdate", "Date32"),
            ("l_shipinstruct", TEXT),
            ("l_shipmode", TEXT),
            ("l_comment", TEXT),
        ],
        sort_key: &["l_orderkey", "l_linenumber"],
        primary_key: &["l_orderkey", "l_linenumber"],
    },
    TableSpec {
        name: "orders",
        columns: &[
            ("o_orderkey", "Int64"),
            ("o_custkey", "Int64"),
            ("o_orderstatus", TEXT),
            ("o_totalprice", MONEY),
            ("o_orderdate", "Date32"),
            ("o_orderpriority", TEXT),
            ("o_clerk", TEXT),
            ("o_shippriority", "Int32"),
            ("o_comment", TEXT),
        ],
        sort_key: &["o_orderkey"],
        primary_key: &["o_orderkey"],
    },
    TableSpec {
        name: "customer",
        columns: &[
            ("c_custkey", "Int64"),
            ("c_name", TEXT),
            ("c_address", TEXT),
            ("c_nationkey", "Int64"),
            ("c_phone", TEXT),
            ("c_acctbal", MONEY),
            ("c_mktsegment", TEXT),
            ("c_comment", TEXT),
        ],
        sort_key: &["c_custkey"],
        primary_key: &["c_custkey"],
    },
    TableSpec {
        name: "part",
        columns: &[
            ("p_partkey", "Int64"),
            ("p_name", TEXT),
            ("p_mfgr", TEXT),
            ("p_brand", TEXT),
            ("p_type", TEXT),
            ("p_size", "Int32"),
            ("p_container", TEXT),
            ("p_retailprice", MONEY),
            ("p_comment", TEXT),
        ],
        sort_key: &["p_partkey"],
        primary_key: &["p_partkey"],
    },
    TableSpec {
        name: "partsupp",
        columns: &[
            ("ps_partkey", "Int64"),
            ("ps_suppkey", "Int64"),
            ("ps_availqty", "Int32"),
            ("ps_supplycost", MONEY),
            ("ps_comment", TEXT),
        ],
        // ps_suppkey is a hash of the part key, not ascending within a part.
        sort_key: &["ps_partkey"],
        primary_key: &["ps_partkey", "ps_suppkey"],
    },
    TableSpec {
        name: "supplier",
        columns: &[
            ("s_suppkey", "Int64"),
            ("s_name", TEXT),
            ("s_address", TEXT),
            ("s_nationkey", "Int64"),
            ("s_phone", TEXT),
            ("s_acctbal", MONEY),
            ("s_comment", TEXT),
        ],
        sort_key: &["s_suppkey"],
        primary_key: &["s_suppkey"],
    },
    TableSpec {
        name: "nation",
        columns: &[
            ("n_nationkey", "Int64"),
            ("n_name", TEXT),
            ("n_regionkey", "Int64"),
            ("n_comment", TEXT),
        ],
        sort_key: &["n_nationkey"],
        primary_key: &["n_nationkey"],
    },
    TableSpec {
        name: "region",
        columns: &[
            ("r_regionkey", "Int64"),
            ("r_name", TEXT),
            ("r_comment", TEXT),
        ],
        sort_key: &["r_regionkey"],
        primary_key: &["r_regionkey"],
    },
];

/// The parquet files of one table directory, in name order.
pub fn table_files(data: &Path, table: &str) -> BenchResult<Vec<PathBuf>> {
    let dir = data.join(table);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no parquet files in {}", dir.display()).into());
    }
    Ok(files)
}

/// Whether every file of the table holds its rows in ascending order of `key`.
///
/// `WITH ORDER` is a promise DataFusion does not check; declaring an order the files do
/// not have gives wrong results, so each key is read back before it goes in the contract.
pub fn is_sorted(files: &[PathBuf], key: &[&str]) -> BenchResult<bool> {
    for file in files {
        let builder = ParquetRecordBatchReaderBuilder::try_new(
            File::open(file).map_err(|e| format!("opening {}: {e}", file.display()))?,
        )?;
        let parquet_schema = builder.parquet_schema();
        let indices = key
            .iter()
            .map(|k| {
                parquet_schema
                    .columns()
                    .iter()
                    .position(|c| c.name() == *k)
                    .ok_or_else(|| format!("{} has no column {k}", file.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mask = ProjectionMask::leaves(parquet_schema, indices.iter().copied());
        let reader = builder.with_projection(mask).build()?;
        let mut previous: Option<Vec<i64>> = None;
        for batch in reader {
            let batch = batch?;
            // The projected batch holds the key columns in file order; reorder to `key`.
            let columns = key
                .iter()
                .map(|k| {
                    let column = batch
                        .column_by_name(k)
                        .ok_or_else(|| format!("{} has no column {k}", file.display()))?;
                    let ints = cast(column, &DataType::Int64)?;
                    Ok(ints
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .ok_or("cast to Int64 gave another type")?
                        .clone())
                })
                .collect::<BenchResult<Vec<_>>>()?;
            for row in 0..batch.num_rows() {
                let current: Vec<i64> = columns.iter().map(|c| c.value(row)).collect();
                if previous.as_ref().is_some_and(|p| *p > current) {
                    return Ok(false);
                }
                previous = Some(current);
            }
        }
    }
    Ok(true)
}

/// Renders the project: default profile, read-only policy, one contract per table.
/// `sorted[i]` says whether `TABLES[i]`'s sort key was verified; `keys` declares TPC-H's
/// primary keys.
pub fn render(sorted: &[bool], keys: bool) -> String {
    let mut out = String::from(
        "# Generated by canon-bench for TPC-H parquet from tpchgen-cli; locations are\n\
         # relative to this file. Types are those tpchgen-cli writes; sort orders are\n\
         # declared only where canon-bench read the files back and found them sorted;\n\
         # primary keys are TPC-H's own, which `canon check` verifies.\n\
         # No partitioning: the generator writes no partition columns, and TPC-H's\n\
         # filters are ranges on dates that file statistics already prune.\n\n\
         [project]\nname = \"tpch\"\n\n[profile]\ntarget_partitions = 0\n",
    );
    for (table, sorted) in TABLES.iter().zip(sorted) {
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "\n[[dataset]]\nname = \"{}\"\nformat = \"parquet\"\nlocation = \"{}/\"\n",
            table.name, table.name
        );
        if *sorted {
            let keys: Vec<String> = table
                .sort_key
                .iter()
                .map(|k| format!("\"{k} ASC\""))
                .collect();
            let _ = writeln!(out, "ordered_by = [{}]", keys.join(", "));
        }
        if keys {
            let key: Vec<String> = table
                .primary_key
                .iter()
                .map(|k| format!("\"{k}\""))
                .collect();
            let _ = writeln!(out, "primary_key = [{}]", key.join(", "));
        }
        out.push_str("columns = [\n");
        for (name, ty) in table.columns {
            let _ = writeln!(
                out,
                "  {{ name = \"{name}\", type = \"{ty}\", nullable = false }},"
            );
        }
        out.push_str("]\n");
    }
    out
}
