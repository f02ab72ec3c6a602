//! The indexer: one background thread that owns the mutable state of the index (open documents
//! with their own syntax trees, the files from disk, the base and overlay), applies batches of
//! messages and publishes a new [`Snapshot`] after each batch. Callers only send messages and read
//! the published snapshot, so neither a keystroke nor a request ever waits for parsing.

use std::{
    collections::{HashMap, VecDeque},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock, mpsc},
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
    Flush(mpsc::SyncSender<()>),
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
        };
        if let Err(e) = std::thread::Builder::new().name("switchboard-index".into()).spawn(move || state.run(rx)) {
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
        let (root, settings) = (root.to_owned(), settings.clone());
        let spawned = std::thread::Builder::new().name("switchboard-walk".into()).spawn(move || {
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
}

impl Indexer {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        while let Ok(first) = rx.recv() {
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
                doc.rope = rope;
                doc.symbols = Arc::new(symbols);
                let had_tree = doc.tree.is_some();
                if let Some(t) = &doc.tree {
                    (self.on_parsed)(&uri, version, t.clone());
                }
                self.overlay.insert(key.clone(), Some(doc.symbols.clone()));
                if had_tree {
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
            Msg::Flush(_) => {}
        }
        if self.overlay.len() > MIN_COMPACTION.max(self.base.len() / 8) {
            self.compact();
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
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
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
