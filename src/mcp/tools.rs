//! What each MCP tool does, in plain data: files of the workspace are opened in the same engine
//! the language server uses (so routes, fallbacks, keys, prompt context and statistics are the
//! editor's), and each operation answers text or a [`ToolError`]. No MCP types here.

use std::{
    collections::VecDeque,
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicI32, Ordering},
    },
};

use super::{ToolError, workspace::Workspace};
use crate::{
    actions::{
        self, Action, Output,
        edit::{self, TestLocation},
        run,
    },
    completion::inline::{InlineOutcome, InlineRequest},
    context::BYTES_PER_TOKEN,
    documents::{Encoding, Position},
    engine::Engine,
    providers::{Task, prompt::CURSOR},
    syntax::{Languages, outline::OutlineItem},
};

/// Files kept open in the engine after a call: they are the "other open buffers" whose symbols
/// feed completions and prompts, as in an editor. Older ones are closed.
const KEEP_OPEN: usize = 64;
pub struct Tools {
    pub engine: Arc<Engine>,
    pub workspace: Workspace,
    version: AtomicI32,
    recent: Mutex<VecDeque<String>>,
}

/// A completion and who produced it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Completion {
    /// The text to insert at the cursor.
    pub text: String,
    /// The text before the cursor that `text` replaces (usually empty; the typed part of a word
    /// when the local provider completes it).
    pub replaces: String,
    /// The provider that answered (`local` when no model could).
    pub provider: String,
    pub model: String,
    pub latency_ms: u64,
}

/// One entry of a file's outline; lines are 1-based and inclusive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Symbol {
    pub name: String,
    /// function, method, type, impl, constant, module, member or macro.
    pub kind: String,
    pub start_line: usize,
    pub end_line: usize,
    /// Symbols defined inside this one (methods of a class, fields of a struct).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Symbol>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outline {
    /// The file, relative to the workspace.
    pub path: String,
    pub language: String,
    pub symbols: Vec<Symbol>,
}

/// The answer of an edit action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditResult {
    /// A unified diff (`--- a/PATH`, `+++ b/PATH`), empty when nothing changes.
    pub diff: String,
    /// One line for the agent: who answered, what was applied or why not.
    pub summary: String,
}

impl Tools {
    pub fn new(engine: Arc<Engine>, workspace: Workspace) -> Tools {
        Tools { engine, workspace, version: AtomicI32::new(0), recent: Mutex::new(VecDeque::new()) }
    }

    /// Opens (or reopens: the file may have changed on disk) a workspace file in the engine.
    fn open(&self, path: &str) -> Result<(PathBuf, String), ToolError> {
        let real = self.workspace.existing_file(path)?;
        let text = read_text(&real, &self.workspace.display(&real))?;
        let uri = edit::path_to_uri(&real);
        let lang = Languages::global().by_path(&uri).map(|l| l.id.clone()).unwrap_or_else(|| "plaintext".into());
        self.engine.open(&uri, &lang, self.version.fetch_add(1, Ordering::Relaxed), &text);
        let evicted = {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent.retain(|u| *u != uri);
            recent.push_front(uri.clone());
            if recent.len() > KEEP_OPEN { recent.pop_back() } else { None }
        };
        if let Some(old) = evicted {
            self.engine.close(&old);
        }
        Ok((real, uri))
    }

    /// Byte offset of a 1-based line and character column, refused when past the line's end.
    fn offset(&self, uri: &str, shown: &str, line: u32, column: u32) -> Result<usize, ToolError> {
        if line == 0 || column == 0 {
            return Err(ToolError::Argument("`line` and `column` are 1-based: the first is 1".into()));
        }
        let (offset, inside) = self.engine.offset(uri, Position::new(line - 1, column - 1), Encoding::Utf32)?;
        if !inside {
            return Err(ToolError::Argument(format!(
                "{shown}:{line}:{column} is past the end of the line or the file"
            )));
        }
        Ok(offset)
    }

