//! The table formats compiled into this build, beyond DataFusion's listing formats: the
//! one place that knows which optional formats exist (Delta, with the `delta` feature).

use std::sync::Arc;

use crate::registry::{Formats, TableFormat};

/// Every table format this build registers.
pub(crate) fn compiled() -> Formats {
    let formats: Vec<Arc<dyn TableFormat>> = vec![
        #[cfg(feature = "delta")]
        Arc::new(crate::delta::DeltaFormat),
    ];
    Arc::new(formats)
}
