//! Typing-through cache for inline completions: a bounded LRU keyed by one key function
//! (document uri, prefix tail, suffix head) that serves the rest of a suggestion while the user types it.
//!
//! `put(uri, prefix, suffix, completion)` stores what was shown at a position. `get(uri, prefix, suffix)`
//! hits when `prefix == stored_prefix + typed` (compared through the key: the last
//! [`PREFIX_TAIL_BYTES`] bytes), the suffix head is unchanged, and `typed` is a prefix of the stored
//! completion; it returns the rest of the completion. Typing the whole completion is a miss.
//!
//! Entries are bucketed by (uri, suffix head), so a lookup scans only the few entries of one
//! position-family of one document; each bucket holds at most [`BUCKET_CAPACITY`] entries.

use std::collections::{BTreeMap, HashMap};

/// Default number of entries.
pub const DEFAULT_CAPACITY: usize = 256;
/// Bytes of the prefix (before the cursor) that take part in the key.
pub const PREFIX_TAIL_BYTES: usize = 512;
/// Bytes of the suffix (after the cursor) that take part in the key.
pub const SUFFIX_HEAD_BYTES: usize = 256;
/// Entries kept per (uri, suffix head) bucket; the oldest is dropped beyond that.
pub const BUCKET_CAPACITY: usize = 16;

/// The cache key. Built only by [`key_parts`] (through [`CacheKey::new`]), for both get and put.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub uri: String,
    pub prefix_tail: String,
    pub suffix_head: String,
}

impl CacheKey {
    pub fn new(uri: &str, prefix: &str, suffix: &str) -> Self {
        let (prefix_tail, suffix_head) = key_parts(prefix, suffix);
        Self { uri: uri.to_owned(), prefix_tail: prefix_tail.to_owned(), suffix_head: suffix_head.to_owned() }
    }
}

/// THE key function: the parts of (prefix, suffix) that identify a position. Cut on char
/// boundaries, so the tail may be a little shorter than [`PREFIX_TAIL_BYTES`].
pub fn key_parts<'a>(prefix: &'a str, suffix: &'a str) -> (&'a str, &'a str) {
    let mut start = prefix.len().saturating_sub(PREFIX_TAIL_BYTES);
    while !prefix.is_char_boundary(start) {
        start += 1;
    }
    let mut end = suffix.len().min(SUFFIX_HEAD_BYTES);
    while !suffix.is_char_boundary(end) {
        end -= 1;
    }
    (&prefix[start..], &suffix[..end])
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct BucketKey {
    uri: String,
    suffix_head: String,
}

#[derive(Debug)]
struct Entry {
    prefix_tail: String,
    completion: String,
    tick: u64,
}

/// Bounded LRU of shown completions.
#[derive(Debug)]
pub struct CompletionCache {
    capacity: usize,
    buckets: HashMap<BucketKey, Vec<Entry>>,
    /// tick -> bucket, in least-recently-used order.
    lru: BTreeMap<u64, BucketKey>,
    next_tick: u64,
    len: usize,
}

