//! Redaction: secret-looking values in text bound upstream become placeholders (`«redacted:ID-N»`),
//! and the model's answer gets the original back, or is refused, before it reaches the buffer.
//!
//! The rules are data (`privacy/rules.toml`, embedded at build time). Placeholders are stable for
//! the life of the process: the same secret always gets the same placeholder, so a prompt that did
//! not change in substance stays byte-identical and provider prompt caches still hit.

use std::{
    collections::HashMap,
    ops::Range,
    sync::{LazyLock, Mutex, OnceLock},
};

use regex::Regex;
use serde::Deserialize;

const RULES: &str = include_str!("../../privacy/rules.toml");
/// Every placeholder starts with this; answers are scanned for it.
pub const PLACEHOLDER_START: &str = "«redacted:";
const PLACEHOLDER_END: char = '»';
/// No placeholder is longer (rule ids are short); a longer `«…` is ordinary text.
const MAX_PLACEHOLDER: usize = 64;
/// Keys shorter than this are not searched for verbatim (they would match ordinary words).
const MIN_KNOWN_KEY: usize = 8;
/// Bounds on the session tables: a pathological workspace cannot grow them without end.
const MAX_SESSION_SECRETS: usize = 10_000;
const MAX_KNOWN_KEYS: usize = 64;
/// The rule id of keys the registry resolved (env vars, `api_key_cmd`).
pub const KNOWN_KEY: &str = "api-key";

#[derive(Deserialize)]
struct RuleFile {
    rules: Vec<RuleSpec>,
}

#[derive(Deserialize)]
struct RuleSpec {
    id: String,
    what: String,
    regex: String,
    #[serde(default)]
    mixed: bool,
    #[serde(default)]
    min_len: usize,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    ignores: Vec<String>,
}

/// One rule. Its regex is compiled the first time a text needs it: compiling all of them took
/// ~30 ms (one, `aws-secret`, is 19 ms of Unicode classes under `(?i)`), and most texts need none
/// of them — the set says so first.
pub struct Rule {
    pub id: String,
    pub what: String,
    pattern: String,
    compiled: OnceLock<Option<Compiled>>,
    mixed: bool,
    min_len: usize,
    pub examples: Vec<String>,
    pub ignores: Vec<String>,
}

struct Compiled {
    regex: Regex,
    /// Capture groups that mark the secret (named `secret…`); empty: the whole match.
    groups: Vec<usize>,
}

impl Rule {
    /// The compiled regex; `None` only if it failed to compile (syntax was checked at parse, so
    /// only a size limit could), which is logged once and leaves the rule out.
    fn compiled(&self) -> Option<&Compiled> {
        let compiled = self.compiled.get_or_init(|| match Regex::new(&self.pattern) {
            Ok(regex) => {
                let groups = regex
                    .capture_names()
                    .enumerate()
                    .filter(|(_, n)| n.is_some_and(|n| n.starts_with("secret")))
                    .map(|(i, _)| i)
                    .collect();
                Some(Compiled { regex, groups })
            }
            Err(e) => {
                tracing::warn!("privacy/rules.toml: rule `{}` left out: {e}", self.id);
                None
            }
        });
        compiled.as_ref()
    }
}

/// The rule table.
pub struct Rules {
    pub rules: Vec<Rule>,
    /// The rules' patterns in one set, in ASCII mode (1.6 ms to compile against 26 ms in Unicode
    /// mode, and the same answers on ASCII text, which is all it is asked about): one pass over a
    /// text says which rules match it at all, so the rules that do not (nearly all, nearly always)
    /// are neither compiled nor searched. `members[i]` is the rule of the set's pattern `i`; a rule
    /// the set cannot hold (a `\p{..}` class has no ASCII mode) is always searched.
    set: Option<Prefilter>,
    /// Rules that did not compile (a broken data file must not take redaction down with it).
    pub errors: Vec<String>,
}

