//! Running an action: cut the target and its context out of a document snapshot, build the prompt,
//! route it, and read the answer as it streams. Dropping an [`AnswerStream`] drops the HTTP stream
//! (or kills the CLI agent), so a cancelled action stops costing tokens at once.

use std::{
    collections::HashSet,
    ops::Range,
    path::{Path, PathBuf},
};

use futures_util::StreamExt;

use super::{
    Action, ActionError, Note, Output, catalog,
    edit::{self, TestLocation},
    prompt::{self, PromptInput, RelatedDefinition},
};
use crate::{
    engine::DocState,
    index::{FileKey, Snapshot, SymbolKind},
    providers::{AnswerRecord, EventStream, ModelRequest, Served, StreamEvent, router::RecordHandle},
    syntax::slice,
    upstream::Upstream,
};

/// An action bound to a document: what it works on, the text it started from, and the request.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub action: Action,
    pub uri: String,
    pub path: Option<PathBuf>,
    /// The path shown to the model and in messages.
    pub display_path: String,
    pub language: String,
    /// The document version and text the action started from.
    pub version: i32,
    pub text: String,
    pub target: Range<usize>,
    /// Write tests: where they go.
    pub tests: Option<TestLocation>,
    pub request: ModelRequest,
}

impl Prepared {
    pub fn target_text(&self) -> &str {
        self.text.get(self.target.clone()).unwrap_or("")
    }

    /// 1-based first and last line of the target.
    pub fn lines(&self) -> (usize, usize) {
        line_span(&self.text, &self.target)
    }
}

/// Binds `action` to the selection (or the enclosing function/class) of `state`. `others` are the
/// other open documents, mined for definitions the code uses; `root` is the workspace folder.
pub fn prepare(
    action: Action,
    state: &DocState,
    selection: Range<usize>,
    diagnostics: &[Note],
    index: &Snapshot,
    root: Option<&Path>,
) -> Result<Prepared, ActionError> {
    if let Some(reason) = state.privacy.reason() {
        return Err(ActionError::Withheld(reason.to_owned()));
    }
    let rope = &state.doc.rope;
    let syntax = state.syntax.as_ref();
    let target = catalog::target(rope, syntax, selection).ok_or(ActionError::NoTarget)?;
    let text = state.doc.text();
    let path = edit::uri_to_path(&state.doc.uri);
    let display_path = display_path(&state.doc.uri, path.as_deref(), root);
    let language = state.lang.map(|l| l.id.clone()).unwrap_or_else(|| state.doc.language_id.clone());
    let code = text.get(target.clone()).unwrap_or("");
    let lines = line_span(&text, &target);

    // The enclosing item gives a selection its surroundings; a whole item needs none.
    let scope = syntax
        .and_then(|t| {
            t.scopes_at(rope, target.start).into_iter().find(|s| s.start <= target.start && target.end <= s.end)
        })
        .filter(|s| *s != target)
        .map(|s| (slice(rope, s.clone()), line_span(&text, &s).0));
    let imports: Vec<String> =
        syntax.map(|t| t.imports(rope).into_iter().map(|r| slice(rope, r)).collect()).unwrap_or_default();
    let definitions = related_definitions(state, &target, index, root);
    let tests = (action.output == Output::Tests).then(|| edit::test_location(path.as_deref(), &language, root));
    let tests_display = tests.as_ref().map(|t| match t {
        TestLocation::SameFile => (display_path.clone(), true),
        TestLocation::File(p) => (display_path_of(p, root), p.exists()),
    });

    let mut request = prompt::build(&PromptInput {
        action: &action,
        path: &display_path,
        language: &language,
        code,
        lines,
        scope: scope.as_ref().map(|(s, l)| (s.as_str(), *l)),
        imports: &imports,
        definitions: &definitions,
        diagnostics,
        tests_path: tests_display.as_ref().map(|(p, e)| (p.as_str(), *e)),
    });
    request.workdir =
        root.map(Path::to_path_buf).or_else(|| path.as_deref().and_then(Path::parent).map(Path::to_path_buf));
    Ok(Prepared {
        action,
        uri: state.doc.uri.clone(),
        path,
        display_path,
        language,
        version: state.doc.version,
        text,
        target,
        tests,
        request,
    })
}

/// Signatures from the other open documents' symbol tables (uri, table) whose names occur in
/// the target, once each.
fn related_definitions(
    state: &DocState,
    target: &Range<usize>,
    index: &Snapshot,
    root: Option<&Path>,
) -> Vec<RelatedDefinition> {
    let Some(tree) = &state.syntax else { return Vec::new() };
    let mut names = Vec::new();
    tree.identifiers(&state.doc.rope, Some(target.clone()), |name, _| {
        if !names.contains(&name) {
            names.push(name);
        }
    });
    let own = FileKey::from_uri(&state.doc.uri);
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for name in &names {
        let wanted = |d: &&crate::index::Definition| {
            d.file != own
                && matches!(d.kind, SymbolKind::Function | SymbolKind::Method | SymbolKind::Type | SymbolKind::Macro)
        };
        let best =
            index.lookup(name).filter(wanted).min_by(|a, b| (&a.file, a.range.start).cmp(&(&b.file, b.range.start)));
        if let Some(def) = best
            && seen.insert(name.clone())
        {
            out.push(RelatedDefinition {
                path: display_path(def.file.as_str(), def.file.as_path(), root),
                name: name.clone(),
                text: def.signature.clone(),
            });
        }
    }
    out
}

