//! Definitions of open documents for resolution, with whole signatures and, for types, their
//! members: the [`Workspace`] of the files the editor has open.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ropey::Rope;

use super::resolve::{Def, Workspace};
use crate::syntax::{SyntaxTree, slice};

/// Signatures longer than this are cut (a parameter list of a generated function).
const MAX_SIGNATURE_BYTES: usize = 1200;
/// Members listed per type.
const MAX_MEMBERS: usize = 24;

/// The definitions of one parsed file, each with its signature, members and container.
pub fn definitions(file: &str, rope: &Rope, tree: &SyntaxTree) -> Vec<Def> {
    let found = tree.definitions(rope, None);
    let mut defs: Vec<(std::ops::Range<usize>, Def)> = Vec::with_capacity(found.len());
    for d in &found {
        let signature = signature(rope, tree, d.range.clone());
        defs.push((
            d.range.clone(),
            Def {
                name: d.name.clone(),
                kind: d.kind.clone(),
                file: file.to_owned(),
                line: rope.byte_to_line(d.range.start.min(rope.len_bytes())),
                signature,
                members: Vec::new(),
                container: None,
            },
        ));
    }
    // Containers: the innermost definition around each one.
    for i in 0..defs.len() {
        let r = defs[i].0.clone();
        let container = defs
            .iter()
            .enumerate()
            .filter(|(j, (o, _))| *j != i && o.start <= r.start && r.end <= o.end && *o != r)
            .min_by_key(|(_, (o, _))| o.end - o.start)
            .map(|(j, _)| j);
        if let Some(j) = container {
            let (name, member) = (defs[j].1.name.clone(), first_line(&defs[i].1.signature));
            defs[i].1.container = Some(name);
            if defs[j].1.members.len() < MAX_MEMBERS {
                defs[j].1.members.push(member);
            }
        }
    }
    defs.into_iter().map(|(_, d)| d).collect()
}

fn first_line(s: &str) -> String {
    s.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

/// Everything before the definition's body (decorators aside): the whole parameter list, return
/// type, generics and where clauses; the whole text for items without a body.
fn signature(rope: &Rope, tree: &SyntaxTree, range: std::ops::Range<usize>) -> String {
    let mut node = tree.root().descendant_for_byte_range(range.start, range.end);
    let mut body_start = None;
    while let Some(n) = node {
        if n.byte_range() != range && n.start_byte() < range.start {
            break;
        }
        if let Some(body) = n.child_by_field_name("body") {
            body_start = Some(body.start_byte());
            break;
        }
        node = n.parent();
    }
    let end = body_start.unwrap_or(range.end).min(range.start + MAX_SIGNATURE_BYTES);
    let text = slice(rope, range.start..end);
    text.trim_end().trim_end_matches('{').trim_end().to_owned()
}

/// The open documents' definitions, looked up by name.
#[derive(Debug, Default)]
pub struct OpenFiles {
    by_name: HashMap<String, Vec<Def>>,
    files: HashSet<String>,
}

impl OpenFiles {
    pub fn new(files: &[Arc<Vec<Def>>], paths: impl IntoIterator<Item = String>) -> OpenFiles {
        let mut by_name: HashMap<String, Vec<Def>> = HashMap::new();
        for d in files.iter().flat_map(|f| f.iter()) {
            by_name.entry(d.name.clone()).or_default().push(d.clone());
        }
        OpenFiles { by_name, files: paths.into_iter().collect() }
    }
}

impl Workspace for OpenFiles {
    fn lookup(&self, name: &str) -> Vec<Def> {
        self.by_name.get(name).cloned().unwrap_or_default()
    }
    fn has_file(&self, file: &str) -> bool {
        self.files.contains(file)
    }
}

/// Open documents over the workspace index: an open document's definitions replace what the
/// index has of its file (the editor's text is newer than the disk's).
pub struct Layered<'a> {
    pub open: &'a OpenFiles,
    pub index: Option<&'a dyn Workspace>,
}