/// Whether `pattern` parses in ASCII mode over bytes (what the prefilter set needs).
fn ascii_syntax(pattern: &str) -> bool {
    regex_syntax::ParserBuilder::new().unicode(false).utf8(false).build().parse(pattern).is_ok()
}

struct Prefilter {
    set: regex::bytes::RegexSet,
    members: Vec<usize>,
}

impl Prefilter {
    fn new(rules: &[Rule]) -> Option<Prefilter> {
        let members: Vec<usize> = (0..rules.len()).filter(|&i| ascii_syntax(&rules[i].pattern)).collect();
        let patterns = members.iter().map(|&i| rules[i].pattern.as_str());
        let set = regex::bytes::RegexSetBuilder::new(patterns).unicode(false).build().ok()?;
        Some(Prefilter { set, members })
    }

    /// Which of `n` rules may match `text` (ASCII): those the set matched and those it lacks.
    fn candidates(&self, text: &str, n: usize) -> Vec<bool> {
        let mut wanted = vec![true; n];
        for &rule in &self.members {
            wanted[rule] = false;
        }
        for i in self.set.matches(text.as_bytes()).iter() {
            wanted[self.members[i]] = true;
        }
        wanted
    }
}

impl Rules {
    pub fn global() -> &'static Rules {
        static RULES_TABLE: LazyLock<Rules> = LazyLock::new(|| Rules::parse(RULES));
        &RULES_TABLE
    }

    pub fn parse(text: &str) -> Rules {
        let file: RuleFile = match toml::from_str(text) {
            Ok(f) => f,
            Err(e) => return Rules { rules: Vec::new(), set: None, errors: vec![format!("privacy/rules.toml: {e}")] },
        };
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for spec in file.rules {
            // Parsing checks the syntax in microseconds (in ASCII mode; in Unicode mode, where
            // `(?i)\w` costs milliseconds, only what ASCII mode refuses); compiling waits for the
            // first use.
            let checked = if ascii_syntax(&spec.regex) {
                Ok(())
            } else {
                regex_syntax::Parser::new().parse(&spec.regex).map(|_| ())
            };
            match checked {
                Ok(()) => rules.push(Rule {
                    id: spec.id,
                    what: spec.what,
                    pattern: spec.regex,
                    compiled: OnceLock::new(),
                    mixed: spec.mixed,
                    min_len: spec.min_len,
                    examples: spec.examples,
                    ignores: spec.ignores,
                }),
                Err(e) => errors.push(format!("privacy/rules.toml: rule `{}`: {e}", spec.id)),
            }
        }
        // Without the set (it could only fail on a size limit) every rule is searched.
        let set = Prefilter::new(&rules);
        Rules { rules, set, errors }
    }

    /// Compiles every rule now (the server does it in the background at start, so that a text
    /// that needs a rule rarely waits for it).
    pub fn compile_all(&self) {
        for rule in &self.rules {
            rule.compiled();
        }
    }

    /// Where secrets are in `text`: sorted, non-overlapping ranges with the rule that found each.
    /// `known` are literal values (resolved keys) found wherever they occur.
    pub fn find(&self, text: &str, known: &[String]) -> Vec<(Range<usize>, &str)> {
        let mut found: Vec<(Range<usize>, usize)> = Vec::new();
        for key in known.iter().filter(|k| k.len() >= MIN_KNOWN_KEY) {
            found.extend(text.match_indices(key.as_str()).map(|(i, k)| (i..i + k.len(), 0)));
        }
        // Only over ASCII: the set is in ASCII mode, and the Unicode rules' answers on other text
        // may differ from its.
        let candidates = self.set.as_ref().filter(|_| text.is_ascii()).map(|p| p.candidates(text, self.rules.len()));
        for (n, rule) in self.rules.iter().enumerate() {
            if candidates.as_ref().is_some_and(|c| !c[n]) {
                continue;
            }
            let Some(Compiled { regex, groups }) = rule.compiled() else { continue };
            if groups.is_empty() {
                found.extend(regex.find_iter(text).map(|m| (m.range(), n + 1)));
                continue;
            }
            for caps in regex.captures_iter(text) {
                if let Some(m) = groups.iter().find_map(|g| caps.get(*g))
                    && rule.accepts(m.as_str())
                {
                    found.push((m.range(), n + 1));
                }
            }
        }
        // Earliest first; at the same start the earlier rule (more specific) wins; overlaps merge.
        found.sort_by_key(|(r, n)| (r.start, *n));
        let mut out: Vec<(Range<usize>, &str)> = Vec::new();
        for (range, n) in found {
            if range.is_empty() {
                continue;
            }
            if let Some((last, _)) = out.last_mut()
                && range.start < last.end
            {
                last.end = last.end.max(range.end);
                continue;
            }
            let id = if n == 0 { KNOWN_KEY } else { self.rules[n - 1].id.as_str() };
            out.push((range, id));
        }
        out
    }
}

