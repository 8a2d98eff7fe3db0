//! Printing results and descriptions.

use std::fmt::Write as _;
use std::io::Write;

use std::sync::Arc;

use canon::Runtime;
use canon::analyze::{Analysis, SCAN_METRICS};
use canon::datafusion::arrow::array::RecordBatch;
use canon::datafusion::arrow::array::{AsArray, StringArray};
use canon::datafusion::arrow::compute::cast;
use canon::datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use canon::datafusion::arrow::error::ArrowError;
use canon::datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
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

/// Prints one statement's collected result; statements without result columns, and
/// results without a batch to take the columns from, print nothing.
pub fn print(
    out: &mut impl Write,
    batches: &[RecordBatch],
    format: OutputFormat,
    first: bool,
) -> Result<(), ArrowError> {
    let Some(schema) = batches.first().map(|b| b.schema()) else {
        return Ok(());
    };
    let mut writer = ResultWriter::new(out, schema, format, first)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()
}

/// Rows the table format holds before it fixes its column widths and starts printing.
///
/// An aligned table needs every column's width before its first line, and the only exact
/// way to know them is to read the whole result first, in unbounded memory. Instead the
/// first rows decide the widths: a result that fits prints exactly as one whole table, and
/// a longer one streams its remaining rows under that header in constant memory. When a
/// later row does not fit (ids that gain a digit, a longer name), the columns widen and a
/// border line with the new widths is drawn before it, so the table stays aligned from
/// there on; cells are never cut, which would lose data. Widths only grow, so such
/// borders are few.
pub const TABLE_WIDTH_ROWS: usize = 1000;

/// Writes one statement's result batch by batch, so a result of any size prints in
/// constant memory; every batch is flushed as it is written.
pub struct ResultWriter<W: Write> {
    sink: Sink<W>,
}

enum Sink<W: Write> {
    /// The statement has no result columns.
    Silent,
    Table(TableSink<W>),
    Csv {
        out: W,
        schema: SchemaRef,
        header_written: bool,
    },
    Json(json::ArrayWriter<W>),
    Ndjson(json::LineDelimitedWriter<W>),
}

impl<W: Write> ResultWriter<W> {
    /// Starts a result with these columns; `first` is false for the second and later
    /// statements of a script, whose tables and CSV are set off by a blank line.
    pub fn new(
        mut out: W,
        schema: SchemaRef,
        format: OutputFormat,
        first: bool,
    ) -> Result<Self, ArrowError> {
        if schema.fields().is_empty() {
            return Ok(Self { sink: Sink::Silent });
        }
        if !first && matches!(format, OutputFormat::Table | OutputFormat::Csv) {
            writeln!(out)?;
        }
        let sink = match format {
            OutputFormat::Table => Sink::Table(TableSink::new(out, &schema)),
            OutputFormat::Csv => Sink::Csv {
                out,
                schema,
                header_written: false,
            },
            // NULLs are written as `null`, not left out, so every row has every column.
            OutputFormat::Json => Sink::Json(
                json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, json::writer::JsonArray>(out),
            ),
            OutputFormat::Ndjson => Sink::Ndjson(
                json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, json::writer::LineDelimited>(out),
            ),
        };
        Ok(Self { sink })
    }

    /// Writes one batch of the result.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        match &mut self.sink {
            Sink::Silent => {}
            Sink::Table(table) => table.write(batch)?,
            Sink::Csv {
                out,
                header_written,
                ..
            } => {
                if batch.num_rows() == 0 {
                    return Ok(());
                }
                write_csv(out, batch, !*header_written)?;
                *header_written = true;
                out.flush()?;
            }
            Sink::Json(writer) => {
                writer.write(&canon::results::json_ready(batch)?)?;
                writer.get_mut().flush()?;
            }
            Sink::Ndjson(writer) => {
                writer.write(&canon::results::json_ready(batch)?)?;
                writer.get_mut().flush()?;
            }
        }
        Ok(())
    }

    /// Ends the result: the table's last lines, the CSV header of an empty result, the
    /// JSON array's closing bracket.
    pub fn finish(self) -> Result<(), ArrowError> {
        match self.sink {
            Sink::Silent => {}
            Sink::Table(table) => table.finish()?,
            Sink::Csv {
                mut out,
                schema,
                header_written,
            } => {
                if !header_written {
                    write_csv(&mut out, &RecordBatch::new_empty(schema), true)?;
                }
                out.flush()?;
            }
            Sink::Json(mut writer) => {
                writer.finish()?;
                let out = writer.get_mut();
                writeln!(out)?;
                out.flush()?;
            }
            Sink::Ndjson(mut writer) => {
                writer.finish()?;
                writer.get_mut().flush()?;
            }
        }
        Ok(())
    }
}

