//! Configuration: the schema, the layers (defaults → user file → workspace `switchboard.toml` →
//! `initializationOptions` → `didChangeConfiguration`), their merge, and the trust rule.
//!
//! Loading never fails: a broken layer is reported as a [`Problem`] with file, line and column, and
//! the other layers still apply. Reading files happens only in [`discover`]; everything else works
//! on text and JSON values so it can be tested without a disk.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

const DEFAULTS: &str = include_str!("defaults.toml");

/// Provider settings that could leak a key or run a program: only trusted layers may set them.
const SENSITIVE_PROVIDER_KEYS: &[&str] = &["base_url", "api_key_env", "api_key_cmd", "command", "pass_env", "headers"];

/// Built-in route names; custom actions add their own.
pub const TASKS: &[&str] = &["inline", "complete", "explain", "refactor", "fix", "document", "tests"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default = "Config::empty")]
pub struct Config {
    /// `[providers.NAME]`: validated by the providers module when clients are built.
    pub providers: BTreeMap<String, Value>,
    /// `[routes]`: task → provider names, tried in order.
    pub routes: BTreeMap<String, Vec<String>>,
    /// `[language.<id>]`: per-language overrides.
    pub language: BTreeMap<String, LanguageConfig>,
    pub completion: CompletionConfig,
    pub actions: Vec<ActionConfig>,
    /// Workspaces whose `switchboard.toml` may set base URLs, key sources and commands. User file only.
    pub trusted_workspaces: Vec<String>,
    /// `[pricing."model-id"] input = 0.25, output = 2.0`: USD per million tokens, for `switchboard stats`.
    pub pricing: BTreeMap<String, Price>,
    /// `[privacy]`: what never goes upstream, and redaction.
    pub privacy: PrivacyConfig,
    pub log: LogConfig,
    /// `[index]`: the workspace symbol index.
    pub index: IndexConfig,
}

/// `[index]`: whether the workspace's files on disk are indexed, and the bounds of that index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct IndexConfig {
    pub enabled: bool,
    pub max_files: usize,
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig { enabled: true, max_files: 20_000, max_file_bytes: 1024 * 1024, max_total_bytes: 256 << 20 }
    }
}

/// `[privacy]`. The lists are a union over every layer: a workspace may add patterns, never remove
/// the user's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct PrivacyConfig {
    /// Files that never go upstream (gitignore syntax, relative to the workspace root), on top of
    /// the built-in secret patterns and `.switchboardignore`.
    pub exclude: Vec<String>,
    /// Files answered by `local` only.
    pub local_only: Vec<String>,
    /// Redact secret-looking values from every request. Resolved keys are redacted regardless.
    pub redact: bool,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig { exclude: Vec::new(), local_only: Vec::new(), redact: true }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LogConfig {
    /// Log every request's text (after redaction) at debug level. Only the user's own settings
    /// may turn it on.
    pub prompts: bool,
}

/// Lists merged as a union over the layers instead of replaced (`(table, key)`).
const UNION_LISTS: &[(&str, &str)] = &[("privacy", "exclude"), ("privacy", "local_only")];
/// Settings an untrusted workspace may not make: they would send secrets upstream or put prompts
/// in the logs.
const USER_ONLY: &[(&str, &str)] = &[("privacy", "redact"), ("log", "prompts")];

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Cached input; a tenth of `input` when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
}

impl Default for Config {
    fn default() -> Self {
        defaults_value().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_else(Config::empty)
    }
}

impl Config {
    fn empty() -> Config {
        Config {
            providers: BTreeMap::new(),
            routes: BTreeMap::new(),
            language: BTreeMap::new(),
            completion: CompletionConfig::default(),
            actions: Vec::new(),
            trusted_workspaces: Vec::new(),
            pricing: BTreeMap::new(),
            privacy: PrivacyConfig::default(),
            log: LogConfig::default(),
            index: IndexConfig::default(),
        }
    }

