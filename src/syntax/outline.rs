//! A document's outline: the flat definitions the tree-sitter query finds, nested by their byte
//! ranges (a method inside its class or impl, a field inside its struct). Shared by the MCP
//! `symbols` tool and LSP `textDocument/documentSymbol`; `workspace/symbol` ranks flattened
//! outlines with [`matches`]. Pure: definitions in, tree out.

use std::ops::Range;

use super::Definition;

/// One symbol of the outline, with the symbols defined inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlineItem {
    pub name: String,
    /// The definition kind (`function`, `method`, `type`, `impl`, `constant`, `module`, `member`,
    /// `macro`); a function directly inside a type or impl is a `method`.
    pub kind: String,
    /// The whole definition, in bytes.
    pub range: Range<usize>,
    /// The name, in bytes; always inside `range`.
    pub name_range: Range<usize>,
    pub children: Vec<OutlineItem>,
}

/// Kinds whose nested functions are methods.
const CONTAINERS: &[&str] = &["type", "impl", "class", "interface"];

/// Nests `defs` by containment. A definition whose range is the same as one already placed (two
/// query patterns matching one node) is dropped; so is one with an empty name.
pub fn build(mut defs: Vec<Definition>) -> Vec<OutlineItem> {
    // Outer first: by start, then the longest range.
    defs.sort_by(|a, b| a.range.start.cmp(&b.range.start).then(b.range.end.cmp(&a.range.end)));
    defs.dedup_by(|b, a| a.range == b.range);
    let mut roots: Vec<OutlineItem> = Vec::new();
    // Indices into the path from a root to the innermost open item.
    let mut stack: Vec<OutlineItem> = Vec::new();
    for def in defs {
        let name = def.name.trim();
        if name.is_empty() {
            continue;
        }
        while stack.last().is_some_and(|open| !contains(&open.range, &def.range)) {
            close(&mut stack, &mut roots);
        }
        let inside_container = stack.last().is_some_and(|p| CONTAINERS.contains(&p.kind.as_str()));
        let kind = if def.kind == "function" && inside_container { "method".to_owned() } else { def.kind };
        let name_range = if contains(&def.range, &def.name_range) { def.name_range } else { def.range.clone() };
        stack.push(OutlineItem { name: single_line(name), kind, range: def.range, name_range, children: Vec::new() });
    }
    while !stack.is_empty() {
        close(&mut stack, &mut roots);
    }
    roots
}

fn close(stack: &mut Vec<OutlineItem>, roots: &mut Vec<OutlineItem>) {
    if let Some(done) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent.children.push(done),
            None => roots.push(done),
        }
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// Names are shown on one line (a Rust `impl` is named by its whole type, which may wrap).
fn single_line(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every item of the outline, depth first, with the name of the item it is in.
pub fn flatten(items: &[OutlineItem]) -> Vec<(&OutlineItem, Option<&str>)> {
    fn walk<'a>(
        items: &'a [OutlineItem],
        container: Option<&'a str>,
        out: &mut Vec<(&'a OutlineItem, Option<&'a str>)>,
    ) {
        for item in items {
            out.push((item, container));
            walk(&item.children, Some(&item.name), out);
        }
    }
    let mut out = Vec::new();
    walk(items, None, &mut out);
    out
}

/// How well `name` matches a workspace-symbol `query`, lower is better; `None` when it does not.
/// As the LSP spec asks, the match is relaxed: case-insensitive, the query's characters in order
/// (exact, prefix and substring matches rank first). An empty query matches everything.
pub fn matches(name: &str, query: &str) -> Option<u32> {
    if query.is_empty() {
        return Some(4);
    }
    let (name_l, query_l) = (name.to_lowercase(), query.to_lowercase());
    if name_l == query_l {
        return Some(0);
    }
    if name_l.starts_with(&query_l) {
        return Some(1);
    }
    if name_l.contains(&query_l) {
        return Some(2);
    }
    let mut chars = name_l.chars();
    query_l.chars().all(|q| chars.any(|c| c == q)).then_some(3)
}

#[cfg(test)]
mod tests {
    use ropey::Rope;

    use super::*;
    use crate::syntax::{Languages, SyntaxTree};

