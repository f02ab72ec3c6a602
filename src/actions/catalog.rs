//! Which actions to offer and on what: the selection, else the innermost enclosing function or
//! class (tree-sitter scopes), else the code on the cursor's line. Listing costs nothing: no model
//! is called until the user picks an action.

use std::ops::Range;

use ropey::Rope;

use super::{Action, ActionId};
use crate::{config::Config, syntax::SyntaxTree};

/// How an editor should file an offer (the server maps these to LSP kinds; `source` is avoided
/// because VS Code's Ctrl+. hides source actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferKind {
    QuickFix,
    RefactorRewrite,
    Refactor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub action: Action,
    pub kind: OfferKind,
}

/// The byte range an action works on. A selection that is only whitespace counts as a cursor.
pub fn target(rope: &Rope, syntax: Option<&SyntaxTree>, selection: Range<usize>) -> Option<Range<usize>> {
    let len = rope.len_bytes();
    let sel = selection.start.min(len)..selection.end.min(len);
    if sel.start < sel.end && !crate::syntax::slice(rope, sel.clone()).trim().is_empty() {
        return Some(sel);
    }
    let at = sel.start;
    if let Some(scope) = syntax.and_then(|t| t.scopes_at(rope, at).into_iter().next()) {
        return Some(scope);
    }
    // No enclosing item (a top-level statement, or no grammar): the cursor's line, without its
    // indentation and line break.
    let line = rope.byte_to_line(at);
    let start = rope.line_to_byte(line);
    let text = rope.line(line).to_string();
    let content = text.trim_end_matches(['\n', '\r']);
    let trimmed = content.trim_start();
    if trimmed.trim().is_empty() {
        return None;
    }
    let lead = content.len() - trimmed.len();
    Some(start + lead..start + content.trim_end().len())
}

/// The actions offered for a target: Fix only when the editor reports diagnostics in range, then
/// one per `[[actions]]` entry.
pub fn offers(config: &Config, has_diagnostics: bool) -> Vec<Offer> {
    let mut out = Vec::new();
    let mut push = |id, kind| out.push(Offer { action: Action::builtin(id), kind });
    if has_diagnostics {
        push(ActionId::Fix, OfferKind::QuickFix);
    }
    push(ActionId::Explain, OfferKind::Refactor);
    push(ActionId::Refactor, OfferKind::RefactorRewrite);
    push(ActionId::Document, OfferKind::Refactor);
    push(ActionId::Tests, OfferKind::Refactor);
    out.extend(config.actions.iter().map(|a| Offer { action: Action::custom(a), kind: OfferKind::Refactor }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::{Languages, slice};

    fn check(lang: &str, fixture: &str, expected: Option<&str>) {
        // `$0` marks the cursor; `[...]` a selection.
        let (text, sel) = if let Some(i) = fixture.find("$0") {
            (fixture.replacen("$0", "", 1), i..i)
        } else {
            let s = fixture.find('[').unwrap();
            let e = fixture.find(']').unwrap() - 1;
            (fixture.replacen('[', "", 1).replacen(']', "", 1), s..e)
        };
        let rope = Rope::from_str(&text);
        let tree = Languages::global().by_id(lang).and_then(|l| SyntaxTree::parse(l, &rope));
        let got = target(&rope, tree.as_ref(), sel).map(|r| slice(&rope, r));
        assert_eq!(got.as_deref(), expected, "{fixture}");
    }

    #[test]
    fn selection_then_scope_then_line() {
        check("rust", "fn a() {\n    [let x = 1;]\n}\n", Some("let x = 1;"));
        check(
            "rust",
            "struct S;\nimpl S {\n    fn a() {\n        let $0x = 1;\n    }\n}\n",
            Some("fn a() {\n        let x = 1;\n    }"),
        );
        check("python", "x = 1\ny = $0compute(x)  \n", Some("y = compute(x)"));
        check("python", "x = 1\n$0\n", None);
        check("plaintext", "hello\n  wor$0ld \n", Some("world"));
        check("rust", "fn a() {}\n[   ]\n", None);
    }

    #[test]
    fn fix_needs_diagnostics() {
        let titles = |d| offers(&Config::default(), d).iter().map(|o| o.action.title()).collect::<Vec<_>>();
        assert_eq!(
            titles(false),
            [
                "Switchboard: Explain",
                "Switchboard: Refactor",
                "Switchboard: Add documentation",
                "Switchboard: Write tests"
            ]
        );
        assert_eq!(titles(true)[0], "Switchboard: Fix");
    }
}
