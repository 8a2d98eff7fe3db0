//! `canon compile`, `canon models` and `canon lineage`: every model planned against contracts alone, its output checked against its own contract, errors pointing into its SQL.

use std::path::Path;

use super::*;
use crate::{canon, ok, stderr};

#[test]
fn decimal_precision_is_part_of_the_contract() {
    let dir = project(
        r#"
[[model]]
name = "fares"
location = "build/fares"
sql = "SELECT id, CAST(fare AS DECIMAL(38, 2)) AS fare FROM trips"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "fare", type = "Decimal128(12, 2)" },
]
"#,
    );
    let err = compile_error(dir.path());
    assert!(
        err.contains(
            "model `fares`: column `fare`: expected Decimal128(12, 2), found Decimal128(38, 2)"
        ),
        "{err}"
    );
    // The caret points into the select item (sqlparser's span of a CAST starts at its
    // operand), at its column in the project file, after `sql = "`.
    let line = line_of(dir.path(), "DECIMAL(38, 2)");
    assert!(err.contains(&format!("--> canon.toml:{line}:24")), "{err}");
    assert!(
        err.contains(&format!(
            "{line} | SELECT id, CAST(fare AS DECIMAL(38, 2)) AS fare FROM trips\n   |                 ^"
        )),
        "{err}"
    );
}

#[test]
fn a_float_does_not_fill_a_decimal() {
    let dir = project(
        r#"
[[model]]
name = "fares"
location = "build/fares"
sql_file = "fares.sql"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "fare", type = "Decimal128(12, 2)" },
]
"#,
    );
    std::fs::write(
        dir.path().join("fares.sql"),
        "SELECT\n  id,\n  fare\nFROM trips\n",
    )
    .expect("write sql");
    let err = compile_error(dir.path());
    assert!(
        err.contains("column `fare`: expected Decimal128(12, 2), found Float64"),
        "{err}"
    );
    assert!(err.contains("--> fares.sql:3:3"), "{err}");
}

#[test]
fn a_left_join_makes_a_not_null_column_nullable() {
    let dir = project(
        r#"
[[model]]
name = "trip_boroughs"
location = "build/trip_boroughs"
sql = """
SELECT t.id, z.borough
FROM trips t LEFT JOIN zones z ON z.zone_id = t.zone_id
"""
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "borough", type = "Utf8", nullable = false },
]
"#,
    );
    let err = compile_error(dir.path());
    assert!(
        err.contains("model `trip_boroughs`: column `borough`: expected NOT NULL, found nullable"),
        "{err}"
    );
    let line = line_of(dir.path(), "SELECT t.id, z.borough");
    assert!(err.contains(&format!("--> canon.toml:{line}:14")), "{err}");
    // The same join as an inner join compiles.
    let inner = std::fs::read_to_string(dir.path().join("canon.toml"))
        .expect("read")
        .replace("LEFT JOIN", "JOIN");
    std::fs::write(dir.path().join("canon.toml"), inner).expect("write");
    ok(canon(dir.path(), &["compile"], None));
}

#[test]
fn a_cycle_is_refused_with_its_models() {
    let dir = project(
        r#"
[[model]]
name = "a"
location = "build/a"
sql = "SELECT id FROM c"
columns = [{ name = "id", type = "Int64", nullable = false }]

[[model]]
name = "b"
location = "build/b"
sql = "SELECT id FROM a"
columns = [{ name = "id", type = "Int64", nullable = false }]

[[model]]
name = "c"
location = "build/c"
sql = "SELECT id FROM b JOIN trips USING (id)"
columns = [{ name = "id", type = "Int64", nullable = false }]
"#,
    );
    let err = compile_error(dir.path());
    assert!(
        err.contains("models read each other in a cycle: a → c → b → a"),
        "{err}"
    );
}

#[test]
fn an_unknown_table_is_named_with_its_model() {
    let dir = project(
        r#"
[[model]]
name = "typo"
location = "build/typo"
sql = "SELECT id FROM tripz"
columns = [{ name = "id", type = "Int64", nullable = false }]
"#,
    );
    let err = compile_error(dir.path());
    assert!(
        err.contains("model `typo`: reads `tripz`, which is neither a dataset nor a model"),
        "{err}"
    );
    assert!(err.contains("|                ^"), "{err}");
}

#[test]
fn ddl_and_dml_are_not_models() {
    for (sql, what) in [
        ("CREATE TABLE t AS SELECT id FROM trips", "DDL"),
        ("INSERT INTO zones SELECT * FROM zones", "DML"),
    ] {
        let dir = project(&format!(
            r#"
[[model]]
name = "writer"
location = "build/writer"
sql = "{sql}"
columns = [{{ name = "id", type = "Int64", nullable = false }}]
"#
        ));
        let err = compile_error(dir.path());
        assert!(
            err.contains(&format!(
                "model `writer`: a model is a query (SELECT …), but this is {what}"
            )),
            "{err}"
        );
    }
}

