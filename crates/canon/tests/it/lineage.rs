//! Column lineage through joins, aggregates, CTEs, unions, window functions and
//! subqueries: the same from `explain`, from the diagnostics of a run, and for a DataFrame.

use canon::Session;
use canon::datafusion::common::JoinType;
use canon::datafusion::functions_aggregate::expr_fn::sum;
use canon::datafusion::prelude::{col, ident, lit};

use crate::common::collect;
use crate::sql_fixture::{fixture, planned_since, runtime};

/// Asserts the tables a query reads and, per output column in order, its sources.
async fn assert_lineage(
    session: &Session,
    sql: &str,
    tables: &[&str],
    columns: &[(&str, &[&str])],
) {
    let lineage = match session.explain(sql, false).await {
        Ok(explanation) => explanation.lineage,
        Err(e) => panic!("explain `{sql}` failed:\n{e}"),
    };
    assert_eq!(lineage.tables, tables, "tables of {sql}");
    let actual: Vec<(String, Vec<String>)> = lineage
        .columns
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.sources.iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    let expected: Vec<(String, Vec<String>)> = columns
        .iter()
        .map(|(name, sources)| {
            (
                name.to_string(),
                sources.iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    assert_eq!(actual, expected, "columns of {sql}");
}

#[tokio::test]
async fn joins_pass_columns_through_and_keys_are_not_sources() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    assert_lineage(
        &session,
        "SELECT t.id, z.borough, t.fare * 2 AS double_fare \
         FROM trips t JOIN zones z ON t.zone_id = z.zone_id WHERE z.borough <> 'East'",
        &["trips", "zones"],
        &[
            ("id", &["trips.id"]),
            ("borough", &["zones.borough"]),
            ("double_fare", &["trips.fare"]),
        ],
    )
    .await;
    // Outer joins, and an expression over both sides.
    assert_lineage(
        &session,
        "SELECT concat(z.borough, '-', t.city) AS place FROM zones z LEFT JOIN trips t USING (zone_id)",
        &["trips", "zones"],
        &[("place", &["trips.city", "zones.borough"])],
    )
    .await;
}

#[tokio::test]
async fn aggregates_derive_from_their_arguments_and_keys() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    assert_lineage(
        &runtime.session(),
        "SELECT z.borough, count(*) AS n, sum(t.fare) AS total, \
                max(t.fare) - min(t.id) AS spread \
         FROM trips t JOIN zones z USING (zone_id) GROUP BY z.borough",
        &["trips", "zones"],
        &[
            ("borough", &["zones.borough"]),
            ("n", &[]),
            ("total", &["trips.fare"]),
            ("spread", &["trips.fare", "trips.id"]),
        ],
    )
    .await;
}

#[tokio::test]
async fn ctes_and_derived_tables_resolve_to_base_columns() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    assert_lineage(
        &session,
        "WITH by_city AS (SELECT city, avg(fare) AS avg_fare FROM trips GROUP BY city), \
              big AS (SELECT city FROM by_city WHERE avg_fare > 30) \
         SELECT b.city AS c, bc.avg_fare FROM big b JOIN by_city bc ON b.city = bc.city",
        &["trips"],
        &[("c", &["trips.city"]), ("avg_fare", &["trips.fare"])],
    )
    .await;
    assert_lineage(
        &session,
        "WITH RECURSIVE r(n, c) AS ( \
            SELECT id, city FROM trips WHERE id = 1 \
            UNION ALL SELECT n + 1, c FROM r WHERE n < 3) \
         SELECT n, upper(c) AS c FROM r",
        &["trips"],
        &[("n", &["trips.id"]), ("c", &["trips.city"])],
    )
    .await;
}

#[tokio::test]
async fn unions_merge_the_sources_of_each_position() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    assert_lineage(
        &runtime.session(),
        "SELECT city AS name, fare AS amount FROM trips \
         UNION ALL SELECT borough, CAST(zone_id AS DOUBLE) FROM zones \
         UNION SELECT 'none', 0.0",
        &["trips", "zones"],
        &[
            ("name", &["trips.city", "zones.borough"]),
            ("amount", &["trips.fare", "zones.zone_id"]),
        ],
    )
    .await;
}

#[tokio::test]
async fn window_functions_derive_from_arguments_partitions_and_order() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    assert_lineage(
        &runtime.session(),
        "SELECT id, rank() OVER (PARTITION BY city ORDER BY fare DESC) AS r, \
                sum(fare) OVER (PARTITION BY zone_id) AS zone_total, \
                row_number() OVER () AS rn \
         FROM trips",
        &["trips"],
        &[
            ("id", &["trips.id"]),
            ("r", &["trips.city", "trips.fare"]),
            ("zone_total", &["trips.fare", "trips.zone_id"]),
            ("rn", &[]),
        ],
    )
    .await;
}

