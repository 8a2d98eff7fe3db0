//! The `canon` schema: profile, datasets and diagnostics, queryable by SQL.

use canon::Runtime;
use canon::datafusion::arrow::array::Int64Array;

use crate::common::{Fixture, arr, batch, column, rows};

fn project(batch_size: usize) -> String {
    format!(
        r#"[project]
name = "system"

[profile]
batch_size = {batch_size}
target_partitions = 2
memory_limit = "256MiB"

[profile.parquet]
pushdown_filters = true

[profile.settings]
"datafusion.optimizer.max_passes" = 5

[[dataset]]
name = "cities"
format = "csv"
location = "cities.csv"
columns = [
  {{ name = "id", type = "Int64" }},
  {{ name = "name", type = "Utf8" }},
]

[[dataset]]
name = "trips"
format = "parquet"
location = "trips"
columns = [
  {{ name = "id", type = "Int64" }},
  {{ name = "city_id", type = "Int64" }},
]
"#
    )
}

fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write_text("cities.csv", "id,name\n1,Oslo\n2,Lima\n");
    fx.write_parquet(
        "trips/part-0.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![10, 11, 12]))),
            ("city_id", arr(Int64Array::from(vec![1, 1, 2]))),
        ]),
    );
    fx
}

#[tokio::test]
async fn canon_profile_lists_settings_with_the_fingerprint() {
    let fx = fixture();
    let runtime = fx.runtime(&project(1024)).await;
    let session = runtime.session();
    let fingerprint = runtime.profile().fingerprint().to_string();
    assert_eq!(fingerprint.len(), 64);
    assert!(fingerprint.chars().all(|c| c.is_ascii_hexdigit()));

    let profile = rows(
        &session,
        "SELECT setting, value, fingerprint FROM canon.profile ORDER BY setting",
    )
    .await;
    let settings: Vec<(String, String)> = profile
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let expected: Vec<(String, String)> = runtime
        .profile()
        .settings()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(settings, expected);
    assert!(profile.iter().all(|r| r[2] == fingerprint));

    for (setting, value) in [
        ("canon.batch_size", "1024"),
        ("canon.target_partitions", "2"),
        ("canon.memory_limit", "268435456"),
        ("canon.memory_pool", "fair"),
        ("canon.policy.allow_ddl", "false"),
        ("canon.policy.dialect", "generic"),
        ("datafusion.execution.parquet.pushdown_filters", "true"),
        ("datafusion.optimizer.max_passes", "5"),
    ] {
        assert!(
            settings.contains(&(setting.to_string(), value.to_string())),
            "{setting} = {value} not in {settings:?}"
        );
    }

    // The declared settings are the session's settings.
    for (name, value) in [
        ("datafusion.execution.batch_size", "1024"),
        ("datafusion.execution.target_partitions", "2"),
        ("datafusion.execution.parquet.pushdown_filters", "true"),
        ("datafusion.optimizer.max_passes", "5"),
    ] {
        assert_eq!(
            rows(&session, &format!("SHOW {name}")).await[0][1],
            value,
            "{name}"
        );
    }
}

#[tokio::test]
async fn fingerprint_is_stable_across_loads_and_directories() {
    let fx = fixture();
    let file = fx.write_project(&project(1024));
    let a = Runtime::load(&file).await.unwrap();
    let b = Runtime::load(&file).await.unwrap();
    assert_eq!(a.profile().fingerprint(), b.profile().fingerprint());

    // The same text in another directory: locations differ, the profile does not.
    let elsewhere = fixture();
    let c = elsewhere.runtime(&project(1024)).await;
    assert_eq!(a.profile().fingerprint(), c.profile().fingerprint());
}

#[tokio::test]
async fn fingerprint_changes_when_one_knob_changes() {
    let fx = fixture();
    let base = fx.runtime(&project(1024)).await;
    let base_fp = base.profile().fingerprint().to_string();

    let other = fixture();
    let changed = other.runtime(&project(2048)).await;
    assert_ne!(changed.profile().fingerprint(), base_fp);

    let policy = fixture();
    let toml = project(1024).replacen(
        "[[dataset]]",
        "[policy]\nallow_ddl = true\n\n[[dataset]]",
        1,
    );
    let with_policy = policy.runtime(&toml).await;
    assert_ne!(with_policy.profile().fingerprint(), base_fp);

    let settings = fixture();
    let toml = project(1024).replace("max_passes\" = 5", "max_passes\" = 6");
    let with_settings = settings.runtime(&toml).await;
    assert_ne!(with_settings.profile().fingerprint(), base_fp);
}

