//! Delta datasets: created from the contract, written in several versions through SQL,
//! read at each version, the Change Data Feed, constraints, pruning and concurrency.

use canon::delta::{DeltaDataset, ops};
use canon::stores::Stores;
use canon::{Project, Runtime};

use crate::common::{Fixture, assert_contains, column, query_err, rows};

const EVENTS: &str = r#"
[project]
name = "lake"

[policy]
allow_ddl = true
allow_dml = true

[[dataset]]
name = "events"
format = "delta"
location = "tables/events"
partitioned_by = ["region"]
constraints = ["amount >= 0"]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "amount", type = "Float64" },
  { name = "note", type = "Utf8" },
  { name = "region", type = "Utf8" },
]

[dataset.delta]
change_data_feed = true
"#;

/// Creates the events table from its contract and loads the project.
async fn events(fx: &Fixture) -> Runtime {
    let file = fx.write_project(EVENTS);
    let project = Project::load(&file).expect("project loads");
    let created = ops::create(
        project.dataset("events").expect("dataset"),
        &project.policy,
        &Stores::for_project(&project).expect("stores"),
    )
    .await
    .expect("table created");
    assert!(created.change_data_feed);
    assert_eq!(created.constraints.len(), 1);
    fx.runtime(EVENTS).await
}

fn delta<'a>(runtime: &'a Runtime, name: &str) -> &'a DeltaDataset {
    runtime
        .dataset(name)
        .and_then(|d| d.delta())
        .expect("a Delta dataset")
}

async fn latest_version(runtime: &Runtime) -> u64 {
    let table = delta(runtime, "events").latest().await.expect("latest");
    table.version().expect("a version")
}

/// The events project with a second constraint, which a table made from [`EVENTS`] does
/// not store.
fn stricter() -> String {
    EVENTS.replace(
        r#"constraints = ["amount >= 0"]"#,
        r#"constraints = ["amount >= 0", "note <> 'bad'"]"#,
    )
}

/// A project reading the events table at a pinned version.
fn pinned(version: u64) -> String {
    EVENTS.replace(
        "[dataset.delta]\nchange_data_feed = true",
        &format!("[dataset.delta]\nversion = {version}"),
    )
}

#[tokio::test]
async fn versions_time_travel_and_overwrite() {
    let fx = Fixture::new();
    let runtime = events(&fx).await;
    let session = runtime.session();
    // Version 0 creates the table, version 1 stores its constraint.
    assert_eq!(latest_version(&runtime).await, 1);
    rows(
        &session,
        "INSERT INTO events VALUES (1, 10.0, 'a', 'eu'), (2, 20.0, 'b', 'us')",
    )
    .await;
    rows(&session, "INSERT INTO events VALUES (3, 30.0, NULL, 'eu')").await;
    rows(
        &session,
        "INSERT OVERWRITE events VALUES (4, 40.0, 'd', 'us')",
    )
    .await;
    assert_eq!(latest_version(&runtime).await, 4);

    let ids = |sql| column(&session, sql);
    assert_eq!(ids("SELECT id FROM events ORDER BY id").await, ["4"]);
    for (version, expected) in [
        (1, vec![]),
        (2, vec!["1", "2"]),
        (3, vec!["1", "2", "3"]),
        (4, vec!["4"]),
    ] {
        let at = Fixture::new();
        let toml = pinned(version).replace("tables/events", &fx.abs("tables/events"));
        let runtime = at.runtime(&toml).await;
        assert_eq!(delta(&runtime, "events").version(), version);
        let got = column(&runtime.session(), "SELECT id FROM events ORDER BY id").await;
        assert_eq!(got, expected, "rows at version {version}");
    }

    // The dataset's state is queryable, with the version it read and its protocol.
    let state = column(
        &session,
        "SELECT delta FROM canon.datasets WHERE name = 'events'",
    )
    .await;
    let state: serde_json::Value = serde_json::from_str(&state[0]).expect("json");
    assert_eq!(state["version"], 4);
    assert!(state["protocol"]["minWriterVersion"].as_i64().unwrap_or(0) >= 3);
    assert_eq!(state["constraints"][0]["expression"], "amount >= 0");
    assert_eq!(state["scan"]["wrap_partition_values"], true);
}

