//! `canon.functions`: the function catalog of the session that reads it, built from its
//! `information_schema.routines` and `information_schema.parameters`, with each
//! function's tier, volatility and whether it overrides a builtin.
//!
//! One row per signature; functions whose signature DataFusion cannot enumerate (no
//! arguments, or any arguments) have one row with NULL `arguments`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, UInt8Type, UInt64Type};
use datafusion::catalog::Session;
use datafusion::common::TableReference;
use datafusion::common::{Result, exec_err};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::Volatility;
use datafusion::physical_plan::collect;

use super::{Overrides, SqlMacro, Tier, scalar_tier, table_tier};
use crate::view::{SystemView, ViewRows};

/// The `canon.functions` table.
pub(crate) fn functions_view(overrides: Overrides) -> SystemView<FunctionRows> {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let schema = Schema::new(vec![
        text("name", false),
        text("kind", false),
        text("tier", false),
        text("arguments", true),
        text("return_type", true),
        text("volatility", false),
        text("description", true),
        text("syntax", true),
        Field::new("overrides_builtin", DataType::Boolean, false),
    ]);
    SystemView::new(
        "canon.functions",
        Arc::new(schema),
        FunctionRows { overrides },
    )
}

/// The rows of `canon.functions`, read from the scanning session's catalog.
pub(crate) struct FunctionRows {
    overrides: Overrides,
}

#[async_trait]
impl ViewRows for FunctionRows {
    async fn columns(&self, state: &dyn Session) -> Result<Vec<ArrayRef>> {
        let Some(state) = state.as_any().downcast_ref::<SessionState>() else {
            return exec_err!("canon.functions is read from a SessionState");
        };
        Ok(columns(&catalog(state, &self.overrides).await?))
    }
}

/// One row of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    name: String,
    kind: String,
    arguments: Option<String>,
    return_type: Option<String>,
    tier: Tier,
    volatility: &'static str,
    description: Option<String>,
    syntax: Option<String>,
    overrides: bool,
}

/// What information_schema says about one routine (name and kind).
#[derive(Default)]
struct Routine {
    return_types: BTreeSet<String>,
    description: Option<String>,
    syntax: Option<String>,
}

/// One signature from information_schema.parameters.
#[derive(Default)]
struct Signature {
    inputs: BTreeMap<u64, (Option<String>, String)>,
    output: Option<String>,
    variadic: bool,
}

impl Signature {
    fn arguments(&self) -> String {
        let mut args: Vec<String> = self
            .inputs
            .values()
            .map(|(name, t)| match name {
                Some(n) => format!("{n} {t}"),
                None => t.clone(),
            })
            .collect();
        if self.variadic {
            args.push("...".into());
        }
        args.join(", ")
    }
}

/// Reads columns of an information_schema table straight from its provider: these are
/// Canon's own reads, so they neither pass the plan hook nor show in diagnostics.
async fn read(state: &SessionState, table: &str, columns: &[&str]) -> Result<Vec<RecordBatch>> {
    let reference = TableReference::partial("information_schema", table);
    let Some(provider) = state.schema_for_ref(reference)?.table(table).await? else {
        return exec_err!("information_schema.{table} is not available");
    };
    let schema = provider.schema();
    let projection = columns
        .iter()
        .map(|c| schema.index_of(c))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = provider.scan(state, Some(&projection), &[], None).await?;
    collect(plan, state.task_ctx()).await
}

