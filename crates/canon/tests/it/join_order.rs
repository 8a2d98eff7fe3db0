//! Canon orders each region of inner joins by its estimates: a selective dimension written
//! last is joined first, `EXPLAIN` shows the order with its estimates, an order that is
//! already good stays, outer joins stay where they were written (a left join whose other
//! side no condition of the region reads is joined after it), a dimension DataFusion
//! turned into a semi join is ordered with the others, and every answer is plain
//! DataFusion's.

use canon::datafusion::arrow::array::{Int64Array, StringArray};

use crate::common::{Fixture, arr, batch, rows};
use crate::optimizer::{canon_rows, logical_plan, plain_over, plain_rows};

pub(crate) const STAR: &str = r#"
[project]
name = "star"

[[dataset]]
name = "sales"
format = "parquet"
location = "sales"
columns = [
  { name = "s_item", type = "Int64", nullable = false },
  { name = "s_date", type = "Int64", nullable = false },
  { name = "s_store", type = "Int64", nullable = false },
  { name = "s_qty", type = "Int64", nullable = false },
]

[[dataset]]
name = "item"
format = "parquet"
location = "item"
primary_key = ["i_item_sk"]
columns = [
  { name = "i_item_sk", type = "Int64", nullable = false },
  { name = "i_category", type = "Utf8", nullable = false },
]

[[dataset]]
name = "dates"
format = "parquet"
location = "dates"
primary_key = ["d_date_sk"]
columns = [
  { name = "d_date_sk", type = "Int64", nullable = false },
  { name = "d_year", type = "Int64", nullable = false },
  { name = "d_moy", type = "Int64", nullable = false },
]

[[dataset]]
name = "store"
format = "parquet"
location = "store"
primary_key = ["st_store_sk"]
columns = [
  { name = "st_store_sk", type = "Int64", nullable = false },
  { name = "st_state", type = "Utf8", nullable = false },
]
"#;

pub(crate) const TABLES: [&str; 4] = ["sales", "item", "dates", "store"];

/// 20,000 sales over 1,000 items, five years of days and 50 stores.
pub(crate) fn star() -> Fixture {
    let fx = Fixture::new();
    let n: i64 = 20_000;
    let days: i64 = 5 * 360;
    fx.write_parquet(
        "sales/part-0.parquet",
        &batch(vec![
            (
                "s_item",
                arr(Int64Array::from_iter_values(
                    (0..n).map(|i| i * 7 % 1000 + 1),
                )),
            ),
            (
                "s_date",
                arr(Int64Array::from_iter_values(
                    (0..n).map(|i| i * 13 % days + 1),
                )),
            ),
            (
                "s_store",
                arr(Int64Array::from_iter_values((0..n).map(|i| i % 50 + 1))),
            ),
            (
                "s_qty",
                arr(Int64Array::from_iter_values((0..n).map(|i| i % 9 + 1))),
            ),
        ]),
    );
    fx.write_parquet(
        "item/part-0.parquet",
        &batch(vec![
            ("i_item_sk", arr(Int64Array::from_iter_values(1..=1000))),
            (
                "i_category",
                arr(StringArray::from_iter_values(
                    (0..1000).map(|i| format!("c{}", i % 10)),
                )),
            ),
        ]),
    );
    fx.write_parquet(
        "dates/part-0.parquet",
        &batch(vec![
            ("d_date_sk", arr(Int64Array::from_iter_values(1..=days))),
            (
                "d_year",
                arr(Int64Array::from_iter_values(
                    (0..days).map(|d| 1999 + d / 360),
                )),
            ),
            (
                "d_moy",
                arr(Int64Array::from_iter_values(
                    (0..days).map(|d| d % 360 / 30 + 1),
                )),
            ),
        ]),
    );
    fx.write_parquet(
        "store/part-0.parquet",
        &batch(vec![
            ("st_store_sk", arr(Int64Array::from_iter_values(1..=50))),
            (
                "st_state",
                arr(StringArray::from_iter_values(
                    (0..50).map(|i| format!("s{}", i % 5)),
                )),
            ),
        ]),
    );
    fx
}

