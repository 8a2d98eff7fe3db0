//! `canon compile` and `canon models`: the project's models checked against their
//! contracts, and their graph in build order.

use std::fmt::Write as _;
use std::path::Path;

use canon::datafusion::arrow::datatypes::Schema;
use canon::models::{BuildOptions, BuildReport, Change, Compiled, Progress, Trace};
use canon::{CanonError, Diagnostics, Project};
use clap::Args;

use crate::Failure;

/// `canon compile`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct CompileArgs {
    /// Print, as TOML ready to paste, the columns this model's query yields, instead of
    /// checking every model.
    #[arg(long, value_name = "MODEL")]
    infer: Option<String>,
}

/// `canon build`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The models to build; every model when none are named.
    models: Vec<String>,
    /// Also build every model the named ones read, directly or not.
    #[arg(long)]
    upstream: bool,
    /// Also build every model that reads the named ones, directly or not.
    #[arg(long)]
    downstream: bool,
    /// Rebuild incremental models from all their query's rows, not only the new ones.
    #[arg(long)]
    full_refresh: bool,
    /// How many models may build at once (models that do not read each other); default:
    /// the number of cores.
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
}

/// Builds the models in dependency order, with a line of progress per model on standard
/// error and the summary on standard output; exits 1 when a model failed.
pub(crate) async fn build(
    project: &Path,
    diagnostics: Option<&Path>,
    args: BuildArgs,
) -> Result<(), Failure> {
    let project = Project::load(project)?;
    let diagnostics = match diagnostics {
        Some(path) => Diagnostics::with_log(path).map_err(|e| Failure::usage(e.to_string()))?,
        None => Diagnostics::new(),
    };
    let options = BuildOptions {
        models: args.models,
        upstream: args.upstream,
        downstream: args.downstream,
        full_refresh: args.full_refresh,
        jobs: args.jobs.map_or(0, usize::from),
    };
    let mut progress = |event: Progress<'_>| match event {
        Progress::Started {
            model,
            index,
            total,
        } => eprintln!("[{index}/{total}] {model}"),
        Progress::Finished(line) => {
            let rows = line.rows.map(|r| format!(", {r} rows")).unwrap_or_default();
            eprintln!(
                "      {}: {}{rows} in {:.2}s",
                line.model, line.status, line.seconds
            );
        }
    };
    let report = canon::models::build(project, diagnostics, &options, &mut progress).await?;
    print!("{}", summary(&report));
    if report.ok() {
        return Ok(());
    }
    let mut reasons = String::new();
    for line in &report.models {
        if let Some(message) = &line.message {
            let _ = write!(reasons, "\n  {} {}: {message}", line.model, line.status);
        }
    }
    Err(Failure::runtime(format!(
        "the build did not finish:{reasons}"
    )))
}

/// `model  kind  status  rows  seconds` rows, aligned, in build order.
fn summary(report: &BuildReport) -> String {
    let rows: Vec<[String; 5]> = report
        .models
        .iter()
        .map(|m| {
            [
                m.model.clone(),
                m.kind.to_string(),
                m.status.to_string(),
                m.rows.map(|r| r.to_string()).unwrap_or_default(),
                format!("{:.2}", m.seconds),
            ]
        })
        .collect();
    let header = ["model", "kind", "status", "rows", "seconds"].map(str::to_string);
    aligned(&header, &rows)
}

/// `canon lineage`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct LineageArgs {
    /// The column, as `model.column` (or `dataset.column` with --forward).
    column: String,
    /// List the model columns it feeds instead of where it comes from.
    #[arg(long)]
    forward: bool,
}

/// Traces a column through the model graph and prints the trace as an indented tree.
pub(crate) async fn lineage(project: &Path, args: LineageArgs) -> Result<(), Failure> {
    let project = Project::load(project)?;
    let Some((table, column)) = args.column.split_once('.') else {
        return Err(Failure::usage(format!(
            "`{}` is not `model.column`",
            args.column
        )));
    };
    let compiled = canon::models::compile(&project).await?;
    let trace = if args.forward {
        if !compiled.knows(table, column) {
            return Err(Failure::usage(format!(
                "no model reads or yields `{table}.{column}`"
            )));
        }
        compiled.trace_forward(table, column)
    } else {
        if project.model(table).is_none() {
            return Err(Failure::usage(format!("`{table}` is not a model")));
        }
        compiled
            .trace_back(table, column)
            .ok_or_else(|| Failure::usage(format!("model `{table}` has no column `{column}`")))?
    };
    let arrow = if args.forward { "->" } else { "<-" };
    let mut out = String::new();
    render_trace(&trace, 0, arrow, &mut out);
    print!("{out}");
    Ok(())
}

