//! The indexer: one background thread that owns the mutable state of the index (open documents
//! with their own syntax trees, the files from disk, the base and overlay), applies batches of
//! messages and publishes a new [`Snapshot`] after each batch. Callers only send messages and read
//! the published snapshot, so neither a keystroke nor a request ever waits for parsing.

use std::{
    collections::{HashMap, VecDeque},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock, mpsc},
    time::{Duration, Instant},
};

use ropey::Rope;

use super::{
    FileKey, FileSymbols,
    extract::Span,
    snapshot::{Base, IndexStats, Snapshot},
    workspace,
};
use crate::{
    config::IndexConfig,
    documents::ByteEdit,
    syntax::{LanguageInfo, SyntaxTree},
};

/// Documents whose trees the indexer keeps between edits: the ones being typed in. Others are
/// parsed from scratch on their next edit (trees cost ~30 bytes per byte of source).
const KEPT_TREES: usize = 2;
/// The overlay is folded into a new base when it holds more files than this (or an eighth of
/// the base), so merging stays amortised linear while lookups consult few overlay files.
const MIN_COMPACTION: usize = 64;
/// A batch that took longer than this makes the indexer wait as long before the next one, when
/// the next is a keystroke (see `Indexer::run`).
const THROTTLE_AFTER: Duration = Duration::from_millis(2);
const MAX_THROTTLE: Duration = Duration::from_millis(100);
/// Files read ahead of the workspace walk when a document opens: those its imports name.
const MAX_IMPORTED_FILES: usize = 24;

/// Called with each tree the indexer parses for an open document (at open and after each
/// batch of edits), so the engine can take it instead of parsing again.
pub type OnParsed = Box<dyn Fn(&str, i32, SyntaxTree) + Send + Sync>;

enum Msg {
    Open {
        uri: String,
        key: FileKey,
        lang: Option<&'static LanguageInfo>,
        version: i32,
        rope: Rope,
        plain: bool,
    },
    Change {
        uri: String,
        key: FileKey,
        version: i32,
        rope: Rope,
        edits: Vec<ByteEdit>,
        plain: bool,
    },
    Close {
        key: FileKey,
    },
    /// A file on disk was read (`Some`) or is gone (`None`).
    Disk {
        key: FileKey,
        symbols: Option<Arc<FileSymbols>>,
    },
    /// Re-read one file from disk (didSave, didChangeWatchedFiles).
    Refresh {
        path: PathBuf,
        max_file_bytes: u64,
    },
    Progress {
        files: usize,
        skipped: usize,
        done: bool,
    },
    /// The workspace being indexed: the files an opened document imports are read at once.
    Workspace(Workspace),
    Flush(mpsc::SyncSender<()>),
}

/// What the indexer needs to read a file on its own, ahead of the walk.
struct Workspace {
    root: PathBuf,
    max_file_bytes: u64,
    keep: Arc<workspace::Keep>,
}

/// The handle the engine holds: send updates, read snapshots.
pub struct Index {
    published: Arc<RwLock<Arc<Snapshot>>>,
    tx: Mutex<mpsc::Sender<Msg>>,
}

impl Default for Index {
    fn default() -> Self {
        Index::new(Box::new(|_, _, _| {}))
    }
}

impl Index {
    /// Starts the indexer thread; `on_parsed` receives the trees it parses for open documents.
    pub fn new(on_parsed: OnParsed) -> Index {
        let published = Arc::new(RwLock::new(Arc::new(Snapshot::default())));
        let (tx, rx) = mpsc::channel();
        let state = Indexer {
            published: published.clone(),
            on_parsed,
            open: HashMap::new(),
            disk: HashMap::new(),
            base: Arc::new(Base::default()),
            overlay: HashMap::new(),
            trees: VecDeque::new(),
            stats: IndexStats::default(),
            workspace: None,
            retired: Vec::new(),
        };
        if let Err(e) = crate::threads::spawn_background("switchboard-index", move || state.run(rx)) {
            tracing::error!(
                "cannot start the indexer thread ({e}); completion falls back to the words near the cursor"
            );
        }
        Index { published, tx: Mutex::new(tx) }
    }