impl Default for CompletionCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl CompletionCache {
    /// A cache holding at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), buckets: HashMap::new(), lru: BTreeMap::new(), next_tick: 0, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.buckets.clear();
        self.lru.clear();
        self.len = 0;
    }

    /// Drop every entry of one document (closed, or edited away from the cursor).
    pub fn remove_document(&mut self, uri: &str) {
        let keys: Vec<BucketKey> = self.buckets.keys().filter(|k| k.uri == uri).cloned().collect();
        for key in keys {
            if let Some(entries) = self.buckets.remove(&key) {
                for e in entries {
                    self.lru.remove(&e.tick);
                    self.len -= 1;
                }
            }
        }
    }

    /// Remember `completion` shown at (uri, prefix, suffix). Empty completions are not stored;
    /// an entry with the same key is replaced.
    pub fn put(&mut self, uri: &str, prefix: &str, suffix: &str, completion: &str) {
        if completion.is_empty() {
            return;
        }
        let key = CacheKey::new(uri, prefix, suffix);
        let bucket_key = BucketKey { uri: key.uri, suffix_head: key.suffix_head };
        let tick = self.tick();
        let bucket = self.buckets.entry(bucket_key.clone()).or_default();
        if let Some(e) = bucket.iter_mut().find(|e| e.prefix_tail == key.prefix_tail) {
            self.lru.remove(&e.tick);
            e.tick = tick;
            e.completion = completion.to_owned();
            self.lru.insert(tick, bucket_key);
            return;
        }
        bucket.push(Entry { prefix_tail: key.prefix_tail, completion: completion.to_owned(), tick });
        self.lru.insert(tick, bucket_key.clone());
        self.len += 1;
        if bucket.len() > BUCKET_CAPACITY
            && let Some((i, _)) = bucket.iter().enumerate().min_by_key(|(_, e)| e.tick)
        {
            let old = bucket.swap_remove(i);
            self.lru.remove(&old.tick);
            self.len -= 1;
        }
        while self.len > self.capacity {
            self.evict_oldest();
        }
    }

    /// The rest of a stored completion at (uri, prefix, suffix): the whole completion when nothing
    /// was typed since, the part after what was typed when the typed text is its head, and `None`
    /// when nothing matches or everything was typed.
    pub fn get(&mut self, uri: &str, prefix: &str, suffix: &str) -> Option<String> {
        let (_, suffix_head) = key_parts(prefix, suffix);
        // Borrowed lookup key; allocation of two short strings is the only cost besides the scan.
        let bucket_key = BucketKey { uri: uri.to_owned(), suffix_head: suffix_head.to_owned() };
        let bucket = self.buckets.get_mut(&bucket_key)?;
        let mut found: Option<(usize, usize)> = None; // (entry index, typed length)
        'entries: for (i, e) in bucket.iter().enumerate() {
            // Candidate typed lengths: char boundaries of the completion, shortest first.
            for (typed_len, _) in e.completion.char_indices().chain(std::iter::once((e.completion.len(), ' '))) {
                let Some(before) = prefix.len().checked_sub(typed_len) else { break };
                if !prefix.is_char_boundary(before) {
                    continue;
                }
                let typed = &prefix[before..];
                if !e.completion.starts_with(typed) {
                    continue;
                }
                let (tail, _) = key_parts(&prefix[..before], suffix);
                if tail == e.prefix_tail {
                    found = Some((i, typed_len));
                    break 'entries;
                }
            }
        }
        let (i, typed_len) = found?;
        self.next_tick += 1;
        let tick = self.next_tick;
        let e = &mut bucket[i];
        if typed_len >= e.completion.len() {
            return None;
        }
        let rest = e.completion.get(typed_len..).map(str::to_owned);
        self.lru.remove(&e.tick);
        e.tick = tick;
        self.lru.insert(tick, bucket_key);
        rest
    }

    fn tick(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }

    fn evict_oldest(&mut self) {
        let Some((tick, bucket_key)) = self.lru.pop_first() else {
            self.len = 0;
            return;
        };
        if let Some(bucket) = self.buckets.get_mut(&bucket_key) {
            if let Some(i) = bucket.iter().position(|e| e.tick == tick) {
                bucket.swap_remove(i);
                self.len -= 1;
            }
            if bucket.is_empty() {
                self.buckets.remove(&bucket_key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "file:///a.rs";

    /// `stored` and `query` are documents with a `$0` cursor; the completion `shown` was put at
    /// `stored`, and `query` must give `expected`.
    fn check(stored: &str, shown: &str, query: &str, expected: Option<&str>) {
        let (p, s) = stored.split_once("$0").unwrap_or((stored, ""));
        let (qp, qs) = query.split_once("$0").unwrap_or((query, ""));
        let mut cache = CompletionCache::default();
        cache.put(URI, p, s, shown);
        assert_eq!(cache.get(URI, qp, qs).as_deref(), expected, "stored {stored:?} query {query:?}");
    }

    #[test]
    fn table() {
        // Same position: the whole completion.
        check("let x = $0;", "foo(1)", "let x = $0;", Some("foo(1)"));
        // Typed through.
        check("let x = $0;", "foo(1)", "let x = f$0;", Some("oo(1)"));
        check("let x = $0;", "foo(1)", "let x = foo($0;", Some("1)"));
        // Typed everything: nothing left.
        check("let x = $0;", "foo(1)", "let x = foo(1)$0;", None);
        // Typed something else.
        check("let x = $0;", "foo(1)", "let x = b$0;", None);
        // Suffix changed (auto-pair inserted a bracket).
        check("let x = $0;", "foo(1)", "let x = foo($0);", None);
        // Another document.
        check("a$0", "bc", "a$0", Some("bc"));
        // Deleted back before the stored position.
        check("let x = $0;", "foo(1)", "let x =$0;", None);
        // Multi-byte: typed an emoji and CJK that head the completion.
        check("s = \"$0\"", "😀漢字 ok", "s = \"😀$0\"", Some("漢字 ok"));
        check("s = \"$0\"", "😀漢字 ok", "s = \"😀漢$0\"", Some("字 ok"));
        // Multi-line completion typed through a newline.
        check("fn f() {$0\n}", "\n    x\n", "fn f() {\n$0\n}", Some("    x\n"));
    }

    #[test]
    fn other_uri_misses() {
        let mut cache = CompletionCache::default();
        cache.put(URI, "a", "", "bc");
        assert_eq!(cache.get("file:///b.rs", "a", ""), None);
        assert_eq!(cache.get(URI, "ab", "").as_deref(), Some("c"));
        cache.remove_document(URI);
        assert!(cache.is_empty());
        assert_eq!(cache.get(URI, "a", ""), None);
    }

    #[test]
    fn long_prefix_uses_tail_only() {
        let head = "x".repeat(5000);
        let mut cache = CompletionCache::default();
        cache.put(URI, &format!("{head}abc"), "", "def");
        // A change far before the cursor does not matter.
        let other = format!("y{}abc", &head[1..]);
        assert_eq!(cache.get(URI, &other, "").as_deref(), Some("def"));
        assert_eq!(cache.get(URI, &format!("{other}de"), "").as_deref(), Some("f"));
    }

    #[test]
    fn replace_and_lru_bounds() {
        let mut cache = CompletionCache::new(3);
        cache.put(URI, "a", "", "1");
        cache.put(URI, "a", "", "2");
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(URI, "a", "").as_deref(), Some("2"));
        cache.put(URI, "b", "", "x");
        cache.put(URI, "c", "", "x");
        cache.get(URI, "a", ""); // refresh a
        cache.put(URI, "d", "", "x"); // evicts b
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(URI, "b", ""), None);
        assert!(cache.get(URI, "a", "").is_some());
        assert!(cache.get(URI, "d", "").is_some());
        cache.put(URI, "e", "", "");
        assert_eq!(cache.len(), 3);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn bucket_is_bounded() {
        let mut cache = CompletionCache::new(1000);
        for i in 0..100 {
            cache.put(URI, &format!("p{i}"), "same suffix", "c");
        }
        assert_eq!(cache.len(), BUCKET_CAPACITY);
        assert!(cache.get(URI, "p99", "same suffix").is_some());
        assert!(cache.get(URI, "p0", "same suffix").is_none());
    }

    #[test]
    fn key_parts_cut_on_char_boundaries() {
        let prefix = "é".repeat(400); // 800 bytes
        let suffix = "漢".repeat(200); // 600 bytes
        let (t, h) = key_parts(&prefix, &suffix);
        assert!(t.len() <= PREFIX_TAIL_BYTES && t.len() >= PREFIX_TAIL_BYTES - 1);
        assert!(h.len() <= SUFFIX_HEAD_BYTES && h.len() >= SUFFIX_HEAD_BYTES - 2);
        assert_eq!(CacheKey::new(URI, &prefix, &suffix).prefix_tail, t);
    }

    #[test]
    fn no_panic_on_arbitrary_unicode() {
        use proptest::prelude::*;
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&(".{0,40}", ".{0,10}", ".{0,20}", ".{0,10}"), |(p, t, s, c)| {
                let mut cache = CompletionCache::new(8);
                cache.put(URI, &p, &s, &c);
                let _ = cache.get(URI, &format!("{p}{t}"), &s);
                if !c.is_empty() {
                    let cut = c.char_indices().nth(1).map_or(c.len(), |(i, _)| i);
                    let got = cache.get(URI, &format!("{p}{}", &c[..cut]), &s);
                    let want = if cut == c.len() { None } else { Some(c[cut..].to_owned()) };
                    prop_assert_eq!(got, want);
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
