//! The workspace as resolution sees it: the symbol index (open documents and files on disk,
//! one key space, one signature extractor), optionally restricted to the current language family.

use super::resolve::{Def, Workspace};

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
