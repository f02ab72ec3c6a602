//! LSP side of code actions: offering them (free: no model call), resolving edit actions into
//! versioned minimal `WorkspaceEdit`s, running any action through `switchboard.runAction`, work-done
//! progress with streamed status, and the explanation view. The work itself is `crate::actions`.
//!
//! Cancellation: `$/cancelRequest` makes tower-lsp-server drop the handler future, and with it the
//! answer's HTTP stream (it lives inside the future). The progress "cancel" button
//! (`window/workDoneProgress/cancel`) is served by [`progress_cancel`] once it is registered with
//! `custom_method` (tower-lsp-server 0.24 has no built-in handler for it).

use std::{
    collections::HashMap,
    ops::Range as ByteRange,
    path::PathBuf,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower_lsp_server::{
    Cancellable, OngoingProgress, Unbounded,
    gen_lsp_types::*,
    jsonrpc::{Error, ErrorCode, Result},
};

use super::{Backend, EditDelivery, convert};
use crate::{
    actions::{
        Action, ActionError, Note, catalog,
        catalog::OfferKind,
        edit::{self, Current, FileEdit, Planned, TestFile, TestLocation},
        run::{self, Prepared},
    },
    documents::{Document, Encoding},
};

/// Progress reports at most this often (a report per token would flood the client).
const REPORT_EVERY: Duration = Duration::from_millis(250);
const APPLY_ANYWAY: &str = "Apply anyway";
const DISCARD: &str = "Discard";

/// `data` of an offered code action, and the argument of `switchboard.runAction`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunArgs {
    action: String,
    uri: String,
    range: Range,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    diagnostics: Vec<Note>,
}

/// `switchboard/explanation`: one chunk of an explanation for the editor plugins' markdown view.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExplanationChunk {
    id: String,
    title: String,
    delta: String,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

enum ExplanationNotification {}

impl Notification for ExplanationNotification {
    type Params = ExplanationChunk;
    const METHOD: LspNotificationMethod<'static> = LspNotificationMethod::Custom("switchboard/explanation");
    const MESSAGE_DIRECTION: MessageDirection = MessageDirection::ServerToClient;
}

pub(super) async fn code_actions(
    backend: &Backend,
    params: CodeActionParams,
) -> Result<Option<Vec<CodeActionResponse>>> {
    let enc = backend.encoding();
    let uri = params.text_document.uri.0.clone();
    let Ok(state) = backend.engine.snapshot(&uri) else { return Ok(None) };
    let doc = &state.doc;
    let selection = byte_range(doc, &params.range, enc);
    let Some(target) = catalog::target(&doc.rope, state.syntax.as_ref(), selection) else {
        return Ok(Some(Vec::new()));
    };
    let in_range: Vec<&Diagnostic> = params
        .context
        .diagnostics
        .iter()
        .filter(|d| {
            let r = byte_range(doc, &d.range, enc);
            r.start <= target.end && target.start <= r.end
        })
        .collect();
    let only = params.context.only.as_deref();
    let config = backend.engine.config();
    let delivery = backend.client_features().edit_delivery;
    let mut out = Vec::new();
    for offer in catalog::offers(&config, !in_range.is_empty()) {
        let is_edit = offer.action.is_edit();
        if is_edit && delivery == EditDelivery::Unsupported {
            continue;
        }
        let kind = match offer.kind {
            OfferKind::QuickFix => CodeActionKind::QuickFix,
            OfferKind::RefactorRewrite => CodeActionKind::RefactorRewrite,
            OfferKind::Refactor => CodeActionKind::Refactor,
        };
        if let Some(only) = only
            && !only.iter().any(|o| kind_matches(o, &kind))
        {
            continue;
        }
        let is_fix = offer.kind == OfferKind::QuickFix;
        let args = RunArgs {
            action: offer.action.key().to_owned(),
            uri: uri.clone(),
            range: params.range,
            version: Some(doc.version),
            diagnostics: if is_fix { in_range.iter().map(|d| note(doc, d, enc)).collect() } else { Vec::new() },
        };
        let data = serde_json::to_value(&args).ok();
        let title = offer.action.title();
        // Explanations have no edit: the command runs them. Edits come from `codeAction/resolve`, or
        // for clients that cannot resolve them, from the command (via `workspace/applyEdit`).
        let by_command = !is_edit || delivery == EditDelivery::ApplyEdit;
        out.push(CodeActionResponse::CodeAction(CodeAction {
            command: by_command.then(|| run_command_of(&title, &args)),
            title,
            kind: Some(kind),
            diagnostics: is_fix.then(|| in_range.iter().map(|d| (*d).clone()).collect()),
            data,
            ..Default::default()
        }));
    }
    Ok(Some(out))
}

