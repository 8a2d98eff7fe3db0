//! Grouped aggregates finished within their partitions
//! (`canon::optimizer::RangedFinalAggregates`): where the partitions of a sorted scan read
//! disjoint ranges of the group key, each finishes its own groups, and the groups at the
//! partitions' ends, which two partitions may share, are finished together. TPC-H q18
//! sums each order's lines and hash-repartitioned 1.5 M partial rows, one per order.
//! Without a declared order, where the row groups' statistics bound each partition's keys,
//! each partition aggregates its rows in one step and the keys at its bounds are finished
//! together.

use std::fs;

use canon::datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use canon::datafusion::parquet::arrow::ArrowWriter;
use canon::datafusion::parquet::file::properties::WriterProperties;
use canon::datafusion::prelude::SessionContext;

use crate::common::{Fixture, arr, batch};
use crate::optimizer::{canon_rows, physical_plan, plain_over, plain_rows};

/// A project of `lines` declared sorted by `order` (or not at all), its key `k` of
/// `key_type`, read in `partitions` partitions: byte ranges of one file where `split`,
/// whole files otherwise.
fn project(partitions: usize, split: bool, order: Option<&str>, key_type: &str) -> String {
    let split = match split {
        true => "[profile.settings]\n\"datafusion.optimizer.repartition_file_min_size\" = \"1\"\n",
        false => "",
    };
    let order = match order {
        Some(order) => format!("ordered_by = [\"{order}\"]"),
        None => String::new(),
    };
    format!(
        r#"
[project]
name = "ranged"

[profile]
target_partitions = {partitions}

{split}
[[dataset]]
name = "lines"
format = "parquet"
location = "lines"
{order}
columns = [
  {{ name = "k", type = "{key_type}", nullable = true }},
  {{ name = "q", type = "Int64", nullable = false }},
]
"#
    )
}

/// Lines sorted by their order key, split by byte ranges into three partitions.
fn lines() -> String {
    project(3, true, Some("k ASC"), "Int64")
}

/// The same lines, whole files to a partition.
fn files() -> String {
    project(2, false, Some("k ASC"), "Int64")
}

/// Writes `lines/{name}.parquet` with the order keys `k`, each line's quantity made up,
/// in row groups of 1,000 rows: an order's lines straddle row groups, and so partitions.
fn write_lines(fx: &Fixture, name: &str, k: ArrayRef) {
    let q: Vec<i64> = (0..k.len()).map(|i| (i as i64 * 31) % 13).collect();
    write_rows(
        fx,
        name,
        batch(vec![("k", k), ("q", arr(Int64Array::from(q)))]),
    );
}

/// Writes `lines/{name}.parquet` with `batch`, in row groups of 1,000 rows.
fn write_rows(fx: &Fixture, name: &str, batch: RecordBatch) {
    fs::create_dir_all(fx.root().join("lines")).expect("lines directory");
    let file = fs::File::create(fx.root().join(format!("lines/{name}.parquet"))).expect("create");
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(1_000))
        .build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

/// The order keys `keys` (sorted), seven lines each.
fn orders(keys: std::ops::Range<i64>) -> ArrayRef {
    arr(Int64Array::from_iter_values(keys.flat_map(|k| [k; 7])))
}

/// Large orders, as TPC-H q18 finds them (in an order the key's does not give, which
/// would keep the repartition ordered), and a few more aggregates of every order.
const QUERIES: [&str; 2] = [
    "SELECT k, sum(q) AS s FROM lines GROUP BY k HAVING sum(q) > 60 ORDER BY s DESC, k",
    "SELECT count(*) AS orders, sum(n) AS lines, sum(s) AS total, min(a) AS least, \
     max(a) AS most FROM (SELECT k, count(*) AS n, sum(q) AS s, avg(q) AS a \
     FROM lines GROUP BY k)",
];

/// Loads `project` over the lines `fx` holds, checks that its plan of the first query
/// finishes the groups within their partitions exactly when `ranged`, and that every one
/// of [`QUERIES`] answers as in a plain session; gives both sessions and that plan.
async fn answered_as_plain(
    fx: &Fixture,
    project: &str,
    ranged: bool,
) -> (canon::Session, SessionContext, String) {
    let session = fx.runtime(project).await.session();
    let plain = plain_over(fx, &["lines"]).await;
    let plan = physical_plan(&session, QUERIES[0]).await;
    assert_eq!(plan.contains("CanonRangedFinal"), ranged, "{plan}");
    for sql in QUERIES {
        let ours = canon_rows(&session, sql).await;
        assert_eq!(ours, plain_rows(&plain, sql).await, "{sql}");
    }
    (session, plain, plan)
}

