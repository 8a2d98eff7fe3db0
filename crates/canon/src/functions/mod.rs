//! Functions in three tiers: DataFusion's builtins, Canon's own functions (scalar UDFs
//! and cache table functions), and SQL macros (declared in the project file or created
//! with `CREATE FUNCTION`). A new function may not silently take a name that is already
//! taken: replacing a builtin or Canon function needs the project's `[functions]
//! overrides`, and the catalog records every override.

pub mod catalog;
mod encoding;
pub mod factory;
pub mod macros;
pub mod udfs;

use std::any::Any;
use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::logical_expr::{DdlStatement, LogicalPlan, ScalarUDF};

use crate::diagnostics::{Diagnostics, Event};
use crate::error::{DeclarationError, Result, plain};
use crate::registry::TableFunctionSpec;

pub use canon_model::declarations::{MacroSpec, OverrideSpec, Tier};
pub use factory::MacroFactory;
pub use macros::SqlMacro;

/// The names a project lets Canon's functions and macros take from builtins.
pub(crate) type Overrides = Arc<BTreeSet<String>>;

/// The tier of a scalar function, from what implements it.
pub(crate) fn scalar_tier(udf: &ScalarUDF) -> Tier {
    let inner: &dyn Any = udf.inner().as_ref();
    if inner.is::<SqlMacro>() {
        Tier::Macro
    } else if inner.is::<udfs::StableHash64>() || inner.is::<udfs::StableId>() {
        Tier::Canon
    } else {
        Tier::Builtin
    }
}

/// One of Canon's table functions as registered: the cache functions, and those a table
/// format adds (`table_changes`). The wrapper marks the tier and carries the description
/// the catalog shows.
#[derive(Debug)]
pub(crate) struct CanonTableFunction {
    inner: Arc<dyn TableFunctionImpl>,
    description: &'static str,
}

impl TableFunctionImpl for CanonTableFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        self.inner.call_with_args(args)
    }
}

/// The tier of a table function, from what implements it.
pub(crate) fn table_tier(function: &Arc<dyn TableFunctionImpl>) -> Tier {
    let inner: &dyn Any = function.as_ref();
    if inner.is::<CanonTableFunction>() {
        Tier::Canon
    } else {
        Tier::Builtin
    }
}

/// The description of one of Canon's table functions, for the catalog.
pub(crate) fn table_description(state: &SessionState, name: &str) -> Option<String> {
    let function = state.table_functions().get(name)?;
    let inner: &dyn Any = function.function().as_ref();
    inner
        .downcast_ref::<CanonTableFunction>()
        .map(|f| f.description.to_string())
}

/// Adds table functions of Canon's (the cache functions, and those its table formats bring)
/// to the template, under the same name rules as its scalar functions.
pub(crate) fn install_table_functions(
    state: &mut SessionState,
    functions: Vec<TableFunctionSpec>,
    overrides: &[OverrideSpec],
    diagnostics: &Diagnostics,
) -> Result<()> {
    let allowed: BTreeSet<String> = overrides.iter().map(|o| o.name.clone()).collect();
    for TableFunctionSpec {
        name,
        description,
        function,
    } in functions
    {
        let origin = overrides.iter().find(|o| o.name == name);
        let signature = format!("{name}()");
        take_name(state, name, signature, &allowed, origin, diagnostics)?;
        let wrapped = CanonTableFunction {
            inner: function,
            description,
        };
        state.register_udtf(name, Arc::new(wrapped));
    }
    Ok(())
}

/// The tier of whatever function already has `name` in this state, if any does.
pub(crate) fn existing(state: &SessionState, name: &str) -> Option<Tier> {
    if let Some(udf) = state.scalar_functions().get(name) {
        return Some(scalar_tier(udf));
    }
    if let Some(f) = state.table_functions().get(name) {
        return Some(table_tier(f.function()));
    }
    let other_kinds = state.aggregate_functions().contains_key(name)
        || state.window_functions().contains_key(name)
        || state.higher_order_functions().contains_key(name);
    other_kinds.then_some(Tier::Builtin)
}

/// Why a new function may not take `name`, if it may not.
pub(crate) fn clash(
    state: &SessionState,
    name: &str,
    overrides: &BTreeSet<String>,
    replace_macros: bool,
) -> Option<String> {
    match existing(state, name)? {
        Tier::Macro if replace_macros => None,
        Tier::Macro => Some(format!(
            "macro `{name}` already exists in this session; use CREATE OR REPLACE FUNCTION"
        )),
        _ if overrides.contains(name) => None,
        tier => Some(format!(
            "`{name}` is a {tier} function; a new function may not shadow it unless the \
             project lists it in [functions] overrides"
        )),
    }
}

/// Refuses `DROP FUNCTION` of anything but a macro: builtins and Canon's functions are
/// part of every session (DataFusion would otherwise drop every kind of that name).
pub(crate) fn guard_drop(ctx: &SessionContext, plan: &LogicalPlan) -> Result<()> {
    let LogicalPlan::Ddl(DdlStatement::DropFunction(drop)) = plan else {
        return Ok(());
    };
    match existing(&ctx.state(), &drop.name) {
        Some(tier) if tier != Tier::Macro => Err(DataFusionError::Plan(format!(
            "`{}` is a {tier} function; only macros can be dropped",
            drop.name
        ))
        .into()),
        _ => Ok(()),
    }
}

