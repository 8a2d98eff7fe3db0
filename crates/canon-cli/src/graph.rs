//! `canon explain --format dot|mermaid`: an explanation drawn as a graph — the column
//! lineage (tables → source columns → output columns) and the optimized logical plan's
//! operator tree — in Graphviz DOT or as a Mermaid flowchart.
//!
//! Edges follow the data: from a table to its columns, from a source column to each
//! output column computed from it, and in the plan from each operator's input to the
//! operator, so scans sit at the top and the plan's root at the bottom.
//!
//! The plan tree is read back from the explanation's indented text, which DataFusion
//! writes one operator per line, two spaces deeper per level, each followed by its output
//! schema in brackets. That text is the same plan the lineage was computed from.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use canon::Explanation;
use canon::sql::SourceColumn;

/// What to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// The column lineage.
    pub lineage: bool,
    /// The logical plan tree.
    pub plan: bool,
}

/// The graph's nodes and edges, independent of the notation.
#[derive(Debug, Default)]
struct Graph {
    clusters: Vec<Cluster>,
    edges: Vec<(String, String)>,
}

#[derive(Debug)]
struct Cluster {
    id: &'static str,
    title: &'static str,
    nodes: Vec<Node>,
}

#[derive(Debug)]
struct Node {
    id: String,
    label: String,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Table,
    SourceColumn,
    OutputColumn,
    Operator,
}

impl Graph {
    fn of(explanation: &Explanation, parts: Parts) -> Self {
        let mut graph = Self::default();
        if parts.lineage {
            graph.lineage(explanation);
        }
        if parts.plan {
            graph.plan(&explanation.optimized_plan);
        }
        graph
    }

    fn lineage(&mut self, explanation: &Explanation) {
        let lineage = &explanation.lineage;
        let mut nodes = Vec::new();
        let mut tables: BTreeMap<String, String> = BTreeMap::new();
        let mut table_node = |name: &str, nodes: &mut Vec<Node>| -> String {
            if let Some(id) = tables.get(name) {
                return id.clone();
            }
            let id = format!("t{}", tables.len());
            nodes.push(Node {
                id: id.clone(),
                label: name.to_string(),
                kind: Kind::Table,
            });
            tables.insert(name.to_string(), id.clone());
            id
        };
        for table in &lineage.tables {
            table_node(table, &mut nodes);
        }
        // Every source column once, whichever output columns it feeds.
        let mut sources: BTreeMap<&SourceColumn, String> = BTreeMap::new();
        for column in &lineage.columns {
            for source in &column.sources {
                if sources.contains_key(source) {
                    continue;
                }
                let id = format!("s{}", sources.len());
                let table = table_node(&source.table, &mut nodes);
                nodes.push(Node {
                    id: id.clone(),
                    label: source.to_string(),
                    kind: Kind::SourceColumn,
                });
                self.edges.push((table, id.clone()));
                sources.insert(source, id);
            }
        }
        for (i, column) in lineage.columns.iter().enumerate() {
            let id = format!("o{i}");
            nodes.push(Node {
                id: id.clone(),
                label: column.name.clone(),
                kind: Kind::OutputColumn,
            });
            for source in &column.sources {
                if let Some(from) = sources.get(source) {
                    self.edges.push((from.clone(), id.clone()));
                }
            }
        }
        self.clusters.push(Cluster {
            id: "lineage",
            title: "column lineage",
            nodes,
        });
    }

    fn plan(&mut self, text: &str) {
        let operators = operators(text);
        let nodes = operators
            .iter()
            .enumerate()
            .map(|(i, op)| Node {
                id: format!("p{i}"),
                label: op.label.clone(),
                kind: Kind::Operator,
            })
            .collect();
        for (i, op) in operators.iter().enumerate() {
            if let Some(parent) = op.parent {
                self.edges.push((format!("p{i}"), format!("p{parent}")));
            }
        }
        self.clusters.push(Cluster {
            id: "plan",
            title: "optimized logical plan",
            nodes,
        });
    }
}

/// One operator of an indented plan: its text without the schema, and its parent's index.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Operator {
    label: String,
    parent: Option<usize>,
}

/// The operators of DataFusion's indented plan text, in pre-order.
///
/// A line two spaces deeper than the one before is its child; a line that is no valid
/// step down (an expression whose text itself holds a line break) continues the operator
/// before it.
fn operators(text: &str) -> Vec<Operator> {
    let mut operators: Vec<Operator> = Vec::new();
    // The index of the latest operator at each depth.
    let mut path: Vec<usize> = Vec::new();
    for line in text.lines() {
        let body = line.trim_start_matches(' ');
        let indent = line.len() - body.len();
        let depth = indent / 2;
        let valid = indent % 2 == 0 && depth <= path.len() && !body.is_empty();
        if !valid || (depth == 0 && !operators.is_empty()) {
            if let Some(last) = operators.last_mut() {
                last.label.push(' ');
                last.label.push_str(line.trim());
            }
            continue;
        }
        path.truncate(depth);
        let parent = path.last().copied();
        path.push(operators.len());
        operators.push(Operator {
            label: body.to_string(),
            parent,
        });
    }
    for op in &mut operators {
        op.label = without_schema(&op.label).to_string();
    }
    operators
}

