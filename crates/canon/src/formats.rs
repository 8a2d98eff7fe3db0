//! The table formats compiled into this build, beyond DataFusion's listing formats: the
//! one place that knows which optional formats exist (Delta, with the `delta` feature).

use std::sync::Arc;

use crate::registry::{Formats, TableFormat};
use crate::stores::Stores;

/// Every table format this build registers, reading and writing through `stores`.
#[cfg_attr(not(feature = "delta"), allow(unused_variables))]
pub(crate) fn compiled(stores: &Arc<Stores>) -> Formats {
    let formats: Vec<Arc<dyn TableFormat>> = vec![
        #[cfg(feature = "delta")]
        Arc::new(crate::delta::DeltaFormat::new(Arc::clone(stores))),
    ];
    Arc::new(formats)
}
