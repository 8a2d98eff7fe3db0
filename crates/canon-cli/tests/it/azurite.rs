//! Azurite, the Azure Storage emulator, as a real Azure blob server for the tests: started
//! on a free loopback port for one test and stopped when the test ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::moto::{free_port, wait_for_http};

/// Azurite's well-known development account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// The development account's key, public in Azurite's documentation; Canon must still
/// never print it.
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running Azurite blob server.
pub struct Azurite {
    child: Child,
    port: u16,
    python: PathBuf,
    _data: tempfile::TempDir,
}

impl Azurite {
    /// Starts a server, or `None` where the test tools are missing (outside CI).
    pub fn start() -> Option<Self> {
        let python = crate::python()?;
        let bin = crate::azurite()?;
        let data = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(data.path())
            .args(["--silent", "--skipApiVersionCheck"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite-blob");
        let azurite = Self {
            child,
            port,
            python,
            _data: data,
        };
        wait_for_http(port);
        Some(azurite)
    }

    /// The account's blob endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// The environment that points object_store's emulator mode (`use_emulator = true`)
    /// at this server.
    pub fn env(&self) -> [(&'static str, String); 1] {
        [(
            "AZURITE_BLOB_STORAGE_URL",
            format!("http://127.0.0.1:{}", self.port),
        )]
    }

    /// Creates a container and uploads a local directory's files under `prefix` in it.
    pub fn upload(&self, dir: &Path, container: &str, prefix: &str) {
        let connection = format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};\
             BlobEndpoint={};",
            self.endpoint()
        );
        let args = [
            connection.as_str(),
            &dir.to_string_lossy(),
            container,
            prefix,
        ];
        crate::run_python(&self.python, UPLOAD, &args, &[]);
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const UPLOAD: &str = r#"
import os, sys
from azure.storage.blob import BlobServiceClient
connection, root, container, prefix = sys.argv[1:5]
service = BlobServiceClient.from_connection_string(connection)
service.create_container(container)
for dirpath, _, files in os.walk(root):
    for f in files:
        path = os.path.join(dirpath, f)
        name = prefix + os.path.relpath(path, root).replace(os.sep, "/")
        with open(path, "rb") as data:
            service.get_blob_client(container, name).upload_blob(data)
"#;
