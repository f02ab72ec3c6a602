//! The LSP front door: the only module that knows LSP types. Each handler converts positions and
//! parameters through `convert`, calls one engine operation, and converts the answer back.
//!
//! Handlers never panic the server: each request runs under [`Backend::guard`], which turns a
//! panic into a JSON-RPC internal error for that one request, and which refuses a request at once
//! when [`MAX_RUNNING_REQUESTS`] are already running, so that notifications (keystrokes, cancels)
//! are never queued behind requests that wait for a model or for the user.

mod actions;
mod convert;
mod index;
mod stdio;
mod symbols;
mod transport;

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_lsp_server::{
    Client, LanguageServer, LspService, Server,
    gen_lsp_types::*,
    jsonrpc::{Error, ErrorCode, Result},
};

use crate::{
    completion::inline::{InlineAnswer, InlineOutcome, InlineRequest},
    config::{self, Layer, Problem},
    documents::{DocumentError, Encoding},
    engine::Accepted,
    engine::{Engine, EngineError},
    providers::{Task, router::Availability},
};

/// Requests that may run at once; more are answered with an error straight away. A request can
/// run for long: an inline completion waits for the model, an explanation streams for a minute, a
/// consent prompt waits for the user.
const MAX_RUNNING_REQUESTS: usize = 64;
/// tower-lsp-server's own limit on messages being handled counts notifications too, and once it
/// is reached it stops reading stdin: the server hears no keystroke and no `$/cancelRequest` until
/// a running request ends (with its default of 4, four completions waiting for a cold HTTP client
/// stopped typing for 50 ms). Kept well above [`MAX_RUNNING_REQUESTS`], so the requests that may
/// run never fill it and a notification always finds a free place.
const TRANSPORT_CONCURRENCY: usize = 4 * MAX_RUNNING_REQUESTS;
/// JSON-RPC `RequestFailed` (LSP 3.17).
const REQUEST_FAILED: i64 = -32803;

pub const COMMANDS: &[&str] =
    &["switchboard.accept", "switchboard.runAction", "switchboard.doctor", "switchboard.stats"];

/// What the server learnt at `initialize`.
#[derive(Debug, Default)]
struct Session {
    encoding: Encoding,
    root: Option<PathBuf>,
    /// Layers from files (user, workspace) and `initializationOptions`; `didChangeConfiguration`
    /// replaces `editor_settings`.
    file_layers: Vec<Layer>,
    init_layer: Option<Layer>,
    editor_settings: Option<Layer>,
    /// Problems found in the last load, reported once in `initialized`.
    pending_problems: Vec<Problem>,
    /// The client renders `switchboard/explanation` notifications (our editor plugins announce
    /// `experimental.switchboard.explanationView`); plain clients get a markdown document instead.
    explanation_view: bool,
    /// The client shows `switchboard/status` notifications.
    status_view: bool,
    /// The client supports `window/workDoneProgress/create`.
    work_done_progress: bool,
    /// The client lets us register for `workspace/didChangeWatchedFiles`.
    watch_files: bool,
    /// The client can open documents (`window/showDocument`).
    show_document: bool,
    /// How an edit action's WorkspaceEdit reaches the client.
    edit_delivery: EditDelivery,
    /// The user was told once that a `didChange` was refused.
    refused_change_shown: bool,
    /// The client takes nested `DocumentSymbol[]` (else flat `SymbolInformation[]`).
    hierarchical_symbols: bool,
}

pub struct Backend {
    pub(crate) client: Client,
    pub(crate) engine: Arc<Engine>,
    session: Mutex<Session>,
    /// Set by `shutdown`: the exit code depends on it (LSP: 0 after shutdown, else 1).
    shut_down: Arc<AtomicBool>,
    /// Requests running now (see [`MAX_RUNNING_REQUESTS`]).
    running: AtomicUsize,
}