#[tokio::test]
async fn a_pinned_dataset_refuses_writes() {
    let fx = Fixture::new();
    let runtime = events(&fx).await;
    rows(
        &runtime.session(),
        "INSERT INTO events VALUES (1, 1.0, 'a', 'eu')",
    )
    .await;
    let pinned = fx.runtime(&pinned(2)).await;
    let error = query_err(
        &pinned.session(),
        "INSERT INTO events VALUES (2, 1.0, 'a', 'eu')",
    )
    .await;
    assert_contains(&error.to_string(), &["pinned to version 2"]);
}

#[tokio::test]
async fn change_data_feed_as_sql() {
    let fx = Fixture::new();
    let runtime = events(&fx).await;
    let session = runtime.session();
    rows(
        &session,
        "INSERT INTO events VALUES (1, 10.0, 'a', 'eu'), (2, 20.0, 'b', 'us')",
    )
    .await;
    rows(&session, "INSERT INTO events VALUES (3, 30.0, 'c', 'eu')").await;
    let changes = rows(
        &session,
        "SELECT _change_type, _commit_version, id, region FROM table_changes('events', 2, 3) \
         ORDER BY id",
    )
    .await;
    assert_eq!(
        changes,
        [
            ["insert", "2", "1", "eu"],
            ["insert", "2", "2", "us"],
            ["insert", "3", "3", "eu"],
        ]
    );
    // Usable in any query: a join with the table itself.
    let joined = column(
        &session,
        "SELECT count(*) FROM table_changes('events', 3) c JOIN events e ON c.id = e.id",
    )
    .await;
    assert_eq!(joined, ["1"]);
    // A commit timestamp comes with every change.
    let stamped = column(
        &session,
        "SELECT count(*) FROM table_changes('events', 2) WHERE _commit_timestamp IS NOT NULL",
    )
    .await;
    assert_eq!(stamped, ["3"]);
}

#[tokio::test]
async fn a_table_without_the_change_feed_says_so() {
    let fx = Fixture::new();
    let toml = EVENTS.replace("change_data_feed = true", "change_data_feed = false");
    let file = fx.write_project(&toml);
    let project = Project::load(&file).expect("project loads");
    ops::create(
        project.dataset("events").expect("dataset"),
        &project.policy,
        &Stores::for_project(&project).expect("stores"),
    )
    .await
    .expect("created");
    let runtime = fx.runtime(&toml).await;
    let error = query_err(
        &runtime.session(),
        "SELECT * FROM table_changes('events', 0)",
    )
    .await;
    assert_contains(
        &error.to_string(),
        &[
            "`events` does not record its Change Data Feed",
            "change_data_feed = true",
        ],
    );
}

#[tokio::test]
async fn a_constraint_violation_names_the_constraint_and_commits_nothing() {
    let fx = Fixture::new();
    let runtime = events(&fx).await;
    let session = runtime.session();
    rows(&session, "INSERT INTO events VALUES (1, 10.0, 'a', 'eu')").await;
    let before = latest_version(&runtime).await;

    let error = query_err(
        &session,
        "INSERT INTO events VALUES (2, 5.0, 'ok', 'eu'), (3, -7.5, 'bad', 'us')",
    )
    .await
    .to_string();
    assert_contains(
        &error,
        &[
            "constraint `check_1` (amount >= 0)",
            "1 row(s)",
            "id: 3",
            "amount: -7.5",
            "nothing was committed",
        ],
    );
    assert_eq!(latest_version(&runtime).await, before);
    assert_eq!(column(&session, "SELECT count(*) FROM events").await, ["1"]);

    // The constraint is stored in the table, so delta-rs's own writer enforces it too.
    let stored = ops::stored_constraints(&delta(&runtime, "events").table()).expect("read");
    assert_eq!(
        stored.get("check_1").map(String::as_str),
        Some("amount >= 0")
    );
}

#[tokio::test]
async fn a_null_in_a_not_null_column_is_refused() {
    let fx = Fixture::new();
    let runtime = events(&fx).await;
    let session = runtime.session();
    let before = latest_version(&runtime).await;
    let error = query_err(
        &session,
        "INSERT INTO events SELECT CAST(NULL AS BIGINT), 1.0, 'x', 'eu'",
    )
    .await
    .to_string();
    assert_contains(&error, &["id"]);
    assert_eq!(latest_version(&runtime).await, before);
}