/// The one month of one year, written last. (Each row reads the date, so the join with
/// the dates cannot become a semi join on its key.)
pub(crate) const MONTH_LAST: &str = "SELECT d_date_sk, i_category, st_state, s_qty \
    FROM sales \
    JOIN item ON s_item = i_item_sk \
    JOIN store ON s_store = st_store_sk \
    JOIN dates ON s_date = d_date_sk \
    WHERE d_year = 2001 AND d_moy = 3 \
    ORDER BY d_date_sk, i_category, st_state, s_qty";

/// The pairs of relations an order (`((a:1 ⋈ b:2):3 ⋈ c:4):5`) joins before anything
/// else, each pair's names sorted.
pub(crate) fn joined_first(order: &str) -> Vec<[String; 2]> {
    let mut pairs = Vec::new();
    for (start, _) in order.match_indices('(') {
        let rest = &order[start + 1..];
        let Some(end) = rest.find(')') else { continue };
        let inner = &rest[..end];
        if inner.contains('(') {
            continue;
        }
        let mut names: Vec<String> = inner
            .split(" ⋈ ")
            .map(|leaf| leaf.split(':').next().unwrap_or_default().to_string())
            .collect();
        names.sort();
        if let [a, b] = names.as_slice() {
            pairs.push([a.clone(), b.clone()]);
        }
    }
    pairs
}

/// The `CanonJoinOrder` lines of `sql`'s logical plan.
pub(crate) async fn orders(session: &canon::Session, sql: &str) -> Vec<String> {
    logical_plan(session, sql)
        .await
        .into_iter()
        .filter(|line| line.contains("CanonJoinOrder"))
        .collect()
}

#[tokio::test]
async fn a_selective_dimension_written_last_is_joined_first() {
    let fx = star();
    let runtime = fx.runtime(STAR).await;
    let session = runtime.session();
    let found = orders(&session, MONTH_LAST).await;
    let [line] = found.as_slice() else {
        panic!("one reordered region expected: {found:?}");
    };
    // The month's 30 days meet the sales first, and the store and the item, which filter
    // nothing, come after.
    let order = line.split("order=").nth(1).unwrap_or_default();
    assert_eq!(joined_first(order), vec![["dates", "sales"]], "{line}");
    assert!(
        order.contains("store:50") && order.contains("item:1.0K"),
        "{line}"
    );
    for estimate in ["rows≈", "cost≈", "written_cost≈"] {
        assert!(line.contains(estimate), "{line}");
    }
    let plain = plain_over(&fx, &TABLES).await;
    let expected = plain_rows(&plain, MONTH_LAST).await;
    assert_eq!(canon_rows(&session, MONTH_LAST).await, expected);
    assert!(expected.lines().count() > 10, "{expected}");
    // `canon explain` shows the same order in its optimized plan.
    let explained = session.explain(MONTH_LAST, false).await.expect("explains");
    assert!(
        explained.optimized_plan.contains(line.trim()),
        "{}",
        explained.optimized_plan
    );
}

#[tokio::test]
async fn the_physical_plan_joins_in_the_chosen_order() {
    let fx = star();
    let runtime = fx.runtime(STAR).await;
    let session = runtime.session();
    let explained = rows(&session, &format!("EXPLAIN {MONTH_LAST}")).await;
    let physical = &explained
        .iter()
        .find(|row| row[0] == "physical_plan")
        .expect("a physical plan")[1];
    // The deepest inner join's keys are the date's.
    let joins: Vec<&str> = physical
        .lines()
        .filter(|l| l.contains("HashJoinExec") && l.contains("join_type=Inner"))
        .collect();
    let deepest = joins.last().expect("hash joins");
    assert!(
        deepest.contains("d_date_sk") && deepest.contains("s_date"),
        "{physical}"
    );
}

