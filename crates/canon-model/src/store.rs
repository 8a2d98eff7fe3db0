//! Object stores as data: which store a location's URL names, and the `[[store]]`
//! declarations that configure one bucket, container or host.
//!
//! Option names are object_store's own configuration keys, parsed by object_store, so
//! every alias it accepts (`region`, `aws_region`, …) is accepted and each is kept under
//! its canonical name. Secrets are never values in the project file: a declaration names
//! the environment variable that holds each one.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use object_store::ClientConfigKey;
use object_store::aws::AmazonS3ConfigKey;
use object_store::azure::AzureConfigKey;
use object_store::gcp::GoogleConfigKey;

use crate::contract::Origin;

/// The kind of object store a URL scheme names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreKind {
    /// Amazon S3 and S3-compatible servers: `s3://bucket/…`, `s3a://bucket/…`.
    S3,
    /// Azure Blob Storage and ADLS Gen2: `az://container/…`, `abfss://container@account…`.
    Azure,
    /// Google Cloud Storage: `gs://bucket/…`.
    Gcs,
    /// Plain HTTP(S) servers, read-only: `https://host/…`.
    Http,
}

/// Every URL scheme that names an object store, lowercase, with the kind it names: one table,
/// so that `of_scheme` and the project file's schema (`crate::schema`) list the same ones.
const SCHEMES: [(&str, StoreKind); 10] = [
    ("s3", StoreKind::S3),
    ("s3a", StoreKind::S3),
    ("az", StoreKind::Azure),
    ("azure", StoreKind::Azure),
    ("abfs", StoreKind::Azure),
    ("abfss", StoreKind::Azure),
    ("adl", StoreKind::Azure),
    ("gs", StoreKind::Gcs),
    ("http", StoreKind::Http),
    ("https", StoreKind::Http),
];

impl StoreKind {
    /// The store a URL scheme names; `None` for local files and unknown schemes.
    pub fn of_scheme(scheme: &str) -> Option<Self> {
        SCHEMES
            .iter()
            .find(|(name, _)| *name == scheme)
            .map(|(_, kind)| *kind)
    }

    /// Every URL scheme `of_scheme` knows, lowercase.
    pub fn schemes() -> impl Iterator<Item = &'static str> {
        SCHEMES.iter().map(|(name, _)| *name)
    }

    /// The kind as `canon.stores` shows it.
    pub fn name(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Azure => "azure",
            Self::Gcs => "gcs",
            Self::Http => "http",
        }
    }

    /// Whether Canon may write through stores of this kind.
    pub fn writable(self) -> bool {
        self != Self::Http
    }

    /// The canonical name of an object_store option for this kind, and whether its value
    /// is a credential; an error names what is accepted when the key is unknown.
    pub fn option(self, key: &str) -> Result<StoreOption, String> {
        let unknown = |_| {
            format!(
                "unknown {} store option `{key}`; see object_store's {} for the options",
                self.name(),
                match self {
                    Self::S3 => "AmazonS3ConfigKey",
                    Self::Azure => "AzureConfigKey",
                    Self::Gcs => "GoogleConfigKey",
                    Self::Http => "ClientConfigKey",
                }
            )
        };
        let option = match self {
            Self::S3 => {
                let parsed = AmazonS3ConfigKey::from_str(key).map_err(unknown)?;
                let secret = matches!(
                    parsed,
                    AmazonS3ConfigKey::AccessKeyId
                        | AmazonS3ConfigKey::SecretAccessKey
                        | AmazonS3ConfigKey::Token
                ) || parsed.as_ref() == "aws_sse_customer_key_base64";
                StoreOption::new(parsed.as_ref(), secret)
            }
            Self::Azure => {
                let parsed = AzureConfigKey::from_str(key).map_err(unknown)?;
                let secret = matches!(
                    parsed,
                    AzureConfigKey::AccessKey
                        | AzureConfigKey::ClientSecret
                        | AzureConfigKey::SasKey
                        | AzureConfigKey::Token
                        | AzureConfigKey::FabricSessionToken
                );
                StoreOption::new(parsed.as_ref(), secret)
            }
            Self::Gcs => {
                let parsed = GoogleConfigKey::from_str(key).map_err(unknown)?;
                let secret = matches!(parsed, GoogleConfigKey::ServiceAccountKey);
                StoreOption::new(parsed.as_ref(), secret)
            }
            Self::Http => {
                let parsed = ClientConfigKey::from_str(key).map_err(unknown)?;
                StoreOption::new(parsed.as_ref(), false)
            }
        };
        Ok(option)
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One option of a store, by its canonical object_store name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOption {
    /// object_store's canonical key, e.g. `aws_region`.
    pub key: String,
    /// Whether the value is a credential, which only an environment variable may hold.
    pub secret: bool,
}

impl StoreOption {
    fn new(key: &str, secret: bool) -> Self {
        Self {
            key: key.to_string(),
            secret,
        }
    }
}

/// A `[[store]]` declaration, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    /// The store's URL: scheme and bucket, container or host, e.g. `s3://lake`.
    pub url: String,
    /// Which object store serves it.
    pub kind: StoreKind,
    /// Non-secret options by canonical key, overriding the environment's.
    pub options: BTreeMap<String, String>,
    /// Secret options by canonical key: the environment variable that holds each value.
    pub secrets: BTreeMap<String, String>,
    /// Where it was declared.
    pub origin: Origin,
}

/// The scheme of locations inside the project directory: `project:///data/trips/` is
/// `data/trips/` under the directory of the project file, on whichever machine it is.
pub const PROJECT_SCHEME: &str = "project";

/// The part of a URL one object store serves: scheme, user (an Azure container in
/// `abfss://container@account…`), host and port, e.g. `s3://lake`.
pub fn store_key(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return None;
    }
    Some(format!("{}://{authority}", scheme.to_ascii_lowercase()))
}

/// The store kind a location needs, when it is not a local path or `file://` URL.
pub fn location_kind(location: &str) -> Option<StoreKind> {
    let (scheme, _) = location.split_once("://")?;
    StoreKind::of_scheme(&scheme.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_become_canonical_keys() {
        let region = StoreKind::S3.option("region").expect("known");
        assert_eq!(region.key, "aws_region");
        assert!(!region.secret);
        assert!(
            StoreKind::S3
                .option("secret_access_key")
                .expect("known")
                .secret
        );
        assert!(
            StoreKind::Azure
                .option("account_key")
                .expect("known")
                .secret
        );
        assert_eq!(
            StoreKind::Http.option("timeout").expect("known").key,
            "timeout"
        );
        let unknown = StoreKind::S3.option("regoin").expect_err("unknown");
        assert!(unknown.contains("`regoin`"), "{unknown}");
    }

    #[test]
    fn store_keys() {
        assert_eq!(store_key("s3://lake/a/b/").as_deref(), Some("s3://lake"));
        assert_eq!(
            store_key("abfss://c@acct.dfs.core.windows.net/x").as_deref(),
            Some("abfss://c@acct.dfs.core.windows.net")
        );
        assert_eq!(store_key("s3:///x"), None);
        assert_eq!(location_kind("GS://b/x"), Some(StoreKind::Gcs));
        assert_eq!(location_kind("/data/x"), None);
    }
}