pub(super) async fn resolve(backend: &Backend, mut action: CodeAction) -> Result<CodeAction> {
    let args: RunArgs = action
        .data
        .clone()
        .and_then(|d| serde_json::from_value(d).ok())
        .ok_or_else(|| Error::invalid_params("this code action was not offered by Switchboard (no data)"))?;
    let act = Action::find(&args.action, &backend.engine.config()).map_err(|e| Error::invalid_params(e.to_string()))?;
    if !act.is_edit() {
        action.command = Some(run_command_of(&action.title, &args));
        return Ok(action);
    }
    let title = act.title();
    match edit_action(backend, act, &args).await {
        Ok(Some(edit)) => action.edit = Some(edit),
        Ok(None) => backend.client.show_message(MessageType::Info, format!("{title}: no changes suggested")).await,
        Err(e) => return Err(fail(backend, &title, e).await),
    }
    Ok(action)
}

pub(super) async fn run_command(backend: &Backend, args: Vec<Value>) -> Result<Option<Value>> {
    let args: RunArgs = args.into_iter().next().and_then(|a| serde_json::from_value(a).ok()).ok_or_else(|| {
        Error::invalid_params(
            "switchboard.runAction takes [{\"action\": \"explain\", \"uri\": ..., \"range\": ..., \"version\"?: n}]",
        )
    })?;
    let act = Action::find(&args.action, &backend.engine.config()).map_err(|e| Error::invalid_params(e.to_string()))?;
    let title = act.title();
    if !act.is_edit() {
        return match explain(backend, act, &args).await {
            Ok((id, text)) => Ok(Some(json!({ "id": id, "text": text }))),
            Err(e) => Err(fail(backend, &title, e).await),
        };
    }
    let edit = match edit_action(backend, act, &args).await {
        Ok(Some(edit)) => edit,
        Ok(None) => {
            backend.client.show_message(MessageType::Info, format!("{title}: no changes suggested")).await;
            return Ok(Some(json!({ "applied": false, "reason": "no changes" })));
        }
        Err(e) => return Err(fail(backend, &title, e).await),
    };
    match backend.client.apply_edit(edit).await {
        Ok(r) if r.applied => Ok(Some(json!({ "applied": true }))),
        Ok(r) => {
            let reason = r.failure_reason.unwrap_or_else(|| "the editor refused it".into());
            let msg = format!(
                "{title}: the edit was not applied ({reason}); the document probably changed — run the action again"
            );
            backend.client.show_message(MessageType::Warning, &msg).await;
            Ok(Some(json!({ "applied": false, "reason": reason })))
        }
        Err(e) => {
            Err(fail(backend, &title, ActionError::Io(format!("workspace/applyEdit failed: {}", e.message))).await)
        }
    }
}

/// `window/workDoneProgress/cancel`: stops the action behind that progress token.
pub(super) async fn progress_cancel(_backend: &Backend, params: WorkDoneProgressCancelParams) {
    let key = token_key(&params.token);
    if let Some(notify) = cancels().get(&key) {
        notify.notify_one();
    }
}

