//! `canon serve` under load: queries per second and p50/p99 latency of a point query and an
//! aggregate with 1, 8 and 32 Flight SQL clients, each on its own connection, next to the
//! same queries on in-process sessions; and rows per second of a large result over Flight
//! SQL, over Postgres wire, over HTTP (Arrow and JSON lines) and in process.
//!
//! The server is the release `canon` binary, started here on loopback ports and stopped
//! with SIGTERM at the end; the clients are arrow-flight's Flight SQL client,
//! tokio-postgres (extended protocol, binary results, rows streamed as they arrive) and a
//! plain HTTP/1.1 client (`http_client`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::sql::client::FlightSqlServiceClient;
use canon::datafusion::prelude::SessionContext;
use canon::{Runtime, Session};
use futures::TryStreamExt;
use tonic::transport::{Channel, Endpoint};

use crate::report::{Table, ms};
use crate::{BenchResult, http_client};

/// The shared secret of the benchmark's server.
const TOKEN: &str = "canon-bench";

/// What the server benchmark needs.
pub struct Options {
    /// The release `canon` binary.
    pub canon: PathBuf,
    /// Scratch directory for the data and the project.
    pub work: PathBuf,
    /// Rows in the dataset (and in the large result).
    pub rows: u64,
    /// How long each load runs.
    pub seconds: u64,
}

/// One kind of query under load.
#[derive(Clone, Copy)]
enum Workload {
    Point,
    Aggregate,
}

impl Workload {
    fn label(self) -> &'static str {
        match self {
            Self::Point => "point query (by key)",
            Self::Aggregate => "aggregate (GROUP BY 1,000 keys)",
        }
    }

    /// The statement for the `n`th query: point queries spread over the keys.
    fn sql(self, n: u64, rows: u64) -> String {
        match self {
            Self::Point => {
                let id = n.wrapping_mul(7_919) % rows.max(1);
                format!("SELECT id, k, v, s FROM events WHERE id = {id}")
            }
            Self::Aggregate => {
                "SELECT k, count(*) AS n, avg(v) AS mean FROM events GROUP BY k".to_string()
            }
        }
    }
}