#[tokio::test]
async fn an_order_that_is_already_good_stays_and_either_switch_keeps_the_written_one() {
    let fx = star();
    let runtime = fx.runtime(STAR).await;
    let session = runtime.session();
    let month_first = "SELECT d_date_sk, i_category, st_state, s_qty FROM sales \
        JOIN dates ON s_date = d_date_sk \
        JOIN item ON s_item = i_item_sk \
        JOIN store ON s_store = st_store_sk \
        WHERE d_year = 2001 AND d_moy = 3";
    assert_eq!(orders(&session, month_first).await, Vec::<String>::new());
    let two = "SELECT count(*) FROM sales JOIN dates ON s_date = d_date_sk WHERE d_moy = 3";
    assert_eq!(orders(&session, two).await, Vec::<String>::new());
    // DataFusion's switch for statistics-driven join order turns Canon's off too.
    let off = format!(
        "{STAR}\n[profile.settings]\n\"datafusion.optimizer.join_reordering\" = \"false\"\n"
    );
    let runtime = fx.runtime(&off).await;
    assert_eq!(
        orders(&runtime.session(), MONTH_LAST).await,
        Vec::<String>::new()
    );
    // And so does the profile's.
    let written = format!("{STAR}\n[profile]\njoin_order = \"written\"\n");
    let runtime = fx.runtime(&written).await;
    let session = runtime.session();
    assert_eq!(orders(&session, MONTH_LAST).await, Vec::<String>::new());
    let explained = session.explain(MONTH_LAST, false).await.expect("explains");
    assert!(!explained.optimized_plan.contains("CanonJoinOrder"));
    let plain = plain_over(&fx, &TABLES).await;
    assert_eq!(
        canon_rows(&session, MONTH_LAST).await,
        plain_rows(&plain, MONTH_LAST).await
    );
}

#[tokio::test]
async fn outer_joins_are_barriers_and_every_answer_is_datafusions() {
    let fx = star();
    let runtime = fx.runtime(STAR).await;
    let session = runtime.session();
    let plain = plain_over(&fx, &TABLES).await;
    let queries = [
        MONTH_LAST,
        // A left join over the region: the region below it is reordered, the join stays.
        "SELECT d_date_sk, i_category, st_state, s_qty FROM sales \
         JOIN store ON s_store = st_store_sk \
         JOIN dates ON s_date = d_date_sk \
         LEFT JOIN item ON s_item = i_item_sk AND i_category IN ('c1', 'c2') \
         WHERE d_year = 2000 AND d_moy = 12 \
         ORDER BY d_date_sk, i_category, st_state, s_qty",
        // A condition over two relations that is not an equality.
        "SELECT count(*) AS n FROM sales \
         JOIN item ON s_item = i_item_sk \
         JOIN store ON s_store = st_store_sk \
         JOIN dates ON s_date = d_date_sk AND d_moy * 4 > st_store_sk \
         WHERE d_year = 2002",
        // A self join through aliases, and an aggregate as a relation.
        "SELECT d1.d_year, count(*) AS n FROM sales \
         JOIN dates d1 ON s_date = d1.d_date_sk \
         JOIN (SELECT s_item AS top, max(s_qty) AS most FROM sales GROUP BY s_item) t \
           ON s_item = t.top AND s_qty = t.most \
         JOIN dates d2 ON d2.d_date_sk = d1.d_date_sk + 1 \
         WHERE d2.d_moy = 1 \
         GROUP BY d1.d_year ORDER BY d1.d_year",
    ];
    for sql in queries {
        assert_eq!(
            canon_rows(&session, sql).await,
            plain_rows(&plain, sql).await,
            "{sql}"
        );
    }
    let left = orders(&session, queries[1]).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(!left[0].contains("item"), "{left:?}");
}

