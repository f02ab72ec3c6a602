//! Local usage statistics, never sent anywhere: per provider and language — requests, cache hits,
//! cancellations, accepts, latency p50/p95, tokens in and out, and estimated cost.
//!
//! The server keeps them in memory and saves them to `$XDG_STATE_HOME/switchboard/stats.json`
//! (else `~/.local/state/…`) now and then; `switchboard stats` reads that file.

use std::{
    collections::{BTreeMap, VecDeque},
    fmt::Write as _,
    path::PathBuf,
    sync::Mutex,
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{config::Price, providers::Usage};

/// Latencies kept per row for the percentiles.
const LATENCY_SAMPLES: usize = 512;

/// Known list prices in USD per million tokens (input, cached input, output), from the vendors'
/// pricing pages as of December 2026, for the estimate. Others can be set under `[pricing]` in the
/// config; a model with no price shows no cost. The longest matching prefix wins, so dated
/// snapshots (`claude-haiku-5-5-20261007`) find their model.
const PRICES: &[(&str, f64, f64, f64)] = &[
    ("gpt-6-luna", 0.10, 0.01, 0.50),
    ("gpt-6-sol", 2.0, 0.20, 10.0),
    // Sonnet 5.5's cache reads dropped to 0.05x input on 2026-10-07.
    ("claude-sonnet-5-5", 2.0, 0.10, 10.0),
    // Haiku 5.5, prompts up to 100k tokens (longer prompts are billed 5x; not modelled here).
    ("claude-haiku-5-5", 0.10, 0.01, 0.50),
];

/// Cached input costs this share of the input price when the model's own cache price is unknown
/// (a `[pricing]` entry without `cached_input`): both vendors bill about a tenth.
const CACHED_SHARE: f64 = 0.1;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Row {
    pub requests: u64,
    pub cache_hits: u64,
    pub cancelled: u64,
    pub accepted: u64,
    pub tokens_in: u64,
    pub tokens_cached: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    /// Recent latencies in milliseconds (newest last).
    pub latencies_ms: VecDeque<u32>,
}

impl Row {
    fn percentile(&self, p: f64) -> Option<u32> {
        if self.latencies_ms.is_empty() {
            return None;
        }
        let mut v: Vec<u32> = self.latencies_ms.iter().copied().collect();
        v.sort_unstable();
        let idx = ((v.len() - 1) as f64 * p).round() as usize;
        v.get(idx).copied()
    }

    fn merge(&mut self, other: &Row) {
        self.requests += other.requests;
        self.cache_hits += other.cache_hits;
        self.cancelled += other.cancelled;
        self.accepted += other.accepted;
        self.tokens_in += other.tokens_in;
        self.tokens_cached += other.tokens_cached;
        self.tokens_out += other.tokens_out;
        self.cost_usd += other.cost_usd;
        for l in &other.latencies_ms {
            push_latency(&mut self.latencies_ms, *l);
        }
    }
}

fn push_latency(v: &mut VecDeque<u32>, ms: u32) {
    if v.len() == LATENCY_SAMPLES {
        v.pop_front();
    }
    v.push_back(ms);
}

/// Rows keyed by "provider / language".
#[derive(Debug, Default, Serialize, Deserialize, Clone, PartialEq)]
pub struct Table {
    pub rows: BTreeMap<String, Row>,
}

#[derive(Debug, Default)]
pub struct Stats {
    /// Counted since the last save.
    fresh: Mutex<Table>,
    prices: Mutex<BTreeMap<String, Price>>,
}

fn key(provider: &str, language: &str) -> String {
    format!("{provider} / {}", if language.is_empty() { "-" } else { language })
}

impl Stats {
    fn with_row(&self, provider: &str, language: &str, f: impl FnOnce(&mut Row)) {
        let mut t = self.fresh.lock().unwrap_or_else(|p| p.into_inner());
        f(t.rows.entry(key(provider, language)).or_default());
    }

    pub fn set_prices(&self, prices: BTreeMap<String, Price>) {
        *self.prices.lock().unwrap_or_else(|p| p.into_inner()) = prices;
    }

    pub fn cache_hit(&self, provider: &str, language: &str) {
        self.with_row(provider, language, |r| {
            r.requests += 1;
            r.cache_hits += 1;
        });
    }

    pub fn cancelled(&self, language: &str) {
        self.with_row("(cancelled)", language, |r| r.cancelled += 1);
    }

    pub fn answered(&self, provider: &str, language: &str, latency: Duration) {
        self.with_row(provider, language, |r| {
            r.requests += 1;
            push_latency(&mut r.latencies_ms, latency.as_millis().min(u32::MAX as u128) as u32);
        });
    }

    pub fn accepted(&self, provider: &str, language: &str) {
        self.with_row(provider, language, |r| r.accepted += 1);
    }

    pub fn usage(&self, provider: &str, model: &str, language: &str, usage: Option<Usage>) {
        let Some(u) = usage else { return };
        let price = self.price(model);
        self.with_row(provider, language, |r| {
            r.tokens_in += u.input_tokens;
            r.tokens_cached += u.cached_input_tokens;
            r.tokens_out += u.output_tokens;
            if let Some((pin, pcached, pout)) = price {
                let uncached = u.input_tokens.saturating_sub(u.cached_input_tokens) as f64;
                r.cost_usd += (uncached * pin + u.cached_input_tokens as f64 * pcached + u.output_tokens as f64 * pout)
                    / 1_000_000.0;
            }
        });
    }

    /// (input, cached input, output) USD per million tokens.
    fn price(&self, model: &str) -> Option<(f64, f64, f64)> {
        let configured = self.prices.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = configured.get(model) {
            return Some((p.input, p.cached_input.unwrap_or(p.input * CACHED_SHARE), p.output));
        }
        PRICES
            .iter()
            .filter(|(m, ..)| model.starts_with(m))
            .max_by_key(|(m, ..)| m.len())
            .map(|(_, i, c, o)| (*i, *c, *o))
    }

    /// What has been counted since the last save (for tests and `switchboard.stats`).
    pub fn snapshot(&self) -> Table {
        self.fresh.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Adds what was counted since the last save to the stats file.
    pub fn save(&self) -> std::io::Result<()> {
        let fresh = std::mem::take(&mut *self.fresh.lock().unwrap_or_else(|p| p.into_inner()));
        if fresh.rows.is_empty() {
            return Ok(());
        }
        let Some(path) = stats_path() else { return Ok(()) };
        let mut table = load(&path);
        for (k, row) in &fresh.rows {
            table.rows.entry(k.clone()).or_default().merge(row);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&table).unwrap_or_default())?;
        std::fs::rename(tmp, path)
    }
}

pub fn stats_path() -> Option<PathBuf> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let base = env("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("switchboard").join("stats.json"))
}

fn load(path: &std::path::Path) -> Table {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// The human-readable report `switchboard stats` prints.
pub fn report() -> String {
    let Some(path) = stats_path() else { return "no state directory (set HOME or XDG_STATE_HOME)\n".into() };
    let table = load(&path);
    render(&table, &path.display().to_string())
}

pub fn render(table: &Table, source: &str) -> String {
    let mut out = String::new();
    if table.rows.is_empty() {
        let _ = writeln!(out, "No statistics yet ({source}). They are collected locally while the server runs.");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<28} {:>8} {:>7} {:>7} {:>8} {:>7} {:>7} {:>10} {:>9} {:>9}",
        "provider / language",
        "requests",
        "cached",
        "cancel",
        "accepted",
        "p50 ms",
        "p95 ms",
        "tokens in",
        "tok out",
        "cost $"
    );
    let mut total = Row::default();
    for (k, r) in &table.rows {
        let pct = |p| r.percentile(p).map_or("-".to_string(), |v| v.to_string());
        let _ = writeln!(
            out,
            "{k:<28} {:>8} {:>7} {:>7} {:>8} {:>7} {:>7} {:>10} {:>9} {:>9.4}",
            r.requests,
            r.cache_hits,
            r.cancelled,
            r.accepted,
            pct(0.5),
            pct(0.95),
            r.tokens_in,
            r.tokens_out,
            r.cost_usd
        );
        total.merge(r);
    }
    let hit = if total.requests > 0 { 100.0 * total.cache_hits as f64 / total.requests as f64 } else { 0.0 };
    let _ = writeln!(
        out,
        "\n{} requests, {:.0}% from the cache, {} accepted, {} tokens in ({} cached), {} out, about ${:.4}. Kept locally in {source}; never sent anywhere.",
        total.requests, hit, total.accepted, total.tokens_in, total.tokens_cached, total.tokens_out, total.cost_usd
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_latency_and_cost() {
        let s = Stats::default();
        s.answered("codex", "rust", Duration::from_millis(120));
        s.answered("codex", "rust", Duration::from_millis(80));
        s.cache_hit("cache", "rust");
        s.usage(
            "claude",
            "claude-sonnet-5-5",
            "rust",
            Some(Usage { input_tokens: 1_000_000, cached_input_tokens: 0, output_tokens: 0 }),
        );
        let t = s.snapshot();
        let codex = &t.rows["codex / rust"];
        assert_eq!(codex.requests, 2);
        assert_eq!(codex.percentile(0.5), Some(120));
        assert!((t.rows["claude / rust"].cost_usd - 2.0).abs() < 1e-9);
        s.usage(
            "codex",
            "gpt-6-luna-2026-09-22",
            "go",
            Some(Usage { input_tokens: 2_000_000, cached_input_tokens: 1_000_000, output_tokens: 1_000_000 }),
        );
        // 1M uncached at 0.10 + 1M cached at 0.01 + 1M out at 0.50.
        assert!((s.snapshot().rows["codex / go"].cost_usd - 0.61).abs() < 1e-9);
        let text = render(&t, "x");
        assert!(text.contains("codex / rust"));
        assert!(text.contains("3 requests"), "{text}");
    }
}
