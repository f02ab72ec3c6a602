//! The published, immutable view of the index: a base (every file at the last compaction, with
//! one merged name index across them) and a small overlay of the files changed since. Lookups
//! consult both; nothing here scans every file.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use super::{Definition, Family, FileKey, FileSymbols, SymbolKind};

/// A name's statistics across files, for completion.
#[derive(Debug, Clone, PartialEq)]
pub struct NameHit<'a> {
    pub name: &'a str,
    /// Occurrences across the files considered.
    pub count: u32,
    pub kind: SymbolKind,
    pub defined: bool,
    /// One file it comes from (a defining one when there is one).
    pub file: &'a FileKey,
}

/// Per name and language family: what the base's files add up to.
#[derive(Debug, Clone)]
struct Agg {
    family: Option<Family>,
    count: u32,
    /// Files of this family that define the name.
    defining: u32,
    kind: SymbolKind,
    file: u32,
}

/// Every file at the last compaction and the merged name index over them.
#[derive(Debug, Default)]
pub(crate) struct Base {
    files: Vec<Arc<FileSymbols>>,
    by_key: HashMap<FileKey, u32>,
    /// Exact name -> (file, index into its definitions).
    defs: HashMap<String, Vec<(u32, u32)>>,
    names: HashMap<String, Vec<Agg>>,
    /// (lowercased name, name) of `names`, sorted.
    sorted: Vec<(String, String)>,
}

impl Base {
    pub(crate) fn build(files: impl IntoIterator<Item = Arc<FileSymbols>>) -> Base {
        let mut base = Base { files: files.into_iter().collect(), ..Base::default() };
        for (fi, f) in base.files.iter().enumerate() {
            let fi = fi as u32;
            base.by_key.insert(f.key.clone(), fi);
            for (di, d) in f.definitions.iter().enumerate() {
                base.defs.entry(d.name.clone()).or_default().push((fi, di as u32));
            }
            for (name, info) in &f.names {
                let aggs = base.names.entry(name.clone()).or_default();
                let agg = match aggs.iter_mut().find(|a| a.family == f.family) {
                    Some(a) => a,
                    None => {
                        aggs.push(Agg { family: f.family, count: 0, defining: 0, kind: SymbolKind::Word, file: fi });
                        aggs.last_mut().expect("just pushed")
                    }
                };
                agg.count += info.count;
                if info.defined {
                    if agg.defining == 0 {
                        agg.file = fi;
                        agg.kind = info.kind;
                    }
                    agg.defining += 1;
                }
            }
        }
        base.sorted = base.names.keys().map(|k| (k.to_lowercase(), k.clone())).collect();
        base.sorted.sort_unstable();
        base
    }

    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }

    pub(crate) fn files(&self) -> impl Iterator<Item = &Arc<FileSymbols>> {
        self.files.iter()
    }
}

/// Totals shown by `doctor` and in progress reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub files: usize,
    pub approx_bytes: usize,
    /// Workspace files indexed so far, and whether the first build has finished.
    pub workspace_files: usize,
    pub workspace_done: bool,
    /// Files left out because a bound was reached.
    pub skipped: usize,
}

/// One published state of the index. Cheap to hold: requests keep it for their whole duration.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub(crate) base: Arc<Base>,
    /// Files changed since the base was built; `None` marks a removed file.
    pub(crate) overlay: Arc<HashMap<FileKey, Option<Arc<FileSymbols>>>>,
    pub stats: IndexStats,
}

impl Snapshot {
    /// A snapshot of just these files (the CLI's one-shot runs, benchmarks and tests); the server
    /// gets its snapshots from the indexer.
    pub fn of(files: impl IntoIterator<Item = FileSymbols>) -> Snapshot {
        let base = Base::build(files.into_iter().map(Arc::new));
        let stats = IndexStats { files: base.len(), ..IndexStats::default() };
        Snapshot { base: Arc::new(base), stats, ..Snapshot::default() }
    }

    /// A file's symbols, open or on disk.
    pub fn file(&self, key: &FileKey) -> Option<&FileSymbols> {
        match self.overlay.get(key) {
            Some(f) => f.as_deref(),
            None => self.base.by_key.get(key).map(|&i| &*self.base.files[i as usize]),
        }
    }