#[tokio::test]
async fn writes_need_allow_dml() {
    let fx = Fixture::new();
    events(&fx).await;
    let runtime = fx
        .runtime(&EVENTS.replace("allow_dml = true", "allow_dml = false"))
        .await;
    let error = query_err(
        &runtime.session(),
        "INSERT INTO events VALUES (1, 1.0, 'a', 'eu')",
    )
    .await;
    assert_contains(&error.to_string(), &["policy.allow_dml = false"]);
    assert_eq!(latest_version(&runtime).await, 1);
}

#[tokio::test]
async fn partition_pruning_shows_in_the_plan() {
    let fx = Fixture::new();
    let runtime = events(&fx).await;
    let session = runtime.session();
    rows(
        &session,
        "INSERT INTO events VALUES (1, 1.0, 'a', 'eu'), (2, 2.0, 'b', 'us'), (3, 3.0, 'c', 'apac')",
    )
    .await;
    let plan = |sql: &'static str| {
        let session = &session;
        async move { rows(session, sql).await.concat().join("\n") }
    };
    let all = plan("EXPLAIN SELECT id FROM events").await;
    let pruned = plan("EXPLAIN SELECT id FROM events WHERE region = 'eu'").await;
    let files = |plan: &str| files_scanned(plan);
    assert_eq!(files(&all), 3, "{all:?}");
    assert_eq!(files(&pruned), 1, "{pruned:?}");
    assert_eq!(
        column(&session, "SELECT id FROM events WHERE region = 'eu'").await,
        ["1"]
    );
}

/// How many data files a plan's scan opened, from the parquet files it lists.
fn files_scanned(plan: &str) -> usize {
    plan.matches(".parquet").count()
}

async fn append(session: &canon::Session, id: i64) -> canon::Result<()> {
    let sql = format!("INSERT INTO events VALUES ({id}, 1.0, 'x', 'eu')");
    session.sql(&sql).await?.collect().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_both_commit() {
    let fx = Fixture::new();
    let first = events(&fx).await;
    // Two runtimes, as two processes would have: each with its own snapshot of the table.
    let second = fx.runtime(EVENTS).await;
    let (a, b) = (first.session(), second.session());
    let one = tokio::spawn(async move { append(&a, 1).await });
    let two = tokio::spawn(async move { append(&b, 2).await });
    one.await.expect("task").expect("first writer commits");
    two.await.expect("task").expect("second writer commits");
    assert_eq!(latest_version(&first).await, 3);
    assert_eq!(
        column(&first.session(), "SELECT id FROM events ORDER BY id").await,
        ["1", "2"]
    );
}

#[tokio::test]
async fn registration_checks_the_table_against_the_contract() {
    let fx = Fixture::new();
    events(&fx).await;
    let wrong = EVENTS.replace(
        r#"{ name = "amount", type = "Float64" }"#,
        r#"{ name = "amount", type = "Int32" }"#,
    );
    let error = fx
        .load(&wrong)
        .await
        .expect_err("contract differs")
        .to_string();
    assert_contains(
        &error,
        &["events", "column `amount` is Float64, contract says Int32"],
    );

    let missing = EVENTS.replace("tables/events", "tables/nothing");
    let error = fx.load(&missing).await.expect_err("no table").to_string();
    assert_contains(&error, &["no Delta table at", "canon delta create events"]);
}

#[tokio::test]
async fn a_reader_feature_delta_rs_cannot_honour_is_refused_by_name() {
    let fx = Fixture::new();
    events(&fx).await;
    // Another writer upgrades the protocol with a reader feature no Canon build knows.
    let commit = r#"{"commitInfo":{"timestamp":1795570000000,"operation":"UPGRADE PROTOCOL"}}
{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["futureFeature"],"writerFeatures":["futureFeature"]}}
"#;
    fx.write_text("tables/events/_delta_log/00000000000000000002.json", commit);
    let error = fx.load(EVENTS).await.expect_err("refused").to_string();
    assert_contains(&error, &["events", "futureFeature"]);
}

