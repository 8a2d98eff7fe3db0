//! `canon.stores`: every object store the runtime declares or has used, its options with
//! secrets shown only as the environment variables they come from, and its request counts.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::Result;

use super::{RequestCounts, Stores};
use crate::view::{SystemView, ViewRows};

/// Reads one counter.
type Count = fn(&RequestCounts) -> u64;

/// The request counters, as (column, accessor), in column order.
const COUNTS: [(&str, Count); 8] = [
    ("gets", |c| c.gets),
    ("get_bytes", |c| c.get_bytes),
    ("heads", |c| c.heads),
    ("lists", |c| c.lists),
    ("puts", |c| c.puts),
    ("put_bytes", |c| c.put_bytes),
    ("deletes", |c| c.deletes),
    ("copies", |c| c.copies),
];

struct StoreRows(Arc<Stores>);

#[async_trait]
impl ViewRows for StoreRows {
    async fn columns(&self, _state: &dyn Session) -> Result<Vec<ArrayRef>> {
        let infos = self.0.infos();
        let json = |map: &std::collections::BTreeMap<String, String>| {
            serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
        };
        let secrets: Vec<String> = infos
            .iter()
            .map(|i| {
                let named = i
                    .secrets
                    .iter()
                    .map(|(k, var)| (k.clone(), format!("env:{var}")))
                    .collect();
                json(&named)
            })
            .collect();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(infos.iter().map(|i| &i.url))),
            Arc::new(StringArray::from_iter_values(infos.iter().map(|i| i.kind))),
            Arc::new(BooleanArray::from_iter(
                infos.iter().map(|i| Some(i.declared)),
            )),
            Arc::new(StringArray::from_iter_values(
                infos.iter().map(|i| json(&i.options)),
            )),
            Arc::new(StringArray::from_iter_values(secrets)),
        ];
        for (_, count) in COUNTS {
            columns.push(Arc::new(UInt64Array::from_iter_values(
                infos.iter().map(|i| count(&i.requests)),
            )));
        }
        Ok(columns)
    }
}

/// The `canon.stores` table over a runtime's stores.
pub(crate) fn stores_view(stores: Arc<Stores>) -> Arc<dyn TableProvider> {
    let mut fields = vec![
        Field::new("url", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("declared", DataType::Boolean, false),
        Field::new("options", DataType::Utf8, false),
        Field::new("secrets", DataType::Utf8, false),
    ];
    fields.extend(
        COUNTS
            .iter()
            .map(|(name, _)| Field::new(*name, DataType::UInt64, false)),
    );
    let schema = Arc::new(Schema::new(fields));
    Arc::new(SystemView::new("stores", schema, StoreRows(stores)))
}
