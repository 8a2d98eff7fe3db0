//! Printing results and descriptions.

use std::fmt::Write as _;
use std::io::Write;

use canon::Runtime;
use canon::datafusion::arrow::array::RecordBatch;
use canon::datafusion::arrow::error::ArrowError;
use canon::datafusion::arrow::util::pretty::pretty_format_batches;
use canon::datafusion::arrow::{csv, json};

/// How query results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Prints one statement's result; statements without result columns print nothing.
pub fn print(
    out: &mut impl Write,
    batches: &[RecordBatch],
    format: OutputFormat,
    first: bool,
) -> Result<(), ArrowError> {
    let Some(schema) = batches.first().map(|b| b.schema()) else {
        return Ok(());
    };
    if schema.fields().is_empty() {
        return Ok(());
    }
    match format {
        OutputFormat::Table => {
            if !first {
                writeln!(out)?;
            }
            writeln!(out, "{}", pretty_format_batches(batches)?)?;
        }
        OutputFormat::Csv => {
            if !first {
                writeln!(out)?;
            }
            let mut writer = csv::WriterBuilder::new().with_header(true).build(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = json::ArrayWriter::new(&mut *out);
            writer.write_batches(&batches.iter().collect::<Vec<_>>())?;
            writer.finish()?;
            writeln!(out)?;
        }
        OutputFormat::Ndjson => {
            let mut writer = json::LineDelimitedWriter::new(&mut *out);
            writer.write_batches(&batches.iter().collect::<Vec<_>>())?;
            writer.finish()?;
        }
    }
    Ok(())
}

/// A human description of a registered dataset.
pub fn describe(runtime: &Runtime, name: &str) -> String {
    let Some(dataset) = runtime.dataset(name) else {
        return format!("no dataset `{name}`\n");
    };
    let spec = &dataset.spec;
    let mut out = String::new();
    let _ = writeln!(out, "dataset             {}", spec.name);
    let _ = writeln!(out, "format              {}", spec.format);
    let _ = writeln!(out, "location            {}", spec.location);
    let _ = writeln!(out, "declared at         {}", spec.origin);
    let _ = writeln!(out, "schema fingerprint  {}", dataset.schema_fingerprint);
    if !spec.partitioned_by.is_empty() {
        let _ = writeln!(
            out,
            "partitioned by      {}",
            spec.partitioned_by.join(", ")
        );
    }
    if !spec.ordered_by.is_empty() {
        let keys: Vec<String> = spec
            .ordered_by
            .iter()
            .map(|k| format!("{} {}", k.column, if k.descending { "DESC" } else { "ASC" }))
            .collect();
        let _ = writeln!(out, "ordered by          {}", keys.join(", "));
    }
    for (k, v) in &spec.options {
        let _ = writeln!(out, "option              {k} = {v}");
    }
    let _ = writeln!(out, "\ncolumns:");
    let schema = dataset.provider.schema();
    let width = schema
        .fields()
        .iter()
        .map(|f| f.name().len())
        .max()
        .unwrap_or(0);
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().to_string())
        .collect();
    let type_width = types.iter().map(|t| t.chars().count()).max().unwrap_or(0);
    for (field, data_type) in schema.fields().iter().zip(&types) {
        let null = if field.is_nullable() { "" } else { "NOT NULL" };
        let part = if spec.partitioned_by.contains(field.name()) {
            "  (partition)"
        } else {
            ""
        };
        let line = format!(
            "  {:width$}  {data_type:type_width$}  {null}{part}",
            field.name()
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if !dataset.notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
        for note in &dataset.notes {
            let _ = writeln!(out, "  {note}");
        }
    }
    out
}
