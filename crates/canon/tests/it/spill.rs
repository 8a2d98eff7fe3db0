//! Queries over the memory limit: a sort that does not fit spills to the profile's
//! spill directory and the spill is recorded; `max_temp_directory_size` bounds the spill.

use canon::datafusion::arrow::array::{Int64Array, StringArray};
use canon::datafusion::error::DataFusionError;
use canon::{CanonError, Runtime, Session};

use crate::common::{Fixture, arr, batch, rows};

/// Rows in the generated file: about 6 MiB of strings, three times the memory limit.
pub(crate) const ROWS: usize = 200_000;

pub(crate) fn project(profile: &str) -> String {
    format!(
        r#"[project]
name = "spill"

[profile]
target_partitions = 1
memory_limit = "2MiB"
spill_dir = "spill"
{profile}

[[dataset]]
name = "big"
format = "parquet"
location = "big"
columns = [
  {{ name = "id", type = "Int64" }},
  {{ name = "s", type = "Utf8" }},
]
"#
    )
}

/// A parquet file of `ROWS` rows with 24-character strings in scrambled order.
pub(crate) fn fixture() -> Fixture {
    let fx = Fixture::new();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut ids = Vec::with_capacity(ROWS);
    let mut strings = Vec::with_capacity(ROWS);
    for id in 0..ROWS {
        // xorshift64: deterministic, no dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ids.push(i64::try_from(id).unwrap());
        strings.push(format!("{state:024x}"));
    }
    fx.write_parquet(
        "big/part-0.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(ids))),
            ("s", arr(StringArray::from(strings))),
        ]),
    );
    fx
}

const SORT: &str = "SELECT s, id FROM big ORDER BY s";

/// The `query_finished` event of the last query, as JSON.
fn last_finished(runtime: &Runtime) -> serde_json::Value {
    let record = runtime
        .diagnostics()
        .records()
        .into_iter()
        .rev()
        .find(|r| r.event.kind() == "query_finished")
        .expect("a query_finished event");
    serde_json::to_value(&record.event).unwrap()
}

async fn run(session: &Session, sql: &str) -> canon::Result<usize> {
    let batches = session.sql(sql).await?.collect().await?;
    Ok(batches.iter().map(|b| b.num_rows()).sum())
}

#[tokio::test]
async fn a_sort_over_the_memory_limit_spills_and_the_spill_is_recorded() {
    let fx = fixture();
    // The merge reservation must fit the pool for the sort to spill rather than fail.
    let runtime = fx
        .runtime(&project(
            "[profile.settings]\n\"datafusion.execution.sort_spill_reservation_bytes\" = \"262144\"",
        ))
        .await;
    let session = runtime.session();
    assert_eq!(run(&session, SORT).await.unwrap(), ROWS);
    let finished = last_finished(&runtime);
    assert_eq!(finished["output_rows"], ROWS);
    assert_eq!(finished["error"], serde_json::Value::Null);
    let spills = finished["spill_count"].as_u64().unwrap();
    let bytes = finished["spilled_bytes"].as_u64().unwrap();
    assert!(spills > 0, "{finished}");
    assert!(bytes > 0, "{finished}");
    assert!(finished["spilled_rows"].as_u64().unwrap() > 0, "{finished}");

    // DataFusion spilled under the profile's spill_dir (in a directory of its own, kept for
    // the runtime's life).
    let spill_dir = std::fs::read_dir(fx.root().join("spill")).unwrap();
    let made: Vec<String> = spill_dir
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(made[0].starts_with("datafusion-"), "{made:?}");

    // The result is sorted all the same.
    let first = rows(&session, "SELECT min(s) FROM big").await;
    let sorted_first = rows(&session, &format!("{SORT} LIMIT 1")).await;
    assert_eq!(sorted_first[0][0], first[0][0]);
}

#[tokio::test]
async fn a_spill_larger_than_max_temp_directory_size_fails_naming_the_limit() {
    let fx = fixture();
    let runtime = fx
        .runtime(&project(
            "max_temp_directory_size = \"64KiB\"\n\n[profile.settings]\n\
             \"datafusion.execution.sort_spill_reservation_bytes\" = \"262144\"",
        ))
        .await;
    let session = runtime.session();
    assert_eq!(
        rows(&session, "SHOW datafusion.runtime.max_temp_directory_size").await[0][1],
        "64K"
    );
    let err = run(&session, SORT)
        .await
        .expect_err("the spill does not fit");
    let text = err.to_string();
    assert!(matches!(err, CanonError::DataFusion(_)), "{text}");
    assert!(
        text.contains(
            "The used disk space during the spilling process has exceeded the allowable limit \
             of 64.0 KB"
        ),
        "{text}"
    );
    let finished = last_finished(&runtime);
    assert_eq!(finished["error"].as_str(), Some(text.as_str()));
}

#[tokio::test]
async fn without_room_to_merge_the_sort_fails_naming_the_limit() {
    let fx = fixture();
    // DataFusion reserves 10 MiB to merge spilled runs by default: more than the pool.
    let runtime = fx.runtime(&project("")).await;
    let session = runtime.session();
    let err = run(&session, SORT)
        .await
        .expect_err("the sort cannot reserve its merge");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "the query needs more memory than the profile allows ([profile] memory_limit = \
             2097152 bytes, shared by every query of the runtime); raise it, or let operators \
             reserve less\ncaused by\n"
        ),
        "{text}"
    );
    // DataFusion's own error is the cause.
    let CanonError::DataFusion(err) = err else {
        panic!("expected DataFusion's error: {text}");
    };
    assert!(
        matches!(err.find_root(), DataFusionError::ResourcesExhausted(_)),
        "{text}"
    );
    assert!(text.contains("fair(pool_size: 2.0 MB)"), "{text}");
    let finished = last_finished(&runtime);
    assert_eq!(finished["spill_count"], 0);
    assert_eq!(finished["error"].as_str(), Some(text.as_str()));
}

#[test]
fn max_temp_directory_size_is_a_validated_fingerprinted_size() {
    let fx = Fixture::new();
    fx.mkdir("big");
    let err = fx.project_error(&project("max_temp_directory_size = \"lots\""));
    let location = format!(
        "{}:8:27: profile.max_temp_directory_size: ",
        fx.project_file()
    );
    assert!(err.contains(&location), "{err}");
    assert!(err.contains("`lots` is not a size like \"64MiB\""), "{err}");

    let settings = |profile: &str| {
        let file = fx.write_project(&project(profile));
        let project = canon::Project::load(&file).unwrap();
        canon::profile::canonical_settings(&project.profile, &project.policy)
    };
    let default = settings("");
    let ten = settings("max_temp_directory_size = \"10GiB\"");
    assert_eq!(default["canon.max_temp_directory_size"], "107374182400");
    assert_eq!(ten["canon.max_temp_directory_size"], "10737418240");
    assert_ne!(
        canon::profile::fingerprint(&default),
        canon::profile::fingerprint(&ten)
    );
}
