//! Where OpenLineage events go: appended to a file, or POSTed to an HTTP endpoint by a
//! thread of their own.
//!
//! The HTTP transport never holds a statement back: events wait in a bounded queue, and
//! one that finds it full is dropped. A thread with its own single-threaded async runtime
//! sends them one by one, each POST under the configured timeout and retried with
//! backoff, so a slow or absent receiver costs the statements nothing. Drops are counted,
//! recorded in diagnostics and shown in `canon.lineage_events`. When the runtime closes,
//! the queue is drained for at most two timeouts more: the POST in flight, and then some.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canon_model::openlineage::Transport;

use crate::diagnostics::{Event, WeakDiagnostics};

/// The HTTP transport's sending thread.
const THREAD: &str = "canon-openlineage";

/// What a transport has done so far, for `canon.lineage_events`.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Events handed to the transport.
    pub emitted: AtomicU64,
    /// Events the receiver accepted (or the file took).
    pub sent: AtomicU64,
    /// Events dropped: the queue was full, or sending failed after its retries.
    pub dropped: AtomicU64,
    /// Why the latest event was dropped.
    pub last_error: Mutex<Option<String>>,
    /// Events queued for the HTTP thread and not yet sent or dropped.
    pub in_flight: AtomicU64,
}

/// A running transport.
pub(crate) struct Sender {
    kind: &'static str,
    target: String,
    counts: Arc<Counts>,
    diagnostics: WeakDiagnostics,
    way: Way,
}

enum Way {
    File(Mutex<File>),
    Http {
        queue: Mutex<Option<SyncSender<Vec<u8>>>>,
        done: Mutex<Option<Receiver<()>>>,
        timeout: Duration,
    },
}

impl Sender {
    /// Opens the file or starts the sending thread.
    pub fn start(transport: &Transport, diagnostics: WeakDiagnostics) -> std::io::Result<Self> {
        let counts = Arc::new(Counts::default());
        let (kind, way) = match transport {
            Transport::File { path } => {
                let file = OpenOptions::new().create(true).append(true).open(path)?;
                ("file", Way::File(Mutex::new(file)))
            }
            Transport::Http {
                url,
                timeout,
                retries,
                queue,
            } => {
                let (sender, receiver) = std::sync::mpsc::sync_channel(*queue);
                let (finished, done) = std::sync::mpsc::sync_channel(1);
                let poster = Poster {
                    url: url.clone(),
                    timeout: *timeout,
                    retries: *retries,
                    counts: Arc::clone(&counts),
                    diagnostics: diagnostics.clone(),
                };
                std::thread::Builder::new()
                    .name(THREAD.into())
                    .spawn(move || {
                        poster.run(receiver);
                        let _ = finished.send(());
                    })?;
                let way = Way::Http {
                    queue: Mutex::new(Some(sender)),
                    done: Mutex::new(Some(done)),
                    timeout: *timeout,
                };
                ("http", way)
            }
        };
        Ok(Self {
            kind,
            // Shown in `canon.lineage_events` and messages: never the endpoint's query.
            target: transport.target(),
            counts,
            diagnostics,
            way,
        })
    }

    /// `http` or `file`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The endpoint or file.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// What the transport has done so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Hands one event (its JSON) to the transport; never blocks on the network.
    pub fn send(&self, event: Vec<u8>) {
        self.counts.emitted.fetch_add(1, Ordering::Relaxed);
        match &self.way {
            Way::File(file) => {
                let mut line = event;
                line.push(b'\n');
                let written = file
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .write_all(&line);
                // Drops are recorded with no lock held: recording reaches the observers.
                match written {
                    Ok(()) => {
                        self.counts.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => self.dropped(format!("cannot append to {}: {e}", self.target)),
                }
            }
            Way::Http { queue, .. } => {
                self.counts.in_flight.fetch_add(1, Ordering::Relaxed);
                let sent = match queue.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    None => Err("the runtime is closing"),
                    Some(queue) => match queue.try_send(event) {
                        Ok(()) => Ok(()),
                        Err(TrySendError::Full(_)) => Err("the queue to the receiver is full"),
                        Err(TrySendError::Disconnected(_)) => Err("the sending thread has stopped"),
                    },
                };
                if let Err(reason) = sent {
                    self.counts.in_flight.fetch_sub(1, Ordering::Relaxed);
                    self.dropped(reason.into());
                }
            }
        }
    }