/// Runs an edit action to the end: the whole answer, then the plan, then consent if the syntax
/// check objects. `Ok(None)` when the answer changes nothing.
async fn edit_action(
    backend: &Backend,
    action: Action,
    args: &RunArgs,
) -> std::result::Result<Option<WorkspaceEdit>, ActionError> {
    let prepared = prepare(backend, action, args)?;
    let title = prepared.action.title();
    let work = Work::begin(backend, &title).await;
    let answer = work
        .cancellable(async {
            let mut answer = run::start(&backend.engine.upstream(), prepared.request.clone()).await?;
            let who = provider_label(&answer.record().provider);
            work.report(format!("{who}: writing…"), true).await;
            while let Some(piece) = answer.next().await {
                piece?;
                work.report(format!("{who}: {} tokens…", answer.tokens()), false).await;
            }
            answer.finish().await
        })
        .await;
    work.end(if answer.is_ok() { "done" } else { "failed" }).await;
    let (text, record) = answer?;
    tracing::info!(action = prepared.action.key(), provider = record.provider, total = ?record.total, usage = ?record.usage, "action answered");

    let planned = plan(backend, &prepared, &text).await?;
    if planned.file.is_empty() {
        return Ok(None);
    }
    if let Some((before, after)) = planned.new_errors
        && !consent(backend, &title, before, after).await
    {
        return Err(ActionError::Io(format!(
            "discarded: the edit would have added syntax errors ({before} → {after}); nothing was changed"
        )));
    }
    Ok(Some(workspace_edit(&planned.file, backend.encoding())))
}

/// Streams an explanation to the editor's view, or into a markdown file it opens, or at the end
/// into a message. Returns the explanation's id and text.
async fn explain(
    backend: &Backend,
    action: Action,
    args: &RunArgs,
) -> std::result::Result<(String, String), ActionError> {
    let prepared = prepare(backend, action, args)?;
    let (first, last) = prepared.lines();
    let title = format!("{} — {}:{first}-{last}", prepared.action.title(), prepared.display_path);
    let id = format!("explain-{}", next_id());
    let features = backend.client_features();
    let mut sink = Sink::open(backend, features.explanation_view, features.show_document, &id, &title).await;
    let work = Work::begin(backend, &prepared.action.title()).await;
    let result = work
        .cancellable(async {
            let mut answer = run::start(&backend.engine.upstream(), prepared.request.clone()).await?;
            let who = provider_label(&answer.record().provider);
            work.report(format!("{who}: writing…"), true).await;
            while let Some(piece) = answer.next().await {
                let piece = piece?;
                sink.write(backend, &piece).await;
                work.report(format!("{who}: {} tokens…", answer.tokens()), false).await;
            }
            Ok(answer.text().to_owned())
        })
        .await;
    work.end(if result.is_ok() { "done" } else { "failed" }).await;
    sink.finish(backend, result.as_ref().err()).await;
    result.map(|text| (id, text))
}

/// Binds the request to the document as it is now; refuses when it moved on since the offer.
fn prepare(backend: &Backend, action: Action, args: &RunArgs) -> std::result::Result<Prepared, ActionError> {
    let state = backend.engine.snapshot(&args.uri).map_err(|_| ActionError::NotOpen(args.uri.clone()))?;
    if args.version.is_some_and(|v| v != state.doc.version) {
        return Err(ActionError::Outdated);
    }
    let selection = byte_range(&state.doc, &args.range, backend.encoding());
    let root = backend.root();
    let index = backend.engine.index_snapshot();
    run::prepare(action, &state, selection, &args.diagnostics, &index, root.as_deref())
}

