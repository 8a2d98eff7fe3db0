//! Builds one object store: object_store's own builder for the kind, configured from the
//! environment as object_store reads it, then from the project's `[[store]]` declaration,
//! with timeouts and retries bounded so that an unreachable endpoint fails.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};

use canon_model::store::{StoreKind, StoreSpec};

use super::StoreError;

/// Canon's client defaults, set as options over the environment's (a builder's client
/// options replace the environment's `*_ALLOW_HTTP` and the like, options do not); a
/// store's own `connect_timeout` and `timeout` options win over these.
const CLIENT_DEFAULTS: [(ClientConfigKey, &str); 2] = [
    // How long a connection may take to open.
    (ClientConfigKey::ConnectTimeout, "5s"),
    // How long one request may take, connection included.
    (ClientConfigKey::Timeout, "30s"),
];
/// How many times a failed request is retried.
const MAX_RETRIES: usize = 3;
/// How long retries of one request may go on in all.
const RETRY_TIMEOUT: Duration = Duration::from_secs(20);

fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: MAX_RETRIES,
        retry_timeout: RETRY_TIMEOUT,
    }
}

/// Every option of a declaration with its value: plain options as written, secrets read
/// from the environment variables they name.
fn resolved(url: &str, spec: Option<&StoreSpec>) -> Result<Vec<(String, String)>, StoreError> {
    let Some(spec) = spec else {
        return Ok(Vec::new());
    };
    let mut options: Vec<(String, String)> = spec
        .options
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, variable) in &spec.secrets {
        let value = std::env::var(variable).map_err(|_| StoreError::MissingSecret {
            url: url.to_string(),
            option: key.clone(),
            variable: variable.clone(),
        })?;
        options.push((key.clone(), value));
    }
    Ok(options)
}

/// Builds the store serving `url` (`scheme://authority`).
pub(super) fn build(
    url: &str,
    kind: StoreKind,
    spec: Option<&StoreSpec>,
) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let options = resolved(url, spec)?;
    let failed = |source: object_store::Error| StoreError::Build {
        url: url.to_string(),
        source,
    };
    // Options were parsed at load; a key that fails here is a bug, reported as such.
    let unknown = |key: &str| StoreError::Build {
        url: url.to_string(),
        source: object_store::Error::UnknownConfigurationKey {
            store: kind.name(),
            key: key.to_string(),
        },
    };
    let store: Arc<dyn ObjectStore> = match kind {
        StoreKind::S3 => {
            let mut builder = AmazonS3Builder::from_env()
                .with_url(url)
                .with_retry(retry());
            for (k, v) in CLIENT_DEFAULTS {
                builder = builder.with_config(AmazonS3ConfigKey::Client(k), v);
            }
            for (k, v) in options {
                let key: AmazonS3ConfigKey = k.parse().map_err(|_| unknown(&k))?;
                builder = builder.with_config(key, v);
            }
            Arc::new(builder.build().map_err(failed)?)
        }
        StoreKind::Azure => {
            let mut builder = MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .with_retry(retry());
            for (k, v) in CLIENT_DEFAULTS {
                builder = builder.with_config(AzureConfigKey::Client(k), v);
            }
            for (k, v) in options {
                let key: AzureConfigKey = k.parse().map_err(|_| unknown(&k))?;
                builder = builder.with_config(key, v);
            }
            Arc::new(builder.build().map_err(failed)?)
        }
        StoreKind::Gcs => {
            let mut builder = GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .with_retry(retry());
            for (k, v) in CLIENT_DEFAULTS {
                builder = builder.with_config(GoogleConfigKey::Client(k), v);
            }
            for (k, v) in options {
                let key: GoogleConfigKey = k.parse().map_err(|_| unknown(&k))?;
                builder = builder.with_config(key, v);
            }
            Arc::new(builder.build().map_err(failed)?)
        }
        StoreKind::Http => {
            let mut builder = HttpBuilder::new().with_url(url).with_retry(retry());
            for (k, v) in CLIENT_DEFAULTS {
                builder = builder.with_config(k, v);
            }
            // An `http://` location asks for plain HTTP by its scheme.
            if url.starts_with("http://") {
                builder = builder.with_config(ClientConfigKey::AllowHttp, "true");
            }
            for (k, v) in options {
                let key: ClientConfigKey = k.parse().map_err(|_| unknown(&k))?;
                builder = builder.with_config(key, v);
            }
            Arc::new(builder.build().map_err(failed)?)
        }
    };
    Ok(store)
}

/// Whether Delta commits to this S3 store can be made safe against concurrent writers:
/// conditional put (`If-None-Match`) is object_store's default and must not be disabled.
pub(super) fn conditional_put(spec: Option<&StoreSpec>) -> bool {
    let declared = spec
        .and_then(|s| s.options.get("aws_conditional_put"))
        .cloned();
    let value = declared.or_else(|| std::env::var("AWS_CONDITIONAL_PUT").ok());
    !value.is_some_and(|v| v.trim().eq_ignore_ascii_case("disabled"))
}