#[test]
fn every_problem_of_every_model_is_reported_at_once() {
    let dir = project(
        r#"
[[model]]
name = "first"
location = "build/first"
sql = "SELECT id, fare FROM trips"
columns = [
  { name = "id", type = "Int32", nullable = false },
  { name = "fare", type = "Float64", nullable = false },
]

[[model]]
name = "second"
location = "build/second"
sql = "SELECT nope FROM zones"
columns = [{ name = "nope", type = "Int64" }]
"#,
    );
    let err = compile_error(dir.path());
    assert!(err.contains("3 problems in models"), "{err}");
    assert!(
        err.contains("model `first`: column `id`: expected Int32, found Int64"),
        "{err}"
    );
    assert!(
        err.contains("model `first`: column `fare`: expected NOT NULL"),
        "{err}"
    );
    assert!(err.contains("model `second`: "), "{err}");
}

/// The bundled example compiles, lists in build order and compiles the same with every
/// data file gone: compile reads contracts, never data.
#[test]
fn the_example_compiles_from_contracts_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    crate::copy_dir(&examples.join("models"), &dir.path().join("models"));
    crate::copy_dir(&examples.join("quickstart"), &dir.path().join("quickstart"));
    let project = dir.path().join("models");
    let compiled = ok(canon(&project, &["compile"], None));
    assert_eq!(
        compiled,
        "compiled 5 models: each query yields its contract\n"
    );
    let listed = ok(canon(&project, &["models"], None));
    let order: Vec<&str> = listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        order,
        [
            "trips_clean",
            "daily_zone_fares",
            "payment_mix",
            "zone_names",
            "daily_fares"
        ]
    );
    assert!(
        listed.contains("daily_fares       table  daily_zone_fares, zone_names"),
        "{listed}"
    );

    std::fs::remove_dir_all(dir.path().join("quickstart/data")).expect("remove data");
    std::fs::create_dir_all(dir.path().join("quickstart/data/trips")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("quickstart/data/zones")).expect("mkdir");
    assert_eq!(ok(canon(&project, &["compile"], None)), compiled);
    assert_eq!(ok(canon(&project, &["models"], None)), listed);
}

/// `--infer` prints the contract a query implies; pasted into the model, it compiles.
#[test]
fn an_inferred_contract_compiles() {
    let model = r#"
[[model]]
name = "zone_fares"
location = "build/zone_fares"
sql = """
SELECT z.borough, count(*) AS trips, avg(t.fare) AS fare, max(t.pickup_at) AS last_pickup
FROM trips t JOIN zones z ON z.zone_id = t.zone_id
GROUP BY z.borough
"""
"#;
    let dir = project(&format!(
        "{model}columns = [{{ name = \"x\", type = \"Int8\" }}]\n"
    ));
    let inferred = ok(canon(
        dir.path(),
        &["compile", "--infer", "zone_fares"],
        None,
    ));
    assert_eq!(
        inferred,
        "columns = [\n    { name = \"borough\", type = \"Utf8\", nullable = false },\n    \
         { name = \"trips\", type = \"Int64\", nullable = false },\n    \
         { name = \"fare\", type = \"Float64\", nullable = true },\n    \
         { name = \"last_pickup\", type = \"Timestamp(µs, \\\"UTC\\\")\", nullable = true },\n]\n"
    );
    std::fs::write(
        dir.path().join("canon.toml"),
        format!("{DATASETS}{model}{inferred}"),
    )
    .expect("write project");
    ok(canon(dir.path(), &["compile"], None));
    let out = canon(dir.path(), &["compile", "--infer", "nothing"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no model named `nothing`; the project declares: zone_fares"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_tagged_column_cannot_be_shed_by_a_rename() {
    let tagged = "{ name = \"payment\", type = \"Utf8\", nullable = false, tags = [\"pii\"] }";
    let model = r#"
[[model]]
name = "payments"
location = "build/payments"
sql = "SELECT id, upper(payment) AS method FROM trips"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "method", type = "Utf8" },
]
"#;
    let dir = project(model);
    let path = dir.path().join("canon.toml");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replacen(
            "{ name = \"payment\", type = \"Utf8\", nullable = false }",
            tagged,
            1,
        ),
    )
    .expect("write");
    let err = compile_error(dir.path());
    assert!(
        err.contains("model `payments`: column `method`: receives `trips.payment`, tagged `pii`, without the tag"),
        "{err}"
    );
    // Declaring the tag compiles, and a model reading that model must declare it in turn.
    let text = std::fs::read_to_string(&path).expect("read");
    let declared = text.replacen(
        "{ name = \"method\", type = \"Utf8\" }",
        "{ name = \"method\", type = \"Utf8\", tags = [\"pii\"] }",
        1,
    );
    std::fs::write(&path, &declared).expect("write");
    ok(canon(dir.path(), &["compile"], None));
    let reader = r#"
