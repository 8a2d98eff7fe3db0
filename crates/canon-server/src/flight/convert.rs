//! Between Canon's values and Flight SQL's: errors as statuses, DML counts, schemas as IPC
//! bytes, prepared-statement handles and bound parameter rows.

use std::time::Duration;

use arrow_flight::error::FlightError;
use arrow_flight::sql::server::PeekableFlightDataStream;
use arrow_flight::{IpcMessage, SchemaAsIpc, decode::FlightRecordBatchStream};
use canon::CanonError;
use canon::datafusion::arrow::datatypes::Schema;
use canon::datafusion::arrow::error::ArrowError;
use canon::datafusion::arrow::ipc::writer::IpcWriteOptions;
use canon::datafusion::arrow::record_batch::RecordBatch;
use canon::datafusion::scalar::ScalarValue;
use canon::session::rows_affected;
use futures::TryStreamExt;
use tonic::Status;

use crate::error::Fault;

/// The row count of a DML result, as Flight SQL's `i64`.
pub(super) fn row_count(batches: &[RecordBatch]) -> i64 {
    i64::try_from(rows_affected(batches)).unwrap_or(i64::MAX)
}

/// A Canon error as the status a client sees: refusals and bad SQL are the client's, the
/// rest the server's.
pub(super) fn status(error: CanonError) -> Status {
    let message = error.to_string();
    match Fault::of(&error) {
        Fault::Refused => Status::permission_denied(message),
        Fault::Syntax | Fault::Plan => Status::invalid_argument(message),
        Fault::Exhausted => Status::resource_exhausted(message),
        Fault::Server => Status::internal(message),
    }
}

pub(super) fn arrow_status(error: ArrowError) -> Status {
    Status::internal(error.to_string())
}

/// The error of a statement cut at the statement timeout.
pub(super) fn timed_out(limit: Duration) -> Status {
    Status::deadline_exceeded(crate::stream::timed_out_message(limit))
}

/// The IPC bytes of a schema, as prepared-statement results carry them.
pub(super) fn schema_bytes(schema: &Schema) -> Result<prost::bytes::Bytes, Status> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(arrow_status)?;
    let IpcMessage(bytes) = message;
    Ok(bytes)
}

/// A prepared-statement handle as the name of Canon's prepared statement.
pub(super) fn handle_name(handle: &[u8]) -> Result<String, Status> {
    String::from_utf8(handle.to_vec())
        .map_err(|_| Status::invalid_argument("prepared statement handle is not Canon's"))
}

/// The parameter rows a client bound, each row as values.
pub(super) async fn parameter_rows(
    stream: PeekableFlightDataStream,
) -> Result<Vec<Vec<ScalarValue>>, Status> {
    let batches: Vec<RecordBatch> =
        FlightRecordBatchStream::new_from_flight_data(stream.map_err(FlightError::from))
            .try_collect()
            .await
            .map_err(Status::from)?;
    let mut rows = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let values = batch
                .columns()
                .iter()
                .map(|column| ScalarValue::try_from_array(column, row))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Status::invalid_argument(format!("parameter values: {e}")))?;
            rows.push(values);
        }
    }
    Ok(rows)
}