async fn catalog(state: &SessionState, overrides: &BTreeSet<String>) -> Result<Vec<Row>> {
    let mut routines: BTreeMap<(String, String), Routine> = BTreeMap::new();
    let columns = [
        "routine_name",
        "function_type",
        "data_type",
        "description",
        "syntax_example",
    ];
    for batch in read(state, "routines", &columns).await? {
        let [name, kind, data_type, description, syntax] = strings::<5>(&batch);
        for i in 0..batch.num_rows() {
            let key = (
                value(name, i).unwrap_or_default(),
                value(kind, i).unwrap_or_default(),
            );
            let routine = routines.entry(key).or_default();
            routine.return_types.extend(value(data_type, i));
            routine.description = routine.description.take().or(value(description, i));
            routine.syntax = routine.syntax.take().or(value(syntax, i));
        }
    }

    let mut signatures: BTreeMap<(String, u8), Signature> = BTreeMap::new();
    let columns = [
        "specific_name",
        "parameter_mode",
        "parameter_name",
        "data_type",
        "rid",
        "ordinal_position",
        "is_variadic",
    ];
    for batch in read(state, "parameters", &columns).await? {
        let [name, mode, param, data_type] = strings::<4>(&batch);
        let rid = batch.column(4).as_primitive::<UInt8Type>();
        let position = batch.column(5).as_primitive::<UInt64Type>();
        let variadic = batch.column(6).as_boolean();
        for i in 0..batch.num_rows() {
            let key = (value(name, i).unwrap_or_default(), rid.value(i));
            let signature = signatures.entry(key).or_default();
            let data_type = value(data_type, i).unwrap_or_default();
            if value(mode, i).as_deref() == Some("OUT") {
                signature.output = Some(data_type);
            } else {
                signature
                    .inputs
                    .insert(position.value(i), (value(param, i), data_type));
                signature.variadic |= variadic.value(i);
            }
        }
    }

    let mut rows = Vec::new();
    for ((name, kind), routine) in &routines {
        let (tier, volatility) = tier_and_volatility(state, name, kind);
        let description = match (tier, kind.as_str()) {
            (Tier::Canon, "TABLE") => super::table_description(state, name),
            _ => routine.description.clone(),
        };
        let row = |arguments, return_type| Row {
            name: name.clone(),
            kind: kind.to_lowercase(),
            arguments,
            return_type,
            tier,
            volatility,
            description: description.clone(),
            syntax: routine.syntax.clone(),
            overrides: tier != Tier::Builtin && overrides.contains(name),
        };
        // Table functions have no parameter rows of their own; a scalar function of the
        // same name (generate_series) must not lend them its signatures.
        let matching: Vec<&Signature> = signatures
            .range((name.clone(), 0)..=(name.clone(), u8::MAX))
            .map(|(_, s)| s)
            .filter(|_| kind != "TABLE")
            .filter(|s| {
                s.output
                    .as_ref()
                    .is_some_and(|o| routine.return_types.contains(o))
            })
            .collect();
        if matching.is_empty() {
            // A macro checks its own arguments (see `SqlMacro::coerce_types`), so
            // DataFusion cannot enumerate them; its declaration is its signature.
            let declared = (kind == "SCALAR")
                .then(|| state.scalar_functions().get(name))
                .flatten()
                .and_then(|f| {
                    let inner: &dyn std::any::Any = f.inner().as_ref();
                    inner.downcast_ref::<SqlMacro>()
                })
                .map(|m| (m.arguments(), m.return_type().to_string()));
            let only_type = match routine.return_types.len() {
                1 => routine.return_types.first().cloned(),
                _ => None,
            };
            match declared {
                Some((arguments, returns)) => rows.push(row(Some(arguments), Some(returns))),
                None => rows.push(row(None, only_type)),
            }
        }
        for signature in matching {
            rows.push(row(Some(signature.arguments()), signature.output.clone()));
        }
    }
    rows.sort();
    rows.dedup();
    Ok(rows)
}

fn tier_and_volatility(state: &SessionState, name: &str, kind: &str) -> (Tier, &'static str) {
    let volatility = |v: Volatility| match v {
        Volatility::Immutable => "immutable",
        Volatility::Stable => "stable",
        Volatility::Volatile => "volatile",
    };
    match kind {
        "SCALAR" => state
            .scalar_functions()
            .get(name)
            .map_or((Tier::Builtin, "volatile"), |f| {
                (scalar_tier(f), volatility(f.signature().volatility))
            }),
        "AGGREGATE" => state
            .aggregate_functions()
            .get(name)
            .map_or((Tier::Builtin, "volatile"), |f| {
                (Tier::Builtin, volatility(f.signature().volatility))
            }),
        "WINDOW" => state
            .window_functions()
            .get(name)
            .map_or((Tier::Builtin, "volatile"), |f| {
                (Tier::Builtin, volatility(f.signature().volatility))
            }),
        // Table functions have no signature; DataFusion reports them as non-deterministic.
        _ => state
            .table_functions()
            .get(name)
            .map_or((Tier::Builtin, "volatile"), |f| {
                (table_tier(f.function()), "volatile")
            }),
    }
}

fn strings<const N: usize>(batch: &RecordBatch) -> [&dyn Array; N] {
    std::array::from_fn(|i| batch.column(i).as_ref())
}

/// A string cell, whichever string type information_schema used.
fn value(array: &dyn Array, row: usize) -> Option<String> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Some(array.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Some(array.as_string_view().value(row).to_string()),
        _ => None,
    }
}

fn columns(rows: &[Row]) -> Vec<ArrayRef> {
    let text = |f: fn(&Row) -> Option<&str>| -> ArrayRef {
        Arc::new(StringArray::from_iter(rows.iter().map(f)))
    };
    vec![
        text(|r| Some(&r.name)),
        text(|r| Some(&r.kind)),
        text(|r| Some(r.tier.name())),
        text(|r| r.arguments.as_deref()),
        text(|r| r.return_type.as_deref()),
        text(|r| Some(r.volatility)),
        text(|r| r.description.as_deref()),
        text(|r| r.syntax.as_deref()),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.overrides)),
        )),
    ]
}