/// Plans the edit against the documents as they are now.
async fn plan(backend: &Backend, p: &Prepared, answer: &str) -> std::result::Result<Planned, ActionError> {
    let current = backend.engine.text(&p.uri).map_err(|_| ActionError::NotOpen(p.uri.clone()))?;
    match &p.tests {
        None => edit::plan_replacement(p, answer, Current { text: &current.0, version: current.1 }),
        Some(TestLocation::SameFile) => edit::plan_tests(
            p,
            answer,
            TestFile { uri: p.uri.clone(), version: Some(current.1), text: Some(&current.0) },
        ),
        Some(TestLocation::File(path)) => {
            let uri = edit::path_to_uri(path);
            let (text, version) = match backend.engine.text(&uri) {
                Ok((t, v)) => (Some(t), Some(v)),
                // Bounded, and never blocking on a FIFO planted at the test file's name.
                Err(_) => {
                    let owned = path.clone();
                    let read = tokio::task::spawn_blocking(move || crate::files::read_text_if_exists(&owned)).await;
                    match read {
                        Ok(Ok(text)) => (text, None),
                        Ok(Err(e)) => return Err(ActionError::Io(e.to_string())),
                        Err(e) => return Err(ActionError::Io(format!("cannot read {}: {e}", path.display()))),
                    }
                }
            };
            edit::plan_tests(p, answer, TestFile { uri, version, text: text.as_deref() })
        }
    }
}

/// Asks before applying an edit that breaks the syntax; no answer means no.
async fn consent(backend: &Backend, title: &str, before: usize, after: usize) -> bool {
    let msg = format!(
        "{title}: the suggested edit would add syntax errors ({before} → {after} ERROR nodes in the file). Apply it anyway?"
    );
    let item = |t: &str| MessageActionItem { title: t.to_owned(), ..Default::default() };
    match backend
        .client
        .show_message_request(MessageType::Warning, msg, Some(vec![item(APPLY_ANYWAY), item(DISCARD)]))
        .await
    {
        Ok(Some(choice)) => choice.title == APPLY_ANYWAY,
        _ => false,
    }
}

/// Tells the user why the action failed (cancellation is silent) and makes the JSON-RPC error.
async fn fail(backend: &Backend, title: &str, e: ActionError) -> Error {
    let code = match e {
        ActionError::Cancelled => {
            return Error { code: ErrorCode::RequestCancelled, message: "cancelled".into(), data: None };
        }
        ActionError::Outdated | ActionError::Stale(_) => ErrorCode::ContentModified,
        ActionError::UnknownAction { .. } | ActionError::NoTarget | ActionError::NotOpen(_) => ErrorCode::InvalidParams,
        _ => ErrorCode::ServerError(-32803),
    };
    let message = format!("{title}: {e}");
    tracing::warn!("{message}");
    backend.client.show_message(MessageType::Error, &message).await;
    Error { code, message: message.into(), data: None }
}

fn workspace_edit(file: &FileEdit, enc: Encoding) -> WorkspaceEdit {
    let doc = Document::new(file.uri.clone(), "", 0, &file.base);
    let edits = file
        .edits
        .iter()
        .map(|e| {
            Edit::TextEdit(TextEdit { range: convert::range(&doc, e.start..e.end, enc), new_text: e.text.clone() })
        })
        .collect();
    let uri = Uri(file.uri.clone());
    let mut changes = Vec::new();
    if file.create {
        changes.push(DocumentChange::CreateFile(CreateFile {
            uri: uri.clone(),
            options: Some(CreateFileOptions { overwrite: Some(false), ignore_if_exists: Some(true) }),
            annotation_id: None,
        }));
    }
    changes.push(DocumentChange::TextDocumentEdit(TextDocumentEdit {
        text_document: OptionalVersionedTextDocumentIdentifier {
            version: file.version,
            text_document_identifier: TextDocumentIdentifier { uri },
        },
        edits,
    }));
    WorkspaceEdit { document_changes: Some(changes), ..Default::default() }
}

fn run_command_of(title: &str, args: &RunArgs) -> Command {
    Command {
        title: title.to_owned(),
        command: "switchboard.runAction".into(),
        arguments: serde_json::to_value(args).ok().map(|a| vec![a]),
        ..Default::default()
    }
}

fn byte_range(doc: &Document, range: &Range, enc: Encoding) -> ByteRange<usize> {
    let a = doc.offset_of(convert::position(range.start), enc);
    let b = doc.offset_of(convert::position(range.end), enc);
    a.min(b)..a.max(b)
}