    fn dropped(&self, reason: String) {
        dropped(&self.counts, &self.diagnostics, self.kind, reason);
    }

    /// Waits, at most two timeouts, until no event is queued or being sent.
    pub fn drain(&self) {
        let Way::Http { timeout, .. } = &self.way else {
            return;
        };
        let started = std::time::Instant::now();
        let limit = timeout.saturating_mul(2);
        while self.counts.in_flight.load(Ordering::Relaxed) > 0 && started.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops taking events and waits, at most two timeouts, for the queued ones to go.
    pub fn close(&self) {
        let Way::Http {
            queue,
            done,
            timeout,
        } = &self.way
        else {
            return;
        };
        drop(queue.lock().unwrap_or_else(|e| e.into_inner()).take());
        // The sending thread itself may hold the last handle (recording a drop): it must
        // not wait for itself.
        if std::thread::current().name() == Some(THREAD) {
            return;
        }
        let done = done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(done) = done {
            match done.recv_timeout(timeout.saturating_mul(2)) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
                Err(RecvTimeoutError::Timeout) => tracing::warn!(
                    target = %self.target,
                    "OpenLineage events still queued when the runtime closed are not sent"
                ),
            }
        }
    }
}

/// Counts a dropped event and records it: every failed send (those are slow already), and
/// the first of a run of full-queue drops and then one in a thousand.
fn dropped(counts: &Counts, diagnostics: &WeakDiagnostics, kind: &str, reason: String) {
    let total = counts
        .dropped
        .fetch_add(1, Ordering::Relaxed)
        .saturating_add(1);
    let previous = counts
        .last_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .replace(reason.clone());
    let repeated = previous.as_deref() == Some(reason.as_str());
    if !repeated || total.is_multiple_of(1000) {
        tracing::warn!(dropped = total, %reason, "an OpenLineage event was dropped");
        let _ = diagnostics.record(Event::LineageEventsDropped {
            transport: kind.to_string(),
            dropped: total,
            reason,
        });
    }
}

/// The HTTP sending thread's side.
struct Poster {
    url: String,
    timeout: Duration,
    retries: u32,
    counts: Arc<Counts>,
    diagnostics: WeakDiagnostics,
}

impl Poster {
    /// Sends events until the queue is closed and empty.
    fn run(self, events: Receiver<Vec<u8>>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the sending thread's runtime: {e}"));
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"));
        let (runtime, client) = match (runtime, client) {
            (Ok(runtime), Ok(client)) => (runtime, client),
            (Err(reason), _) | (_, Err(reason)) => {
                for _ in events {
                    dropped(&self.counts, &self.diagnostics, "http", reason.clone());
                    self.counts.in_flight.fetch_sub(1, Ordering::Relaxed);
                }
                return;
            }
        };
        for event in events {
            match runtime.block_on(self.post(&client, event)) {
                Ok(()) => {
                    self.counts.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(reason) => dropped(&self.counts, &self.diagnostics, "http", reason),
            }
            self.counts.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// POSTs one event, retrying failures (network errors, 5xx, 429) with backoff.
    async fn post(&self, client: &reqwest::Client, event: Vec<u8>) -> Result<(), String> {
        let body = bytes::Bytes::from(event);
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 0u32;
        loop {
            let answer = client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let failure = match answer {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
                    format!("the receiver answered {}", r.status())
                }
                // The receiver refuses this event: sending it again cannot help.
                Ok(r) => return Err(format!("the receiver refused the event: {}", r.status())),
                Err(e) if e.is_timeout() => format!("no answer within {:?}", self.timeout),
                Err(e) => format!("cannot reach the receiver: {}", without_url(&e)),
            };
            if attempt >= self.retries {
                let tries = attempt.saturating_add(1);
                return Err(format!("{failure} (after {tries} tries)"));
            }
            attempt = attempt.saturating_add(1);
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2).min(Duration::from_secs(5));
        }
    }
}

/// A reqwest error's text without its URL: the endpoint is in `canon.lineage_events`, and
/// the text stays short.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(e) = source {
        text = e.to_string();
        source = e.source();
    }
    if text.is_empty() {
        "the connection failed".into()
    } else {
        text
    }
}