/// Latencies of one load.
struct Load {
    queries: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Load {
    fn qps(&self) -> String {
        format!("{:.0}", self.queries as f64 / self.elapsed.as_secs_f64())
    }

    fn percentile(&self, p: f64) -> String {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(index).map_or("-".into(), |d| ms(*d))
    }
}

/// Runs the benchmark and prints its tables.
pub async fn run(options: &Options) -> BenchResult<()> {
    let dir = options.work.join("serve");
    let project = prepare(&dir, options.rows).await?;
    let mut server = Server::start(&options.canon, &project)?;
    let result = measure(options, &project, &server).await;
    server.stop()?;
    result
}

async fn measure(options: &Options, project: &Path, server: &Server) -> BenchResult<()> {
    let uri = server.uri.as_str();
    let runtime = Arc::new(Runtime::load(project).await?);
    let seconds = Duration::from_secs(options.seconds);
    println!(
        "canon serve: {} rows of parquet, each load for {} s; Flight SQL clients each on their \
         own connection, against in-process sessions (one per task)",
        options.rows, options.seconds
    );
    let mut table = Table::new(&[
        "query",
        "clients",
        "Flight SQL q/s",
        "p50",
        "p99",
        "in-process q/s",
        "p50",
        "p99",
    ])
    .left_aligned(&[0]);
    for workload in [Workload::Point, Workload::Aggregate] {
        for clients in [1usize, 8, 32] {
            let remote = flight_clients(uri, clients, workload, options.rows).await?;
            let flight = load(remote, workload, seconds, options.rows).await?;
            let sessions = (0..clients)
                .map(|_| Client::Local(runtime.session()))
                .collect();
            let local = load(sessions, workload, seconds, options.rows).await?;
            table.row(vec![
                workload.label().to_string(),
                clients.to_string(),
                flight.qps(),
                flight.percentile(0.5),
                flight.percentile(0.99),
                local.qps(),
                local.percentile(0.5),
                local.percentile(0.99),
            ]);
        }
    }
    print!("{}", table.render());

    println!();
    let mut table = Table::new(&["large result", "rows", "time", "rows/s"]).left_aligned(&[0]);
    let sql = "SELECT id, k, v, s FROM events";
    let mut client = connect(uri).await?;
    let started = Instant::now();
    let rows = flight_rows(&mut client, sql).await?;
    let elapsed = started.elapsed();
    table.row(vec![
        "Flight SQL".into(),
        rows.to_string(),
        ms(elapsed),
        per_second(rows, elapsed),
    ]);
    for (label, read) in [
        ("Postgres wire", PgRead::Rows),
        ("Postgres wire, COPY binary", PgRead::CopyBinary),
    ] {
        let (rows, elapsed) = postgres_rows(&server.postgres, sql, read).await?;
        table.row(vec![
            label.into(),
            rows.to_string(),
            ms(elapsed),
            per_second(rows, elapsed),
        ]);
    }
    for (label, body) in [
        ("HTTP, Arrow IPC stream", http_client::Body::Arrow),
        ("HTTP, JSON lines (parsed)", http_client::Body::JsonLines),
    ] {
        let addr = server.http.clone();
        let started = Instant::now();
        let rows = tokio::task::spawn_blocking(move || {
            http_client::rows(&addr, TOKEN, sql, body).map_err(|e| e.to_string())
        })
        .await??;
        let elapsed = started.elapsed();
        table.row(vec![
            label.into(),
            rows.to_string(),
            ms(elapsed),
            per_second(rows, elapsed),
        ]);
    }
    let session = runtime.session();
    let started = Instant::now();
    let rows = local_rows(&session, sql).await?;
    let elapsed = started.elapsed();
    table.row(vec![
        "in-process stream".into(),
        rows.to_string(),
        ms(elapsed),
        per_second(rows, elapsed),
    ]);
    print!("{}", table.render());
    Ok(())
}

fn per_second(rows: u64, elapsed: Duration) -> String {
    format!("{:.2} M", rows as f64 / elapsed.as_secs_f64() / 1e6)
}

/// Writes the dataset (one parquet file) and its project; returns the project file.
async fn prepare(dir: &Path, rows: u64) -> BenchResult<PathBuf> {
    let data = dir.join("data");
    let marker = dir.join(format!(".rows-{rows}"));
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(&data)?;
        let ctx = SessionContext::new();
        let file = data.join("events.parquet");
        let sql = format!(
            "COPY (SELECT value AS id, CAST(value % 1000 AS INT) AS k, \
             CAST(value AS DOUBLE) * 0.5 AS v, concat('name-', value % 5000) AS s \
             FROM generate_series(0, {}) ORDER BY id) TO '{}' STORED AS PARQUET",
            rows.saturating_sub(1),
            file.display()
        );
        ctx.sql(&sql).await?.collect().await?;
        std::fs::write(&marker, "")?;
    }
    let project = dir.join("canon.toml");
    std::fs::write(
        &project,
        r#"[project]
name = "serve-bench"

[[dataset]]
name = "events"
format = "parquet"
location = "data/"
ordered_by = ["id ASC"]
primary_key = ["id"]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "k", type = "Int32", nullable = false },
  { name = "v", type = "Float64", nullable = false },
  { name = "s", type = "Utf8", nullable = false },
]
"#,
    )?;
    Ok(project)
}

/// The `canon serve` process.
struct Server {
    child: Child,
    /// Kept open: the server says when it has stopped.
    stdout: std::io::BufReader<std::process::ChildStdout>,
    /// Flight SQL's endpoint.
    uri: String,
    /// The Postgres listener's `host:port`.
    postgres: String,
    /// The HTTP listener's `host:port`.
    http: String,
}

