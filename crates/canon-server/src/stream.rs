//! Result streams with the server's limits: a statement's deadline covers its results too,
//! and the connection counts as busy until the last batch is sent.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::connection::Busy;

/// A stream that ends with `on_deadline` once `deadline` passes; dropping the inner stream
/// cancels the statement behind it.
pub struct Limited<S, T> {
    inner: Option<S>,
    deadline: Option<Pin<Box<Sleep>>>,
    on_deadline: Option<T>,
    _busy: Busy,
}

impl<S, T> Limited<S, T> {
    /// `inner`, cut at `deadline` (if any) with `on_deadline`, holding `busy` until it ends.
    pub fn new(inner: S, deadline: Option<Instant>, on_deadline: T, busy: Busy) -> Self {
        Self {
            inner: Some(inner),
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            on_deadline: Some(on_deadline),
            _busy: busy,
        }
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
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            this.inner = None;
            this.deadline = None;
            return Poll::Ready(this.on_deadline.take());
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
