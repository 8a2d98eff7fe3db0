//! Errors as HTTP answers: a JSON object carrying the text the CLI shows for the same
//! error, with a status that says whose fault it is.

use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use canon::CanonError;
use serde_json::json;

use crate::error::Fault;

/// Why a request got no answer, as the client sees it.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    /// A statement that failed; `sql` is its text, for the caret under the place the
    /// error is about.
    pub fn statement(error: &CanonError, sql: &str) -> Self {
        let message = canon::sql::render_error(error, sql);
        let (status, kind) = match Fault::of(error) {
            Fault::Refused => (StatusCode::FORBIDDEN, "policy"),
            Fault::Syntax => (StatusCode::BAD_REQUEST, "syntax"),
            Fault::Plan => (StatusCode::BAD_REQUEST, "plan"),
            Fault::Exhausted => (StatusCode::SERVICE_UNAVAILABLE, "resources"),
            Fault::Server => (StatusCode::INTERNAL_SERVER_ERROR, "server"),
        };
        Self::new(status, kind, message)
    }

    /// Any other error of Canon's.
    pub fn canon(error: &CanonError) -> Self {
        Self::statement(error, "")
    }

    /// A statement cut at the server's statement timeout.
    pub fn timed_out(limit: Duration) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            crate::stream::timed_out_message(limit),
        )
    }

    /// No valid credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "authentication", message)
    }

    /// The connection came past the server's limit.
    pub fn busy(limit: usize) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "connections",
            format!("the server already has its maximum of {limit} connections; try again later"),
        )
    }

    /// A request the API cannot read.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "request", message)
    }

    /// A result format the API does not write.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, "request", message)
    }

    /// No such thing.
    pub fn missing(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A `Canon-Session` header that names no session this caller may continue.
    pub fn missing_session(named: &str) -> Self {
        let named: String = named.chars().take(64).collect();
        Self::new(
            StatusCode::NOT_FOUND,
            "session",
            format!(
                "no session `{named}` to continue: it expired, or was never made for this user; \
                 send `Canon-Session: new` to start one"
            ),
        )
    }

    /// The server's own fault.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.message, "kind": self.kind });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"canon\""),
            );
        }
        response
    }
}

/// The answer to a path the API does not have.
pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::missing(format!(
        "no such endpoint: {}; the API has POST /api/sql, POST /api/explain, GET \
         /api/datasets, GET /api/datasets/NAME, GET /api/lineage and GET /api/queries",
        uri.path()
    ))
}
