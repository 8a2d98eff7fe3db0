//! Plan fingerprints: stable across SQL spellings, dialects, runtimes and partition
//! counts; different whenever the plan differs.

use canon::Session;

use crate::sql_fixture::{fixture, project};

async fn fingerprint(session: &Session, sql: &str) -> String {
    match session.explain(sql, false).await {
        Ok(explanation) => explanation.fingerprint,
        Err(e) => panic!("explain `{sql}` failed:\n{e}"),
    }
}

#[tokio::test]
async fn whitespace_comments_and_keyword_case_do_not_change_it() {
    let fx = fixture();
    let runtime = crate::sql_fixture::runtime(&fx, "").await;
    let session = runtime.session();
    let base = fingerprint(
        &session,
        "SELECT city, count(*) AS n FROM trips WHERE fare > 20 GROUP BY city ORDER BY city",
    )
    .await;
    assert_eq!(base.len(), 64);
    assert!(base.chars().all(|c| c.is_ascii_hexdigit()));
    for spelling in [
        "select city, count(*) as n from trips where fare > 20 group by city order by city",
        "SELECT   city ,\n\tCOUNT( * ) AS n\nFROM trips -- every trip\nWHERE fare>20 /* dear */ \
         GROUP BY city\nORDER BY city\n",
        "Select City, Count(*) As N From Trips Where Fare > 20 Group By City Order By City",
    ] {
        assert_eq!(fingerprint(&session, spelling).await, base, "{spelling}");
    }
}

#[tokio::test]
async fn the_same_query_in_two_dialects_has_one_fingerprint() {
    let fx = fixture();
    let postgres = crate::sql_fixture::runtime(&fx, "dialect = \"postgresql\"").await;
    let mysql = crate::sql_fixture::runtime(&fx, "dialect = \"mysql\"").await;
    assert_eq!(
        fingerprint(
            &postgres.session(),
            "SELECT \"city\", id::BIGINT AS i FROM trips LIMIT 2 OFFSET 1"
        )
        .await,
        fingerprint(
            &mysql.session(),
            "SELECT `city`, CAST(id AS BIGINT) AS i FROM `trips` LIMIT 1, 2"
        )
        .await
    );
}

#[tokio::test]
async fn different_plans_have_different_fingerprints() {
    let fx = fixture();
    let runtime = crate::sql_fixture::runtime(&fx, "").await;
    let session = runtime.session();
    let queries = [
        "SELECT city, count(*) AS n FROM trips WHERE fare > 20 GROUP BY city",
        "SELECT city, count(*) AS n FROM trips WHERE fare > 21 GROUP BY city",
        "SELECT city, count(*) AS n FROM trips WHERE fare >= 20 GROUP BY city",
        "SELECT city, count(*) AS m FROM trips WHERE fare > 20 GROUP BY city",
        "SELECT city, sum(fare) AS n FROM trips WHERE fare > 20 GROUP BY city",
        "SELECT city, count(*) AS n FROM trips WHERE fare > 20 GROUP BY city LIMIT 1",
        "SELECT city, count(*) AS n FROM trips WHERE fare > 20 GROUP BY city ORDER BY city",
        "SELECT city, CAST(count(*) AS INT) AS n FROM trips WHERE fare > 20 GROUP BY city",
        "SELECT borough AS city, count(*) AS n FROM zones WHERE zone_id > 20 GROUP BY borough",
        "SELECT t.city, count(*) AS n FROM trips t WHERE t.fare > 20 GROUP BY t.city",
    ];
    let mut seen = std::collections::BTreeMap::new();
    for sql in queries {
        let fp = fingerprint(&session, sql).await;
        if let Some(other) = seen.insert(fp, sql) {
            panic!("same fingerprint for\n  {other}\n  {sql}");
        }
    }
}

#[tokio::test]
async fn runtimes_with_different_partition_counts_agree() {
    let fx = fixture();
    let queries = [
        "SELECT z.borough, count(*) AS n, sum(t.fare) AS total FROM trips t \
         JOIN zones z USING (zone_id) GROUP BY z.borough ORDER BY 1",
        "SELECT id, rank() OVER (PARTITION BY city ORDER BY fare) AS r FROM trips",
        "SELECT city FROM trips WHERE zone_id IN (SELECT zone_id FROM zones) \
         UNION SELECT borough FROM zones",
    ];
    let mut fingerprints: Vec<Vec<String>> = Vec::new();
    for partitions in [1, 3, 16] {
        let runtime = fx.runtime(&project("", partitions)).await;
        let session = runtime.session();
        let mut these = Vec::new();
        for sql in queries {
            these.push(fingerprint(&session, sql).await);
        }
        fingerprints.push(these);
    }
    assert_eq!(fingerprints[0], fingerprints[1]);
    assert_eq!(fingerprints[0], fingerprints[2]);
    // …while the physical plans do differ.
    let one = fx.runtime(&project("", 1)).await;
    let many = fx.runtime(&project("", 16)).await;
    let physical = |e: canon::Explanation| e.physical_plan;
    assert_ne!(
        physical(one.session().explain(queries[0], false).await.unwrap()),
        physical(many.session().explain(queries[0], false).await.unwrap())
    );
}

#[test]
fn fingerprint_hashes_the_canonical_text_of_the_plan() {
    use canon::datafusion::logical_expr::{LogicalPlanBuilder, col, lit};

    let plan = LogicalPlanBuilder::empty(true)
        .project(vec![lit(1).alias("one")])
        .unwrap()
        .filter(col("one").gt(lit(0)))
        .unwrap()
        .build()
        .unwrap();
    let text = canon::sql::fingerprint::canonical_text(&plan);
    assert_eq!(
        text,
        "Filter: one > Int32(0) [one:Int32]\n  Projection: Int32(1) AS one [one:Int32]\n    \
         EmptyRelation: rows=1 []"
    );
    assert_eq!(
        canon::sql::fingerprint(&plan),
        canon::sql::fingerprint(&plan.clone())
    );
}