impl Workspace for Layered<'_> {
    fn lookup(&self, name: &str) -> Vec<Def> {
        let mut defs = self.open.lookup(name);
        if let Some(index) = self.index {
            defs.extend(index.lookup(name).into_iter().filter(|d| !self.open.has_file(&d.file)));
        }
        defs
    }
    fn has_file(&self, file: &str) -> bool {
        self.open.has_file(file) || self.index.is_some_and(|i| i.has_file(file))
    }
}

/// The workspace index: every file, open or on disk. Its files are keyed as [`Def::file`] is (the
/// absolute path; the URI for other schemes).
impl Workspace for crate::index::Snapshot {
    fn lookup(&self, name: &str) -> Vec<Def> {
        crate::index::Snapshot::lookup(self, name)
            .map(|d| Def {
                name: d.name.clone(),
                kind: d.query_kind.clone(),
                file: d.file.as_str().to_owned(),
                line: d.line,
                signature: d.signature.clone(),
                members: d.members.clone(),
                container: d.container.clone(),
            })
            .collect()
    }
    fn has_file(&self, file: &str) -> bool {
        self.file(&crate::index::FileKey::from_path(std::path::Path::new(file))).is_some()
    }
}

/// The index restricted to one language family (the current file's): a Rust file's names are no
/// context for TypeScript.
pub struct SameFamily<'a> {
    pub index: &'a crate::index::Snapshot,
    pub family: Option<crate::index::Family>,
}

impl Workspace for SameFamily<'_> {
    fn lookup(&self, name: &str) -> Vec<Def> {
        let mut defs = Workspace::lookup(self.index, name);
        if let Some(family) = self.family {
            let key = |f: &str| crate::index::FileKey::from_path(std::path::Path::new(f));
            defs.retain(|d| self.index.file(&key(&d.file)).and_then(|f| f.family) == Some(family));
        }
        defs
    }
    fn has_file(&self, file: &str) -> bool {
        self.index.has_file(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::Languages;

    fn defs(lang: &str, text: &str) -> Vec<Def> {
        let rope = Rope::from_str(text);
        let tree = SyntaxTree::parse(Languages::global().by_id(lang).unwrap(), &rope).unwrap();
        definitions("f", &rope, &tree)
    }

    #[test]
    fn whole_signatures_even_with_braces_in_defaults() {
        let d = defs("python", "def load(s, *, parse={'a': 1},\n         strict=True) -> dict:\n    return {}\n");
        assert_eq!(d[0].signature, "def load(s, *, parse={'a': 1},\n         strict=True) -> dict:");
        let d = defs(
            "rust",
            "pub fn parse<T: FromStr>(\n    text: &str,\n    opts: Opts,\n) -> Result<T, Error>\nwhere\n    T: Debug,\n{\n    todo!()\n}\n",
        );
        assert_eq!(
            d[0].signature,
            "pub fn parse<T: FromStr>(\n    text: &str,\n    opts: Opts,\n) -> Result<T, Error>\nwhere\n    T: Debug,"
        );
    }

    #[test]
    fn types_carry_their_members() {
        let d = defs(
            "python",
            "class Signer:\n    def __init__(self, key, salt=None):\n        pass\n    def sign(self, value):\n        pass\n",
        );
        let class = d.iter().find(|d| d.name == "Signer").unwrap();
        assert_eq!(class.members, ["def __init__(self, key, salt=None):", "def sign(self, value):"]);
        let sign = d.iter().find(|d| d.name == "sign").unwrap();
        assert_eq!(sign.container.as_deref(), Some("Signer"));
        let d = defs("rust", "pub struct Cart {\n    pub items: Vec<Item>,\n    total: u32,\n}\n");
        assert_eq!(d[0].members, ["pub items: Vec<Item>", "total: u32"]);
    }
}
