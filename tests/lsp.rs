//! `sslp lsp` end to end: the built binary as a child process, spoken to in JSON-RPC with
//! Content-Length framing, as an editor would.

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

/// How long a test waits for one message before it fails.
const WAIT: Duration = Duration::from_secs(30);

/// A running `sslp lsp` and the messages it sent that no one has read yet.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Value>,
    pending: VecDeque<Value>,
    next_id: i64,
    /// The capabilities the server announced in `initialize`.
    capabilities: Value,
    /// The server's cache folder (its read-only stdlib copies): a fresh one per
    /// server, so tests write nothing outside their own temporary folders.
    _cache: tempfile::TempDir,
}

fn read_message(out: &mut impl BufRead) -> Option<Value> {
    let mut size = None;
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            size = v.parse().ok();
        }
    }
    let mut body = vec![0; size?];
    out.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

impl Server {
    fn start() -> Server {
        Server::start_with(json!({"rootUri": null}))
    }

    /// A server whose `initialize` carries `workspace` (`rootUri`, `workspaceFolders`).
    fn start_with(workspace: Value) -> Server {
        let cache = tempfile::tempdir().expect("a temporary cache folder");
        let mut child = Command::new(env!("CARGO_BIN_EXE_sslp"))
            .arg("lsp")
            .env("XDG_CACHE_HOME", cache.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sslp lsp starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut out = BufReader::new(stdout);
            while let Some(msg) = read_message(&mut out) {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut server = Server {
            child,
            stdin,
            incoming: rx,
            pending: VecDeque::new(),
            next_id: 1,
            capabilities: Value::Null,
            _cache: cache,
        };
        let caps =
            json!({"textDocument": {"completion": {"completionItem": {"snippetSupport": true}}}});
        let mut params = json!({"processId": null, "capabilities": caps});
        for (k, v) in workspace.as_object().expect("an object") {
            params[k] = v.clone();
        }
        let init = server.request("initialize", params);
        assert!(
            init["result"]["capabilities"]["hoverProvider"].as_bool() == Some(true),
            "{init}"
        );
        server.capabilities = init["result"]["capabilities"].clone();
        server.notify("initialized", json!({}));
        server
    }

    fn send_raw(&mut self, body: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
        stdin.flush().expect("flush");
    }

    fn send(&mut self, msg: Value) {
        self.send_raw(&msg.to_string());
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn next(&mut self) -> Value {
        self.incoming
            .recv_timeout(WAIT)
            .expect("a message from the server")
    }

    /// Sends a request and returns its response (notifications meanwhile are kept).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.response(id)
    }

    fn response(&mut self, id: i64) -> Value {
        loop {
            let msg = self.next();
            if msg.get("id") == Some(&json!(id)) && msg.get("method").is_none() {
                return msg;
            }
            self.pending.push_back(msg);
        }
    }

    /// The next `publishDiagnostics` for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        if let Some(i) = self.pending.iter().position(|m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        }) {
            let m = self.pending.remove(i).expect("present");
            return m["params"]["diagnostics"]
                .as_array()
                .cloned()
                .unwrap_or_default();
        }
        loop {
            let m = self.next();
            if m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri {
                return m["params"]["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
            self.pending.push_back(m);
        }
    }

    fn open(&mut self, uri: &str, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "sslp", "version": 1, "text": text}}),
        );
        self.diagnostics(uri)
    }

    fn at(&mut self, method: &str, uri: &str, line: u32, character: u32) -> Value {
        self.request(
            method,
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
        )
    }

    /// `shutdown`, `exit`, and the exit code.
    fn stop(mut self) -> Option<i32> {
        let r = self.request("shutdown", Value::Null);
        assert!(r.get("error").is_none(), "{r}");
        self.notify("exit", Value::Null);
        self.stdin.take();
        self.child.wait().expect("exits").code()
    }
}

/// A project folder with an `sslp.toml` and these files; returns the folder.
fn project(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sslp-lsp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("sslp.toml"), "").expect("marker");
    for (f, text) in files {
        std::fs::write(dir.join(f), text).expect("file");
    }
    dir.canonicalize().expect("canonical")
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// `line` and `character` of an LSP position.
fn pos(v: &Value) -> (u64, u64) {
    (
        v["line"].as_u64().expect("line"),
        v["character"].as_u64().expect("character"),
    )
}