    /// The latest published state (an `Arc` clone under a read lock).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.published.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn send(&self, msg: Msg) {
        // A dead indexer thread leaves the last snapshot in place; nothing else to do.
        let _ = self.tx.lock().unwrap_or_else(|p| p.into_inner()).send(msg);
    }

    pub fn open(&self, uri: &str, lang: Option<&'static LanguageInfo>, version: i32, rope: Rope, plain: bool) {
        self.send(Msg::Open { uri: uri.to_owned(), key: FileKey::from_uri(uri), lang, version, rope, plain });
    }

    pub fn change(&self, uri: &str, version: i32, rope: Rope, edits: Vec<ByteEdit>, plain: bool) {
        self.send(Msg::Change { uri: uri.to_owned(), key: FileKey::from_uri(uri), version, rope, edits, plain });
    }

    pub fn close(&self, uri: &str) {
        self.send(Msg::Close { key: FileKey::from_uri(uri) });
    }

    /// Re-reads `path` from disk (it was saved, created or changed outside the editor).
    pub fn refresh(&self, path: &Path, settings: &IndexConfig) {
        self.send(Msg::Refresh { path: path.to_owned(), max_file_bytes: settings.max_file_bytes });
    }

    /// Drops `path` from the on-disk part of the index.
    pub fn remove(&self, path: &Path) {
        self.send(Msg::Disk { key: FileKey::from_path(path), symbols: None });
    }

    /// Walks `root` in the background and indexes its source files within `settings`' bounds.
    pub fn index_workspace(&self, root: &Path, settings: &IndexConfig, keep: Arc<workspace::Keep>) {
        if !settings.enabled {
            return;
        }
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let ws = Workspace { root: root.to_owned(), max_file_bytes: settings.max_file_bytes, keep: keep.clone() };
        let _ = tx.send(Msg::Workspace(ws));
        let (root, settings) = (root.to_owned(), settings.clone());
        let spawned = crate::threads::spawn_background("switchboard-walk", move || {
            workspace::build(&root, &settings, &*keep, &mut |ev| {
                let msg = match ev {
                    workspace::Event::File(key, symbols) => Msg::Disk { key, symbols: Some(Arc::from(symbols)) },
                    workspace::Event::Progress { files, skipped, done } => Msg::Progress { files, skipped, done },
                };
                tx.send(msg).is_ok()
            })
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start the workspace walk: {e}");
        }
    }

    /// Blocks until everything sent before has been applied and published (tests, benchmarks,
    /// the CLI). Returns at once if the indexer thread is gone.
    pub fn flush(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Msg::Flush(tx));
        let _ = rx.recv();
    }
}

struct OpenDoc {
    lang: Option<&'static LanguageInfo>,
    rope: Rope,
    tree: Option<SyntaxTree>,
    symbols: Arc<FileSymbols>,
    plain: bool,
}

struct Indexer {
    published: Arc<RwLock<Arc<Snapshot>>>,
    on_parsed: OnParsed,
    open: HashMap<FileKey, OpenDoc>,
    /// On-disk versions, kept under open documents so closing one brings its file back.
    disk: HashMap<FileKey, Arc<FileSymbols>>,
    base: Arc<Base>,
    overlay: HashMap<FileKey, Option<Arc<FileSymbols>>>,
    /// Open documents that keep a tree, most recent first.
    trees: VecDeque<FileKey>,
    stats: IndexStats,
    workspace: Option<Workspace>,
    /// Snapshots replaced by a newer one that a request may still be reading. They are freed
    /// here, on this thread, once nobody else holds them: freeing a large one (a 2 MB plain-text
    /// scan holds ~250,000 words) takes tens of milliseconds, which a request must never pay,
    /// nor wait for under the lock.
    retired: Vec<Arc<Snapshot>>,
}

/// How often retired snapshots are looked at again while no update arrives.
const RETIRED_SWEEP: Duration = Duration::from_millis(500);