impl Server {
    fn start(canon: &Path, project: &Path) -> BenchResult<Self> {
        let mut child = Command::new(canon)
            .args(["-p"])
            .arg(project)
            .args([
                "serve",
                "--flight-sql",
                "127.0.0.1:0",
                "--postgres",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--max-connections",
                "100",
            ])
            .env("CANON_SERVER_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut stdout = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut listening = |prefix: &str| -> BenchResult<String> {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut stdout, &mut line)?;
            let addr = line.trim().strip_prefix(prefix).map(str::to_string);
            Ok(addr.ok_or_else(|| format!("canon serve printed {line:?}"))?)
        };
        let uri = format!(
            "http://{}",
            listening("canon serve: Flight SQL on grpc://")?
        );
        let postgres = listening("canon serve: Postgres on postgresql://")?;
        let http = listening("canon serve: HTTP on http://")?;
        Ok(Self {
            child,
            stdout,
            uri,
            postgres,
            http,
        })
    }

    fn stop(&mut self) -> BenchResult<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let status = self.child.wait()?;
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stdout, &mut rest)?;
        if !status.success() || !rest.contains("canon serve: stopped") {
            return Err(format!("canon serve exited with {status}: {rest}").into());
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client on a connection of its own.
async fn connect(uri: &str) -> BenchResult<FlightSqlServiceClient<Channel>> {
    let channel = Endpoint::from_shared(uri.to_string())?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let mut client = FlightSqlServiceClient::new(channel);
    client.set_header("authorization", format!("Bearer {TOKEN}"));
    Ok(client)
}

/// Runs one statement and counts the rows it streams back.
async fn flight_rows(client: &mut FlightSqlServiceClient<Channel>, sql: &str) -> BenchResult<u64> {
    let info = client.execute(sql.to_string(), None).await?;
    let mut rows = 0u64;
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.ok_or("an endpoint without a ticket")?;
        let mut stream = client.do_get(ticket).await?;
        while let Some(batch) = stream.try_next().await? {
            rows += batch.num_rows() as u64;
        }
    }
    Ok(rows)
}

/// One client of a load: a Flight SQL connection, or a session in this process.
enum Client {
    Flight(FlightSqlServiceClient<Channel>),
    Local(Session),
}

impl Client {
    /// Runs one statement to its last row; returns how many rows it streamed.
    async fn rows(&mut self, sql: &str) -> Result<u64, String> {
        let rows = match self {
            Self::Flight(client) => flight_rows(client, sql).await,
            Self::Local(session) => local_rows(session, sql).await,
        };
        rows.map_err(|e| e.to_string())
    }
}

/// How the Postgres client reads a result.
#[derive(Clone, Copy)]
enum PgRead {
    /// A query's rows, one `DataRow` message each, in binary.
    Rows,
    /// `COPY (query) TO STDOUT (FORMAT binary)`, as ADBC's PostgreSQL driver reads results:
    /// each tuple's fields walked, as a reader that decodes them must.
    CopyBinary,
}

/// Rows of `sql` over Postgres wire, counted as they stream in, and how long they took.
/// The connection (SCRAM's 4,096 hash rounds on each side) and a first small query (the
/// server's first touch of its Postgres code) come before the clock starts, as Flight SQL's
/// connection and warm queries do.
///
/// The client runs on a thread of its own with a single-threaded runtime, as libpq's
/// clients do: tokio-postgres' connection task and the rows it hands over share the thread,
/// so no message waits for another thread to wake (on the multi-threaded runtime that
/// hand-off cost the client more CPU than the server spent encoding).
async fn postgres_rows(addr: &str, sql: &str, read: PgRead) -> BenchResult<(u64, Duration)> {
    let (addr, sql) = (addr.to_string(), sql.to_string());
    let counted = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let (host, port) = addr.rsplit_once(':').ok_or("host:port")?;
            let config =
                format!("host={host} port={port} user=bench dbname=canon password={TOKEN}");
            let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            let connection = tokio::spawn(connection);
            let count = |sql: String| {
                let client = &client;
                async move {
                    match read {
                        PgRead::Rows => client
                            .query_raw(&sql, std::iter::empty::<i32>())
                            .await
                            .map_err(|e| e.to_string())?
                            .try_fold(0u64, |n, _row| async move { Ok(n + 1) })
                            .await
                            .map_err(|e| e.to_string()),
                        PgRead::CopyBinary => {
                            let copy = format!("COPY ({sql}) TO STDOUT (FORMAT binary)");
                            let data = client.copy_out(&copy).await.map_err(|e| e.to_string())?;
                            let mut tuples = BinaryTuples::default();
                            futures::pin_mut!(data);
                            while let Some(message) =
                                data.try_next().await.map_err(|e| e.to_string())?
                            {
                                tuples.read(&message)?;
                            }
                            Ok(tuples.rows)
                        }
                    }
                }
            };
            count(format!("{sql} LIMIT 8192")).await?;
            let started = Instant::now();
            let rows = count(sql).await?;
            let elapsed = started.elapsed();
            drop(client);
            connection
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((rows, elapsed))
        })
    })
    .await?;
    Ok(counted?)
}