#[tokio::test]
async fn byte_ranges_of_one_sorted_file_finish_their_own_groups() {
    let fx = Fixture::new();
    write_lines(&fx, "part-0", orders(0..5_000));
    let (session, _, plan) = answered_as_plain(&fx, &lines(), true).await;
    assert!(plan.contains("ordering_mode=Sorted"), "{plan}");
    assert!(
        !plan.contains("RepartitionExec: partitioning=Hash"),
        "{plan}"
    );
    assert!(plan.contains("lines/part-0.parquet:"), "not split:\n{plan}");
    // Every order counted once, its seven lines together.
    let totals = canon_rows(&session, QUERIES[1]).await;
    assert!(totals.contains("| 5000   | 35000 |"), "{totals}");
}

#[tokio::test]
async fn files_whose_keys_meet_at_their_ends_finish_the_shared_key_together() {
    let fx = Fixture::new();
    // Order 2,000 has lines in both files.
    write_lines(&fx, "part-0", orders(0..2_001));
    write_lines(&fx, "part-1", orders(2_000..4_000));
    let (session, plain, _) = answered_as_plain(&fx, &files(), true).await;
    let shared = "SELECT k, count(*) AS n FROM lines GROUP BY k HAVING count(*) > 7 \
                  ORDER BY n, k";
    let ours = canon_rows(&session, shared).await;
    assert!(ours.contains("| 2000 | 14 |"), "{ours}");
    assert_eq!(ours, plain_rows(&plain, shared).await);
}

#[tokio::test]
async fn files_whose_keys_overlap_are_finished_by_key_as_before() {
    let fx = Fixture::new();
    write_lines(&fx, "part-0", orders(0..2_000));
    write_lines(&fx, "part-1", orders(1_000..3_000));
    answered_as_plain(&fx, &files(), false).await;
}

#[tokio::test]
async fn text_keys_in_descending_order_and_nulls_at_the_end_finish_once() {
    let fx = Fixture::new();
    let mut k: Vec<Option<String>> = (0..3_000)
        .rev()
        .flat_map(|k| std::iter::repeat_n(Some(format!("order-{k:05}")), 7))
        .collect();
    k.extend(std::iter::repeat_n(None, 2_000));
    write_lines(&fx, "part-0", arr(StringArray::from(k)));
    let text = project(3, true, Some("k DESC NULLS LAST"), "Utf8");
    let (session, _, _) = answered_as_plain(&fx, &text, true).await;
    // The lines without a key are one group.
    let nulls = "SELECT count(*) AS n FROM lines WHERE k IS NULL GROUP BY k";
    let ours = canon_rows(&session, nulls).await;
    assert!(ours.contains("| 2000 |"), "{ours}");
}

/// More aggregates of every order than [`QUERIES`]: those with a filter, over distinct
/// values, and ordered.
const MORE: &str = "SELECT k, count(*) FILTER (WHERE q > 5) AS big, count(DISTINCT q) AS d, \
    array_agg(q ORDER BY q DESC) AS qs FROM lines GROUP BY k ORDER BY k";

/// The lines of orders 0 to 4,999, seven each, with order 1,800 holding 3,000 lines that
/// span row groups and the first partition's end.
fn lines_with_a_large_order() -> ArrayRef {
    let keys = (0..5_000_i64).flat_map(|k| {
        let lines = if k == 1_800 { 3_000 } else { 7 };
        std::iter::repeat_n(k, lines)
    });
    arr(Int64Array::from_iter_values(keys))
}

#[tokio::test]
async fn row_groups_that_bound_each_partitions_keys_aggregate_in_one_step() {
    let fx = Fixture::new();
    write_lines(&fx, "part-0", lines_with_a_large_order());
    let columns = project(3, true, None, "Int64");
    let session = fx.runtime(&columns).await.session();
    let plain = plain_over(&fx, &["lines"]).await;
    let plan = physical_plan(&session, QUERIES[0]).await;
    assert!(plan.contains("CanonRangedSingle"), "{plan}");
    assert!(
        !plan.contains("RepartitionExec: partitioning=Hash"),
        "{plan}"
    );
    assert!(plan.contains("lines/part-0.parquet:"), "not split:\n{plan}");
    for sql in QUERIES.iter().chain([&MORE]) {
        assert_eq!(
            canon_rows(&session, sql).await,
            plain_rows(&plain, sql).await,
            "{sql}"
        );
    }
    let totals = canon_rows(&session, QUERIES[1]).await;
    assert!(totals.contains("| 5000   | 37993 |"), "{totals}");
    let large = "SELECT k, count(*) AS n FROM lines GROUP BY k HAVING count(*) > 7";
    let ours = canon_rows(&session, large).await;
    assert!(ours.contains("| 1800 | 3000 |"), "{ours}");
}