impl Indexer {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        let mut last_batch = Duration::ZERO;
        loop {
            let next = if self.retired.is_empty() {
                rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
            } else {
                rx.recv_timeout(RETIRED_SWEEP)
            };
            let first = match next {
                Ok(m) => m,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.sweep_retired();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            // Under sustained typing into a file whose reparse is slow, let the next burst gather
            // for as long as the last batch took: the indexer then uses at most half a core and
            // leaves the other cores to the requests.
            if last_batch > THROTTLE_AFTER && matches!(first, Msg::Change { .. }) {
                std::thread::sleep(last_batch.min(MAX_THROTTLE));
            }
            let started = Instant::now();
            let mut batch = vec![first];
            while batch.len() < 4096
                && let Ok(m) = rx.try_recv()
            {
                batch.push(m);
            }
            let mut flushes = Vec::new();
            for msg in coalesce(batch) {
                match msg {
                    Msg::Flush(done) => flushes.push(done),
                    msg => {
                        let work = std::panic::AssertUnwindSafe(|| self.apply(msg));
                        if std::panic::catch_unwind(work).is_err() {
                            tracing::error!("indexing an update panicked; the file keeps its previous symbols");
                        }
                    }
                }
            }
            self.publish();
            last_batch = started.elapsed();
            for done in flushes {
                let _ = done.send(());
            }
        }
    }

    fn apply(&mut self, msg: Msg) {
        match msg {
            Msg::Open { uri, key, lang, version, rope, plain } => {
                let tree = if plain { None } else { lang.and_then(|l| SyntaxTree::parse(l, &rope)) };
                let symbols = FileSymbols::build(key.clone(), Some(version), lang, &rope, tree.as_ref(), true);
                if let Some(t) = &tree {
                    (self.on_parsed)(&uri, version, t.clone());
                }
                let symbols = Arc::new(symbols);
                self.overlay.insert(key.clone(), Some(symbols.clone()));
                if let Some(t) = &tree {
                    self.read_imported(&key, t, &rope);
                }
                self.open.insert(key.clone(), OpenDoc { lang, rope, tree, symbols, plain });
                self.keep_tree(&key);
            }
            Msg::Change { uri, key, version, rope, edits, plain } => {
                let Some(doc) = self.open.get_mut(&key) else { return };
                doc.plain |= plain;
                let symbols = if doc.plain {
                    doc.tree = None;
                    FileSymbols::plain(key.clone(), Some(version), doc.lang, &rope, true)
                } else {
                    update(doc, version, &rope, &edits)
                };
                let imports_changed =
                    symbols.imports.iter().map(|i| &i.text).ne(doc.symbols.imports.iter().map(|i| &i.text));
                doc.rope = rope;
                doc.symbols = Arc::new(symbols);
                let tree = doc.tree.clone();
                if let Some(t) = &tree {
                    (self.on_parsed)(&uri, version, t.clone());
                }
                self.overlay.insert(key.clone(), Some(doc.symbols.clone()));
                if let Some(t) = tree {
                    if imports_changed {
                        let rope = doc.rope.clone();
                        self.read_imported(&key, &t, &rope);
                    }
                    self.keep_tree(&key);
                }
            }
            Msg::Close { key } => {
                self.open.remove(&key);
                self.trees.retain(|k| *k != key);
                self.overlay.insert(key.clone(), self.disk.get(&key).cloned());
            }
            Msg::Disk { key, symbols } => {
                match &symbols {
                    Some(s) => self.disk.insert(key.clone(), s.clone()),
                    None => self.disk.remove(&key),
                };
                if !self.open.contains_key(&key) {
                    self.overlay.insert(key, symbols);
                }
            }
            Msg::Refresh { path, max_file_bytes } => {
                let key = FileKey::from_path(&path);
                let symbols = workspace::read_symbols(&path, max_file_bytes).map(Arc::new);
                self.apply(Msg::Disk { key, symbols });
            }
            Msg::Progress { files, skipped, done } => {
                self.stats.workspace_files = files;
                self.stats.skipped = skipped;
                self.stats.workspace_done = done;
                if done {
                    self.compact();
                }
            }
            Msg::Workspace(ws) => self.workspace = Some(ws),
            Msg::Flush(_) => {}
        }
        if self.overlay.len() > MIN_COMPACTION.max(self.base.len() / 8) {
            self.compact();
        }
    }