fn note(doc: &Document, d: &Diagnostic, enc: Encoding) -> Note {
    let line = doc.position_of(doc.offset_of(convert::position(d.range.start), enc), enc).line + 1;
    let severity = match d.severity {
        Some(DiagnosticSeverity::Warning) => "warning",
        Some(DiagnosticSeverity::Information) => "info",
        Some(DiagnosticSeverity::Hint) => "hint",
        _ => "error",
    };
    let message = match &d.message {
        Message::String(s) => s.clone(),
        Message::MarkupContent(m) => m.value.clone(),
    };
    Note { line, severity: severity.into(), message, source: d.source.clone() }
}

/// `refactor` covers `refactor.rewrite`: kinds are dot-separated hierarchies.
fn kind_matches(wanted: &CodeActionKind, kind: &CodeActionKind) -> bool {
    let (w, k) = (wanted.as_str(), kind.as_str());
    w.is_empty() || k == w || k.strip_prefix(w).is_some_and(|rest| rest.starts_with('.'))
}

fn provider_label(name: &str) -> String {
    let mut c = name.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn cancels() -> std::sync::MutexGuard<'static, HashMap<String, Arc<Notify>>> {
    static CANCELS: LazyLock<Mutex<HashMap<String, Arc<Notify>>>> = LazyLock::new(Default::default);
    CANCELS.lock().unwrap_or_else(|p| p.into_inner())
}

#[allow(dead_code)]
fn token_key(token: &ProgressToken) -> String {
    match token {
        ProgressToken::Int(n) => n.to_string(),
        ProgressToken::String(s) => s.clone(),
    }
}

/// Work-done progress for one action run (nothing when the client does not support it), and the
/// cancel signal behind its button.
struct Work {
    progress: Option<OngoingProgress<Unbounded, Cancellable>>,
    key: String,
    cancel: Arc<Notify>,
    last_report: Mutex<Option<Instant>>,
}

impl Work {
    async fn begin(backend: &Backend, title: &str) -> Work {
        let key = format!("switchboard/{}", next_id());
        let cancel = Arc::new(Notify::new());
        cancels().insert(key.clone(), cancel.clone());
        let mut progress = None;
        if backend.client_features().work_done_progress {
            let token = ProgressToken::String(key.clone());
            if backend.client.create_work_done_progress(token.clone()).await.is_ok() {
                progress = Some(
                    backend.client.progress(token, title).with_message("starting…").with_cancel_button().begin().await,
                );
            }
        }
        Work { progress, key, cancel, last_report: Mutex::new(None) }
    }

