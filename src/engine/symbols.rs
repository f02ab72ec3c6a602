//! Symbols from the tree-sitter definitions: one document's outline (LSP documentSymbol, the MCP
//! `symbols` tool) and a relaxed search over the open documents and the workspace index (LSP
//! workspace/symbol).

use super::{Engine, EngineError};
use crate::{
    documents::{Document, Encoding, Position},
    syntax::{
        SyntaxTree,
        outline::{self, OutlineItem},
    },
};

/// A document's outline with the document it was read from (for position conversion).
#[derive(Debug, Clone)]
pub struct DocumentOutline {
    pub doc: Document,
    pub items: Vec<OutlineItem>,
}

/// One workspace-symbol hit, positions in the encoding the caller asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolMatch {
    pub uri: String,
    pub name: String,
    pub kind: String,
    /// The item it is defined in (a method's class).
    pub container: Option<String>,
    pub range: (Position, Position),
    pub name_range: (Position, Position),
}

impl Engine {
    /// The nested outline of an open document; empty for plain text and languages without a
    /// definitions query.
    pub fn outline(&self, uri: &str) -> Result<DocumentOutline, EngineError> {
        let state = self.snapshot(uri)?;
        let items = match (&state.syntax, state.plain) {
            (Some(tree), false) => outline::build(tree.definitions(&state.doc.rope, None)),
            _ => Vec::new(),
        };
        Ok(DocumentOutline { doc: state.doc, items })
    }

    /// Definitions in the open documents whose names match `query` (see [`outline::matches`]),
    /// best first, at most `limit`.
    pub fn workspace_symbols(&self, query: &str, limit: usize, enc: Encoding) -> Vec<SymbolMatch> {
        // Copy the states out first: parsing must not hold a map entry, and a search must not
        // evict the trees of the documents being typed in (so no `snapshot`, which marks use).
        let states: Vec<_> = self
            .docs
            .iter_mut()
            .map(|mut entry| {
                if !entry.syntax_dropped {
                    entry.ensure_parsed();
                }
                entry.value().clone()
            })
            .collect();
        let mut hits: Vec<(u32, SymbolMatch)> = Vec::new();
        for state in states {
            if state.plain {
                continue;
            }
            // A cold document (tree dropped to save memory) is parsed for this search only.
            let cold;
            let tree = match (&state.syntax, state.lang) {
                (Some(t), _) => t,
                (None, Some(lang)) if state.syntax_dropped => match SyntaxTree::parse(lang, &state.doc.rope) {
                    Some(t) => {
                        cold = t;
                        &cold
                    }
                    None => continue,
                },
                _ => continue,
            };
            let items = outline::build(tree.definitions(&state.doc.rope, None));
            let doc = &state.doc;
            let span = |r: &std::ops::Range<usize>| (doc.position_of(r.start, enc), doc.position_of(r.end, enc));
            for (item, container) in outline::flatten(&items) {
                if let Some(score) = outline::matches(&item.name, query) {
                    hits.push((
                        score,
                        SymbolMatch {
                            uri: doc.uri.clone(),
                            name: item.name.clone(),
                            kind: item.kind.clone(),
                            container: container.map(str::to_owned),
                            range: span(&item.range),
                            name_range: span(&item.name_range),
                        },
                    ));
                }
            }
        }
        // Files on disk that are not open come from the workspace index: it keeps their
        // definitions' lines, not their text, so a hit spans the start of its line.
        let open: std::collections::HashSet<crate::index::FileKey> =
            self.docs.iter().map(|e| crate::index::FileKey::from_uri(e.key())).collect();
        let index = self.index_snapshot();
        for def in index.search(query, limit.saturating_mul(2)) {
            let Some(path) = def.file.as_path().filter(|_| !open.contains(&def.file)) else { continue };
            let Some(score) = outline::matches(&def.name, query) else { continue };
            let at = Position::new(u32::try_from(def.line).unwrap_or(u32::MAX), 0);
            hits.push((
                score,
                SymbolMatch {
                    uri: crate::actions::edit::path_to_uri(path),
                    name: def.name.clone(),
                    kind: def.query_kind.clone(),
                    container: def.container.clone(),
                    range: (at, at),
                    name_range: (at, at),
                },
            ));
        }
        hits.sort_by(|(a, x), (b, y)| {
            a.cmp(b).then(x.name.len().cmp(&y.name.len())).then_with(|| (&x.uri, x.range.0).cmp(&(&y.uri, y.range.0)))
        });
        hits.into_iter().take(limit).map(|(_, m)| m).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outline_of_an_open_document_and_of_plain_text() {
        let engine = Engine::default();
        engine.open("file:///a.py", "python", 1, "class Cart:\n    def total(self):\n        return 0\n");
        let outline = engine.outline("file:///a.py").unwrap();
        assert_eq!(outline.items.len(), 1);
        assert_eq!(outline.items[0].children[0].kind, "method");
        engine.open("file:///notes.txt", "plaintext", 1, "class Cart:\n");
        assert!(engine.outline("file:///notes.txt").unwrap().items.is_empty());
        assert!(matches!(engine.outline("file:///missing.py"), Err(EngineError::UnknownDocument(_))));
    }

    #[test]
    fn workspace_search_ranks_and_names_containers_across_documents() {
        let engine = Engine::default();
        engine.open("file:///a.py", "python", 1, "class Cart:\n    def total(self):\n        return 0\n");
        engine.open("file:///b.rs", "rust", 1, "fn total_price() {}\nfn subtotal() {}\nfn other() {}\n");
        let hits = engine.workspace_symbols("total", 10, Encoding::Utf16);
        let names: Vec<_> = hits.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, vec!["total", "total_price", "subtotal"]);
        assert_eq!(hits[0].container.as_deref(), Some("Cart"));
        assert_eq!(hits[0].name_range.0, Position::new(1, 8));
        assert_eq!(hits[1].uri, "file:///b.rs");
        assert_eq!(engine.workspace_symbols("", 2, Encoding::Utf16).len(), 2, "the limit holds");
    }

    #[test]
    fn files_on_disk_are_found_through_the_index() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("billing.py"), "def compute_invoice_total(items):\n    return 0\n").unwrap();
        let engine = Engine::default();
        engine.index_workspace(dir.path());
        engine.wait_indexed();
        // The walk runs on its own thread; wait for its result to reach the snapshot.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let hits = loop {
            let hits = engine.workspace_symbols("invoice_total", 10, Encoding::Utf16);
            if !hits.is_empty() || std::time::Instant::now() > deadline {
                break hits;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].name, "compute_invoice_total");
        assert!(hits[0].uri.ends_with("/billing.py"), "{}", hits[0].uri);
        assert_eq!(hits[0].range.0, Position::new(0, 0));
    }

    #[test]
    fn cold_documents_are_searched_without_keeping_their_tree() {
        let engine = Engine::default();
        engine.open("file:///cold.rs", "rust", 1, "fn needle() {}\n");
        for i in 0..super::super::HOT_TREES + 1 {
            engine.open(&format!("file:///f{i}.rs"), "rust", 1, "fn x() {}\n");
        }
        assert!(engine.docs.get("file:///cold.rs").unwrap().syntax_dropped);
        let hits = engine.workspace_symbols("needle", 10, Encoding::Utf8);
        assert_eq!(hits.len(), 1);
        assert!(engine.docs.get("file:///cold.rs").unwrap().syntax.is_none(), "still cold");
    }
}
