//! Neighbour tabs: the snippets of other open files most like the code before the cursor, by
//! Jaccard similarity of their identifier sets over fixed windows of lines, as Copilot does. Each
//! file's windows are computed once per version and shared; a request only compares sets.

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
    time::Instant,
};

use ropey::Rope;

use crate::completion::local::is_word_char;

/// Lines per window, and the step between windows.
const WINDOW_LINES: usize = 20;
const STEP_LINES: usize = 10;
/// Lines of a file that are split into windows (the rest of a huge file is not compared).
const MAX_LINES: usize = 20_000;
/// Below this similarity a snippet is noise.
const MIN_SIMILARITY: f32 = 0.12;
/// Files cached; beyond it the cache starts over (open tabs rarely number more).
const MAX_CACHED: usize = 256;

/// One window of a file: its lines and the hashes of the identifiers in it, sorted.
#[derive(Debug, Clone)]
pub struct Window {
    pub lines: std::ops::Range<usize>,
    tokens: Vec<u64>,
}

/// The windows of one file at one version.
#[derive(Debug, Clone)]
pub struct Windows {
    version: i32,
    pub windows: Arc<Vec<Window>>,
}

/// A snippet chosen for the prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Snippet {
    pub uri: String,
    pub lines: std::ops::Range<usize>,
    pub similarity: f32,
    pub text: String,
}

/// One other open file, as the neighbour source sees it.
pub struct Tab<'a> {
    pub uri: &'a str,
    pub rope: &'a Rope,
    pub windows: Arc<Vec<Window>>,
}

/// Windows per open file, rebuilt only when the file's version changes.
#[derive(Debug, Default)]
pub struct WindowCache {
    files: Mutex<HashMap<String, Windows>>,
}

impl WindowCache {
    pub fn windows(&self, uri: &str, version: i32, rope: &Rope) -> Arc<Vec<Window>> {
        if let Some(w) = self.lock().get(uri).filter(|w| w.version == version) {
            return w.windows.clone();
        }
        let windows = Arc::new(split(rope));
        let mut files = self.lock();
        if files.len() >= MAX_CACHED {
            files.clear();
        }
        files.insert(uri.to_owned(), Windows { version, windows: windows.clone() });
        windows
    }

    pub fn forget(&self, uri: &str) {
        self.lock().remove(uri);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Windows>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn split(rope: &Rope) -> Vec<Window> {
    let n = rope.len_lines().min(MAX_LINES);
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + WINDOW_LINES).min(n);
        out.push(Window { lines: start..end, tokens: tokens(&lines(rope, start, end)) });
        if end == n {
            break;
        }
        start += STEP_LINES;
    }
    out
}

fn lines(rope: &Rope, start: usize, end: usize) -> String {
    let n = rope.len_lines();
    let from = rope.line_to_char(start.min(n));
    let to = if end >= n { rope.len_chars() } else { rope.line_to_char(end) };
    rope.slice(from..to.max(from)).to_string()
}

/// Sorted, deduplicated hashes of the identifiers (2+ characters, not numbers) in `text`.
pub fn tokens(text: &str) -> Vec<u64> {
    let mut out: Vec<u64> = text
        .split(|c: char| !is_word_char(c))
        .filter(|w| w.len() >= 2 && !w.starts_with(|c: char| c.is_ascii_digit()))
        .map(|w| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            w.hash(&mut h);
            h.finish()
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn jaccard(a: &[u64], b: &[u64]) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    both as f32 / (a.len() + b.len() - both) as f32
}

/// The query: the identifiers of the lines before the cursor's line (not the line being typed,
/// so the choice holds still while the user types it).
pub fn query(rope: &Rope, offset: usize) -> Vec<u64> {
    let line = rope.byte_to_line(offset.min(rope.len_bytes()));
    tokens(&lines(rope, line.saturating_sub(WINDOW_LINES), line))
}

/// The best window of each tab, best tabs first, at most `limit`; stops comparing at `deadline`.
pub fn best(query: &[u64], tabs: &[Tab<'_>], limit: usize, deadline: Instant) -> Vec<Snippet> {
    let mut found: Vec<(f32, usize, &Window)> = Vec::new();
    for (i, tab) in tabs.iter().enumerate() {
        if Instant::now() > deadline {
            break;
        }
        let best = tab.windows.iter().map(|w| (jaccard(query, &w.tokens), w)).fold(None, |acc, (s, w)| match acc {
            Some((bs, _)) if bs >= s => acc,
            _ => Some((s, w)),
        });
        if let Some((s, w)) = best.filter(|(s, _)| *s >= MIN_SIMILARITY) {
            found.push((s, i, w));
        }
    }
    // Ties break by tab order, so the choice is stable from one keystroke to the next.
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    found
        .into_iter()
        .take(limit)
        .map(|(similarity, i, w)| Snippet {
            uri: tabs[i].uri.to_owned(),
            lines: w.lines.clone(),
            similarity,
            text: lines(tabs[i].rope, w.lines.start, w.lines.end),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_most_similar_window_of_each_tab_wins() {
        let cache = WindowCache::default();
        let mut a = String::new();
        for i in 0..60 {
            a.push_str(&format!("unrelated_{i} = {i}\n"));
        }
        a.push_str("def checkout(cart, price_total, discount_rate):\n    apply(cart, discount_rate)\n");
        let b: String = (0..30).map(|i| format!("other_{i}()\n")).collect();
        let (ra, rb) = (Rope::from_str(&a), Rope::from_str(&b));
        let tabs = [
            Tab { uri: "file:///b.py", rope: &rb, windows: cache.windows("file:///b.py", 1, &rb) },
            Tab { uri: "file:///a.py", rope: &ra, windows: cache.windows("file:///a.py", 1, &ra) },
        ];
        let q = tokens("total = price_total(cart)\nrate = discount_rate\ncheckout(cart");
        let got = best(&q, &tabs, 4, Instant::now() + Duration::from_secs(1));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].uri, "file:///a.py");
        assert!(got[0].text.contains("def checkout"));
        // The same version is not split again.
        assert!(Arc::ptr_eq(&tabs[1].windows, &cache.windows("file:///a.py", 1, &ra)));
        assert!(best(&q, &tabs, 4, Instant::now() - Duration::from_millis(1)).is_empty());
    }
}
