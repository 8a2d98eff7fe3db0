//! `COPY … TO STDOUT`: a query's rows as COPY data, the way psql's `\copy`, psycopg's
//! `cursor.copy` and ADBC's PostgreSQL driver read bulk results.
//!
//! Binary tuples are written straight from the arrays, as result rows are (`rows.rs`); text
//! and CSV go through pgwire's COPY encoder value by value, with arrow-pg's text forms. Each
//! row is one CopyData message, as Postgres sends them, and pgwire counts them for the
//! `COPY n` tag; the binary header and a header line ride in the first row's message. With
//! no rows the header goes out alone (with the binary trailer), and pgwire's count takes
//! that message for a row: such a COPY is tagged `COPY 1`.

use std::sync::Arc;

use arrow_pg::datatypes::arrow_schema_to_pg_fields;
use arrow_pg::encoder::encode_value;
use bytes::{BufMut, Bytes, BytesMut};
use canon::datafusion::arrow::array::RecordBatch;
use canon::datafusion::arrow::datatypes::SchemaRef;
use canon::datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement,
};
use canon::datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use canon::datafusion::sql::sqlparser::parser::Parser;
use futures::{Stream, StreamExt};
use pgwire::api::portal::Format;
use pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, FieldInfo, Response,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::copy::CopyData;

/// The signature, flags and header-extension length that open binary COPY data.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// A `COPY … TO STDOUT`: the query whose rows it sends, and how they are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyOut {
    /// The rows' query, run as Canon runs any other, under the policy.
    pub query: String,
    /// How each row is written.
    pub format: CopyFormat,
}

/// The forms of COPY data Postgres defines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyFormat {
    /// PGCOPY binary tuples.
    Binary,
    /// Tab-separated (or `delimiter`) lines with backslash escapes.
    Text {
        delimiter: char,
        null: String,
        header: bool,
    },
    /// CSV lines.
    Csv {
        delimiter: char,
        null: String,
        quote: char,
        header: bool,
    },
}

impl CopyOut {
    /// The `COPY … TO STDOUT` that `sql` is; `None` for any other statement (a COPY to a
    /// file is DataFusion's), and an error for `COPY … FROM STDIN` and options Canon cannot
    /// honour.
    pub fn parse(sql: &str) -> PgWireResult<Option<Self>> {
        let starts_with_copy = sql
            .split_whitespace()
            .next()
            .is_some_and(|word| word.eq_ignore_ascii_case("COPY"));
        if !starts_with_copy {
            return Ok(None);
        }
        // What Postgres' grammar does not take is DataFusion's COPY, left to its parser.
        let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
            return Ok(None);
        };
        let (Some(statement), None) = (statements.pop(), statements.pop()) else {
            return Ok(None);
        };
        let Statement::Copy {
            source,
            to,
            target,
            options,
            legacy_options,
            ..
        } = statement
        else {
            return Ok(None);
        };
        match (to, target) {
            (true, CopyTarget::Stdout) => {}
            (false, CopyTarget::Stdin) => {
                return Err(unsupported(
                    "COPY … FROM STDIN is not supported: Canon reads a dataset from its \
                     contract's files, and writes to a Delta dataset with INSERT"
                        .into(),
                ));
            }
            (_, CopyTarget::Program { .. }) => {
                return Err(unsupported("COPY … PROGRAM is not supported".into()));
            }
            _ => return Ok(None),
        }
        let query = match source {
            CopySource::Query(query) => query.to_string(),
            CopySource::Table {
                table_name,
                columns,
            } if columns.is_empty() => format!("SELECT * FROM {table_name}"),
            CopySource::Table {
                table_name,
                columns,
            } => {
                let columns: Vec<String> = columns.iter().map(ToString::to_string).collect();
                format!("SELECT {} FROM {table_name}", columns.join(", "))
            }
        };
        let format = Options::read(&options, &legacy_options)?.format()?;
        Ok(Some(Self { query, format }))
    }
}

/// The options of a COPY as written, before they are checked against each other.
#[derive(Default)]
struct Options {
    format: Option<String>,
    delimiter: Option<char>,
    null: Option<String>,
    header: bool,
    quote: Option<char>,
    escape: Option<char>,
}

