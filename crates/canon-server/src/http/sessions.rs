//! The sessions requests run in: a new one per request, unless the request asks to keep
//! one (`Canon-Session: new`) or names one it was given (`Canon-Session: <id>`, from the
//! answer that made it). A kept session lasts until it has been idle for the server's idle
//! timeout (ten minutes without one); past [`MOST`] the least recently used goes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use canon::{Event, Runtime, Session};

use super::answer::ApiError;
use crate::connection::Connection;

/// The header that asks for or names a session, in requests and answers.
pub(crate) const HEADER: &str = "canon-session";

/// The header value that asks for a new session, kept for the requests that follow.
const NEW: &str = "new";

/// How long a named session is kept without requests when the server has no idle timeout.
const DEFAULT_IDLE: Duration = Duration::from_secs(600);

/// At most this many named sessions are kept; past it, the least recently used goes.
const MOST: usize = 1024;

/// A kept session: the session, whose it is, and when it was last used.
struct Kept {
    session: Session,
    user: String,
    used: Instant,
}

/// The sessions requests have asked to keep.
pub(crate) struct Sessions {
    idle: Duration,
    kept: Mutex<HashMap<String, Kept>>,
}

impl Sessions {
    /// Sessions dropped after `idle` without requests.
    pub fn new(idle: Option<Duration>) -> Self {
        Self {
            idle: idle.unwrap_or(DEFAULT_IDLE),
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// The session a request runs in, and whether it is kept (its answer then names it):
    /// the one `asked` names, a new kept one for `new`, a new one for no header. A name
    /// that is unknown, expired or another user's is refused, so that a sequence never
    /// runs on in a session it did not set up.
    pub fn session(
        &self,
        runtime: &Runtime,
        connection: &Connection,
        user: &str,
        asked: Option<&str>,
    ) -> Result<(Session, bool), ApiError> {
        let open = || connection.open_session(user);
        let Some(asked) = asked else {
            return Ok((open(), false));
        };
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let idle = self.idle;
        let expired: Vec<String> = kept
            .iter()
            .filter(|(_, k)| now.duration_since(k.used) >= idle)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            close(runtime, &mut kept, &id, "idle timeout");
        }
        if asked != NEW {
            return match kept.get_mut(asked) {
                Some(found) if found.user == user => {
                    found.used = now;
                    Ok((found.session.clone(), true))
                }
                _ => Err(ApiError::missing_session(asked)),
            };
        }
        if kept.len() >= MOST
            && let Some(oldest) = kept
                .iter()
                .min_by_key(|(_, k)| k.used)
                .map(|(id, _)| id.clone())
        {
            close(runtime, &mut kept, &oldest, "too many HTTP sessions kept");
        }
        let session = open();
        kept.insert(
            session.id(),
            Kept {
                session: session.clone(),
                user: user.to_string(),
                used: now,
            },
        );
        Ok((session, true))
    }
}

/// Forgets a kept session, recording why.
fn close(runtime: &Runtime, kept: &mut HashMap<String, Kept>, id: &str, reason: &str) {
    if kept.remove(id).is_some() {
        let _ = runtime.diagnostics().record(Event::SessionClosed {
            session: id.to_string(),
            connection: 0,
            reason: reason.to_string(),
        });
    }
}