impl Backend {
    pub fn new(client: Client, engine: Arc<Engine>) -> Backend {
        Backend {
            client,
            engine,
            session: Mutex::new(Session::default()),
            shut_down: Arc::default(),
            running: AtomicUsize::new(0),
        }
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn encoding(&self) -> Encoding {
        self.session().encoding
    }

    pub(crate) fn root(&self) -> Option<PathBuf> {
        self.session().root.clone()
    }

    /// What the client can display: (explanation view, status, work-done progress, showDocument).
    pub(crate) fn client_features(&self) -> ClientFeatures {
        let s = self.session();
        ClientFeatures {
            explanation_view: s.explanation_view,
            work_done_progress: s.work_done_progress,
            show_document: s.show_document,
            edit_delivery: s.edit_delivery,
        }
    }

    /// Rebuilds the configuration from the current layers; returns the problems to report.
    fn reload_config(&self, mut problems: Vec<Problem>) -> Vec<Problem> {
        let layers: Vec<Layer> = {
            let s = self.session();
            s.file_layers.iter().chain(s.init_layer.iter()).chain(s.editor_settings.iter()).cloned().collect()
        };
        let config = config::build(&layers, &mut problems);
        problems.extend(self.engine.set_config(config));
        problems
    }

    /// Tells plugins that show it (`experimental.switchboard.status`) who served the last request.
    pub(crate) async fn send_status(&self, task: &str, answer: Option<&InlineAnswer>, error: Option<String>) {
        self.send_status_for(None, task, answer, error).await;
    }

    /// [`Backend::send_status`] for a document: adds `"privacy": "excluded" | "local-only"` when
    /// its content may not go upstream.
    pub(crate) async fn send_status_for(
        &self,
        uri: Option<&str>,
        task: &str,
        answer: Option<&InlineAnswer>,
        error: Option<String>,
    ) {
        if !self.session().status_view {
            return;
        }
        // A provider the router set aside is news for the status bar even when the answer came from
        // further down the route.
        let error = error.or_else(|| {
            let statuses = self.engine.upstream().router.breakers().statuses(tokio::time::Instant::now());
            statuses.into_iter().find(|s| !matches!(s.availability, Availability::Ready)).map(|s| {
                match s.availability {
                    Availability::Disabled { reason } => reason,
                    _ => format!("{} set aside after repeated failures: {}", s.name, s.last_error.unwrap_or_default()),
                }
            })
        });
        let params = serde_json::json!({
            "task": task,
            "provider": answer.map(|a| a.provider.clone()),
            "model": answer.map(|a| a.model.clone()),
            "latencyMs": answer.map(|a| a.latency.as_millis() as u64),
            "error": error,
            "privacy": uri.and_then(|u| self.engine.privacy_verdict(u)).and_then(|v| v.label()),
        });
        self.client.send_notification::<StatusNotification>(params).await;
    }

    /// Tells the user, once, about a provider the router set aside for good (a rejected key). A key
    /// that is simply not set is normal for local-only use: that goes to the log, not a pop-up.
    pub(crate) async fn flush_notices(&self) {
        for notice in self.engine.upstream().router.breakers().take_notices() {
            if notice.contains("is not set") {
                self.client.log_message(MessageType::Info, format!("Switchboard: {notice}")).await;
            } else {
                self.client.show_message(MessageType::Warning, format!("Switchboard: {notice}")).await;
            }
        }
    }

    /// A `didChange` batch that could not apply: the log and the client's log every time, a
    /// pop-up once per session (the editor and the server now disagree on the text until the
    /// next full sync, e.g. reopening the file).
    async fn report_refused_change(&self, why: String) {
        tracing::warn!("didChange: {why}");
        self.client.log_message(MessageType::Warning, format!("Switchboard: {why}")).await;
        let first = !std::mem::replace(&mut self.session().refused_change_shown, true);
        if first {
            let hint = "Switchboard refused an edit it could not apply and may now see different text than the \
                        editor; reopen the file to resynchronise (details in the log).";
            self.client.show_message(MessageType::Warning, hint).await;
        }
    }

    async fn report_problems(&self, problems: &[Problem]) {
        if problems.is_empty() {
            return;
        }
        for p in problems {
            tracing::warn!("config: {p}");
        }
        let kind = if problems.iter().any(|p| p.is_error) { MessageType::Error } else { MessageType::Warning };
        let body = problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        self.client.show_message(kind, format!("Switchboard configuration:\n{body}")).await;
    }

    async fn progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        actions::progress_cancel(self, params).await;
    }