impl Rule {
    fn accepts(&self, value: &str) -> bool {
        if value.len() < self.min_len {
            return false;
        }
        if self.mixed {
            let letter = value.chars().any(char::is_alphabetic);
            let other = value.chars().any(|c| c.is_ascii_digit() || !(c.is_alphanumeric() || "._-".contains(c)));
            return letter && other;
        }
        true
    }
}

/// One value taken out of a text: which rule, where it was (bytes of the original text), and
/// what replaced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    pub rule: String,
    pub range: Range<usize>,
    pub placeholder: String,
}

/// The process-wide memory of placeholders: same secret, same placeholder.
#[derive(Default)]
struct Session {
    by_secret: HashMap<String, String>,
    counters: HashMap<String, usize>,
    known_keys: Vec<String>,
}

fn session() -> std::sync::MutexGuard<'static, Session> {
    static SESSION: LazyLock<Mutex<Session>> = LazyLock::new(Mutex::default);
    SESSION.lock().unwrap_or_else(|p| p.into_inner())
}

/// Remembers a key the registry resolved, so it is redacted wherever it turns up: in a prompt, an
/// error message, an agent's stderr.
pub fn remember_key(key: &str) {
    let key = key.trim();
    if key.len() < MIN_KNOWN_KEY {
        return;
    }
    let mut s = session();
    if !s.known_keys.iter().any(|k| k == key) && s.known_keys.len() < MAX_KNOWN_KEYS {
        s.known_keys.push(key.to_owned());
    }
}

fn known_keys() -> Vec<String> {
    session().known_keys.clone()
}

fn placeholder_for(rule: &str, secret: &str) -> String {
    let mut s = session();
    if let Some(p) = s.by_secret.get(secret) {
        return p.clone();
    }
    if s.by_secret.len() >= MAX_SESSION_SECRETS {
        // Counters keep running, so an old placeholder never names a new secret.
        s.by_secret.clear();
    }
    let n = {
        let c = s.counters.entry(rule.to_owned()).or_insert(0);
        *c += 1;
        *c
    };
    let p = format!("{PLACEHOLDER_START}{rule}-{n}{PLACEHOLDER_END}");
    s.by_secret.insert(secret.to_owned(), p.clone());
    p
}

/// `text` with every secret replaced by its session placeholder, and what was replaced.
pub fn redact(text: &str) -> (String, Vec<Redaction>) {
    redact_with(Rules::global(), text, true)
}

/// Only the keys the registry resolved (redaction switched off by the user still never sends a
/// key as text).
pub fn redact_known_keys(text: &str) -> (String, Vec<Redaction>) {
    redact_with(&Rules { rules: Vec::new(), set: None, errors: Vec::new() }, text, true)
}