    fn outline(lang: &str, text: &str) -> Vec<OutlineItem> {
        let rope = Rope::from_str(text);
        let tree = SyntaxTree::parse(Languages::global().by_id(lang).unwrap(), &rope).unwrap();
        build(tree.definitions(&rope, None))
    }

    /// (depth, kind, name) of every item, depth first.
    fn shape(items: &[OutlineItem]) -> Vec<(usize, String, String)> {
        fn walk(items: &[OutlineItem], depth: usize, out: &mut Vec<(usize, String, String)>) {
            for i in items {
                out.push((depth, i.kind.clone(), i.name.clone()));
                walk(&i.children, depth + 1, out);
            }
        }
        let mut out = Vec::new();
        walk(items, 0, &mut out);
        out
    }

    fn s(depth: usize, kind: &str, name: &str) -> (usize, String, String) {
        (depth, kind.into(), name.into())
    }

    #[test]
    fn python_classes_hold_their_methods() {
        let text = "LIMIT = 3\n\nclass Cart:\n    def add(self, x):\n        pass\n\n    def total(self):\n        \
                    return 0\n\ndef main():\n    pass\n";
        let items = outline("python", text);
        assert_eq!(
            shape(&items),
            vec![
                s(0, "constant", "LIMIT"),
                s(0, "type", "Cart"),
                s(1, "method", "add"),
                s(1, "method", "total"),
                s(0, "function", "main")
            ]
        );
        let cart = &items[1];
        assert_eq!(&text[cart.name_range.clone()], "Cart");
        assert!(text[cart.range.clone()].starts_with("class Cart:") && text[cart.range.clone()].ends_with("return 0"));
    }

    #[test]
    fn rust_impls_structs_and_enums_nest() {
        let text = "struct Cart {\n    items: Vec<u32>,\n}\n\nimpl Cart {\n    fn total(&self) -> u32 {\n        \
                    0\n    }\n}\n\nenum Mode { Fast, Slow }\n\nfn main() {}\n";
        assert_eq!(
            shape(&outline("rust", text)),
            vec![
                s(0, "type", "Cart"),
                s(1, "member", "items"),
                s(0, "impl", "Cart"),
                s(1, "method", "total"),
                s(0, "type", "Mode"),
                s(1, "member", "Fast"),
                s(1, "member", "Slow"),
                s(0, "function", "main")
            ]
        );
    }

    #[test]
    fn typescript_class_methods() {
        let text = "export class Cart {\n  total(): number { return 0; }\n}\nexport function main() {}\n";
        let got = shape(&outline("typescript", text));
        assert_eq!(got.first(), Some(&s(0, "type", "Cart")), "{got:?}");
        assert!(got.contains(&s(1, "method", "total")), "{got:?}");
        assert!(got.contains(&s(0, "function", "main")), "{got:?}");
    }

    #[test]
    fn duplicates_and_empty_names_are_dropped_and_names_stay_inside() {
        let def = |name: &str, kind: &str, range: Range<usize>, name_range: Range<usize>| Definition {
            name: name.into(),
            kind: kind.into(),
            range,
            name_range,
        };
        let items = build(vec![
            def("a", "function", 0..10, 3..4),
            def("a", "function", 0..10, 3..4),
            def(" ", "constant", 2..3, 2..3),
            def("odd", "type", 20..30, 40..43),
        ]);
        assert_eq!(items.len(), 2);
        assert!(items[0].children.is_empty());
        assert_eq!(items[1].name_range, 20..30, "a name outside its definition falls back to the range");
    }

    #[test]
    fn flatten_names_containers() {
        let items = outline("python", "class A:\n    def f(self):\n        pass\n");
        let flat: Vec<_> = flatten(&items).into_iter().map(|(i, c)| (i.name.as_str(), c)).collect();
        assert_eq!(flat, vec![("A", None), ("f", Some("A"))]);
    }

    #[test]
    fn relaxed_matching_ranks_exact_prefix_substring_subsequence() {
        assert_eq!(matches("computeTotal", "computetotal"), Some(0));
        assert_eq!(matches("computeTotal", "comp"), Some(1));
        assert_eq!(matches("computeTotal", "total"), Some(2));
        assert_eq!(matches("computeTotal", "cTl"), Some(3));
        assert_eq!(matches("computeTotal", "xyz"), None);
        assert_eq!(matches("anything", ""), Some(4));
    }
}
