//! The expression adapter that applies a dataset's evolution rules to each file.
//!
//! It wraps DataFusion's default adapter (which casts and null-fills) and adds what the
//! default cannot know: defaults for missing columns, old physical names for renamed
//! columns, and refusal of files the rules do not cover.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, lit};
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapterFactory, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};

use super::{EvolutionSpec, FileColumn, MissingPolicy, resolve_file_column};
use crate::contract::ColumnSpec;

/// Builds one `EvolutionAdapter` per file a dataset scans.
#[derive(Debug)]
pub struct EvolutionAdapterFactory {
    dataset: String,
    rules: EvolutionSpec,
}

impl EvolutionAdapterFactory {
    /// An adapter factory for a dataset's rules (use [`EvolutionSpec::strict`] for none).
    pub fn new(dataset: impl Into<String>, rules: EvolutionSpec) -> Self {
        Self {
            dataset: dataset.into(),
            rules,
        }
    }
}

impl PhysicalExprAdapterFactory for EvolutionAdapterFactory {
    fn create(
        &self,
        logical: SchemaRef,
        physical: SchemaRef,
    ) -> Result<Arc<dyn PhysicalExprAdapter>> {
        let mut fields: Vec<Field> = physical
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut physical_names = HashMap::new();
        let mut defaults = HashMap::new();
        for field in logical.fields() {
            let column = ColumnSpec {
                name: field.name().clone(),
                data_type: field.data_type().clone(),
                nullable: field.is_nullable(),
                tags: Vec::new(),
            };
            match resolve_file_column(&column, &physical, &self.rules) {
                Err(problem) => return exec_err!("dataset `{}`: {problem}", self.dataset),
                Ok(FileColumn::Present { physical: name, .. }) => {
                    // The default adapter sees the column under the contract name (and as
                    // the contract's field where it may); `rewrite` restores the physical
                    // name afterwards.
                    if let Ok(index) = physical.index_of(&name) {
                        fields[index] = as_contract_field(&fields[index], field);
                    }
                    if name != column.name {
                        physical_names.insert(column.name, name);
                    }
                }
                Ok(FileColumn::Filled) => {
                    if self.rules.missing == MissingPolicy::Default
                        && let Some(value) = self.rules.defaults.get(&column.name)
                    {
                        defaults.insert(column.name, value.clone());
                    }
                }
            }
        }
        let renamed = Arc::new(Schema::new_with_metadata(
            fields,
            physical.metadata().clone(),
        ));
        Ok(Arc::new(EvolutionAdapter {
            inner: DefaultPhysicalExprAdapterFactory.create(logical, renamed)?,
            defaults,
            physical_names,
        }))
    }
}

/// A file's field as the default adapter should see it: the contract's own field when the
/// file stores the same type and holds no nulls the contract refuses, else the file's field
/// under the contract name.
///
/// The default adapter reads a column as it is only when the two fields are equal,
/// metadata included, and casts it to the contract's field otherwise: every parquet file
/// written with field ids (`PARQUET:field_id`, as Spark, Iceberg and tpchgen-cli write
/// them) would have each column it reads cast to its own type, batch by batch.
fn as_contract_field(file: &Field, contract: &Field) -> Field {
    let same_type = file.data_type() == contract.data_type();
    if same_type && (contract.is_nullable() || !file.is_nullable()) {
        contract.clone()
    } else {
        file.clone().with_name(contract.name())
    }
}

/// Rewrites scan expressions for one file.
#[derive(Debug)]
struct EvolutionAdapter {
    inner: Arc<dyn PhysicalExprAdapter>,
    defaults: HashMap<String, ScalarValue>,
    physical_names: HashMap<String, String>,
}

impl PhysicalExprAdapter for EvolutionAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        let expr = if self.defaults.is_empty() {
            expr
        } else {
            expr.transform(|e| {
                match e
                    .downcast_ref::<Column>()
                    .and_then(|c| self.defaults.get(c.name()))
                {
                    Some(value) => Ok(Transformed::yes(lit(value.clone()))),
                    None => Ok(Transformed::no(e)),
                }
            })
            .data()?
        };
        let expr = self.inner.rewrite(expr)?;
        if self.physical_names.is_empty() {
            return Ok(expr);
        }
        expr.transform(|e| {
            let renamed = e.downcast_ref::<Column>().and_then(|c| {
                self.physical_names
                    .get(c.name())
                    .map(|p| Column::new(p, c.index()))
            });
            match renamed {
                Some(column) => Ok(Transformed::yes(Arc::new(column) as Arc<dyn PhysicalExpr>)),
                None => Ok(Transformed::no(e)),
            }
        })
        .data()
    }
}
