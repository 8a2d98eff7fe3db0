//! Waiting on Canon from Python: one Tokio runtime for the process, the GIL released
//! while a query plans or runs, and Ctrl-C (KeyboardInterrupt) cancelling it.

use std::sync::OnceLock;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::Runtime;
use tokio::sync::Notify;

/// How often a waiting call looks for a pending signal (Ctrl-C) from Python.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// The process's Tokio runtime, made on first use.
pub fn runtime() -> PyResult<&'static Runtime> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("canon")
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start Canon's async runtime: {e}")))
}

/// Wakes every waiting call each [`SIGNAL_CHECK`], from a thread of its own.
///
/// Not a Tokio timer: the runtime's timers advance only when a worker parks or pauses
/// between tasks, and a query's partitions can keep every worker busy for as long as it
/// runs; a Ctrl-C would then wait for the query it is meant to stop.
fn ticks() -> &'static Notify {
    static TICKS: OnceLock<Notify> = OnceLock::new();
    static TICKER: OnceLock<()> = OnceLock::new();
    let ticks = TICKS.get_or_init(Notify::new);
    TICKER.get_or_init(|| {
        // Without the thread (the OS refused one), a signal is seen when the call ends.
        let _ = std::thread::Builder::new()
            .name("canon-signals".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(SIGNAL_CHECK);
                    ticks.notify_waiters();
                }
            });
    });
    ticks
}

/// Runs the future `work` makes to completion without holding the GIL. A signal Python
/// raises meanwhile (KeyboardInterrupt on Ctrl-C) drops the future, which cancels it, and
/// is raised instead. The future is made and polled on this thread, so it need not be
/// `Send`.
pub fn wait<T, F>(py: Python<'_>, work: impl FnOnce() -> F + Send) -> PyResult<T>
where
    F: Future<Output = PyResult<T>>,
    T: Send,
{
    let runtime = runtime()?;
    let ticks = ticks();
    py.detach(move || {
        runtime.block_on(async move {
            let work = work();
            tokio::pin!(work);
            loop {
                tokio::select! {
                    result = &mut work => return result,
                    () = ticks.notified() => {
                        Python::attach(|py| py.check_signals())?;
                    }
                }
            }
        })
    })
}
