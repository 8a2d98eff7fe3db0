//! Who may connect: the shared secret from `CANON_SERVER_TOKEN`, and the session tokens
//! the Flight handshake gives out in exchange for it.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Mutex;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use subtle::ConstantTimeEq;

use crate::error::ServerError;

/// The environment variable that holds the shared secret.
pub const TOKEN_VARIABLE: &str = "CANON_SERVER_TOKEN";

/// Handshake tokens kept at most; the oldest is forgotten first, and its client must
/// authenticate again.
const MAX_ISSUED: usize = 100_000;

/// How clients authenticate.
pub struct Auth {
    secret: Option<Secret>,
    issued: Mutex<Issued>,
}

/// The shared secret; never printed.
struct Secret(String);

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.secret.is_some() {
            "token"
        } else {
            "none"
        };
        f.debug_struct("Auth").field("mode", &mode).finish()
    }
}

/// Tokens handed out by the handshake, with the user names they were given for.
#[derive(Default)]
struct Issued {
    users: HashMap<String, String>,
    order: std::collections::VecDeque<String>,
}

/// Why a request was not let in; the message is safe to show the client.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No credentials were given.
    #[error(
        "authentication required: send `authorization: Bearer <token>` or authenticate with the handshake"
    )]
    Missing,
    /// Credentials were given and are wrong.
    #[error("invalid credentials")]
    Invalid,
    /// The authorization header is not one Canon reads.
    #[error("unsupported authorization scheme: expected Bearer or Basic")]
    Scheme,
}

impl Auth {
    /// The server's authentication: the token from `token` (the environment variable's
    /// value), or none when `no_auth`, which only loopback addresses may use.
    pub fn new(
        token: Option<String>,
        no_auth: bool,
        addrs: &[SocketAddr],
    ) -> Result<Self, ServerError> {
        let secret = match (token.filter(|t| !t.is_empty()), no_auth) {
            (_, true) => {
                if let Some(addr) = addrs.iter().find(|a| !a.ip().is_loopback()) {
                    return Err(ServerError::NoAuthNotLoopback { addr: *addr });
                }
                None
            }
            (Some(token), false) => Some(Secret(token)),
            (None, false) => return Err(ServerError::NoToken),
        };
        Ok(Self {
            secret,
            issued: Mutex::default(),
        })
    }

    /// The shared secret, for protocols whose own handshake checks it (Postgres SCRAM).
    pub(crate) fn token(&self) -> Option<&str> {
        self.secret.as_ref().map(|Secret(token)| token.as_str())
    }

    /// Whether clients must authenticate.
    pub fn required(&self) -> bool {
        self.secret.is_some()
    }

    /// Checks a password against the shared secret in constant time.
    pub fn password_matches(&self, given: &str) -> bool {
        match &self.secret {
            Some(Secret(secret)) => bool::from(secret.as_bytes().ct_eq(given.as_bytes())),
            None => true,
        }
    }

    /// The user of a request's `authorization` header value: `Bearer` with the shared
    /// secret or a handshake token, or `Basic` with any user and the secret as password.
    pub fn user(&self, header: Option<&str>) -> Result<String, Refusal> {
        let Some(header) = header else {
            return match self.secret {
                Some(_) => Err(Refusal::Missing),
                None => Ok(ANONYMOUS.to_string()),
            };
        };
        if let Some(token) = strip_scheme(header, "bearer") {
            if self.password_matches(token) {
                return Ok(BEARER_USER.to_string());
            }
            return self.issued_user(token).ok_or(Refusal::Invalid);
        }
        if let Some(basic) = strip_scheme(header, "basic") {
            let (user, password) = decode_basic(basic).ok_or(Refusal::Invalid)?;
            return match self.password_matches(&password) {
                true => Ok(user),
                false => Err(Refusal::Invalid),
            };
        }
        match self.secret {
            Some(_) => Err(Refusal::Scheme),
            None => Ok(ANONYMOUS.to_string()),
        }
    }

    /// A new handshake token for `user`.
    pub fn issue(&self, user: &str) -> String {
        let mut bytes = [0u8; 24];
        // Without randomness from the system no token can be trusted: the all-zero
        // fallback is never accepted, because only issued tokens are.
        let token = match getrandom::fill(&mut bytes) {
            Ok(()) => bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            Err(_) => return String::new(),
        };
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        if issued.order.len() >= MAX_ISSUED
            && let Some(oldest) = issued.order.pop_front()
        {
            issued.users.remove(&oldest);
        }
        issued.users.insert(token.clone(), user.to_string());
        issued.order.push_back(token.clone());
        token
    }

    fn issued_user(&self, token: &str) -> Option<String> {
        if token.is_empty() {
            return None;
        }
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.users.get(token).cloned()
    }
}

/// The user name recorded for clients that present the shared secret as a bearer token.
const BEARER_USER: &str = "token";
/// The user name recorded when the server runs without authentication.
const ANONYMOUS: &str = "anonymous";

/// The credentials after an HTTP authorization scheme, matched without regard to case.
fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = header.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// Standard base64, padded or not: Go's Flight client sends Basic credentials unpadded.
const BASIC: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `user:password` from Basic credentials.
pub(crate) fn decode_basic(credentials: &str) -> Option<(String, String)> {
    let bytes = BASIC.decode(credentials).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

    use super::*;

    fn loopback() -> Vec<SocketAddr> {
        vec!["127.0.0.1:0".parse().unwrap()]
    }

    #[test]
    fn bearer_basic_and_issued_tokens() {
        let auth = Auth::new(Some("s3cret".into()), false, &loopback()).unwrap();
        assert_eq!(auth.user(Some("Bearer s3cret")).unwrap(), "token");
        assert!(matches!(
            auth.user(Some("Bearer nope")),
            Err(Refusal::Invalid)
        ));
        assert!(matches!(auth.user(None), Err(Refusal::Missing)));
        let basic = format!("Basic {}", STANDARD.encode("ana:s3cret"));
        assert_eq!(auth.user(Some(&basic)).unwrap(), "ana");
        let unpadded = format!("Basic {}", STANDARD_NO_PAD.encode("bo:s3cret"));
        assert_eq!(auth.user(Some(&unpadded)).unwrap(), "bo");
        let wrong = format!("Basic {}", STANDARD.encode("ana:s3cre"));
        assert!(matches!(auth.user(Some(&wrong)), Err(Refusal::Invalid)));
        let token = auth.issue("ana");
        assert_eq!(token.len(), 48);
        assert_eq!(auth.user(Some(&format!("bearer {token}"))).unwrap(), "ana");
        assert!(matches!(auth.user(Some("Digest x")), Err(Refusal::Scheme)));
    }

    #[test]
    fn no_auth_only_on_loopback() {
        let public: Vec<SocketAddr> = vec!["0.0.0.0:1".parse().unwrap()];
        assert!(matches!(
            Auth::new(None, true, &public),
            Err(ServerError::NoAuthNotLoopback { .. })
        ));
        assert!(matches!(
            Auth::new(None, false, &loopback()),
            Err(ServerError::NoToken)
        ));
        let open = Auth::new(None, true, &loopback()).unwrap();
        assert_eq!(open.user(None).unwrap(), "anonymous");
    }
}
