//! The user's files as the command line (and MCP) reads and writes them: text read with a bound,
//! never blocking on a FIFO or a device, and the careful replace behind `action --apply`.
//!
//! Writing ([`write_file_safely`]) never follows a symbolic link, never writes a file that changed
//! since the edit was planned, keeps the file's permissions, and refuses read-only files and files
//! with several hard links unless forced:
//! - the new text goes to an unpredictable temporary file created exclusively (`O_EXCL`) in the
//!   same directory, which is renamed over the original, so a crash never leaves half a file;
//! - just before the rename the file is checked again (device, inode, size, modification time and
//!   its whole content against the text the edit was planned on); any difference refuses;
//! - a file with more than one hard link is refused, because a rename would split it from its other
//!   names; with `force` it is written in place (after the same check) so every name sees the edit.
//!
//! What is left: the check and the rename are two system calls, so a write landing between them
//! (microseconds) is not seen; ownership, extended attributes and ACLs of a replaced file are not
//! copied (the new file belongs to whoever runs Switchboard).

use std::{
    fs::{File, Metadata, OpenOptions},
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

/// The largest file Switchboard reads as a document (16 MiB, the size past which syntax trees are
/// no longer built either).
pub const MAX_FILE_BYTES: u64 = crate::syntax::MAX_PARSE_BYTES as u64;

/// Why a file was not read or not written. Each message names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is {what}, not a regular file; Switchboard reads text files only", path.display())]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("{} is {size} bytes, over the {limit}-byte limit for a document", path.display())]
    TooBig { path: PathBuf, size: u64, limit: u64 },
    #[error("{} looks like a binary file (it contains NUL bytes); Switchboard works on text files only", path.display())]
    Binary { path: PathBuf },
    #[error("{} is not UTF-8 text; Switchboard edits UTF-8 files only", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{} changed on disk since the edit was planned ({what}); nothing was written. Run the action again", path.display())]
    Changed { path: PathBuf, what: &'static str },
    #[error("{} appeared on disk since the edit was planned; nothing was written. Run the action again", path.display())]
    Appeared { path: PathBuf },
    #[error("{} is read-only; nothing was written. Make it writable, or pass --force to replace it anyway", path.display())]
    ReadOnly { path: PathBuf },
    #[error(
        "{} has {links} hard links; replacing it would split it from its other names, and writing it in place \
         changes every one of them. Nothing was written; pass --force to write it in place",
        path.display()
    )]
    HardLinks { path: PathBuf, links: u64 },
    #[error("{} is a symbolic link; nothing was written through it. Name the file it points to instead", path.display())]
    Symlink { path: PathBuf },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// How [`write_file_safely`] wrote the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// A new file was created.
    Created,
    /// The file was replaced atomically (temporary file + rename).
    Replaced,
    /// A hard-linked file was overwritten in place (`force`).
    InPlace,
}

/// Reads a UTF-8 text file of at most [`MAX_FILE_BYTES`]; refuses directories, FIFOs, devices,
/// binary files (NUL bytes) and invalid UTF-8 without blocking or reading without end.
pub fn read_text(path: &Path) -> Result<String, FileError> {
    let bytes = read_document(path)?;
    String::from_utf8(bytes).map_err(|_| FileError::NotUtf8 { path: path.to_owned() })
}