impl Options {
    fn read(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> PgWireResult<Self> {
        let mut read = Self::default();
        for option in options {
            match option {
                CopyOption::Format(name) => read.format = Some(name.value.to_ascii_lowercase()),
                CopyOption::Delimiter(c) => read.delimiter = Some(*c),
                CopyOption::Null(null) => read.null = Some(null.clone()),
                CopyOption::Header(header) => read.header = *header,
                CopyOption::Quote(c) => read.quote = Some(*c),
                CopyOption::Escape(c) => read.escape = Some(*c),
                CopyOption::Encoding(name) if is_utf8(name) => {}
                other => return Err(unsupported_option(other)),
            }
        }
        for option in legacy {
            match option {
                CopyLegacyOption::Binary => read.format = Some("binary".into()),
                CopyLegacyOption::Delimiter(c) => read.delimiter = Some(*c),
                CopyLegacyOption::Null(null) => read.null = Some(null.clone()),
                CopyLegacyOption::Header => read.header = true,
                CopyLegacyOption::Csv(csv) => {
                    read.format = Some("csv".into());
                    for option in csv {
                        match option {
                            CopyLegacyCsvOption::Header => read.header = true,
                            CopyLegacyCsvOption::Quote(c) => read.quote = Some(*c),
                            CopyLegacyCsvOption::Escape(c) => read.escape = Some(*c),
                            other => return Err(unsupported_option(other)),
                        }
                    }
                }
                other => return Err(unsupported_option(other)),
            }
        }
        Ok(read)
    }

    /// The format these options ask for, refusing the combinations Postgres refuses and
    /// the CSV escapes pgwire's encoder does not write (it doubles the quote).
    fn format(self) -> PgWireResult<CopyFormat> {
        let format = self.format.as_deref().unwrap_or("text");
        let not_binary = |given: bool, option: &str| {
            if given {
                Err(user_error(
                    "42601",
                    format!("cannot specify {option} in BINARY mode"),
                ))
            } else {
                Ok(())
            }
        };
        let only_csv = |given: bool, option: &str| {
            if given {
                Err(user_error(
                    "0A000",
                    format!("COPY {option} available only in CSV mode"),
                ))
            } else {
                Ok(())
            }
        };
        match format {
            "binary" => {
                not_binary(self.delimiter.is_some(), "DELIMITER")?;
                not_binary(self.null.is_some(), "NULL")?;
                not_binary(self.header, "HEADER")?;
                only_csv(self.quote.is_some(), "quote")?;
                only_csv(self.escape.is_some(), "escape")?;
                Ok(CopyFormat::Binary)
            }
            "text" => {
                only_csv(self.quote.is_some(), "quote")?;
                only_csv(self.escape.is_some(), "escape")?;
                Ok(CopyFormat::Text {
                    delimiter: self.delimiter.unwrap_or('\t'),
                    null: self.null.unwrap_or_else(|| "\\N".into()),
                    header: self.header,
                })
            }
            "csv" => {
                let quote = self.quote.unwrap_or('"');
                if self.escape.is_some_and(|escape| escape != quote) {
                    return Err(unsupported(
                        "COPY … CSV with an ESCAPE other than the QUOTE character is not \
                         supported"
                            .into(),
                    ));
                }
                Ok(CopyFormat::Csv {
                    delimiter: self.delimiter.unwrap_or(','),
                    null: self.null.unwrap_or_default(),
                    quote,
                    header: self.header,
                })
            }
            other => Err(user_error(
                "22023",
                format!("COPY format \"{other}\" not recognized"),
            )),
        }
    }
}

fn is_utf8(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "utf8" | "utf-8" | "unicode"
    )
}

/// The response to a COPY whose rows are `batches`, with `schema`: a CopyOutResponse, a
/// CopyData per row and the `COPY n` tag.
pub(super) fn response<S>(
    format: &CopyFormat,
    schema: &SchemaRef,
    batches: S,
) -> PgWireResult<Response>
where
    S: Stream<Item = PgWireResult<RecordBatch>> + Send + Unpin + 'static,
{
    let columns = schema.fields().len();
    let writer = Writer::new(format, schema)?;
    let code = match format {
        CopyFormat::Binary => 1,
        CopyFormat::Text { .. } | CopyFormat::Csv { .. } => 0,
    };
    // A batch's rows go out as they are, then the failure that ended the stream, if any:
    // no second vector of results per batch (as result rows, in `query.rs`).
    let rows = futures::stream::unfold(Some((batches, writer)), |state| async move {
        let (mut batches, mut writer) = state?;
        let (rows, failed) = match batches.next().await {
            Some(Ok(batch)) => match writer.rows(&batch) {
                Ok(rows) => return Some(((rows, None), Some((batches, writer)))),
                Err(e) => (Vec::new(), Some(e)),
            },
            Some(Err(e)) => (Vec::new(), Some(e)),
            None => (writer.finish().into_iter().collect(), None),
        };
        Some(((rows, failed), None))
    })
    .flat_map(|(rows, failed): (Vec<CopyData>, Option<PgWireError>)| {
        futures::stream::iter(rows.into_iter().map(Ok).chain(failed.map(Err)))
    });
    // The stream writes its own binary trailer: with no rows, Postgres sends the header and
    // the trailer as one message (psycopg reads exactly that), which `CopyResponse::new`'s
    // trailer of its own would follow.
    let mut response = CopyResponse::new(code, columns, futures::stream::empty());
    response.data_stream = Box::pin(rows);
    Ok(Response::CopyOut(response))
}