    /// Answers a message the transport guard could not pass on (see `transport`).
    async fn invalid_message(&self, params: InvalidMessageParams) -> Result<()> {
        Err(Error { code: ErrorCode::from(params.code), message: params.reason.into(), data: None })
    }

    /// The `switchboard/documentText` request: the server's copy of a document, for tests and for
    /// debugging sync problems in editors.
    async fn document_text(&self, params: DocumentTextParams) -> Result<DocumentTextResult> {
        self.guard(async {
            let (text, version) = self.engine.text(&params.text_document.uri.0).map_err(engine_error)?;
            Ok(DocumentTextResult { text, version })
        })
        .await
    }
}

/// `switchboard/status`: which provider served the last request, how fast, or what failed.
pub enum StatusNotification {}

impl Notification for StatusNotification {
    type Params = Value;
    const METHOD: LspNotificationMethod<'static> = LspNotificationMethod::new("switchboard/status");
    const MESSAGE_DIRECTION: MessageDirection = MessageDirection::ServerToClient;
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientFeatures {
    pub explanation_view: bool,
    pub work_done_progress: bool,
    pub show_document: bool,
    pub edit_delivery: EditDelivery,
}

/// How edit actions (refactor, fix, docs, tests) hand their WorkspaceEdit to the client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum EditDelivery {
    /// `codeAction/resolve` fills in `edit` (the client resolves it lazily): listing stays free.
    #[default]
    Resolve,
    /// No lazy `edit`: the action carries the `switchboard.runAction` command, and the server
    /// sends the edit with `workspace/applyEdit`.
    ApplyEdit,
    /// Neither: edit actions cannot reach this client, so only Explain is offered.
    Unsupported,
}

#[derive(Debug, Deserialize)]
pub struct InvalidMessageParams {
    code: i64,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentTextParams {
    text_document: TextDocumentIdentifier,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentTextResult {
    text: String,
    version: i32,
}

/// One running request; the count goes down when the handler ends or is dropped (cancelled).
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Backend {
    /// Runs a request handler: refuses it at once when [`MAX_RUNNING_REQUESTS`] are running
    /// already, and turns a panic into an internal error instead of killing the server.
    async fn guard<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        let running = self.running.fetch_add(1, Ordering::SeqCst);
        let _slot = Running(&self.running);
        if running >= MAX_RUNNING_REQUESTS {
            tracing::warn!("refused a request: {MAX_RUNNING_REQUESTS} requests are running already");
            return Err(Error {
                code: ErrorCode::ServerError(REQUEST_FAILED),
                message: format!(
                    "Switchboard is busy: {MAX_RUNNING_REQUESTS} requests are still running (model answers, \
                     code actions, prompts waiting for you); try again when one has finished, or cancel some"
                )
                .into(),
                data: None,
            });
        }
        catch_panics(fut).await
    }
}

/// Turns a panic in a handler into an internal error instead of killing the server.
async fn catch_panics<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!("handler panicked: {what}");
            Err(Error { code: ErrorCode::InternalError, message: format!("internal error: {what}").into(), data: None })
        }
    }
}

/// Notification handlers run to completion synchronously so edits apply in arrival order.
fn guard_sync(what: &str, f: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(f)) {
        let msg =
            panic.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| panic.downcast_ref::<String>().cloned());
        tracing::error!("{what} panicked: {}", msg.unwrap_or_default());
    }
}

fn engine_error(e: EngineError) -> Error {
    Error { code: ErrorCode::InvalidParams, message: e.to_string().into(), data: None }
}

/// Lazy `edit` resolution when the client declares it, else commands plus `workspace/applyEdit`.
fn edit_delivery(caps: &ClientCapabilities) -> EditDelivery {
    let resolves_edit = caps
        .text_document
        .as_ref()
        .and_then(|t| t.code_action.as_ref())
        .and_then(|c| c.resolve_support.as_ref())
        .is_some_and(|r| r.properties.iter().any(|p| p == "edit"));
    let applies_edits = caps.workspace.as_ref().and_then(|w| w.apply_edit).unwrap_or(false);
    match (resolves_edit, applies_edits) {
        (true, _) => EditDelivery::Resolve,
        (false, true) => EditDelivery::ApplyEdit,
        (false, false) => EditDelivery::Unsupported,
    }
}