/// [`read_text`], or `None` when there is no such file (a test file not written yet).
pub fn read_text_if_exists(path: &Path) -> Result<Option<String>, FileError> {
    match read_text(path) {
        Ok(text) => Ok(Some(text)),
        Err(FileError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Like [`read_text`], with invalid UTF-8 replaced by U+FFFD (for read-only uses such as `complete`).
pub fn read_text_lossy(path: &Path) -> Result<String, FileError> {
    let bytes = read_document(path)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// At most `limit` bytes of a regular file. The size is checked on the opened handle before
/// reading, and the read itself stops at `limit + 1` bytes in case the file grows meanwhile.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let read_err = |source| FileError::Read { path: path.to_owned(), source };
    let mut file = open_for_reading(path, true).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    check_regular(path, &meta)?;
    let too_big = |size| FileError::TooBig { path: path.to_owned(), size, limit };
    if meta.len() > limit {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&mut file).take(limit + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > limit {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

fn read_document(path: &Path) -> Result<Vec<u8>, FileError> {
    let bytes = read_bounded(path, MAX_FILE_BYTES)?;
    if bytes.contains(&0) {
        return Err(FileError::Binary { path: path.to_owned() });
    }
    Ok(bytes)
}

/// Opens without blocking on a FIFO (`O_NONBLOCK`; regular files read as usual) and, when
/// `follow` is false, without following a symbolic link at the last component (`O_NOFOLLOW`).
fn open_for_reading(path: &Path, follow: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    no_block(&mut options, follow);
    options.open(path)
}

#[cfg(unix)]
fn no_block(options: &mut OpenOptions, follow: bool) {
    use std::os::unix::fs::OpenOptionsExt;
    let nofollow = if follow { 0 } else { nix::libc::O_NOFOLLOW };
    options.custom_flags(nix::libc::O_NONBLOCK | nofollow);
}

#[cfg(not(unix))]
fn no_block(_: &mut OpenOptions, _: bool) {}

fn check_regular(path: &Path, meta: &Metadata) -> Result<(), FileError> {
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(());
    }
    let what = if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        special_kind(&ft)
    };
    Err(FileError::NotRegular { path: path.to_owned(), what })
}

#[cfg(unix)]
fn special_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "a special file"
}

/// What identifies a file's state: where it lives, how long it is and when it was last written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    id: (u64, u64),
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp { id: file_id(meta), len: meta.len(), modified: meta.modified().ok() }
    }
}

#[cfg(unix)]
fn file_id(meta: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn file_id(_: &Metadata) -> (u64, u64) {
    (0, 0)
}

#[cfg(unix)]
fn hard_links(meta: &Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.nlink()
}

#[cfg(not(unix))]
fn hard_links(_: &Metadata) -> u64 {
    1
}

/// Writes `new` to `path`, which must hold exactly `expected` now (`None`: the file must not exist
/// yet; it is created, with its parent folders). See the module docs for every check; nothing is
/// written when one fails. `force` allows read-only files (replaced, keeping their mode) and files
/// with several hard links (written in place). A symbolic link at `path` is always refused:
/// callers resolve links first and decide whether the real file may be written.
pub fn write_file_safely(path: &Path, expected: Option<&str>, new: &str, force: bool) -> Result<Written, FileError> {
    let write_err = |source| FileError::Write { path: path.to_owned(), source };
    let Some(expected) = expected else {
        return create_new(path, new);
    };
    let (file, first) = open_checked(path, expected)?;
    let meta = file.metadata().map_err(write_err)?;
    let writable = !meta.permissions().readonly() && writable_by_us(path);
    if !writable && !force {
        return Err(FileError::ReadOnly { path: path.to_owned() });
    }
    let links = hard_links(&meta);
    if links > 1 {
        if !force {
            return Err(FileError::HardLinks { path: path.to_owned(), links });
        }
        return write_in_place(path, &first, expected, new);
    }

    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".switchboard-tmp")
        .tempfile_in(&dir)
        .map_err(write_err)?;
    tmp.write_all(new.as_bytes()).map_err(write_err)?;
    tmp.as_file().set_permissions(meta.permissions()).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    // Last look before the rename: the same file, the same size and time, the same content.
    let (_, last) = open_checked(path, expected)?;
    if last != first {
        return Err(FileError::Changed { path: path.to_owned(), what: "it was rewritten or touched" });
    }
    // On failure the temporary file is removed when the error is dropped.
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    sync_dir(&dir);
    Ok(Written::Replaced)
}

/// Opens `path` (not through a symlink, not blocking) and checks it holds exactly `expected`.
fn open_checked(path: &Path, expected: &str) -> Result<(File, Stamp), FileError> {
    let mut file = open_for_reading(path, false).map_err(|source| match source.raw_os_error() {
        #[cfg(unix)]
        Some(nix::libc::ELOOP) => FileError::Symlink { path: path.to_owned() },
        _ if source.kind() == io::ErrorKind::NotFound => {
            FileError::Changed { path: path.to_owned(), what: "it was deleted or renamed" }
        }
        _ => FileError::Read { path: path.to_owned(), source },
    })?;
    let read_err = |source| FileError::Read { path: path.to_owned(), source };
    let meta = file.metadata().map_err(read_err)?;
    check_regular(path, &meta)?;
    let stamp = Stamp::of(&meta);
    let differs = FileError::Changed { path: path.to_owned(), what: "its content is not what the edit was planned on" };
    if meta.len() != expected.len() as u64 {
        return Err(differs);
    }
    let mut now = Vec::with_capacity(expected.len());
    (&mut file).take(expected.len() as u64 + 1).read_to_end(&mut now).map_err(read_err)?;
    if now != expected.as_bytes() {
        return Err(differs);
    }
    Ok((file, stamp))
}

/// Overwrites a hard-linked file through its own handle, after checking it once more.
fn write_in_place(path: &Path, first: &Stamp, expected: &str, new: &str) -> Result<Written, FileError> {
    let write_err = |source| FileError::Write { path: path.to_owned(), source };
    let mut options = OpenOptions::new();
    options.write(true);
    no_block(&mut options, false);
    let mut out = options.open(path).map_err(write_err)?;
    let (_, last) = open_checked(path, expected)?;
    let now = Stamp::of(&out.metadata().map_err(write_err)?);
    if last != *first || now != *first {
        return Err(FileError::Changed { path: path.to_owned(), what: "it was rewritten or touched" });
    }
    out.write_all(new.as_bytes()).map_err(write_err)?;
    out.set_len(new.len() as u64).map_err(write_err)?;
    out.sync_all().map_err(write_err)?;
    Ok(Written::InPlace)
}

/// Creates `path` exclusively: it fails if anything (a symlink included) appeared there.
fn create_new(path: &Path, new: &str) -> Result<Written, FileError> {
    let write_err = |source| FileError::Write { path: path.to_owned(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let mut file = OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            FileError::Appeared { path: path.to_owned() }
        } else {
            write_err(e)
        }
    })?;
    let written = file.write_all(new.as_bytes()).and_then(|()| file.sync_all());
    if let Err(e) = written {
        // Nothing of the user's is lost by removing a file we just created.
        let _ = std::fs::remove_file(path);
        return Err(write_err(e));
    }
    Ok(Written::Created)
}