    /// Reports a status line, throttled unless `force`.
    async fn report(&self, message: String, force: bool) {
        let Some(p) = &self.progress else { return };
        {
            let mut last = self.last_report.lock().unwrap_or_else(|e| e.into_inner());
            if !force && last.is_some_and(|t| t.elapsed() < REPORT_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        p.report_with_message(message, None).await;
    }

    /// Runs `fut` until it ends or the progress is cancelled (dropping it drops the stream).
    async fn cancellable<T>(
        &self,
        fut: impl Future<Output = std::result::Result<T, ActionError>>,
    ) -> std::result::Result<T, ActionError> {
        tokio::select! {
            r = fut => r,
            () = self.cancel.notified() => Err(ActionError::Cancelled),
        }
    }

    async fn end(mut self, message: &str) {
        cancels().remove(&self.key);
        if let Some(p) = self.progress.take() {
            p.finish_with_message(message).await;
        }
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        // A dropped handler ($/cancelRequest) never reaches `end`.
        cancels().remove(&self.key);
    }
}

/// Where an explanation goes while it streams.
enum Sink {
    View { id: String, title: String },
    File { path: PathBuf, file: Option<tokio::fs::File>, shown: bool, text: String, title: String },
}

impl Sink {
    async fn open(backend: &Backend, view: bool, show_document: bool, id: &str, title: &str) -> Sink {
        if view {
            return Sink::View { id: id.to_owned(), title: title.to_owned() };
        }
        let path = explanation_path(id);
        let mut file = None;
        if let Some(dir) = path.parent()
            && tokio::fs::create_dir_all(dir).await.is_ok()
        {
            file = tokio::fs::File::create(&path).await.ok();
        }
        let mut sink = Sink::File { path, file, shown: false, text: String::new(), title: title.to_owned() };
        sink.append(&format!("# {title}\n\n")).await;
        if let Sink::File { path, file: Some(_), shown, .. } = &mut sink
            && show_document
        {
            let params = ShowDocumentParams {
                uri: Uri(edit::path_to_uri(path)),
                external: None,
                take_focus: Some(true),
                selection: None,
            };
            *shown = backend.client.show_document(params).await.unwrap_or(false);
        }
        sink
    }

    async fn append(&mut self, s: &str) {
        use tokio::io::AsyncWriteExt;
        if let Sink::File { file: Some(f), .. } = self
            && (f.write_all(s.as_bytes()).await.is_err() || f.flush().await.is_err())
        {
            tracing::warn!("cannot write the explanation file");
        }
    }

    async fn write(&mut self, backend: &Backend, delta: &str) {
        match self {
            Sink::View { id, title } => {
                let chunk = ExplanationChunk {
                    id: id.clone(),
                    title: title.clone(),
                    delta: delta.to_owned(),
                    done: false,
                    error: None,
                };
                backend.client.send_notification::<ExplanationNotification>(chunk).await;
            }
            Sink::File { text, .. } => {
                text.push_str(delta);
                self.append(delta).await;
            }
        }
    }

    async fn finish(mut self, backend: &Backend, error: Option<&ActionError>) {
        match &mut self {
            Sink::View { id, title } => {
                let chunk = ExplanationChunk {
                    id: id.clone(),
                    title: title.clone(),
                    delta: String::new(),
                    done: true,
                    error: error.map(ToString::to_string),
                };
                backend.client.send_notification::<ExplanationNotification>(chunk).await;
            }
            Sink::File { shown, text, title, .. } => {
                let (shown, text, title) = (*shown, std::mem::take(text), title.clone());
                if let Some(e) = error {
                    self.append(&format!("\n\n---\n*Stopped: {e}*\n")).await;
                } else {
                    self.append("\n").await;
                }
                if !shown && error.is_none() {
                    backend.client.show_message(MessageType::Info, format!("{title}\n\n{text}")).await;
                }
            }
        }
    }
}

/// `$XDG_CACHE_HOME/switchboard/explanations/<id>.md`, else `~/.cache/...`, else the temp dir.
fn explanation_path(id: &str) -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("switchboard").join("explanations").join(format!("{id}.md"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_hierarchical() {
        assert!(kind_matches(&CodeActionKind::Refactor, &CodeActionKind::RefactorRewrite));
        assert!(kind_matches(&CodeActionKind::QuickFix, &CodeActionKind::QuickFix));
        assert!(!kind_matches(&CodeActionKind::Source, &CodeActionKind::Refactor));
        assert!(!kind_matches(&CodeActionKind::RefactorRewrite, &CodeActionKind::Refactor));
    }

    #[test]
    fn workspace_edits_are_versioned_and_in_the_client_encoding() {
        let file = FileEdit {
            uri: "file:///a.rs".into(),
            version: Some(7),
            create: false,
            base: "let s = \"😀\"; x\n".into(),
            edits: vec![crate::actions::diff::TextEdit { start: 16, end: 17, text: "y".into() }],
        };
        let edit = workspace_edit(&file, Encoding::Utf16);
        let v = serde_json::to_value(&edit).unwrap();
        assert_eq!(v["documentChanges"][0]["textDocument"]["version"], 7);
        assert_eq!(v["documentChanges"][0]["edits"][0]["range"]["start"]["character"], 14, "byte 16 is UTF-16 unit 14");
        let created = workspace_edit(&FileEdit { create: true, version: None, ..file }, Encoding::Utf8);
        let v = serde_json::to_value(&created).unwrap();
        assert_eq!(v["documentChanges"][0]["kind"], "create");
        assert_eq!(v["documentChanges"][1]["textDocument"]["version"], Value::Null);
    }
}