#[tokio::test]
async fn a_left_join_the_region_does_not_read_is_joined_after_it() {
    let fx = star();
    let runtime = fx.runtime(STAR).await;
    let session = runtime.session();
    let plain = plain_over(&fx, &TABLES).await;
    // TPC-DS q80's shape: each sale meets its (rare) match before the month's dates keep
    // one sale in sixty; then q78's, which keeps the sales without one.
    let lifted = [
        "SELECT st_state, count(*) AS n, sum(s_qty) AS qty, count(i_item_sk) AS matched, \
         max(d_date_sk) AS last_day FROM sales \
         LEFT JOIN item ON s_item = i_item_sk AND i_category = 'c3' \
         JOIN dates ON s_date = d_date_sk \
         JOIN store ON s_store = st_store_sk \
         WHERE d_year = 2001 AND d_moy = 3 \
         GROUP BY st_state ORDER BY st_state",
        "SELECT d_moy, count(*) AS n FROM sales \
         LEFT JOIN item ON s_item = i_item_sk AND i_category = 'c3' \
         JOIN dates ON s_date = d_date_sk \
         WHERE i_item_sk IS NULL AND d_year = 2002 \
         GROUP BY d_moy ORDER BY d_moy",
        // Nothing reads the dates: DataFusion semi-joins them with the left join.
        "SELECT st_state, count(*) AS n, count(i_item_sk) AS matched FROM sales \
         LEFT JOIN item ON s_item = i_item_sk AND i_category = 'c3' \
         JOIN dates ON s_date = d_date_sk \
         JOIN store ON s_store = st_store_sk \
         WHERE d_year = 2001 AND d_moy = 3 \
         GROUP BY st_state ORDER BY st_state",
    ];
    // A condition reads the left join's other side: the join stays a relation.
    let kept = "SELECT st_state, count(*) AS n FROM sales \
         LEFT JOIN item ON s_item = i_item_sk AND i_category = 'c3' \
         JOIN dates ON s_date = d_date_sk \
         JOIN store ON s_store = st_store_sk AND (i_category IS NULL OR st_state <> 's1') \
         WHERE d_year = 2001 AND d_moy = 3 \
         GROUP BY st_state ORDER BY st_state";
    for sql in lifted {
        let found = orders(&session, sql).await;
        let [line] = found.as_slice() else {
            panic!(
                "one reordered region expected: {found:?}\n{:#?}",
                logical_plan(&session, sql).await
            );
        };
        assert!(line.contains("then_left_joins=1"), "{line}");
        assert!(!line.contains("item"), "{line}");
    }
    for line in orders(&session, kept).await {
        assert!(!line.contains("then_left_joins"), "{line}");
    }
    for sql in lifted.into_iter().chain([kept]) {
        let expected = plain_rows(&plain, sql).await;
        assert!(expected.lines().count() > 5, "{expected}");
        assert_eq!(canon_rows(&session, sql).await, expected, "{sql}");
    }
}

#[tokio::test]
async fn text_equalities_keep_one_of_the_values_the_files_dictionaries_hold() {
    let fx = star();
    let runtime = fx.runtime(STAR).await;
    let session = runtime.session();
    // The dates, unfiltered, are written first; a category and a state filter the others.
    // (The aggregate reads a column of each, so both stay joined, not semi-joined.)
    let sql = "SELECT d_year, i_category, st_state, sum(s_qty) AS qty, \
        min(i_item_sk) AS first_item, min(st_store_sk) AS first_store FROM sales \
        JOIN dates ON s_date = d_date_sk \
        JOIN item ON s_item = i_item_sk \
        JOIN store ON s_store = st_store_sk \
        WHERE i_category = 'c3' AND st_state = 's4' \
        GROUP BY d_year, i_category, st_state ORDER BY d_year";
    let found = orders(&session, sql).await;
    let [line] = found.as_slice() else {
        panic!("one reordered region expected: {found:?}");
    };
    // One of the ten categories and one of the five states, which the parquet files'
    // dictionaries count; with the count unknown each equality would keep a two-hundredth
    // of its table (item:5, store:1).
    assert!(
        line.contains("item:100") && line.contains("store:10"),
        "{line}"
    );
    let plain = plain_over(&fx, &TABLES).await;
    let expected = plain_rows(&plain, sql).await;
    assert_eq!(canon_rows(&session, sql).await, expected);
    assert!(expected.lines().count() >= 5, "{expected}");
}

