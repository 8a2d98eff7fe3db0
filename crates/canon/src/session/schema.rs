//! The default schema of every session: the project's datasets, shared read-only, over
//! the session's own scratch tables.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::exec_err;
use datafusion::error::Result as DfResult;

use crate::registry::DatasetTables;

/// The default schema of every session: the project's datasets, read-only, plus the
/// session's own tables (from `CREATE TABLE`, where the policy allows it).
#[derive(Debug)]
pub(crate) struct SessionSchema {
    datasets: DatasetTables,
    local: MemorySchemaProvider,
}

impl SessionSchema {
    pub(crate) fn new(datasets: DatasetTables) -> Self {
        Self {
            datasets,
            local: MemorySchemaProvider::new(),
        }
    }
}

#[async_trait]
impl SchemaProvider for SessionSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.datasets.keys().cloned().collect();
        names.extend(self.local.table_names());
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match self.datasets.get(name) {
            Some(table) => Ok(Some(Arc::clone(table))),
            None => self.local.table(name).await,
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self.datasets.contains_key(&name) {
            return exec_err!(
                "`{name}` is a dataset of the project; its definition comes from the project file"
            );
        }
        self.local.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self.datasets.contains_key(name) {
            return exec_err!(
                "`{name}` is a dataset of the project and cannot be dropped from a session"
            );
        }
        self.local.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.datasets.contains_key(name) || self.local.table_exist(name)
    }
}