#[tokio::test]
async fn row_groups_whose_keys_overlap_are_aggregated_by_key_as_before() {
    let fx = Fixture::new();
    // Every row group holds keys from the whole range.
    let keys = (0..35_000_i64).map(|i| (i * 7_919) % 5_000);
    write_lines(&fx, "part-0", arr(Int64Array::from_iter_values(keys)));
    let columns = project(3, true, None, "Int64");
    let session = fx.runtime(&columns).await.session();
    let plain = plain_over(&fx, &["lines"]).await;
    let plan = physical_plan(&session, QUERIES[0]).await;
    assert!(!plan.contains("CanonRanged"), "{plan}");
    for sql in QUERIES.iter().chain([&MORE]) {
        assert_eq!(
            canon_rows(&session, sql).await,
            plain_rows(&plain, sql).await,
            "{sql}"
        );
    }
}

#[tokio::test]
async fn lines_without_a_key_are_one_group_where_every_partition_holds_some() {
    let fx = Fixture::new();
    // Sorted keys with every hundredth line keyless: the statistics leave the nulls out.
    let keys = (0..35_000_i64).map(|i| (i % 100 != 0).then_some(i / 7));
    write_lines(&fx, "part-0", arr(Int64Array::from_iter(keys)));
    let columns = project(3, true, None, "Int64");
    let session = fx.runtime(&columns).await.session();
    let plain = plain_over(&fx, &["lines"]).await;
    let plan = physical_plan(&session, QUERIES[0]).await;
    assert!(plan.contains("CanonRangedSingle"), "{plan}");
    for sql in QUERIES.iter().chain([&MORE]) {
        assert_eq!(
            canon_rows(&session, sql).await,
            plain_rows(&plain, sql).await,
            "{sql}"
        );
    }
    let nulls = "SELECT count(*) AS n FROM lines GROUP BY k HAVING k IS NULL";
    let ours = canon_rows(&session, nulls).await;
    assert!(ours.contains("| 350 |"), "{ours}");
}

#[tokio::test]
async fn the_statistics_are_the_keys_own_where_the_table_orders_its_columns_otherwise() {
    let fx = Fixture::new();
    // The file holds k then q; q rises through the file, k does not.
    let k: Vec<i64> = (0..35_000_i64).map(|i| (i * 7_919) % 5_000).collect();
    let q: Vec<i64> = (0..35_000_i64).collect();
    let rows = batch(vec![
        ("k", arr(Int64Array::from(k))),
        ("q", arr(Int64Array::from(q))),
    ]);
    write_rows(&fx, "part-0", rows);
    // The project declares q first: k is its second column, q the file's second.
    let reordered = project(3, true, None, "Int64").replace(
        r#"  { name = "k", type = "Int64", nullable = true },
  { name = "q", type = "Int64", nullable = false },"#,
        r#"  { name = "q", type = "Int64", nullable = false },
  { name = "k", type = "Int64", nullable = true },"#,
    );
    assert!(
        reordered.find("\"q\"") < reordered.find("\"k\""),
        "{reordered}"
    );
    let session = fx.runtime(&reordered).await.session();
    let plain = plain_over(&fx, &["lines"]).await;
    let plan = physical_plan(&session, QUERIES[0]).await;
    assert!(!plan.contains("CanonRanged"), "{plan}");
    for sql in QUERIES {
        assert_eq!(
            canon_rows(&session, sql).await,
            plain_rows(&plain, sql).await,
            "{sql}"
        );
    }
}

#[tokio::test]
async fn groups_a_partitioned_join_meets_are_repartitioned_once_finished() {
    let fx = Fixture::new();
    write_lines(&fx, "part-0", lines_with_a_large_order());
    // Every join repartitions both sides, so the large orders' keys must arrive
    // hash-partitioned to meet the lines.
    let columns = project(3, true, None, "Int64").replace(
        "[profile.settings]\n",
        "[profile.settings]\n\
         \"datafusion.optimizer.hash_join_single_partition_threshold\" = \"1\"\n\
         \"datafusion.optimizer.hash_join_single_partition_threshold_rows\" = \"1\"\n",
    );
    let session = fx.runtime(&columns).await.session();
    let plain = plain_over(&fx, &["lines"]).await;
    let large = "SELECT count(*) AS n, sum(q) AS s FROM lines WHERE k IN \
                 (SELECT k FROM lines GROUP BY k HAVING sum(q) > 60)";
    let plan = physical_plan(&session, large).await;
    assert!(plan.contains("mode=Partitioned"), "{plan}");
    let lines: Vec<&str> = plan.lines().collect();
    let single = lines
        .iter()
        .position(|l| l.contains("CanonRangedSingle"))
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(
        single > 0 && lines[single - 1].contains("RepartitionExec: partitioning=Hash([k@0]"),
        "{plan}"
    );
    let ours = canon_rows(&session, large).await;
    assert_eq!(ours, plain_rows(&plain, large).await);
    assert!(ours.contains("| 3000 |"), "{ours}");
}