    /// Definitions of one file, sorted by position (empty for an unknown file).
    pub fn definitions_in(&self, key: &FileKey) -> &[Definition] {
        self.file(key).map(|f| f.definitions.as_slice()).unwrap_or(&[])
    }

    /// Every file in the index.
    pub fn files(&self) -> impl Iterator<Item = &FileKey> {
        let base = self.base.files.iter().map(|f| &f.key).filter(|k| !self.overlay.contains_key(*k));
        base.chain(self.overlay.iter().filter(|(_, f)| f.is_some()).map(|(k, _)| k))
    }

    pub fn len(&self) -> usize {
        self.files().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Definitions named exactly `name`, across all files.
    pub fn lookup<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Definition> + use<'a> {
        let base = self.base.defs.get(name).into_iter().flatten().filter_map(|&(f, d)| {
            let file = &self.base.files[f as usize];
            (!self.overlay.contains_key(&file.key)).then(|| &file.definitions[d as usize])
        });
        // The overlay is small: its matches are gathered now, so `name` need not outlive the result.
        let overlay: Vec<&'a Definition> = self.overlay.values().flatten().flat_map(|f| f.defs_named(name)).collect();
        base.chain(overlay)
    }

    /// Names across files that start with `prefix` (ignoring case), of files in `family` (all
    /// files when `None`), leaving out `exclude` (the document being completed).
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &str,
        family: Option<Family>,
        exclude: Option<&FileKey>,
    ) -> Vec<NameHit<'a>> {
        let wanted = |f: Option<Family>| family.is_none() || f == family;
        let mut hits: HashMap<&'a str, (NameHit<'a>, u32)> = HashMap::new();
        let lower = prefix.to_lowercase();
        let start = self.base.sorted.partition_point(|(l, _)| l.as_str() < lower.as_str());
        for (_, name) in self.base.sorted[start..].iter().take_while(|(l, _)| l.starts_with(lower.as_str())) {
            let Some((name, aggs)) = self.base.names.get_key_value(name) else { continue };
            for a in aggs.iter().filter(|a| wanted(a.family)) {
                let file = &self.base.files[a.file as usize].key;
                let e = hits
                    .entry(name.as_str())
                    .or_insert((NameHit { name, count: 0, kind: SymbolKind::Word, defined: false, file }, 0));
                e.0.count += a.count;
                if a.defining > 0 && e.1 == 0 {
                    e.0.kind = a.kind;
                    e.0.file = file;
                }
                e.1 += a.defining;
            }
        }
        // Take out what the base holds of files that changed since, and of the excluded file.
        let hidden: HashSet<&FileKey> = self.overlay.keys().chain(exclude).collect();
        for key in hidden {
            let Some(&i) = self.base.by_key.get(key) else { continue };
            let f = &self.base.files[i as usize];
            if !wanted(f.family) {
                continue;
            }
            for (name, info) in f.with_prefix(prefix) {
                if let Some(e) = hits.get_mut(name) {
                    e.0.count = e.0.count.saturating_sub(info.count);
                    if info.defined {
                        e.1 = e.1.saturating_sub(1);
                    }
                    if e.0.count == 0 && e.1 == 0 {
                        hits.remove(name);
                    }
                }
            }
        }
        for (key, f) in self.overlay.iter() {
            let Some(f) = f else { continue };
            if Some(key) == exclude || !wanted(f.family) {
                continue;
            }
            for (name, info) in f.with_prefix(prefix) {
                let e = hits
                    .entry(name)
                    .or_insert((NameHit { name, count: 0, kind: SymbolKind::Word, defined: false, file: key }, 0));
                e.0.count += info.count;
                if info.defined {
                    if e.1 == 0 {
                        e.0.kind = info.kind;
                        e.0.file = key;
                    }
                    e.1 += 1;
                }
            }
        }
        hits.into_values()
            .map(|(mut h, defining)| {
                h.defined = defining > 0;
                if !h.defined {
                    h.kind = SymbolKind::Word;
                }
                h
            })
            .collect()
    }

    /// Definitions whose names match `query` (case-insensitive: prefix, then substring, then
    /// subsequence), best first, at most `limit`. For workspace/symbol.
    pub fn search(&self, query: &str, limit: usize) -> Vec<&Definition> {
        let q = query.to_lowercase();
        let mut scored: Vec<(u32, &Definition)> = Vec::new();
        for (name, postings) in &self.base.defs {
            let Some(score) = fuzzy_score(&q, name) else { continue };
            for &(f, d) in postings {
                let file = &self.base.files[f as usize];
                if !self.overlay.contains_key(&file.key) {
                    scored.push((score, &file.definitions[d as usize]));
                }
            }
        }
        for d in self.overlay.values().flatten().flat_map(|f| f.definitions.iter()) {
            if let Some(score) = fuzzy_score(&q, &d.name) {
                scored.push((score, d));
            }
        }
        scored.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.name.len().cmp(&b.1.name.len())).then(a.1.name.cmp(&b.1.name)));
        scored.into_iter().take(limit).map(|(_, d)| d).collect()
    }
}

