//! Exclusion: which files never go upstream (built-in secret patterns, `.switchboardignore` files,
//! `privacy.exclude`) and which are answered by `local` only (`privacy.local_only`).
//!
//! Each source is its own gitignore matcher, and a file is excluded when any of them says so: a
//! negation (`!pattern`) in a workspace's `.switchboardignore` can only re-include what another
//! `.switchboardignore` excluded, never a built-in or configured pattern.

use std::{
    collections::HashMap,
    path::{Component, Path, PathBuf},
    sync::{Arc, Mutex},
    time::SystemTime,
};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// The workspace file with extra exclusions, in gitignore syntax; nested ones are honoured.
pub const IGNORE_FILE: &str = ".switchboardignore";

/// Files that hold secrets by their nature, matched anywhere (case-insensitively).
pub const BUILTIN: &[&str] = &[
    // environment files
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    // keys and certificates with their private part
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.p8",
    "*.jks",
    "*.keystore",
    "*.ppk",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    // credentials of tools
    ".npmrc",
    ".pypirc",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".htpasswd",
    ".git-credentials",
    ".vault-token",
    "**/.docker/config.json",
    "credentials*",
    "secrets.*",
    "*.kdbx",
    // infrastructure state that embeds secrets
    "*.tfstate",
    "*.tfstate.*",
    "*.tfvars",
    // whole folders
    ".aws/",
    ".ssh/",
    ".gnupg/",
    ".kube/",
    ".git/",
];

/// What the privacy rules say about one file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Verdict {
    #[default]
    Allowed,
    /// Never goes upstream; `local` still answers completions.
    Excluded(String),
    /// Answered by `local` only (a confidential folder).
    LocalOnly(String),
}

impl Verdict {
    pub fn allows_upstream(&self) -> bool {
        matches!(self, Verdict::Allowed)
    }

    /// The word the status bar and the doctor show.
    pub fn label(&self) -> Option<&'static str> {
        match self {
            Verdict::Allowed => None,
            Verdict::Excluded(_) => Some("excluded"),
            Verdict::LocalOnly(_) => Some("local-only"),
        }
    }

    /// Why, in one sentence for the user.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Allowed => None,
            Verdict::Excluded(r) | Verdict::LocalOnly(r) => Some(r),
        }
    }
}

/// One parsed `.switchboardignore` and the modification time it was read at.
struct IgnoreFile {
    mtime: Option<SystemTime>,
    matcher: Option<Arc<Gitignore>>,
}

/// The exclusion rules for one workspace and configuration.
pub struct Policy {
    root: Option<PathBuf>,
    builtin: Gitignore,
    exclude: Gitignore,
    local_only: Gitignore,
    ignore_files: Mutex<HashMap<PathBuf, IgnoreFile>>,
    /// Patterns that were refused (a negation, a bad glob), for the user.
    pub problems: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::new(None, &[], &[])
    }
}

impl Policy {
    /// `exclude` and `local_only` are the configuration's patterns (gitignore syntax, relative to
    /// the workspace root).
    pub fn new(root: Option<&Path>, exclude: &[String], local_only: &[String]) -> Policy {
        let mut problems = Vec::new();
        let builtin = matcher(BUILTIN.iter().copied(), "built-in", &mut problems);
        let exclude = matcher(exclude.iter().map(String::as_str), "privacy.exclude", &mut problems);
        let local_only = matcher(local_only.iter().map(String::as_str), "privacy.local_only", &mut problems);
        Policy {
            root: root.map(Path::to_path_buf),
            builtin,
            exclude,
            local_only,
            ignore_files: Mutex::new(HashMap::new()),
            problems,
        }
    }

    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The verdict for a file, by its path and, when it is a symlink, by what it points to.
    pub fn verdict(&self, path: &Path) -> Verdict {
        let first = self.verdict_of(path);
        if !first.allows_upstream() {
            return first;
        }
        match std::fs::canonicalize(path) {
            Ok(real) if real != path => self.verdict_of(&real),
            _ => first,
        }
    }

    pub fn is_excluded(&self, path: &Path) -> bool {
        matches!(self.verdict(path), Verdict::Excluded(_))
    }

