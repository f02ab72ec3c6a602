//! Stdin and stdout for the LSP transport, read and written where they are ready.
//!
//! tokio's `stdin()`/`stdout()` hand every read and write to a blocking-pool thread, so each message
//! in and each answer out crossed two threads more than it needs to (the inline overhead bench:
//! ~0.1 ms a crossing on a quiet two-core machine, where idle cores are slow to wake). Editors start
//! language servers with pipes (Rust's `Command`, most test harnesses) or Unix socket pairs (libuv:
//! Neovim, Node and so VS Code); both can be polled by the runtime's reactor like a socket. Anything
//! else — a terminal, a file, a descriptor stderr shares (non-blocking mode belongs to the open
//! file, and stderr is written by blocking log calls) — keeps tokio's blocking stdio.
//!
//! Because that mode belongs to the open file, which the editor or a shell pipeline may share,
//! the handles put the descriptor's old mode back when they are dropped (at `exit`): a process
//! reading the same pipe after us would otherwise get `EAGAIN` where it expects to block.

use std::{
    fs::File,
    io,
    os::{
        fd::{AsFd, BorrowedFd, OwnedFd},
        unix::fs::{FileTypeExt, MetadataExt},
    },
    pin::Pin,
    task::{Context, Poll},
};

use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::unix::pipe,
};

pub type Input = Box<dyn AsyncRead + Send + Unpin>;
pub type Output = Box<dyn AsyncWrite + Send + Unpin>;

/// Stdin, readiness-driven when it is a pipe or a socket. Must be called inside the runtime.
pub fn input() -> Input {
    let pipe = |fd| Ok(Box::new(pipe::Receiver::from_owned_fd(fd)?) as Input);
    match readiness("stdin", io::stdin().as_fd(), pipe, |s| Box::new(s)) {
        Some(polled) => Box::new(polled),
        None => Box::new(tokio::io::stdin()),
    }
}

/// Stdout, readiness-driven when it is a pipe or a socket. Must be called inside the runtime.
pub fn output() -> Output {
    let pipe = |fd| Ok(Box::new(pipe::Sender::from_owned_fd(fd)?) as Output);
    match readiness("stdout", io::stdout().as_fd(), pipe, |s| Box::new(s)) {
        Some(polled) => Box::new(polled),
        None => Box::new(tokio::io::stdout()),
    }
}

/// `fd` as a reactor-polled handle (`pipe` makes one of a pipe, `wrap_socket` boxes a socket), or
/// `None` for tokio's blocking stdio.
fn readiness<T>(
    name: &str,
    fd: BorrowedFd<'_>,
    pipe: impl FnOnce(OwnedFd) -> io::Result<T>,
    wrap_socket: impl FnOnce(tokio::net::UnixStream) -> T,
) -> Option<Polled<T>> {
    let Some((kind, fd)) = pollable(fd) else {
        tracing::debug!("{name} is on the blocking pool");
        return None;
    };
    let restore = Restore::record(&fd);
    let handle = match kind {
        Kind::Pipe => pipe(fd),
        Kind::Socket => socket(fd).map(wrap_socket),
    };
    match handle {
        Ok(io) => {
            let what = if kind == Kind::Pipe { "pipe" } else { "socket" };
            tracing::debug!("{name} is a {what}, polled when ready");
            Some(Polled { io, _restore: restore })
        }
        Err(e) => {
            tracing::debug!("{name} stays on the blocking pool: {e}");
            None
        }
    }
}

/// A reactor-polled handle that puts its descriptor's old status flags back when dropped.
pub struct Polled<T> {
    // Dropped first: the handle leaves the reactor before the mode changes under it.
    io: T,
    _restore: Option<Restore>,
}

/// The status flags an open file had before we made it non-blocking, and a descriptor of it.
struct Restore {
    fd: OwnedFd,
    flags: OFlags,
}

impl Restore {
    /// `None` when the file was non-blocking already (nothing to put back) or cannot be read.
    fn record(fd: &OwnedFd) -> Option<Restore> {
        let flags = fcntl_getfl(fd).ok()?;
        if flags.contains(OFlags::NONBLOCK) {
            return None;
        }
        Some(Restore { fd: fd.try_clone().ok()?, flags })
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Err(e) = fcntl_setfl(&self.fd, self.flags) {
            tracing::debug!("cannot put back the blocking mode of stdio: {e}");
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Polled<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Polled<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
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

    fn blocking(fd: impl AsFd) -> bool {
        !fcntl_getfl(fd).unwrap().contains(OFlags::NONBLOCK)
    }

    #[tokio::test]
    async fn dropping_the_handles_puts_the_blocking_mode_back() {
        let (rx, mut tx) = std::io::pipe().unwrap();
        let input = readiness("stdin", rx.as_fd(), pipe::Receiver::from_owned_fd, |_| unreachable!());
        let mut input = input.expect("a pipe is pollable");
        assert!(!blocking(&rx), "polled means non-blocking while in use");
        tx.write_all(b"x").unwrap();
        let mut buf = [0; 1];
        input.read_exact(&mut buf).await.unwrap();
        drop(input);
        assert!(blocking(&rx), "the open file is shared: its mode is put back");

        let (ours, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let output = readiness("stdout", ours.as_fd(), |_| unreachable!(), |s| s).expect("a socket is pollable");
        assert!(!blocking(&ours));
        drop(output);
        assert!(blocking(&ours));
    }

    #[tokio::test]
    async fn a_file_that_was_non_blocking_stays_so() {
        let (rx, _tx) = std::io::pipe().unwrap();
        fcntl_setfl(&rx, fcntl_getfl(&rx).unwrap() | OFlags::NONBLOCK).unwrap();
        let input = readiness("stdin", rx.as_fd(), pipe::Receiver::from_owned_fd, |_| unreachable!());
        drop(input.expect("pollable"));
        assert!(!blocking(&rx));
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