/// `table.column (kind)`, then each next step indented under it and, tracing back, the
/// columns that shape a model's rows, marked `~`.
fn render_trace(trace: &Trace, depth: usize, arrow: &str, out: &mut String) {
    let indent = |depth: usize| "   ".repeat(depth.saturating_sub(1));
    let lead = if depth == 0 {
        String::new()
    } else {
        format!("{}{arrow} ", indent(depth))
    };
    let kind = trace
        .kind
        .map(|k| format!(" ({})", k.name()))
        .unwrap_or_default();
    let _ = writeln!(out, "{lead}{}.{}{kind}", trace.table, trace.column);
    for next in &trace.next {
        render_trace(next, depth + 1, arrow, out);
    }
    for (source, how) in &trace.influences {
        let how: Vec<&str> = how.iter().map(|h| h.name()).collect();
        let _ = writeln!(out, "{}~  {source} ({})", indent(depth + 1), how.join(", "));
    }
}

/// `canon plan`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// Exit 1 when the plan holds a change this serious (`changed` includes breaking).
    #[arg(long, value_enum, value_name = "CHANGE")]
    fail_on: Option<FailOn>,
}

/// The changes `canon plan --fail-on` fails on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FailOn {
    /// Any change to a built model.
    Changed,
    /// A change that may break a reader.
    Breaking,
}

/// Compares every model with its last build and prints the plan.
pub(crate) async fn plan(project: &Path, args: PlanArgs) -> Result<(), Failure> {
    let project = Project::load(project)?;
    let plan = canon::models::plan(&project).await?;
    let rows: Vec<[String; 3]> = plan
        .models
        .iter()
        .map(|m| {
            let mut details = m.reasons.join("; ");
            if !m.downstream.is_empty() {
                let _ = write!(details, " (reaches {})", m.downstream.join(", "));
            }
            [m.model.clone(), m.change.to_string(), details]
        })
        .collect();
    let header = ["model", "change", "details"].map(str::to_string);
    print!("{}", aligned(&header, &rows));
    let worst = plan.worst();
    let fails = match args.fail_on {
        Some(FailOn::Breaking) => worst == Change::Breaking,
        Some(FailOn::Changed) => worst >= Change::Changed,
        None => false,
    };
    if fails {
        return Err(Failure::runtime(format!(
            "the plan holds {} changes (--fail-on {})",
            worst,
            if args.fail_on == Some(FailOn::Breaking) {
                "breaking"
            } else {
                "changed"
            }
        )));
    }
    Ok(())
}

/// Compiles every model (or infers one's contract) and prints what it found.
pub(crate) async fn compile(project: &Path, args: CompileArgs) -> Result<(), Failure> {
    let project = Project::load(project)?;
    if let Some(name) = args.infer {
        let schema = canon::models::infer(&project, &name).await?;
        print!("{}", columns_toml(&schema));
        return Ok(());
    }
    let compiled = canon::models::compile(&project).await?;
    let n = compiled.models.len();
    println!(
        "compiled {n} model{}: each query yields its contract",
        if n == 1 { "" } else { "s" }
    );
    Ok(())
}

/// `canon models`' arguments.
#[derive(Debug, Args)]
pub(crate) struct ModelsArgs {
    /// How to show the graph: a table in build order, or drawn as Graphviz DOT or a
    /// Mermaid flowchart (datasets as cylinders, views dashed).
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    format: GraphFormat,
}

/// How `canon models` shows the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum GraphFormat {
    /// `model  kind  reads` in build order.
    Text,
    /// Graphviz DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

/// Lists the models in build order with what each reads, or draws the graph.
pub(crate) async fn list(project: &Path, args: ModelsArgs) -> Result<(), Failure> {
    let project = Project::load(project)?;
    let compiled = canon::models::compile(&project).await?;
    let text = match args.format {
        GraphFormat::Text => graph_table(&compiled),
        GraphFormat::Dot => graph_dot(&compiled),
        GraphFormat::Mermaid => graph_mermaid(&compiled),
    };
    print!("{text}");
    Ok(())
}

