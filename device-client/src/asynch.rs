//! The async front end, over [`embedded_io_async`] (embassy-net's `TcpSocket` implements
//! `Read + Write`). [`Client::next_event`] waits for the transport or for the engine's
//! next deadline, whichever comes first, on a caller-supplied
//! [`embedded_hal_async::delay::DelayNs`] timer; the current time comes from a
//! caller-supplied [`Clock`].
//!
//! ```ignore
//! let clock = || Instant::from_millis(embassy_time::Instant::now().as_millis());
//! client.connect_async(&mut socket, clock(), &connect).await?;
//! loop {
//!     match client.next_event(&mut socket, &mut embassy_time::Delay, &clock).await? {
//!         Some(Event::Message(m)) => handle(m.topic, m.payload),
//!         Some(Event::Disconnected(_)) => break,
//!         _ => {}
//!     }
//! }
//! ```
//!
//! The read is raced against the timer; it must be cancel-safe (embassy-net's is: bytes
//! stay in the socket until a read completes).

use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;

use embedded_hal_async::delay::DelayNs;
use embedded_io_async::{Read, Write};
use tern_core::codec::{Connect, PacketId, ReasonCode, Subscription};
use tern_core::session::{Instant, Storage};

use crate::{Client, Error, Event};

/// The caller's clock: the client reads no global time.
pub trait Clock {
    /// Now.
    fn now(&self) -> Instant;
}

impl<F: Fn() -> Instant> Clock for F {
    fn now(&self) -> Instant {
        self()
    }
}

async fn write_all<T: Write>(io: &mut T, mut buf: &[u8]) -> Result<(), Error<T::Error>> {
    while !buf.is_empty() {
        match io.write(buf).await.map_err(Error::Io)? {
            0 => return Err(Error::TransportClosed),
            n => buf = buf.get(n..).unwrap_or_default(),
        }
    }
    Ok(())
}

/// Which of two futures finished first.
enum Either<A, B> {
    First(A),
    Second(B),
}

async fn select<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(x) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::First(x));
        }
        if let Poll::Ready(x) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Second(x));
        }
        Poll::Pending
    })
    .await
}

impl<S: Storage> Client<'_, S> {
    /// Writes every packet the engine has to send, then flushes the transport.
    pub async fn flush_async<T: Write>(
        &mut self,
        io: &mut T,
        now: Instant,
    ) -> Result<(), Error<T::Error>> {
        let mut wrote = false;
        loop {
            let bytes = match self.transmit(now) {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(e) => return Err(Error::Encode(e)),
            };
            if let Err(e) = write_all(io, bytes).await {
                self.on_transport_closed(now);
                return Err(e);
            }
            wrote = true;
        }
        if wrote && let Err(e) = io.flush().await {
            self.on_transport_closed(now);
            return Err(Error::Io(e));
        }
        Ok(())
    }

    /// Sends CONNECT on a fresh transport; see the blocking
    /// [`connect`](Client::connect).
    pub async fn connect_async<T: Write>(
        &mut self,
        io: &mut T,
        now: Instant,
        connect: &Connect<'_>,
    ) -> Result<(), Error<T::Error>> {
        self.start(now, connect)?;
        self.send_encoded();
        self.flush_async(io, now).await
    }

    /// Sends SUBSCRIBE; see the blocking [`subscribe`](Client::subscribe).
    pub async fn subscribe_async<T: Write>(
        &mut self,
        io: &mut T,
        now: Instant,
        filters: &[Subscription<'_>],
    ) -> Result<PacketId, Error<T::Error>> {
        let (pid, _) = self.subscribe_into(filters)?;
        self.send_encoded();
        self.flush_async(io, now).await?;
        Ok(pid)
    }

    /// Sends UNSUBSCRIBE; see the blocking [`unsubscribe`](Client::unsubscribe).
    pub async fn unsubscribe_async<T: Write>(
        &mut self,
        io: &mut T,
        now: Instant,
        filters: &[&str],
    ) -> Result<PacketId, Error<T::Error>> {
        let (pid, _) = self.unsubscribe_into(filters)?;
        self.send_encoded();
        self.flush_async(io, now).await?;
        Ok(pid)
    }

    /// Sends DISCONNECT and ends the connection; see the blocking
    /// [`close`](Client::close).
    pub async fn close_async<T: Write>(
        &mut self,
        io: &mut T,
        now: Instant,
        reason: ReasonCode,
    ) -> Result<(), Error<T::Error>> {
        self.disconnect(now, reason);
        self.flush_async(io, now).await
    }

    /// Waits for the next event: reads from the transport, and wakes up at the engine's
    /// deadline (keep-alive: PINGREQ, PINGRESP timeout) on `delay`. `Ok(None)`: nothing to
    /// report after all (a re-sent QoS 2 duplicate was acknowledged and suppressed); call
    /// again. Messages published with [`publish`](Client::publish) go out on the next call.
    /// Returns [`Error::NotConnected`] once the connection has ended and its
    /// [`Event::Disconnected`] was returned.
    pub async fn next_event<T: Read + Write, D: DelayNs, C: Clock>(
        &mut self,
        io: &mut T,
        delay: &mut D,
        clock: &C,
    ) -> Result<Option<Event<'_>>, Error<T::Error>> {
        loop {
            let now = clock.now();
            let ready = self.prepare(now);
            self.flush_async(io, now).await?;
            if ready {
                return Ok(self.take_event(now));
            }
            if !self.is_active() {
                return Err(Error::NotConnected);
            }
            let wait_ms = self.deadline().map(|t| {
                let ms = t.saturating_duration_since(now).total_millis();
                u32::try_from(ms).unwrap_or(u32::MAX)
            });
            // One `read` future whether or not there is a deadline (a second call site
            // would be a second copy of the transport's read state machine in flash).
            let timer = async {
                match wait_ms {
                    Some(ms) => delay.delay_ms(ms).await,
                    None => core::future::pending().await,
                }
            };
            let read = select(io.read(self.rx_space()), timer).await;
            match read {
                Either::First(Ok(n)) => self.on_read(clock.now(), n),
                Either::First(Err(e)) => {
                    self.on_transport_closed(clock.now());
                    return Err(Error::Io(e));
                }
                Either::Second(()) => {}
            }
        }
    }
}
