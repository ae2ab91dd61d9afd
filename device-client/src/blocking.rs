//! The blocking front end, over [`embedded_io`]: `Read + Write` for the transport, and
//! [`ReadReady`] so [`Client::poll`] never blocks in a read (keep-alive keeps working while
//! the application does other things between calls).
//!
//! ```ignore
//! client.connect(&mut socket, now(), &Connect::new(ProtocolVersion::V3_1_1, "dev1"))?;
//! loop {
//!     match client.poll(&mut socket, now())? {
//!         Some(Event::Message(m)) if matches("sensors/+/cmd", m.topic) => handle(m.payload),
//!         Some(Event::Disconnected(_)) => break, // reconnect: `connect` on a new socket
//!         _ => {}
//!     }
//! }
//! ```

use embedded_io::{Read, ReadReady, Write};
use tern_core::codec::{Connect, PacketId, ReasonCode, Subscription};
use tern_core::session::{Instant, Storage};

use crate::{Client, Error, Event};

/// Writes all of `buf`; a zero-length write is a closed transport (never a panic).
pub(crate) fn write_all<T: Write>(io: &mut T, mut buf: &[u8]) -> Result<(), Error<T::Error>> {
    while !buf.is_empty() {
        match io.write(buf).map_err(Error::Io)? {
            0 => return Err(Error::TransportClosed),
            n => buf = buf.get(n..).unwrap_or_default(),
        }
    }
    Ok(())
}

impl<S: Storage> Client<'_, S> {
    /// Writes every packet the engine has to send (acknowledgements, PINGREQ, queued and
    /// re-sent messages), then flushes the transport.
    pub fn flush<T: Write>(&mut self, io: &mut T, now: Instant) -> Result<(), Error<T::Error>> {
        let r = self.flush_inner(io, now);
        if r.is_err() {
            self.on_transport_closed(now);
        }
        r
    }

    fn flush_inner<T: Write>(&mut self, io: &mut T, now: Instant) -> Result<(), Error<T::Error>> {
        let mut wrote = false;
        while let Some(bytes) = self.transmit(now).map_err(Error::Encode)? {
            write_all(io, bytes)?;
            wrote = true;
        }
        if wrote {
            io.flush().map_err(Error::Io)?;
        }
        Ok(())
    }

    /// Sends CONNECT on a fresh transport (`connect.clean_start == false` resumes the
    /// session of the previous connection). [`Event::Connected`] from [`Client::poll`]
    /// reports the CONNACK.
    pub fn connect<T: Write>(
        &mut self,
        io: &mut T,
        now: Instant,
        connect: &Connect<'_>,
    ) -> Result<(), Error<T::Error>> {
        self.start(now, connect)?;
        self.send_encoded();
        self.flush(io, now)
    }

    /// Sends SUBSCRIBE; [`Event::Subscribed`] with the returned identifier reports the
    /// broker's answer.
    pub fn subscribe<T: Write>(
        &mut self,
        io: &mut T,
        now: Instant,
        filters: &[Subscription<'_>],
    ) -> Result<PacketId, Error<T::Error>> {
        let (pid, _) = self.subscribe_into(filters)?;
        self.send_encoded();
        self.flush(io, now)?;
        Ok(pid)
    }

    /// Sends UNSUBSCRIBE; [`Event::Unsubscribed`] reports the answer.
    pub fn unsubscribe<T: Write>(
        &mut self,
        io: &mut T,
        now: Instant,
        filters: &[&str],
    ) -> Result<PacketId, Error<T::Error>> {
        let (pid, _) = self.unsubscribe_into(filters)?;
        self.send_encoded();
        self.flush(io, now)?;
        Ok(pid)
    }

    /// Sends DISCONNECT (0x00: the broker discards the Will) and ends the connection; the
    /// caller then closes the transport. The session is kept.
    pub fn close<T: Write>(
        &mut self,
        io: &mut T,
        now: Instant,
        reason: ReasonCode,
    ) -> Result<(), Error<T::Error>> {
        self.disconnect(now, reason);
        self.flush(io, now)
    }

    /// Drives the client once at `now` without blocking: handles due deadlines
    /// (keep-alive), reads what the transport has ready, writes what is due, and returns
    /// the next event, or `None` when there is nothing to report now. Call it whenever the
    /// transport may be readable and at least by [`Client::deadline`].
    pub fn poll<T: Read + Write + ReadReady>(
        &mut self,
        io: &mut T,
        now: Instant,
    ) -> Result<Option<Event<'_>>, Error<T::Error>> {
        loop {
            let ready = self.prepare(now);
            self.flush(io, now)?;
            if ready {
                return Ok(self.take_event(now));
            }
            if !self.is_active() {
                return Ok(None);
            }
            let readable = match io.read_ready() {
                Ok(r) => r,
                Err(e) => {
                    self.on_transport_closed(now);
                    return Err(Error::Io(e));
                }
            };
            if !readable {
                return Ok(None);
            }
            match io.read(self.rx_space()) {
                Ok(n) => self.on_read(now, n),
                Err(e) => {
                    self.on_transport_closed(now);
                    return Err(Error::Io(e));
                }
            }
        }
    }
}
