//! The workspace an MCP client may touch: one folder, and only what lies inside it once `..`,
//! symlinks and absolute paths are resolved. Agents pass paths the model wrote; none of them may
//! read or write outside the folder the user started `switchboard mcp` in.

use std::path::{Component, Path, PathBuf};

use super::ToolError;

#[derive(Debug, Clone)]
pub struct Workspace {
    /// Canonical (symlinks resolved).
    root: PathBuf,
}

impl Workspace {
    pub fn new(root: &Path) -> std::io::Result<Workspace> {
        let root = std::fs::canonicalize(root)?;
        if !root.is_dir() {
            return Err(std::io::Error::new(std::io::ErrorKind::NotADirectory, "the workspace is not a folder"));
        }
        Ok(Workspace { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// An existing file inside the workspace, as a canonical path. `path` is relative to the
    /// workspace root, or absolute.
    pub fn existing_file(&self, path: &str) -> Result<PathBuf, ToolError> {
        let joined = self.join(path)?;
        let real = match std::fs::canonicalize(&joined) {
            Ok(p) => p,
            Err(_) if !self.lexically_inside(&joined) => return Err(self.outside(path)),
            Err(e) => return Err(ToolError::NotFound { path: path.to_owned(), reason: e.to_string() }),
        };
        if !real.starts_with(&self.root) {
            return Err(self.outside(path));
        }
        if !real.is_file() {
            return Err(ToolError::NotFound { path: path.to_owned(), reason: "not a regular file".into() });
        }
        Ok(real)
    }

    /// Checks that writing `path` (which may not exist yet, e.g. a new test file) stays inside the
    /// workspace: the file if it exists, else its nearest existing folder, resolved.
    pub fn check_writable(&self, path: &Path) -> Result<(), ToolError> {
        let shown = path.display().to_string();
        let mut probe = path.to_path_buf();
        let real = loop {
            match std::fs::canonicalize(&probe) {
                Ok(p) => break p,
                Err(_) => match probe.parent() {
                    Some(parent) if parent != probe => probe = parent.to_path_buf(),
                    _ => return Err(self.outside(&shown)),
                },
            }
        };
        // Whatever is still to be created under `real` must not climb back out.
        let rest = path.strip_prefix(&probe).unwrap_or(Path::new(""));
        if !real.starts_with(&self.root) || rest.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(self.outside(&shown));
        }
        Ok(())
    }

    /// `path` relative to the root, for messages and diffs.
    pub fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
    }

    fn join(&self, path: &str) -> Result<PathBuf, ToolError> {
        let trimmed = path.trim();
        if trimmed.is_empty() {
            return Err(ToolError::Argument("`path` is empty: pass a file path relative to the workspace".into()));
        }
        let p = Path::new(trimmed);
        Ok(if p.is_absolute() { p.to_path_buf() } else { self.root.join(p) })
    }

    /// Without touching the disk: does `path` stay under the root once `..` are applied? Used to
    /// tell "outside" from "missing" for paths that do not exist.
    fn lexically_inside(&self, path: &Path) -> bool {
        let mut out = PathBuf::new();
        for c in path.components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
                other => out.push(other),
            }
        }
        out.starts_with(&self.root)
    }

    fn outside(&self, path: &str) -> ToolError {
        ToolError::OutsideWorkspace { path: path.to_owned(), root: self.root.display().to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ws/src")).unwrap();
        std::fs::write(dir.path().join("ws/src/a.rs"), "fn a() {}\n").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "key\n").unwrap();
        let ws = Workspace::new(&dir.path().join("ws")).unwrap();
        (dir, ws)
    }

    fn is_outside(r: Result<impl std::fmt::Debug, ToolError>) -> bool {
        matches!(r, Err(ToolError::OutsideWorkspace { .. }))
    }

    #[test]
    fn files_inside_resolve_relative_or_absolute() {
        let (_d, ws) = setup();
        let a = ws.existing_file("src/a.rs").unwrap();
        assert_eq!(ws.existing_file(&a.display().to_string()).unwrap(), a);
        assert_eq!(ws.existing_file("src/../src/./a.rs").unwrap(), a);
        assert_eq!(ws.display(&a), "src/a.rs");
    }

    #[test]
    fn escapes_are_refused() {
        let (d, ws) = setup();
        assert!(is_outside(ws.existing_file("../secret.txt")));
        assert!(is_outside(ws.existing_file(&d.path().join("secret.txt").display().to_string())));
        assert!(is_outside(ws.existing_file("/etc/passwd")));
        assert!(is_outside(ws.existing_file("../missing.txt")), "outside even when it does not exist");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(d.path().join("secret.txt"), d.path().join("ws/link.txt")).unwrap();
            assert!(is_outside(ws.existing_file("link.txt")), "a symlink out is outside");
            std::os::unix::fs::symlink(d.path(), d.path().join("ws/up")).unwrap();
            assert!(is_outside(ws.check_writable(&ws.root().join("up/new.rs"))));
        }
    }

    #[test]
    fn missing_files_and_folders_are_not_found() {
        let (_d, ws) = setup();
        assert!(matches!(ws.existing_file("src/missing.rs"), Err(ToolError::NotFound { .. })));
        assert!(matches!(ws.existing_file("src"), Err(ToolError::NotFound { .. })));
        assert!(matches!(ws.existing_file("  "), Err(ToolError::Argument(_))));
    }

    #[test]
    fn new_files_may_be_written_inside_only() {
        let (d, ws) = setup();
        ws.check_writable(&ws.root().join("tests/test_a.py")).unwrap();
        ws.check_writable(&ws.root().join("src/a.rs")).unwrap();
        assert!(is_outside(ws.check_writable(&d.path().join("other.py"))));
        assert!(is_outside(ws.check_writable(&ws.root().join("new/../../escape.py"))));
    }
}
