//! Distributed plans: `canon worker` processes on loopback running the stages of queries
//! that a `canon query` coordinator plans, compared with the same queries on one node.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use canon::datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array};

use crate::moto::free_port;
use crate::{ok, quickstart_copy, stderr, stdout, write_parquet};

/// Small files still make several tasks per stage, so every query here is distributed.
const DISTRIBUTED: &str = r#"
[distributed]
bytes_per_partition = "1KiB"
connect_timeout = "2s"
keepalive_timeout = "4s"
"#;

/// A Delta dataset and a parquet dataset read under a rename rule, beside the quickstart's.
const MORE_DATASETS: &str = r#"
[[dataset]]
name = "sales"
format = "delta"
location = "tables/sales"
partitioned_by = ["region"]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "zone_id", type = "Int32" },
  { name = "amount", type = "Float64" },
  { name = "region", type = "Utf8", nullable = true },
]

[[dataset]]
name = "fares"
format = "parquet"
location = "fares/"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "fare", type = "Float64" },
]

[dataset.evolution]
renames = { fare_amt = "fare" }
"#;

/// `canon worker` processes, killed when dropped.
struct Workers {
    children: Vec<Child>,
    urls: Vec<String>,
}

impl Workers {
    /// `n` workers on loopback without authentication.
    fn start(dir: &Path, n: usize) -> Self {
        Self::start_with(dir, n, None)
    }

