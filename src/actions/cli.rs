//! `switchboard action NAME FILE:LINE[:COL[-LINE:COL]] [--apply]`: the same actions from a shell.
//! The explanation streams to stdout; an edit prints as a unified diff, or with `--apply` is
//! written by [`files::write_file_safely`] (atomic, refused when the file changed meanwhile, is
//! read-only or hard-linked unless `--force`). A FILE that is a symbolic link is resolved: `--apply`
//! edits the file it points to only when that file is inside the workspace (the current folder).
//! A bare LINE, or LINE:COL, means the enclosing function or class there; a range's columns are
//! 1-based characters, both ends inclusive.

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
    files,
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

pub async fn run(name: &str, location: &str, apply: bool, force: bool) -> anyhow::Result<()> {
    let spot = parse_spot(location)?;
    let text = files::read_text(&spot.file)?;
    let root = std::env::current_dir().ok();
    if apply {
        check_link(&spot.file, root.as_deref())?;
    }
    let discovered = config::discover(root.as_deref(), &|k| std::env::var(k).ok());
    let mut problems = discovered.problems;
    let config = config::build(&discovered.layers, &mut problems);
    for p in &problems {
        eprintln!("switchboard: config: {p}");
    }
    let action = Action::find(name, &config)?;
    let engine = Engine::new(config);
    if let Some(root) = &root {
        engine.set_workspace(root);
    }
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
            _ => plan(&prepared, &text_answer, &files::read_text(&spot.file)?)?,
        };
        let file = &planned.file;
        let target = edit::uri_to_path(&file.uri).context("the edit's target is not a file")?;
        let expected = (!file.create).then_some(file.base.as_str());
        let how = files::write_file_safely(&target, expected, &file.result(), force)?;
        let how = match how {
            files::Written::Created => "created",
            files::Written::Replaced => "wrote",
            files::Written::InPlace => "wrote in place (hard-linked)",
        };
        eprintln!("switchboard: {how} {}", target.display());
    }
    Ok(())
}

/// Plans the edit against `current` (the file under test, as it is now).
pub(crate) fn plan(p: &run::Prepared, answer: &str, current: &str) -> anyhow::Result<Planned> {
    Ok(match &p.tests {
        None => edit::plan_replacement(p, answer, Current { text: current, version: p.version })?,
        Some(TestLocation::SameFile) => {
            edit::plan_tests(p, answer, TestFile { uri: p.uri.clone(), version: None, text: Some(current) })?
        }
        Some(TestLocation::File(path)) => {
            let existing = files::read_text_if_exists(path)?;
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

/// `--apply` through a symbolic link: only to a file inside the workspace, so a link planted in a
/// cloned repository cannot make Switchboard overwrite a file elsewhere.
fn check_link(named: &Path, root: Option<&Path>) -> anyhow::Result<()> {
    let is_link = std::fs::symlink_metadata(named).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return Ok(());
    }
    let real = std::fs::canonicalize(named).with_context(|| format!("cannot resolve {}", named.display()))?;
    let root = root.and_then(|r| std::fs::canonicalize(r).ok());
    match root {
        Some(root) if real.starts_with(&root) => Ok(()),
        _ => bail!(
            "{} is a symbolic link to {}, outside the workspace{}; --apply does not write through it. \
             Run the action on the real file, or without --apply to see the diff",
            named.display(),
            real.display(),
            root.map(|r| format!(" ({})", r.display())).unwrap_or_default()
        ),
    }
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

    #[cfg(unix)]
    #[test]
    fn apply_follows_links_only_inside_the_workspace() {
        let ws = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let (inside, outside) = (ws.path().join("real.rs"), elsewhere.path().join("other.rs"));
        std::fs::write(&inside, "x\n").unwrap();
        std::fs::write(&outside, "x\n").unwrap();
        let (in_link, out_link) = (ws.path().join("in.rs"), ws.path().join("out.rs"));
        std::os::unix::fs::symlink(&inside, &in_link).unwrap();
        std::os::unix::fs::symlink(&outside, &out_link).unwrap();
        assert!(check_link(&inside, Some(ws.path())).is_ok());
        assert!(check_link(&in_link, Some(ws.path())).is_ok());
        let err = check_link(&out_link, Some(ws.path())).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link to") && err.contains("outside the workspace"), "{err}");
    }
}
