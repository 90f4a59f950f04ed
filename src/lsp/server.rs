//! The server loop: JSON-RPC over stdio with Content-Length framing, the `initialize`
//! handshake, and dispatch of every request and notification to its module. Requests with
//! parameters that do not parse get an `InvalidParams` error, unknown methods
//! `MethodNotFound`, and a handler that panics `InternalError` — the server goes on.

use super::document::{Document, path_of};
use super::{completion, diagnostics, formatting, hover, navigation, tokens, workspace};
use crossbeam_channel::{Receiver, Sender, bounded};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types as lsp;
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// Largest message body read (bytes); a bigger Content-Length is refused unread.
const MAX_MESSAGE: usize = 64 << 20;

/// How the session ended, for the exit code: `exit` after `shutdown` is a clean end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `shutdown`, then `exit`.
    Clean,
    /// `exit` without `shutdown`, or the input closed.
    Abrupt,
}

/// Runs the language server on stdin/stdout until `exit` (or the input closes).
pub fn run() -> Ending {
    let (connection, [reader, writer]) = stdio();
    let ending = main_loop(&connection);
    drop(connection);
    // The reader thread ends at `exit` or at the end of the input, and the writer once every
    // message is written.
    let _ = reader.join();
    let _ = writer.join();
    ending
}

/// One framed message body, or `None` at the end of the input. Headers other than
/// Content-Length are ignored; a malformed header line is skipped.
fn read_frame(input: &mut impl BufRead) -> std::io::Result<Option<Result<String, String>>> {
    let mut size: Option<usize> = None;
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            if size.is_some() {
                break;
            }
            continue;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("Content-Length")
        {
            size = value.trim().parse().ok();
        }
    }
    let size = size.unwrap_or(0);
    if size > MAX_MESSAGE {
        // Skip the body without keeping it.
        std::io::copy(&mut (&mut *input).take(size as u64), &mut std::io::sink())?;
        return Ok(Some(Err(format!("a message of {size} bytes is too large"))));
    }
    let mut body = vec![0; size];
    input.read_exact(&mut body)?;
    Ok(Some(
        String::from_utf8(body).map_err(|_| "a message that is not UTF-8".to_string()),
    ))
}

/// The transport: a reader thread that frames and decodes messages (answering what it
/// cannot decode), and a writer thread.
fn stdio() -> (Connection, [std::thread::JoinHandle<()>; 2]) {
    let (to_writer, from_server): (Sender<Message>, Receiver<Message>) = bounded(16);
    let (to_server, from_reader) = bounded::<Message>(16);
    let writer = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for m in from_server {
            if m.write(&mut out).is_err() {
                break;
            }
        }
        let _ = out.flush();
    });
    let errors = to_writer.clone();
    let reader = std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        while let Ok(Some(frame)) = read_frame(&mut input) {
            let text = match frame {
                Ok(t) => t,
                Err(why) => {
                    eprintln!("sslp lsp: ignored {why}");
                    continue;
                }
            };
            // Anything with an `id` reads as a response: one with a `method` is a request
            // whose other fields are wrong.
            let value = serde_json::from_str::<serde_json::Value>(&text);
            let malformed_request = value
                .as_ref()
                .is_ok_and(|v| v.get("method").is_some_and(|m| !m.is_string()));
            let parsed = match value {
                Ok(_) if malformed_request => {
                    Err(serde::de::Error::custom("`method` is not a string"))
                }
                Ok(v) => serde_json::from_value::<Message>(v),
                Err(e) => Err(e),
            };
            match parsed {
                Ok(msg) => {
                    let exit = matches!(&msg, Message::Notification(n) if n.method == "exit");
                    if to_server.send(msg).is_err() || exit {
                        break;
                    }
                }
                Err(e) => {
                    // A request we cannot read still gets an answer when it has an id.
                    let id = serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| match v.get("id") {
                            Some(serde_json::Value::Number(n)) => {
                                n.as_i64().map(|n| RequestId::from(n as i32))
                            }
                            Some(serde_json::Value::String(s)) => Some(RequestId::from(s.clone())),
                            _ => None,
                        });
                    match id {
                        Some(id) => {
                            let _ = errors.send(Message::Response(Response::new_err(
                                id,
                                ErrorCode::InvalidRequest as i32,
                                format!("not a JSON-RPC message: {e}"),
                            )));
                        }
                        None => eprintln!("sslp lsp: ignored a malformed message: {e}"),
                    }
                }
            }
        }
    });
    (
        Connection {
            sender: to_writer,
            receiver: from_reader,
        },
        [reader, writer],
    )
}