/// A reader of binary COPY data: the header, then tuples of length-prefixed fields, then
/// the trailer.
#[derive(Default)]
struct BinaryTuples {
    header_read: bool,
    rows: u64,
}

impl BinaryTuples {
    const HEADER: usize = 19;

    /// Reads one CopyData message: a tuple (the first after the header), or the trailer.
    fn read(&mut self, mut data: &[u8]) -> Result<(), String> {
        if !self.header_read {
            if !data.starts_with(b"PGCOPY\n\xff\r\n\0") || data.len() < Self::HEADER {
                return Err("binary COPY data without its signature".into());
            }
            data = &data[Self::HEADER..];
            self.header_read = true;
        }
        let fields = take::<2>(&mut data).map(i16::from_be_bytes)?;
        if fields == -1 {
            return Ok(());
        }
        for _ in 0..fields {
            let length = take::<4>(&mut data).map(i32::from_be_bytes)?;
            if let Ok(length) = usize::try_from(length) {
                data = data
                    .get(length..)
                    .ok_or("a field past the end of its tuple")?;
            }
        }
        self.rows += 1;
        Ok(())
    }
}

/// The next `N` bytes of `data`.
fn take<const N: usize>(data: &mut &[u8]) -> Result<[u8; N], String> {
    let (head, rest) = data.split_first_chunk::<N>().ok_or("a tuple cut short")?;
    *data = rest;
    Ok(*head)
}

async fn local_rows(session: &Session, sql: &str) -> BenchResult<u64> {
    let mut stream = session.sql(sql).await?.execute_stream().await?;
    let mut rows = 0u64;
    while let Some(batch) = stream.try_next().await? {
        rows += batch.num_rows() as u64;
    }
    Ok(rows)
}

/// `clients` Flight SQL connections, each warmed up by one query (its session is made on
/// its first request).
async fn flight_clients(
    uri: &str,
    clients: usize,
    workload: Workload,
    rows: u64,
) -> BenchResult<Vec<Client>> {
    let mut connected = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut client = Client::Flight(connect(uri).await?);
        client.rows(&workload.sql(0, rows)).await?;
        connected.push(client);
    }
    Ok(connected)
}

/// Each client runs the workload's queries back to back for `duration`.
async fn load(
    clients: Vec<Client>,
    workload: Workload,
    duration: Duration,
    rows: u64,
) -> BenchResult<Load> {
    let count = clients.len() as u64;
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = i as u64;
                while Instant::now() < deadline {
                    let sql = workload.sql(n, rows);
                    let t = Instant::now();
                    client.rows(&sql).await?;
                    latencies.push(t.elapsed());
                    n += count;
                }
                Ok::<_, String>(latencies)
            })
        })
        .collect();
    gather(tasks, started).await
}

async fn gather(
    tasks: Vec<tokio::task::JoinHandle<Result<Vec<Duration>, String>>>,
    started: Instant,
) -> BenchResult<Load> {
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok(Load {
        queries: latencies.len(),
        elapsed: started.elapsed(),
        latencies,
    })
}
