//! Store declarations for every kind, without a network: what `canon.stores` shows, what
//! the fingerprint covers, and what is refused. The S3 server tests are the CLI's.

use crate::common::{Fixture, rows};

const STORES: &str = r#"[project]
name = "lake"

[[store]]
url = "az://landing"
options = { account_name = "acme", use_emulator = "false" }
secrets = { account_key = { env = "CANON_TEST_AZURE_KEY" } }

[[store]]
url = "gs://archive"
options = { google_skip_signature = "true" }

[[store]]
url = "https://data.example.com"
options = { timeout = "10s" }
"#;

/// Every declared store is listed before it is used, with canonical option names and
/// secrets shown only as the variable they come from; nothing was requested yet.
#[tokio::test]
async fn declared_stores_are_listed_with_canonical_options() {
    let fx = Fixture::new();
    let runtime = fx.runtime(STORES).await;
    let session = runtime.session();
    let listed = rows(
        &session,
        "SELECT url, kind, declared, options, secrets, gets + heads + lists + puts \
         FROM canon.stores ORDER BY url",
    )
    .await;
    let expected = [
        ["az://landing", "azure", "true"],
        ["file://", "local", "false"],
        ["gs://archive", "gcs", "true"],
        ["https://data.example.com", "http", "true"],
        ["project://", "local", "false"],
    ];
    let got: Vec<[&str; 3]> = listed
        .iter()
        .map(|r| [r[0].as_str(), r[1].as_str(), r[2].as_str()])
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        listed[0][3],
        r#"{"azure_storage_account_name":"acme","azure_storage_use_emulator":"false"}"#
    );
    assert_eq!(
        listed[0][4],
        r#"{"azure_storage_account_key":"env:CANON_TEST_AZURE_KEY"}"#
    );
    assert_eq!(listed[2][3], r#"{"google_skip_signature":"true"}"#);
    assert_eq!(listed[3][3], r#"{"timeout":"10s"}"#);
    assert!(listed.iter().all(|r| r[5] == "0"), "{listed:?}");
}

/// The fingerprint covers the stores' non-secret options, not which variable holds a
/// secret; a project without stores keeps the fingerprint it had.
#[tokio::test]
async fn the_fingerprint_covers_store_options_but_not_secrets() {
    let fingerprint = |toml: String| async move {
        let fx = Fixture::new();
        let runtime = fx.runtime(&toml).await;
        runtime.profile().fingerprint().to_string()
    };
    let base = fingerprint(STORES.to_string()).await;
    let other_option = fingerprint(STORES.replace("\"acme\"", "\"other\"")).await;
    let other_secret =
        fingerprint(STORES.replace("CANON_TEST_AZURE_KEY", "CANON_TEST_OTHER_KEY")).await;
    let none = fingerprint("[project]\nname = \"lake\"\n".to_string()).await;
    let none_again = fingerprint("[project]\nname = \"other\"\n".to_string()).await;
    assert_ne!(base, other_option);
    assert_eq!(base, other_secret);
    assert_ne!(base, none);
    assert_eq!(none, none_again);
}

/// A store whose secret variable is not set fails when a dataset needs it, naming the
/// store, the option and the variable.
#[tokio::test]
async fn a_missing_secret_names_its_variable() {
    let fx = Fixture::new();
    let toml = format!(
        "{STORES}
[[dataset]]
name = \"events\"
format = \"parquet\"
location = \"az://landing/events/\"
columns = [{{ name = \"id\", type = \"Int64\" }}]
"
    );
    let err = fx.load(&toml).await.expect_err("no secret");
    assert!(err.is_project_error());
    let message = err.to_string();
    assert!(
        message.contains("dataset `events`")
            && message.contains("store az://landing: `azure_storage_account_key` is read from the environment variable CANON_TEST_AZURE_KEY, which is not set"),
        "{message}"
    );
}