/// What the server can do.
fn capabilities() -> lsp::ServerCapabilities {
    lsp::ServerCapabilities {
        text_document_sync: Some(lsp::TextDocumentSyncCapability::Options(
            lsp::TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(lsp::TextDocumentSyncKind::FULL),
                ..Default::default()
            },
        )),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        completion_provider: Some(lsp::CompletionOptions {
            trigger_characters: Some(
                [".", "(", ",", ":", "=", "[", "@"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            ..Default::default()
        }),
        definition_provider: Some(lsp::OneOf::Left(true)),
        references_provider: Some(lsp::OneOf::Left(true)),
        document_formatting_provider: Some(lsp::OneOf::Left(true)),
        document_symbol_provider: Some(lsp::OneOf::Left(true)),
        code_action_provider: Some(lsp::CodeActionProviderCapability::Options(
            lsp::CodeActionOptions {
                code_action_kinds: Some(vec![lsp::CodeActionKind::QUICKFIX]),
                ..Default::default()
            },
        )),
        rename_provider: Some(lsp::OneOf::Right(lsp::RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        semantic_tokens_provider: Some(
            lsp::SemanticTokensServerCapabilities::SemanticTokensOptions(
                lsp::SemanticTokensOptions {
                    legend: tokens::legend(),
                    full: Some(lsp::SemanticTokensFullOptions::Bool(true)),
                    ..Default::default()
                },
            ),
        ),
        ..Default::default()
    }
}

/// The open documents and what the client can take.
struct State {
    docs: HashMap<lsp::Url, Document>,
    snippets: bool,
    /// The workspace folders given at `initialize`, searched by references and rename.
    roots: Vec<PathBuf>,
}

impl State {
    /// Canonical path → text of every open document but `except`.
    fn open_texts(&self, except: &lsp::Url) -> HashMap<PathBuf, String> {
        self.docs
            .values()
            .filter(|d| &d.uri != except)
            .map(|d| (d.canonical_path(), d.text.clone()))
            .collect()
    }
}

/// The workspace folders of `initialize` (`workspaceFolders`, else `rootUri`, else
/// `rootPath`) that are local folders.
fn roots(params: &lsp::InitializeParams) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = params
        .workspace_folders
        .iter()
        .flatten()
        .filter_map(|f| f.uri.to_file_path().ok())
        .collect();
    #[allow(deprecated)]
    if out.is_empty() {
        if let Some(p) = params.root_uri.as_ref().and_then(|u| u.to_file_path().ok()) {
            out.push(p);
        } else if let Some(p) = &params.root_path {
            out.push(PathBuf::from(p));
        }
    }
    out.into_iter()
        .filter_map(|p| p.canonicalize().ok())
        .filter(|p| p.is_dir())
        .collect()
}

fn main_loop(connection: &Connection) -> Ending {
    // The handshake: everything before `initialize` is refused.
    let mut state = State {
        docs: HashMap::new(),
        snippets: false,
        roots: vec![],
    };
    loop {
        let Ok(msg) = connection.receiver.recv() else {
            return Ending::Abrupt;
        };
        match msg {
            Message::Request(req) if req.method == lsp::request::Initialize::METHOD => {
                match serde_json::from_value::<lsp::InitializeParams>(req.params) {
                    Ok(params) => {
                        state.snippets = params
                            .capabilities
                            .text_document
                            .as_ref()
                            .and_then(|t| t.completion.as_ref())
                            .and_then(|c| c.completion_item.as_ref())
                            .and_then(|i| i.snippet_support)
                            .unwrap_or(false);
                        state.roots = roots(&params);
                        let result = lsp::InitializeResult {
                            capabilities: capabilities(),
                            server_info: Some(lsp::ServerInfo {
                                name: "sslp".into(),
                                version: Some(env!("CARGO_PKG_VERSION").into()),
                            }),
                        };
                        send(connection, Response::new_ok(req.id, result));
                        break;
                    }
                    Err(e) => send(
                        connection,
                        Response::new_err(
                            req.id,
                            ErrorCode::InvalidParams as i32,
                            format!("bad initialize parameters: {e}"),
                        ),
                    ),
                }
            }
            Message::Request(req) => send(
                connection,
                Response::new_err(
                    req.id,
                    ErrorCode::ServerNotInitialized as i32,
                    "the server is not initialized".into(),
                ),
            ),
            Message::Notification(n) if n.method == "exit" => return Ending::Abrupt,
            _ => {}
        }
    }
    let mut shut_down = false;
    for msg in &connection.receiver {
        match msg {
            Message::Request(req) => {
                if shut_down {
                    send(
                        connection,
                        Response::new_err(
                            req.id,
                            ErrorCode::InvalidRequest as i32,
                            "the server is shutting down".into(),
                        ),
                    );
                } else if req.method == lsp::request::Shutdown::METHOD {
                    shut_down = true;
                    send(connection, Response::new_ok(req.id, ()));
                } else {
                    let response = request(&state, req);
                    send(connection, response);
                }
            }
            Message::Notification(n) => {
                if n.method == lsp::notification::Exit::METHOD {
                    return if shut_down {
                        Ending::Clean
                    } else {
                        Ending::Abrupt
                    };
                }
                let method = n.method.clone();
                let outcome =
                    catch_unwind(AssertUnwindSafe(|| notification(connection, &mut state, n)));
                if outcome.is_err() {
                    eprintln!("sslp lsp: the handler of `{method}` failed");
                }
            }
            Message::Response(_) => {}
        }
    }
    Ending::Abrupt
}

fn send(connection: &Connection, msg: impl Into<Message>) {
    let _ = connection.sender.send(msg.into());
}

/// Runs `f` on the request's parameters: an error response when they do not parse or the
/// handler panics.
fn respond<P: DeserializeOwned, R: Serialize>(req: Request, f: impl FnOnce(P) -> R) -> Response {
    let params = match serde_json::from_value::<P>(req.params) {
        Ok(p) => p,
        Err(e) => {
            return Response::new_err(
                req.id,
                ErrorCode::InvalidParams as i32,
                format!("bad parameters for `{}`: {e}", req.method),
            );
        }
    };
    match catch_unwind(AssertUnwindSafe(|| f(params))) {
        Ok(result) => Response::new_ok(req.id, result),
        Err(_) => Response::new_err(
            req.id,
            ErrorCode::InternalError as i32,
            format!("the handler of `{}` failed", req.method),
        ),
    }
}

fn request(state: &State, req: Request) -> Response {
    use lsp::request::*;
    let docs = &state.docs;
    match req.method.as_str() {
        HoverRequest::METHOD => respond(req, |p: lsp::HoverParams| {
            let at = p.text_document_position_params;
            docs.get(&at.text_document.uri)
                .and_then(|d| hover::hover(d, at.position))
        }),
        Completion::METHOD => respond(req, |p: lsp::CompletionParams| {
            let at = p.text_document_position;
            docs.get(&at.text_document.uri).map(|d| {
                lsp::CompletionResponse::Array(completion::complete(d, at.position, state.snippets))
            })
        }),
        GotoDefinition::METHOD => respond(req, |p: lsp::GotoDefinitionParams| {
            let at = p.text_document_position_params;
            docs.get(&at.text_document.uri)
                .and_then(|d| navigation::definition(d, at.position))
                .map(lsp::GotoDefinitionResponse::Scalar)
        }),
        References::METHOD => respond(req, |p: lsp::ReferenceParams| {
            let at = p.text_document_position;
            docs.get(&at.text_document.uri).map(|d| {
                workspace::references(
                    docs,
                    &state.roots,
                    d,
                    at.position,
                    p.context.include_declaration,
                )
            })
        }),
        PrepareRenameRequest::METHOD => {
            let id = req.id.clone();
            let mut failure = None;
            let response = respond(req, |p: lsp::TextDocumentPositionParams| {
                let doc = docs.get(&p.text_document.uri)?;
                workspace::prepare_rename(doc, p.position).unwrap_or_else(|why| {
                    failure = Some(why);
                    None
                })
            });
            match failure {
                Some(why) => Response::new_err(id, ErrorCode::InvalidRequest as i32, why),
                None => response,
            }
        }
        Rename::METHOD => {
            let id = req.id.clone();
            let mut failure = None;
            let response = respond(req, |p: lsp::RenameParams| {
                let at = p.text_document_position;
                let doc = docs.get(&at.text_document.uri)?;
                match workspace::rename(docs, &state.roots, doc, at.position, &p.new_name) {
                    Ok(edit) => edit,
                    Err(why) => {
                        failure = Some(why);
                        None
                    }
                }
            });
            match failure {
                Some(why) => Response::new_err(id, ErrorCode::InvalidParams as i32, why),
                None => response,
            }
        }
        Formatting::METHOD => respond(req, |p: lsp::DocumentFormattingParams| {
            docs.get(&p.text_document.uri).and_then(formatting::format)
        }),
        DocumentSymbolRequest::METHOD => respond(req, |p: lsp::DocumentSymbolParams| {
            docs.get(&p.text_document.uri)
                .map(|d| lsp::DocumentSymbolResponse::Nested(formatting::symbols(d)))
        }),
        CodeActionRequest::METHOD => respond(req, |p: lsp::CodeActionParams| {
            docs.get(&p.text_document.uri)
                .map(|d| diagnostics::code_actions(d, p.range))
        }),
        SemanticTokensFullRequest::METHOD => respond(req, |p: lsp::SemanticTokensParams| {
            docs.get(&p.text_document.uri)
                .map(|d| lsp::SemanticTokensResult::Tokens(tokens::full(d)))
        }),
        _ => Response::new_err(
            req.id,
            ErrorCode::MethodNotFound as i32,
            format!("`{}` is not supported", req.method),
        ),
    }
}

fn publish(connection: &Connection, doc: &Document) {
    let params = lsp::PublishDiagnosticsParams {
        uri: doc.uri.clone(),
        diagnostics: diagnostics::of(doc),
        version: Some(doc.version),
    };
    send(
        connection,
        Notification::new(lsp::notification::PublishDiagnostics::METHOD.into(), params),
    );
}

/// Checks again every other open document that reads `changed`, and publishes.
fn refresh_dependents(connection: &Connection, state: &mut State, changed: &lsp::Url) {
    let Some(doc) = state.docs.get(changed) else {
        return;
    };
    let id = doc.canonical_path().display().to_string();
    let dependents: Vec<lsp::Url> = state
        .docs
        .values()
        .filter(|d| &d.uri != changed && d.analysis.reads(&id))
        .map(|d| d.uri.clone())
        .collect();
    for uri in dependents {
        let open = state.open_texts(&uri);
        if let Some(d) = state.docs.get_mut(&uri) {
            d.refresh(&open);
            publish(connection, d);
        }
    }
}

fn notification(connection: &Connection, state: &mut State, n: Notification) {
    use lsp::notification::*;
    match n.method.as_str() {
        DidOpenTextDocument::METHOD => {
            let Ok(p) = serde_json::from_value::<lsp::DidOpenTextDocumentParams>(n.params) else {
                return;
            };
            let item = p.text_document;
            let open = state.open_texts(&item.uri);
            let doc = Document::new(item.uri.clone(), item.text, item.version, &open);
            publish(connection, &doc);
            state.docs.insert(item.uri.clone(), doc);
            refresh_dependents(connection, state, &item.uri);
        }
        DidChangeTextDocument::METHOD => {
            let Ok(p) = serde_json::from_value::<lsp::DidChangeTextDocumentParams>(n.params) else {
                return;
            };
            let uri = p.text_document.uri;
            let open = state.open_texts(&uri);
            let Some(doc) = state.docs.get_mut(&uri) else {
                return;
            };
            let mut text = doc.text.clone();
            for change in p.content_changes {
                match change.range {
                    None => text = change.text,
                    Some(range) => {
                        let index = super::position::LineIndex::new(&text);
                        let r = index.byte_range(&text, range);
                        text.replace_range(r, &change.text);
                    }
                }
            }
            doc.update(text, p.text_document.version, &open);
            publish(connection, doc);
            refresh_dependents(connection, state, &uri);
        }
        DidCloseTextDocument::METHOD => {
            let Ok(p) = serde_json::from_value::<lsp::DidCloseTextDocumentParams>(n.params) else {
                return;
            };
            let uri = p.text_document.uri;
            if state.docs.remove(&uri).is_some() {
                let params = lsp::PublishDiagnosticsParams {
                    uri: uri.clone(),
                    diagnostics: vec![],
                    version: None,
                };
                send(
                    connection,
                    lsp_server::Notification::new(PublishDiagnostics::METHOD.into(), params),
                );
                // Dependents read the file from disk again.
                let path = path_of(&uri);
                let id = path.canonicalize().unwrap_or(path).display().to_string();
                let dependents: Vec<lsp::Url> = state
                    .docs
                    .values()
                    .filter(|d| d.analysis.reads(&id))
                    .map(|d| d.uri.clone())
                    .collect();
                for dep in dependents {
                    let open = state.open_texts(&dep);
                    if let Some(d) = state.docs.get_mut(&dep) {
                        d.refresh(&open);
                        publish(connection, d);
                    }
                }
            }
        }
        _ => {}
    }
}