    /// The providers to try for `task` in `language`, in order.
    pub fn route(&self, task: &str, language: &str) -> Vec<String> {
        self.language
            .get(language)
            .and_then(|l| l.routes.get(task))
            .or_else(|| self.routes.get(task))
            .cloned()
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LanguageConfig {
    pub routes: BTreeMap<String, Vec<String>>,
    /// `false` turns Switchboard off for this language.
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CompletionConfig {
    /// Server-side debounce for automatic triggers, in ms; 0 = none (editors debounce already).
    pub debounce_ms: u64,
    /// Inline (ghost text) completions on or off.
    pub inline: bool,
    /// Allow multi-line suggestions where the syntax says a block is expected.
    pub multiline: bool,
    /// Prompt budget for inline completions, in tokens (about 4 bytes each).
    pub max_prompt_tokens: usize,
    pub max_output_tokens: u32,
    /// Most popup items the local provider returns.
    pub local_max_items: usize,
    /// How long an inline stream whose request the editor cancelled stays alive for the next
    /// request to join it, in ms.
    pub cancel_grace_ms: u64,
    /// Caps on one inline suggestion: the stream is cut (and closed) when it reaches them.
    pub max_suggestion_bytes: usize,
    pub max_suggestion_lines: usize,
}

impl Default for CompletionConfig {
    fn default() -> Self {
        CompletionConfig {
            debounce_ms: 0,
            inline: true,
            multiline: true,
            max_prompt_tokens: 1500,
            max_output_tokens: 128,
            local_max_items: 50,
            cancel_grace_ms: 200,
            max_suggestion_bytes: 16 * 1024,
            max_suggestion_lines: 64,
        }
    }
}

/// A user-defined code action (`[[actions]]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]

pub struct ActionConfig {
    pub name: String,
    /// A route name from `[routes]` or a provider name; defaults to the `refactor` route.
    #[serde(default)]
    pub route: Option<String>,
    /// The instruction; `{selection}`, `{language}` and `{path}` are filled in.
    pub prompt: String,
    /// `edit` (the answer replaces the code) or `explain` (the answer is shown).
    #[serde(default)]
    pub kind: ActionKind,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    #[default]
    Edit,
    Explain,
}

/// Where a layer came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Defaults,
    User(PathBuf),
    Workspace(PathBuf),
    /// `initializationOptions` or `didChangeConfiguration`.
    Editor(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Defaults => f.write_str("built-in defaults"),
            Origin::User(p) | Origin::Workspace(p) => write!(f, "{}", p.display()),
            Origin::Editor(what) => f.write_str(what),
        }
    }
}

/// One thing wrong with a layer, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub origin: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    /// Errors drop the whole layer; warnings (unknown keys, ignored untrusted settings) do not.
    pub is_error: bool,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.origin, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.origin, self.message),
            _ => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

/// A layer ready to merge: JSON, already validated and trust-filtered.
#[derive(Debug, Clone)]
pub struct Layer {
    pub origin: Origin,
    pub value: Value,
}

fn defaults_value() -> Option<Value> {
    toml::from_str::<toml::Table>(DEFAULTS).ok().and_then(|t| serde_json::to_value(t).ok())
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Best-effort location of a dotted key path (`completion.debounce_msx`) in TOML text: the line
/// where its last segment is assigned, or its `[table]` header.
fn locate_key(text: &str, path: &str) -> Option<(usize, usize)> {
    let last = path.rsplit('.').find(|s| s.parse::<usize>().is_err())?;
    // A key of a table is looked for from the table's header on (`kind` of `[providers.claude]`,
    // not of the table above it).
    let is_header = |line: &str, table: &str| {
        let t = line.trim();
        t.starts_with('[') && t.trim_matches(['[', ']', ' ']) == table
    };
    let from = path
        .rsplit_once('.')
        .and_then(|(table, _)| text.split_inclusive('\n').position(|l| is_header(l, table)))
        .unwrap_or(0);
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i < from {
            offset += line.len();
            continue;
        }
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let key_here =
            trimmed.strip_prefix(last).is_some_and(|rest| {
                let rest = rest.trim_start();
                rest.starts_with('=') || rest.starts_with('.')
            }) || trimmed.strip_prefix('"').and_then(|r| r.strip_prefix(last)).is_some_and(|r| r.starts_with('"'));
        let header_here = trimmed.starts_with('[') && trimmed.contains(path);
        if key_here || header_here {
            return Some(line_col(text, offset + indent));
        }
        offset += line.len();
    }
    None
}