#[tokio::test]
async fn a_scalar_subquerys_joins_are_ordered_too() {
    let fx = star();
    let runtime = fx.runtime(STAR).await;
    let session = runtime.session();
    let month = MONTH_LAST.replace(
        "SELECT d_date_sk, i_category, st_state, s_qty",
        "SELECT avg(s_qty + d_date_sk + length(i_category) + length(st_state))",
    );
    let month = month.split(" ORDER BY").next().unwrap_or_default();
    let sql = format!("SELECT count(*) AS n FROM sales WHERE s_qty > ({month}) AND s_store = 7");
    let found = orders(&session, &sql).await;
    let [line] = found.as_slice() else {
        panic!(
            "the subquery's region reordered: {found:?}\n{}",
            logical_plan(&session, &sql).await.join("\n")
        );
    };
    let order = line.split("order=").nth(1).unwrap_or_default();
    assert_eq!(joined_first(order), vec![["dates", "sales"]], "{line}");
    let plain = plain_over(&fx, &TABLES).await;
    let expected = plain_rows(&plain, &sql).await;
    assert_eq!(canon_rows(&session, &sql).await, expected);
}

#[tokio::test]
async fn a_dimension_datafusion_made_a_semi_join_is_ordered_with_the_region() {
    let fx = star();
    let runtime = fx.runtime(STAR).await;
    let session = runtime.session();
    // Nothing above reads the stores' columns and their key is declared, so DataFusion
    // makes the store a semi join; its condition reads the items too, so it stays over the
    // join of sales and items. The region takes the store in as one of its relations and
    // orders it with the others (here joined before the items, whose join then checks the
    // condition on the store's state).
    let sql = "SELECT d_date_sk, i_category, s_qty FROM sales \
        JOIN item ON s_item = i_item_sk \
        JOIN store ON s_store = st_store_sk AND st_state <> i_category \
        JOIN dates ON s_date = d_date_sk \
        WHERE d_year = 2001 AND d_moy = 3 \
        ORDER BY d_date_sk, i_category, s_qty";
    let plan = logical_plan(&session, sql).await.join("\n");
    let found = orders(&session, sql).await;
    let [line] = found.as_slice() else {
        panic!("one reordered region expected: {found:?}\n{plan}");
    };
    let order = line.split("order=").nth(1).unwrap_or_default();
    assert_eq!(joined_first(order), vec![["dates", "sales"]], "{line}");
    assert!(order.contains("store:50"), "{line}");
    let plain = plain_over(&fx, &TABLES).await;
    let queries = [
        sql,
        // The semi join's own condition reads another relation of the region.
        "SELECT st_state, count(*) AS n FROM sales \
         JOIN item ON s_item = i_item_sk \
         JOIN store ON s_store = st_store_sk \
         JOIN dates ON s_date = d_date_sk AND d_moy * 4 > st_store_sk \
         WHERE d_year = 2002 \
         GROUP BY st_state ORDER BY st_state",
        // A semi join whose other side is not unique stays a barrier.
        "SELECT i_category, count(*) AS n FROM sales \
         JOIN item ON s_item = i_item_sk \
         JOIN store ON s_store = st_store_sk \
         WHERE s_date IN (SELECT s_date FROM sales WHERE s_qty = 9 AND s_store = 3) \
         GROUP BY i_category ORDER BY i_category",
    ];
    for sql in queries {
        let expected = plain_rows(&plain, sql).await;
        assert!(expected.lines().count() > 3, "{sql}\n{expected}");
        assert_eq!(canon_rows(&session, sql).await, expected, "{sql}");
    }
}

/// Orders of customers of nations of regions, keys declared: TPC-H's snowflake.
const SNOWFLAKE: &str = r#"
[project]
name = "snowflake"

[[dataset]]
name = "orders"
format = "parquet"
location = "orders"
primary_key = ["o_orderkey"]
columns = [
  { name = "o_orderkey", type = "Int64", nullable = false },
  { name = "o_custkey", type = "Int64", nullable = false },
]

[[dataset]]
name = "customer"
format = "parquet"
location = "customer"
primary_key = ["c_custkey"]
columns = [
  { name = "c_custkey", type = "Int64", nullable = false },
  { name = "c_nationkey", type = "Int64", nullable = false },
]

[[dataset]]
name = "nation"
format = "parquet"
location = "nation"
primary_key = ["n_nationkey"]
columns = [
  { name = "n_nationkey", type = "Int64", nullable = false },
  { name = "n_name", type = "Utf8", nullable = false },
  { name = "n_regionkey", type = "Int64", nullable = false },
]