fn uri_path(uri: &Uri) -> Option<PathBuf> {
    crate::actions::edit::uri_to_path(&uri.0)
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        self.guard(async {
            let offered: Vec<String> = params
                .capabilities
                .general
                .as_ref()
                .and_then(|g| g.position_encodings.clone())
                .unwrap_or_default()
                .into_iter()
                .map(String::from)
                .collect();
            let encoding = Encoding::negotiate(offered.iter().map(String::as_str));
            #[allow(deprecated)]
            let root = params
                .workspace_folders_initialize_params
                .workspace_folders
                .as_ref()
                .and_then(|f| match f {
                    WorkspaceFolders::WorkspaceFolderList(list) => list.first(),
                    WorkspaceFolders::Null => None,
                })
                .and_then(|f| uri_path(&f.uri))
                .or_else(|| params.root_uri.as_ref().and_then(uri_path));
            let discovered = config::discover(root.as_deref(), &|k| std::env::var(k).ok());
            let mut problems = discovered.problems;
            let init_layer = params
                .initialization_options
                .clone()
                .and_then(|v| config::editor_layer(v, "initializationOptions", &mut problems));
            let experimental = params.capabilities.experimental.as_ref().and_then(|e| e.get("switchboard"));
            let flag = |name: &str| experimental.and_then(|x| x.get(name)).and_then(Value::as_bool).unwrap_or(false);
            let window = params.capabilities.window.as_ref();
            if let Some(root) = &root {
                self.engine.set_workspace(root);
            }
            {
                let mut s = self.session();
                s.explanation_view = flag("explanationView");
                s.status_view = flag("status");
                s.work_done_progress = window.and_then(|w| w.work_done_progress).unwrap_or(false);
                s.watch_files = params
                    .capabilities
                    .workspace
                    .as_ref()
                    .and_then(|w| w.did_change_watched_files.as_ref())
                    .and_then(|d| d.dynamic_registration)
                    .unwrap_or(false);
                s.show_document = window.and_then(|w| w.show_document.as_ref()).is_some_and(|d| d.support);
                s.edit_delivery = edit_delivery(&params.capabilities);
                s.hierarchical_symbols = symbols::hierarchical(&params.capabilities);
                s.encoding = encoding;
                s.root = root;
                s.file_layers = discovered.layers;
                s.init_layer = init_layer;
            }
            let problems = self.reload_config(problems);
            self.session().pending_problems = problems;
            tracing::info!(encoding = encoding.as_str(), "initialized");
            Ok(convert::initialize_result(encoding))
        })
        .await
    }

    async fn initialized(&self, _: InitializedParams) {
        let problems = std::mem::take(&mut self.session().pending_problems);
        self.report_problems(&problems).await;
        // Warm the connections so the first keystroke pays no TLS handshake, and compile the
        // secret-scanning rules (~30 ms) in the background: a prompt waits only for a rule its text needs.
        self.engine.upstream().registry.warm();
        tokio::task::spawn_blocking(|| crate::privacy::redact::Rules::global().compile_all());
        let watch_files = self.session().watch_files;
        index::start(self, watch_files).await;
        // Save the local statistics now and then (and at shutdown).
        let engine = self.engine.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
            loop {
                tick.tick().await;
                if let Err(e) = engine.inline.stats.save() {
                    tracing::debug!("saving statistics: {e}");
                }
            }
        });
    }

    async fn shutdown(&self) -> Result<()> {
        self.shut_down.store(true, Ordering::SeqCst);
        if let Err(e) = self.engine.inline.stats.save() {
            tracing::warn!("saving statistics: {e}");
        }
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let d = params.text_document;
        guard_sync("didOpen", || self.engine.open(&d.uri.0, &d.language_id.to_string(), d.version, &d.text));
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let enc = self.encoding();
        let id = params.text_document;
        let uri = id.text_document_identifier.uri.0;
        let changes: Vec<_> = params.content_changes.into_iter().map(convert::change).collect();
        let mut refused = None;
        guard_sync("didChange", || match self.engine.change(&uri, id.version, &changes, enc) {
            Err(e @ EngineError::Document(DocumentError::RefusedChange { .. })) => refused = Some(e.to_string()),
            Err(e) => tracing::warn!("didChange: {e}"),
            Ok(()) => {}
        });
        if let Some(why) = refused {
            self.report_refused_change(why).await;
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        guard_sync("didClose", || self.engine.close(&params.text_document.uri.0));
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        guard_sync("didSave", || index::saved(self, &params.text_document.uri));
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        guard_sync("didChangeWatchedFiles", || index::files_changed(self, params));
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let mut problems = Vec::new();
        let layer = config::editor_layer(params.settings, "didChangeConfiguration", &mut problems);
        if layer.is_some() || !problems.is_empty() {
            self.session().editor_settings = layer;
        }
        let problems = self.reload_config(problems);
        self.report_problems(&problems).await;
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        self.guard(async {
            let enc = self.encoding();
            let tdp = params.text_document_position_params;
            let uri = tdp.text_document.uri.0;
            let Ok((offset, inside)) = self.engine.offset(&uri, convert::position(tdp.position), enc) else {
                return Ok(None);
            };
            if !inside {
                return Ok(None);
            }
            let max = self.engine.config().completion.local_max_items;
            let local = self.engine.complete_local(&uri, offset, max).map_err(engine_error)?;
            let snapshot = self.engine.snapshot_for_typing(&uri).map_err(engine_error)?;
            let mut items = Vec::new();
            // The model's suggestion first, when the `complete` route has a remote provider.
            let wants_model = self
                .engine
                .upstream()
                .router
                .table
                .chain(&Task::Complete, &snapshot.doc.language_id)
                .iter()
                .any(|p| p != "local");
            if wants_model {
                let request =
                    InlineRequest { uri: uri.clone(), offset, task: Task::Complete, invoked: true, selected: None };
                match self.engine.inline_completion(request).await.map_err(engine_error)? {
                    InlineOutcome::Answer(a) if a.provider != "local" => {
                        self.send_status("complete", Some(&a), None).await;
                        items.push(convert::model_item(&snapshot.doc, &a, enc));
                    }
                    InlineOutcome::Superseded => return Err(Error::request_cancelled()),
                    _ => {}
                }
            }
            items.extend(convert::local_items(&snapshot.doc, &local, enc));
            Ok(Some(CompletionResponse::CompletionList(CompletionList {
                is_incomplete: true,
                items,
                ..Default::default()
            })))
        })
        .await
    }

    async fn inline_completion(&self, params: InlineCompletionParams) -> Result<Option<InlineCompletionResponse>> {
        self.guard(async {
            let enc = self.encoding();
            let tdp = params.text_document_position_params;
            let uri = tdp.text_document.uri.0;
            let Ok((offset, inside)) = self.engine.offset(&uri, convert::position(tdp.position), enc) else {
                return Ok(None);
            };
            if !inside || !self.engine.config().completion.inline {
                return Ok(None);
            }
            let snapshot = self.engine.snapshot_for_typing(&uri).map_err(engine_error)?;
            let selected = params.context.selected_completion_info.map(|s| {
                let range =
                    self.engine.offset(&uri, convert::position(s.range.start), enc).map(|r| r.0).unwrap_or(offset)
                        ..self.engine.offset(&uri, convert::position(s.range.end), enc).map(|r| r.0).unwrap_or(offset);
                (range, s.text)
            });
            let request = InlineRequest {
                uri: uri.clone(),
                offset,
                task: Task::Inline,
                invoked: params.context.trigger_kind == InlineCompletionTriggerKind::Invoked,
                selected,
            };
            let outcome = self.engine.inline_completion(request).await.map_err(engine_error)?;
            self.flush_notices().await;
            match outcome {
                InlineOutcome::Answer(answer) => {
                    tracing::debug!(
                        provider = %answer.provider,
                        model = %answer.model,
                        latency_ms = answer.latency.as_millis() as u64,
                        cached = answer.from_cache,
                        "inline answer"
                    );
                    self.send_status_for(Some(&uri), "inline", Some(&answer), None).await;
                    let item = convert::inline_answer(&snapshot.doc, &answer, enc);
                    Ok(Some(InlineCompletionList { items: vec![item] }.into()))
                }
                InlineOutcome::Nothing { reason } => {
                    tracing::debug!("inline: nothing at {uri}:{offset}: {reason}");
                    if self.engine.privacy_verdict(&uri).is_some_and(|v| !v.allows_upstream()) {
                        self.send_status_for(Some(&uri), "inline", None, None).await;
                    }
                    Ok(None)
                }
                InlineOutcome::Superseded => Err(Error::request_cancelled()),
            }
        })
        .await
    }

    async fn document_symbol(&self, params: DocumentSymbolParams) -> Result<Option<DocumentSymbolResponse>> {
        let hierarchical = self.session().hierarchical_symbols;
        self.guard(symbols::document_symbols(self, params, hierarchical)).await
    }

    async fn symbol(&self, params: WorkspaceSymbolParams) -> Result<Option<WorkspaceSymbolResponse>> {
        self.guard(symbols::workspace_symbols(self, params)).await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<Vec<CodeActionResponse>>> {
        self.guard(actions::code_actions(self, params)).await
    }

    async fn code_action_resolve(&self, action: CodeAction) -> Result<CodeAction> {
        let result = self.guard(actions::resolve(self, action)).await;
        self.flush_notices().await;
        result
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LspAny>> {
        self.guard(async {
            match params.command.as_str() {
                "switchboard.accept" => {
                    let accepted = params
                        .arguments
                        .and_then(|a| a.into_iter().next())
                        .and_then(|v| serde_json::from_value::<Accepted>(v).ok());
                    if let Some(a) = accepted {
                        self.engine.accepted(&a);
                    }
                    Ok(None)
                }
                "switchboard.runAction" => {
                    let result = actions::run_command(self, params.arguments.unwrap_or_default()).await;
                    self.flush_notices().await;
                    result
                }
                "switchboard.stats" => {
                    if let Err(e) = self.engine.inline.stats.save() {
                        tracing::warn!("saving statistics: {e}");
                    }
                    Ok(Some(Value::String(crate::completion::stats::report())))
                }
                "switchboard.doctor" => {
                    let root = self.root();
                    let mut report =
                        crate::cli::doctor_report(&self.engine.config(), &self.engine.upstream(), root.as_deref())
                            .await;
                    report.push_str(&crate::privacy::withheld_report(&self.engine.withheld_documents()));
                    Ok(Some(Value::String(report)))
                }
                other => Err(Error::invalid_params(format!(
                    "unknown command `{other}`; Switchboard offers {}",
                    COMMANDS.join(", ")
                ))),
            }
        })
        .await
    }
}

/// Serves LSP over stdin/stdout until the client says `exit` or closes the pipe. Returns the
/// process exit code the LSP spec asks for: 0 if `shutdown` came first, else 1.
pub async fn serve(engine: Arc<Engine>) -> i32 {
    engine.never_wait();
    let (service, socket) = LspService::build(|client| Backend::new(client, engine))
        .custom_method("switchboard/documentText", Backend::document_text)
        .custom_method(transport::INVALID_MESSAGE, Backend::invalid_message)
        // tower-lsp-server has no handler of its own for the progress cancel button yet.
        .custom_method("window/workDoneProgress/cancel", Backend::progress_cancel)
        .finish();
    let shut_down = service.inner().shut_down.clone();
    let (input, output, flushed) = transport::wire(stdio::input(), stdio::output());
    Server::new(input, output, socket).concurrency_level(TRANSPORT_CONCURRENCY).serve(service).await;
    // The last answers (to `shutdown`, say) are still on their way to stdout.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), flushed).await;
    if shut_down.load(Ordering::SeqCst) { 0 } else { 1 }
}