[[model]]
name = "methods"
kind = "view"
sql = "SELECT DISTINCT method AS m FROM payments"
columns = [{ name = "m", type = "Utf8" }]
"#;
    std::fs::write(&path, format!("{declared}{reader}")).expect("write");
    let err = compile_error(dir.path());
    assert!(
        err.contains("model `methods`: column `m`: receives `payments.method`, tagged `pii`"),
        "{err}"
    );
}

#[test]
fn lineage_traces_columns_across_the_graph() {
    let (_dir, project) = example_copy();
    // Each step says how its value comes from the next; `~` marks a model's columns that
    // only shape its rows.
    let back = ok(canon(&project, &["lineage", "daily_fares.fare"], None));
    assert_eq!(
        back,
        "daily_fares.fare\n\
         <- daily_zone_fares.fare (copied)\n\
         \x20  <- trips_clean.fare (aggregated)\n\
         \x20     <- trips.fare (transformed)\n\
         \x20     ~  trips.fare (filter)\n\
         \x20  ~  trips_clean.pickup_at (group)\n\
         \x20  ~  trips_clean.zone_id (group)\n\
         ~  daily_zone_fares.zone_id (join)\n\
         ~  zone_names.zone_id (join)\n"
    );
    let zone = ok(canon(&project, &["lineage", "daily_fares.zone"], None));
    assert_eq!(
        zone,
        "daily_fares.zone\n\
         <- zone_names.name (copied)\n\
         \x20  <- zones.borough (transformed)\n\
         \x20  <- zones.zone (transformed)\n\
         ~  daily_zone_fares.zone_id (join)\n\
         ~  zone_names.zone_id (join)\n"
    );
    let forward = ok(canon(
        &project,
        &["lineage", "--forward", "trips.fare"],
        None,
    ));
    assert_eq!(
        forward,
        "trips.fare\n\
         -> trips_clean.fare (transformed)\n\
         \x20  -> daily_zone_fares.fare (aggregated)\n\
         \x20     -> daily_fares.fare (copied)\n\
         \x20  -> payment_mix.fare (aggregated)\n"
    );
    for (args, expected) in [
        (
            vec!["lineage", "daily_fares.nope"],
            "model `daily_fares` has no column `nope`",
        ),
        (vec!["lineage", "trips.fare"], "`trips` is not a model"),
        (vec!["lineage", "fare"], "is not `model.column`"),
    ] {
        let out = canon(&project, &args, None);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(expected), "{}", stderr(&out));
    }
}

#[test]
fn the_graph_draws_as_dot_and_mermaid() {
    let (_dir, project) = example_copy();
    let dot = ok(canon(&project, &["models", "--format", "dot"], None));
    assert!(
        dot.starts_with("digraph models {\n  rankdir=LR;\n"),
        "{dot}"
    );
    for line in [
        "  \"trips\" [shape=cylinder];",
        "  \"zone_names\" [shape=box, style=dashed];",
        "  \"daily_fares\" [shape=box];",
        "  \"trips\" -> \"trips_clean\";",
        "  \"daily_zone_fares\" -> \"daily_fares\";",
        "  \"zone_names\" -> \"daily_fares\";",
    ] {
        assert!(dot.lines().any(|l| l == line), "{line} missing from\n{dot}");
    }
    assert_eq!(dot.matches(" -> ").count(), 6, "{dot}");
    let mermaid = ok(canon(&project, &["models", "--format", "mermaid"], None));
    assert!(
        mermaid.starts_with("flowchart LR\n  n0[(\"trips\")]\n  n1[(\"zones\")]\n"),
        "{mermaid}"
    );
    assert!(mermaid.contains("  n5[/\"zone_names\"/]\n"), "{mermaid}");
    assert!(mermaid.contains("  n0 --> n2\n"), "{mermaid}");
    assert_eq!(mermaid.matches(" --> ").count(), 6, "{mermaid}");
    // `canon explain` without a query draws the same graph.
    assert_eq!(
        ok(canon(&project, &["explain", "--format", "dot"], None)),
        dot
    );
    assert_eq!(
        ok(canon(&project, &["explain", "--format", "mermaid"], None)),
        mermaid
    );
    let out = canon(&project, &["explain"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("give the query to explain"),
        "{}",
        stderr(&out)
    );
}