/// Writes batches as COPY rows, one message each.
struct Writer {
    encoding: Encoding,
    fields: Arc<Vec<FieldInfo>>,
    schema: SchemaRef,
    buffer: BytesMut,
    /// What goes before the first row: the binary header or the header line.
    prefix: Option<Bytes>,
}

enum Encoding {
    Binary,
    Textual(CopyEncoder),
}

impl Writer {
    fn new(format: &CopyFormat, schema: &SchemaRef) -> PgWireResult<Self> {
        let names = || schema.fields().iter().map(|field| field.name().as_str());
        let (fields, encoding, prefix) = match format {
            CopyFormat::Binary => {
                let fields = pg_fields(schema, &Format::UnifiedBinary)?;
                (
                    fields,
                    Encoding::Binary,
                    Some(Bytes::from_static(BINARY_HEADER)),
                )
            }
            CopyFormat::Text {
                delimiter,
                null,
                header,
            } => {
                let fields = pg_fields(schema, &Format::UnifiedText)?;
                let options = CopyTextOptions {
                    delimiter: delimiter.to_string().into(),
                    null_string: null.as_str().into(),
                };
                let encoder = CopyEncoder::new_text(Arc::clone(&fields), options);
                let prefix = header.then(|| text_header(names(), *delimiter));
                (fields, Encoding::Textual(encoder), prefix)
            }
            CopyFormat::Csv {
                delimiter,
                null,
                quote,
                header,
            } => {
                let fields = pg_fields(schema, &Format::UnifiedText)?;
                let options = CopyCsvOptions {
                    delimiter: delimiter.to_string().into(),
                    quote: quote.to_string().into(),
                    escape: quote.to_string().into(),
                    null_string: null.as_str().into(),
                    force_quote: Vec::new(),
                };
                let encoder = CopyEncoder::new_csv(Arc::clone(&fields), options);
                let prefix = header.then(|| csv_header(names(), *delimiter, *quote));
                (fields, Encoding::Textual(encoder), prefix)
            }
        };
        Ok(Self {
            encoding,
            fields,
            schema: Arc::clone(schema),
            buffer: BytesMut::new(),
            prefix,
        })
    }

    /// What ends the data: the binary trailer (after the header, if no row carried it),
    /// or a header line no row carried.
    fn finish(&mut self) -> Option<CopyData> {
        let prefix = self.prefix.take();
        match self.encoding {
            Encoding::Binary => {
                let mut end = BytesMut::from(prefix.as_deref().unwrap_or_default());
                end.put_i16(-1);
                Some(CopyData::new(end.freeze()))
            }
            Encoding::Textual(_) => prefix.map(CopyData::new),
        }
    }

    /// The rows of `batch` as CopyData messages.
    fn rows(&mut self, batch: &RecordBatch) -> PgWireResult<Vec<CopyData>> {
        let mut rows: Vec<Bytes> = match &mut self.encoding {
            Encoding::Binary => super::rows::tuples(&self.fields, batch, &mut self.buffer)?,
            Encoding::Textual(encoder) => {
                let mut rows = Vec::with_capacity(batch.num_rows());
                for row in 0..batch.num_rows() {
                    for ((array, field), pg) in batch
                        .columns()
                        .iter()
                        .zip(self.schema.fields().iter())
                        .zip(self.fields.iter())
                    {
                        encode_value(encoder, array, row, field, pg)?;
                    }
                    rows.push(encoder.take_copy().data);
                }
                rows
            }
        };
        if let Some(first) = rows.first_mut()
            && let Some(prefix) = self.prefix.take()
        {
            let mut joined = BytesMut::with_capacity(prefix.len() + first.len());
            joined.put_slice(&prefix);
            joined.put_slice(first);
            *first = joined.freeze();
        }
        Ok(rows.into_iter().map(CopyData::new).collect())
    }
}