    fn verdict_of(&self, path: &Path) -> Verdict {
        let rel = self.relative(path);
        let shown = rel.display().to_string();
        if let Match::Ignore(g) = self.builtin.matched_path_or_any_parents(&rel, false) {
            return Verdict::Excluded(format!(
                "{shown} matches the built-in secret pattern `{}`: its content never leaves this machine",
                g.original()
            ));
        }
        if let Match::Ignore(g) = self.exclude.matched_path_or_any_parents(&rel, false) {
            return Verdict::Excluded(format!(
                "{shown} matches `{}` in privacy.exclude: its content never leaves this machine",
                g.original()
            ));
        }
        if let Some(why) = self.ignored_by_files(path) {
            return Verdict::Excluded(format!("{shown} is excluded by {why}: its content never leaves this machine"));
        }
        if let Match::Ignore(g) = self.local_only.matched_path_or_any_parents(&rel, false) {
            return Verdict::LocalOnly(format!(
                "{shown} matches `{}` in privacy.local_only: only the local provider answers here",
                g.original()
            ));
        }
        Verdict::Allowed
    }

    /// The path the patterns see: relative to the root when inside it, else the absolute path
    /// without its root (so unanchored patterns such as `.ssh/` still match `~/.ssh/id_rsa`).
    fn relative(&self, path: &Path) -> PathBuf {
        let inside = self.root.as_deref().and_then(|r| path.strip_prefix(r).ok());
        let p = inside.unwrap_or(path);
        p.components().filter(|c| matches!(c, Component::Normal(_))).collect()
    }

    /// `.switchboardignore` files from the file's folder up to the workspace root: the deepest
    /// one that has a say decides (as git does), so a nested `!pattern` re-includes.
    fn ignored_by_files(&self, path: &Path) -> Option<String> {
        let root = self.root.as_deref()?;
        let rel = path.strip_prefix(root).ok()?;
        let mut dirs = vec![root.to_path_buf()];
        let mut dir = root.to_path_buf();
        let parts: Vec<_> = rel.components().collect();
        for c in parts.iter().take(parts.len().saturating_sub(1)) {
            dir.push(c);
            dirs.push(dir.clone());
        }
        for dir in dirs.iter().rev() {
            let Some(m) = self.ignore_file(dir) else { continue };
            match m.matched_path_or_any_parents(path.strip_prefix(dir).unwrap_or(path), false) {
                Match::Ignore(g) => {
                    let file = g.from().map(|f| f.strip_prefix(root).unwrap_or(f).display().to_string());
                    return Some(format!("`{}` in {}", g.original(), file.unwrap_or_else(|| IGNORE_FILE.into())));
                }
                Match::Whitelist(_) => return None,
                Match::None => {}
            }
        }
        None
    }

    /// The parsed `.switchboardignore` of `dir`, re-read when it changed on disk.
    fn ignore_file(&self, dir: &Path) -> Option<Arc<Gitignore>> {
        let path = dir.join(IGNORE_FILE);
        let mtime = std::fs::metadata(&path).ok().filter(|m| m.is_file()).and_then(|m| m.modified().ok());
        let mut files = self.ignore_files.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = files.get(dir)
            && f.mtime == mtime
        {
            return f.matcher.clone();
        }
        let matcher = mtime.and_then(|_| {
            let mut b = GitignoreBuilder::new(dir);
            b.case_insensitive(true).ok()?;
            // A bad line is skipped by the builder; the rest of the file still applies.
            let _ = b.add(&path);
            b.build().ok().map(Arc::new)
        });
        files.insert(dir.to_path_buf(), IgnoreFile { mtime, matcher: matcher.clone() });
        matcher
    }

    /// The `.switchboardignore` files that apply somewhere under the root, for the doctor: the
    /// root's own and those of its direct sub-folders (a deep walk is the index's job).
    pub fn ignore_files_found(&self) -> Vec<PathBuf> {
        let Some(root) = &self.root else { return Vec::new() };
        let mut out = Vec::new();
        if root.join(IGNORE_FILE).is_file() {
            out.push(PathBuf::from(IGNORE_FILE));
        }
        if let Ok(entries) = std::fs::read_dir(root) {
            let mut subs: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join(IGNORE_FILE).is_file())
                .filter_map(|p| p.strip_prefix(root).ok().map(|r| r.join(IGNORE_FILE)))
                .collect();
            subs.sort();
            out.extend(subs);
        }
        out
    }
}

