//! Datasets as OpenLineage names them: a namespace for where the data lives and a name
//! within it, after the OpenLineage naming spec. A local path is `file` and the absolute
//! path; an object store is its scheme and bucket (`s3://bucket`, `gs://bucket`,
//! `abfss://container@account.dfs.core.windows.net`) and the key; a view, which has no
//! storage, is named in the project's namespace.

use url::Url;

/// A dataset's OpenLineage identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DatasetName {
    pub namespace: String,
    pub name: String,
}

/// The identity of data at `location` (an absolute path or a URL, as Canon resolves
/// them); `None` for an empty location.
pub(crate) fn of_location(location: &str) -> Option<DatasetName> {
    if location.is_empty() {
        return None;
    }
    let Ok(url) = Url::parse(location) else {
        return Some(file(location));
    };
    if url.scheme() == "file" {
        return Some(file(url.path()));
    }
    // One-letter schemes are Windows drive letters, not URLs.
    if url.scheme().len() == 1 {
        return Some(file(location));
    }
    let scheme = match url.scheme() {
        "s3a" | "s3n" => "s3",
        "gcs" => "gs",
        "abfs" => "abfss",
        "wasb" => "wasbs",
        other => other,
    };
    // Azure's container is the URL's user part; anywhere else a user part is a credential.
    let authority = match (url.username(), url.host_str()) {
        (user, Some(host)) if !user.is_empty() && matches!(scheme, "abfss" | "wasbs") => {
            format!("{user}@{host}")
        }
        (_, Some(host)) => host.to_string(),
        (_, None) => String::new(),
    };
    let authority = match url.port() {
        Some(port) => format!("{authority}:{port}"),
        None => authority,
    };
    let key = url.path().trim_matches('/');
    Some(DatasetName {
        namespace: format!("{scheme}://{authority}"),
        name: if key.is_empty() {
            "/".into()
        } else {
            key.into()
        },
    })
}

fn file(path: &str) -> DatasetName {
    let trimmed = path.trim_end_matches('/');
    DatasetName {
        namespace: "file".into(),
        name: if trimmed.is_empty() {
            "/".into()
        } else {
            trimmed.into()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(location: &str) -> (String, String) {
        let name = of_location(location).unwrap_or_else(|| DatasetName {
            namespace: String::new(),
            name: String::new(),
        });
        (name.namespace, name.name)
    }

    #[test]
    fn locations_are_named_after_the_naming_spec() {
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(named("/data/trips/"), pair("file", "/data/trips"));
        assert_eq!(
            named("file:///data/t.parquet"),
            pair("file", "/data/t.parquet")
        );
        assert_eq!(named("s3://bucket/a/b/"), pair("s3://bucket", "a/b"));
        assert_eq!(named("s3a://bucket/a"), pair("s3://bucket", "a"));
        assert_eq!(named("gs://bucket/"), pair("gs://bucket", "/"));
        assert_eq!(
            named("abfss://c@acct.dfs.core.windows.net/x/y"),
            pair("abfss://c@acct.dfs.core.windows.net", "x/y")
        );
        assert_eq!(
            named("http://localhost:9000/b/k"),
            pair("http://localhost:9000", "b/k")
        );
        assert_eq!(named("s3://AKIAKEY@bucket/k"), pair("s3://bucket", "k"));
    }
}
