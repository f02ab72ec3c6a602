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

/// Reads a file for the engine: text, or a clear error for what cannot be completed.
fn read_source(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.contains(&0) {
        bail!("{} looks like a binary file; Switchboard completes text files only", path.display());
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
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
    let text = read_source(&loc.file)?;
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
    let text = read_source(&loc.file)?;
    let path = std::fs::canonicalize(&loc.file).unwrap_or(loc.file.clone());
    let root = workspace_root(&path);
    let (config, problems) = load_config(Some(&root));
    for p in &problems {
        eprintln!("switchboard: config: {p}");
    }
    let engine = Engine::new(config);
    engine.set_workspace(&root);
    let open_file = |file: &Path, text: &str| {
        let uri = crate::actions::edit::path_to_uri(file);
        let lang = Languages::global().by_path(&uri).map(|l| l.id.clone()).unwrap_or_else(|| "plaintext".into());
        engine.open(&uri, &lang, 0, text);
        uri
    };
    for tab in open {
        let tab_text = read_source(tab)?;
        open_file(&std::fs::canonicalize(tab).unwrap_or(tab.clone()), &tab_text);
    }
    let uri = open_file(&path, &text);
    let (offset, inside) = engine.offset(&uri, Position::new(loc.line - 1, loc.column - 1), Encoding::Utf32)?;
    if !inside {
        bail!("{location} is past the end of the line or the file");
    }
    let request = engine.inline_request(&uri, offset)?;
    let Some(parts) = request.parts.as_deref() else { bail!("no inline context at {location}") };
    let report = crate::context::report::Report { location, system: &request.system, parts, format };
    if json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

/// The doctor's report, shared by `switchboard doctor` and the `switchboard.doctor` command: the
/// static checks, then each configured provider's live check (reachable, key accepted, model listed)
/// and, in the server, the circuit breakers' state.
pub async fn doctor_report(config: &Config, upstream: &Upstream, root: Option<&Path>) -> String {
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
    for (name, ok, verdict) in futures_util::future::join_all(checks).await {
        let _ = writeln!(out, "  {} {name}: {verdict}", if ok { "ok  " } else { "FAIL" });
    }
    let _ = writeln!(out, "  ok   local: built in (symbols and words of the open files)");
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
    out
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

pub fn doctor() -> anyhow::Result<()> {
    let root = std::env::current_dir().ok();
    let (config, _) = load_config(root.as_deref());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(async {
        let (upstream, problems) = Upstream::build(&config);
        let mut report = doctor_report(&config, &upstream, root.as_deref()).await;
        for p in problems {
            let _ = writeln!(report, "  warning: {p}");
        }
        report
    });
    runtime.shutdown_timeout(std::time::Duration::from_millis(50));
    print!("{report}");
    Ok(())
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
