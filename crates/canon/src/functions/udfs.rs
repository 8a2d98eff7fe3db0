//! Canon's own scalar functions: `stable_hash64` and `stable_id`, identities that stay
//! the same across runs, platforms and versions.
//!
//! Both hash a canonical byte encoding of their values with XXH64 (seed 0). The encoding
//! is part of Canon's contract: it is spelled out in [`ENCODING`], which is also the
//! functions' documentation in `information_schema` and `canon.functions`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, AsArray, Int64Array, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

pub use super::encoding::ENCODING;
use super::encoding::{digests, hashable};

fn doc_section() -> DocSection {
    DocSection {
        include: true,
        label: "Canon Functions",
        description: Some("Functions Canon adds to every session"),
    }
}

/// `stable_hash64(value, …)`: a BIGINT that is the same for the same values everywhere.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StableHash64 {
    signature: Signature,
}

/// `stable_id(prefix, value, …)`: `prefix_` followed by 16 hex digits of `stable_hash64`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StableId {
    signature: Signature,
}

/// Canon's scalar functions, as registered in every session.
pub fn all() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(StableHash64 {
            signature: Signature::user_defined(Volatility::Immutable),
        })),
        Arc::new(ScalarUDF::new_from_impl(StableId {
            signature: Signature::user_defined(Volatility::Immutable),
        })),
    ]
}

static STABLE_HASH64_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        doc_section(),
        format!(
            "Deterministic 64-bit hash of one or more values, identical across runs, \
             platforms and Canon versions. {ENCODING}"
        ),
        "stable_hash64(value[, ...])",
    )
    .with_argument("value", "Values to hash: booleans, numbers, decimals, strings, binary, dates, times, timestamps or durations")
    .with_sql_example("SELECT stable_hash64(customer_id, order_date) FROM orders")
    .with_related_udf("stable_id")
    .build()
});

static STABLE_ID_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        doc_section(),
        "A stable text identity: the prefix, `_`, then the 16 lowercase hex digits of \
         stable_hash64 over the values (the prefix is not hashed). NULL when the prefix is NULL.",
        "stable_id(prefix, value[, ...])",
    )
    .with_argument("prefix", "String naming the kind of entity, e.g. 'cust'")
    .with_argument("value", "Values to hash, as for stable_hash64")
    .with_sql_example("SELECT stable_id('order', region, order_no) FROM orders")
    .with_related_udf("stable_hash64")
    .build()
});

impl ScalarUDFImpl for StableHash64 {
    fn name(&self) -> &str {
        "stable_hash64"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.is_empty() {
            return plan_err!("stable_hash64 takes at least one value");
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| hashable(self.name(), i + 1, t))
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let digests = digests(&arrays, args.number_rows)?;
        let out: Int64Array = digests.into_iter().map(|d| d as i64).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&STABLE_HASH64_DOC)
    }
}

impl ScalarUDFImpl for StableId {
    fn name(&self) -> &str {
        "stable_id"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let Some((prefix, values)) = arg_types.split_first() else {
            return plan_err!("stable_id takes a prefix and at least one value");
        };
        if values.is_empty() {
            return plan_err!("stable_id takes a prefix and at least one value");
        }
        let prefix = match prefix {
            DataType::Null | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                DataType::Utf8
            }
            DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8) => DataType::Utf8,
            other => {
                return plan_err!("stable_id's prefix (argument 1) must be a string, not {other}");
            }
        };
        let mut types = vec![prefix];
        for (i, t) in values.iter().enumerate() {
            types.push(hashable(self.name(), i + 2, t)?);
        }
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some((prefix, values)) = arrays.split_first() else {
            return plan_err!("stable_id takes a prefix and at least one value");
        };
        let prefix = prefix.as_string_opt::<i32>().ok_or_else(|| {
            datafusion::error::DataFusionError::Internal(format!(
                "stable_id prefix arrived as {}",
                prefix.data_type()
            ))
        })?;
        let digests = digests(values, args.number_rows)?;
        let mut out = StringBuilder::new();
        for (row, digest) in digests.into_iter().enumerate() {
            if prefix.is_null(row) {
                out.append_null();
            } else {
                out.append_value(format!("{}_{digest:016x}", prefix.value(row)));
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&STABLE_ID_DOC)
    }
}