/// Validates a layer against the schema: unknown keys and type errors become problems. The value is
/// kept when only warnings were found.
fn validate(value: &Value, origin: &Origin, text: Option<&str>, problems: &mut Vec<Problem>) -> bool {
    let mut unknown = Vec::new();
    let result: Result<Config, _> = serde_ignored::deserialize(value, |path| unknown.push(path.to_string()));
    for path in unknown {
        let (line, column) = text.and_then(|t| locate_key(t, &path)).unzip();
        problems.push(Problem {
            origin: origin.to_string(),
            line,
            column,
            message: format!("unknown key `{path}` (ignored); see the configuration reference in README.md"),
            is_error: false,
        });
    }
    match result {
        Ok(_) => true,
        Err(e) => {
            // A value of the wrong type: report it and drop the layer rather than guess.
            let msg = e.to_string();
            let key = msg.split('`').nth(1).unwrap_or_default().to_owned();
            let (line, column) = text.and_then(|t| locate_key(t, &key)).unzip();
            problems.push(Problem {
                origin: origin.to_string(),
                line,
                column,
                message: format!("{msg}; this file's settings were not applied"),
                is_error: true,
            });
            false
        }
    }
}

/// Parses a TOML layer: syntax errors (with line:column) and schema problems are pushed to
/// `problems`; the layer comes back when it is usable.
pub fn parse_toml_layer(text: &str, origin: Origin, problems: &mut Vec<Problem>) -> Option<Layer> {
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unzip();
            problems.push(Problem {
                origin: origin.to_string(),
                line,
                column,
                message: format!("{}; this file's settings were not applied until it is fixed", e.message().trim_end()),
                is_error: true,
            });
            return None;
        }
    };
    let value = match serde_json::to_value(table) {
        Ok(v) => v,
        Err(e) => {
            problems.push(Problem {
                origin: origin.to_string(),
                line: None,
                column: None,
                message: e.to_string(),
                is_error: true,
            });
            return None;
        }
    };
    validate(&value, &origin, Some(text), problems).then_some(Layer { origin, value })
}

/// An editor-supplied layer (`initializationOptions`, `didChangeConfiguration`): the schema itself,
/// or wrapped in `{"switchboard": ...}` as VS Code sends settings sections.
pub fn editor_layer(value: Value, what: &'static str, problems: &mut Vec<Problem>) -> Option<Layer> {
    let value = match value {
        Value::Object(mut map) if map.contains_key("switchboard") => map.remove("switchboard").unwrap_or_default(),
        Value::Null => return None,
        other => other,
    };
    if !value.is_object() {
        problems.push(Problem {
            origin: what.to_owned(),
            line: None,
            column: None,
            message: "expected an object with Switchboard's settings".into(),
            is_error: true,
        });
        return None;
    }
    let origin = Origin::Editor(what);
    validate(&value, &origin, None, problems).then_some(Layer { origin, value })
}

/// Provider kinds that run a program (the user's agent CLI from PATH): gated like `command`.
const PROGRAM_KINDS: &[&str] = &["claude-cli", "codex-cli"];

