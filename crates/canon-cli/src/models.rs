//! `canon compile` and `canon models`: the project's models checked against their
//! contracts, and their graph in build order.

use std::fmt::Write as _;
use std::path::Path;

use canon::datafusion::arrow::datatypes::Schema;
use canon::models::Compiled;
use canon::{CanonError, Project};
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

/// Lists the models in build order with what each reads.
pub(crate) async fn list(project: &Path) -> Result<(), Failure> {
    let project = Project::load(project)?;
    let compiled = canon::models::compile(&project).await?;
    print!("{}", graph_table(&compiled));
    Ok(())
}

/// `model  kind  reads` rows, aligned, in build order.
fn graph_table(compiled: &Compiled) -> String {
    let rows: Vec<[String; 3]> = compiled
        .models
        .iter()
        .map(|m| [m.name.clone(), m.kind.to_string(), m.reads.join(", ")])
        .collect();
    let header = ["model", "kind", "reads"].map(str::to_string);
    let width = |i: usize| {
        rows.iter()
            .chain(std::iter::once(&header))
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0), width(1));
    let mut out = String::new();
    for [name, kind, reads] in std::iter::once(&header).chain(&rows) {
        let _ = writeln!(out, "{name:w0$}  {kind:w1$}  {reads}");
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