/// Arrow's CSV writer flushes into `out` on every write, so one per batch costs nothing
/// and leaves `out` free between batches.
fn write_csv(out: &mut impl Write, batch: &RecordBatch, header: bool) -> Result<(), ArrowError> {
    csv::WriterBuilder::new()
        .with_header(header)
        .build(out)
        .write(batch)
}

/// The aligned table, drawn as Arrow's `pretty_format_batches` draws it.
struct TableSink<W: Write> {
    out: W,
    header: Vec<String>,
    /// The first rows, held until there are enough to fix the widths; `None` after.
    held: Option<Vec<Vec<String>>>,
    widths: Vec<usize>,
}

impl<W: Write> TableSink<W> {
    fn new(out: W, schema: &Schema) -> Self {
        let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        Self {
            out,
            widths: header.iter().map(|h| cell_width(h)).collect(),
            header,
            held: Some(Vec::new()),
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let options = FormatOptions::default();
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            match &mut self.held {
                Some(held) => {
                    held.push(cells);
                    if held.len() >= TABLE_WIDTH_ROWS {
                        self.start()?;
                    }
                }
                None => {
                    if self.widen(&cells) {
                        self.border()?;
                    }
                    self.row(&cells)?;
                }
            }
        }
        if self.held.is_none() {
            self.out.flush()?;
        }
        Ok(())
    }

    /// Fixes the widths from the header and the held rows, then prints them.
    fn start(&mut self) -> std::io::Result<()> {
        let held = self.held.take().unwrap_or_default();
        for cells in &held {
            for (width, cell) in self.widths.iter_mut().zip(cells) {
                *width = (*width).max(cell_width(cell));
            }
        }
        self.border()?;
        let header = std::mem::take(&mut self.header);
        self.row(&header)?;
        self.border()?;
        for cells in &held {
            self.row(cells)?;
        }
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<()> {
        // Without rows, too: the header between its borders, then the bottom border,
        // as Arrow draws an empty result.
        if self.held.is_some() {
            self.start()?;
        }
        self.border()?;
        self.out.flush()
    }

    /// Widens the columns a row does not fit in; whether any did.
    fn widen(&mut self, cells: &[String]) -> bool {
        let mut widened = false;
        for (width, cell) in self.widths.iter_mut().zip(cells) {
            let needed = cell_width(cell);
            if needed > *width {
                *width = needed;
                widened = true;
            }
        }
        widened
    }

    fn border(&mut self) -> std::io::Result<()> {
        let mut line = String::from("+");
        for width in &self.widths {
            line.push_str(&"-".repeat(width + 2));
            line.push('+');
        }
        writeln!(self.out, "{line}")
    }

    /// One row; a cell with line breaks makes the row as many lines high.
    fn row(&mut self, cells: &[String]) -> std::io::Result<()> {
        let lines: Vec<Vec<&str>> = cells.iter().map(|c| c.split('\n').collect()).collect();
        let height = lines.iter().map(Vec::len).max().unwrap_or(1);
        for i in 0..height {
            let mut line = String::from("|");
            for (cell, width) in lines.iter().zip(&self.widths) {
                let part = cell.get(i).copied().unwrap_or_default();
                line.push(' ');
                line.push_str(part);
                line.push_str(&" ".repeat(width.saturating_sub(display_width(part)) + 1));
                line.push('|');
            }
            writeln!(self.out, "{line}")?;
        }
        Ok(())
    }
}

/// The width of a cell: its widest line.
fn cell_width(cell: &str) -> usize {
    cell.split('\n').map(display_width).max().unwrap_or(0)
}

/// Terminal columns a string takes: East Asian wide characters and most emoji take two,
/// combining marks and zero-width characters none. An approximation of Unicode's width
/// tables that is exact for the text results hold in practice.
fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| match u32::from(c) {
            0x0300..=0x036F | 0x200B..=0x200F | 0xFE00..=0xFE0F => 0,
            0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F300..=0x1F64F
            | 0x1F900..=0x1F9FF
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
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

#[cfg(test)]
mod tests {
    use super::*;
    use canon::datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
    use canon::datafusion::arrow::util::pretty::pretty_format_batches_with_schema;

    fn batch(ids: Vec<Option<i64>>, names: Vec<Option<&str>>) -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int64Array::from(ids));
        let names: ArrayRef = Arc::new(StringArray::from(names));
        RecordBatch::try_from_iter([("id", ids), ("name", names)]).expect("batch")
    }