    /// The routed inline completion at a 1-based position of a workspace file.
    pub async fn complete_file(&self, path: &str, line: u32, column: u32) -> Result<Completion, ToolError> {
        let (real, uri) = self.open(path)?;
        let shown = self.workspace.display(&real);
        let offset = self.offset(&uri, &shown, line, column)?;
        self.complete_at(&uri, offset, &format!("{shown}:{line}:{column}")).await
    }

    /// The routed inline completion of a snippet at its `<CURSOR>` marker.
    pub async fn complete_code(&self, code: &str, language: Option<&str>) -> Result<Completion, ToolError> {
        let offset = match (code.find(CURSOR), code.matches(CURSOR).count()) {
            (Some(i), 1) => i,
            _ => return Err(ToolError::Argument(format!("`code` must hold exactly one {CURSOR} marker"))),
        };
        let text = code.replacen(CURSOR, "", 1);
        let lang = language.map(str::trim).filter(|l| !l.is_empty()).unwrap_or("plaintext");
        let ext = Languages::global().by_id(lang).and_then(|l| l.extensions.first().cloned()).unwrap_or("txt".into());
        // A name of its own per call: concurrent snippets must not supersede each other.
        let uri = format!("untitled:snippet-{}.{ext}", self.version.fetch_add(1, Ordering::Relaxed));
        self.engine.open(&uri, lang, 0, &text);
        let result = self.complete_at(&uri, offset, "the <CURSOR> marker").await;
        self.engine.close(&uri);
        result
    }

    async fn complete_at(&self, uri: &str, offset: usize, shown: &str) -> Result<Completion, ToolError> {
        let request = InlineRequest { uri: uri.to_owned(), offset, task: Task::Inline, invoked: true, selected: None };
        match self.engine.inline_completion(request).await? {
            InlineOutcome::Answer(a) => {
                let doc = self.engine.snapshot(uri)?.doc;
                Ok(Completion {
                    replaces: doc.slice_bytes(a.range.start, offset),
                    text: a.text,
                    provider: a.provider,
                    model: a.model,
                    latency_ms: a.latency.as_millis() as u64,
                })
            }
            InlineOutcome::Nothing { reason } => {
                Err(ToolError::NoCompletion(format!("no completion at {shown}: {reason}")))
            }
            InlineOutcome::Superseded => {
                Err(ToolError::NoCompletion(format!("a newer completion request for {shown} took over; ask again")))
            }
        }
    }

    /// The nested outline of a workspace file.
    pub fn symbols(&self, path: &str) -> Result<Outline, ToolError> {
        let (real, uri) = self.open(path)?;
        let outline = self.engine.outline(&uri)?;
        let doc = &outline.doc;
        let line = |byte: usize| doc.position_of(byte, Encoding::Utf32).line as usize + 1;
        fn convert(items: &[OutlineItem], line: &dyn Fn(usize) -> usize) -> Vec<Symbol> {
            items
                .iter()
                .map(|i| Symbol {
                    name: i.name.clone(),
                    kind: i.kind.clone(),
                    start_line: line(i.range.start),
                    end_line: line(i.range.end.saturating_sub(1).max(i.range.start)),
                    children: convert(&i.children, line),
                })
                .collect()
        }
        Ok(Outline {
            path: self.workspace.display(&real),
            language: doc.language_id.clone(),
            symbols: convert(&outline.items, &line),
        })
    }

