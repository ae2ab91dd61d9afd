//! Byte transports under a connection: plain TCP now; TLS and WebSocket later.
//!
//! The connection task is generic over [`Transport`], so adding a transport adds an impl,
//! not a branch in the protocol path. The trait is readiness-based (`readable` then
//! `try_read`) rather than `AsyncRead`: the connection reads into its shard's scratch buffer
//! only when bytes are there, so an idle connection holds no read buffer at all
//! (see `ARCHITECTURE.md`, "Buffers"). A TLS transport keeps the same shape by running
//! rustls's `read_tls`/`process_new_packets` inside `try_read` and reporting readiness when
//! either plaintext is buffered or the socket is readable; a WebSocket transport unwraps
//! frames the same way.
//!
//! Futures are not `Send`: a connection lives and dies on the shard that accepted it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A bidirectional byte stream a connection runs over.
pub trait Transport {
    /// Waits until [`try_read`](Self::try_read) may make progress (it may still return
    /// `WouldBlock`: spurious wake-ups are allowed).
    fn readable(&self) -> impl Future<Output = io::Result<()>>;

    /// Reads what is available without waiting: `Ok(0)` is end of stream, `WouldBlock`
    /// means nothing was there.
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes what fits without waiting: the bytes taken, or `WouldBlock` when none.
    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize>;

    /// Writes all of `buf` (one syscall when the socket buffer has room).
    fn write_all(&mut self, buf: &[u8]) -> impl Future<Output = io::Result<()>>;

    /// Sends end-of-stream (TCP FIN; TLS close_notify then FIN).
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>>;

    /// The peer's address, for logs, `$SYS` and authentication.
    fn peer_addr(&self) -> Option<SocketAddr>;

    /// A second descriptor of the underlying TCP socket, for moving the connection to
    /// another shard, or `None` if this transport cannot move (it keeps state of its own,
    /// as TLS does). The default is `None`.
    fn duplicate(&self) -> Option<std::net::TcpStream> {
        None
    }
}

/// Plain TCP.
#[derive(Debug)]
pub struct Tcp {
    stream: TcpStream,
    peer: Option<SocketAddr>,
}

impl Tcp {
    /// Wraps an accepted stream (TCP_NODELAY is set by the accept loop).
    pub fn new(stream: TcpStream) -> Self {
        let peer = stream.peer_addr().ok();
        Self { stream, peer }
    }
}

impl Transport for Tcp {
    fn readable(&self) -> impl Future<Output = io::Result<()>> {
        // `poll_read_ready` keeps the waker in the socket's registration: the future is a
        // reference, where `TcpStream::readable()` carries an intrusive waiter (~150 bytes
        // in every idle connection's task). One task per connection waits on it, as the
        // method requires.
        std::future::poll_fn(|cx| self.stream.poll_read_ready(cx))
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.try_read(buf)
    }

    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.try_write(buf)
    }

    async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.stream.write_all(buf).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.stream.shutdown().await
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    fn duplicate(&self) -> Option<std::net::TcpStream> {
        socket2::SockRef::from(&self.stream)
            .try_clone()
            .ok()
            .map(std::net::TcpStream::from)
    }
}