/// Draws the project's model graph as `canon explain --format dot|mermaid` does without a
/// query.
pub(crate) async fn draw(project: &Path, mermaid: bool) -> Result<(), Failure> {
    let format = if mermaid {
        GraphFormat::Mermaid
    } else {
        GraphFormat::Dot
    };
    list(project, ModelsArgs { format }).await
}

/// Every node of the graph in a stable order, datasets (what models read that is not a
/// model) first by name, then the models in build order; with whether each is a model
/// and, for models, whether it is a view.
fn nodes(compiled: &Compiled) -> Vec<(&str, Option<bool>)> {
    let models: std::collections::BTreeSet<&str> =
        compiled.models.iter().map(|m| m.name.as_str()).collect();
    let datasets: std::collections::BTreeSet<&str> = compiled
        .models
        .iter()
        .flat_map(|m| m.reads.iter().map(String::as_str))
        .filter(|r| !models.contains(r))
        .collect();
    datasets
        .into_iter()
        .map(|d| (d, None))
        .chain(compiled.models.iter().map(|m| {
            (
                m.name.as_str(),
                Some(m.kind == canon::canon_model::ModelKind::View),
            )
        }))
        .collect()
}

/// The graph in Graphviz DOT: an edge from what is read to its reader.
fn graph_dot(compiled: &Compiled) -> String {
    let quote = |name: &str| format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = String::from("digraph models {\n  rankdir=LR;\n");
    for (name, model) in nodes(compiled) {
        let style = match model {
            None => "shape=cylinder",
            Some(true) => "shape=box, style=dashed",
            Some(false) => "shape=box",
        };
        let _ = writeln!(out, "  {} [{style}];", quote(name));
    }
    for model in &compiled.models {
        for read in &model.reads {
            let _ = writeln!(out, "  {} -> {};", quote(read), quote(&model.name));
        }
    }
    out.push_str("}\n");
    out
}

/// The graph as a Mermaid flowchart: nodes `n0`, `n1`, … labelled with their names.
fn graph_mermaid(compiled: &Compiled) -> String {
    let nodes = nodes(compiled);
    let id = |name: &str| nodes.iter().position(|(n, _)| *n == name).unwrap_or(0);
    let mut out = String::from("flowchart LR\n");
    for (i, (name, model)) in nodes.iter().enumerate() {
        let label = name.replace('"', "#quot;");
        let node = match model {
            None => format!("n{i}[(\"{label}\")]"),
            Some(true) => format!("n{i}[/\"{label}\"/]"),
            Some(false) => format!("n{i}[\"{label}\"]"),
        };
        let _ = writeln!(out, "  {node}");
    }
    for model in &compiled.models {
        for read in &model.reads {
            let _ = writeln!(out, "  n{} --> n{}", id(read), id(&model.name));
        }
    }
    out
}

/// `model  kind  reads` rows, aligned, in build order.
fn graph_table(compiled: &Compiled) -> String {
    let rows: Vec<[String; 3]> = compiled
        .models
        .iter()
        .map(|m| [m.name.clone(), m.kind.to_string(), m.reads.join(", ")])
        .collect();
    let header = ["model", "kind", "reads"].map(str::to_string);
    aligned(&header, &rows)
}

/// Rows under a header, each column padded to its widest cell but the last, which is not
/// padded (no trailing blanks).
fn aligned<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| {
            rows.iter()
                .chain(std::iter::once(header))
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, width))| {
                if i + 1 == N {
                    cell.clone()
                } else {
                    format!("{cell:width$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  "));
    }
    out
}

/// The `columns = [...]` of a contract that a schema satisfies, as `canon.toml` writes it.
fn columns_toml(schema: &Schema) -> String {
    let mut out = String::from("columns = [\n");
    for field in schema.fields() {
        let _ = writeln!(
            out,
            "    {{ name = {}, type = {}, nullable = {} }},",
            toml_string(field.name()),
            toml_string(&field.data_type().to_string()),
            field.is_nullable()
        );
    }
    out.push_str("]\n");
    out
}

/// A TOML basic string: quotes and backslashes escaped, control characters as `\u`.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl From<canon::ModelError> for Failure {
    fn from(e: canon::ModelError) -> Self {
        CanonError::from(e).into()
    }
}