#[tokio::test]
async fn subqueries_add_their_tables_and_scalar_subqueries_their_columns() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    assert_lineage(
        &session,
        "SELECT z.borough, (SELECT max(fare) FROM trips) AS top_fare FROM zones z \
         WHERE z.zone_id IN (SELECT zone_id FROM trips WHERE fare > 30) \
           AND EXISTS (SELECT 1 FROM trips t WHERE t.zone_id = z.zone_id)",
        &["trips", "zones"],
        &[
            ("borough", &["zones.borough"]),
            ("top_fare", &["trips.fare"]),
        ],
    )
    .await;
    assert_lineage(
        &session,
        "SELECT s.c, s.f + 1 AS f FROM (SELECT city AS c, fare AS f FROM trips) s",
        &["trips"],
        &[("c", &["trips.city"]), ("f", &["trips.fare"])],
    )
    .await;
    // Correlated: the count becomes a left join on the zone; a count has no sources.
    assert_lineage(
        &session,
        "SELECT z.borough, (SELECT count(*) FROM trips t WHERE t.zone_id = z.zone_id) AS n \
         FROM zones z",
        &["trips", "zones"],
        &[("borough", &["zones.borough"]), ("n", &[])],
    )
    .await;
    // System tables are tables too, named by schema.
    assert_lineage(
        &session,
        "SELECT kind FROM canon.diagnostics",
        &["canon.diagnostics"],
        &[("kind", &["canon.diagnostics.kind"])],
    )
    .await;
}

#[tokio::test]
async fn every_run_records_its_lineage_and_fingerprint() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    let sql = "SELECT z.borough, sum(t.fare) AS total FROM trips t \
               JOIN zones z ON t.zone_id = z.zone_id WHERE t.fare > 25 GROUP BY z.borough";
    let explained = session.explain(sql, false).await.unwrap();
    let before = runtime.diagnostics().records().len();
    collect(&session, sql).await;
    let planned = planned_since(&runtime, before);
    assert_eq!(planned.len(), 1, "{planned:?}");
    assert_eq!(planned[0]["statement"], sql);
    assert_eq!(planned[0]["class"], "query");
    assert_eq!(planned[0]["fingerprint"], explained.fingerprint.as_str());
    assert_eq!(
        planned[0]["lineage"],
        serde_json::to_value(&explained.lineage).unwrap()
    );
    assert_eq!(
        planned[0]["lineage"]["columns"][1],
        serde_json::json!({
            "name": "total",
            "sources": ["trips.fare"],
            "kinds": {"trips.fare": "aggregated"}
        })
    );

    // The same record is a row of canon.diagnostics.
    let details = crate::common::column(
        &session,
        "SELECT detail FROM canon.diagnostics WHERE kind = 'query_planned' ORDER BY seq",
    )
    .await;
    let recorded: Vec<serde_json::Value> = details
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        recorded
            .iter()
            .any(|d| d["fingerprint"] == explained.fingerprint.as_str()
                && d["lineage"]["tables"] == serde_json::json!(["trips", "zones"])),
        "{recorded:?}"
    );
}

#[tokio::test]
async fn a_dataframe_and_the_same_sql_share_fingerprint_and_lineage() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    let sql = "SELECT z.borough, sum(t.fare) AS total FROM trips t \
               JOIN zones z ON t.zone_id = z.zone_id WHERE t.fare > 25 GROUP BY z.borough";
    let trips = session.table("trips").await.unwrap().alias("t").unwrap();
    let zones = session.table("zones").await.unwrap().alias("z").unwrap();
    let df = trips
        .join_on(
            zones,
            JoinType::Inner,
            [col("t.zone_id").eq(col("z.zone_id"))],
        )
        .unwrap()
        .filter(col("t.fare").gt(lit(25)))
        .unwrap()
        .aggregate(vec![col("z.borough")], vec![sum(col("t.fare"))])
        .unwrap()
        .select(vec![col("z.borough"), ident("sum(t.fare)").alias("total")])
        .unwrap();

    let from_sql = session.explain(sql, false).await.unwrap();
    let from_df = session.explain_dataframe(df.clone(), false).await.unwrap();
    assert_eq!(from_df.fingerprint, from_sql.fingerprint);
    assert_eq!(from_df.lineage, from_sql.lineage);
    assert_eq!(from_df.lineage.sources("total"), vec!["trips.fare"]);

    // Run, both are recorded by the same hook with the same fingerprint and lineage.
    let before = runtime.diagnostics().records().len();
    let mut df_rows = df.collect().await.unwrap();
    let mut sql_rows = collect(&session, sql).await;
    let planned = planned_since(&runtime, before);
    assert_eq!(planned.len(), 2, "{planned:?}");
    assert_eq!(planned[0]["statement"], "");
    assert_eq!(planned[1]["statement"], sql);
    assert_eq!(planned[0]["fingerprint"], planned[1]["fingerprint"]);
    assert_eq!(planned[0]["lineage"], planned[1]["lineage"]);
    let sort = |batches: &mut Vec<_>| {
        let text = canon::datafusion::arrow::util::pretty::pretty_format_batches(batches)
            .unwrap()
            .to_string();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines.sort();
        lines
    };
    assert_eq!(sort(&mut df_rows), sort(&mut sql_rows));
}