    /// What an inline completion at the position would send, as labelled parts; sends nothing.
    pub fn context(&self, path: &str, line: u32, column: u32) -> Result<String, ToolError> {
        let (real, uri) = self.open(path)?;
        let shown = self.workspace.display(&real);
        let offset = self.offset(&uri, &shown, line, column)?;
        let (req, off) = self.engine.inline_request(&uri, offset)?;
        let chain = self.engine.upstream().router.table.chain(&Task::Inline, &req.language);
        let mut out = String::new();
        let _ = writeln!(out, "What an inline completion at {shown}:{line}:{column} would send (nothing was sent).");
        if off {
            let _ = writeln!(out, "Switchboard is off for this file: in fact nothing would be sent.");
        }
        let _ = writeln!(out, "route inline: {}", chain.join(" → "));
        let _ = writeln!(out, "language: {}", req.language);
        if let Some(max) = req.max_output_tokens {
            let _ = writeln!(out, "max output tokens: {max}");
        }
        let tokens = |s: &str| s.len().div_ceil(BYTES_PER_TOKEN);
        let total: usize = [&req.system, &req.context, &req.prefix, &req.suffix].iter().map(|s| tokens(s)).sum();
        let _ = writeln!(out, "prompt: about {total} tokens");
        for (label, part) in
            [("system", &req.system), ("context", &req.context), ("prefix", &req.prefix), ("suffix", &req.suffix)]
        {
            let _ = writeln!(out, "\n=== {label} (about {} tokens) ===", tokens(part));
            out.push_str(part);
            if !part.ends_with('\n') {
                out.push('\n');
            }
        }
        Ok(out)
    }

    /// Runs `name` (explain or an edit action) on lines `start_line..=end_line` of a workspace
    /// file: an explanation, or the edit as a unified diff, written to disk when `apply` is set.
    pub async fn action(
        &self,
        name: &str,
        path: &str,
        start_line: u32,
        end_line: Option<u32>,
        instruction: Option<&str>,
        apply: bool,
    ) -> Result<ActionAnswer, ToolError> {
        let mut action = Action::find(name, &self.engine.config())?;
        if let Some(extra) = instruction.map(str::trim).filter(|s| !s.is_empty()) {
            action.custom_prompt = Some(with_instruction(action.custom_prompt.take(), extra));
        }
        let (real, uri) = self.open(path)?;
        let shown = self.workspace.display(&real);
        let state = self.engine.snapshot(&uri)?;
        let doc = &state.doc;
        let end_line = end_line.unwrap_or(start_line);
        // Ropes count the empty line after a final newline; people do not.
        let ends_with_newline = doc.rope.len_chars() > 0 && doc.rope.char(doc.rope.len_chars() - 1) == '\n';
        let lines = (doc.rope.len_lines() - usize::from(ends_with_newline)).max(1) as u32;
        if start_line == 0 || end_line < start_line {
            return Err(ToolError::Argument(format!(
                "lines are 1-based and `end_line` ({end_line}) must not be before `start_line` ({start_line})"
            )));
        }
        if start_line > lines {
            return Err(ToolError::Argument(format!("{shown} has {lines} lines; `start_line` is {start_line}")));
        }
        let end_line = end_line.min(lines);
        // From the first non-blank character of the first line to the end of the last one's text.
        let first = doc.rope.line(start_line as usize - 1).to_string();
        let indent = first.chars().take_while(|c| c.is_whitespace() && *c != '\n').count() as u32;
        let start = doc.offset_of(Position::new(start_line - 1, indent), Encoding::Utf32);
        let last = doc.rope.line(end_line as usize - 1).to_string();
        let last_len = last.trim_end_matches(['\n', '\r']).chars().count() as u32;
        let end = doc.offset_of(Position::new(end_line - 1, last_len), Encoding::Utf32).max(start);

        let index = self.engine.index_snapshot();
        let root = self.workspace.root();
        let prepared = run::prepare(action, &state, start..end, &[], &index, Some(root))?;
        let mut answer = run::start(&self.engine.upstream(), prepared.request.clone()).await?;
        let record = answer.record();
        let who = format!("{} ({})", record.provider, record.model);
        let (first_line, last_line) = prepared.lines();
        let spot = format!("{shown}:{first_line}-{last_line}");
        if prepared.action.output == Output::Explanation {
            while let Some(piece) = answer.next().await {
                piece?;
            }
            let mut text = answer.text().trim_end().to_owned();
            if answer.truncated() {
                text.push_str("\n\n(cut off at the output token limit)");
            }
            return Ok(ActionAnswer::Explanation {
                text,
                summary: format!("{} of {spot} by {who}", prepared.action.title()),
            });
        }
        let (text, _) = answer.finish().await?;
        let result = self.edit(&prepared, &text, &real, apply)?;
        Ok(ActionAnswer::Edit(EditResult {
            diff: result.0,
            summary: format!("{} of {spot} by {who}: {}", prepared.action.title(), result.1),
        }))
    }