/// What an untrusted workspace may not do to providers: add one whose kind runs a program, or
/// change the kind of one the trusted layers (`lower`, over the defaults) define at all — a new
/// kind can run a program or send that provider's key to another service. Says what was ignored.
pub fn apply_kind_trust(layer: &mut Layer, lower: &[Layer], problems: &mut Vec<Problem>, text: Option<&str>) {
    let defaults = defaults_value();
    let kind_below = |name: &str| {
        let kind_in = |v: &Value| v.get("providers").and_then(|p| p.get(name)).and_then(|p| p.get("kind")).cloned();
        lower.iter().rev().find_map(|l| kind_in(&l.value)).or_else(|| defaults.as_ref().and_then(kind_in))
    };
    let Some(Value::Object(providers)) = layer.value.get_mut("providers") else { return };
    let mut removed = Vec::new();
    providers.retain(|name, settings| {
        let Some(kind) = settings.get("kind") else { return true };
        match kind_below(name) {
            Some(below) if below == *kind => true,
            Some(_) => {
                if let Value::Object(s) = settings {
                    s.remove("kind");
                }
                removed.push(format!("providers.{name}.kind"));
                true
            }
            None if kind.as_str().is_some_and(|k| PROGRAM_KINDS.contains(&k)) => {
                removed.push(format!("providers.{name}"));
                false
            }
            None => true,
        }
    });
    report_untrusted(&layer.origin, removed, text, problems);
}

/// Removes settings an untrusted workspace may not make, and says so.
pub fn apply_trust(layer: &mut Layer, trusted: bool, problems: &mut Vec<Problem>, text: Option<&str>) {
    if trusted {
        return;
    }
    let Value::Object(root) = &mut layer.value else { return };
    let mut removed = Vec::new();
    if root.remove("trusted_workspaces").is_some() {
        removed.push("trusted_workspaces".to_owned());
    }
    if let Some(Value::Object(providers)) = root.get_mut("providers") {
        for (name, settings) in providers.iter_mut() {
            if let Value::Object(settings) = settings {
                for key in SENSITIVE_PROVIDER_KEYS {
                    if settings.remove(*key).is_some() {
                        removed.push(format!("providers.{name}.{key}"));
                    }
                }
            }
        }
    }
    let mut user_only = Vec::new();
    for (table, key) in USER_ONLY {
        if let Some(Value::Object(t)) = root.get_mut(*table)
            && t.remove(*key).is_some()
        {
            user_only.push(format!("{table}.{key}"));
        }
    }
    report_untrusted(&layer.origin, removed, text, problems);
    for path in user_only {
        let (line, column) = text.and_then(|t| locate_key(t, &path)).unzip();
        problems.push(Problem {
            origin: layer.origin.to_string(),
            line,
            column,
            message: format!(
                "`{path}` ignored: this workspace is not trusted, and the setting could send secrets upstream or put \
                 prompts in the logs. Set it in your user config, or trust the workspace there"
            ),
            is_error: false,
        });
    }
}

/// One warning per setting an untrusted workspace could not make.
fn report_untrusted(origin: &Origin, removed: Vec<String>, text: Option<&str>, problems: &mut Vec<Problem>) {
    for path in removed {
        let (line, column) = text.and_then(|t| locate_key(t, &path)).unzip();
        problems.push(Problem {
            origin: origin.to_string(),
            line,
            column,
            message: format!(
                "`{path}` ignored: this workspace is not trusted, and the setting could send a key elsewhere or run a \
                 program. To allow it, add the workspace folder to `trusted_workspaces` in your user config"
            ),
            is_error: false,
        });
    }
}

/// Deep-merges `over` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Sets each of [`UNION_LISTS`] to the union of that list over the defaults and every layer, in
/// order of appearance.
fn union_lists(merged: &mut Value, layers: &[Layer]) {
    let defaults = defaults_value();
    for (table, key) in UNION_LISTS {
        let mut all: Vec<Value> = Vec::new();
        for value in defaults.iter().chain(layers.iter().map(|l| &l.value)) {
            if let Some(Value::Array(items)) = value.get(*table).and_then(|t| t.get(*key)) {
                for item in items {
                    if !all.contains(item) {
                        all.push(item.clone());
                    }
                }
            }
        }
        if let Some(Value::Object(t)) = merged.get_mut(*table) {
            t.insert((*key).to_owned(), Value::Array(all));
        }
    }
}

