//! A statement's batches as a response body, encoded batch by batch as they arrive, in the
//! format the request's `Accept` header asks for: an Arrow IPC stream, a JSON array of row
//! objects, JSON lines, or CSV with a header. JSON and CSV are written as `canon query`
//! writes them.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::ACCEPT;
use canon::datafusion::arrow::array::RecordBatch;
use canon::datafusion::arrow::datatypes::SchemaRef;
use canon::datafusion::arrow::error::ArrowError;
use canon::datafusion::arrow::ipc::writer::StreamWriter;
use canon::datafusion::arrow::{csv, json};
use futures::StreamExt;

use super::answer::ApiError;

/// The media type of an Arrow IPC stream.
pub(crate) const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// A format a result can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// An Arrow IPC stream: the schema, then each batch.
    Arrow,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// CSV with a header line.
    Csv,
}

impl Format {
    /// The format the `Accept` header asks for: the first media type Canon writes, JSON
    /// when there is none or any will do.
    pub fn accepted(headers: &HeaderMap) -> Result<Self, ApiError> {
        let Some(accept) = headers.get(ACCEPT) else {
            return Ok(Self::Json);
        };
        let accept = accept
            .to_str()
            .map_err(|_| ApiError::bad_request("the accept header is not text"))?;
        for media in accept.split(',') {
            let media = media.split(';').next().unwrap_or_default().trim();
            let format = match media.to_ascii_lowercase().as_str() {
                ARROW_STREAM => Self::Arrow,
                "application/json" | "*/*" | "application/*" => Self::Json,
                "application/x-ndjson" | "application/jsonl" => Self::Ndjson,
                "text/csv" | "text/*" => Self::Csv,
                _ => continue,
            };
            return Ok(format);
        }
        Err(ApiError::not_acceptable(format!(
            "cannot answer as `{accept}`: ask for {ARROW_STREAM}, application/json, \
             application/x-ndjson or text/csv"
        )))
    }

    /// Refuses, before anything is sent, a result this format cannot write: CSV has no
    /// form for nested values (lists, structs, maps, unions).
    pub fn check(self, schema: &SchemaRef) -> Result<(), ApiError> {
        if self != Self::Csv {
            return Ok(());
        }
        match schema.fields().iter().find(|f| f.data_type().is_nested()) {
            Some(field) => Err(ApiError::not_acceptable(format!(
                "CSV cannot hold column `{}` of type {}: ask for application/json or {ARROW_STREAM}",
                field.name(),
                field.data_type()
            ))),
            None => Ok(()),
        }
    }

    /// The answer's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Arrow => ARROW_STREAM,
            Self::Json => "application/json",
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// The body that writes `batches` in `format`; an error while they stream ends the body
/// early, so the client sees a broken answer rather than a short one.
pub(crate) fn body<S>(batches: S, schema: SchemaRef, format: Format) -> Body
where
    S: futures::Stream<Item = Result<RecordBatch, ArrowError>> + Send + Unpin + 'static,
{
    let encoder = match Encoder::new(schema, format) {
        Ok(encoder) => encoder,
        Err(e) => return Body::from_stream(futures::stream::iter([Err::<Bytes, _>(e)])),
    };
    let chunks = futures::stream::unfold(
        (batches, Some(encoder)),
        |(mut batches, encoder)| async move {
            let mut encoder = encoder?;
            match batches.next().await {
                Some(Ok(batch)) => {
                    let chunk = encoder.write(&batch);
                    Some((chunk, (batches, Some(encoder))))
                }
                Some(Err(e)) => Some((Err(e), (batches, None))),
                None => Some((encoder.finish(), (batches, None))),
            }
        },
    );
    Body::from_stream(chunks)
}

/// Writes batches in one format into bytes, a chunk per batch.
enum Encoder {
    Arrow(StreamWriter<Vec<u8>>),
    Json(json::ArrayWriter<Vec<u8>>),
    Ndjson(json::LineDelimitedWriter<Vec<u8>>),
    Csv { schema: SchemaRef, header: bool },
}

impl Encoder {
    fn new(schema: SchemaRef, format: Format) -> Result<Self, ArrowError> {
        Ok(match format {
            Format::Arrow => Self::Arrow(StreamWriter::try_new(Vec::new(), &schema)?),
            // NULLs are written as `null`, not left out, so every row has every column.
            Format::Json => Self::Json(
                json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, json::writer::JsonArray>(Vec::new()),
            ),
            Format::Ndjson => Self::Ndjson(
                json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, json::writer::LineDelimited>(Vec::new()),
            ),
            Format::Csv => Self::Csv {
                schema,
                header: true,
            },
        })
    }

    /// The bytes of one batch (the Arrow stream's first chunk carries its schema too).
    fn write(&mut self, batch: &RecordBatch) -> Result<Bytes, ArrowError> {
        match self {
            Self::Arrow(writer) => {
                writer.write(batch)?;
                Ok(take(writer.get_mut()))
            }
            Self::Json(writer) => {
                writer.write(&canon::results::json_ready(batch)?)?;
                Ok(take(writer.get_mut()))
            }
            Self::Ndjson(writer) => {
                writer.write(&canon::results::json_ready(batch)?)?;
                Ok(take(writer.get_mut()))
            }
            Self::Csv { header, .. } => {
                if batch.num_rows() == 0 {
                    return Ok(Bytes::new());
                }
                let mut out = Vec::new();
                csv::WriterBuilder::new()
                    .with_header(*header)
                    .build(&mut out)
                    .write(batch)?;
                *header = false;
                Ok(Bytes::from(out))
            }
        }
    }

    /// The last bytes: the Arrow stream's end, the JSON array's closing bracket, the CSV
    /// header of an empty result.
    fn finish(self) -> Result<Bytes, ArrowError> {
        match self {
            Self::Arrow(mut writer) => {
                writer.finish()?;
                Ok(take(writer.get_mut()))
            }
            Self::Json(mut writer) => {
                writer.finish()?;
                let out = writer.get_mut();
                writeln!(out)?;
                Ok(take(out))
            }
            Self::Ndjson(mut writer) => {
                writer.finish()?;
                Ok(take(writer.get_mut()))
            }
            Self::Csv { schema, header } => {
                if !header {
                    return Ok(Bytes::new());
                }
                let mut out = Vec::new();
                csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out)
                    .write(&RecordBatch::new_empty(schema))?;
                Ok(Bytes::from(out))
            }
        }
    }
}

/// What a writer has written so far, leaving it empty for the next batch.
fn take(buffer: &mut Vec<u8>) -> Bytes {
    Bytes::from(std::mem::take(buffer))
}