fn redact_with(rules: &Rules, text: &str, known: bool) -> (String, Vec<Redaction>) {
    let keys = if known { known_keys() } else { Vec::new() };
    let found = rules.find(text, &keys);
    if found.is_empty() {
        return (text.to_owned(), Vec::new());
    }
    let mut out = String::with_capacity(text.len());
    let mut redactions = Vec::with_capacity(found.len());
    let mut at = 0;
    for (range, rule) in found {
        let placeholder = placeholder_for(rule, &text[range.clone()]);
        out.push_str(&text[at..range.start]);
        out.push_str(&placeholder);
        at = range.end;
        redactions.push(Redaction { rule: rule.to_owned(), range, placeholder });
    }
    out.push_str(&text[at..]);
    (out, redactions)
}

/// Text that came from upstream (error messages and bodies, an agent's stderr) with resolved keys
/// and key-looking values taken out, before it is logged, shown or returned. The placeholders here
/// carry no number: nothing maps them back.
pub fn scrub(text: &str) -> String {
    let found = Rules::global().find(text, &known_keys());
    if found.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, rule) in found {
        out.push_str(&text[at..range.start]);
        out.push_str(&format!("{PLACEHOLDER_START}{rule}{PLACEHOLDER_END}"));
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Puts originals back into an answer as it streams. A placeholder it cannot map back (a secret
/// from another file, or one the model made up) is refused, unless `lenient` (explanations, which
/// are shown and never written into a file).
#[derive(Debug, Default)]
pub struct Restorer {
    map: HashMap<String, String>,
    lenient: bool,
    pending: String,
}

impl Restorer {
    pub fn new(map: HashMap<String, String>, lenient: bool) -> Restorer {
        Restorer { map, lenient, pending: String::new() }
    }

    /// The text that is ready after `delta`; a trailing piece that may be the start of a
    /// placeholder waits for the next delta. `Err` names a placeholder that may not be written.
    pub fn push(&mut self, delta: &str) -> Result<String, String> {
        self.pending.push_str(delta);
        let hold = match self.pending.rfind('«') {
            Some(i) if !self.pending[i..].contains(PLACEHOLDER_END) && self.pending.len() - i < MAX_PLACEHOLDER => i,
            _ => self.pending.len(),
        };
        let ready: String = self.pending.drain(..hold).collect();
        self.convert(&ready)
    }

    /// The end of the answer: what was held back. A cut-off placeholder is dropped.
    pub fn finish(&mut self) -> Result<String, String> {
        let rest = std::mem::take(&mut self.pending);
        if rest.starts_with(PLACEHOLDER_START) || (!rest.is_empty() && PLACEHOLDER_START.starts_with(rest.as_str())) {
            return Ok(String::new());
        }
        self.convert(&rest)
    }

    fn convert(&self, text: &str) -> Result<String, String> {
        if !text.contains(PLACEHOLDER_START) {
            return Ok(text.to_owned());
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find(PLACEHOLDER_START) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            let end = tail.find(PLACEHOLDER_END).map(|e| e + PLACEHOLDER_END.len_utf8());
            let Some(end) = end.filter(|e| *e <= MAX_PLACEHOLDER) else {
                return Err(tail.chars().take(24).collect());
            };
            let placeholder = &tail[..end];
            match self.map.get(placeholder) {
                Some(original) => out.push_str(original),
                None if self.lenient => out.push_str(placeholder),
                None => return Err(placeholder.to_owned()),
            }
            rest = &tail[end..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_prefilter_finds_what_every_rule_searched_alone_finds() {
        let with_set = Rules::parse(RULES);
        assert!(with_set.set.is_some(), "the shipped rules compile into one set");
        let mut alone = Rules::parse(RULES);
        alone.set = None;
        let mut texts: Vec<String> =
            with_set.rules.iter().flat_map(|r| r.examples.iter().chain(&r.ignores).cloned()).collect();
        texts.push(texts.join("\n    let x = 1; // "));
        texts.push(include_str!("redact.rs").to_owned());
        for text in &texts {
            assert_eq!(with_set.find(text, &[]), alone.find(text, &[]), "{text}");
        }
    }

    #[test]
    fn a_text_without_secrets_compiles_no_rule_and_one_with_compiles_its_own() {
        let rules = Rules::parse(RULES);
        fn compiled(rules: &Rules) -> Vec<&str> {
            rules.rules.iter().filter(|r| r.compiled.get().is_some()).map(|r| r.id.as_str()).collect()
        }
        assert!(rules.find("fn main() {\n    let total = items.iter().sum();\n}\n", &[]).is_empty());
        assert!(compiled(&rules).is_empty(), "{:?}", compiled(&rules));
        let found = rules.find("token: ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5", &[]);
        assert_eq!(found.iter().map(|(_, id)| *id).collect::<Vec<_>>(), ["github-token"]);
        assert!(compiled(&rules).contains(&"github-token"));
        assert!(!compiled(&rules).contains(&"aws-secret"), "{:?}", compiled(&rules));
        // Non-ASCII text is searched by every rule (the set answers for ASCII only).
        rules.find("let café = 1;", &[]);
        assert_eq!(compiled(&rules).len(), rules.rules.len());
    }

    #[test]
    fn a_rule_the_ascii_set_cannot_hold_is_searched_anyway_and_a_broken_one_reported() {
        let toml = r#"
            [[rules]]
            id = "letters"
            what = "a Unicode class"
            regex = '\bzz\p{L}{3}\b'
            [[rules]]
            id = "broken"
            what = "unclosed"
            regex = '(abc'
            [[rules]]
            id = "plain"
            what = "ascii"
            regex = 'sk-[a-z]{4}'
        "#;
        let rules = Rules::parse(toml);
        assert_eq!(rules.errors.len(), 1, "{:?}", rules.errors);
        assert!(rules.errors[0].contains("broken"));
        assert_eq!(rules.set.as_ref().map(|s| s.members.clone()), Some(vec![1]), "only `plain` is in the set");
        let found = rules.find("x = zzabc; y = sk-abcd", &[]);
        assert_eq!(found.iter().map(|(_, id)| *id).collect::<Vec<_>>(), ["letters", "plain"]);
    }

    fn redacted_parts(text: &str) -> Vec<String> {
        Rules::global().find(text, &[]).into_iter().map(|(r, _)| text[r].to_owned()).collect()
    }

    #[test]
    fn the_rules_file_compiles() {
        let rules = Rules::global();
        assert!(rules.errors.is_empty(), "{:?}", rules.errors);
        for r in &rules.rules {
            assert!(r.compiled().is_some(), "rule {} does not compile", r.id);
        }
        let set = rules.set.as_ref().expect("the shipped rules compile into one set");
        assert_eq!(set.members.len(), rules.rules.len(), "every shipped rule is in the set");
        assert!(rules.rules.len() >= 14);
        for r in &rules.rules {
            assert!(!r.examples.is_empty(), "rule {} has no example", r.id);
            assert!(!r.ignores.is_empty(), "rule {} has no counter-example", r.id);
        }
    }

    /// Every example is redacted by its own rule (or an earlier, more specific one), and no
    /// counter-example is touched by any rule.
    #[test]
    fn every_rule_matches_its_examples_and_none_of_its_ignores() {
        let rules = Rules::global();
        for rule in &rules.rules {
            for ex in &rule.examples {
                let found = rules.find(ex, &[]);
                assert!(!found.is_empty(), "rule {}: example not redacted: {ex:?}", rule.id);
                let (out, _) = redact(ex);
                assert!(out.contains(PLACEHOLDER_START), "{ex:?} -> {out:?}");
            }
            for ig in &rule.ignores {
                let found = redacted_parts(ig);
                assert!(found.is_empty(), "rule {}: counter-example redacted: {ig:?} -> {found:?}", rule.id);
            }
        }
    }

    #[test]
    fn only_the_value_of_an_assignment_goes() {
        let (out, reds) = redact("DB_PASSWORD = \"hunter2!x\"\nlet n = 1;\n");
        assert_eq!(reds.len(), 1);
        assert!(out.starts_with("DB_PASSWORD = \"«redacted:secret-assignment-"), "{out}");
        assert!(out.ends_with("»\"\nlet n = 1;\n"), "{out}");
        assert_eq!(&"DB_PASSWORD = \"hunter2!x\""[reds[0].range.clone()], "hunter2!x");
    }

    #[test]
    fn ordinary_code_is_left_alone() {
        for code in [
            "token = next_token()",
            "password_field = form.password",
            "let token = tokens[i];",
            "fn password_is_valid(password: &str) -> bool {",
            "def authenticate(self, token: str) -> bool:",
            "const TOKEN_RE = /[a-z]+/;",
            "if key in self.cache:",
            "secret_len = len(secret)",
            "api_key = os.environ[\"OPENAI_API_KEY\"]",
            "password: str = field(default=None)",
            "    tokens: Vec<Token>,",
            "https://github.com/owner/repo/blob/main/src/lib.rs",
            "let s = format!(\"Bearer {}\", key.expose());",
        ] {
            assert_eq!(redacted_parts(code), Vec::<String>::new(), "{code}");
        }
    }

    #[test]
    fn placeholders_are_stable_and_distinct() {
        let a = "sk-proj-STABLEa1b2c3d4e5f6g7h8i9j0kLmN";
        let b = "sk-proj-OTHERa1b2c3d4e5f6g7h8i9j0kLmNo";
        let (x, _) = redact(&format!("k = {a}"));
        let (y, _) = redact(&format!("other = {a}\n"));
        let (z, _) = redact(&format!("k = {b}"));
        let p = |s: &str| s[s.find('«').unwrap()..s.find('»').unwrap() + 2].to_owned();
        assert_eq!(p(&x), p(&y));
        assert_ne!(p(&x), p(&z));
        assert!(p(&x).starts_with("«redacted:openai-key-"));
    }

    #[test]
    fn known_keys_go_even_when_they_look_like_nothing() {
        remember_key("plainlookingvalue123");
        assert_eq!(
            scrub("Incorrect API key provided: plainlookingvalue123."),
            "Incorrect API key provided: «redacted:api-key»."
        );
        let (out, _) = redact_known_keys("x = plainlookingvalue123");
        assert!(!out.contains("plainlookingvalue123"));
        remember_key("short");
        assert_eq!(scrub("short"), "short");
    }

    #[test]
    fn restoring_across_deltas() {
        let map = HashMap::from([("«redacted:aws-secret-3»".to_owned(), "ORIGINAL".to_owned())]);
        let mut r = Restorer::new(map.clone(), false);
        let mut out = String::new();
        for piece in ["key = \"", "«reda", "cted:aws-sec", "ret-3»", "\"\n"] {
            out.push_str(&r.push(piece).unwrap());
        }
        out.push_str(&r.finish().unwrap());
        assert_eq!(out, "key = \"ORIGINAL\"\n");

        let mut r = Restorer::new(map.clone(), false);
        assert_eq!(r.push("a «quoted» word").unwrap(), "a «quoted» word");
        assert_eq!(r.push(" then «redacted:github-token-9»").unwrap_err(), "«redacted:github-token-9»");

        let mut lenient = Restorer::new(map.clone(), true);
        assert_eq!(lenient.push("uses «redacted:jwt-2».").unwrap(), "uses «redacted:jwt-2».");

        let mut cut = Restorer::new(map, false);
        assert_eq!(cut.push("x = «redacted:aw").unwrap(), "x = ");
        assert_eq!(cut.finish().unwrap(), "", "a cut-off placeholder never reaches the buffer");
        let mut tail = Restorer::new(HashMap::new(), false);
        assert_eq!(tail.push("a « b").unwrap(), "a ");
        assert_eq!(tail.finish().unwrap(), "« b");
    }

    #[test]
    fn overlapping_matches_merge() {
        let text = "api_key = \"sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123\"";
        let found = Rules::global().find(text, &[]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, "anthropic-key");
    }
}
