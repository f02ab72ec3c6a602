//! The command line: argument parsing (clap) and the one-shot commands `complete` and `doctor`,
//! which call the same engine the server uses.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::{
    completion::inline::{InlineOutcome, InlineRequest},
    config::{self, Config},
    documents::{Encoding, Position},
    engine::Engine,
    providers::{Task, router::Availability},
    syntax::Languages,
    upstream::Upstream,
};

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "An AI completion language server: Codex-class models for inline completions, Claude for code actions",
    long_about = "Switchboard is a language server. Run it from your editor (it speaks LSP on stdio), or use the \
                  commands below from a shell. With no API key it still completes from the symbols of your files."
)]
pub struct Cli {
    /// Accepted for compatibility with editors that pass it (VS Code's language client does).
    #[arg(long, global = true, hide = true)]
    pub stdio: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Speak LSP over stdin/stdout (the default).
    Serve,
    /// Print one inline completion at FILE:LINE:COL (1-based; COL counts characters).
    Complete {
        /// The place to complete, e.g. src/main.rs:12:9
        location: String,
        /// Print JSON with the replaced range and the provider instead of the bare text.
        #[arg(long)]
        json: bool,
    },
    /// Run a code action (explain, refactor, fix, document, tests, or a configured one) on a range.
    Action {
        /// explain | refactor | fix | document | tests | the name of an [[actions]] entry
        name: String,
        /// FILE:LINE[:COL[-LINE:COL]] (1-based); a bare line means the enclosing function or class.
        location: String,
        /// Write the edit to the file (atomically) instead of printing a unified diff.
        #[arg(long)]
        apply: bool,
        /// With --apply: also write a read-only file (its mode is kept) or a hard-linked one (written
        /// in place, so every link sees the edit).
        #[arg(long, requires = "apply")]
        force: bool,
    },
    /// Print what an inline completion at FILE:LINE:COL would send, every part labelled with where
    /// it came from and its token count; sends nothing.
    Context {
        /// The place to complete, e.g. src/main.rs:12:9 (1-based; COL counts characters)
        location: String,
        /// Print JSON: the parts, the request as the format lays it out, the token total.
        #[arg(long)]
        json: bool,
        /// Also open FILE as an editor tab would be (repeatable).
        #[arg(long = "open", value_name = "FILE")]
        open: Vec<PathBuf>,
        /// Lay the prompt out in this format of prompts/ (qwen2.5-coder, starcoder2, infill, ...)
        /// instead of the chat format.
        #[arg(long, default_value = "instruct")]
        format: String,
    },
    /// Check the configuration, keys (set or not, never their values), providers and grammars.
    Doctor,
    /// Print local usage statistics: requests, cache hits, latency, tokens and estimated cost.
    Stats,
    /// Speak MCP over stdin/stdout, for Claude Code, Codex and other agents (tools: complete,
    /// explain, refactor, fix, document, tests, symbols, context).
    Mcp {
        /// The workspace the tools may read and write (default: the current directory).
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

/// `FILE:LINE:COL`, split from the right so paths may contain colons.
#[derive(Debug, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
}

pub fn parse_location(s: &str) -> anyhow::Result<Location> {
    let mut parts = s.rsplitn(3, ':');
    let (col, line, file) = (parts.next(), parts.next(), parts.next());
    let (Some(col), Some(line), Some(file)) = (col, line, file) else {
        bail!("expected FILE:LINE:COL (1-based), e.g. src/main.rs:12:9; got `{s}`");
    };
    let line: u32 = line.parse().with_context(|| format!("LINE in `{s}` is not a number"))?;
    let column: u32 = col.parse().with_context(|| format!("COL in `{s}` is not a number"))?;
    if line == 0 || column == 0 {
        bail!("LINE and COL are 1-based; `{s}` has a 0");
    }
    Ok(Location { file: PathBuf::from(file), line, column })
}

fn load_config(root: Option<&Path>) -> (Config, Vec<config::Problem>) {
    let discovered = config::discover(root, &|k| std::env::var(k).ok());
    let mut problems = discovered.problems;
    let config = config::build(&discovered.layers, &mut problems);
    (config, problems)
}

/// `switchboard complete FILE:LINE:COL`: the inline route (the configured model, else `local`), as
/// the server would answer the editor.
pub fn complete(location: &str, json: bool) -> anyhow::Result<()> {
    let loc = parse_location(location)?;
    let text = crate::files::read_text_lossy(&loc.file)?;
    let root = std::env::current_dir().ok();
    let (config, problems) = load_config(root.as_deref());
    for p in &problems {
        eprintln!("switchboard: config: {p}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let answer = runtime.block_on(async {
        let engine = Arc::new(Engine::new(config));
        if let Some(root) = &root {
            engine.set_workspace(root);
        }
        let path = std::fs::canonicalize(&loc.file).unwrap_or(loc.file.clone());
        let uri = format!("file://{}", path.display());
        let lang = Languages::global().by_path(&uri).map(|l| l.id.clone()).unwrap_or_else(|| "plaintext".into());
        engine.open(&uri, &lang, 0, &text);
        engine.wait_indexed();
        let pos = Position::new(loc.line - 1, loc.column - 1);
        let (offset, inside) = engine.offset(&uri, pos, Encoding::Utf32)?;
        if !inside {
            bail!("{location} is past the end of the line or the file");
        }
        let request = InlineRequest { uri: uri.clone(), offset, task: Task::Inline, invoked: true, selected: None };
        let outcome = engine.inline_completion(request).await?;
        let snapshot = engine.snapshot(&uri)?;
        Ok::<_, anyhow::Error>(match outcome {
            InlineOutcome::Answer(a) => Some((snapshot.doc.slice_bytes(a.range.start, offset), a)),
            _ => None,
        })
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_millis(50));
    match (answer, json) {
        (Some((_, a)), false) => println!("{}", a.text),
        (Some((replaces, a)), true) => println!(
            "{}",
            serde_json::json!({
                "text": a.text,
                "replaces": replaces,
                "provider": a.provider,
                "model": a.model,
                "latency_ms": a.latency.as_millis() as u64,
            })
        ),
        (None, _) => {
            eprintln!("switchboard: no completion at {location}");
            std::process::exit(1);
        }
    }
    Ok(())
}

/// The workspace a file belongs to: the nearest folder above it with a `.git`, else the current one.
pub fn workspace_root(file: &Path) -> PathBuf {
    let found = file.ancestors().skip(1).find(|d| d.join(".git").exists());
    found.map(Path::to_path_buf).or_else(|| std::env::current_dir().ok()).unwrap_or_else(|| PathBuf::from("."))
}

/// `switchboard context FILE:LINE:COL`: the inline prompt the server would send there, built by
/// the same engine (workspace, open tabs, budget), printed instead of sent.
pub fn context(location: &str, json: bool, open: &[PathBuf], format: &str) -> anyhow::Result<()> {
    let Some(format) = crate::context::format::by_name(format) else {
        let names: Vec<&str> = crate::context::format::all().iter().map(|f| f.name.as_str()).collect();
        bail!("no prompt format `{format}`; the formats are {}", names.join(", "));
    };
    let loc = parse_location(location)?;
    let text = crate::files::read_text_lossy(&loc.file)?;
    let path = std::fs::canonicalize(&loc.file).unwrap_or(loc.file.clone());
    let root = workspace_root(&path);
    let (config, problems) = load_config(Some(&root));
    for p in &problems {
        eprintln!("switchboard: config: {p}");
    }
    let engine = Engine::new(config);
    engine.set_workspace(&root);
    index_workspace(&engine, &root);
    let open_file = |file: &Path, text: &str| {
        let uri = crate::actions::edit::path_to_uri(file);
        let lang = Languages::global().by_path(&uri).map(|l| l.id.clone()).unwrap_or_else(|| "plaintext".into());
        engine.open(&uri, &lang, 0, text);
        uri
    };
    for tab in open {
        let tab_text = crate::files::read_text_lossy(tab)?;
        open_file(&std::fs::canonicalize(tab).unwrap_or(tab.clone()), &tab_text);
    }
    let uri = open_file(&path, &text);
    let (offset, inside) = engine.offset(&uri, Position::new(loc.line - 1, loc.column - 1), Encoding::Utf32)?;
    if !inside {
        bail!("{location} is past the end of the line or the file");
    }
    engine.wait_indexed();
    // A file the privacy rules withhold, or one Switchboard is off for, sends nothing at all.
    let (request, off) = engine.inline_request(&uri, offset)?;
    let withheld = engine.privacy_verdict(&uri).filter(|v| !v.allows_upstream());
    if withheld.is_some() || off {
        let why = match &withheld {
            Some(v) => format!("{}: {}", v.label().unwrap_or("withheld"), v.reason().unwrap_or("privacy rules")),
            None => "Switchboard is off for this file".to_owned(),
        };
        if json {
            println!("{}", serde_json::json!({ "location": location, "sent": false, "withheld": why, "parts": [] }));
        } else {
            println!("{location}: {why}. Nothing would be sent.");
        }
        return Ok(());
    }
    // What really goes: the request after redaction, and each redaction in it.
    let (sent, redactions) =
        crate::privacy::preview(&request, &crate::privacy::Settings::from_config(&engine.config()));
    let Some(parts) = sent.parts.as_deref() else { bail!("no inline context at {location}") };
    let report = crate::context::report::Report { location, system: &sent.system, parts, format };
    if json {
        let mut out = report.json();
        out["redactions"] = redactions
            .iter()
            .map(|r| {
                serde_json::json!({
                    "part": r.part, "rule": r.rule, "start": r.range.start, "end": r.range.end,
                    "placeholder": r.placeholder,
                })
            })
            .collect();
        println!("{out}");
    } else {
        print!("{}", report.text());
        if !redactions.is_empty() {
            println!("\n── redactions · {}", redactions.len());
        }
        for r in &redactions {
            println!("{:?} bytes {}..{}: {} → {}", r.part, r.range.start, r.range.end, r.rule, r.placeholder);
        }
    }
    Ok(())
}

/// Builds the workspace index the way the server does at `initialized`, and waits for the walk
/// (bounded: a huge tree shows what was indexed by then). The context benchmark builds it the same way.
pub fn index_workspace(engine: &Engine, root: &Path) {
    const WALK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
    if !engine.config().index.enabled {
        return;
    }
    engine.index_workspace(root);
    let started = std::time::Instant::now();
    while !engine.index_snapshot().stats.workspace_done {
        if started.elapsed() > WALK_WAIT {
            eprintln!("switchboard: the workspace index is still being built; the context shows what it has so far");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The doctor's report, shared by `switchboard doctor` and the `switchboard.doctor` command: the
/// static checks, then each configured provider's live check (reachable, key accepted, model listed)
/// and, in the server, the circuit breakers' state.
pub async fn doctor_report(config: &Config, upstream: &Upstream, root: Option<&Path>) -> String {
    doctor_check(config, upstream, root).await.0
}

/// The report and the routes that no provider can serve (`switchboard doctor` exits 1 for those).
async fn doctor_check(config: &Config, upstream: &Upstream, root: Option<&Path>) -> (String, Vec<String>) {
    let mut out = static_report(config, root);
    let _ = writeln!(out, "\nProviders");
    let mut names = upstream.registry.names();
    names.retain(|n| !upstream.registry.is_local(n));
    let checks = names.iter().filter_map(|n| upstream.registry.get(n)).map(|p| {
        let name = p.name().to_owned();
        async move {
            match tokio::time::timeout(std::time::Duration::from_secs(8), p.check()).await {
                Ok(report) => (name, report.ok, report.verdict),
                Err(_) => (name, false, "no answer within 8 s: check the network and the base URL".to_owned()),
            }
        }
    });
    let mut usable = std::collections::HashSet::new();
    for (name, ok, verdict) in futures_util::future::join_all(checks).await {
        let _ = writeln!(out, "  {} {name}: {verdict}", if ok { "ok  " } else { "FAIL" });
        if ok {
            usable.insert(name);
        }
    }
    let _ = writeln!(out, "  ok   local: built in (symbols and words of the open files)");
    let unusable = route_verdicts(config, &|p| usable.contains(p) || upstream.registry.is_local(p), &mut out);
    let statuses = upstream.router.breakers().statuses(tokio::time::Instant::now());
    let troubled: Vec<_> = statuses.iter().filter(|s| !matches!(s.availability, Availability::Ready)).collect();
    if !troubled.is_empty() {
        let _ = writeln!(out, "\nSet aside by the server");
        for s in troubled {
            let state = match &s.availability {
                Availability::CoolingDown { until } => format!(
                    "cooling down for {} s after {} failures in a row",
                    until.saturating_duration_since(tokio::time::Instant::now()).as_secs(),
                    s.consecutive_failures
                ),
                Availability::Disabled { reason } => format!("disabled: {reason}"),
                Availability::Ready => String::new(),
            };
            let _ = writeln!(out, "  {}: {state}", s.name);
        }
    }
    (out, unusable)
}

/// One line per route: which provider would serve it now. A route whose providers all failed and
/// that has no `local` fallback is unusable; one that falls back to `local` works, with less.
fn route_verdicts(config: &Config, usable: &dyn Fn(&str) -> bool, out: &mut String) -> Vec<String> {
    let _ = writeln!(out, "\nVerdict");
    let mut unusable = Vec::new();
    for (task, chain) in &config.routes {
        match chain.iter().find(|p| usable(p)) {
            Some(first) if first == &chain[0] => {
                let _ = writeln!(out, "  ok   {task}: served by {first}");
            }
            Some(first) => {
                let _ = writeln!(out, "  ok   {task}: served by {first} ({} failed the check above)", chain[0]);
            }
            None => {
                let _ = writeln!(
                    out,
                    "  FAIL {task}: no provider of [{}] can serve it; fix the provider above or add \"local\" to routes.{task}",
                    chain.join(", ")
                );
                unusable.push(task.clone());
            }
        }
    }
    unusable
}

fn static_report(config: &Config, root: Option<&Path>) -> String {
    let mut out = String::new();
    let discovered = config::discover(root, &|k| std::env::var(k).ok());
    let _ = writeln!(out, "Switchboard {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "\nConfiguration");
    match &discovered.user_file {
        Some(p) => {
            let _ = writeln!(out, "  user file:      {}", p.display());
        }
        None => {
            let _ = writeln!(out, "  user file:      none (optional: $XDG_CONFIG_HOME/switchboard/config.toml)");
        }
    }
    match &discovered.workspace_file {
        Some(p) => {
            let _ = writeln!(out, "  workspace file: {}", p.display());
        }
        None => {
            let _ = writeln!(out, "  workspace file: none");
        }
    }
    let mut problems = discovered.problems.clone();
    config::build(&discovered.layers, &mut problems);
    if problems.is_empty() {
        let _ = writeln!(out, "  ok: parsed without problems");
    }
    for p in &problems {
        let _ = writeln!(out, "  {}: {p}", if p.is_error { "error" } else { "warning" });
    }
    let _ = writeln!(out, "\nKeys (values are never shown)");
    let is_set = |var: &str| std::env::var(var).is_ok_and(|v| !v.trim().is_empty());
    for var in key_vars(config) {
        let state = if !is_set(&var) {
            "not set"
        } else if var == "ANTHROPIC_API_KEY" && is_set("ANTHROPIC_AUTH_TOKEN") {
            "set (not used: ANTHROPIC_AUTH_TOKEN is set and wins)"
        } else {
            "set"
        };
        let _ = writeln!(out, "  {var}: {state}");
    }
    let policy = crate::privacy::Policy::new(root, &config.privacy.exclude, &config.privacy.local_only);
    let settings = crate::privacy::Settings::from_config(config);
    out.push_str(&crate::privacy::doctor_section(
        &policy,
        &settings,
        &config.privacy.exclude,
        &config.privacy.local_only,
    ));
    let _ = writeln!(out, "\nRoutes");
    for (task, chain) in &config.routes {
        let _ = writeln!(out, "  {task:<9} {}", chain.join(" → "));
    }
    let langs = Languages::global();
    let _ = writeln!(out, "\nLanguages");
    let ok: Vec<&str> =
        langs.iter().filter(|l| l.has_grammar() && l.query_errors().is_empty()).map(|l| l.id.as_str()).collect();
    let _ = writeln!(out, "  {} loaded: {}", ok.len(), ok.join(", "));
    for e in langs.errors.iter().chain(langs.iter().flat_map(|l| l.query_errors())) {
        let _ = writeln!(out, "  error: {e}");
    }
    out
}

/// The env vars that hold keys for the configured providers (defaults plus any `api_key_env`).
fn key_vars(config: &Config) -> Vec<String> {
    let mut vars = vec!["OPENAI_API_KEY".to_owned(), "ANTHROPIC_API_KEY".to_owned(), "ANTHROPIC_AUTH_TOKEN".to_owned()];
    for settings in config.providers.values() {
        if let Some(v) = settings.get("api_key_env").and_then(|v| v.as_str())
            && !vars.iter().any(|x| x == v)
        {
            vars.push(v.to_owned());
        }
    }
    vars
}

/// `switchboard doctor`: exit 0 when every route has a provider that can serve it (a route that
/// falls back to `local` counts), 1 when some route has none.
pub fn doctor() -> anyhow::Result<std::process::ExitCode> {
    let root = std::env::current_dir().ok();
    let (config, _) = load_config(root.as_deref());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (report, unusable) = runtime.block_on(async {
        let (upstream, problems) = Upstream::build(&config);
        let (mut report, unusable) = doctor_check(&config, &upstream, root.as_deref()).await;
        for p in problems {
            let _ = writeln!(report, "  warning: {p}");
        }
        (report, unusable)
    });
    runtime.shutdown_timeout(std::time::Duration::from_millis(50));
    print!("{report}");
    if unusable.is_empty() {
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        println!("\n{} route(s) cannot be served: {}", unusable.len(), unusable.join(", "));
        Ok(std::process::ExitCode::from(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_split_from_the_right() {
        assert_eq!(parse_location("C:/x/a.rs:3:9").unwrap(), Location { file: "C:/x/a.rs".into(), line: 3, column: 9 });
        assert!(parse_location("a.rs:0:1").is_err());
        assert!(parse_location("a.rs:3").is_err());
        assert!(parse_location("a.rs:x:1").unwrap_err().to_string().contains("LINE"));
    }
}