/// An operator line without the ` [name:Type, …]` schema DataFusion appends; the line as
/// it is when the brackets at its end do not balance.
fn without_schema(line: &str) -> &str {
    if !line.ends_with(']') {
        return line;
    }
    let mut depth = 0usize;
    for (i, c) in line.char_indices().rev() {
        match c {
            ']' => depth += 1,
            '[' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return line[..i].trim_end();
                }
            }
            _ => {}
        }
    }
    line
}

/// The explanation as a Graphviz DOT digraph.
pub fn dot(explanation: &Explanation, parts: Parts) -> String {
    let graph = Graph::of(explanation, parts);
    let mut out = String::from("digraph explain {\n");
    out.push_str("  node [fontname=\"Helvetica\"];\n");
    for cluster in &graph.clusters {
        let _ = writeln!(out, "  subgraph cluster_{} {{", cluster.id);
        let _ = writeln!(out, "    label={};", dot_string(cluster.title));
        for node in &cluster.nodes {
            let shape = match node.kind {
                Kind::Table => "shape=cylinder",
                Kind::SourceColumn | Kind::Operator => "shape=box",
                Kind::OutputColumn => "shape=box, style=rounded",
            };
            let _ = writeln!(
                out,
                "    {} [label={}, {shape}];",
                node.id,
                dot_string(&node.label)
            );
        }
        out.push_str("  }\n");
    }
    for (from, to) in &graph.edges {
        let _ = writeln!(out, "  {from} -> {to};");
    }
    out.push_str("}\n");
    out
}

/// A DOT double-quoted string. Backslashes are doubled because DOT labels give `\n`, `\l`
/// and others a meaning; line breaks become DOT's centred `\n`.
fn dot_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The explanation as a Mermaid flowchart.
pub fn mermaid(explanation: &Explanation, parts: Parts) -> String {
    let graph = Graph::of(explanation, parts);
    let mut out = String::from("flowchart TB\n");
    for cluster in &graph.clusters {
        let _ = writeln!(
            out,
            "  subgraph {}[\"{}\"]",
            cluster.id,
            mermaid_text(cluster.title)
        );
        for node in &cluster.nodes {
            let label = mermaid_text(&node.label);
            let shape = match node.kind {
                Kind::Table => format!("[(\"{label}\")]"),
                Kind::SourceColumn | Kind::Operator => format!("[\"{label}\"]"),
                Kind::OutputColumn => format!("([\"{label}\"])"),
            };
            let _ = writeln!(out, "    {}{shape}", node.id);
        }
        out.push_str("  end\n");
    }
    for (from, to) in &graph.edges {
        let _ = writeln!(out, "  {from} --> {to}");
    }
    out
}

/// Text for inside a quoted Mermaid label. Mermaid reads `#…;` as an entity code, HTML
/// in labels, and a label in backticks as Markdown, so those characters (and the quote
/// that would end the label) are written as entity codes.
fn mermaid_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_text_becomes_a_tree() {
        let text = "Sort: a ASC [a:Int32]\n  Projection: a [a:Int32]\n    Join: x = y [x:Int32, y:Int32]\n      TableScan: l projection=[x] [x:Int32]\n      TableScan: r projection=[y] [y:Int32]";
        let ops = operators(text);
        let labels: Vec<&str> = ops.iter().map(|o| o.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Sort: a ASC",
                "Projection: a",
                "Join: x = y",
                "TableScan: l projection=[x]",
                "TableScan: r projection=[y]"
            ]
        );
        let parents: Vec<Option<usize>> = ops.iter().map(|o| o.parent).collect();
        assert_eq!(parents, [None, Some(0), Some(1), Some(2), Some(2)]);
    }

    #[test]
    fn a_broken_line_continues_its_operator() {
        let text = "Projection: Utf8(\"a\n b\") AS x [x:Utf8]\n  EmptyRelation: rows=1 []";
        let ops = operators(text);
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert_eq!(ops[0].label, "Projection: Utf8(\"a b\") AS x");
        assert_eq!(ops[1].parent, Some(0));
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(dot_string(r#"a "b" \n"#), r#""a \"b\" \\n""#);
        assert_eq!(mermaid_text("x<\"#1\">`"), "x#lt;#quot;#35;1#quot;#gt;#96;");
    }
}
