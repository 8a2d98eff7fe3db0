//! Panics inside the engine (a function, an operator, a client-query rewrite) are
//! contained to the statement that hit them: its client gets an error, and that
//! connection and every other one keep going.

use std::any::Any;
use std::panic::AssertUnwindSafe;

use canon::CanonError;
use canon::datafusion::error::DataFusionError;
use canon::datafusion::execution::SendableRecordBatchStream;
use canon::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{FutureExt, StreamExt};

/// Runs `work`, failing with an error instead of unwinding when something in it panics.
pub async fn contained<T>(
    work: impl Future<Output = Result<T, CanonError>>,
) -> Result<T, CanonError> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(CanonError::from(panicked(payload.as_ref()))),
    }
}

/// `batches`, ending with an error instead of unwinding when producing one panics.
pub fn contained_stream(batches: SendableRecordBatchStream) -> SendableRecordBatchStream {
    let schema = batches.schema();
    let batches = AssertUnwindSafe(batches)
        .catch_unwind()
        .map(|item| item.unwrap_or_else(|payload| Err(panicked(payload.as_ref()))));
    Box::pin(RecordBatchStreamAdapter::new(schema, batches))
}

/// The error a panic becomes, with the panic's message when it has one.
fn panicked(payload: &(dyn Any + Send)) -> DataFusionError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    tracing::error!(%message, "a statement panicked inside the engine");
    DataFusionError::Execution(format!(
        "the statement failed inside the engine ({message}); the connection is still usable"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error() {
        let work = async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            Ok(1)
        };
        let error = contained(work).await.err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("boom")));
    }
}