#[tokio::test]
async fn canon_datasets_lists_ddl_and_schema_fingerprint() {
    let fx = fixture();
    let runtime = fx.runtime(&project(1024)).await;
    let session = runtime.session();
    let listed = rows(
        &session,
        "SELECT name, format, location, ddl, schema_fingerprint, notes \
         FROM canon.datasets ORDER BY name",
    )
    .await;
    assert_eq!(listed.len(), 2);
    for row in &listed {
        let dataset = runtime.dataset(&row[0]).expect("listed dataset exists");
        assert_eq!(row[1], dataset.spec.format.name());
        assert_eq!(row[2], dataset.spec.location);
        assert_eq!(row[3], dataset.ddl);
        assert_eq!(row[3], dataset.spec.ddl());
        assert_eq!(row[4], dataset.schema_fingerprint);
        assert_eq!(row[4], dataset.spec.schema_fingerprint());
        assert_eq!(row[4].len(), 64);
        let notes: Vec<String> = serde_json::from_str(&row[5]).unwrap();
        assert_eq!(notes, dataset.notes);
    }
    assert_eq!(listed[0][0], "cities");
    assert_eq!(listed[0][1], "csv");
    assert_eq!(listed[0][2], fx.url("cities.csv"));
    assert_eq!(listed[1][0], "trips");
    assert_eq!(listed[1][2], format!("{}/", fx.url("trips")));
    // Different columns, different fingerprints.
    assert_ne!(listed[0][4], listed[1][4]);
}

#[tokio::test]
async fn canon_diagnostics_records_registrations_and_queries() {
    let fx = fixture();
    let runtime = fx.runtime(&project(1024)).await;
    let session = runtime.session();

    let at_load = rows(
        &session,
        "SELECT seq, kind, dataset FROM canon.diagnostics ORDER BY seq",
    )
    .await;
    assert_eq!(
        at_load,
        vec![
            vec![
                "1".to_string(),
                "profile_built".to_string(),
                "NULL".to_string()
            ],
            vec![
                "2".to_string(),
                "dataset_registered".to_string(),
                "cities".to_string()
            ],
            vec![
                "3".to_string(),
                "dataset_registered".to_string(),
                "trips".to_string()
            ],
            // The query reading canon.diagnostics was planned before it was scanned.
            vec![
                "4".to_string(),
                "query_planned".to_string(),
                "NULL".to_string()
            ],
        ]
    );

    let detail = column(
        &session,
        "SELECT detail FROM canon.diagnostics WHERE dataset = 'trips'",
    )
    .await;
    let detail: serde_json::Value = serde_json::from_str(&detail[0]).unwrap();
    let trips = runtime.dataset("trips").unwrap();
    assert_eq!(detail["kind"], "dataset_registered");
    assert_eq!(detail["format"], "parquet");
    assert_eq!(detail["ddl"], trips.ddl.as_str());
    assert_eq!(
        detail["schema_fingerprint"],
        trips.schema_fingerprint.as_str()
    );

    let sql = "SELECT c.name, count(*) AS n \
               FROM trips t JOIN cities c ON t.city_id = c.id GROUP BY c.name";
    let other = runtime.session();
    crate::common::collect(&other, sql).await;
    let planned = rows(
        &session,
        "SELECT detail FROM canon.diagnostics WHERE kind = 'query_planned' ORDER BY seq",
    )
    .await;
    let planned: Vec<serde_json::Value> = planned
        .iter()
        .map(|r| serde_json::from_str(&r[0]).unwrap())
        .collect();
    // Two diagnostics queries from `session`, the join from `other`, then this query.
    assert_eq!(planned.len(), 4);
    assert_eq!(planned[2]["statement"], sql);
    assert_eq!(planned[2]["class"], "query");
    assert_eq!(planned[2]["session"], other.id());
    assert_eq!(planned[3]["session"], session.id());
    assert_ne!(session.id(), other.id());

    // The runtime's own view agrees with the table; each query that ran also finished.
    let records = runtime.diagnostics().records();
    assert_eq!(records.len(), 3 + 4 + 4);
    assert!(records.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    let join = records
        .iter()
        .find(|r| {
            r.event.kind() == "query_planned" && r.event.dataset().is_none() && {
                let json = serde_json::to_value(&r.event).unwrap();
                json["statement"] == sql
            }
        })
        .expect("the join was planned");
    let finished: Vec<serde_json::Value> = records
        .iter()
        .filter(|r| r.event.kind() == "query_finished")
        .map(|r| serde_json::to_value(&r.event).unwrap())
        .collect();
    let join_finished = finished
        .iter()
        .find(|f| f["planned"] == join.seq)
        .expect("the join finished");
    assert_eq!(join_finished["session"], other.id());
    assert_eq!(join_finished["output_rows"], 2);
    assert_eq!(join_finished["spill_count"], 0);
    assert_eq!(join_finished["error"], serde_json::Value::Null);
}

#[tokio::test]
async fn target_partitions_zero_plans_one_partition_per_core_and_one_more() {
    let fx = fixture();
    let runtime = fx
        .runtime(&project(1024).replace("target_partitions = 2", "target_partitions = 0"))
        .await;
    let session = runtime.session();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(
        rows(&session, "SHOW datafusion.execution.target_partitions").await[0][1],
        (cores + 1).to_string()
    );
    // The profile's settings, and so its fingerprint, keep the declared 0 on any machine.
    let declared = rows(
        &session,
        "SELECT value FROM canon.profile WHERE setting = 'canon.target_partitions'",
    )
    .await;
    assert_eq!(declared, vec![vec!["0".to_string()]]);
}
