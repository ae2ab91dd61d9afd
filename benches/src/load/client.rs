//! One client connection: a TCP stream with `TCP_NODELAY`, a receive buffer scanned in place and
//! an output buffer written with one call.
//!
//! Call protocol: append outgoing packets to [`Conn::out`] and send them with [`Conn::flush`];
//! call [`Conn::fill`] to read whatever the socket holds, then [`Conn::scan`] to visit every
//! complete frame (a partial frame stays buffered for the next `fill`).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::BenchError;
use super::wire::{self, Frame, Version};

/// A connected, CONNACKed MQTT client connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    rbuf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes queued for the next [`Conn::flush`].
    pub out: Vec<u8>,
    version: Version,
}

impl Conn {
    /// Opens a TCP connection, sends CONNECT (clean session) and waits for a successful CONNACK.
    /// `rbuf` is the initial receive buffer size (it grows when a frame does not fit).
    pub async fn connect(
        addr: SocketAddr,
        version: Version,
        client_id: &str,
        keep_alive: u16,
        rbuf: usize,
    ) -> Result<Self, BenchError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| BenchError::io(format!("connect to {addr}"), e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| BenchError::io("set TCP_NODELAY", e))?;
        let mut c = Self {
            stream,
            rbuf: vec![0; rbuf.max(16)],
            start: 0,
            end: 0,
            out: Vec::new(),
            version,
        };
        c.out = wire::encode_connect(version, client_id, keep_alive)?;
        c.flush().await?;
        let (header, body) = c.next_frame_owned().await?;
        wire::check_connack(Frame {
            header,
            body: &body,
        })?;
        Ok(c)
    }

    /// The MQTT version of this connection.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Subscribes to `filter` at `qos` and checks the SUBACK grants exactly `qos`.
    pub async fn subscribe(&mut self, filter: &str, qos: u8) -> Result<(), BenchError> {
        const PKID: u16 = 1;
        self.out
            .extend(wire::encode_subscribe(self.version, filter, qos, PKID)?);
        self.flush().await?;
        let (header, body) = self.next_frame_owned().await?;
        wire::check_suback(
            self.version,
            Frame {
                header,
                body: &body,
            },
            PKID,
            qos,
        )
    }

    /// Writes everything in [`Conn::out`] and clears it.
    pub async fn flush(&mut self) -> Result<(), BenchError> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.stream
            .write_all(&self.out)
            .await
            .map_err(|e| BenchError::io("write to broker", e))?;
        self.out.clear();
        Ok(())
    }

    /// Reads once from the socket into the receive buffer; fails if the broker closed it.
    /// Cancel-safe: dropping the future loses no data.
    pub async fn fill(&mut self) -> Result<usize, BenchError> {
        if self.start > 0 {
            // Only a partial frame is left after a scan: the copy is small.
            self.rbuf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.rbuf.len() {
            let grown = self.rbuf.len() * 2;
            self.rbuf.resize(grown, 0);
        }
        let n = self
            .stream
            .read(&mut self.rbuf[self.end..])
            .await
            .map_err(|e| BenchError::io("read from broker", e))?;
        if n == 0 {
            return Err(BenchError::Protocol("broker closed the connection".into()));
        }
        self.end += n;
        Ok(n)
    }

    /// Calls `f` on every complete frame in the receive buffer, with [`Conn::out`] to queue
    /// replies in; stops at the first error.
    pub fn scan<F>(&mut self, mut f: F) -> Result<(), BenchError>
    where
        F: FnMut(Frame<'_>, &mut Vec<u8>) -> Result<(), BenchError>,
    {
        while let Some((frame, n)) = wire::next_frame(&self.rbuf[self.start..self.end])? {
            f(frame, &mut self.out)?;
            self.start += n;
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(())
    }

    /// Waits for the next frame and returns a copy of it (for handshakes, not the hot path).
    pub async fn next_frame_owned(&mut self) -> Result<(u8, Vec<u8>), BenchError> {
        loop {
            if let Some((frame, n)) = wire::next_frame(&self.rbuf[self.start..self.end])? {
                let owned = (frame.header, frame.body.to_vec());
                self.start += n;
                return Ok(owned);
            }
            self.fill().await?;
        }
    }
}
