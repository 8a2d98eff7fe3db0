//! SQL beyond running it: dialects, canonical SQL, column lineage, plan fingerprints, and
//! explanations that show them all.

pub mod canonical;
pub mod explain;
pub mod fingerprint;
pub mod lineage;

pub use canon_model::dialect::{self, IdentifierCase, UnsupportedSyntax};
pub use canonical::canonical_sql;
pub use explain::Explanation;
pub use fingerprint::fingerprint;
pub use lineage::{ColumnLineage, Lineage, SourceColumn};