    fn table(batches: &[RecordBatch], schema: SchemaRef) -> String {
        let mut out = Vec::new();
        let mut writer =
            ResultWriter::new(&mut out, schema, OutputFormat::Table, true).expect("writer");
        for b in batches {
            writer.write(b).expect("write");
        }
        writer.finish().expect("finish");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn tables_match_arrow_pretty_printing() {
        let cases = vec![
            vec![batch(vec![Some(1)], vec![Some("a")])],
            vec![
                batch(vec![Some(1), None], vec![Some("Zürich"), None]),
                batch(vec![Some(12345)], vec![Some("東京 tower")]),
            ],
            vec![batch(vec![Some(7)], vec![Some("two\nlines")])],
            vec![batch(vec![], vec![])],
            vec![],
        ];
        let schema = batch(vec![], vec![]).schema();
        for batches in cases {
            let expected = pretty_format_batches_with_schema(Arc::clone(&schema), &batches)
                .expect("pretty")
                .to_string()
                + "\n";
            assert_eq!(table(&batches, Arc::clone(&schema)), expected);
        }
    }

    #[test]
    fn long_tables_stream_and_widen_where_rows_do_not_fit() {
        let rows = TABLE_WIDTH_ROWS + 5;
        let short: Vec<Option<&str>> = vec![Some("x"); TABLE_WIDTH_ROWS];
        let first = batch((0..TABLE_WIDTH_ROWS as i64).map(Some).collect(), short);
        let second = batch(vec![Some(1); 5], vec![Some("a much longer name"); 5]);
        let out = table(&[first, second], batch(vec![], vec![]).schema());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines.len(),
            rows + 5,
            "borders, header, one line a row, a new border"
        );
        assert_eq!(lines[0], "+-----+------+");
        assert_eq!(lines[3], "| 0   | x    |");
        assert_eq!(lines[TABLE_WIDTH_ROWS + 2], "| 999 | x    |");
        assert_eq!(lines[TABLE_WIDTH_ROWS + 3], "+-----+--------------------+");
        assert_eq!(lines[TABLE_WIDTH_ROWS + 4], "| 1   | a much longer name |");
        assert_eq!(lines[rows + 4], "+-----+--------------------+");
    }

    #[test]
    fn empty_results_still_show_their_columns() {
        let schema = batch(vec![], vec![]).schema();
        let print = |format| {
            let mut out = Vec::new();
            let writer =
                ResultWriter::new(&mut out, Arc::clone(&schema), format, true).expect("writer");
            writer.finish().expect("finish");
            String::from_utf8(out).expect("utf-8")
        };
        assert_eq!(print(OutputFormat::Csv), "id,name\n");
        assert_eq!(print(OutputFormat::Json), "[]\n");
        assert_eq!(print(OutputFormat::Ndjson), "");
        assert_eq!(
            print(OutputFormat::Table),
            "+----+------+\n| id | name |\n+----+------+\n+----+------+\n"
        );
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;
    use canon::datafusion::arrow::array::{ArrayRef, Decimal128Array, Float64Array, Int64Array};
    use canon::datafusion::arrow::datatypes::Field;

    fn json_of(format: OutputFormat, batch: &RecordBatch) -> String {
        let mut out = Vec::new();
        let mut printer =
            ResultWriter::new(&mut out, batch.schema(), format, true).expect("writer");
        printer.write(batch).expect("write");
        printer.finish().expect("finish");
        String::from_utf8(out).expect("utf-8")
    }

    /// Every Arrow value becomes valid JSON: negative-scale decimals, NULLs written out,
    /// non-finite floats as null.
    #[test]
    fn json_is_valid_for_awkward_values() {
        let decimals = Decimal128Array::from(vec![Some(0), Some(12), None])
            .with_precision_and_scale(10, -3)
            .expect("decimal type");
        let schema = Arc::new(Schema::new(vec![
            Field::new("d", DataType::Decimal128(10, -3), true),
            Field::new("f", DataType::Float64, true),
            Field::new("i", DataType::Int64, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(decimals),
            Arc::new(Float64Array::from(vec![f64::NAN, f64::INFINITY, 1.5])),
            Arc::new(Int64Array::from(vec![None, Some(2), Some(3)])),
        ];
        let batch = RecordBatch::try_new(schema, columns).expect("batch");
        let text = json_of(OutputFormat::Json, &batch);
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(
            value,
            serde_json::json!([
                {"d": 0, "f": null, "i": null},
                {"d": 12000, "f": null, "i": 2},
                {"d": null, "f": 1.5, "i": 3}
            ])
        );
        let lines = json_of(OutputFormat::Ndjson, &batch);
        for line in lines.lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("valid JSON line");
        }
        assert_eq!(lines.lines().count(), 3);
    }
}
