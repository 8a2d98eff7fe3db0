//! `POST /api/sql` and `POST /api/explain`: a statement, the request's body, run or
//! explained in the request's session under the server's statement timeout.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use canon::Session;
use canon::datafusion::arrow::error::ArrowError;
use canon::datafusion::error::DataFusionError;
use futures::StreamExt;
use tokio::time::Instant;

use super::answer::ApiError;
use super::results::{self, Format};
use super::sessions::HEADER;
use super::{Caller, Shared};
use crate::contain::contained_stream;
use crate::stream::{Cut, Limited, bounded};

/// Runs the statement in the body and streams its result in the format asked for.
pub(crate) async fn sql(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    headers: HeaderMap,
    sql: String,
) -> Result<Response, ApiError> {
    let format = Format::accepted(&headers)?;
    let (session, kept) = session(&shared, &caller, &headers)?;
    let started = Instant::now();
    let batches = bounded(started, shared.statement_timeout, async {
        let df = session.sql(&sql).await?;
        Ok(contained_stream(df.execute_stream().await?))
    })
    .await
    .map_err(|cut| refusal(cut, &sql))?;
    let schema = batches.schema();
    format.check(&schema)?;
    let failed = |b: Result<_, DataFusionError>| b.map_err(|e| Cut::Failed(e.into()));
    let mut limited = Limited::new(batches.map(failed), caller.busy);
    if let Some(limit) = shared.statement_timeout {
        limited = limited.with_deadline(started + limit, Err(Cut::TimedOut(limit)));
    }
    // The status goes out with the first batch: an error before it (most errors, and any
    // aggregate cut at the timeout) still answers with its own status.
    let first = match limited.next().await {
        Some(Err(cut)) => return Err(refusal(cut, &sql)),
        first => first,
    };
    let rest = futures::stream::iter(first).chain(limited).map(|item| {
        item.map_err(|cut| match cut {
            Cut::Failed(e) => ArrowError::ExternalError(Box::new(e)),
            Cut::TimedOut(limit) => {
                ArrowError::ExternalError(crate::stream::timed_out_message(limit).into())
            }
        })
    });
    let body = results::body(Box::pin(rest), schema, format);
    let mut response = body.into_response();
    let answer = response.headers_mut();
    answer.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if kept {
        name_session(answer, &session);
    }
    Ok(response)
}

/// Explains the statement in the body: its canonical SQL, fingerprint, column lineage and
/// plans, as `canon explain --format json` prints them.
pub(crate) async fn explain(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    headers: HeaderMap,
    sql: String,
) -> Result<Response, ApiError> {
    let (session, kept) = session(&shared, &caller, &headers)?;
    let explanation = bounded(
        Instant::now(),
        shared.statement_timeout,
        session.explain(&sql, false),
    )
    .await
    .map_err(|cut| refusal(cut, &sql))?;
    let mut response = axum::Json(explanation).into_response();
    if kept {
        name_session(response.headers_mut(), &session);
    }
    drop(caller);
    Ok(response)
}

/// The request's session (see [`super::sessions`]), and whether it is kept.
fn session(
    shared: &Shared,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<(Session, bool), ApiError> {
    let asked = match headers.get(HEADER) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::bad_request("the canon-session header is not text"))?,
        ),
        None => None,
    };
    shared
        .sessions
        .session(&shared.runtime, &caller.connection, &caller.user, asked)
}

/// Names the session in the answer, for the requests that continue it.
fn name_session(headers: &mut HeaderMap, session: &Session) {
    if let Ok(id) = HeaderValue::from_str(&session.id()) {
        headers.insert(HEADER, id);
    }
}

/// Why a statement got no result, for the client.
fn refusal(cut: Cut, sql: &str) -> ApiError {
    match cut {
        Cut::Failed(e) => ApiError::statement(&e, sql),
        Cut::TimedOut(limit) => ApiError::timed_out(limit),
    }
}
