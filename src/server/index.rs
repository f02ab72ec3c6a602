//! The LSP side of the workspace index: starting the first build with `$/progress`, registering
//! for `workspace/didChangeWatchedFiles`, and turning file events into engine calls.

use std::time::Duration;

use tower_lsp_server::gen_lsp_types::*;

use super::{Backend, uri_path};
use crate::syntax::Languages;

const WATCH_REGISTRATION: &str = "switchboard/watched-files";
const PROGRESS_TOKEN: &str = "switchboard/index";
/// How often progress is reported while the first build runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Starts indexing the workspace (if there is one and `[index] enabled`), shows progress when
/// the client supports it, and registers for file events when it can be asked dynamically.
pub(super) async fn start(backend: &Backend, watch_files: bool) {
    let Some(root) = backend.root() else { return };
    if !backend.engine.config().index.enabled {
        return;
    }
    backend.engine.index_workspace(&root);
    if watch_files {
        let registration = Registration::new(
            WATCH_REGISTRATION.into(),
            "workspace/didChangeWatchedFiles".into(),
            serde_json::to_value(DidChangeWatchedFilesRegistrationOptions::new(watchers())).ok(),
        );
        // Not awaited in `initialized`: a client slow to answer must not hold up the notifications
        // behind it.
        let client = backend.client.clone();
        tokio::spawn(async move {
            if let Err(e) = client.register_capability(vec![registration]).await {
                tracing::debug!("the client refused file watching ({e}); the index follows saves only");
            }
        });
    }
    if !backend.client_features().work_done_progress {
        return;
    }
    let (client, engine) = (backend.client.clone(), backend.engine.clone());
    tokio::spawn(async move {
        let token = ProgressToken::String(PROGRESS_TOKEN.into());
        if client.create_work_done_progress(token.clone()).await.is_err() {
            return;
        }
        let progress =
            client.progress(token, "Switchboard: indexing").with_message("reading the workspace…").begin().await;
        loop {
            tokio::time::sleep(PROGRESS_EVERY).await;
            let stats = engine.index_snapshot().stats.clone();
            if stats.workspace_done {
                let skipped = if stats.skipped > 0 {
                    format!(" ({} left out: [index] bounds)", stats.skipped)
                } else {
                    String::new()
                };
                progress.finish_with_message(format!("{} files indexed{skipped}", stats.workspace_files)).await;
                return;
            }
            progress.report(format!("{} files", stats.workspace_files)).await;
        }
    });
}

/// One watcher for the extensions the index reads.
fn watchers() -> Vec<FileSystemWatcher> {
    let mut exts: Vec<&str> = Languages::global()
        .iter()
        .filter(|l| l.has_grammar())
        .flat_map(|l| l.extensions.iter().map(String::as_str))
        .collect();
    exts.sort_unstable();
    exts.dedup();
    vec![FileSystemWatcher::new(GlobPattern::Pattern(format!("**/*.{{{}}}", exts.join(","))), None)]
}

/// `workspace/didChangeWatchedFiles`: the index re-reads created and changed files and drops
/// deleted ones.
pub(super) fn files_changed(backend: &Backend, params: DidChangeWatchedFilesParams) {
    for event in params.changes {
        let Some(path) = uri_path(&event.uri) else { continue };
        match event.kind {
            FileChangeType::Deleted => backend.engine.file_deleted(&path),
            _ => backend.engine.file_changed(&path),
        }
    }
}

/// `textDocument/didSave`: the file on disk is what the editor has now.
pub(super) fn saved(backend: &Backend, uri: &Uri) {
    if let Some(path) = uri_path(uri) {
        backend.engine.file_changed(&path);
    }
}