/// A case-insensitive gitignore matcher over `patterns` (root-relative). Negations are refused:
/// a list of exclusions is a union, and nothing in it may take an exclusion away.
fn matcher<'a>(patterns: impl Iterator<Item = &'a str>, what: &str, problems: &mut Vec<String>) -> Gitignore {
    let mut b = GitignoreBuilder::new("");
    let _ = b.case_insensitive(true);
    for p in patterns {
        let p = p.trim();
        if p.is_empty() || p.starts_with('#') {
            continue;
        }
        if p.starts_with('!') {
            problems.push(format!(
                "{what}: `{p}` ignored: a negation cannot take an exclusion away (edit your own list instead)"
            ));
            continue;
        }
        if let Err(e) = b.add_line(None, p) {
            problems.push(format!("{what}: `{p}` ignored: {e}"));
        }
    }
    b.build().unwrap_or_else(|e| {
        problems.push(format!("{what}: {e}"));
        Gitignore::empty()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(policy: &Policy, path: &str) -> bool {
        !policy.verdict(Path::new(path)).allows_upstream()
    }

    #[test]
    fn built_in_patterns_match_anywhere() {
        let p = Policy::new(Some(Path::new("/ws")), &[], &[]);
        for path in [
            "/ws/.env",
            "/ws/app/.env.production",
            "/ws/deploy/prod.env",
            "/ws/certs/server.pem",
            "/ws/certs/Server.KEY",
            "/ws/id_rsa",
            "/ws/keys/id_ed25519.pub",
            "/ws/.npmrc",
            "/ws/config/credentials.json",
            "/ws/config/secrets.yaml",
            "/ws/vault.kdbx",
            "/ws/.aws/config",
            "/ws/.git/config",
            "/home/u/.ssh/config",
            "/home/u/.aws/credentials",
            "/ws/infra/terraform.tfstate",
            "/ws/.docker/config.json",
        ] {
            assert!(excluded(&p, path), "{path} should be excluded");
        }
        for path in ["/ws/src/main.rs", "/ws/environment.rs", "/ws/src/keyboard.rs", "/ws/docs/secret-sauce.md"] {
            assert!(!excluded(&p, path), "{path} should be allowed");
        }
        let v = p.verdict(Path::new("/ws/app/.env.local"));
        assert_eq!(v.label(), Some("excluded"));
        assert!(v.reason().unwrap().contains("app/.env.local matches the built-in secret pattern `.env.*`"));
    }

    #[test]
    fn config_patterns_are_root_relative_and_negations_are_refused() {
        let exclude = vec!["confidential/**".to_owned(), "*.secret".to_owned(), "!.env".to_owned()];
        let local = vec!["internal/".to_owned()];
        let p = Policy::new(Some(Path::new("/ws")), &exclude, &local);
        assert!(excluded(&p, "/ws/confidential/plan.md"));
        assert!(excluded(&p, "/ws/a/b.secret"));
        assert!(!excluded(&p, "/ws/src/confidential.rs"));
        assert!(excluded(&p, "/ws/.env"), "a negation never takes a built-in away");
        assert_eq!(p.problems.len(), 1);
        assert!(p.problems[0].contains("`!.env` ignored"));
        let v = p.verdict(Path::new("/ws/internal/pricing.py"));
        assert_eq!(v.label(), Some("local-only"));
        assert!(!v.allows_upstream());
    }

    #[test]
    fn nested_ignore_files_and_their_negations() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join(IGNORE_FILE), "private/\n*.sql\n# comment\n").unwrap();
        std::fs::create_dir_all(root.join("db/seed")).unwrap();
        std::fs::write(root.join("db").join(IGNORE_FILE), "!schema.sql\nlocal-notes.txt\n!.env\n").unwrap();
        let p = Policy::new(Some(root), &[], &[]);
        let at = |rel: &str| !p.verdict(&root.join(rel)).allows_upstream();
        assert!(at("private/notes.md"));
        assert!(at("dump.sql"));
        assert!(at("db/seed/data.sql"));
        assert!(!at("db/schema.sql"), "a nested negation re-includes");
        assert!(at("db/local-notes.txt"));
        assert!(at("db/.env"), "a workspace negation cannot re-include a built-in");
        assert!(!at("src/main.rs"));
        let v = p.verdict(&root.join("db/local-notes.txt"));
        assert!(v.reason().unwrap().contains("`local-notes.txt` in db/.switchboardignore"), "{v:?}");

        // Edited on disk: the new content applies.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(root.join(IGNORE_FILE), "src/\n").unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        let f = std::fs::File::options().write(true).open(root.join(IGNORE_FILE)).unwrap();
        f.set_modified(later).unwrap();
        assert!(at("src/main.rs"));
        assert!(!at("dump.sql"));
        assert_eq!(p.ignore_files_found(), vec![PathBuf::from(IGNORE_FILE), PathBuf::from("db").join(IGNORE_FILE)]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_a_secret_is_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "A=1\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join(".env"), dir.path().join("settings.txt")).unwrap();
        let p = Policy::new(Some(dir.path()), &[], &[]);
        assert!(p.is_excluded(&dir.path().join("settings.txt")));
    }
}