fn display_path(uri: &str, path: Option<&Path>, root: Option<&Path>) -> String {
    match path {
        Some(p) => display_path_of(p, root),
        None => uri.to_owned(),
    }
}

fn display_path_of(p: &Path, root: Option<&Path>) -> String {
    root.and_then(|r| p.strip_prefix(r).ok()).unwrap_or(p).display().to_string()
}

/// 1-based first and last line of a byte range (a range ending right after a newline ends on the
/// line before it).
pub fn line_span(text: &str, range: &Range<usize>) -> (usize, usize) {
    let before = |i: usize| text.get(..i.min(text.len())).map_or(0, |s| s.matches('\n').count());
    let first = before(range.start) + 1;
    let end = if range.end > range.start && text.get(..range.end).is_some_and(|s| s.ends_with('\n')) {
        range.end - 1
    } else {
        range.end
    };
    (first, (before(end) + 1).max(first))
}

/// The answer as it streams.
pub struct AnswerStream {
    stream: EventStream,
    record: RecordHandle,
    text: String,
    stop_reason: Option<String>,
    done: bool,
}

impl AnswerStream {
    /// The next piece of text; `None` at the end of the answer.
    pub async fn next(&mut self) -> Option<Result<String, ActionError>> {
        while !self.done {
            match self.stream.next().await {
                Some(Ok(StreamEvent::Text(t))) => {
                    self.text.push_str(&t);
                    return Some(Ok(t));
                }
                Some(Ok(StreamEvent::Usage(_))) => {}
                Some(Ok(StreamEvent::Done { stop_reason })) => {
                    self.stop_reason = stop_reason;
                    self.done = true;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(ActionError::Interrupted(e.to_string())));
                }
                None => self.done = true,
            }
        }
        None
    }

    /// Everything received so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Output tokens so far: the provider's count when it sent one, else about 4 bytes a token.
    pub fn tokens(&self) -> u64 {
        self.record.snapshot().usage.map(|u| u.output_tokens).filter(|n| *n > 0).unwrap_or(self.text.len() as u64 / 4)
    }

    /// The answer was cut at the output limit (an edit made of it would be half a function).
    pub fn truncated(&self) -> bool {
        self.stop_reason.as_deref().is_some_and(|r| matches!(r, "max_tokens" | "length" | "max_output_tokens"))
    }

    pub fn record(&self) -> AnswerRecord {
        self.record.snapshot()
    }

    /// Reads the rest of the answer; for edits the whole answer must arrive before anything is
    /// changed, so a failure or a truncation mid-way is an error.
    pub async fn finish(mut self) -> Result<(String, AnswerRecord), ActionError> {
        while let Some(piece) = self.next().await {
            piece?;
        }
        if self.truncated() {
            return Err(ActionError::Truncated);
        }
        let record = self.record();
        Ok((self.text, record))
    }
}

/// Routes the request (fallbacks, retries with backoff honouring retry-after, as the router's
/// policy says for actions) and returns the answer's stream once it has started.
pub async fn start(upstream: &Upstream, request: ModelRequest) -> Result<AnswerStream, ActionError> {
    let route = request.task.route_name().to_owned();
    match upstream.router.run_route(&upstream.registry, request).await {
        Ok(Served::Remote { stream, record }) => {
            Ok(AnswerStream { stream, record, text: String::new(), stop_reason: None, done: false })
        }
        Ok(Served::Local { .. }) => Err(ActionError::LocalOnly { route }),
        Err(e) => Err(ActionError::Route(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_from_other_open_files_that_the_code_uses() {
        let engine = crate::engine::Engine::default();
        let cart = "pub struct Cart { items: Vec<u32> }\npub fn unused() {}\n";
        engine.open("file:///ws/src/cart.rs", "rust", 1, cart);
        engine.open("file:///ws/src/lib.rs", "rust", 1, "fn total(c: &Cart) -> u32 {\n    c.items.iter().sum()\n}\n");
        engine.wait_indexed();
        let state = engine.snapshot("file:///ws/src/lib.rs").unwrap();
        let action = super::super::Action::builtin(super::super::ActionId::Refactor);
        let p = prepare(action, &state, 5..5, &[], &engine.index_snapshot(), Some(Path::new("/ws"))).unwrap();
        assert!(p.request.context.contains("From src/cart.rs (`Cart`):"), "{}", p.request.context);
        assert!(!p.request.context.contains("unused"));
        assert_eq!(p.display_path, "src/lib.rs");
    }

    #[test]
    fn line_spans() {
        let t = "a\nbb\ncc\n";
        assert_eq!(line_span(t, &(0..1)), (1, 1));
        assert_eq!(line_span(t, &(2..8)), (2, 3));
        assert_eq!(line_span(t, &(2..5)), (2, 2));
        assert_eq!(line_span(t, &(8..8)), (4, 4));
    }
}