/// `canon check` reads a Delta table's rows and judges them by the contract, including a
/// constraint the contract added after the table was written and the table does not store.
#[tokio::test]
async fn check_judges_delta_rows_by_the_contract() {
    let fx = Fixture::new();
    let runtime = events(&fx).await;
    rows(
        &runtime.session(),
        "INSERT INTO events VALUES (1, 10.0, 'ok', 'eu'), (2, 5.0, 'bad', NULL), \
         (3, 7.0, 'bad', 'us')",
    )
    .await;
    let check = |toml: &str| {
        let file = fx.write_project(toml);
        async move {
            let project = Project::load(&file).expect("project loads");
            canon::check::check_project(&project, &[], &mut |_, _, _| {})
                .await
                .expect("check runs")
        }
    };
    let report = check(EVENTS).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.datasets[0].files[0].rows, Some(3));

    let report = check(&stricter()).await;
    assert!(!report.ok());
    let problems = &report.datasets[0].files[0].problems;
    assert_eq!(
        problems,
        &["constraint `note <> 'bad'` fails for 2 row(s)".to_string()],
        "{report:?}"
    );
}

/// DELETE and UPDATE run delta-rs's operations, one commit each; an UPDATE that would
/// break a constraint the table stores, one only the contract declares, or a NOT NULL
/// column commits nothing.
#[tokio::test]
async fn delete_and_update_under_the_contract() {
    let fx = Fixture::new();
    let runtime = events(&fx).await;
    let session = runtime.session();
    rows(
        &session,
        "INSERT INTO events VALUES (1, 10.0, 'a', 'eu'), (2, 20.0, 'b', 'us'), \
         (3, 30.0, 'c', 'eu'), (4, 40.0, 'd', NULL)",
    )
    .await;
    let v = latest_version(&runtime).await;

    let deleted = column(&session, "DELETE FROM events WHERE id = 2").await;
    assert_eq!(deleted, ["1"]);
    assert_eq!(latest_version(&runtime).await, v + 1);
    let updated = column(
        &session,
        "UPDATE events SET amount = amount + 1, note = 'x' WHERE region = 'eu'",
    )
    .await;
    assert_eq!(updated, ["2"]);
    assert_eq!(latest_version(&runtime).await, v + 2);
    let all = column(
        &session,
        "SELECT concat_ws('/', id, amount, note, coalesce(region, '-')) FROM events ORDER BY id",
    )
    .await;
    assert_eq!(all, ["1/11.0/x/eu", "3/31.0/x/eu", "4/40.0/d/-"]);

    // The stored constraint (amount >= 0), checked before delta-rs writes anything.
    let error = query_err(&session, "UPDATE events SET amount = -1 WHERE id = 3").await;
    assert_contains(
        &error.to_string(),
        &[
            "constraint `check_1` (amount >= 0)",
            "id: 3",
            "nothing was committed",
        ],
    );
    // A NOT NULL column.
    let error = query_err(&session, "UPDATE events SET id = NULL WHERE id = 4").await;
    assert_contains(&error.to_string(), &["NOT NULL column `id`"]);
    assert_eq!(latest_version(&runtime).await, v + 2);

    // A constraint only the contract declares: the table does not store it.
    let strict = fx.runtime(&stricter()).await;
    let error = query_err(
        &strict.session(),
        "UPDATE events SET note = 'bad' WHERE id = 1",
    )
    .await;
    assert_contains(
        &error.to_string(),
        &["constraint `check_2` (note <> 'bad')", "id: 1"],
    );
    assert_eq!(latest_version(&runtime).await, v + 2);

    let deleted = column(&session, "DELETE FROM events").await;
    assert_eq!(deleted, ["3"]);
    assert_eq!(column(&session, "SELECT count(*) FROM events").await, ["0"]);
}

#[tokio::test]
async fn delete_and_update_need_allow_dml() {
    let fx = Fixture::new();
    events(&fx).await;
    let read_only = EVENTS.replace("allow_dml = true\n", "");
    let runtime = fx.runtime(&read_only).await;
    let session = runtime.session();
    for sql in [
        "DELETE FROM events WHERE id = 1",
        "UPDATE events SET amount = 0",
    ] {
        let error = query_err(&session, sql).await;
        assert_contains(&error.to_string(), &["policy.allow_dml = false"]);
    }
}

