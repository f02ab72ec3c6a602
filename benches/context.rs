//! Context benchmark (issue 11): does the inline prompt hold the definition the code at the cursor
//! needs? Masked call sites from the real repositories under tests/context-bench/corpus (see its
//! README): each file cut right after `callee(`, the callee defined in another file of the same
//! repository. Three scenarios (only the current file open with the workspace on disk; the definer
//! open among tabs; other tabs open, not the definer) against a baseline of plain prefix/suffix
//! windows. Metric: share of cases whose prompt holds the callee's whole signature, and the
//! median prompt tokens. Then the typing-path cost of gathering the context (criterion, plus p50
//! and p99 over single samples).
//!
//! Run with `cargo bench --bench context` (`-- quality` or `-- latency` runs one part). Prints a
//! table and writes the figures to BENCHMARKS.md between the context-bench markers.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use criterion::Criterion;
use ropey::Rope;
use streaming_iterator::StreamingIterator;
use switchboard::{
    actions::edit::path_to_uri,
    context::{self, report::Report},
    documents::{Change, Encoding, Position},
    engine::Engine,
    index::{FileKey, FileSymbols, SymbolKind},
    syntax::{LanguageInfo, Languages, SyntaxTree},
};
use tree_sitter::{Query, QueryCursor};

const CORPUS: &str = "tests/context-bench/corpus";
const CALLS: &str = "tests/context-bench/calls";
/// Cases per language at most, spread evenly over the candidates.
const MAX_CASES: usize = 80;
/// Tabs open besides the current file in the tab scenarios.
const TABS: usize = 4;
const SECTION_START: &str = "<!-- context-bench:start -->";
const SECTION_END: &str = "<!-- context-bench:end -->";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Scenario {
    Disk,
    DefinerOpen,
    OtherTabs,
}

impl Scenario {
    const ALL: [Scenario; 3] = [Scenario::Disk, Scenario::DefinerOpen, Scenario::OtherTabs];
    fn label(self) -> &'static str {
        match self {
            Scenario::Disk => "only the current file open, workspace on disk",
            Scenario::DefinerOpen => "definer open among 4 tabs",
            Scenario::OtherTabs => "4 other tabs open, not the definer",
        }
    }
    fn goal(self) -> f64 {
        match self {
            Scenario::DefinerOpen => 0.95,
            _ => 0.90,
        }
    }
}

/// One masked call site.
struct Case {
    repo: PathBuf,
    file: PathBuf,
    /// The file's text up to and including the call's `(`.
    text: String,
    callee: String,
    definer: PathBuf,
    /// The callee's whole signature, whitespace-normalized.
    signature: String,
}

fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn source_files(dir: &Path, lang: &LanguageInfo, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            source_files(&p, lang, out);
        } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| lang.extensions.iter().any(|x| x == e)) {
            out.push(p);
        }
    }
}

