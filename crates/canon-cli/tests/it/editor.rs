//! `canon.toml` in an editor: Taplo's language server, the one VS Code's Even Better TOML
//! runs, opens the quickstart project as an editor does and, from the schema its `#:schema`
//! directive names, completes the keys of a table, explains a key on hover and marks a
//! misspelled key.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

/// How long any one answer may take before the test fails (the first loads the
/// WebAssembly server).
const PATIENCE: Duration = Duration::from_secs(60);

/// A language server over standard input and output, killed when dropped.
struct LanguageServer {
    child: Child,
    input: ChildStdin,
    messages: Receiver<Value>,
    next_id: i64,
}

impl LanguageServer {
    /// Starts `@taplo/lsp`, installed beside the `taplo` command line of `scripts/test-taplo`.
    fn start(taplo: &Path) -> Self {
        let modules = taplo
            .ancestors()
            .find(|dir| dir.ends_with("node_modules"))
            .expect("taplo lives in node_modules");
        let glue = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/taplo_lsp.js");
        let mut child = Command::new("node")
            .arg(glue)
            .arg(modules.join("@taplo/lsp"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the language server");
        let input = child.stdin.take().expect("stdin");
        let mut output = BufReader::new(child.stdout.take().expect("stdout"));
        let (sender, messages) = channel();
        std::thread::spawn(move || {
            while let Some(message) = read_message(&mut output) {
                if sender.send(message).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            input,
            messages,
            next_id: 0,
        }
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.input, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
        self.input.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next message from the server, answering the requests it makes of the editor
    /// (settings) with defaults on the way.
    fn next_message(&mut self) -> Value {
        loop {
            let message = self
                .messages
                .recv_timeout(PATIENCE)
                .expect("the language server answers");
            match (message.get("id"), message.get("method")) {
                (Some(id), Some(_)) => {
                    let items = message["params"]["items"].as_array().map_or(0, Vec::len);
                    let result = vec![json!({}); items];
                    self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
                }
                _ => return message,
            }
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let message = self.next_message();
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
        }
    }

    /// The first non-empty diagnostics the server publishes for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        loop {
            let message = self.next_message();
            if message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["uri"] == uri
                && let Some(found) = message["params"]["diagnostics"].as_array()
                && !found.is_empty()
            {
                return found.clone();
            }
        }
    }
}

impl Drop for LanguageServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One framed LSP message, or `None` at the end of the stream.
fn read_message(output: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if output.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    output.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/quickstart/canon.toml")
        .canonicalize()
        .expect("the quickstart project")
}

#[test]
fn taplos_language_server_completes_explains_and_checks_canon_toml() {
    let Some(taplo) = crate::taplo() else { return };
    let project = quickstart();
    let uri = file_uri(&project);
    let text = std::fs::read_to_string(&project).expect("read canon.toml");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let profile = lines
        .iter()
        .position(|line| line == "[profile]")
        .expect("a [profile] table");
    let memory_limit = lines
        .iter()
        .position(|line| line.starts_with("memory_limit"))
        .expect("a memory_limit");
    // A blank line under [profile], where the user is about to type a key.
    lines.insert(profile + 1, String::new());
    let memory_limit = memory_limit + 1;

    let mut server = LanguageServer::start(&taplo);
    let root = file_uri(project.parent().expect("project dir"));
    server.request(
        "initialize",
        json!({
            "processId": null,
            "rootUri": root,
            "workspaceFolders": [{"uri": root, "name": "quickstart"}],
            "capabilities": {"workspace": {"configuration": true}},
        }),
    );
    server.notify("initialized", json!({}));
    server.notify(
        "textDocument/didOpen",
        json!({"textDocument": {
            "uri": uri, "languageId": "toml", "version": 1, "text": lines.join("\n"),
        }}),
    );

    // Completion offers the profile's keys the file does not set yet, and not those it does.
    let completion = server.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri}, "position": {"line": profile + 1, "character": 0}}),
    );
    let items = completion
        .as_array()
        .or_else(|| completion["items"].as_array())
        .expect("completion items");
    let labels: Vec<&str> = items.iter().filter_map(|i| i["label"].as_str()).collect();
    for key in ["join_order", "max_temp_directory_size", "parquet.pruning"] {
        assert!(labels.contains(&key), "{key} not offered: {labels:?}");
    }
    assert!(!labels.contains(&"memory_limit"), "{labels:?}");

    // Hover explains a value from the schema's description.
    let hover = server.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": memory_limit, "character": 2}}),
    );
    let shown = hover["contents"]["value"].as_str().unwrap_or_default();
    assert!(shown.contains("GiB"), "{hover}");

    // A misspelled key is marked where it is.
    lines[profile + 1] = "memory_limt = \"1GiB\"".into();
    server.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": uri, "version": 2},
            "contentChanges": [{"text": lines.join("\n")}],
        }),
    );
    let diagnostics = server.diagnostics(&uri);
    assert!(
        diagnostics.iter().any(|d| d["message"]
            .as_str()
            .is_some_and(|m| m.contains("'memory_limt' was unexpected"))),
        "{diagnostics:?}"
    );
}
