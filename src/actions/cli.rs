//! `switchboard action NAME FILE:LINE[:COL[-LINE:COL]] [--apply]`: the same actions from a shell.
//! The explanation streams to stdout; an edit prints as a unified diff, or with `--apply` is
//! written atomically (temp file + rename). A bare LINE, or LINE:COL, means the enclosing function
//! or class there; a range's columns are 1-based characters, both ends inclusive.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};

use super::{
    Action, Output,
    edit::{self, Current, FileEdit, Planned, TestFile, TestLocation},
    run,
};
use crate::{
    config,
    documents::{Encoding, Position},
    engine::Engine,
    syntax::Languages,
};

/// Where the action runs, as typed: 1-based lines and character columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spot {
    pub file: PathBuf,
    pub start: (u32, Option<u32>),
    /// Inclusive end of a range.
    pub end: Option<(u32, u32)>,
}

pub fn parse_spot(s: &str) -> anyhow::Result<Spot> {
    let usage = || {
        format!("expected FILE:LINE[:COL[-LINE:COL]] (1-based), e.g. src/lib.rs:12 or src/lib.rs:12:5-14:2; got `{s}`")
    };
    let num = |t: &str| -> Option<u32> { t.parse().ok().filter(|n| *n > 0) };
    let mut parts: Vec<&str> = s.rsplitn(4, ':').collect();
    parts.reverse();
    // parts (in order): [..file pieces.., a, b, c] with at most 4 pieces.
    if let [file, line, col_endline, endcol] = parts.as_slice()
        && let Some((col, end_line)) = col_endline.split_once('-')
        && let (Some(l), Some(c), Some(el), Some(ec)) = (num(line), num(col), num(end_line), num(endcol))
    {
        if (el, ec) < (l, c) {
            bail!("the range in `{s}` ends before it starts");
        }
        return Ok(Spot { file: PathBuf::from(file), start: (l, Some(c)), end: Some((el, ec)) });
    }
    let mut parts: Vec<&str> = s.rsplitn(3, ':').collect();
    parts.reverse();
    if let [file, line, col] = parts.as_slice()
        && let (Some(l), Some(c)) = (num(line), num(col))
    {
        return Ok(Spot { file: PathBuf::from(file), start: (l, Some(c)), end: None });
    }
    if let Some((file, line)) = s.rsplit_once(':')
        && let Some(l) = num(line)
        && !file.is_empty()
    {
        return Ok(Spot { file: PathBuf::from(file), start: (l, None), end: None });
    }
    bail!(usage())
}

pub async fn run(name: &str, location: &str, apply: bool) -> anyhow::Result<()> {
    let spot = parse_spot(location)?;
    let text = read_text(&spot.file)?;
    let root = std::env::current_dir().ok();
    let discovered = config::discover(root.as_deref(), &|k| std::env::var(k).ok());
    let mut problems = discovered.problems;
    let config = config::build(&discovered.layers, &mut problems);
    for p in &problems {
        eprintln!("switchboard: config: {p}");
    }
    let action = Action::find(name, &config)?;
    let engine = Engine::new(config);
    let path = std::fs::canonicalize(&spot.file).unwrap_or_else(|_| spot.file.clone());
    let uri = edit::path_to_uri(&path);
    let lang = Languages::global().by_path(&uri).map(|l| l.id.clone()).unwrap_or_else(|| "plaintext".into());
    engine.open(&uri, &lang, 0, &text);
    engine.wait_indexed();
    let state = engine.snapshot(&uri)?;
    let doc = &state.doc;
    let (line, col) = spot.start;
    if line as usize > doc.rope.len_lines() {
        bail!("{location}: line {line} is past the end of the file ({} lines)", doc.rope.len_lines());
    }
    let start = match col {
        Some(c) => doc.offset_of(Position::new(line - 1, c - 1), Encoding::Utf32),
        // A bare line: its first non-blank character, so the enclosing item is found.
        None => {
            let line_text = doc.rope.line(line as usize - 1).to_string();
            let indent = line_text.chars().take_while(|c| c.is_whitespace() && *c != '\n').count() as u32;
            doc.offset_of(Position::new(line - 1, indent), Encoding::Utf32)
        }
    };
    let end = match spot.end {
        Some((l, c)) => doc.offset_of(Position::new(l - 1, c), Encoding::Utf32),
        None => start,
    };
    let prepared = run::prepare(action, &state, start..end, &[], &engine.index_snapshot(), root.as_deref())?;
    let (first, last) = prepared.lines();
    let title = prepared.action.title();
    eprintln!("switchboard: {title} on {}:{first}-{last}…", prepared.display_path);

    let mut answer = run::start(&engine.upstream(), prepared.request.clone()).await?;
    let record = answer.record();
    eprintln!("switchboard: answering: {} ({})", record.provider, record.model);
    if prepared.action.output == Output::Explanation {
        let mut out = std::io::stdout().lock();
        while let Some(piece) = answer.next().await {
            let piece = piece?;
            out.write_all(piece.as_bytes())?;
            out.flush()?;
        }
        if !answer.text().ends_with('\n') {
            writeln!(out)?;
        }
        return Ok(());
    }
    let (text_answer, record) = answer.finish().await?;
    if let Some(u) = record.usage {
        eprintln!(
            "switchboard: {} input tokens ({} cached), {} output tokens",
            u.input_tokens, u.cached_input_tokens, u.output_tokens
        );
    }
    let planned = plan(&prepared, &text_answer, &prepared.text)?;
    print_diff(&planned.file, root.as_deref());
    if planned.file.is_empty() {
        eprintln!("switchboard: no changes suggested");
        return Ok(());
    }
    if let Some((before, after)) = planned.new_errors {
        let msg = format!("the edit would add syntax errors ({before} → {after} ERROR nodes)");
        if apply {
            bail!("{msg}; not applied. Review the diff above and edit by hand, or run the action again");
        }
        eprintln!("switchboard: warning: {msg}");
    }
    if apply {
        // The file may have changed on disk while the model worked: plan against what is there now.
        let planned = match &prepared.tests {
            Some(TestLocation::File(_)) => planned,
            _ => plan(&prepared, &text_answer, &read_text(&spot.file)?)?,
        };
        write_atomically(&planned.file)?;
        let target = edit::uri_to_path(&planned.file.uri).unwrap_or_default();
        eprintln!("switchboard: wrote {}", target.display());
    }
    Ok(())
}

