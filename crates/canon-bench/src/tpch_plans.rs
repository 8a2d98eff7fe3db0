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
        let sql = format!("{explain} {}", strip_comments(query.sql));
        let canon_plan = session.sql(&sql).await?.collect().await?;
        let plain_plan = plain.sql(&sql).await?.collect().await?;
        println!("== {} canon\n{}", query.name, plan_text(&canon_plan)?);
        println!("== {} datafusion\n{}", query.name, plan_text(&plain_plan)?);
    }
    Ok(())
}

/// Each query's time split into planning (SQL text to physical plan) and execution (that
/// plan to collected batches), in Canon and the plain session: Canon's own work is in
/// planning (policy, lineage, fingerprint); execution is DataFusion's in both.
pub async fn phases(
    data: &Path,
    declare_order: bool,
    runs: usize,
    only: &[String],
) -> BenchResult<()> {
    let (runtime, plain) = engines(data, declare_order).await?;
    let session = runtime.session();
    println!("TPC-H phases: median of {runs} runs (ms); ratio = datafusion / canon");
    let mut table = Table::new(&[
        "query",
        "plan canon",
        "plan df",
        "ratio",
        "fingerprint+lineage",
        "exec canon",
        "exec df",
        "ratio",
    ]);
    let mut totals = [Duration::ZERO; 5];
    for query in select(only)? {
        let mut times: [Vec<Duration>; 5] = Default::default();
        // The part of Canon's planning hook that is not DataFusion's: measured on its own,
        // through Canon's public functions, over the plan the hook is given.
        let optimized = session.sql(query.sql).await?.into_optimized_plan()?;
        for run in 0..runs.max(1) {
            let start = Instant::now();
            std::hint::black_box(canon::sql::fingerprint(&optimized));
            std::hint::black_box(canon::sql::lineage::of(&optimized, "datafusion", "public"));
            times[4].push(start.elapsed());
            // Which engine goes first alternates, as in `run`.
            let mut order = [(0, None), (1, Some(&plain))];
            if run % 2 == 1 {
                order.reverse();
            }
            for (engine, ctx) in order {
                let start = Instant::now();
                let (plan, task) = match ctx {
                    None => {
                        let df = session.sql(query.sql).await?;
                        let task = df.task_ctx();
                        (df.create_physical_plan().await?, task)
                    }
                    Some(ctx) => {
                        let df = ctx.sql(query.sql).await?;
                        let task = df.task_ctx();
                        (df.create_physical_plan().await?, task)
                    }
                };
                times[engine].push(start.elapsed());
                let start = Instant::now();
                execution_plan::collect(plan, Arc::new(task))
                    .await
                    .map_err(|e| format!("{}: {e}", query.name))?;
                times[engine + 2].push(start.elapsed());
            }
        }
        // In the table's order: plans, the hook's share, executions.
        let m: Vec<Duration> = [0, 1, 4, 2, 3].iter().map(|&i| median(&times[i])).collect();
        for (total, m) in totals.iter_mut().zip(&m) {
            *total += *m;
        }
        table.row(vec![
            query.name.into(),
            ms(m[0]),
            ms(m[1]),
            ratio(m[1], m[0]),
            ms(m[2]),
            ms(m[3]),
            ms(m[4]),
            ratio(m[4], m[3]),
        ]);
    }
    let t = totals;
    table.row(vec![
        "total".into(),
        ms(t[0]),
        ms(t[1]),
        ratio(t[1], t[0]),
        ms(t[2]),
        ms(t[3]),
        ms(t[4]),
        ratio(t[4], t[3]),
    ]);
    print!("{}", table.render());
    Ok(())
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