[[dataset]]
name = "region"
format = "parquet"
location = "region"
primary_key = ["r_regionkey"]
columns = [
  { name = "r_regionkey", type = "Int64", nullable = false },
  { name = "r_name", type = "Utf8", nullable = false },
]
"#;

#[tokio::test]
async fn a_nation_semi_joined_with_its_region_refers_to_all_its_tables_keys() {
    let fx = Fixture::new();
    let ids = |n: i64| arr(Int64Array::from_iter_values(0..n));
    fx.write_parquet(
        "orders/part-0.parquet",
        &batch(vec![
            ("o_orderkey", ids(40_000)),
            (
                "o_custkey",
                arr(Int64Array::from_iter_values(
                    (0..40_000).map(|i| i * 7 % 10_000),
                )),
            ),
        ]),
    );
    fx.write_parquet(
        "customer/part-0.parquet",
        &batch(vec![
            ("c_custkey", ids(10_000)),
            (
                "c_nationkey",
                arr(Int64Array::from_iter_values((0..10_000).map(|i| i % 25))),
            ),
        ]),
    );
    fx.write_parquet(
        "nation/part-0.parquet",
        &batch(vec![
            ("n_nationkey", ids(25)),
            (
                "n_name",
                arr(StringArray::from_iter_values(
                    (0..25).map(|i| format!("n{i}")),
                )),
            ),
            (
                "n_regionkey",
                arr(Int64Array::from_iter_values((0..25).map(|i| i % 5))),
            ),
        ]),
    );
    fx.write_parquet(
        "region/part-0.parquet",
        &batch(vec![
            ("r_regionkey", ids(5)),
            (
                "r_name",
                arr(StringArray::from_iter_values(
                    (0..5).map(|i| format!("r{i}")),
                )),
            ),
        ]),
    );
    let runtime = fx.runtime(SNOWFLAKE).await;
    let session = runtime.session();
    // Nothing reads the region's columns: DataFusion makes it a semi join, which Canon
    // pushes down onto the nations. Those five nations are five of the 25 keys the
    // customers refer to, so the join with them keeps a fifth of the customers, which the
    // order meets before the orders; taken for five nations of five, they seemed to keep
    // every customer.
    let sql = "SELECT n_name, count(*) AS n FROM orders \
        JOIN customer ON o_custkey = c_custkey \
        JOIN nation ON c_nationkey = n_nationkey \
        JOIN region ON n_regionkey = r_regionkey \
        WHERE r_name = 'r2' \
        GROUP BY n_name ORDER BY n_name";
    let plan = logical_plan(&session, sql).await.join("\n");
    let found = orders(&session, sql).await;
    let [line] = found.as_slice() else {
        panic!("one reordered region expected: {found:?}\n{plan}");
    };
    let order = line.split("order=").nth(1).unwrap_or_default();
    assert_eq!(joined_first(order), vec![["customer", "nation"]], "{line}");
    // `(nation:5 ⋈ customer:C):J`, J a fifth of C.
    let Some((customers, joined)) = order
        .split("(nation:5 ⋈ customer:")
        .nth(1)
        .and_then(|rest| rest.split_once("):"))
        .map(|(c, rest)| (c, rest.split([' ', ')']).next().unwrap_or_default()))
    else {
        panic!("the nations' five rows joined with the customers first: {line}");
    };
    let (customers, joined) = (count(customers), count(joined));
    assert!(
        (joined * 5.0 - customers).abs() <= customers * 0.05,
        "{line}"
    );
    let plain = plain_over(&fx, &["orders", "customer", "nation", "region"]).await;
    let expected = plain_rows(&plain, sql).await;
    assert_eq!(expected.lines().count(), 5 + 4, "{expected}");
    assert_eq!(canon_rows(&session, sql).await, expected);
}

/// A count as `EXPLAIN` writes it (`400`, `2.0K`, `1.5M`).
fn count(text: &str) -> f64 {
    let (number, scale) = match text.strip_suffix('K') {
        Some(n) => (n, 1e3),
        None => match text.strip_suffix('M') {
            Some(n) => (n, 1e6),
            None => (text, 1.0),
        },
    };
    number.parse::<f64>().map_or(f64::NAN, |n| n * scale)
}
