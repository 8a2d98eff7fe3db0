//! TPC-H plans: each query's physical plan in Canon and the plain session, and its time
//! split into planning and execution.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::Runtime;
use canon::datafusion::arrow::array::RecordBatch;
use canon::datafusion::physical_plan as execution_plan;
use canon::datafusion::prelude::SessionContext;

use crate::BenchResult;
use crate::report::{Table, median, ms, ratio};
use crate::tpch::{plain_session, select, write_project};

/// Canon's runtime over the generated project and the plain session, over `data`.
async fn engines(data: &Path, declare_order: bool) -> BenchResult<(Runtime, SessionContext)> {
    let project = write_project(data, declare_order)?;
    let runtime = Runtime::load(&project).await?;
    Ok((runtime, plain_session(data).await?))
}

/// Prints each query's physical plan in Canon and in the plain session, one after the other.
pub async fn explain(
    data: &Path,
    declare_order: bool,
    analyze: bool,
    only: &[String],
) -> BenchResult<()> {
    let (runtime, plain) = engines(data, declare_order).await?;
    let session = runtime.session();
    let explain = if analyze {
        "EXPLAIN ANALYZE"
    } else {
        "EXPLAIN"
    };
    for query in select(only)? {
        print_plans(&session, &plain, explain, query.name, query.sql).await?;
    }
    Ok(())
}

/// Prints `sql`'s plan under `explain` (`EXPLAIN` or `EXPLAIN ANALYZE`) in Canon's
/// `session` and in the `plain` session, one after the other, headed by `name`.
pub(crate) async fn print_plans(
    session: &canon::Session,
    plain: &SessionContext,
    explain: &str,
    name: &str,
    sql: &str,
) -> BenchResult<()> {
    let sql = format!("{explain} {}", strip_comments(sql));
    let canon_plan = session.sql(&sql).await?.collect().await?;
    let plain_plan = plain.sql(&sql).await?.collect().await?;
    println!("== {name} canon\n{}", plan_text(&canon_plan)?);
    println!("== {name} datafusion\n{}", plan_text(&plain_plan)?);
    Ok(())
}

/// Each query's time split into planning (SQL text to physical plan) and execution (that
/// plan to collected batches), in Canon and the plain session: Canon's own work is in
/// planning (policy, lineage, fingerprint); execution is DataFusion's in both. Canon plans
/// a repeated text from its kept plan; `plan canon new` is the planning a text gets the
/// first time (a parsed statement, which the session does not keep).
pub async fn phases(
    data: &Path,
    declare_order: bool,
    runs: usize,
    only: &[String],
) -> BenchResult<()> {
    let (runtime, plain) = engines(data, declare_order).await?;
    let statements: Vec<_> = select(only)?.iter().map(|q| (q.name, q.sql)).collect();
    print_phases("TPC-H", &runtime.session(), &plain, &statements, runs).await
}

/// Times each `(name, sql)` of `statements` in its two phases, in Canon's `session` and the
/// `plain` one, and prints the table headed by `workload`.
pub(crate) async fn print_phases(
    workload: &str,
    session: &canon::Session,
    plain: &SessionContext,
    statements: &[(&str, &str)],
    runs: usize,
) -> BenchResult<()> {
    println!("{workload} phases: median of {runs} runs (ms); ratio = datafusion / canon");
    let mut table = Table::new(&[
        "query",
        "plan canon",
        "plan canon new",
        "plan df",
        "ratio",
        "fingerprint+lineage",
        "exec canon",
        "exec df",
        "ratio",
    ]);
    let mut totals = [Duration::ZERO; 6];
    for &(name, sql) in statements {
        let mut times: [Vec<Duration>; 6] = Default::default();
        let parsed = || session.parse(sql).map(|mut s| s.remove(0));
        // The part of Canon's planning hook that is not DataFusion's: measured on its own,
        // through Canon's public functions, over the plan the hook is given.
        let optimized = session.statement(parsed()?).await?.into_optimized_plan()?;
        for run in 0..runs.max(1) {
            let start = Instant::now();
            std::hint::black_box(canon::sql::fingerprint(&optimized));
            std::hint::black_box(canon::sql::lineage::of(&optimized, "datafusion", "public"));
            times[HOOK].push(start.elapsed());
            let statement = parsed()?;
            let start = Instant::now();
            std::hint::black_box(
                session
                    .statement(statement)
                    .await?
                    .create_physical_plan()
                    .await?,
            );
            times[NEW].push(start.elapsed());
            // Which engine goes first alternates, as in `run`.
            let mut order = [(KEPT, None), (PLAIN, Some(&plain))];
            if run % 2 == 1 {
                order.reverse();
            }
            for (engine, ctx) in order {
                let start = Instant::now();
                let df = match ctx {
                    None => session.sql(sql).await?,
                    Some(ctx) => ctx.sql(sql).await?,
                };
                let task = df.task_ctx();
                let plan = df.create_physical_plan().await?;
                times[engine].push(start.elapsed());
                let start = Instant::now();
                execution_plan::collect(plan, Arc::new(task))
                    .await
                    .map_err(|e| format!("{name}: {e}"))?;
                times[engine + EXEC].push(start.elapsed());
            }
        }
        let m: [Duration; 6] = std::array::from_fn(|i| median(&times[i]));
        for (total, m) in totals.iter_mut().zip(&m) {
            *total += *m;
        }
        table.row(phase_row(name, &m));
    }
    table.row(phase_row("total", &totals));
    print!("{}", table.render());
    Ok(())
}

/// Where `phases` keeps each measure: planning in Canon (from the kept plan) and in the
/// plain session, their executions `EXEC` further on, the hook's share, and Canon's planning
/// of a text it has not kept.
const KEPT: usize = 0;
const PLAIN: usize = 1;
const EXEC: usize = 2;
const HOOK: usize = 4;
const NEW: usize = 5;

/// One row of the phases table from the medians `m` (indexed as above); the ratios are the
/// plain session's time over Canon's.
fn phase_row(name: &str, m: &[Duration; 6]) -> Vec<String> {
    let [kept, plain, exec, exec_plain, hook, new] = *m;
    vec![
        name.into(),
        ms(kept),
        ms(new),
        ms(plain),
        ratio(plain, kept),
        ms(hook),
        ms(exec),
        ms(exec_plain),
        ratio(exec_plain, exec),
    ]
}

fn strip_comments(sql: &str) -> String {
    sql.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn plan_text(batches: &[RecordBatch]) -> BenchResult<String> {
    Ok(canon::datafusion::arrow::util::pretty::pretty_format_batches(batches)?.to_string())
}
