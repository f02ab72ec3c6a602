//! The LSP side of symbols: `textDocument/documentSymbol` (nested `DocumentSymbol[]` for clients
//! that declare hierarchical support, flat `SymbolInformation[]` for the others) and
//! `workspace/symbol`, translated from the engine's tree-sitter outline.

use tower_lsp_server::{gen_lsp_types::*, jsonrpc::Result};

use super::{Backend, convert, engine_error};
use crate::{
    documents::{self, Document, Encoding},
    engine::SymbolMatch,
    syntax::outline::{self, OutlineItem},
};

/// Enough for any picker; a broad query over a large workspace is cut here.
const WORKSPACE_SYMBOL_LIMIT: usize = 256;

pub(crate) fn hierarchical(caps: &ClientCapabilities) -> bool {
    caps.text_document
        .as_ref()
        .and_then(|t| t.document_symbol.as_ref())
        .and_then(|d| d.hierarchical_document_symbol_support)
        .unwrap_or(false)
}

pub(crate) async fn document_symbols(
    backend: &Backend,
    params: DocumentSymbolParams,
    hierarchical: bool,
) -> Result<Option<DocumentSymbolResponse>> {
    let enc = backend.encoding();
    let uri = params.text_document.uri;
    let outline = backend.engine.outline(&uri.0).map_err(engine_error)?;
    let doc = &outline.doc;
    if hierarchical {
        return Ok(Some(nested(doc, &outline.items, enc).into()));
    }
    let flat = outline::flatten(&outline.items)
        .into_iter()
        .map(|(item, container)| {
            information(
                item.name.clone(),
                &item.kind,
                container.map(str::to_owned),
                Location { uri: uri.clone(), range: convert::range(doc, item.range.clone(), enc) },
            )
        })
        .collect::<Vec<_>>();
    Ok(Some(flat.into()))
}

pub(crate) async fn workspace_symbols(
    backend: &Backend,
    params: WorkspaceSymbolParams,
) -> Result<Option<WorkspaceSymbolResponse>> {
    let hits = backend.engine.workspace_symbols(&params.query, WORKSPACE_SYMBOL_LIMIT, backend.encoding());
    let list = hits
        .into_iter()
        .map(|SymbolMatch { uri, name, kind, container, range, .. }| {
            information(name, &kind, container, Location { uri: Uri(uri), range: lsp_range(range) })
        })
        .collect::<Vec<_>>();
    Ok(Some(list.into()))
}

fn nested(doc: &Document, items: &[OutlineItem], enc: Encoding) -> Vec<DocumentSymbol> {
    items
        .iter()
        .map(|item| {
            #[allow(deprecated)]
            DocumentSymbol {
                name: item.name.clone(),
                detail: None,
                kind: kind(&item.kind),
                tags: None,
                deprecated: None,
                range: convert::range(doc, item.range.clone(), enc),
                selection_range: convert::range(doc, item.name_range.clone(), enc),
                children: (!item.children.is_empty()).then(|| nested(doc, &item.children, enc)),
            }
        })
        .collect()
}

fn information(name: String, kind_name: &str, container: Option<String>, location: Location) -> SymbolInformation {
    #[allow(deprecated)]
    SymbolInformation {
        deprecated: None,
        location,
        base_symbol_information: BaseSymbolInformation {
            name,
            kind: kind(kind_name),
            tags: None,
            container_name: container,
        },
    }
}

fn lsp_range((start, end): (documents::Position, documents::Position)) -> Range {
    Range { start: convert::lsp_position(start), end: convert::lsp_position(end) }
}

/// The definitions query's kinds, as LSP symbol kinds. `type` covers structs, classes, enums and
/// traits alike (the queries do not tell them apart); an `impl` block is an object, as
/// rust-analyzer shows it.
fn kind(kind: &str) -> SymbolKind {
    match kind {
        "function" | "macro" => SymbolKind::Function,
        "method" => SymbolKind::Method,
        "type" | "class" => SymbolKind::Class,
        "interface" => SymbolKind::Interface,
        "impl" => SymbolKind::Object,
        "constant" => SymbolKind::Constant,
        "module" => SymbolKind::Module,
        "member" | "field" => SymbolKind::Field,
        _ => SymbolKind::Variable,
    }
}