/// Merges the layers over the defaults. Cross-layer checks (routes naming unknown providers) are
/// added to `problems`.
pub fn build(layers: &[Layer], problems: &mut Vec<Problem>) -> Config {
    let mut merged = defaults_value().unwrap_or(Value::Object(Map::new()));
    for layer in layers {
        merge(&mut merged, layer.value.clone());
    }
    union_lists(&mut merged, layers);
    let config: Config = match serde_json::from_value(merged) {
        Ok(c) => c,
        Err(e) => {
            problems.push(Problem {
                origin: "merged configuration".into(),
                line: None,
                column: None,
                message: format!("{e}; using the built-in defaults"),
                is_error: true,
            });
            Config::default()
        }
    };
    let known_route = |name: &str| config.providers.contains_key(name);
    let mut check_routes = |routes: &BTreeMap<String, Vec<String>>, where_: &str| {
        for (task, chain) in routes {
            for name in chain {
                if !known_route(name) {
                    problems.push(Problem {
                        origin: "configuration".into(),
                        line: None,
                        column: None,
                        message: format!(
                            "{where_} route `{task}` names provider `{name}`, which is not defined under [providers]"
                        ),
                        is_error: false,
                    });
                }
            }
        }
    };
    check_routes(&config.routes, "");
    for (lang, lc) in &config.language {
        check_routes(&lc.routes, &format!("[language.{lang}]"));
    }
    config
}

/// The files that were found, their layers, and what was wrong with them.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub user_file: Option<PathBuf>,
    pub workspace_file: Option<PathBuf>,
    pub layers: Vec<Layer>,
    pub problems: Vec<Problem>,
}

