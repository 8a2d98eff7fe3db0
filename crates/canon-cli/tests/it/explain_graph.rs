//! `canon explain --format dot|mermaid`: the column lineage and the logical plan as a
//! graph, checked structurally.

use std::collections::BTreeSet;

use crate::{canon, ok, quickstart_copy, stderr};

const JOIN: &str = "SELECT z.borough, count(*) AS trips, round(avg(t.fare), 2) AS avg_fare, \
                    max(t.fare * t.id) AS top \
                    FROM trips t JOIN zones z USING(zone_id) \
                    WHERE t.year >= 2024 GROUP BY z.borough ORDER BY z.borough";

/// The lineage the text explanation reports: output column -> its sources.
fn lineage(dir: &std::path::Path) -> serde_json::Value {
    let out = ok(canon(
        dir,
        &["explain", "--format", "json", "--lineage", JOIN],
        None,
    ));
    serde_json::from_str::<serde_json::Value>(&out).expect("json")["lineage"].clone()
}

/// A DOT statement `ID [label="…", …];`: its id and label.
fn dot_node(line: &str) -> Option<(String, String)> {
    let (id, rest) = line.trim().split_once(" [label=\"")?;
    let end = rest.find("\", ")?;
    Some((id.to_string(), rest[..end].replace("\\\"", "\"")))
}

#[test]
fn dot_draws_tables_columns_and_plan() {
    let dir = quickstart_copy();
    let dot = ok(canon(
        dir.path(),
        &["explain", "--format", "dot", JOIN],
        None,
    ));
    assert!(dot.starts_with("digraph explain {\n"), "{dot}");
    assert!(dot.ends_with("}\n"), "{dot}");
    // Braces balance, and never close more than they opened.
    let mut depth = 0i32;
    for c in dot.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        assert!(depth >= 0, "{dot}");
    }
    assert_eq!(depth, 0, "{dot}");
    // Every line inside is a statement: a node, an edge, a subgraph or an attribute.
    for line in dot.lines().skip(1) {
        let line = line.trim();
        assert!(
            line.ends_with(';') || line.ends_with('{') || line == "}",
            "{line:?} in {dot}"
        );
    }

    let nodes: Vec<(String, String)> = dot.lines().filter_map(dot_node).collect();
    let ids: BTreeSet<&str> = nodes.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), nodes.len(), "node ids are unique: {dot}");
    let labels = |prefix: char| -> Vec<&str> {
        nodes
            .iter()
            .filter(|(id, _)| id.starts_with(prefix))
            .map(|(_, label)| label.as_str())
            .collect()
    };
    let id_of = |prefix: char, label: &str| -> String {
        let found: Vec<&String> = nodes
            .iter()
            .filter(|(id, l)| id.starts_with(prefix) && l == label)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(found.len(), 1, "one {prefix} node for {label}: {dot}");
        found[0].clone()
    };
    let edges: BTreeSet<(String, String)> = dot
        .lines()
        .filter_map(|l| l.trim().strip_suffix(';')?.split_once(" -> "))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();

    let lineage = lineage(dir.path());
    // One node per table.
    let tables: Vec<&str> = lineage["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert_eq!(labels('t'), tables, "{dot}");
    // One node per source column, each fed by its table; one per output column.
    let columns = lineage["columns"].as_array().expect("columns");
    let mut sources = BTreeSet::new();
    for column in columns {
        let name = column["name"].as_str().expect("name");
        let output = id_of('o', name);
        for source in column["sources"].as_array().expect("sources") {
            let source = source.as_str().expect("source");
            sources.insert(source.to_string());
            let from = id_of('s', source);
            assert!(
                edges.contains(&(from.clone(), output.clone())),
                "edge {source} -> {name}: {dot}"
            );
            let table = source.split('.').next().expect("table part");
            assert!(edges.contains(&(id_of('t', table), from)), "{dot}");
        }
    }
    assert_eq!(labels('o').len(), columns.len(), "{dot}");
    assert_eq!(labels('s').len(), sources.len(), "{dot}");
    assert!(sources.contains("trips.id") && sources.contains("trips.fare"));
    // `top` is computed from two columns of trips.
    assert!(edges.contains(&(id_of('s', "trips.id"), id_of('o', "top"))));

    // The plan: every operator but the root feeds exactly one parent.
    let operators = labels('p');
    assert!(operators[0].starts_with("Sort: "), "{dot}");
    assert!(
        operators.iter().any(|l| l.starts_with("TableScan: trips")),
        "{dot}"
    );
    assert!(
        !operators
            .iter()
            .any(|l| l.ends_with(']') && l.contains(":Int")),
        "schemas are dropped: {dot}"
    );
    for i in 1..operators.len() {
        let outgoing = edges
            .iter()
            .filter(|(from, to)| *from == format!("p{i}") && to.starts_with('p'))
            .count();
        assert_eq!(outgoing, 1, "p{i}: {dot}");
    }

    // Graphviz itself, where installed, reads it.
    if let Ok(mut child) = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(dot.as_bytes())
            .expect("write dot");
        let out = child.wait_with_output().expect("dot runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn mermaid_is_a_flowchart_with_the_lineage_edges() {
    let dir = quickstart_copy();
    let text = ok(canon(
        dir.path(),
        &["explain", "--format", "mermaid", JOIN],
        None,
    ));
    assert!(text.starts_with("flowchart "), "{text}");
    assert_eq!(
        text.matches("\n  subgraph ").count(),
        text.matches("\n  end\n").count(),
        "{text}"
    );
    // Node id -> label, from `id["label"]`, `id[("label")]` and `id(["label"])`.
    let nodes: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let open = l.find(['[', '('])?;
            let first = l.find('"')?;
            let last = l.rfind('"')?;
            (first < last && !l.starts_with("subgraph"))
                .then(|| (l[..open].to_string(), l[first + 1..last].to_string()))
        })
        .collect();
    let id_of = |label: &str, prefix: char| {
        nodes
            .iter()
            .find(|(id, l)| l == label && id.starts_with(prefix))
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("no node {label}: {text}"))
    };
    let lineage = lineage(dir.path());
    for column in lineage["columns"].as_array().expect("columns") {
        let output = id_of(column["name"].as_str().expect("name"), 'o');
        for source in column["sources"].as_array().expect("sources") {
            let from = id_of(source.as_str().expect("source"), 's');
            assert!(
                text.contains(&format!("\n  {from} --> {output}\n")),
                "{from} --> {output}: {text}"
            );
        }
    }
    assert!(text.contains("TableScan: zones"), "{text}");
    // Quotes in labels are entity codes, never a bare `"` that would end the label.
    assert!(!text.contains("\"\"\""), "{text}");
}

