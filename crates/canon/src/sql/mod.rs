//! SQL beyond running it: dialects, canonical SQL, column lineage, plan fingerprints,
//! explanations that show them all, and errors shown against the SQL they came from.

pub mod canonical;
pub mod explain;
pub mod fingerprint;
pub mod lineage;
pub mod report;

pub use canon_model::dialect::{self, IdentifierCase, UnsupportedSyntax};
pub use canonical::canonical_sql;
pub use explain::Explanation;
pub use fingerprint::fingerprint;
pub use lineage::{ColumnLineage, Lineage, SourceColumn};
pub use report::render as render_error;