/// Installs Canon's functions into the session template: Canon's scalar UDFs and cache
/// table functions (checked against the builtins), the macro factory for `CREATE
/// FUNCTION`, then the project's `[[function]]` macros, in file order.
pub(crate) async fn install(
    state: &mut SessionState,
    macros: &[MacroSpec],
    overrides: &[OverrideSpec],
    diagnostics: &Diagnostics,
) -> Result<Overrides> {
    let allowed: Overrides = Arc::new(overrides.iter().map(|o| o.name.clone()).collect());
    let origin = |name: &str| overrides.iter().find(|o| o.name == name);

    for udf in udfs::all() {
        let name = udf.name().to_string();
        let syntax = udf
            .documentation()
            .map_or_else(|| name.clone(), |d| d.syntax_example.clone());
        take_name(state, &name, syntax, &allowed, origin(&name), diagnostics)?;
        state.register_udf(udf)?;
    }
    install_table_functions(state, crate::cache::functions(), overrides, diagnostics)?;

    // An override must name something to override (now, or for session macros later);
    // a stale one is refused rather than kept as a promise nobody needs.
    if let Some(stale) = overrides
        .iter()
        .find(|o| existing(state, &o.name).is_none())
    {
        return Err(DeclarationError {
            kind: "override",
            name: stale.name.clone(),
            origin: stale.origin.to_string(),
            message: "no builtin or Canon function has this name, so there is nothing to override"
                .into(),
        }
        .into());
    }

    let factory = Arc::new(MacroFactory::new(Arc::clone(&allowed), diagnostics.clone()));
    state.set_function_factory(Arc::clone(&factory) as _);
    for spec in macros {
        let error = |message: String| DeclarationError {
            kind: "function",
            name: spec.name.clone(),
            origin: spec.origin.to_string(),
            message,
        };
        let overridden = existing(state, &spec.name);
        let udf = factory
            .declare(state, spec)
            .await
            .map_err(|e| error(plain(&e)))?;
        if overridden.is_some() {
            remove(state, &spec.name)?;
        }
        state.register_udf(Arc::clone(&udf))?;
        diagnostics.record(Event::FunctionRegistered {
            name: spec.name.clone(),
            tier: Tier::Macro,
            signature: macros::signature_text(&udf),
            overrides: overridden,
            origin: Some(spec.origin.to_string()),
        })?;
    }
    Ok(allowed)
}

/// Checks that a Canon function may take `name`, removing what it replaces.
fn take_name(
    state: &mut SessionState,
    name: &str,
    signature: String,
    allowed: &BTreeSet<String>,
    origin: Option<&OverrideSpec>,
    diagnostics: &Diagnostics,
) -> Result<()> {
    let Some(tier) = existing(state, name) else {
        return Ok(());
    };
    if !allowed.contains(name) {
        return Err(DeclarationError {
            kind: "function",
            name: name.to_string(),
            origin: "Canon".into(),
            message: format!(
                "Canon's `{name}` clashes with a {tier} function of the same name; list it in \
                 [functions] overrides to use Canon's"
            ),
        }
        .into());
    }
    remove(state, name)?;
    diagnostics.record(Event::FunctionRegistered {
        name: name.to_string(),
        tier: Tier::Canon,
        signature,
        overrides: Some(tier),
        origin: origin.map(|o| o.origin.to_string()),
    })?;
    Ok(())
}

/// Removes every function of any kind named `name` (with its aliases), so that the
/// replacement is the only one left when sessions are built from the template.
fn remove(state: &mut SessionState, name: &str) -> Result<()> {
    state.deregister_udf(name)?;
    state.deregister_udaf(name)?;
    state.deregister_udwf(name)?;
    state.deregister_udtf(name)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use datafusion::execution::SessionStateBuilder;

    use super::*;

    /// Canon's own names do not clash with DataFusion's today, so the rule is exercised
    /// with a builtin's name directly.
    #[test]
    fn a_canon_function_takes_a_builtin_name_only_when_overridden() {
        let mut state = SessionStateBuilder::new().with_default_features().build();
        let diagnostics = Diagnostics::new();
        let refused = take_name(
            &mut state,
            "upper",
            "upper(x)".into(),
            &BTreeSet::new(),
            None,
            &diagnostics,
        );
        let message = refused.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert_eq!(
            message,
            "Canon: function `upper`: Canon's `upper` clashes with a builtin function of the \
             same name; list it in [functions] overrides to use Canon's"
        );
        assert!(state.scalar_functions().contains_key("upper"));
        assert!(diagnostics.records().is_empty());

        let allowed = BTreeSet::from(["upper".to_string()]);
        let taken = take_name(
            &mut state,
            "upper",
            "upper(x)".into(),
            &allowed,
            None,
            &diagnostics,
        );
        assert!(taken.is_ok());
        assert!(!state.scalar_functions().contains_key("upper"));
        let records = diagnostics.records();
        assert_eq!(records.len(), 1);
        assert!(matches!(
            &records[0].event,
            Event::FunctionRegistered { name, tier: Tier::Canon, overrides: Some(Tier::Builtin), .. }
                if name == "upper"
        ));
    }
}
