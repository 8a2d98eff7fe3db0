//! `canon explain`: rendering an explanation as text or JSON, whole or by section, or as
//! a graph (see [`crate::graph`]).

use std::fmt::Write as _;

use canon::Explanation;

/// How an explanation is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExplainFormat {
    /// Headed sections of text.
    Text,
    /// One JSON object.
    Json,
    /// A Graphviz DOT digraph of the column lineage and the logical plan.
    Dot,
    /// A Mermaid flowchart of the column lineage and the logical plan.
    Mermaid,
}

impl ExplainFormat {
    /// Whether the format draws a graph, which has no place for the canonical SQL or the
    /// fingerprint.
    pub fn is_graph(self) -> bool {
        matches!(self, Self::Dot | Self::Mermaid)
    }
}

/// Which sections to print; all when none is chosen.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sections {
    /// The canonical SQL.
    pub sql: bool,
    /// The lineage.
    pub lineage: bool,
    /// The plan fingerprint.
    pub fingerprint: bool,
}

impl Sections {
    fn all(self) -> bool {
        !(self.sql || self.lineage || self.fingerprint)
    }
}

/// Renders an explanation; fails only when the one section asked for is unavailable.
pub fn render(
    explanation: &Explanation,
    sections: Sections,
    format: ExplainFormat,
) -> Result<String, String> {
    if sections.sql
        && let Some(reason) = &explanation.canonical_sql_error
    {
        return Err(format!("no canonical SQL for this query: {reason}"));
    }
    // `--lineage` draws the lineage alone; otherwise the lineage and the plan.
    let parts = crate::graph::Parts {
        lineage: true,
        plan: !sections.lineage,
    };
    match format {
        ExplainFormat::Json => Ok(json(explanation, sections)),
        ExplainFormat::Text => Ok(text(explanation, sections)),
        ExplainFormat::Dot => Ok(crate::graph::dot(explanation, parts)),
        ExplainFormat::Mermaid => Ok(crate::graph::mermaid(explanation, parts)),
    }
}

fn json(explanation: &Explanation, sections: Sections) -> String {
    let mut value = serde_json::to_value(explanation).unwrap_or_default();
    if !sections.all()
        && let Some(object) = value.as_object_mut()
    {
        let keep = [
            ("canonical_sql", sections.sql),
            ("lineage", sections.lineage),
            ("fingerprint", sections.fingerprint),
        ];
        object.retain(|key, _| keep.iter().any(|(k, on)| k == key && *on));
    }
    // A tree of strings and arrays always serializes.
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

fn text(explanation: &Explanation, sections: Sections) -> String {
    let canonical = match (&explanation.canonical_sql, &explanation.canonical_sql_error) {
        (Some(sql), _) => sql.clone(),
        (None, Some(reason)) => format!("(unavailable: {reason})"),
        (None, None) => "(unavailable)".to_string(),
    };
    let mut chosen: Vec<(&str, String)> = Vec::new();
    let all = sections.all();
    if all || sections.fingerprint {
        chosen.push(("fingerprint", explanation.fingerprint.clone()));
    }
    if all || sections.sql {
        chosen.push(("canonical sql", canonical));
    }
    if all || sections.lineage {
        chosen.push(("lineage", lineage(explanation)));
    }
    if all {
        chosen.push(("logical plan", explanation.logical_plan.clone()));
        chosen.push(("optimized plan", explanation.optimized_plan.clone()));
        chosen.push(("physical plan", explanation.physical_plan.clone()));
        if let Some(workers) = &explanation.workers {
            chosen.push(("workers", workers.clone()));
        }
        if let Some(metrics) = &explanation.metrics {
            chosen.push(("metrics", metrics.clone()));
        }
    }
    // One section prints bare, for scripts: `canon explain --sql "…" > query.sql`.
    if let [(_, body)] = chosen.as_slice() {
        return format!("{}\n", body.trim_end());
    }
    let mut out = String::new();
    for (i, (title, body)) in chosen.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{title}");
        for line in body.trim_end().lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// The tables read, then one line per output column with its sources.
fn lineage(explanation: &Explanation) -> String {
    let lineage = &explanation.lineage;
    let mut out = format!("tables: {}\n", lineage.tables.join(", "));
    let width = lineage
        .columns
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for column in &lineage.columns {
        let sources: Vec<String> = column.sources.iter().map(ToString::to_string).collect();
        let sources = if sources.is_empty() {
            "(no source columns)".to_string()
        } else {
            sources.join(", ")
        };
        let _ = writeln!(out, "{:width$}  <- {sources}", column.name);
    }
    out
}
