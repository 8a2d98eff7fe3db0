//! Errors of Delta operations. They reach Canon's callers as `CanonError::Format`, with
//! this type as the source, so that the core names no Delta type.

use crate::error::CanonError;
use crate::policy::PolicyViolation;

/// A Delta operation on a dataset failed.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// The SQL policy does not allow the operation; nothing was changed.
    #[error(transparent)]
    Refused(PolicyViolation),
    /// The dataset is not a Delta dataset (or not one of the project's).
    #[error("dataset `{dataset}` is not a Delta dataset of this project")]
    NotDelta {
        /// The dataset named.
        dataset: String,
    },
    /// The request does not fit the dataset or its table.
    #[error("Delta dataset `{dataset}`: {message}")]
    Invalid {
        /// The dataset.
        dataset: String,
        /// What is wrong.
        message: String,
    },
    /// delta-rs refused or failed the operation.
    #[error("Delta dataset `{dataset}`: {source}")]
    Table {
        /// The dataset.
        dataset: String,
        /// delta-rs's error.
        source: Box<deltalake_core::DeltaTableError>,
    },
}

impl From<DeltaError> for CanonError {
    fn from(error: DeltaError) -> Self {
        match error {
            DeltaError::Refused(violation) => Self::Policy(violation),
            other => Self::Format(Box::new(other)),
        }
    }
}
