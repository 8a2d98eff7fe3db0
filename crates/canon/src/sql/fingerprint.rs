//! Plan fingerprints: a SHA-256 over a canonical text form of the optimized logical plan.
//!
//! The text is DataFusion's indented plan display with each node's output schema. It holds
//! what the plan computes — operators, expressions, table names, column types — and nothing
//! about where or how it runs: no file paths, no session id, no partition counts (those
//! appear only in physical plans). SQL texts that differ only in whitespace, comments or
//! keyword case plan to the same text; any change to what the plan computes changes it.

use datafusion::logical_expr::LogicalPlan;
use sha2::{Digest, Sha256};

use canon_model::util::hex;

/// Versions the canonical form: bump it when the text form changes.
const DOMAIN: &[u8] = b"canon-plan-v1\n";

/// The canonical text form of a plan that is hashed into its fingerprint.
pub fn canonical_text(plan: &LogicalPlan) -> String {
    plan.display_indent_schema().to_string()
}

/// Hex SHA-256 of the plan's canonical text form.
pub fn fingerprint(plan: &LogicalPlan) -> String {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    hasher.update(canonical_text(plan).as_bytes());
    hex(&hasher.finalize())
}