/// MERGE INTO runs delta-rs's merge: matched rows update or delete, unmatched ones insert.
/// The rows its clauses would write are checked first against NOT NULL, the table's
/// stored constraints and the contract's own; a violation names the rule and a row, and
/// the version does not move.
#[tokio::test]
async fn merge_under_the_contract() {
    let fx = Fixture::new();
    let runtime = events(&fx).await;
    let session = runtime.session();
    rows(
        &session,
        "INSERT INTO events VALUES (1, 10.0, 'a', 'eu'), (2, 20.0, 'b', 'us'), \
         (3, 30.0, 'c', 'eu')",
    )
    .await;
    let v = latest_version(&runtime).await;
    let merge = "MERGE INTO events AS t \
         USING (SELECT * FROM (VALUES (1, 15.0, 'm', 'eu'), (2, 0.0, 'gone', 'us'), \
                (9, 90.0, 'n', 'us')) AS v(id, amount, note, region)) AS s \
         ON t.id = s.id \
         WHEN MATCHED AND s.note = 'gone' THEN DELETE \
         WHEN MATCHED THEN UPDATE SET amount = s.amount, note = s.note \
         WHEN NOT MATCHED THEN INSERT (id, amount, note, region) \
              VALUES (s.id, s.amount, s.note, s.region)";
    let changed = column(&session, merge).await;
    assert_eq!(changed, ["3"]);
    assert_eq!(latest_version(&runtime).await, v + 1);
    let all = column(
        &session,
        "SELECT concat_ws('/', id, amount, note, region) FROM events ORDER BY id",
    )
    .await;
    assert_eq!(all, ["1/15.0/m/eu", "3/30.0/c/eu", "9/90.0/n/us"]);

    // Each clause kind, checked on the rows it would write: a matched UPDATE and a
    // NOT MATCHED BY SOURCE update break the stored constraint, an INSERT the NOT NULL
    // column. The earlier DELETE takes row 1, so the later UPDATE never writes it.
    let broken = [
        (
            "MERGE INTO events AS t USING (SELECT 3 AS id, -1.0 AS amount) AS s \
             ON t.id = s.id WHEN MATCHED THEN UPDATE SET amount = s.amount",
            vec![
                "constraint `check_1` (amount >= 0)",
                "id: 3",
                "amount: -1.0",
            ],
        ),
        (
            "MERGE INTO events AS t USING (SELECT 1 AS id) AS s ON t.id = s.id \
             WHEN NOT MATCHED BY SOURCE AND t.id = 9 THEN UPDATE SET amount = -5.0",
            vec![
                "constraint `check_1` (amount >= 0)",
                "id: 9",
                "amount: -5.0",
            ],
        ),
        (
            "MERGE INTO events AS t USING (SELECT 7 AS id, 1.0 AS amount) AS s \
             ON t.id = s.id WHEN NOT MATCHED THEN INSERT (amount) VALUES (s.amount)",
            vec!["NOT NULL column `id`"],
        ),
    ];
    for (sql, expected) in broken {
        let error = query_err(&session, sql).await;
        assert_contains(&error.to_string(), &expected);
        assert_contains(&error.to_string(), &["nothing was committed"]);
    }
    let delete_first = "MERGE INTO events AS t \
         USING (SELECT 1 AS id, -1.0 AS amount) AS s ON t.id = s.id \
         WHEN MATCHED AND s.id = 1 THEN DELETE \
         WHEN MATCHED THEN UPDATE SET amount = s.amount";
    assert_eq!(column(&session, delete_first).await, ["1"]);
    assert_eq!(latest_version(&runtime).await, v + 2);

    // A constraint only the contract declares is checked the same way.
    let strict = fx.runtime(&stricter()).await;
    let error = query_err(
        &strict.session(),
        "MERGE INTO events AS t USING (SELECT 3 AS id) AS s ON t.id = s.id \
         WHEN MATCHED THEN UPDATE SET note = 'bad'",
    )
    .await;
    assert_contains(
        &error.to_string(),
        &["constraint `check_2` (note <> 'bad')", "id: 3"],
    );
    let kept = "MERGE INTO events AS t USING (SELECT 3 AS id) AS s ON t.id = s.id \
         WHEN MATCHED THEN UPDATE SET note = 'fine'";
    assert_eq!(column(&strict.session(), kept).await, ["1"]);
    assert_eq!(latest_version(&runtime).await, v + 3);
}
