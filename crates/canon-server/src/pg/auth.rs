//! Postgres authentication with the shared secret as password: SCRAM-SHA-256 on plain
//! connections, cleartext only over TLS, and none when the server runs without auth.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use pgwire::api::auth::sasl::scram::gen_salted_password;
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

use crate::auth::Auth;

/// SCRAM's iteration count: the minimum RFC 7677 allows, hashed once per login.
pub const SCRAM_ITERATIONS: usize = 4096;

/// The secret, as pgwire's password checks ask for it. Every user name is accepted.
pub struct Secret {
    auth: Arc<Auth>,
    /// Hashed for SCRAM with a fresh salt per login; cleartext (over TLS) otherwise.
    salted: bool,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("salted", &self.salted)
            .finish()
    }
}

impl Secret {
    /// The secret for SCRAM (`salted`) or for cleartext passwords.
    pub fn new(auth: Arc<Auth>, salted: bool) -> Self {
        Self { auth, salted }
    }
}

#[async_trait]
impl AuthSource for Secret {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        let Some(token) = self.auth.token() else {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28000".into(),
                "the server runs without authentication".into(),
            ))));
        };
        if !self.salted {
            return Ok(Password::new(None, token.as_bytes().to_vec()));
        }
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        let hashed = gen_salted_password(token, &salt, SCRAM_ITERATIONS);
        Ok(Password::new(Some(salt.to_vec()), hashed))
    }
}