    /// Reads the workspace files that `key`'s imports name and the index does not have yet, so
    /// that a file opened while the walk is still running (the first file of a session) already
    /// sees the definitions it imports in the snapshot that publishes it.
    fn read_imported(&mut self, key: &FileKey, tree: &SyntaxTree, rope: &Rope) {
        // Once the walk is done within its bounds every admitted file is in already: nothing to
        // read ahead, and no whole-file import query per keystroke typed into an import line.
        if self.stats.workspace_done && self.stats.skipped == 0 {
            return;
        }
        let Some(ws) = &self.workspace else { return };
        let Some(from) = key.as_path().filter(|p| p.starts_with(&ws.root)) else { return };
        let rules = &tree.lang.modules;
        let from = from.to_string_lossy();
        // A regular file that really is inside the workspace: not a symlink, and not reached
        // through a symlinked folder that leads out of the root.
        let real_root = std::fs::canonicalize(&ws.root).unwrap_or_else(|_| ws.root.clone());
        let exists = |f: &str| {
            let p = Path::new(f);
            p.starts_with(&ws.root)
                && std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file())
                && std::fs::canonicalize(p).is_ok_and(|real| real.starts_with(&real_root))
        };
        let mut wanted: Vec<String> = Vec::new();
        for b in crate::syntax::imports::bindings(tree, rope, 64) {
            for module in [b.module.clone(), b.module_of_local(rules)] {
                for f in crate::syntax::imports::module_files(rules, &from, &module, &exists) {
                    if !wanted.contains(&f) {
                        wanted.push(f);
                    }
                }
            }
        }
        let mut read = Vec::new();
        for f in wanted {
            let path = PathBuf::from(f);
            let k = FileKey::from_path(&path);
            if self.disk.contains_key(&k) || self.open.contains_key(&k) || !(ws.keep)(&path) {
                continue;
            }
            if read.len() >= MAX_IMPORTED_FILES {
                break;
            }
            if let Some(symbols) = workspace::read_symbols(&path, ws.max_file_bytes) {
                read.push((k, Arc::new(symbols)));
            }
        }
        for (key, symbols) in read {
            self.apply(Msg::Disk { key, symbols: Some(symbols) });
        }
    }

    /// Marks `key`'s tree as recently used and drops the least recently used beyond [`KEPT_TREES`].
    fn keep_tree(&mut self, key: &FileKey) {
        self.trees.retain(|k| k != key);
        self.trees.push_front(key.clone());
        while self.trees.len() > KEPT_TREES {
            if let Some(old) = self.trees.pop_back()
                && let Some(doc) = self.open.get_mut(&old)
            {
                doc.tree = None;
            }
        }
    }

    /// Folds the overlay into a new base.
    fn compact(&mut self) {
        if self.overlay.is_empty() {
            return;
        }
        let overlay = std::mem::take(&mut self.overlay);
        let mut files: Vec<Arc<FileSymbols>> =
            self.base.files().filter(|f| !overlay.contains_key(&f.key)).cloned().collect();
        files.extend(overlay.into_values().flatten());
        self.stats.approx_bytes = files.iter().map(|f| f.approx_bytes()).sum();
        self.base = Arc::new(Base::build(files));
    }

    fn publish(&mut self) {
        let mut snapshot =
            Snapshot { base: self.base.clone(), overlay: Arc::new(self.overlay.clone()), stats: self.stats.clone() };
        snapshot.stats.files = snapshot.len();
        let new = Arc::new(snapshot);
        // The old snapshot leaves the lock first; it is freed below, or later, never under it.
        let old = std::mem::replace(&mut *self.published.write().unwrap_or_else(|p| p.into_inner()), new);
        self.retired.push(old);
        self.sweep_retired();
    }

    /// Frees the retired snapshots nobody reads any more. A request's clone can only come from
    /// the published one, so a retired snapshot this thread alone holds stays unread.
    fn sweep_retired(&mut self) {
        self.retired.retain(|s| Arc::strong_count(s) > 1);
    }
}

/// The symbols of `doc` after `edits` turned its text into `rope`: re-extracts only the items the
/// edits touched when the document kept its tree, else parses and extracts it whole.
fn update(doc: &mut OpenDoc, version: i32, rope: &Rope, edits: &[ByteEdit]) -> FileSymbols {
    let key = doc.symbols.key.clone();
    if let Some(mut tree) = doc.tree.take() {
        let pre = tree.clone();
        tree.edit(edits);
        let edited = tree.clone();
        if tree.reparse(rope) {
            let changed = edited.changed_ranges(&tree);
            let span = Span::covering(edits, &changed, &pre, &tree);
            let symbols = doc.symbols.update(Some(version), doc.lang, &doc.rope, &pre, rope, &tree, &span);
            doc.tree = Some(tree);
            return symbols;
        }
    }
    doc.tree = doc.lang.and_then(|l| SyntaxTree::parse(l, rope));
    FileSymbols::build(key, Some(version), doc.lang, rope, doc.tree.as_ref(), true)
}