/// Lower is better: 0 exact, 1 prefix, 2 substring, 3 subsequence; `None` when it does not match.
fn fuzzy_score(lower_query: &str, name: &str) -> Option<u32> {
    let lname = name.to_lowercase();
    if lower_query.is_empty() || lname == lower_query {
        return Some(0);
    }
    if lname.starts_with(lower_query) {
        return Some(1);
    }
    if lname.contains(lower_query) {
        return Some(2);
    }
    let mut chars = lname.chars();
    lower_query.chars().all(|q| chars.any(|c| c == q)).then_some(3)
}

#[cfg(test)]
mod tests {
    use ropey::Rope;

    use super::*;
    use crate::syntax::{Languages, SyntaxTree};

    fn file(path: &str, lang: &str, text: &str) -> Arc<FileSymbols> {
        let info = Languages::global().by_id(lang).unwrap();
        let rope = Rope::from_str(text);
        let tree = SyntaxTree::parse(info, &rope);
        Arc::new(FileSymbols::build(FileKey(Arc::from(path)), Some(1), Some(info), &rope, tree.as_ref(), true))
    }

    #[test]
    fn the_overlay_hides_and_replaces_base_files() {
        let a = file("/w/a.rs", "rust", "fn alpha_one() {}\nfn shared_name() {}\n");
        let b = file("/w/b.rs", "rust", "fn alpha_two() {}\nfn shared_name() {}\n");
        let py = file("/w/c.py", "python", "def alpha_three():\n    pass\n");
        let base = Arc::new(Base::build([a.clone(), b.clone(), py]));
        let mut snap = Snapshot { base, ..Snapshot::default() };
        assert_eq!(snap.lookup("shared_name").count(), 2);
        let mut names: Vec<&str> = snap.with_prefix("alp", Some("rust"), None).iter().map(|h| h.name).collect();
        names.sort();
        assert_eq!(names, ["alpha_one", "alpha_two"]);
        let excl = snap.with_prefix("alp", Some("rust"), Some(&a.key));
        assert_eq!(excl.iter().map(|h| h.name).collect::<Vec<_>>(), ["alpha_two"]);

        // b.rs changes: alpha_two goes, alpha_new comes; a.rs is removed.
        let b2 = file("/w/b.rs", "rust", "fn alpha_new() {}\n");
        let overlay = HashMap::from([(b.key.clone(), Some(b2)), (a.key.clone(), None)]);
        snap.overlay = Arc::new(overlay);
        let hits = snap.with_prefix("alp", Some("rust"), None);
        assert_eq!(hits.iter().map(|h| h.name).collect::<Vec<_>>(), ["alpha_new"]);
        assert!(hits[0].defined);
        assert_eq!(snap.lookup("shared_name").count(), 0);
        assert_eq!(snap.lookup("alpha_new").next().unwrap().file.as_str(), "/w/b.rs");
        assert!(snap.definitions_in(&a.key).is_empty());
        assert_eq!(snap.len(), 2);
        assert_eq!(snap.search("anew", 5)[0].name, "alpha_new");
        assert_eq!(snap.search("alpha", 10).len(), 2);
    }
}
