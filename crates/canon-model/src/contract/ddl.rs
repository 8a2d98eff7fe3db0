//! Rendering a contract to canonical DDL: fixed clause order, every identifier quoted,
//! explicit sort directions and null ordering, options sorted by key.

use std::fmt::Write;

use super::{DatasetSpec, sql_type};
use crate::util::{quote_ident, quote_literal};

pub(super) fn render(spec: &DatasetSpec) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason only.
    let _ = writeln!(out, "CREATE EXTERNAL TABLE {} (", quote_ident(&spec.name));
    let columns: Vec<String> = spec
        .columns
        .iter()
        .map(|c| {
            let null = if c.nullable { "" } else { " NOT NULL" };
            format!(
                "  {} {}{null}",
                quote_ident(&c.name),
                sql_type(&c.data_type)
            )
        })
        .collect();
    let keys = key_clauses(spec);
    let items: Vec<String> = columns.into_iter().chain(keys).collect();
    let _ = writeln!(out, "{}", items.join(",\n"));
    let _ = writeln!(out, ")");
    let _ = writeln!(out, "STORED AS {}", spec.format.stored_as());
    if !spec.partitioned_by.is_empty() {
        // DataFusion reads PARTITIONED BY names verbatim, quotes included, so they are
        // written bare; validation admits only plain identifiers here.
        let _ = writeln!(out, "PARTITIONED BY ({})", spec.partitioned_by.join(", "));
    }
    if !spec.ordered_by.is_empty() {
        let keys: Vec<String> = spec
            .ordered_by
            .iter()
            .map(|k| {
                format!(
                    "{} {} {}",
                    quote_ident(&k.column),
                    if k.descending { "DESC" } else { "ASC" },
                    if k.nulls_first {
                        "NULLS FIRST"
                    } else {
                        "NULLS LAST"
                    }
                )
            })
            .collect();
        let _ = writeln!(out, "WITH ORDER ({})", keys.join(", "));
    }
    let _ = write!(out, "LOCATION {}", quote_literal(&spec.location));
    if !spec.options.is_empty() {
        let opts: Vec<String> = spec
            .options
            .iter()
            .map(|(k, v)| format!("  {} {}", quote_literal(k), quote_literal(v)))
            .collect();
        let _ = write!(out, "\nOPTIONS (\n{}\n)", opts.join(",\n"));
    }
    out
}

/// `PRIMARY KEY (…)` and `UNIQUE (…)` table constraints, in declaration order.
fn key_clauses(spec: &DatasetSpec) -> Vec<String> {
    let list = |columns: &[String]| {
        columns
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let primary = (!spec.primary_key.is_empty())
        .then(|| format!("  PRIMARY KEY ({})", list(&spec.primary_key)));
    let unique = spec
        .unique
        .iter()
        .filter(|set| !set.is_empty())
        .map(|set| format!("  UNIQUE ({})", list(set)));
    primary.into_iter().chain(unique).collect()
}
