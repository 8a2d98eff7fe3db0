//! The table formats installed in this process, beyond DataFusion's listing formats.
//!
//! A format that brings its own table factory (Delta, in the `canon-delta` crate) lives in
//! a crate of its own, so that the core never waits on its dependencies to compile. The
//! binary that wants it installs it once, before it loads a project; every runtime, model
//! build and check built after that registers it.

use std::sync::{Arc, PoisonError, RwLock};

use crate::registry::{Formats, TableFormat};
use crate::stores::Stores;

/// Makes a format's handler, reading and writing through the runtime's object stores.
pub type MakeFormat = fn(&Arc<Stores>) -> Arc<dyn TableFormat>;

/// The installed formats: each one's name (as `format = "…"` spells it) and maker.
static INSTALLED: RwLock<Vec<(&'static str, MakeFormat)>> = RwLock::new(Vec::new());

/// Installs a table format for every runtime this process builds from now on. Installing
/// a format again replaces its maker.
pub fn install(name: &'static str, make: MakeFormat) {
    let mut installed = INSTALLED.write().unwrap_or_else(PoisonError::into_inner);
    installed.retain(|(known, _)| *known != name);
    installed.push((name, make));
}

/// The names of the installed formats, in the order they were installed.
pub fn installed() -> Vec<&'static str> {
    let installed = INSTALLED.read().unwrap_or_else(PoisonError::into_inner);
    installed.iter().map(|(name, _)| *name).collect()
}

/// Every installed table format, reading and writing through `stores`.
pub(crate) fn compiled(stores: &Arc<Stores>) -> Formats {
    let installed = INSTALLED.read().unwrap_or_else(PoisonError::into_inner);
    Arc::new(installed.iter().map(|(_, make)| make(stores)).collect())
}
