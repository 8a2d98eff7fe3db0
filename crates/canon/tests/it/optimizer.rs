//! Canon's optimizer rules keep every answer plain DataFusion gives, and change the plan
//! where they should: the same queries run through a Canon session and a plain
//! `SessionContext` over the same files.

use canon::datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
use canon::datafusion::arrow::util::pretty::pretty_format_batches;
use canon::datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::common::{Fixture, arr, batch, collect, rows};

pub(crate) const SHOP: &str = r#"
[project]
name = "shop"

[[dataset]]
name = "customer"
format = "parquet"
location = "customer"
columns = [
  { name = "c_custkey", type = "Int64", nullable = false },
  { name = "c_name", type = "Utf8" },
]

[[dataset]]
name = "orders"
format = "parquet"
location = "orders"
columns = [
  { name = "o_orderkey", type = "Int64" },
  { name = "o_custkey", type = "Int64", nullable = false },
  { name = "o_total", type = "Float64" },
]

[[dataset]]
name = "lineitem"
format = "parquet"
location = "lineitem"
columns = [
  { name = "l_orderkey", type = "Int64" },
  { name = "l_quantity", type = "Float64" },
]
"#;

/// Three customers, six orders (one without a key) and their lines.
pub(crate) fn shop() -> Fixture {
    let fx = Fixture::new();
    fx.write_parquet(
        "customer/part-0.parquet",
        &batch(vec![
            ("c_custkey", arr(Int64Array::from(vec![1, 2, 3]))),
            ("c_name", arr(StringArray::from(vec!["ann", "bo", "cy"]))),
        ]),
    );
    fx.write_parquet(
        "orders/part-0.parquet",
        &batch(vec![
            (
                "o_orderkey",
                arr(Int64Array::from(vec![
                    Some(10),
                    Some(11),
                    Some(12),
                    Some(13),
                    Some(14),
                    None,
                ])),
            ),
            ("o_custkey", arr(Int64Array::from(vec![1, 1, 2, 3, 3, 2]))),
            (
                "o_total",
                arr(Float64Array::from(vec![5.0, 50.0, 7.0, 80.0, 9.0, 1.0])),
            ),
        ]),
    );
    let keys = [10, 10, 11, 11, 11, 12, 13, 13, 14];
    let quantities = [1.0, 2.0, 40.0, 30.0, 1.0, 5.0, 60.0, 1.0, 3.0];
    let mut l_orderkey: Vec<Option<i64>> = keys.iter().map(|k| Some(*k)).collect();
    let mut l_quantity = quantities.to_vec();
    l_orderkey.push(None);
    l_quantity.push(99.0);
    fx.write_parquet(
        "lineitem/part-0.parquet",
        &batch(vec![
            ("l_orderkey", arr(Int64Array::from(l_orderkey))),
            ("l_quantity", arr(Float64Array::from(l_quantity))),
        ]),
    );
    fx
}

pub(crate) async fn plain(fx: &Fixture) -> SessionContext {
    plain_over(fx, &["customer", "orders", "lineitem"]).await
}

/// A plain `SessionContext` with each of `tables` registered from the fixture's directory
/// of that name.
pub(crate) async fn plain_over(fx: &Fixture, tables: &[&str]) -> SessionContext {
    let ctx = SessionContext::new();
    for &table in tables {
        let path = fx.root().join(table);
        ctx.register_parquet(
            table,
            &path.to_string_lossy(),
            ParquetReadOptions::default(),
        )
        .await
        .expect("register");
    }
    ctx
}

pub(crate) async fn plain_rows(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx
        .sql(sql)
        .await
        .expect("plans")
        .collect()
        .await
        .expect("runs");
    pretty_format_batches(&batches)
        .expect("formats")
        .to_string()
}

/// A Canon session's answer to `sql`, as a table.
pub(crate) async fn canon_rows(session: &canon::Session, sql: &str) -> String {
    pretty_format_batches(&collect(session, sql).await)
        .expect("formats")
        .to_string()
}

/// The optimized logical plan's lines.
pub(crate) async fn logical_plan(session: &canon::Session, sql: &str) -> Vec<String> {
    explained_plan(session, sql, "logical_plan").await
}

/// The lines of the plan `EXPLAIN` shows as `kind` (`logical_plan`, `physical_plan`).
pub(crate) async fn explained_plan(session: &canon::Session, sql: &str, kind: &str) -> Vec<String> {
    let explained = rows(session, &format!("EXPLAIN {sql}")).await;
    let plan = explained
        .iter()
        .find(|row| row[0] == kind)
        .unwrap_or_else(|| panic!("no {kind}: {explained:?}"));
    plan[1].lines().map(str::to_string).collect()
}