#[test]
fn lineage_alone_and_refusals() {
    let dir = quickstart_copy();
    let dot = ok(canon(
        dir.path(),
        &["explain", "--format", "dot", "--lineage", JOIN],
        None,
    ));
    assert!(dot.contains("cluster_lineage"), "{dot}");
    assert!(!dot.contains("cluster_plan"), "{dot}");
    let out = canon(
        dir.path(),
        &["explain", "--format", "mermaid", "--sql", JOIN],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--format dot and mermaid"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn labels_with_quotes_and_backslashes_stay_inside_their_strings() {
    let dir = quickstart_copy();
    let sql = r#"SELECT zone AS "say ""hi"" \o/", 'a "b" #c <d>' AS "x#y" FROM zones"#;
    let dot = ok(canon(
        dir.path(),
        &["explain", "--format", "dot", sql],
        None,
    ));
    assert!(dot.contains(r#"[label="say \"hi\" \\o/", "#), "{dot}");
    let mermaid = ok(canon(
        dir.path(),
        &["explain", "--format", "mermaid", sql],
        None,
    ));
    assert!(
        mermaid.contains("([\"say #quot;hi#quot; \\o/\"])"),
        "{mermaid}"
    );
    assert!(mermaid.contains("([\"x#35;y\"])"), "{mermaid}");
    for line in mermaid.lines() {
        assert_eq!(line.matches('"').count() % 2, 0, "{line}");
    }
}