/// Reads the user file (`$SWITCHBOARD_CONFIG`, else `$XDG_CONFIG_HOME/switchboard/config.toml`, else
/// `~/.config/switchboard/config.toml`) and the workspace `switchboard.toml`, applying the trust rule.
pub fn discover(workspace: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Discovered {
    let mut out = Discovered::default();
    let user_path = env("SWITCHBOARD_CONFIG").filter(|s| !s.is_empty()).map(PathBuf::from).or_else(|| {
        env("XDG_CONFIG_HOME")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")))
            .map(|dir| dir.join("switchboard").join("config.toml"))
    });
    let explicit = env("SWITCHBOARD_CONFIG").is_some_and(|s| !s.is_empty());
    let mut trusted = Vec::new();
    if let Some(path) = user_path {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                if let Some(layer) = parse_toml_layer(&text, Origin::User(path.clone()), &mut out.problems) {
                    if let Some(Value::Array(list)) = layer.value.get("trusted_workspaces") {
                        trusted.extend(list.iter().filter_map(Value::as_str).map(PathBuf::from));
                    }
                    out.layers.push(layer);
                }
                out.user_file = Some(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
            Err(e) => out.problems.push(Problem {
                origin: path.display().to_string(),
                line: None,
                column: None,
                message: format!("cannot read the config file: {e}"),
                is_error: true,
            }),
        }
    }
    if let Some(root) = workspace {
        let path = root.join("switchboard.toml");
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Some(mut layer) = parse_toml_layer(&text, Origin::Workspace(path.clone()), &mut out.problems) {
                let is_trusted = trusted.iter().any(|t| same_dir(t, root));
                if !is_trusted {
                    apply_kind_trust(&mut layer, &out.layers, &mut out.problems, Some(&text));
                }
                apply_trust(&mut layer, is_trusted, &mut out.problems, Some(&text));
                out.layers.push(layer);
            }
            out.workspace_file = Some(path);
        }
    }
    out
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(a) == canon(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn toml_layer(text: &str) -> (Option<Layer>, Vec<Problem>) {
        let mut problems = Vec::new();
        let layer = parse_toml_layer(text, Origin::Workspace("/w/switchboard.toml".into()), &mut problems);
        (layer, problems)
    }

    #[test]
    fn defaults_match_the_design() {
        let c = Config::default();
        assert_eq!(c.route("inline", "rust"), ["codex", "local"]);
        assert_eq!(c.route("explain", "rust"), ["claude"]);
        assert_eq!(c.providers["codex"]["kind"], "openai-responses");
        assert_eq!(c.completion.debounce_ms, 0);
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let (layer, problems) = toml_layer("[completion]\ndebounce_ms = 5\ninline = tru\n");
        assert!(layer.is_none());
        assert_eq!(problems.len(), 1);
        let msg = problems[0].to_string();
        assert!(msg.starts_with("/w/switchboard.toml:3:10: "), "{msg}");
    }

    #[test]
    fn unknown_keys_are_reported_and_the_rest_applies() {
        let (layer, problems) = toml_layer("[completion]\n  debounce_msx = 5\ndebounce_ms = 7\n");
        let layer = layer.expect("layer kept");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].to_string().split(": ").next(), Some("/w/switchboard.toml:2:3"));
        assert!(problems[0].message.contains("completion.debounce_msx"));
        let c = build(&[layer], &mut Vec::new());
        assert_eq!(c.completion.debounce_ms, 7);
    }

    #[test]
    fn type_errors_drop_the_layer_with_a_location() {
        let (layer, problems) = toml_layer("[completion]\ndebounce_ms = \"soon\"\n");
        assert!(layer.is_none());
        assert!(problems[0].is_error);
    }

    #[test]
    fn untrusted_workspace_cannot_redirect_keys() {
        let text = "[providers.codex]\nmodel = \"gpt-x\"\nbase_url = \"http://evil.example/v1\"\napi_key_cmd = \"cat ~/.key\"\n";
        let (layer, _) = toml_layer(text);
        let mut layer = layer.unwrap();
        let mut problems = Vec::new();
        apply_trust(&mut layer, false, &mut problems, Some(text));
        assert_eq!(problems.len(), 2);
        assert!(problems[0].to_string().contains("switchboard.toml:3:1: `providers.codex.base_url` ignored"));
        let c = build(&[layer], &mut Vec::new());
        assert_eq!(c.providers["codex"]["model"], "gpt-x");
        assert!(c.providers["codex"].get("base_url").is_none());
        assert_eq!(c.providers["codex"]["kind"], "openai-responses");
    }

    #[test]
    fn untrusted_workspace_cannot_add_an_agent_cli_or_change_a_kind() {
        let (user, _) = toml_layer("[providers.mine]\nkind = \"openai-chat\"\nmodel = \"m\"\n");
        let lower = vec![user.unwrap()];
        let text = "[providers.agent]\nkind = \"claude-cli\"\nmodel = \"x\"\ncommand = \"sh\"\n\n\
                    [providers.claude]\nkind = \"codex-cli\"\n\n[providers.mine]\nkind = \"anthropic\"\n\n\
                    [providers.codex]\nkind = \"openai-responses\"\nmodel = \"gpt-y\"\n\n\
                    [providers.extra]\nkind = \"ollama\"\nmodel = \"qwen\"\n";
        let (layer, problems) = toml_layer(text);
        assert!(problems.is_empty(), "{problems:?}");
        let mut layer = layer.unwrap();
        let mut problems = Vec::new();
        apply_kind_trust(&mut layer, &lower, &mut problems, Some(text));
        apply_trust(&mut layer, false, &mut problems, Some(text));
        let said: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(said.len(), 3, "each ignored setting said once: {said:#?}");
        assert!(
            said[0].starts_with("/w/switchboard.toml:1:1: `providers.agent` ignored: this workspace is not trusted")
        );
        assert!(said[1].starts_with("/w/switchboard.toml:7:1: `providers.claude.kind` ignored"), "{}", said[1]);
        assert!(said[2].starts_with("/w/switchboard.toml:10:1: `providers.mine.kind` ignored"), "{}", said[2]);
        let c = build(&[lower[0].clone(), layer], &mut Vec::new());
        assert!(!c.providers.contains_key("agent"));
        assert_eq!(c.providers["claude"]["kind"], "anthropic");
        assert_eq!(c.providers["mine"]["kind"], "openai-chat");
        // Restating a kind is no change; a new provider that runs no program is allowed.
        assert_eq!(c.providers["codex"]["model"], "gpt-y");
        assert_eq!(c.providers["extra"]["kind"], "ollama");
    }

    #[test]
    fn trusted_workspace_may_add_an_agent_cli() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(ws.join("switchboard.toml"), "[providers.agent]\nkind = \"claude-cli\"\n").unwrap();
        let user = dir.path().join("user.toml");
        let env = |path: PathBuf| move |k: &str| (k == "SWITCHBOARD_CONFIG").then(|| path.display().to_string());
        std::fs::write(&user, "").unwrap();
        let untrusted = discover(Some(&ws), &env(user.clone()));
        assert!(untrusted.problems.iter().any(|p| p.message.starts_with("`providers.agent` ignored")));
        assert!(!build(&untrusted.layers, &mut Vec::new()).providers.contains_key("agent"));
        std::fs::write(&user, format!("trusted_workspaces = [{:?}]\n", ws.display().to_string())).unwrap();
        let trusted = discover(Some(&ws), &env(user));
        assert!(trusted.problems.is_empty(), "{:?}", trusted.problems);
        assert_eq!(build(&trusted.layers, &mut Vec::new()).providers["agent"]["kind"], "claude-cli");
    }

    #[test]
    fn later_layers_win_and_editor_settings_may_be_wrapped() {
        let (user, _) = toml_layer("[routes]\ninline = [\"local\"]\n");
        let mut problems = Vec::new();
        let editor = editor_layer(
            json!({"switchboard": {"completion": {"debounce_ms": 30}}}),
            "initializationOptions",
            &mut problems,
        )
        .unwrap();
        let c = build(&[user.unwrap(), editor], &mut problems);
        assert_eq!(c.route("inline", "go"), ["local"]);
        assert_eq!(c.completion.debounce_ms, 30);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn per_language_routes_and_unknown_providers() {
        let (layer, _) = toml_layer("[language.python.routes]\ninline = [\"ollama\", \"local\"]\n");
        let mut problems = Vec::new();
        let c = build(&[layer.unwrap()], &mut problems);
        assert_eq!(c.route("inline", "python"), ["ollama", "local"]);
        assert_eq!(c.route("inline", "rust"), ["codex", "local"]);
        assert!(problems.iter().any(|p| p.message.contains("`ollama`")));
    }

    #[test]
    fn privacy_lists_are_a_union_and_the_switches_are_the_users() {
        let (user, _) = toml_layer("[privacy]\nexclude = [\"confidential/**\"]\nlocal_only = [\"internal/\"]\n");
        let text = "[privacy]\nexclude = [\"*.sql\"]\nlocal_only = []\nredact = false\n[log]\nprompts = true\n";
        let (ws, _) = toml_layer(text);
        let mut ws = ws.unwrap();
        let mut problems = Vec::new();
        apply_trust(&mut ws, false, &mut problems, Some(text));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].to_string().contains("switchboard.toml:4:1: `privacy.redact` ignored"), "{}", problems[0]);
        let c = build(&[user.unwrap(), ws], &mut Vec::new());
        assert_eq!(c.privacy.exclude, ["confidential/**", "*.sql"]);
        assert_eq!(c.privacy.local_only, ["internal/"], "an empty list removes nothing");
        assert!(c.privacy.redact && !c.log.prompts);
        assert!(Config::default().privacy.redact);
    }

    #[test]
    fn actions_parse() {
        let (layer, problems) = toml_layer(
            "[[actions]]\nname = \"Add logging\"\nroute = \"claude\"\nprompt = \"Add tracing to {selection}\"\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let c = build(&[layer.unwrap()], &mut Vec::new());
        assert_eq!(c.actions[0].name, "Add logging");
        assert_eq!(c.actions[0].kind, ActionKind::Edit);
    }
}