/// The cases of one repository.
fn cases(repo: &Path, lang: &'static LanguageInfo) -> Vec<Case> {
    let mut files = Vec::new();
    source_files(repo, lang, &mut files);
    let grammar_query =
        std::fs::read_to_string(Path::new(CALLS).join(format!("{}.scm", lang.id))).expect("calls query");
    let parsed: Vec<(PathBuf, String, Rope, SyntaxTree)> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            let rope = Rope::from_str(&text);
            let tree = SyntaxTree::parse(lang, &rope)?;
            Some((f.clone(), text, rope, tree))
        })
        .collect();
    // Functions and methods by name, with the file and signature of each definition. Signatures
    // come from the one extractor the product has (the index's): everything before the body.
    let mut defs: HashMap<String, Vec<(PathBuf, String)>> = HashMap::new();
    for (f, _, rope, tree) in &parsed {
        let symbols = FileSymbols::build(FileKey::from_path(f), None, Some(lang), rope, Some(tree), false);
        for d in symbols.definitions {
            if matches!(d.kind, SymbolKind::Function | SymbolKind::Method) {
                defs.entry(d.name.clone()).or_default().push((f.clone(), d.signature.clone()));
            }
        }
    }
    let mut out = Vec::new();
    for (f, text, rope, tree) in &parsed {
        let query = Query::new(&tree.tree().language(), &grammar_query).expect("calls query compiles");
        let names = query.capture_names();
        let local: std::collections::HashSet<String> =
            tree.definitions(rope, None).into_iter().map(|d| d.name).collect();
        let mut cursor = QueryCursor::new();
        let mut matches = cursor.matches(&query, tree.root(), text.as_bytes());
        while let Some(m) = matches.next() {
            let (mut callee, mut args) = (None, None);
            for c in m.captures() {
                match names[c.index as usize] {
                    "callee" => callee = Some(c.node),
                    "args" => args = Some(c.node),
                    _ => {}
                }
            }
            let (Some(callee), Some(args)) = (callee, args) else { continue };
            let name = &text[callee.byte_range()];
            let Some(found) = defs.get(name) else { continue };
            if found.len() != 1 || found[0].0 == *f || local.contains(name) {
                continue;
            }
            out.push(Case {
                repo: repo.to_path_buf(),
                file: f.clone(),
                text: text[..args.start_byte() + 1].to_owned(),
                callee: name.to_owned(),
                definer: found[0].0.clone(),
                signature: normalize(&found[0].1),
            });
        }
    }
    out
}

/// Every `step`-th case so that at most `max` remain, from all files alike.
fn spread(cases: Vec<Case>, max: usize) -> Vec<Case> {
    let step = cases.len().div_ceil(max).max(1);
    cases.into_iter().step_by(step).collect()
}

/// The tabs of a scenario: other files of the repository in a fixed order, with or without the definer.
fn tabs(case: &Case, all: &[PathBuf], scenario: Scenario) -> Vec<PathBuf> {
    let others = all.iter().filter(|f| **f != case.file && **f != case.definer);
    // Start somewhere that depends on the case, so the tabs differ from case to case.
    let skip = case.text.len() % all.len().max(1);
    let mut picked: Vec<PathBuf> = others.cycle().skip(skip).take(TABS).cloned().collect();
    picked.dedup();
    match scenario {
        Scenario::Disk => Vec::new(),
        Scenario::DefinerOpen => {
            picked.truncate(TABS - 1);
            picked.insert(case.text.len() % TABS.min(picked.len() + 1), case.definer.clone());
            picked
        }
        Scenario::OtherTabs => picked,
    }
}

#[derive(Default)]
struct Tally {
    cases: usize,
    held: usize,
    baseline_held: usize,
    tokens: Vec<usize>,
    baseline_tokens: Vec<usize>,
}

