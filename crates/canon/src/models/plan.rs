//! `canon plan`: each model's definition now against what its table was last built from
//! (the record its build committed), sorted into unchanged, changed but not breaking, and
//! breaking, with the models each change reaches. It reads only the tables' logs, so it
//! runs before anything is built or deployed.

use std::collections::BTreeSet;
use std::fmt;

use super::compile::compile;
use super::record::{self, BuildRecord};
use crate::error::Result;
use crate::profile::RuntimeProfile;
use crate::project::Project;

/// How a model's definition differs from its last build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// The same query and contract as the last build.
    Unchanged,
    /// Never built: there is no table, or no build record in its log.
    New,
    /// A view: nothing is stored, so it is always what the project says.
    View,
    /// Changed without breaking a reader: the query, or columns added.
    Changed,
    /// Changed so that a reader may break: a column removed or retyped, NULLs where there
    /// were none, a key changed.
    Breaking,
}

impl Change {
    /// The change as `canon plan` shows it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unchanged => "unchanged",
            Self::New => "new",
            Self::View => "view",
            Self::Changed => "changed",
            Self::Breaking => "breaking",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One model's line of the plan.
#[derive(Debug, Clone)]
pub struct ModelChange {
    /// The model.
    pub model: String,
    /// How it changed.
    pub change: Change,
    /// What changed, for people.
    pub reasons: Vec<String>,
    /// The models that read it, directly or not, in build order (for changes only).
    pub downstream: Vec<String>,
}

/// Every model's change, in build order.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// One line per model.
    pub models: Vec<ModelChange>,
}

impl Plan {
    /// The most serious change in the plan.
    pub fn worst(&self) -> Change {
        self.models
            .iter()
            .map(|m| m.change)
            .filter(|c| matches!(c, Change::Changed | Change::Breaking))
            .max()
            .unwrap_or(Change::Unchanged)
    }
}

/// Compiles the project and compares every model with its last build.
pub async fn plan(project: &Project) -> Result<Plan> {
    let compiled = compile(project).await?;
    let profile = RuntimeProfile::build(project)?;
    let formats = crate::formats::compiled(profile.stores());
    let mut plan = Plan::default();
    for node in &compiled.models {
        let Some(model) = project.model(&node.name) else {
            continue;
        };
        let (change, reasons) = if !model.kind.is_stored() {
            (Change::View, Vec::new())
        } else {
            let recorded = record::last(&formats, model).await?;
            let now = BuildRecord::of(model, crate::sql::fingerprint(&node.plan));
            match recorded.map(serde_json::from_value::<BuildRecord>) {
                None => (Change::New, vec!["never built".to_string()]),
                Some(Err(e)) => (
                    Change::Breaking,
                    vec![format!("its last build's record cannot be read: {e}")],
                ),
                Some(Ok(before)) => classify(&before, &now),
            }
        };
        let downstream = match change {
            Change::Changed | Change::Breaking => compiled
                .downstream(&node.name)
                .into_iter()
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        plan.models.push(ModelChange {
            model: node.name.clone(),
            change,
            reasons,
            downstream,
        });
    }
    Ok(plan)
}

/// How `now` differs from `before`, and why.
fn classify(before: &BuildRecord, now: &BuildRecord) -> (Change, Vec<String>) {
    let mut breaking = Vec::new();
    let mut changed = Vec::new();
    for old in &before.columns {
        match now.columns.iter().find(|c| c.name == old.name) {
            None => breaking.push(format!("column `{}` removed", old.name)),
            Some(new) if new.data_type != old.data_type => breaking.push(format!(
                "column `{}` retyped from {} to {}",
                old.name, old.data_type, new.data_type
            )),
            Some(new) if new.nullable && !old.nullable => {
                breaking.push(format!("column `{}` may now be NULL", old.name));
            }
            Some(_) => {}
        }
    }
    let old_names: BTreeSet<&str> = before.columns.iter().map(|c| c.name.as_str()).collect();
    for new in now
        .columns
        .iter()
        .filter(|c| !old_names.contains(c.name.as_str()))
    {
        changed.push(format!("column `{}` added", new.name));
    }
    if before.primary_key != now.primary_key {
        breaking.push(format!(
            "primary key changed from ({}) to ({})",
            before.primary_key.join(", "),
            now.primary_key.join(", ")
        ));
    }
    if before.unique != now.unique {
        breaking.push("unique keys changed".to_string());
    }
    if before.fingerprint != now.fingerprint {
        changed.push("the query changed".to_string());
    }
    match (breaking.is_empty(), changed.is_empty()) {
        (true, true) => (Change::Unchanged, Vec::new()),
        (true, false) => (Change::Changed, changed),
        (false, _) => {
            breaking.extend(changed);
            (Change::Breaking, breaking)
        }
    }
}
