//! Result streams with the server's limits: a statement's deadline covers its results too,
//! and the connection counts as busy until the last batch is sent.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::connection::Busy;

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
