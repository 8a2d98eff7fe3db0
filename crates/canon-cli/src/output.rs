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

/// How the check report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One line per file, then a summary.
    Table,
    /// The full report as JSON.
    Json,
}

/// Renders a check report.
pub fn check_report(report: &canon::check::CheckReport, format: ReportFormat) -> String {
    if format == ReportFormat::Json {
        // The report is plain strings and numbers; serialization cannot fail.
        return serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
    }
    let mut rows: Vec<[String; 5]> = Vec::new();
    for dataset in &report.datasets {
        for problem in &dataset.problems {
            rows.push([
                dataset.dataset.clone(),
                "(dataset)".into(),
                String::new(),
                "FAIL".into(),
                problem.clone(),
            ]);
        }
        for file in &dataset.files {
            let status = if file.problems.is_empty() {
                "ok"
            } else {
                "FAIL"
            };
            rows.push([
                dataset.dataset.clone(),
                file.path.clone(),
                file.rows.map(|r| r.to_string()).unwrap_or_default(),
                status.into(),
                file.problems.join("; "),
            ]);
        }
    }
    let header = ["dataset", "file", "rows", "status", "problems"];
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |cells: [&str; 5]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate().take(4) {
            let _ = write!(text, "{cell:w$}  ", w = widths[i]);
        }
        text.push_str(cells[4]);
        text.trim_end().to_string() + "\n"
    };
    out.push_str(&line(header));
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    let files: usize = report.datasets.iter().map(|d| d.files.len()).sum();
    let failing = rows.iter().filter(|r| r[3] == "FAIL").count();
    let _ = writeln!(
        out,
        "\n{} dataset(s), {files} file(s) checked, {failing} failing",
        report.datasets.len()
    );
    out
}
