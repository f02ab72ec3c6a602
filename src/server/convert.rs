//! Conversions between LSP types and the engine's plain data: positions, changes, completion items
//! and the server's advertised capabilities.

use std::ops::Range as ByteRange;

use tower_lsp_server::gen_lsp_types::*;

use crate::{
    completion::{inline::InlineAnswer, local},
    documents::{self, Change, Document, Encoding},
    engine::Accepted,
    engine::LocalCompletion,
};

pub fn position(p: Position) -> documents::Position {
    documents::Position::new(p.line, p.character)
}

pub fn lsp_position(p: documents::Position) -> Position {
    Position { line: p.line, character: p.character }
}

pub fn range(doc: &Document, bytes: ByteRange<usize>, enc: Encoding) -> Range {
    Range { start: lsp_position(doc.position_of(bytes.start, enc)), end: lsp_position(doc.position_of(bytes.end, enc)) }
}

pub fn change(event: TextDocumentContentChangeEvent) -> Change {
    match event {
        TextDocumentContentChangeEvent::TextDocumentContentChangePartial(p) => {
            Change { range: Some((position(p.range.start), position(p.range.end))), text: p.text }
        }
        TextDocumentContentChangeEvent::TextDocumentContentChangeWholeDocument(w) => {
            Change { range: None, text: w.text }
        }
    }
}

fn item_kind(kind: local::SymbolKind) -> CompletionItemKind {
    use local::SymbolKind as K;
    match kind {
        K::Function => CompletionItemKind::Function,
        K::Method => CompletionItemKind::Method,
        K::Type => CompletionItemKind::Class,
        K::Constant => CompletionItemKind::Constant,
        K::Module => CompletionItemKind::Module,
        K::Member => CompletionItemKind::Field,
        K::Macro => CompletionItemKind::Function,
        K::Word => CompletionItemKind::Text,
    }
}

/// Popup items: each replaces exactly the typed part of the word.
pub fn local_items(doc: &Document, local: &LocalCompletion, enc: Encoding) -> Vec<CompletionItem> {
    let replace = range(doc, local.word.typed.clone(), enc);
    local
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| CompletionItem {
            label: c.text.clone(),
            kind: Some(item_kind(c.kind)),
            detail: Some(match &c.source {
                None => "local".to_owned(),
                Some(uri) => format!("local · {}", uri.rsplit('/').next().unwrap_or(uri)),
            }),
            sort_text: Some(format!("{i:04}")),
            filter_text: Some(c.text.clone()),
            text_edit: Some(CompletionItemTextEdit::TextEdit(TextEdit { range: replace, new_text: c.text.clone() })),
            ..Default::default()
        })
        .collect()
}

/// Ghost text for an engine answer; accepting it runs `switchboard.accept` with what the engine
/// needs to count it and prefetch the next suggestion.
pub fn inline_answer(doc: &Document, a: &InlineAnswer, enc: Encoding) -> InlineCompletionItem {
    let accepted = Accepted {
        uri: doc.uri.clone(),
        version: doc.version,
        start: a.range.start,
        end: a.range.end,
        text: a.text.clone(),
        provider: a.provider.clone(),
        language: doc.language_id.clone(),
    };
    InlineCompletionItem {
        insert_text: a.text.clone().into(),
        filter_text: None,
        range: Some(range(doc, a.range.clone(), enc)),
        command: Some(Command {
            title: "Accept".into(),
            command: "switchboard.accept".into(),
            arguments: Some(vec![serde_json::to_value(accepted).unwrap_or_default()]),
            ..Default::default()
        }),
    }
}

/// The model's suggestion as the first popup item. Popups filter on the word being typed, so the
/// item replaces that word with the word plus the suggestion.
pub fn model_item(doc: &Document, a: &InlineAnswer, enc: Encoding) -> CompletionItem {
    let word = local::word_at(&doc.rope, a.range.start);
    let new_text = format!("{}{}", word.prefix, a.text);
    let first = new_text.lines().next().unwrap_or_default().trim().to_owned();
    let label =
        if first.chars().count() > 60 { format!("{}…", first.chars().take(60).collect::<String>()) } else { first };
    CompletionItem {
        label,
        kind: Some(CompletionItemKind::Snippet),
        detail: Some(format!("{} · {} ms", a.provider, a.latency.as_millis())),
        documentation: Some(Documentation::MarkupContent(MarkupContent {
            kind: MarkupKind::Markdown,
            value: format!("```\n{new_text}\n```"),
        })),
        sort_text: Some("0000".into()),
        filter_text: Some(new_text.clone()),
        preselect: Some(true),
        text_edit: Some(CompletionItemTextEdit::TextEdit(TextEdit {
            range: range(doc, word.typed.start..a.range.end, enc),
            new_text,
        })),
        ..Default::default()
    }
}

pub fn initialize_result(enc: Encoding) -> InitializeResult {
    let encoding = match enc {
        Encoding::Utf8 => PositionEncodingKind::UTF8,
        Encoding::Utf16 => PositionEncodingKind::UTF16,
        Encoding::Utf32 => PositionEncodingKind::UTF32,
    };
    InitializeResult {
        capabilities: ServerCapabilities {
            position_encoding: Some(encoding),
            text_document_sync: Some(
                TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::Incremental),
                    // didSave keeps the workspace index's copy of the file current.
                    save: Some(true.into()),
                    ..Default::default()
                }
                .into(),
            ),
            completion_provider: Some(CompletionOptions {
                trigger_characters: Some(vec![".".into(), ":".into(), ">".into()]),
                resolve_provider: Some(false),
                ..Default::default()
            }),
            inline_completion_provider: Some(true.into()),
            document_symbol_provider: Some(true.into()),
            workspace_symbol_provider: Some(true.into()),
            code_action_provider: Some(
                CodeActionOptions {
                    code_action_kinds: Some(vec![
                        CodeActionKind::QuickFix,
                        CodeActionKind::Refactor,
                        CodeActionKind::RefactorRewrite,
                        CodeActionKind::Source,
                    ]),
                    resolve_provider: Some(true),
                    ..Default::default()
                }
                .into(),
            ),
            execute_command_provider: Some(ExecuteCommandOptions {
                commands: super::COMMANDS.iter().map(|c| (*c).to_owned()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        },
        server_info: Some(ServerInfo { name: "switchboard".into(), version: Some(env!("CARGO_PKG_VERSION").into()) }),
    }
}
