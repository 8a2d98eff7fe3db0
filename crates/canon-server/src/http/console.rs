//! The web console: a page and its scripts, embedded in the binary so that the server needs
//! no files, no CDN and no Node at run time. The assets are static and public (the page
//! loads before log-in); everything they show comes from `/api/*`, which authenticates.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::answer::ApiError;

/// One embedded file: its name under `/`, its content type and its bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const SCRIPT: &str = "text/javascript; charset=utf-8";
const STYLE: &str = "text/css; charset=utf-8";

macro_rules! assets {
    ($($name:literal => $content_type:expr),* $(,)?) => {
        [$(Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("console/", $name)),
        }),*]
    };
}

/// Every file of the console. Its scripts are ES modules that import each other by these
/// names.
const ASSETS: [Asset; 15] = assets![
    "index.html" => HTML,
    "console.css" => STYLE,
    "favicon.svg" => "image/svg+xml",
    "main.js" => SCRIPT,
    "api.js" => SCRIPT,
    "store.js" => SCRIPT,
    "dom.js" => SCRIPT,
    "catalog.js" => SCRIPT,
    "dataset.js" => SCRIPT,
    "graph.js" => SCRIPT,
    "layout.js" => SCRIPT,
    "lineage.js" => SCRIPT,
    "plan.js" => SCRIPT,
    "editor.js" => SCRIPT,
    "history.js" => SCRIPT,
];

/// What the console may load: only its own files and its own API, so that data shown in
/// it (a dataset's description, a statement's text) can never run as script.
const POLICY: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `GET /`: the console's page.
pub(crate) async fn page() -> Response {
    answer(&ASSETS[0])
}

/// `GET /{file}`: one of the console's files.
pub(crate) async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|asset| asset.name == name)
        .map(answer)
        .ok_or_else(|| ApiError::missing(format!("no console file named `{name}`")))
}

fn answer(asset: &Asset) -> Response {
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // A new binary may bring new files: the page is checked each time, and the modules it
    // loads are revalidated rather than mixed across versions.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
