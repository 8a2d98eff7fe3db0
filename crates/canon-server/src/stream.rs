//! Statements under the server's limits: planning cut at the statement timeout, result
//! streams whose deadline covers their results too, and the connection counted as busy
//! until the last batch is sent.

use std::pin::Pin;
use std::task::{Context, Poll};

use std::time::Duration;

use canon::CanonError;
use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::connection::Busy;
use crate::contain::contained;

/// Why a statement under the server's limits ended without its result.
pub enum Cut {
    /// It failed (or panicked inside the engine).
    Failed(CanonError),
    /// It ran past the statement timeout, which is given.
    TimedOut(Duration),
}

/// What a client is told of a statement cut at the statement timeout `limit`.
pub fn timed_out_message(limit: Duration) -> String {
    format!(
        "statement cancelled: it ran past the server's statement timeout of {}",
        humantime::format_duration(limit)
    )
}

/// Runs `work` until `started` plus `timeout` (when there is one), a panic in it failing
/// it like an error.
pub async fn bounded<T>(
    started: Instant,
    timeout: Option<Duration>,
    work: impl Future<Output = Result<T, CanonError>>,
) -> Result<T, Cut> {
    let work = contained(work);
    let result = match timeout {
        Some(limit) => tokio::time::timeout_at(started + limit, work)
            .await
            .map_err(|_| Cut::TimedOut(limit))?,
        None => work.await,
    };
    result.map_err(Cut::Failed)
}

/// A stream that holds its connection busy until it ends, and that may be cut at a
/// deadline with a last item; dropping the inner stream cancels the statement behind it.
pub struct Limited<S, T> {
    inner: Option<S>,
    deadline: Option<(Pin<Box<Sleep>>, T)>,
    _busy: Busy,
}

impl<S, T> Limited<S, T> {
    /// `inner`, holding `busy` until it ends.
    pub fn new(inner: S, busy: Busy) -> Self {
        Self {
            inner: Some(inner),
            deadline: None,
            _busy: busy,
        }
    }

    /// Ends the stream with `last` once `at` has passed.
    pub fn with_deadline(mut self, at: Instant, last: T) -> Self {
        self.deadline = Some((Box::pin(tokio::time::sleep_until(at)), last));
        self
    }
}

impl<S, T> Stream for Limited<S, T>
where
    S: Stream<Item = T> + Unpin,
    T: Unpin,
{
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        if let Some((sleep, _)) = this.deadline.as_mut()
            && sleep.as_mut().poll(cx).is_ready()
        {
            this.inner = None;
            return Poll::Ready(this.deadline.take().map(|(_, last)| last));
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let next = Pin::new(inner).poll_next(cx);
        if let Poll::Ready(None) = next {
            this.inner = None;
            this.deadline = None;
        }
        next
    }
}