/// How deep a plan line is, by its indentation.
fn depth(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The q18 shape: orders whose lines add up to more than a bound. The semi join on the
/// aggregated key set moves onto `orders`, below both inner joins; the answers stay.
#[tokio::test]
async fn a_key_set_semi_join_moves_onto_the_side_that_holds_its_key() {
    let fx = shop();
    let runtime = fx.runtime(SHOP).await;
    let session = runtime.session();
    let ctx = plain(&fx).await;
    let sql = "SELECT c_name, o_orderkey, o_total, sum(l_quantity) AS quantity \
               FROM customer, orders, lineitem \
               WHERE o_orderkey IN (SELECT l_orderkey FROM lineitem GROUP BY l_orderkey \
                                    HAVING sum(l_quantity) > 50) \
                 AND c_custkey = o_custkey AND o_orderkey = l_orderkey \
               GROUP BY c_name, o_orderkey, o_total ORDER BY o_total DESC, o_orderkey";
    let ours = canon_rows(&session, sql).await;
    assert_eq!(ours, plain_rows(&ctx, sql).await);
    assert!(
        ours.contains("| cy     | 13         | 80.0    | 61.0     |"),
        "{ours}"
    );

    let plan = logical_plan(&session, sql).await;
    let semi = plan
        .iter()
        .find(|l| l.contains("LeftSemi Join"))
        .unwrap_or_else(|| panic!("no semi join:\n{}", plan.join("\n")));
    let inner = plan
        .iter()
        .filter(|l| l.contains("Inner Join"))
        .map(|l| depth(l))
        .min()
        .expect("an inner join");
    assert!(
        depth(semi) > inner,
        "the semi join stayed above the inner joins:\n{}",
        plan.join("\n")
    );
}

/// Shapes the rule leaves alone give the same answers as plain DataFusion: a correlated
/// EXISTS over a detail table (q21's shape, not a key set), NOT IN with a NULL key, and a
/// key set under a LEFT join.
#[tokio::test]
async fn other_semi_and_anti_joins_answer_as_plain_datafusion() {
    let fx = shop();
    let runtime = fx.runtime(SHOP).await;
    let session = runtime.session();
    let ctx = plain(&fx).await;
    for sql in [
        "SELECT o_orderkey, count(*) FROM orders JOIN lineitem l1 ON o_orderkey = l1.l_orderkey \
         WHERE EXISTS (SELECT 1 FROM lineitem l2 WHERE l2.l_orderkey = l1.l_orderkey \
                       AND l2.l_quantity > l1.l_quantity) \
         GROUP BY o_orderkey ORDER BY o_orderkey",
        "SELECT c_name, count(*) FROM customer JOIN orders ON c_custkey = o_custkey \
         WHERE o_orderkey NOT IN (SELECT l_orderkey FROM lineitem WHERE l_quantity > 50) \
         GROUP BY c_name ORDER BY c_name",
        "SELECT c_name, o_orderkey FROM customer LEFT JOIN orders ON c_custkey = o_custkey \
         WHERE o_orderkey IN (SELECT l_orderkey FROM lineitem GROUP BY l_orderkey) \
         ORDER BY c_name, o_orderkey",
        "SELECT c_name, o_orderkey FROM customer JOIN orders ON c_custkey = o_custkey \
         WHERE o_orderkey IN (SELECT l_orderkey FROM lineitem GROUP BY l_orderkey) \
           AND c_name IN (SELECT c_name FROM customer GROUP BY c_name HAVING count(*) = 1) \
         ORDER BY c_name, o_orderkey",
    ] {
        let ours = canon_rows(&session, sql).await;
        assert_eq!(ours, plain_rows(&ctx, sql).await, "{sql}");
    }
}

/// The q17 shape: orders well below their customer's average, for a few customers. The
/// average is computed only for the customers the filter keeps (the aggregate reads its
/// input semi-joined with their keys), and the answers stay.
#[tokio::test]
async fn a_grouped_aggregate_reads_only_the_keys_its_join_can_match() {
    let fx = shop();
    let runtime = fx.runtime(SHOP).await;
    let session = runtime.session();
    let ctx = plain(&fx).await;
    let sql = "SELECT c_name, count(*) AS n, sum(o_total) AS total \
               FROM orders, customer \
               WHERE c_custkey = o_custkey AND c_name IN ('bo', 'cy') \
                 AND o_total < (SELECT 0.5 * avg(o_total) FROM orders o2 \
                                WHERE o2.o_custkey = c_custkey) \
               GROUP BY c_name ORDER BY c_name";
    let ours = canon_rows(&session, sql).await;
    assert_eq!(ours, plain_rows(&ctx, sql).await);
    assert!(ours.contains("| cy     | 1 | 9.0   |"), "{ours}");

    let plan = logical_plan(&session, sql).await;
    let aggregate = plan
        .iter()
        .position(|l| l.contains("Aggregate: groupBy=[[o2.o_custkey]]"))
        .unwrap_or_else(|| panic!("no grouped aggregate:\n{}", plan.join("\n")));
    let reduced = plan
        .get(aggregate + 1)
        .map(String::as_str)
        .unwrap_or_default();
    assert!(
        reduced.contains("LeftSemi Join") && reduced.contains("__canon_group_keys"),
        "the aggregate reads all its input:\n{}",
        plan.join("\n")
    );
}

/// Shapes around the group-key reduction answer as plain DataFusion does: an aggregate on
/// the join's left, a NULL group key, a key source behind two joins, a left join, an anti
/// join, a scan semi-joined on its key column with a filtered one as the key source (q20),
/// and no reduction for a semi join on another column (the customers kept need not keep
/// fewer order keys: not declared unique, they may all recur), a semi join with an
/// unfiltered scan, a volatile filter, or an unfiltered other side.
#[tokio::test]
async fn group_key_reduction_keeps_every_answer() {
    let fx = shop();
    let runtime = fx.runtime(SHOP).await;
    let session = runtime.session();
    let ctx = plain(&fx).await;
    for (sql, reduced) in [
        (
            "SELECT s.o_orderkey, s.total, l_quantity \
             FROM (SELECT o_orderkey, sum(o_total) AS total FROM orders GROUP BY o_orderkey) s \
             JOIN lineitem ON s.o_orderkey = l_orderkey WHERE l_quantity > 10 \
             ORDER BY s.o_orderkey, l_quantity",
            true,
        ),
        (
            "SELECT c_name, s.quantity FROM customer \
             JOIN orders ON c_custkey = o_custkey \
             JOIN (SELECT l_orderkey, sum(l_quantity) AS quantity FROM lineitem \
                   GROUP BY l_orderkey) s ON s.l_orderkey = o_orderkey \
             WHERE o_total > 8 ORDER BY c_name, s.quantity",
            true,
        ),
        (
            "SELECT c_name, s.n FROM customer \
             LEFT JOIN (SELECT o_custkey, count(*) AS n FROM orders GROUP BY o_custkey) s \
             ON s.o_custkey = c_custkey WHERE c_name <> 'ann' ORDER BY c_name",
            true,
        ),
        (
            "SELECT c_name FROM customer WHERE c_name <> 'ann' AND NOT EXISTS \
             (SELECT 1 FROM (SELECT o_custkey, sum(o_total) AS t FROM orders \
                             GROUP BY o_custkey) s \
              WHERE s.o_custkey = c_custkey AND s.t > 60) ORDER BY c_name",
            true,
        ),
        (
            "SELECT o_orderkey FROM orders \
             WHERE o_orderkey IN (SELECT l_orderkey FROM lineitem WHERE l_quantity > 10) \
               AND o_total > (SELECT 0.5 * sum(l_quantity) FROM lineitem \
                              WHERE l_orderkey = o_orderkey) \
             ORDER BY o_orderkey",
            true,
        ),
        (
            "SELECT o_orderkey FROM orders \
             WHERE o_custkey IN (SELECT c_custkey FROM customer WHERE c_name <> 'ann') \
               AND o_total > (SELECT 0.5 * sum(l_quantity) FROM lineitem \
                              WHERE l_orderkey = o_orderkey) \
             ORDER BY o_orderkey",
            false,
        ),
        (
            "SELECT o_orderkey FROM orders \
             WHERE o_custkey IN (SELECT c_custkey FROM customer) \
               AND o_total > (SELECT 0.5 * sum(l_quantity) FROM lineitem \
                              WHERE l_orderkey = o_orderkey) \
             ORDER BY o_orderkey",
            false,
        ),
        (
            "SELECT s.o_orderkey, s.total \
             FROM (SELECT l_orderkey FROM lineitem WHERE l_quantity > random() * 0.0 + 10) l \
             JOIN (SELECT o_orderkey, sum(o_total) AS total FROM orders GROUP BY o_orderkey) s \
             ON s.o_orderkey = l.l_orderkey ORDER BY s.o_orderkey",
            false,
        ),
        (
            "SELECT s.o_orderkey, s.total FROM lineitem \
             JOIN (SELECT o_orderkey, sum(o_total) AS total FROM orders GROUP BY o_orderkey) s \
             ON s.o_orderkey = l_orderkey ORDER BY s.o_orderkey",
            false,
        ),
    ] {
        let ours = canon_rows(&session, sql).await;
        assert_eq!(ours, plain_rows(&ctx, sql).await, "{sql}");
        let plan = logical_plan(&session, sql).await.join("\n");
        let key_sets = plan.matches("SubqueryAlias: __canon_group_keys").count();
        assert_eq!(key_sets, usize::from(reduced), "{sql}\n{plan}");
    }
}

const SORTED: &str = r#"
[project]
name = "sorted"

[profile]
target_partitions = 2

[[dataset]]
name = "lines"
format = "parquet"
location = "lines"
ordered_by = ["k ASC"]
columns = [
  { name = "k", type = "Int64", nullable = false },
  { name = "v", type = "Int64", nullable = false },
]
"#;

/// The physical plan's text.
pub(crate) async fn physical_plan(session: &canon::Session, sql: &str) -> String {
    let explained = rows(session, &format!("EXPLAIN {sql}")).await;
    explained
        .iter()
        .find(|row| row[0] == "physical_plan")
        .map(|row| row[1].clone())
        .unwrap_or_else(|| panic!("no physical plan: {explained:?}"))
}

/// Two parquet files of `lines`, each sorted by `k` and holding `per_file` keys twice
/// (`v = k % 7`), and a plain session with the same files.
async fn sorted_lines(per_file: i64) -> (Fixture, SessionContext) {
    let fx = Fixture::new();
    for (file, first) in [("a", 0), ("b", per_file)] {
        let k: Vec<i64> = (first..first + per_file).flat_map(|k| [k, k]).collect();
        let v: Vec<i64> = k.iter().map(|k| k % 7).collect();
        fx.write_parquet(
            &format!("lines/{file}.parquet"),
            &batch(vec![
                ("k", arr(Int64Array::from(k))),
                ("v", arr(Int64Array::from(v))),
            ]),
        );
    }
    let ctx = SessionContext::new();
    let path = fx.root().join("lines");
    ctx.register_parquet(
        "lines",
        &path.to_string_lossy(),
        ParquetReadOptions::default(),
    )
    .await
    .expect("register");
    (fx, ctx)
}

/// Over a small sorted dataset, an aggregate hashes instead of merging sorted partitions;
/// where the result's order rests on the files' order the plan keeps it. Both answer as
/// plain DataFusion does.
#[tokio::test]
async fn small_sorted_inputs_are_hashed_unless_the_order_is_needed() {
    let (fx, ctx) = sorted_lines(500).await;
    let runtime = fx.runtime(SORTED).await;
    let session = runtime.session();

    let grouped = "SELECT k, sum(v) AS s FROM lines GROUP BY k HAVING sum(v) > 10";
    let plan = physical_plan(&session, grouped).await;
    // Hashed, or finished within the partitions where the files' keys lie apart (see
    // `ranged_groups`).
    assert!(
        plan.contains("RepartitionExec") || plan.contains("CanonRangedFinal"),
        "{plan}"
    );
    assert!(!plan.contains("preserve_order=true"), "{plan}");
    let sorted = format!("SELECT * FROM ({grouped}) ORDER BY k");
    let ours = canon_rows(&session, &sorted).await;
    assert_eq!(ours, plain_rows(&ctx, &sorted).await);

    // A window over the key streams on the files' order: the plan keeps what it needs,
    // and the answers stay.
    let window = "SELECT k, v, sum(v) OVER (PARTITION BY k ORDER BY v) AS running \
                  FROM lines ORDER BY k, v LIMIT 20";
    let ours = canon_rows(&session, window).await;
    assert_eq!(ours, plain_rows(&ctx, window).await);
}

/// An order-preserving repartition over an input of unknown size (no file statistics)
/// hashes when memory is unbounded, and keeps the order under a memory limit, so that the
/// aggregate above streams within it. Both answer as plain DataFusion does.
#[tokio::test]
async fn the_memory_limit_decides_for_inputs_of_unknown_size() {
    let (fx, ctx) = sorted_lines(1000).await;
    let unknown = SORTED.replace(
        "target_partitions = 2",
        "target_partitions = 2\n\
         settings = { \"datafusion.execution.collect_statistics\" = \"false\" }",
    );
    let limited = unknown.replace(
        "target_partitions = 2",
        "target_partitions = 2\nmemory_limit = \"64MiB\"",
    );
    let grouped = "SELECT k, sum(v) AS s FROM lines GROUP BY k HAVING sum(v) > 10";
    let sorted = format!("SELECT * FROM ({grouped}) ORDER BY k");
    let expected = plain_rows(&ctx, &sorted).await;
    for (project, keeps_order) in [(unknown.as_str(), false), (limited.as_str(), true)] {
        let runtime = fx.runtime(project).await;
        let session = runtime.session();
        let plan = physical_plan(&session, grouped).await;
        assert!(
            plan.contains("RepartitionExec: partitioning=Hash"),
            "{plan}"
        );
        assert_eq!(plan.contains("preserve_order=true"), keeps_order, "{plan}");
        assert_eq!(canon_rows(&session, &sorted).await, expected);
    }
}