/// Merges runs of changes to one document (a burst of keystrokes is one update); keeps order
/// otherwise.
fn coalesce(batch: Vec<Msg>) -> Vec<Msg> {
    let mut out: Vec<Msg> = Vec::with_capacity(batch.len());
    let mut last_change: HashMap<FileKey, usize> = HashMap::new();
    for msg in batch {
        match msg {
            Msg::Change { uri, key, version, rope, edits, plain } => {
                if let Some(&i) = last_change.get(&key)
                    && let Some(Msg::Change { version: v, rope: r, edits: e, plain: p, .. }) = out.get_mut(i)
                {
                    *v = version;
                    *r = rope;
                    e.extend(edits);
                    *p |= plain;
                    continue;
                }
                last_change.insert(key.clone(), out.len());
                out.push(Msg::Change { uri, key, version, rope, edits, plain });
            }
            Msg::Open { ref key, .. } | Msg::Close { ref key } => {
                last_change.remove(key);
                out.push(msg);
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::Languages;

    fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A request that still reads a replaced snapshot never frees it: the indexer does, on its
    /// own thread, once the request has let go (at its next publish or sweep).
    #[test]
    fn a_reader_never_frees_a_replaced_snapshot() {
        let index = Index::default();
        let words: String = (0..20_000).map(|i| format!("word_{i} ")).collect();
        index.open("file:///w/a.txt", None, 1, Rope::from_str(&words), true);
        index.flush();
        let held = index.snapshot();
        let weak = Arc::downgrade(&held);
        assert!(held.file(&FileKey::from_uri("file:///w/a.txt")).is_some());
        index.open("file:///w/b.txt", None, 1, Rope::from_str("other words"), true);
        index.flush();
        assert!(!Arc::ptr_eq(&held, &index.snapshot()), "a newer snapshot is published");
        drop(held);
        assert!(weak.upgrade().is_some(), "dropping the last reader's copy did not free it here");
        // The indexer frees it: at its next publish, or after a sweep interval without one.
        let deadline = Instant::now() + Duration::from_secs(10);
        while weak.upgrade().is_some() {
            assert!(Instant::now() < deadline, "the retired snapshot was never freed");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A document opened before the walk reaches its imports: the files it imports are read at
    /// once (here the walk reads nothing at all), privacy rules still apply.
    #[test]
    fn an_opened_document_brings_in_the_files_it_imports() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        write(&root, "pkg/__init__.py", "");
        write(&root, "pkg/signing.py", "def sign(value, key, *, salt=b'x'):\n    pass\n");
        write(&root, "pkg/secret.py", "def token():\n    pass\n");
        write(&root, "pkg/unrelated.py", "def other():\n    pass\n");
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "leak.py", "def leaked():\n    pass\n");
        std::os::unix::fs::symlink(outside.path().join("leak.py"), root.join("pkg/leak.py")).unwrap();
        write(outside.path(), "far/away.py", "def away():\n    pass\n");
        std::os::unix::fs::symlink(outside.path().join("far"), root.join("pkg/far")).unwrap();
        let main = write(
            &root,
            "pkg/main.py",
            "from .signing import sign\nfrom .secret import token\nfrom .leak import leaked\nfrom .far.away import away\n\nsign(\n",
        );
        let index = Index::default();
        let secret = root.join("pkg/secret.py");
        let keep: Arc<workspace::Keep> = Arc::new(move |p: &Path| p != secret);
        index.index_workspace(&root, &IndexConfig { max_files: 0, ..IndexConfig::default() }, keep);
        let text = std::fs::read_to_string(&main).unwrap();
        let uri = crate::actions::edit::path_to_uri(&main);
        let lang = Languages::global().by_id("python");
        index.open(&uri, lang, 1, Rope::from_str(&text), false);
        index.flush();
        let snap = index.snapshot();
        let sign: Vec<&str> = snap.lookup("sign").map(|d| d.signature.as_str()).collect();
        assert_eq!(sign, ["def sign(value, key, *, salt=b'x'):"]);
        assert_eq!(snap.lookup("token").count(), 0, "a withheld file is never read");
        assert_eq!(snap.lookup("other").count(), 0, "only what the imports name");
        assert_eq!(snap.lookup("leaked").count(), 0, "never through a symlink out of the workspace");
        assert_eq!(snap.lookup("away").count(), 0, "nor through a symlinked folder");
    }
}
