//! Flight SQL's metadata answers, from what the caller's session can see: catalogs,
//! schemas, tables with their columns, primary keys (the contracts'), table types,
//! SqlInfo and the XDBC type list.

use std::sync::{Arc, LazyLock};

use arrow_flight::error::FlightError;
use arrow_flight::sql::metadata::{
    SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetPrimaryKeys, CommandGetTableTypes,
    CommandGetTables, Nullable, Searchable, SqlInfo, XdbcDataType,
};
use canon::datafusion::arrow::array::{ArrayRef, Int32Array, StringArray};
use canon::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use canon::datafusion::arrow::record_batch::RecordBatch;
use canon::session::{TableEntry, TableKind};

/// The table types Canon lists.
const TABLE_KINDS: [TableKind; 4] = [
    TableKind::Table,
    TableKind::View,
    TableKind::System,
    TableKind::Temporary,
];

/// What the server says of itself to `GetSqlInfo`.
pub static SQL_INFO: LazyLock<Result<SqlInfoData, FlightError>> = LazyLock::new(|| {
    let mut info = SqlInfoDataBuilder::new();
    info.append(SqlInfo::FlightSqlServerName, "Canon");
    info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    info.append(SqlInfo::FlightSqlServerArrowVersion, "59");
    info.append(SqlInfo::FlightSqlServerReadOnly, false);
    info.append(SqlInfo::FlightSqlServerSql, true);
    info.append(SqlInfo::FlightSqlServerSubstrait, false);
    // 0: no transactions; statements commit one by one (Delta commits are atomic).
    info.append(SqlInfo::FlightSqlServerTransaction, 0i32);
    info.append(SqlInfo::FlightSqlServerCancel, false);
    info.append(SqlInfo::SqlDdlCatalog, false);
    info.append(SqlInfo::SqlDdlSchema, false);
    info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    info.build()
});

/// The SQL types Canon's SQL accepts, for `GetXdbcTypeInfo`.
pub static XDBC_INFO: LazyLock<Result<XdbcTypeInfoData, FlightError>> = LazyLock::new(|| {
    let mut types = XdbcTypeInfoDataBuilder::new();
    for (name, data_type, literal) in [
        ("BOOLEAN", XdbcDataType::XdbcBit, None),
        ("TINYINT", XdbcDataType::XdbcTinyint, None),
        ("SMALLINT", XdbcDataType::XdbcSmallint, None),
        ("INTEGER", XdbcDataType::XdbcInteger, None),
        ("BIGINT", XdbcDataType::XdbcBigint, None),
        ("REAL", XdbcDataType::XdbcReal, None),
        ("DOUBLE", XdbcDataType::XdbcDouble, None),
        ("DECIMAL", XdbcDataType::XdbcDecimal, None),
        ("VARCHAR", XdbcDataType::XdbcVarchar, Some("'")),
        ("VARBINARY", XdbcDataType::XdbcVarbinary, None),
        ("DATE", XdbcDataType::XdbcDate, Some("'")),
        ("TIME", XdbcDataType::XdbcTime, Some("'")),
        ("TIMESTAMP", XdbcDataType::XdbcTimestamp, Some("'")),
        ("INTERVAL", XdbcDataType::XdbcInterval, Some("'")),
    ] {
        types.append(XdbcTypeInfo {
            type_name: name.to_string(),
            data_type,
            column_size: None,
            literal_prefix: literal.map(str::to_string),
            literal_suffix: literal.map(str::to_string),
            create_params: None,
            nullable: Nullable::NullabilityNullable,
            case_sensitive: data_type == XdbcDataType::XdbcVarchar,
            searchable: Searchable::Full,
            unsigned_attribute: None,
            fixed_prec_scale: false,
            auto_increment: None,
            local_type_name: Some(name.to_string()),
            minimum_scale: None,
            maximum_scale: None,
            sql_data_type: data_type,
            datetime_subcode: None,
            num_prec_radix: None,
            interval_precision: None,
        });
    }
    types.build()
});

/// The catalogs of `tables`.
pub fn catalogs(
    command: CommandGetCatalogs,
    tables: &[TableEntry],
) -> Result<RecordBatch, FlightError> {
    let mut builder = command.into_builder();
    let mut names: Vec<&str> = tables.iter().map(|t| t.catalog.as_str()).collect();
    names.dedup();
    for name in names {
        builder.append(name);
    }
    builder.build()
}

/// The schemas of `tables`, filtered as the command asks.
pub fn schemas(
    command: CommandGetDbSchemas,
    tables: &[TableEntry],
) -> Result<RecordBatch, FlightError> {
    let mut builder = command.into_builder();
    let mut pairs: Vec<(&str, &str)> = tables
        .iter()
        .map(|t| (t.catalog.as_str(), t.schema.as_str()))
        .collect();
    pairs.dedup();
    for (catalog, schema) in pairs {
        builder.append(catalog, schema);
    }
    builder.build()
}

/// `tables`, filtered as the command asks, with their columns when it asks for them.
pub fn tables(
    command: CommandGetTables,
    tables: &[TableEntry],
) -> Result<RecordBatch, FlightError> {
    let mut builder = command.into_builder();
    for table in tables {
        builder.append(
            &table.catalog,
            &table.schema,
            &table.name,
            table.kind.sql_name(),
            &table.columns,
        )?;
    }
    builder.build()
}

/// Every table type Canon lists.
pub fn table_types(command: CommandGetTableTypes) -> Result<RecordBatch, FlightError> {
    let mut builder = command.into_builder();
    for kind in TABLE_KINDS {
        builder.append(kind.sql_name());
    }
    builder.build()
}

/// The columns of a `GetPrimaryKeys` answer, as the Flight SQL specification lists them.
pub static PRIMARY_KEYS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
});

/// The primary key of the table the command names (its contract's `primary_key`), one
/// row per column in key order; no rows when it has none.
pub fn primary_keys(
    command: &CommandGetPrimaryKeys,
    tables: &[TableEntry],
) -> Result<RecordBatch, FlightError> {
    let matches = |wanted: &Option<String>, have: &str| wanted.as_deref().is_none_or(|w| w == have);
    let mut rows: Vec<(&TableEntry, &str, i32)> = Vec::new();
    for table in tables.iter().filter(|t| {
        t.name == command.table
            && matches(&command.catalog, &t.catalog)
            && matches(&command.db_schema, &t.schema)
    }) {
        for (column, sequence) in table.primary_key.iter().zip(1i32..) {
            rows.push((table, column, sequence));
        }
    }
    let text = |values: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(values)) };
    let columns: Vec<ArrayRef> = vec![
        text(rows.iter().map(|r| r.0.catalog.as_str()).collect()),
        text(rows.iter().map(|r| r.0.schema.as_str()).collect()),
        text(rows.iter().map(|r| r.0.name.as_str()).collect()),
        text(rows.iter().map(|r| r.1).collect()),
        Arc::new(StringArray::from(vec![None::<&str>; rows.len()])),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.2))),
    ];
    Ok(RecordBatch::try_new(
        Arc::clone(&PRIMARY_KEYS_SCHEMA),
        columns,
    )?)
}