/// The Postgres fields of `schema`'s columns, all in `format`.
fn pg_fields(schema: &SchemaRef, format: &Format) -> PgWireResult<Arc<Vec<FieldInfo>>> {
    Ok(Arc::new(arrow_schema_to_pg_fields(schema, format, None)?))
}

/// The column names as a line of text COPY, escaped as its values are.
fn text_header<'a>(names: impl Iterator<Item = &'a str>, delimiter: char) -> Bytes {
    let mut line = String::new();
    for (i, name) in names.enumerate() {
        if i > 0 {
            line.push(delimiter);
        }
        for c in name.chars() {
            match c {
                '\\' => line.push_str("\\\\"),
                '\n' => line.push_str("\\n"),
                '\r' => line.push_str("\\r"),
                '\t' => line.push_str("\\t"),
                c if c == delimiter => {
                    line.push('\\');
                    line.push(c);
                }
                c => line.push(c),
            }
        }
    }
    line.push('\n');
    Bytes::from(line)
}

/// The column names as a CSV line, quoted where they need it.
fn csv_header<'a>(names: impl Iterator<Item = &'a str>, delimiter: char, quote: char) -> Bytes {
    let mut line = String::new();
    for (i, name) in names.enumerate() {
        if i > 0 {
            line.push(delimiter);
        }
        let quoted = name.contains([delimiter, quote, '\n', '\r']);
        if quoted {
            line.push(quote);
            for c in name.chars() {
                if c == quote {
                    line.push(quote);
                }
                line.push(c);
            }
            line.push(quote);
        } else {
            line.push_str(name);
        }
    }
    line.push('\n');
    Bytes::from(line)
}

fn unsupported_option(option: &impl std::fmt::Display) -> PgWireError {
    unsupported(format!(
        "COPY option {option} is not supported over Postgres wire"
    ))
}

fn unsupported(message: String) -> PgWireError {
    user_error("0A000", message)
}

fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> Option<CopyOut> {
        CopyOut::parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    #[test]
    fn queries_tables_and_their_formats() {
        let copy = parsed("copy (SELECT id FROM trips WHERE id < 3) TO STDOUT (FORMAT binary)");
        assert_eq!(
            copy,
            Some(CopyOut {
                query: "SELECT id FROM trips WHERE id < 3".into(),
                format: CopyFormat::Binary,
            })
        );
        let copy = parsed("COPY trips (id, fare) TO STDOUT WITH CSV HEADER").map(|c| c.query);
        assert_eq!(copy.as_deref(), Some("SELECT id, fare FROM trips"));
        assert_eq!(
            parsed("COPY trips TO STDOUT WITH (FORMAT csv, HEADER true, DELIMITER ';')")
                .map(|c| c.format),
            Some(CopyFormat::Csv {
                delimiter: ';',
                null: String::new(),
                quote: '"',
                header: true,
            })
        );
        assert_eq!(
            parsed("COPY trips TO STDOUT").map(|c| c.format),
            Some(CopyFormat::Text {
                delimiter: '\t',
                null: "\\N".into(),
                header: false,
            })
        );
    }

    #[test]
    fn other_statements_and_files_are_not_copies_out() {
        assert_eq!(parsed("SELECT 1"), None);
        assert_eq!(parsed("COPY trips TO '/tmp/trips.parquet'"), None);
        assert_eq!(
            parsed("COPY trips TO 'out/' STORED AS PARQUET PARTITIONED BY (zone_id)"),
            None
        );
    }

    #[test]
    fn refusals_name_what_is_refused() {
        let refused = |sql: &str| match CopyOut::parse(sql) {
            Err(e) => e.to_string(),
            Ok(copy) => panic!("{sql} was taken as {copy:?}"),
        };
        assert!(refused("COPY trips FROM STDIN").contains("FROM STDIN"));
        assert!(refused("COPY trips TO STDOUT (FORMAT binary, HEADER)").contains("HEADER"));
        assert!(refused("COPY trips TO STDOUT (FORMAT parquet)").contains("parquet"));
        assert!(refused("COPY trips TO STDOUT (FORMAT csv, ESCAPE '\\')").contains("ESCAPE"));
        assert!(
            refused("COPY trips TO STDOUT (FORMAT csv, FORCE_QUOTE (id))").contains("FORCE_QUOTE")
        );
    }
}
