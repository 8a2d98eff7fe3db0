//! Cache introspection after real parquet scans: `list_files_cache()`, `metadata_cache()`
//! and `statistics_cache()` show one row per entry with the configured limits, hits grow
//! with every scan, and the parquet reader's predicate cache shows in the plan metrics.

use std::path::Path;

use canon::Analysis;
use canon::datafusion::arrow::array::{Int64Array, StringArray};

use crate::common::{Fixture, arr, batch, column, query_err, rows};

const PROJECT: &str = r#"[project]
name = "caches"

[profile]
target_partitions = 1

[profile.cache]
metadata = "32MiB"
list_files = "2MiB"
list_files_ttl = "10m"

[profile.parquet]
pushdown_filters = true

[[dataset]]
name = "events"
format = "parquet"
location = "events"
columns = [
  { name = "id", type = "Int64" },
  { name = "kind", type = "Utf8" },
]
"#;

/// Rows per file, written to `events/part-{i}.parquet`.
const ROWS: [i64; 2] = [300, 200];

fn fixture() -> Fixture {
    let fx = Fixture::new();
    let mut start = 0;
    for (i, n) in ROWS.iter().enumerate() {
        let ids: Vec<i64> = (start..start + n).collect();
        let kinds: Vec<&str> = ids
            .iter()
            .map(|id| if id % 10 == 0 { "rare" } else { "common" })
            .collect();
        fx.write_parquet(
            &format!("events/part-{i}.parquet"),
            &batch(vec![
                ("id", arr(Int64Array::from(ids))),
                ("kind", arr(StringArray::from(kinds))),
            ]),
        );
        start += n;
    }
    fx
}

/// Paths in the project directory's store are relative to it.
fn store_path(fx: &Fixture, path: &Path) -> String {
    path.strip_prefix(fx.root())
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn file(fx: &Fixture, i: usize) -> std::path::PathBuf {
    fx.root().join(format!("events/part-{i}.parquet"))
}

/// How many rows the fixture marks `rare`.
fn rare() -> usize {
    (0..ROWS.iter().sum::<i64>())
        .filter(|id| id % 10 == 0)
        .count()
}

fn hits(table: &[Vec<String>], column: usize) -> Vec<u64> {
    table.iter().map(|r| r[column].parse().unwrap()).collect()
}

#[tokio::test]
async fn each_cache_shows_its_entries_and_hits_grow_with_scans() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    let count = "SELECT count(*) FROM events WHERE kind = 'rare'";
    let rare = rare();
    assert_eq!(column(&session, count).await, vec![rare.to_string()]);

    let listing = rows(
        &session,
        "SELECT \"table\", path, files, size_bytes > 0, hits, expires_in_ms <= ttl_ms, \
         limit_bytes, ttl_ms FROM list_files_cache()",
    )
    .await;
    assert_eq!(listing.len(), 1, "{listing:?}");
    let dir = store_path(&fx, &fx.root().join("events"));
    assert_eq!(
        &listing[0][..4],
        &["events", dir.as_str(), &ROWS.len().to_string(), "true"]
    );
    assert_eq!(&listing[0][5..], &["true", "2097152", "600000"]);

    let files: Vec<String> = (0..ROWS.len())
        .map(|i| store_path(&fx, &file(&fx, i)))
        .collect();
    let metadata = rows(
        &session,
        "SELECT path, file_size, size_bytes > 0, hits, details, limit_bytes FROM metadata_cache()",
    )
    .await;
    assert_eq!(metadata.len(), ROWS.len(), "{metadata:?}");
    for (i, row) in metadata.iter().enumerate() {
        let size = std::fs::metadata(file(&fx, i)).unwrap().len();
        assert_eq!(row[0], files[i]);
        assert_eq!(row[1], size.to_string());
        assert_eq!(row[2], "true");
        assert_eq!(row[5], (32u64 << 20).to_string());
    }

    let statistics = rows(
        &session,
        "SELECT \"table\", path, file_size, num_rows, num_rows_exact, hits, limit_bytes \
         FROM statistics_cache()",
    )
    .await;
    assert_eq!(statistics.len(), ROWS.len(), "{statistics:?}");
    for (i, row) in statistics.iter().enumerate() {
        let size = std::fs::metadata(file(&fx, i)).unwrap().len();
        let expected = [
            "events",
            &files[i],
            &size.to_string(),
            &ROWS[i].to_string(),
            "true",
        ];
        assert_eq!(&row[..5], &expected[..]);
        assert_ne!(row[6], "0");
    }

    // A second scan reads every cache again: hits grow for each entry.
    assert_eq!(column(&session, count).await, vec![rare.to_string()]);
    let listing_after = rows(&session, "SELECT hits FROM list_files_cache()").await;
    let metadata_after = rows(&session, "SELECT hits FROM metadata_cache()").await;
    let statistics_after = rows(&session, "SELECT hits FROM statistics_cache()").await;
    assert!(hits(&listing_after, 0)[0] > hits(&listing, 4)[0]);
    for (before, after) in hits(&metadata, 3).iter().zip(hits(&metadata_after, 0)) {
        assert!(after > *before, "metadata hits {before} -> {after}");
    }
    for (before, after) in hits(&statistics, 5).iter().zip(hits(&statistics_after, 0)) {
        assert!(after > *before, "statistics hits {before} -> {after}");
    }
}

#[tokio::test]
async fn cache_functions_take_no_arguments() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    for function in ["list_files_cache", "metadata_cache", "statistics_cache"] {
        let err = query_err(&session, &format!("SELECT * FROM {function}(1)"))
            .await
            .to_string();
        assert!(
            err.contains(&format!("{function}() takes no arguments")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn the_predicate_cache_shows_in_explain_analyze_and_analysis() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    // Filtering on a projected column: the filter's decoded values are cached and reused.
    let sql = "SELECT id, kind FROM events WHERE kind = 'rare'";
    let explained = rows(&session, &format!("EXPLAIN ANALYZE {sql}")).await;
    let plan = &explained[0][1];
    assert!(plan.contains("predicate_cache_inner_records="), "{plan}");
    assert!(plan.contains("predicate_cache_records="), "{plan}");

    let df = session.sql(sql).await.unwrap();
    let analysis = Analysis::collect(df).await.unwrap();
    let rare = rare();
    let returned: usize = analysis.batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(returned, rare);
    let metrics = &analysis.scan_metrics;
    assert_eq!(metrics.get("pushdown_rows_matched"), Some(&rare));
    let total = ROWS.iter().sum::<i64>() as usize;
    assert_eq!(metrics.get("pushdown_rows_pruned"), Some(&(total - rare)));
    assert!(
        metrics
            .get("predicate_cache_inner_records")
            .is_some_and(|n| *n > 0),
        "{metrics:?}"
    );
    assert!(
        metrics
            .get("predicate_cache_records")
            .is_some_and(|n| *n > 0),
        "{metrics:?}"
    );
    assert!(
        analysis.plan.contains("predicate_cache_records="),
        "{}",
        analysis.plan
    );
}
