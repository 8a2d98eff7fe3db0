//! A real S3-compatible server for the tests: moto's, started on a free loopback port for
//! one test and stopped when the test ends.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The access key the tests sign with; moto accepts any.
pub const ACCESS_KEY: &str = "canon-test-key";
/// The secret key the tests sign with: it must never appear in Canon's output.
pub const SECRET_KEY: &str = "canon-test-secret-5b1f0e";

/// A running moto S3 server.
pub struct Moto {
    child: Child,
    port: u16,
    python: PathBuf,
}

impl Moto {
    /// Starts a server, or `None` where the Python test tools are missing (outside CI).
    pub fn start() -> Option<Self> {
        let python = crate::python()?;
        let port = free_port();
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Self {
            child,
            port,
            python,
        };
        wait_for_http(moto.port);
        Some(moto)
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The standard AWS environment that points a client at this server.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// Runs a Python script with boto3 and pyarrow against this server: `ENDPOINT` and the
    /// AWS environment are set. Returns its standard output.
    pub fn python(&self, script: &str, args: &[&str]) -> String {
        let mut env = self.aws_env();
        env.push(("ENDPOINT", self.endpoint()));
        crate::run_python(&self.python, script, args, &env)
    }

    /// Creates a bucket.
    pub fn bucket(&self, name: &str) {
        self.python(CREATE_BUCKET, &[name]);
    }

    /// From now on, checks every request's signature: moto knows no access key, so every
    /// signed request fails as S3 fails one with unknown credentials.
    pub fn check_signatures(&self) {
        self.python(RESET_AUTH, &[]);
    }

    /// Uploads a local directory's files under `prefix` in a bucket.
    pub fn upload(&self, dir: &Path, bucket: &str, prefix: &str) {
        self.python(UPLOAD, &[&dir.to_string_lossy(), bucket, prefix]);
    }

    /// Runs `canon` in `dir` with the AWS environment and any extra variables.
    pub fn canon(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        canon_with(dir, args, &self.aws_env(), env)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until a server on a loopback port answers HTTP, for at most a minute.
pub fn wait_for_http(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
            let request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
            let mut answer = String::new();
            if stream.write_all(request.as_bytes()).is_ok()
                && stream.read_to_string(&mut answer).is_ok()
                && answer.starts_with("HTTP/1.")
            {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no server answered on port {port} in 60 s");
}

/// Runs `canon` in `dir` with exactly the given environment on top of the test's.
pub fn canon_with(
    dir: &Path,
    args: &[&str],
    env: &[(&'static str, String)],
    extra: &[(&str, &str)],
) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canon"))
        .args(args)
        .current_dir(dir)
        .env_remove("CANON_PROJECT")
        .env("HOME", dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run canon")
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

const CREATE_BUCKET: &str = r#"
import os, sys, boto3
boto3.client("s3", endpoint_url=os.environ["ENDPOINT"]).create_bucket(Bucket=sys.argv[1])
"#;

const UPLOAD: &str = r#"
import os, sys, boto3
root, bucket, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"])
for dirpath, _, files in os.walk(root):
    for f in files:
        path = os.path.join(dirpath, f)
        key = prefix + os.path.relpath(path, root).replace(os.sep, "/")
        s3.upload_file(path, bucket, key)
"#;

const RESET_AUTH: &str = r#"
import os, requests
requests.post(os.environ["ENDPOINT"] + "/moto-api/reset-auth", data=b"0").raise_for_status()
"#;
