//! TPC-H over several processes, one after the other, each timing both engines.
//!
//! Within one process the two engines keep the same memory layout from round to round (where
//! their sessions, plans and buffers land), and that layout favours one or the other by a few
//! percent: queries whose plans are the same operator for operator read anywhere from 0.96×
//! to 1.05× in a single process, and which query trails changes from process to process.
//! Each process draws a new layout (address-space randomisation, a new allocator state), so
//! the median over processes of each process's paired ratio measures the engines rather than
//! one layout. Processes take turns at which session is built first and which engine opens
//! each round.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::BenchResult;
use crate::report::paired;
use crate::tpch::{self, Options, Timings};

/// Runs `processes` child processes of this binary over the same project, each for
/// `options.runs` rounds, and prints the table of their gathered timings.
pub fn run(options: &Options, processes: usize) -> BenchResult<()> {
    let project = tpch::project(options)?;
    let scratch = std::env::temp_dir().join(format!("canon-bench-tpch-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("creating {}: {e}", scratch.display()))?;
    let gathered = gather(options, &project, processes, &scratch);
    // The scratch files are this run's alone; a failure to remove them changes no figure.
    let _ = std::fs::remove_dir_all(&scratch);
    let duckdb = tpch::load_duckdb_option(options)?;
    tpch::report(
        &tpch::title(options),
        options.runs,
        &gathered?,
        processes,
        duckdb.as_ref(),
    )
}

/// Runs the children one after the other and merges what each wrote.
fn gather(
    options: &Options,
    project: &Path,
    processes: usize,
    scratch: &Path,
) -> BenchResult<Vec<Timings>> {
    let exe = std::env::current_exe().map_err(|e| format!("finding canon-bench itself: {e}"))?;
    let mut merged: Vec<Timings> = Vec::new();
    for process in 0..processes {
        eprintln!("canon-bench tpch: process {} of {processes}", process + 1);
        let out = scratch.join(format!("process-{process}.json"));
        let mut child = Command::new(&exe);
        child
            .arg("tpch")
            .arg("--data")
            .arg(&options.data)
            .arg("--project")
            .arg(project)
            .arg("--runs")
            .arg(options.runs.to_string())
            .arg("--emit")
            .arg(&out);
        if let Some(duckdb) = &options.duckdb {
            child.arg("--duckdb").arg(duckdb);
        }
        for query in &options.only {
            child.arg("--query").arg(query);
        }
        if process % 2 == 1 {
            child.arg("--plain-first");
        }
        let status = child
            .status()
            .map_err(|e| format!("starting {}: {e}", exe.display()))?;
        if !status.success() {
            return Err(format!("process {} of {processes} failed: {status}", process + 1).into());
        }
        let text =
            std::fs::read_to_string(&out).map_err(|e| format!("reading {}: {e}", out.display()))?;
        let timings = from_json(&text).map_err(|e| format!("{}: {e}", out.display()))?;
        merge(&mut merged, timings)?;
    }
    Ok(merged)
}

/// The child's side: measures in this process and writes the timings to `out` as JSON.
pub async fn emit(options: &Options, out: &Path, plain_first: bool) -> BenchResult<()> {
    let project = tpch::project(options)?;
    let duckdb = tpch::load_duckdb_option(options)?;
    let timings = tpch::measure(options, &project, plain_first, duckdb.as_ref(), None).await?;
    std::fs::write(out, to_json(&timings).to_string())
        .map_err(|e| format!("writing {}: {e}", out.display()))?;
    Ok(())
}

/// Adds one process's timings to those gathered so far, query by query.
fn merge(merged: &mut Vec<Timings>, timings: Vec<Timings>) -> BenchResult<()> {
    if merged.is_empty() {
        *merged = timings;
        return Ok(());
    }
    if merged.len() != timings.len() {
        return Err("the processes timed different sets of queries".into());
    }
    for (all, one) in merged.iter_mut().zip(timings) {
        if all.name != one.name {
            return Err(format!("expected {}, a process timed {}", all.name, one.name).into());
        }
        all.canon.extend(one.canon);
        all.plain.extend(one.plain);
        all.paired.extend(one.paired);
        all.canon_peak = all.canon_peak.max(one.canon_peak);
        all.plain_peak = all.plain_peak.max(one.plain_peak);
    }
    Ok(())
}

fn to_json(timings: &[Timings]) -> serde_json::Value {
    let millis =
        |times: &[Duration]| -> Vec<f64> { times.iter().map(|t| t.as_secs_f64() * 1e3).collect() };
    let queries: Vec<serde_json::Value> = timings
        .iter()
        .map(|t| {
            serde_json::json!({
                "query": t.name,
                "canon_ms": millis(&t.canon),
                "plain_ms": millis(&t.plain),
                "canon_peak": t.canon_peak,
                "plain_peak": t.plain_peak,
            })
        })
        .collect();
    serde_json::json!({ "queries": queries })
}

fn from_json(text: &str) -> BenchResult<Vec<Timings>> {
    let json: serde_json::Value = serde_json::from_str(text)?;
    let queries = json["queries"].as_array().ok_or("no \"queries\" array")?;
    queries
        .iter()
        .map(|q| {
            let name = q["query"].as_str().ok_or("a query without a name")?;
            let name = tpch::select(&[name.to_string()])?
                .first()
                .map(|query| query.name.to_string())
                .ok_or_else(|| format!("unknown query {name}"))?;
            let durations = |key: &str| -> BenchResult<Vec<Duration>> {
                q[key]
                    .as_array()
                    .ok_or_else(|| format!("{name}: no {key}"))?
                    .iter()
                    .map(|ms| {
                        ms.as_f64()
                            .filter(|ms| ms.is_finite() && *ms >= 0.0)
                            .map(|ms| Duration::from_secs_f64(ms / 1e3))
                            .ok_or_else(|| format!("{name}: a time in {key} is not one").into())
                    })
                    .collect()
            };
            let (canon, plain) = (durations("canon_ms")?, durations("plain_ms")?);
            Ok(Timings {
                name,
                paired: paired(&plain, &canon).into_iter().collect(),
                canon,
                plain,
                canon_peak: q["canon_peak"].as_u64(),
                plain_peak: q["plain_peak"].as_u64(),
                duckdb: Vec::new(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_are_gathered_query_by_query_with_one_paired_ratio_each() {
        let ms = Duration::from_millis;
        let one = |canon: u64, plain: u64, peak: u64| Timings {
            name: "q1".into(),
            canon: vec![ms(canon); 3],
            plain: vec![ms(plain); 3],
            paired: Vec::new(),
            canon_peak: Some(peak),
            plain_peak: None,
            duckdb: Vec::new(),
        };
        let mut merged = Vec::new();
        for (canon, plain, peak) in [(100, 110, 5), (100, 90, 7)] {
            let text = to_json(&[one(canon, plain, peak)]).to_string();
            merge(&mut merged, from_json(&text).unwrap()).unwrap();
        }
        let q1 = &merged[0];
        assert_eq!(q1.canon.len(), 6);
        assert_eq!(q1.paired.len(), 2);
        assert!((q1.paired[0] - 1.1).abs() < 1e-9 && (q1.paired[1] - 0.9).abs() < 1e-9);
        assert_eq!(q1.canon_peak, Some(7));

        let other = Timings {
            name: "q2".into(),
            ..one(1, 1, 1)
        };
        let text = to_json(&[other]).to_string();
        assert!(merge(&mut merged, from_json(&text).unwrap()).is_err());
        assert!(from_json(r#"{"queries":[{"query":"q99"}]}"#).is_err());
    }
}
