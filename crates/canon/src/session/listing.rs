//! What a session can see, for clients that list before they query: every table of every
//! catalog and schema, with its kind and columns.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::Constraint;
use datafusion::datasource::TableType;
use datafusion::execution::context::SessionContext;

use super::SYSTEM_SCHEMA;
use crate::error::Result;

/// One table a session can query.
#[derive(Debug, Clone)]
pub struct TableEntry {
    /// Its catalog.
    pub catalog: String,
    /// Its schema.
    pub schema: String,
    /// Its name.
    pub name: String,
    /// What kind of table it is.
    pub kind: TableKind,
    /// Its columns.
    pub columns: SchemaRef,
    /// The columns of its primary key, in key order; empty when it declares none.
    pub primary_key: Vec<String>,
}

/// The kinds of tables a session lists, in the words SQL clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// A dataset or a table the session made.
    Table,
    /// A view.
    View,
    /// A table of Canon's `canon` schema.
    System,
    /// A temporary table.
    Temporary,
}

impl TableKind {
    /// The name JDBC, ODBC and Flight SQL clients expect (`TABLE`, `VIEW`, …).
    pub fn sql_name(self) -> &'static str {
        match self {
            Self::Table => "TABLE",
            Self::View => "VIEW",
            Self::System => "SYSTEM TABLE",
            Self::Temporary => "LOCAL TEMPORARY",
        }
    }
}

/// Every table of `ctx`, ordered by catalog, schema and name.
pub(super) async fn tables(ctx: &SessionContext) -> Result<Vec<TableEntry>> {
    let catalogs = ctx.state().catalog_list().clone();
    let mut entries = Vec::new();
    let mut catalog_names = catalogs.catalog_names();
    catalog_names.sort();
    for catalog_name in catalog_names {
        let Some(catalog) = catalogs.catalog(&catalog_name) else {
            continue;
        };
        let mut schema_names = catalog.schema_names();
        schema_names.sort();
        for schema_name in schema_names {
            let Some(schema) = catalog.schema(&schema_name) else {
                continue;
            };
            let mut names = schema.table_names();
            names.sort();
            for name in names {
                let Some(table) = schema.table(&name).await? else {
                    continue;
                };
                let kind = match table.table_type() {
                    _ if schema_name == SYSTEM_SCHEMA => TableKind::System,
                    TableType::Base => TableKind::Table,
                    TableType::View => TableKind::View,
                    TableType::Temporary => TableKind::Temporary,
                };
                entries.push(TableEntry {
                    catalog: catalog_name.clone(),
                    schema: schema_name.clone(),
                    name,
                    kind,
                    primary_key: primary_key(table.as_ref()),
                    columns: table.schema(),
                });
            }
        }
    }
    Ok(entries)
}

/// The column names of `table`'s primary key (a contract's `primary_key`), if it has one.
fn primary_key(table: &dyn TableProvider) -> Vec<String> {
    let schema = table.schema();
    let indices = table.constraints().and_then(|constraints| {
        constraints.iter().find_map(|c| match c {
            Constraint::PrimaryKey(indices) => Some(indices.clone()),
            Constraint::Unique(_) => None,
        })
    });
    indices
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| schema.fields().get(i).map(|f| f.name().clone()))
        .collect()
}
