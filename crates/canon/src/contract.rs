//! Dataset contracts, as the model defines them, and the engine side of their DDL: the
//! type planner that reads `ARROW('<type>')`, Canon's spelling of the Arrow types SQL has
//! no word for (see [`sql_type`]). It is plugged into every session, so the canonical DDL
//! describes every contract exactly.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::DataType as SqlDataType;

pub use canon_model::contract::*;

/// Plans `ARROW('<arrow type name>')` column types to exactly that Arrow type.
#[derive(Debug, Default)]
pub struct ArrowTypePlanner;

impl TypePlanner for ArrowTypePlanner {
    fn plan_type_field(&self, sql_type: &SqlDataType) -> Result<Option<FieldRef>> {
        let SqlDataType::Custom(name, modifiers) = sql_type else {
            return Ok(None);
        };
        if !name.to_string().eq_ignore_ascii_case("arrow") {
            return Ok(None);
        }
        let [type_name] = modifiers.as_slice() else {
            return plan_err!(
                "ARROW(...) takes exactly one quoted Arrow type name, e.g. ARROW('LargeUtf8')"
            );
        };
        match type_name.parse::<DataType>() {
            Ok(data_type) => Ok(Some(Arc::new(Field::new("", data_type, true)))),
            Err(e) => plan_err!("ARROW('{type_name}'): not an Arrow type: {e}"),
        }
    }
}