    /// `n` workers on loopback that require the secret `token` when one is given.
    fn start_with(dir: &Path, n: usize, token: Option<&str>) -> Self {
        let mut workers = Self {
            children: Vec::new(),
            urls: Vec::new(),
        };
        for _ in 0..n {
            let mut command = Command::new(env!("CARGO_BIN_EXE_canon"));
            command.args(["worker", "--listen", "127.0.0.1:0"]);
            match token {
                Some(token) => command.env("CANON_WORKER_TOKEN", token),
                None => command.arg("--no-auth").env_remove("CANON_WORKER_TOKEN"),
            };
            let mut child = command
                .current_dir(dir)
                .env_remove("CANON_PROJECT")
                .env_remove("CANON_WORKERS")
                .env("HOME", dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn canon worker");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("stdout"))
                .read_line(&mut line)
                .expect("read the address line");
            let url = line
                .trim()
                .strip_prefix("canon worker: listening on ")
                .unwrap_or_else(|| panic!("no address line: {line:?}"))
                .to_string();
            workers.children.push(child);
            workers.urls.push(url);
        }
        workers
    }

    /// The `CANON_WORKERS` value naming every worker.
    fn list(&self) -> String {
        self.urls.join(",")
    }

    /// Sends `signal` (STOP, CONT) to worker `i`.
    fn signal(&self, i: usize, signal: &str) {
        let pid = self.children[i].id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -{signal} {pid}");
    }

    /// Kills worker `i` and waits until it is gone.
    fn kill(&mut self, i: usize) {
        let child = &mut self.children[i];
        child.kill().expect("kill worker");
        child.wait().expect("wait for worker");
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `canon` in `dir` with `CANON_WORKERS` set to `workers` (unset when `None`),
/// failing the test if it does not finish within two minutes: it must never hang.
fn canon_on(dir: &Path, workers: Option<&str>, args: &[&str]) -> Output {
    canon_as(dir, workers, None, args)
}

/// [`canon_on`], presenting `token` as the workers' shared secret.
fn canon_as(dir: &Path, workers: Option<&str>, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_canon"));
    match token {
        Some(token) => command.env("CANON_WORKER_TOKEN", token),
        None => command.env_remove("CANON_WORKER_TOKEN"),
    };
    command
        .args(args)
        .current_dir(dir)
        .env_remove("CANON_PROJECT")
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match workers {
        Some(list) => command.env("CANON_WORKERS", list),
        None => command.env_remove("CANON_WORKERS"),
    };
    let mut child = command.spawn().expect("spawn canon");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("canon {args:?} with workers {workers:?} did not finish in two minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// The quickstart with the Delta and evolved datasets, their data written, and the
/// distributed settings (but no workers: the tests name them through `CANON_WORKERS`).
fn project() -> tempfile::TempDir {
    let dir = quickstart_copy();
    let root = dir.path();
    let file = root.join("canon.toml");
    let toml = std::fs::read_to_string(&file).expect("read project") + MORE_DATASETS + DISTRIBUTED;
    // Creating and writing the Delta table needs DDL and DML; queries then run under the
    // quickstart's own policy again.
    let setup = toml
        .replace("allow_ddl = false", "allow_ddl = true")
        .replace("allow_dml = false", "allow_dml = true");
    std::fs::write(&file, setup).expect("write project");

    // An old file with the fare under its former name, and a current one.
    let ids: Vec<i64> = (0..400).collect();
    let fares: Vec<f64> = ids.iter().map(|i| *i as f64 / 4.0).collect();
    write_parquet(
        &root.join("fares/old.parquet"),
        vec![
            (
                "id",
                Arc::new(Int64Array::from(ids[..200].to_vec())) as ArrayRef,
            ),
            (
                "fare_amt",
                Arc::new(Float64Array::from(fares[..200].to_vec())),
            ),
        ],
    );
    write_parquet(
        &root.join("fares/new.parquet"),
        vec![
            (
                "id",
                Arc::new(Int64Array::from(ids[200..].to_vec())) as ArrayRef,
            ),
            ("fare", Arc::new(Float64Array::from(fares[200..].to_vec()))),
        ],
    );
    ok(canon_on(root, None, &["delta", "create", "sales"]));
    let mut csv = String::from("id,zone_id,amount,region\n");
    // A NULL partition value and one with a space (escaped in the file's path) too.
    for i in 0..600 {
        let region = ["eu", "us", "apac", "", "north america"][i % 5];
        csv.push_str(&format!("{i},{},{}.25,{region}\n", i % 7 + 1, i % 50));
    }
    std::fs::write(root.join("sales.csv"), csv).expect("csv");
    ok(canon_on(
        root,
        None,
        &["delta", "write", "sales", "--from", "sales.csv"],
    ));

    std::fs::write(&file, toml).expect("write project");
    dir
}

/// Queries covering joins, aggregates, Delta, evolution rules and Canon's functions.
const QUERIES: &[&str] = &[
    "SELECT z.borough, t.year, count(*) AS trips, round(avg(t.fare), 2) AS avg_fare \
     FROM trips t JOIN zones z USING (zone_id) GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT payment, count(DISTINCT zone_id) AS zones, round(sum(fare), 2) AS total \
     FROM trips WHERE fare > 10 GROUP BY payment ORDER BY payment",
    "SELECT id FROM trips WHERE zone_id IN (SELECT zone_id FROM zones WHERE borough = 'Queens') \
     ORDER BY id LIMIT 20",
    "SELECT s.region, z.borough, count(*) AS n, round(sum(s.amount), 2) AS amount \
     FROM sales s JOIN zones z USING (zone_id) GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT region, count(*) AS n, max(id) AS last FROM sales WHERE amount > 20 \
     GROUP BY region ORDER BY region",
    "SELECT count(*) AS n, round(sum(fare), 2) AS total, count(fare) AS with_fare FROM fares",
    "SELECT stable_hash64(payment) AS h, count(*) AS n FROM trips GROUP BY 1 ORDER BY 1",
];

#[test]
fn distributed_queries_answer_as_one_node_does() {
    let dir = project();
    let root = dir.path();
    let workers = Workers::start(root, 3);
    let list = workers.list();
    for query in QUERIES {
        let args = ["query", query, "--format", "json"];
        let local = ok(canon_on(root, None, &args));
        let distributed = ok(canon_on(root, Some(&list), &args));
        assert_eq!(distributed, local, "{query}");
        assert!(local.len() > 20, "{query} returned nothing: {local}");
    }
    // The evolved dataset read its old file's renamed column on the workers too.
    let fares = ok(canon_on(
        root,
        Some(&list),
        &["query", QUERIES[5], "--format", "csv"],
    ));
    assert!(fares.contains("400,19950"), "{fares}");
}

#[test]
fn explain_shows_the_stages_and_the_workers_that_ran_them() {
    let dir = project();
    let root = dir.path();
    let workers = Workers::start(root, 2);
    let list = workers.list();
    let query = QUERIES[3];

    let planned = ok(canon_on(root, Some(&list), &["explain", query]));
    assert!(planned.contains("DistributedExec"), "{planned}");
    assert!(planned.contains("Stage 1"), "{planned}");
    // The Delta table is read as plain parquet scans the workers can split.
    assert!(!planned.contains("DeltaScan"), "{planned}");
    assert!(planned.contains("file_type=parquet"), "{planned}");
    assert!(
        planned.contains("assigned when the query runs"),
        "{planned}"
    );

    let analyzed = ok(canon_on(
        root,
        Some(&list),
        &["explain", "--analyze", query],
    ));
    for url in &workers.urls {
        assert!(analyzed.contains(&format!("→ {url}")), "{url}: {analyzed}");
    }
    assert!(analyzed.contains("output_rows="), "{analyzed}");
}

#[test]
fn the_policy_still_decides_on_the_coordinator() {
    let dir = project();
    let root = dir.path();
    let workers = Workers::start(root, 2);
    let refused = canon_on(
        root,
        Some(&workers.list()),
        &["query", "CREATE TABLE copy AS SELECT * FROM trips"],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    let message = stderr(&refused);
    assert!(message.contains("policy"), "{message}");
    assert!(message.contains("allow_ddl"), "{message}");
}

#[test]
fn a_dead_worker_fails_the_query_naming_it() {
    let dir = project();
    let root = dir.path();
    let mut workers = Workers::start(root, 2);
    let dead = workers.urls[1].clone();
    workers.kill(1);
    let failed = canon_on(root, Some(&workers.list()), &["query", QUERIES[0]]);
    assert_eq!(failed.status.code(), Some(1), "{}", stdout(&failed));
    let message = stderr(&failed);
    assert!(message.contains(&format!("worker {dead}")), "{message}");
    // The survivor still serves queries that name only it.
    let alive = workers.urls[0].clone();
    let local = ok(canon_on(root, None, &["query", QUERIES[1]]));
    assert_eq!(
        ok(canon_on(root, Some(&alive), &["query", QUERIES[1]])),
        local
    );
}

#[test]
fn a_hung_worker_fails_the_query_within_the_bounds() {
    let dir = project();
    let root = dir.path();
    let workers = Workers::start(root, 2);
    // Stopped, the worker's socket still accepts connections, but nothing answers them.
    workers.signal(1, "STOP");
    let failed = canon_on(root, Some(&workers.list()), &["query", QUERIES[0]]);
    workers.signal(1, "CONT");
    assert_eq!(failed.status.code(), Some(1), "{}", stdout(&failed));
    let message = stderr(&failed);
    assert!(
        message.contains(&format!("worker {}/", workers.urls[1])),
        "{message}"
    );
}

#[test]
fn an_unreachable_worker_in_the_project_is_named() {
    let dir = project();
    let root = dir.path();
    // Two workers, or the planner keeps the whole plan in the process.
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let nobody_else = format!("http://127.0.0.1:{}", free_port());
    let file = root.join("canon.toml");
    let toml = std::fs::read_to_string(&file)
        .expect("read project")
        .replace(
            "[distributed]\n",
            &format!("[distributed]\nworkers = [\"{nobody}\", \"{nobody_else}\"]\n"),
        );
    std::fs::write(&file, toml).expect("write project");
    let failed = canon_on(root, None, &["query", QUERIES[0]]);
    assert_eq!(failed.status.code(), Some(1), "{}", stdout(&failed));
    let message = stderr(&failed);
    assert!(
        message.contains(&format!("worker {nobody}/ cannot be reached"))
            || message.contains(&format!("worker {nobody_else}/ cannot be reached")),
        "{message}"
    );
    // CANON_WORKERS overrides the list; empty turns distribution off.
    let local = ok(canon_on(root, Some(""), &["query", QUERIES[0]]));
    assert!(local.contains("Brooklyn"), "{local}");
    let bad = canon_on(root, Some("ftp://host"), &["query", "SELECT 1"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stdout(&bad));
    assert!(stderr(&bad).contains("CANON_WORKERS"), "{}", stderr(&bad));
}

#[test]
fn workers_take_tasks_only_from_coordinators_with_the_shared_secret() {
    let dir = project();
    let root = dir.path();
    let workers = Workers::start_with(root, 2, Some("s3cret-for-workers"));
    let list = workers.list();
    let query = QUERIES[0];
    let local = ok(canon_on(root, None, &["query", query]));
    let with = canon_as(
        root,
        Some(&list),
        Some("s3cret-for-workers"),
        &["query", query],
    );
    assert_eq!(ok(with), local);

    for wrong in [None, Some("guess")] {
        let refused = canon_as(root, Some(&list), wrong, &["query", query]);
        assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
        let message = stderr(&refused);
        assert!(message.contains("CANON_WORKER_TOKEN"), "{message}");
        assert!(message.contains("worker http://127.0.0.1:"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }

    // A worker needs the secret, or --no-auth on loopback only.
    let no_token = canon_on(root, None, &["worker", "--listen", "127.0.0.1:0"]);
    assert_eq!(no_token.status.code(), Some(2), "{}", stdout(&no_token));
    assert!(stderr(&no_token).contains("CANON_WORKER_TOKEN is not set"));
    let open = canon_on(
        root,
        None,
        &["worker", "--listen", "0.0.0.0:0", "--no-auth"],
    );
    assert_eq!(open.status.code(), Some(2), "{}", stdout(&open));
    assert!(stderr(&open).contains("only loopback"), "{}", stderr(&open));
}