/// Plans the edit against `current` (the file under test, as it is now).
fn plan(p: &run::Prepared, answer: &str, current: &str) -> anyhow::Result<Planned> {
    Ok(match &p.tests {
        None => edit::plan_replacement(p, answer, Current { text: current, version: p.version })?,
        Some(TestLocation::SameFile) => {
            edit::plan_tests(p, answer, TestFile { uri: p.uri.clone(), version: None, text: Some(current) })?
        }
        Some(TestLocation::File(path)) => {
            let existing = match std::fs::read_to_string(path) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
            };
            let dest = TestFile { uri: edit::path_to_uri(path), version: None, text: existing.as_deref() };
            edit::plan_tests(p, answer, dest)?
        }
    })
}

fn print_diff(file: &FileEdit, root: Option<&Path>) {
    let path = edit::uri_to_path(&file.uri).unwrap_or_default();
    let shown = root.and_then(|r| path.strip_prefix(r).ok()).unwrap_or(&path);
    print!("{}", super::diff::unified_diff(&shown.display().to_string(), &file.base, &file.result()));
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.contains(&0) {
        bail!("{} looks like a binary file; code actions work on text files only", path.display());
    }
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))
}

/// Writes the edited file next to the original and renames it over, so a crash never leaves
/// half a file; the original's permissions are kept.
fn write_atomically(file: &FileEdit) -> anyhow::Result<()> {
    let path = edit::uri_to_path(&file.uri).context("the edit's target is not a file")?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.switchboard-{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(file.result().as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(&path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("cannot write {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spots() {
        let spot = |s: &str| parse_spot(s).map_err(|e| e.to_string());
        assert_eq!(spot("src/a.rs:12").unwrap(), Spot { file: "src/a.rs".into(), start: (12, None), end: None });
        assert_eq!(spot("C:/a.rs:12:5").unwrap(), Spot { file: "C:/a.rs".into(), start: (12, Some(5)), end: None });
        assert_eq!(
            spot("a:b.rs:3:1-5:2").unwrap(),
            Spot { file: "a:b.rs".into(), start: (3, Some(1)), end: Some((5, 2)) }
        );
        assert!(spot("a.rs:5:2-3:1").unwrap_err().contains("ends before it starts"));
        assert!(spot("a.rs").unwrap_err().contains("FILE:LINE"));
        assert!(spot("a.rs:0").is_err());
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a b.rs");
        std::fs::write(&path, "old\n").unwrap();
        let file = FileEdit {
            uri: edit::path_to_uri(&path),
            version: None,
            create: false,
            base: "old\n".into(),
            edits: vec![super::super::diff::TextEdit { start: 0, end: 3, text: "new".into() }],
        };
        write_atomically(&file).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left");
    }
}