#[test]
fn diagnostics_have_codes_utf16_ranges_and_quick_fixes_and_go_away_when_fixed() {
    let dir = project("diag", &[]);
    let file = uri(&dir.join("p.sslp"));
    let mut s = Server::start();
    // `é` is 2 bytes and 1 UTF-16 unit, `😀` 4 bytes and 2 units: the column of `temprature`
    // counts units.
    let broken = "let s = \"é😀\"\nmethod m = simclr(temprature: 0.5)\n";
    let diags = s.open(&file, broken);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert_eq!(d["code"], "sslp::check::unknown_argument");
    assert_eq!(d["severity"], 1);
    assert_eq!(pos(&d["range"]["start"]), (1, 18));
    assert_eq!(pos(&d["range"]["end"]), (1, 28));
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `temperature`?"),
        "{d}"
    );

    // UTF-16 columns on the line of a wide character.
    let wide = "let s = \"😀\" ++ nope\n";
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": file, "version": 2}, "contentChanges": [{"text": wide}]}),
    );
    let diags = s.diagnostics(&file);
    let undefined = diags
        .iter()
        .find(|d| d["code"] == "sslp::check::undefined_name")
        .unwrap_or_else(|| panic!("{diags:?}"));
    // `let s = "😀" ++ ` is 16 UTF-16 units (17 characters' bytes differ).
    assert_eq!(pos(&undefined["range"]["start"]), (0, 16));

    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": file, "version": 3}, "contentChanges": [{"text": broken}]}),
    );
    assert_eq!(s.diagnostics(&file).len(), 1);
    let actions = s.request(
        "textDocument/codeAction",
        json!({
            "textDocument": {"uri": file},
            "range": {"start": {"line": 1, "character": 20}, "end": {"line": 1, "character": 20}},
            "context": {"diagnostics": []}
        }),
    );
    let action = &actions["result"][0];
    assert_eq!(action["kind"], "quickfix", "{actions}");
    let edit = &action["edit"]["changes"][&file][0];
    assert_eq!(edit["newText"], "temperature");
    assert_eq!(pos(&edit["range"]["start"]), (1, 18));

    let fixed = "let s = \"é😀\"\nmethod m = simclr(temperature: 0.5)\n";
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": file, "version": 4}, "contentChanges": [{"text": fixed}]}),
    );
    assert_eq!(s.diagnostics(&file), Vec::<Value>::new());

    // Warnings come through with their severity; related spans as related information.
    let dup = "let a = 1\nlet a = 2\n";
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": file, "version": 5}, "contentChanges": [{"text": dup}]}),
    );
    let diags = s.diagnostics(&file);
    let d = diags
        .iter()
        .find(|d| d["code"] == "sslp::check::duplicate_name")
        .unwrap_or_else(|| panic!("{diags:?}"));
    let related = &d["relatedInformation"][0];
    assert_eq!(related["location"]["uri"], file);
    assert_eq!(pos(&related["location"]["range"]["start"]).0, 0);

    s.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": file}}),
    );
    assert_eq!(s.diagnostics(&file), Vec::<Value>::new());
    assert_eq!(s.stop(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hover_shows_the_registry_documentation() {
    let dir = project("hover", &[]);
    let file = uri(&dir.join("p.sslp"));
    let mut s = Server::start();
    let text = "method m = simclr(temperature: 0.5)\nlet t = sweep [0.1, 0.2]\n";
    s.open(&file, text);
    let h = s.at("textDocument/hover", &file, 0, 13);
    let value = h["result"]["contents"]["value"].as_str().expect("markdown");
    let simclr = sslp::lang::registry::schema_named("simclr").expect("simclr");
    assert!(
        value.contains(&sslp::lang::registry::explain(simclr)),
        "{value}"
    );
    assert_eq!(pos(&h["result"]["range"]["start"]), (0, 11));

    let h = s.at("textDocument/hover", &file, 0, 20);
    let value = h["result"]["contents"]["value"].as_str().expect("markdown");
    let (_, p) = simclr.param("temperature").expect("temperature");
    assert!(value.contains(p.doc), "{value}");
    assert!(value.contains("default `"), "{value}");

    let h = s.at("textDocument/hover", &file, 0, 7);
    let value = h["result"]["contents"]["value"].as_str().expect("markdown");
    assert!(value.contains("method m"), "{value}");

    let h = s.at("textDocument/hover", &file, 1, 4);
    let value = h["result"]["contents"]["value"].as_str().expect("markdown");
    assert!(value.contains("sweeps: `t` (0.1, 0.2)"), "{value}");

    // Nothing to say on a number.
    let h = s.at("textDocument/hover", &file, 0, 32);
    assert!(h["result"].is_null(), "{h}");
    assert_eq!(s.stop(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

fn labels(completion: &Value) -> Vec<String> {
    completion["result"]
        .as_array()
        .expect("a list of items")
        .iter()
        .map(|i| i["label"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn completion_offers_what_fits_the_context() {
    let dir = project("complete", &[]);
    let file = uri(&dir.join("p.sslp"));
    let mut s = Server::start();
    let text = "use std::policies::ssl_default\npretrain r {\n  method = \n}\nmethod m = simclr(temperature: 0.5, )\n\npolicy p = [\n";
    s.open(&file, text);

    let c = s.at("textDocument/completion", &file, 2, 11);
    let l = labels(&c);
    assert!(
        l.contains(&"simclr".into()) && l.contains(&"byol".into()),
        "{l:?}"
    );
    assert!(l.contains(&"m".into()), "a declared method: {l:?}");
    assert!(!l.contains(&"rotate".into()), "an op is no method: {l:?}");

    let c = s.at("textDocument/completion", &file, 4, 36);
    let items = c["result"].as_array().expect("items");
    let proj = items
        .iter()
        .find(|i| i["label"] == "proj_dim")
        .unwrap_or_else(|| panic!("{c}"));
    assert_eq!(proj["insertTextFormat"], 2);
    assert!(
        proj["insertText"]
            .as_str()
            .unwrap()
            .starts_with("proj_dim: ${1:"),
        "{proj}"
    );
    assert!(
        !labels(&c).contains(&"temperature".into()),
        "already written"
    );

    let c = s.at("textDocument/completion", &file, 5, 0);
    let l = labels(&c);
    for kw in ["dataset", "pretrain", "evaluate", "use", "set"] {
        assert!(l.contains(&kw.to_string()), "{kw}: {l:?}");
    }

    let c = s.at("textDocument/completion", &file, 7, 0);
    let l = labels(&c);
    assert!(
        l.contains(&"rotate".into()) && l.contains(&"ssl_default".into()),
        "{l:?}"
    );
    assert_eq!(s.stop(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn definition_follows_names_into_files_and_the_stdlib() {
    let dir = project(
        "definition",
        &[("lib.sslp", "# shared\npolicy mine = [rotate()]\n")],
    );
    let file = uri(&dir.join("p.sslp"));
    let mut s = Server::start();
    let text = "use std::policies::ssl_default\nuse \"lib.sslp\"::mine\npolicy a = ssl_default ++ mine\npolicy b = a\n";
    let diags = s.open(&file, text);
    assert!(diags.is_empty(), "{diags:?}");

    // Into the stdlib: a read-only copy of the embedded module.
    let d = s.at("textDocument/definition", &file, 2, 13);
    let target = d["result"]["uri"].as_str().expect("a location");
    assert!(target.ends_with("/std/policies.sslp"), "{target}");
    let path = target.strip_prefix("file://").expect("a file URI");
    let copy = std::fs::read_to_string(path).expect("the copy exists");
    let original = sslp::lang::modules::STDLIB
        .iter()
        .find(|(n, _)| *n == "std::policies")
        .expect("std::policies")
        .1;
    assert_eq!(copy, original);
    assert!(std::fs::metadata(path).unwrap().permissions().readonly());
    let line = pos(&d["result"]["range"]["start"]).0 as usize;
    assert!(
        original.lines().nth(line).unwrap().contains("ssl_default"),
        "line {line}"
    );

    // Into a file of the project.
    let d = s.at("textDocument/definition", &file, 2, 27);
    assert_eq!(d["result"]["uri"], uri(&dir.join("lib.sslp")));
    assert_eq!(pos(&d["result"]["range"]["start"]), (1, 7));

    // In the file itself.
    let d = s.at("textDocument/definition", &file, 3, 11);
    assert_eq!(d["result"]["uri"], file);
    assert_eq!(pos(&d["result"]["range"]["start"]), (2, 7));

    // References of `a`: its declaration and its use.
    let r = s.request(
        "textDocument/references",
        json!({"textDocument": {"uri": file}, "position": {"line": 2, "character": 7}, "context": {"includeDeclaration": true}}),
    );
    let found: Vec<(u64, u64)> = r["result"]
        .as_array()
        .expect("locations")
        .iter()
        .map(|l| pos(&l["range"]["start"]))
        .collect();
    assert_eq!(found, vec![(2, 7), (3, 11)]);

    // Rename of `a` edits both.
    let r = s.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": file}, "position": {"line": 3, "character": 11}, "newName": "combined"}),
    );
    let edits = r["result"]["changes"][&file].as_array().expect("edits");
    assert_eq!(edits.len(), 2, "{r}");
    assert!(edits.iter().all(|e| e["newText"] == "combined"));
    assert_eq!(s.stop(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// One semantic token, decoded: line, start column, length, type name, modifier names.
type Token = (u64, u64, u64, String, Vec<String>);

/// Decodes LSP's relative token encoding with the legend the server announced.
fn decode_tokens(data: &[Value], legend: &Value) -> Vec<Token> {
    let names = |key: &str| -> Vec<String> {
        legend[key]
            .as_array()
            .unwrap_or_else(|| panic!("legend {key}: {legend}"))
            .iter()
            .map(|t| t.as_str().expect("a name").to_string())
            .collect()
    };
    let (types, modifiers) = (names("tokenTypes"), names("tokenModifiers"));
    let data: Vec<u64> = data.iter().map(|v| v.as_u64().expect("u32")).collect();
    assert_eq!(data.len() % 5, 0, "{data:?}");
    let (mut line, mut col) = (0, 0);
    data.chunks(5)
        .map(|t| {
            line += t[0];
            col = if t[0] == 0 { col + t[1] } else { t[1] };
            let mods = (0..modifiers.len())
                .filter(|i| t[4] & (1 << i) != 0)
                .map(|i| modifiers[i].clone())
                .collect();
            (line, col, t[2], types[t[3] as usize].clone(), mods)
        })
        .collect()
}

#[test]
fn semantic_tokens_classify_each_word() {
    let dir = project("tokens", &[]);
    let file = uri(&dir.join("p.sslp"));
    let mut s = Server::start();
    let legend = s.capabilities["semanticTokensProvider"]["legend"].clone();
    let text = "# models\nmethod m = simclr(temperature: 0.5)\nlet s = \"hi\" # note\nevaluate k = knn(distance: cosine, backbone: m)\n";
    s.open(&file, text);
    let r = s.request(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": file}}),
    );
    let tokens = decode_tokens(r["result"]["data"].as_array().expect("data"), &legend);
    let t = |line, col, len, ty: &str, mods: &[&str]| -> Token {
        (
            line,
            col,
            len,
            ty.to_string(),
            mods.iter().map(|m| m.to_string()).collect(),
        )
    };
    let decl = &["declaration"][..];
    let expected = vec![
        t(0, 0, 8, "comment", &[]),
        t(1, 0, 6, "keyword", &[]),
        t(1, 7, 1, "variable", decl),
        t(1, 11, 6, "function", &[]),
        t(1, 18, 11, "parameter", &[]),
        t(1, 31, 3, "number", &[]),
        t(2, 0, 3, "keyword", &[]),
        t(2, 4, 1, "variable", decl),
        t(2, 8, 4, "string", &[]),
        t(2, 13, 6, "comment", &[]),
        t(3, 0, 8, "keyword", &[]),
        t(3, 9, 1, "variable", decl),
        t(3, 13, 3, "function", &[]),
        t(3, 17, 8, "parameter", &[]),
        t(3, 27, 6, "enumMember", &[]),
        t(3, 35, 8, "parameter", &[]),
        t(3, 45, 1, "variable", &[]),
    ];
    assert_eq!(tokens, expected);
    assert_eq!(s.stop(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn formatting_and_the_outline() {
    let dir = project("format", &[]);
    let file = uri(&dir.join("p.sslp"));
    let mut s = Server::start();
    let text = "policy   p=[rotate( degrees:10 )]\nsplit parts { data = d\n train = 0.5 }\ndataset d = synthetic_shapes(count: 64)\n";
    s.open(&file, text);
    let f = s.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": file}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let edits = f["result"].as_array().expect("edits");
    assert_eq!(edits.len(), 1, "{f}");
    let expected = sslp::lang::fmt::format_source(text).expect("formats");
    assert_eq!(edits[0]["newText"], expected);
    assert_eq!(pos(&edits[0]["range"]["start"]), (0, 0));
    assert_eq!(pos(&edits[0]["range"]["end"]), (4, 0));

    let symbols = s.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": file}}),
    );
    let names: Vec<&str> = symbols["result"]
        .as_array()
        .expect("symbols")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["p", "parts", "d"]);
    assert_eq!(symbols["result"][1]["children"][1]["name"], "train");

    // A file that does not parse gets no edits.
    s.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": file, "version": 2}, "contentChanges": [{"text": "policy p = [\n"}]}),
    );
    let f = s.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": file}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert!(f["result"].is_null() || f["result"] == json!([]), "{f}");
    assert_eq!(s.stop(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_requests_get_errors_and_the_server_goes_on() {
    let mut s = Server::start();
    let r = s.request("textDocument/hover", json!({"nonsense": true}));
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = s.request("sslp/unknown", json!({}));
    assert_eq!(r["error"]["code"], -32601, "{r}");
    // A body that is not a JSON-RPC message but has an id.
    s.send_raw(r#"{"jsonrpc": "2.0", "id": 99, "method": 5}"#);
    let r = s.response(99);
    assert_eq!(r["error"]["code"], -32600, "{r}");
    // Not JSON at all: ignored.
    s.send_raw("{{{ not json");
    // A position far outside the document, in a document that is not open.
    let r = s.at("textDocument/hover", "file:///nowhere.sslp", 9999, 9999);
    assert!(r["result"].is_null(), "{r}");
    let file = "file:///tmp/sslp-lsp-bad/p.sslp";
    s.open(file, "policy p = [rotate(degrees: )\n\u{0}\u{1}");
    let r = s.at("textDocument/hover", file, 0, 9999);
    assert!(r.get("error").is_none(), "{r}");
    let r = s.at("textDocument/completion", file, 99, 0);
    assert!(r.get("error").is_none(), "{r}");
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn exit_without_shutdown_is_an_error_exit() {
    let mut s = Server::start();
    s.notify("exit", Value::Null);
    s.stdin.take();
    assert_eq!(s.child.wait().expect("exits").code(), Some(1));
}

/// `(file name, line, character)` of every location, sorted.
fn places(r: &Value, dir: &Path) -> Vec<(String, u64, u64)> {
    let mut out: Vec<(String, u64, u64)> = r["result"]
        .as_array()
        .unwrap_or_else(|| panic!("locations: {r}"))
        .iter()
        .map(|l| {
            let u = l["uri"].as_str().expect("uri");
            let name = u
                .strip_prefix(&format!("{}/", uri(dir)))
                .unwrap_or_else(|| panic!("{u} outside the workspace"));
            let (line, col) = pos(&l["range"]["start"]);
            (name.to_string(), line, col)
        })
        .collect();
    out.sort();
    out
}

/// `text` with LSP text edits applied (ASCII text: columns are bytes).
fn apply(text: &str, edits: &Value) -> String {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset = |p: &Value| {
        let (line, col) = pos(p);
        starts[line as usize] + col as usize
    };
    let mut edits: Vec<(usize, usize, String)> = edits
        .as_array()
        .expect("edits")
        .iter()
        .map(|e| {
            (
                offset(&e["range"]["start"]),
                offset(&e["range"]["end"]),
                e["newText"].as_str().expect("text").to_string(),
            )
        })
        .collect();
    edits.sort();
    let mut out = text.to_string();
    for (a, b, t) in edits.into_iter().rev() {
        out.replace_range(a..b, &t);
    }
    out
}

#[test]
fn references_and_rename_cross_the_files_that_import_a_declaration() {
    let lib = "policy house = [rotate(degrees: 10)]\npolicy other = house ++ [solarize(threshold: 0.5)]\n";
    let a = "use \"lib.sslp\"::{house, other}\nuse std::policies::ssl_default\npolicy mine = house ++ other ++ ssl_default\npolicy twice = house\n";
    // Neither is opened: read from disk under the workspace folder.
    let c = "use \"lib.sslp\"::house\npolicy q = [rotate()] ++ house\n";
    let b = "use \"../lib.sslp\"::{house as h}\npolicy p = h\n";
    let dir = project(
        "workspace",
        &[("lib.sslp", lib), ("a.sslp", a), ("c.sslp", c)],
    );
    std::fs::create_dir_all(dir.join("sub")).expect("sub");
    std::fs::write(dir.join("sub/b.sslp"), b).expect("b");
    // Not under the workspace folder: never read.
    let outside = project(
        "workspace-outside",
        &[("x.sslp", "use \"y.sslp\"::house\n")],
    );
    let (lib_uri, a_uri, b_uri) = (
        uri(&dir.join("lib.sslp")),
        uri(&dir.join("a.sslp")),
        uri(&dir.join("sub/b.sslp")),
    );
    let mut s = Server::start_with(
        json!({"workspaceFolders": [{"uri": uri(&dir), "name": "w"}], "rootUri": uri(&dir)}),
    );
    assert_eq!(s.open(&lib_uri, lib), Vec::<Value>::new());
    assert_eq!(s.open(&a_uri, a), Vec::<Value>::new());

    let refs = |s: &mut Server, file: &str, line, character, decl: bool| {
        let r = s.request(
            "textDocument/references",
            json!({"textDocument": {"uri": file}, "position": {"line": line, "character": character},
                   "context": {"includeDeclaration": decl}}),
        );
        places(&r, &dir)
    };
    let p = |f: &str, l, c| (f.to_string(), l, c);
    let everywhere = vec![
        p("a.sslp", 0, 17),
        p("a.sslp", 2, 14),
        p("a.sslp", 3, 15),
        p("c.sslp", 0, 16),
        p("c.sslp", 1, 25),
        p("lib.sslp", 0, 7),
        p("lib.sslp", 1, 15),
        // The aliased import: the imported word, the alias and its use.
        p("sub/b.sslp", 0, 20),
        p("sub/b.sslp", 0, 29),
        p("sub/b.sslp", 1, 11),
    ];
    // From the declaration, from a use in an importing file, from the `use` list entry.
    assert_eq!(refs(&mut s, &lib_uri, 0, 8, true), everywhere);
    assert_eq!(refs(&mut s, &a_uri, 2, 15, true), everywhere);
    assert_eq!(refs(&mut s, &a_uri, 0, 18, true), everywhere);
    let without_decl: Vec<_> = everywhere
        .iter()
        .filter(|l| **l != p("lib.sslp", 0, 7))
        .cloned()
        .collect();
    assert_eq!(refs(&mut s, &a_uri, 3, 16, false), without_decl);

    // Rename from a use in an importing file: the declaration, every `use` entry and every
    // use spelled `house`; the alias `h` and its use stay.
    let r = s.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": a_uri}, "position": {"line": 2, "character": 15}, "newName": "home"}),
    );
    let changes = r["result"]["changes"]
        .as_object()
        .unwrap_or_else(|| panic!("{r}"));
    let mut files: Vec<&str> = changes.keys().map(String::as_str).collect();
    files.sort();
    let c_uri = uri(&dir.join("c.sslp"));
    let mut expected_files = vec![
        a_uri.as_str(),
        c_uri.as_str(),
        lib_uri.as_str(),
        b_uri.as_str(),
    ];
    expected_files.sort();
    assert_eq!(files, expected_files, "{r}");
    assert_eq!(apply(lib, &changes[&lib_uri]), lib.replace("house", "home"));
    assert_eq!(apply(a, &changes[&a_uri]), a.replace("house", "home"));
    assert_eq!(apply(c, &changes[&c_uri]), c.replace("house", "home"));
    assert_eq!(
        apply(b, &changes[&b_uri]),
        "use \"../lib.sslp\"::{home as h}\npolicy p = h\n"
    );
    // Renaming prepares on the use list entry.
    let r = s.at("textDocument/prepareRename", &a_uri, 0, 19);
    assert_eq!(pos(&r["result"]["start"]), (0, 17), "{r}");

    // A name bound in a file the rename touches (open or read from disk) is refused.
    for (new, file) in [("q", "c.sslp"), ("mine", "a.sslp")] {
        let r = s.request(
            "textDocument/rename",
            json!({"textDocument": {"uri": lib_uri}, "position": {"line": 0, "character": 7}, "newName": new}),
        );
        let message = r["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{r}"));
        assert!(
            message.contains(&format!("`{new}` is already declared or imported in"))
                && message.ends_with(file),
            "{message}"
        );
    }

    // Stdlib declarations are read-only: rename and prepareRename are refused.
    let r = s.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": a_uri}, "position": {"line": 2, "character": 35}, "newName": "mine2"}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let message = r["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains(
            "`ssl_default` is declared in the stdlib module `std::policies`, which is read-only"
        ),
        "{message}"
    );
    let r = s.at("textDocument/prepareRename", &a_uri, 1, 22);
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("read-only")),
        "{r}"
    );

    // A local alias is renamed in its file alone.
    assert_eq!(s.open(&b_uri, b), Vec::<Value>::new());
    let r = s.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": b_uri}, "position": {"line": 1, "character": 11}, "newName": "hh"}),
    );
    let changes = r["result"]["changes"]
        .as_object()
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(changes.len(), 1, "{r}");
    assert_eq!(
        apply(b, &changes[&b_uri]),
        "use \"../lib.sslp\"::{house as hh}\npolicy p = hh\n"
    );
    assert_eq!(s.stop(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&outside);
}