/// Whether we may open the file for writing (the mode bits alone do not say it for files owned
/// by someone else). Opening for writing does not change the file.
fn writable_by_us(path: &Path) -> bool {
    let mut options = OpenOptions::new();
    options.write(true);
    no_block(&mut options, false);
    options.open(path).is_ok()
}

/// Makes the rename durable; a failure here loses nothing, so it is not reported.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn reads_text_and_refuses_what_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("a.rs");
        std::fs::write(&ok, "fn a() {}\n").unwrap();
        assert_eq!(read_text(&ok).unwrap(), "fn a() {}\n");

        let err = |p: &Path| read_text(p).unwrap_err().to_string();
        assert!(err(dir.path()).contains("is a directory, not a regular file"), "{}", err(dir.path()));
        assert!(err(Path::new("/dev/zero")).contains("is a device"), "{}", err(Path::new("/dev/zero")));
        let fifo = dir.path().join("pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(err(&fifo).contains("is a FIFO"), "{}", err(&fifo));

        let big = dir.path().join("big.rs");
        File::create(&big).unwrap().set_len(MAX_FILE_BYTES + 1).unwrap();
        assert!(err(&big).contains("over the 16777216-byte limit"), "{}", err(&big));
        assert!(matches!(read_bounded(&ok, 4), Err(FileError::TooBig { size: 10, .. })));

        let bin = dir.path().join("b.bin");
        std::fs::write(&bin, b"ab\0cd").unwrap();
        assert!(err(&bin).contains("binary"), "{}", err(&bin));
        let latin = dir.path().join("l.txt");
        std::fs::write(&latin, b"caf\xe9\n").unwrap();
        assert!(err(&latin).contains("not UTF-8"));
        assert_eq!(read_text_lossy(&latin).unwrap(), "caf\u{fffd}\n");
        assert!(err(&dir.path().join("missing")).starts_with("cannot read"));
        assert_eq!(read_text_if_exists(&dir.path().join("missing")).unwrap(), None);
        assert!(read_text_if_exists(&fifo).is_err());
    }

    #[test]
    fn replaces_atomically_keeping_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a b.sh");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o751)).unwrap();
        assert_eq!(write_file_safely(&path, Some("old\n"), "new\n", false).unwrap(), Written::Replaced);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o751);
        assert_eq!(files_in(dir.path()), ["a b.sh"], "no temporary file left");
    }

    #[test]
    fn refuses_a_file_that_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.rs");
        std::fs::write(&path, "old\nappended\n").unwrap();
        let err = write_file_safely(&path, Some("old\n"), "new\n", true).unwrap_err();
        assert!(matches!(err, FileError::Changed { .. }), "{err}");
        assert!(err.to_string().contains("changed on disk since the edit was planned"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\nappended\n");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(write_file_safely(&path, Some("old\n"), "new\n", false), Err(FileError::Changed { .. })));
        assert_eq!(files_in(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn read_only_files_need_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro.rs");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        let err = write_file_safely(&path, Some("old\n"), "new\n", false).unwrap_err();
        assert!(err.to_string().contains("is read-only; nothing was written"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        assert_eq!(write_file_safely(&path, Some("old\n"), "new\n", true).unwrap(), Written::Replaced);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o444);
    }

    #[test]
    fn hard_links_are_refused_or_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.rs"), dir.path().join("b.rs"));
        std::fs::write(&a, "old\nlonger line\n").unwrap();
        std::fs::hard_link(&a, &b).unwrap();
        let err = write_file_safely(&a, Some("old\nlonger line\n"), "new\n", false).unwrap_err();
        assert!(err.to_string().contains("has 2 hard links"), "{err}");
        assert_eq!(write_file_safely(&a, Some("old\nlonger line\n"), "new\n", true).unwrap(), Written::InPlace);
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "new\n", "the other name sees the edit");
        assert_eq!(files_in(dir.path()), ["a.rs", "b.rs"]);
    }

    #[test]
    fn never_writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "precious\n").unwrap();
        let link = dir.path().join("a.rs");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let err = write_file_safely(&link, Some("precious\n"), "pwned\n", true).unwrap_err();
        assert!(matches!(err, FileError::Symlink { .. }), "{err}");
        // Creating where a (dangling) link was planted fails too.
        let planted = dir.path().join("tests").join("test_a.py");
        std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &planted).unwrap();
        assert!(matches!(write_file_safely(&planted, None, "x\n", true), Err(FileError::Appeared { .. })));
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious\n");
        assert!(!dir.path().join("nowhere").exists());
    }

    #[test]
    fn creates_new_files_exclusively() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tests").join("test_a.py");
        assert_eq!(write_file_safely(&path, None, "def test(): pass\n", false).unwrap(), Written::Created);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "def test(): pass\n");
        assert!(matches!(write_file_safely(&path, None, "again\n", false), Err(FileError::Appeared { .. })));
    }
}
