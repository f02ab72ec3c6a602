//! Stdin and stdout for the LSP transport, read and written where they are ready.
//!
//! tokio's `stdin()`/`stdout()` hand every read and write to a blocking-pool thread, so each message
//! in and each answer out crossed two threads more than it needs to (the inline overhead bench:
//! ~0.1 ms a crossing on a quiet two-core machine, where idle cores are slow to wake). Editors start
//! language servers with pipes (Rust's `Command`, most test harnesses) or Unix socket pairs (libuv:
//! Neovim, Node and so VS Code); both can be polled by the runtime's reactor like a socket. Anything
//! else — a terminal, a file, a descriptor stderr shares (non-blocking mode belongs to the open
//! file, and stderr is written by blocking log calls) — keeps tokio's blocking stdio.

use std::{
    fs::File,
    io,
    os::{
        fd::{AsFd, BorrowedFd, OwnedFd},
        unix::fs::{FileTypeExt, MetadataExt},
    },
};

use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::unix::pipe,
};

pub type Input = Box<dyn AsyncRead + Send + Unpin>;
pub type Output = Box<dyn AsyncWrite + Send + Unpin>;

/// Stdin, readiness-driven when it is a pipe or a socket. Must be called inside the runtime.
pub fn input() -> Input {
    let pipe = |fd| Ok(Box::new(pipe::Receiver::from_owned_fd(fd)?) as Input);
    readiness("stdin", io::stdin().as_fd(), pipe, |s| Box::new(s)).unwrap_or_else(|| Box::new(tokio::io::stdin()))
}

/// Stdout, readiness-driven when it is a pipe or a socket. Must be called inside the runtime.
pub fn output() -> Output {
    let pipe = |fd| Ok(Box::new(pipe::Sender::from_owned_fd(fd)?) as Output);
    readiness("stdout", io::stdout().as_fd(), pipe, |s| Box::new(s)).unwrap_or_else(|| Box::new(tokio::io::stdout()))
}

/// `fd` as a reactor-polled handle (`pipe` makes one of a pipe, `wrap_socket` boxes a socket), or
/// `None` for tokio's blocking stdio.
fn readiness<T>(
    name: &str,
    fd: BorrowedFd<'_>,
    pipe: impl FnOnce(OwnedFd) -> io::Result<T>,
    wrap_socket: impl FnOnce(tokio::net::UnixStream) -> T,
) -> Option<T> {
    let Some((kind, fd)) = pollable(fd) else {
        tracing::debug!("{name} is on the blocking pool");
        return None;
    };
    let handle = match kind {
        Kind::Pipe => pipe(fd),
        Kind::Socket => socket(fd).map(wrap_socket),
    };
    match handle {
        Ok(h) => {
            let what = if kind == Kind::Pipe { "pipe" } else { "socket" };
            tracing::debug!("{name} is a {what}, polled when ready");
            Some(h)
        }
        Err(e) => {
            tracing::debug!("{name} stays on the blocking pool: {e}");
            None
        }
    }
}

#[derive(Debug, PartialEq)]
enum Kind {
    Pipe,
    Socket,
}

/// A duplicate of `fd` when it is a pipe or a socket that stderr does not share.
fn pollable(fd: BorrowedFd<'_>) -> Option<(Kind, OwnedFd)> {
    let owned = fd.try_clone_to_owned().ok()?;
    let file = File::from(owned);
    let meta = file.metadata().ok()?;
    let kind = match meta.file_type() {
        t if t.is_fifo() => Kind::Pipe,
        t if t.is_socket() => Kind::Socket,
        _ => return None,
    };
    if let Ok(err) = io::stderr().as_fd().try_clone_to_owned().map(File::from).and_then(|f| f.metadata())
        && (err.dev(), err.ino()) == (meta.dev(), meta.ino())
    {
        return None;
    }
    Some((kind, file.into()))
}

fn socket(fd: OwnedFd) -> io::Result<tokio::net::UnixStream> {
    let stream = std::os::unix::net::UnixStream::from(fd);
    stream.set_nonblocking(true)?;
    tokio::net::UnixStream::from_std(stream)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn pipes_and_sockets_are_pollable_terminals_and_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        assert!(pollable(file.as_fd()).is_none());
        let (rx, _tx) = std::io::pipe().unwrap();
        assert_eq!(pollable(rx.as_fd()).map(|p| p.0), Some(Kind::Pipe));
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(pollable(a.as_fd()).map(|p| p.0), Some(Kind::Socket));
    }

    #[tokio::test]
    async fn a_socket_pair_carries_bytes_both_ways_without_blocking() {
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let (_, fd) = pollable(ours.as_fd()).unwrap();
        let mut s = socket(fd).unwrap();
        theirs.write_all(b"ping").unwrap();
        let mut buf = [0; 4];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        s.write_all(b"pong").await.unwrap();
        theirs.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
    }

    #[tokio::test]
    async fn a_pipe_reads_to_its_end() {
        let (rx, mut tx) = std::io::pipe().unwrap();
        let (_, fd) = pollable(rx.as_fd()).unwrap();
        let mut rx = pipe::Receiver::from_owned_fd(fd).unwrap();
        tx.write_all(b"frame").unwrap();
        drop(tx);
        let mut got = Vec::new();
        rx.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"frame");
    }
}
