//! The sessions requests run in: a new one per request, or the one a `Canon-Session`
//! header names (each answer names its session), kept while it is used and dropped once
//! idle for the server's idle timeout (ten minutes without one).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use canon::{Event, Runtime, Session};

use crate::connection::Connection;

/// The header that names a session, in requests and answers.
pub(crate) const HEADER: &str = "canon-session";

/// How long a named session is kept without requests when the server has no idle timeout.
const DEFAULT_IDLE: Duration = Duration::from_secs(600);

/// At most this many named sessions are kept; past it, the least recently used goes.
const MOST: usize = 1024;

/// The sessions requests have named.
pub(crate) struct Sessions {
    idle: Duration,
    kept: Mutex<HashMap<String, (Session, String, Instant)>>,
}

impl Sessions {
    /// Sessions dropped after `idle` without requests.
    pub fn new(idle: Option<Duration>) -> Self {
        Self {
            idle: idle.unwrap_or(DEFAULT_IDLE),
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// The session `named` names, when it is kept and belongs to `user`; otherwise a new
    /// one, kept from now on under its id.
    pub fn session(
        &self,
        runtime: &Runtime,
        connection: &Connection,
        user: &str,
        named: Option<&str>,
    ) -> Session {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        kept.retain(|_, (_, _, used)| now.duration_since(*used) < self.idle);
        if let Some((session, owner, used)) = named.and_then(|id| kept.get_mut(id))
            && owner == user
        {
            *used = now;
            return session.clone();
        }
        if kept.len() >= MOST
            && let Some(oldest) = kept
                .iter()
                .min_by_key(|(_, (_, _, used))| *used)
                .map(|(id, _)| id.clone())
        {
            kept.remove(&oldest);
        }
        let session = runtime.session();
        let _ = runtime.diagnostics().record(Event::SessionOpened {
            session: session.id(),
            protocol: "http".to_string(),
            connection: connection.id(),
            peer: connection.peer().to_string(),
            user: user.to_string(),
        });
        kept.insert(session.id(), (session.clone(), user.to_string(), now));
        session
    }
}
