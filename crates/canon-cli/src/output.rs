//! Printing results and descriptions.

use std::fmt::Write as _;
use std::io::Write;

use std::sync::Arc;

use canon::Runtime;
use canon::analyze::{Analysis, SCAN_METRICS};
use canon::datafusion::arrow::array::RecordBatch;
use canon::datafusion::arrow::array::{AsArray, StringArray};
use canon::datafusion::arrow::compute::cast;
use canon::datafusion::arrow::datatypes::{DataType, Schema};
use canon::datafusion::arrow::error::ArrowError;
use canon::datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
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

/// A human description of a registered dataset; `columns` are the rows of Canon's
/// `canon_describe` statement (name, type, nullable), which must have three cells each.
pub fn describe(runtime: &Runtime, name: &str, columns: &[Vec<String>]) -> String {
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
    // Rows of Canon's `canon_describe` statement: column name, type, nullable (YES/NO).
    let width = columns.iter().map(|c| c[0].len()).max().unwrap_or(0);
    let type_width = columns
        .iter()
        .map(|c| c[1].chars().count())
        .max()
        .unwrap_or(0);
    for column in columns {
        let [name, data_type, nullable] = [&column[0], &column[1], &column[2]];
        let null = if nullable == "YES" { "" } else { "NOT NULL" };
        let part = if spec.partitioned_by.contains(name) {
            "  (partition)"
        } else {
            ""
        };
        let line = format!("  {name:width$}  {data_type:type_width$}  {null}{part}");
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

/// Every cell of the batches rendered as text (NULL as empty), row by row.
pub fn cells(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, ArrowError> {
    let options = FormatOptions::default();
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// A statement's results, then its executed plan with metrics and the parquet scan
/// metrics summed over the plan.
pub fn analysis(
    out: &mut impl Write,
    analysis: &Analysis,
    format: OutputFormat,
    first: bool,
) -> Result<(), ArrowError> {
    print(out, &analysis.batches, format, first)?;
    writeln!(out, "\nplan with metrics:")?;
    for line in analysis.plan.lines() {
        writeln!(out, "  {line}")?;
    }
    if analysis.scan_metrics.is_empty() {
        writeln!(
            out,
            "\nparquet scan metrics: none (no parquet scan in the plan)"
        )?;
        return Ok(());
    }
    writeln!(out, "\nparquet scan metrics:")?;
    let width = SCAN_METRICS.iter().map(|m| m.len()).max().unwrap_or(0);
    for name in SCAN_METRICS {
        if let Some(value) = analysis.scan_metrics.get(name) {
            writeln!(out, "  {name:width$}  {value}")?;
        }
    }
    Ok(())
}

/// The function catalog; in a table, descriptions are cut to their first sentence.
pub fn functions(
    out: &mut impl Write,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> Result<(), ArrowError> {
    if format != OutputFormat::Table {
        return print(out, batches, format, true);
    }
    let shortened = batches
        .iter()
        .map(|batch| {
            let Ok(index) = batch.schema().index_of("description") else {
                return Ok(batch.clone());
            };
            let descriptions = cast(batch.column(index), &DataType::Utf8)?;
            let short: StringArray = descriptions
                .as_string::<i32>()
                .iter()
                .map(|d| d.map(first_sentence))
                .collect();
            let mut columns = batch.columns().to_vec();
            columns[index] = Arc::new(short);
            let fields: Vec<_> = batch
                .schema()
                .fields()
                .iter()
                .map(|f| match f.name() == "description" {
                    true => Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8)),
                    false => Arc::clone(f),
                })
                .collect();
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if shortened.iter().all(|b| b.num_rows() == 0) {
        writeln!(out, "no functions match")?;
        return Ok(());
    }
    print(out, &shortened, format, true)
}

fn first_sentence(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.find(". ") {
        Some(end) => one_line[..=end].to_string(),
        None => one_line,
    }
}

/// One cache's entries under a heading with its entry count; tables print a note when
/// the cache is empty.
pub fn cache(
    out: &mut impl Write,
    function: &str,
    batches: &[RecordBatch],
    format: OutputFormat,
    first: bool,
) -> Result<(), ArrowError> {
    let entries: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if format != OutputFormat::Table {
        return print(out, batches, format, first);
    }
    if !first {
        writeln!(out)?;
    }
    writeln!(out, "{function}(): {entries} entries")?;
    if entries > 0 {
        print(out, batches, format, true)?;
    }
    Ok(())
}