    /// The diff of an answer, and with `apply` the file written as `switchboard action --apply`
    /// writes it; returns (diff, what happened).
    fn edit(
        &self,
        prepared: &run::Prepared,
        answer: &str,
        file: &Path,
        apply: bool,
    ) -> Result<(String, String), ToolError> {
        let shown = |p: &Path| self.workspace.display(p);
        let planned = actions::cli::plan(prepared, answer, &prepared.text).map_err(ToolError::from_anyhow)?;
        let target = edit::uri_to_path(&planned.file.uri).unwrap_or_else(|| file.to_path_buf());
        let diff = actions::diff::unified_diff(&shown(&target), &planned.file.base, &planned.file.result());
        if planned.file.is_empty() {
            return Ok((diff, "no changes suggested".into()));
        }
        let errors = planned
            .new_errors
            .map(|(before, after)| format!("the edit would add syntax errors ({before} → {after} ERROR nodes)"));
        if !apply {
            let note = match &errors {
                Some(e) => format!("not applied (pass apply: true to write it); warning: {e}"),
                None => "not applied (pass apply: true to write it)".into(),
            };
            return Ok((diff, note));
        }
        if let Some(e) = errors {
            return Err(ToolError::Refused(format!(
                "{e}; not applied. Review the diff and edit by hand, or ask again"
            )));
        }
        self.workspace.check_writable(&target)?;
        apply_planned(prepared, answer, file).map_err(ToolError::from_anyhow)?;
        Ok((diff, format!("applied to {}", shown(&target))))
    }
}

/// The one place the MCP server writes files: the same safety as `switchboard action --apply`
/// (planned again against the file as it is now, then `files::write_file_safely`: refused when the
/// file changed meanwhile, is read-only or hard-linked; an agent has no `--force`).
fn apply_planned(prepared: &run::Prepared, answer: &str, file: &Path) -> anyhow::Result<()> {
    let planned = match &prepared.tests {
        Some(TestLocation::File(_)) => actions::cli::plan(prepared, answer, &prepared.text)?,
        _ => actions::cli::plan(prepared, answer, &read_text(file, &file.display().to_string())?)?,
    };
    let edit = &planned.file;
    let target = edit::uri_to_path(&edit.uri).ok_or_else(|| anyhow::anyhow!("the edit's target is not a file"))?;
    let expected = (!edit.create).then_some(edit.base.as_str());
    crate::files::write_file_safely(&target, expected, &edit.result(), false)?;
    Ok(())
}

/// What an action answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionAnswer {
    Explanation { text: String, summary: String },
    Edit(EditResult),
}

/// The agent's instruction joins the action's own prompt; built-in actions have none, and keep
/// their task instructions in the system prompt either way.
fn with_instruction(prompt: Option<String>, extra: &str) -> String {
    match prompt {
        Some(p) => format!("{p}\n\nAlso: {extra}"),
        None => format!("The user asks: {extra}"),
    }
}

fn read_text(path: &Path, shown: &str) -> Result<String, ToolError> {
    // The bounded reader the CLI uses: no FIFO, device or directory blocks the server, no file over
    // the document limit is read, binary and non-UTF-8 files are refused with a reason.
    crate::files::read_text(path).map_err(|e| match e {
        crate::files::FileError::Read { source, .. } => {
            ToolError::NotFound { path: shown.to_owned(), reason: source.to_string() }
        }
        other => ToolError::Argument(other.to_string()),
    })
}