fn median(v: &mut [usize]) -> usize {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn open(engine: &Engine, path: &Path, text: &str) -> String {
    let uri = path_to_uri(path);
    let lang = Languages::global().by_path(&uri).map(|l| l.id.clone()).unwrap_or_default();
    engine.open(&uri, &lang, 1, text);
    uri
}

/// Runs every case of every language and scenario; returns the report section.
fn quality() -> String {
    let root = std::env::current_dir().expect("cwd");
    let mut tallies: BTreeMap<(String, Scenario), Tally> = BTreeMap::new();
    let mut misses: Vec<String> = Vec::new();
    let mut langs: Vec<PathBuf> = std::fs::read_dir(CORPUS).expect("corpus").flatten().map(|e| e.path()).collect();
    langs.sort();
    for lang_dir in langs {
        let lang_id = lang_dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let Some(lang) = Languages::global().by_id(&lang_id) else { continue };
        let mut repos: Vec<PathBuf> =
            std::fs::read_dir(&lang_dir).expect("repos").flatten().map(|e| e.path()).collect();
        repos.sort();
        let mut all_cases = Vec::new();
        for repo in &repos {
            all_cases.extend(cases(&root.join(repo), lang));
        }
        let all_cases = spread(all_cases, MAX_CASES);
        for scenario in Scenario::ALL {
            let tally = tallies.entry((lang_id.clone(), scenario)).or_default();
            for case in &all_cases {
                let mut files = Vec::new();
                source_files(&case.repo, lang, &mut files);
                let engine = Engine::default();
                engine.set_workspace(&case.repo);
                switchboard::cli::index_workspace(&engine, &case.repo);
                let tab_files = tabs(case, &files, scenario);
                for t in &tab_files {
                    open(&engine, t, &std::fs::read_to_string(t).unwrap_or_default());
                }
                let uri = open(&engine, &case.file, &case.text);
                engine.wait_indexed();
                let (request, _) = engine.inline_request(&uri, case.text.len()).expect("request");
                let parts = request.parts.as_deref().expect("inline parts");
                let report = Report {
                    location: "",
                    system: &request.system,
                    parts,
                    format: context::format::by_name("instruct").unwrap(),
                };
                let prompt = format!("{}\n{}", request.system, request.context) + &request.prefix + &request.suffix;
                tally.cases += 1;
                if normalize(&prompt).contains(&case.signature) {
                    tally.held += 1;
                } else if misses.len() < 12 {
                    misses.push(format!(
                        "{lang_id} / {:?}: {} in {} (defined in {})",
                        scenario,
                        case.callee,
                        case.file.strip_prefix(&root).unwrap_or(&case.file).display(),
                        case.definer.file_name().unwrap_or_default().to_string_lossy()
                    ));
                }
                tally.tokens.push(report.total_tokens());
                // Baseline: the same budget spent on the code window alone.
                let budget = engine.config().completion.max_prompt_tokens * context::BYTES_PER_TOKEN;
                let start = case.text.len().saturating_sub(budget);
                let start = (start..case.text.len()).find(|i| case.text.is_char_boundary(*i)).unwrap_or(0);
                let window = &case.text[start..];
                if normalize(window).contains(&case.signature) {
                    tally.baseline_held += 1;
                }
                tally.baseline_tokens.push(context::tokens(&request.system) + context::tokens(window));
            }
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| language | scenario | cases | prompt holds the signature | goal | median prompt tokens | baseline (prefix/suffix only) | baseline tokens |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let mut totals: BTreeMap<Scenario, Tally> = BTreeMap::new();
    for ((lang, scenario), t) in &mut tallies {
        let share = t.held as f64 / t.cases.max(1) as f64;
        let base = t.baseline_held as f64 / t.cases.max(1) as f64;
        let _ = writeln!(
            out,
            "| {lang} | {} | {} | {share:.2} | {:.2} | {} | {base:.2} | {} |",
            scenario.label(),
            t.cases,
            scenario.goal(),
            median(&mut t.tokens),
            median(&mut t.baseline_tokens)
        );
        let total = totals.entry(*scenario).or_default();
        total.cases += t.cases;
        total.held += t.held;
        total.baseline_held += t.baseline_held;
        total.tokens.extend(&t.tokens);
        total.baseline_tokens.extend(&t.baseline_tokens);
    }
    for (scenario, t) in &mut totals {
        let _ = writeln!(
            out,
            "| **all** | {} | {} | **{:.2}** | {:.2} | {} | {:.2} | {} |",
            scenario.label(),
            t.cases,
            t.held as f64 / t.cases.max(1) as f64,
            scenario.goal(),
            median(&mut t.tokens),
            t.baseline_held as f64 / t.cases.max(1) as f64,
            median(&mut t.baseline_tokens)
        );
    }
    if !misses.is_empty() {
        let _ = writeln!(out, "\nFirst misses:\n");
        for m in misses {
            let _ = writeln!(out, "- {m}");
        }
    }
    out
}

/// The typing path: a keystroke, then the prompt for the next completion, in a Rust file with 20
/// other open files (4 of them the definers the code uses).
fn latency(c: &mut Criterion) -> String {
    let root = std::env::current_dir().expect("cwd");
    let repo = root.join(CORPUS).join("rust/semver");
    let lang = Languages::global().by_id("rust").expect("rust");
    let mut files = Vec::new();
    source_files(&repo, lang, &mut files);
    let engine = Engine::default();
    engine.set_workspace(&repo);
    for (n, f) in files.iter().cycle().take(20).enumerate() {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        // The same files again under other names: 20 tabs of real code.
        let path = f.with_file_name(format!("tab{n}_{}", f.file_name().unwrap_or_default().to_string_lossy()));
        open(&engine, &path, &text);
    }
    let current = repo.join("src/lib.rs");
    let text = std::fs::read_to_string(&current).expect("lib.rs");
    let line = text.lines().position(|l| l.contains("pub fn parse(")).unwrap_or(10) as u32 + 1;
    let uri = open(&engine, &current, &text);
    let mut version = 1;
    let mut typed = false;
    let mut keystroke = move |engine: &Engine| {
        version += 1;
        let at = Position::new(line, 4);
        let change = if typed {
            Change { range: Some((at, Position::new(line, 5))), text: String::new() }
        } else {
            Change { range: Some((at, at)), text: "x".into() }
        };
        typed = !typed;
        engine.change(&uri, version, &[change], Encoding::Utf16).expect("change");
    };
    let offset = text.lines().take(line as usize).map(|l| l.len() + 1).sum::<usize>() + 4;
    let uri2 = path_to_uri(&current);
    c.bench_function("keystroke + inline prompt context (20 open tabs)", |b| {
        b.iter(|| {
            keystroke(&engine);
            engine.inline_request(&uri2, offset).expect("request").0
        })
    });
    let mut samples = Vec::new();
    for _ in 0..2000 {
        keystroke(&engine);
        let t = Instant::now();
        let _ = engine.inline_request(&uri2, offset);
        samples.push(t.elapsed());
    }
    samples.sort();
    let pct = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "Gathering on the typing path (a keystroke, then the whole inline request: imports, resolution, \
         neighbour snippets of 20 open tabs, recent edits, code window), 2,000 samples: \
         **p50 {:.2} ms, p99 {:.2} ms** (goal p50 < 2 ms, p99 < 10 ms).\n",
        ms(pct(50)),
        ms(pct(99))
    )
}

fn write_section(body: &str) {
    let path = Path::new("BENCHMARKS.md");
    let Ok(doc) = std::fs::read_to_string(path) else { return };
    let (Some(s), Some(e)) = (doc.find(SECTION_START), doc.find(SECTION_END)) else {
        eprintln!("BENCHMARKS.md has no context-bench markers; not updated");
        return;
    };
    let updated = format!("{}{SECTION_START}\n{body}{}", &doc[..s], &doc[e..]);
    if let Err(e) = std::fs::write(path, updated) {
        eprintln!("cannot update BENCHMARKS.md: {e}");
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not, and must not spend
    // minutes here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if !args.is_empty() && !args.iter().any(|a| ["context", "quality", "latency"].contains(&a.as_str())) {
        return; // a filter for another bench
    }
    let want = |part: &str| !args.iter().any(|a| a == "quality" || a == "latency") || args.iter().any(|a| a == part);
    let mut body = String::new();
    if want("quality") {
        let t = Instant::now();
        let table = quality();
        println!("{table}");
        let _ = writeln!(body, "{table}\n(quality run: {:.1} s)\n", t.elapsed().as_secs_f64());
    }
    if want("latency") {
        let mut c = Criterion::default().configure_from_args();
        let line = latency(&mut c);
        c.final_summary();
        println!("{line}");
        body.push_str(&line);
    }
    if want("quality") && want("latency") {
        write_section(&body);
    }
}
