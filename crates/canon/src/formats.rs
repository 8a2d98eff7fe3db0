//! The table formats compiled into this build, beyond DataFusion's listing formats: the
//! one place that knows which optional formats exist (Delta, with the `delta` feature).

use std::sync::Arc;

use crate::registry::{Formats, TableFormat};

/// Every table format this build registers.
pub(crate) fn compiled() -> Formats {
    #[allow(unused_mut)] // Without optional formats the list stays empty.
    let mut formats: Vec<Arc<dyn TableFormat>> = Vec::new();
    #[cfg(feature = "delta")]
    formats.push(Arc::new(crate::delta::DeltaFormat));
    Arc::new(formats)
}
