//! Firmware size probe: CONNECT, SUBSCRIBE to one filter, PUBLISH one QoS 1 message, then
//! wait for one incoming message, over a transport that replays canned broker bytes.
//! Blocking front end by default, async with feature `async`; feature `empty` builds the
//! baseline firmware. Built for `target_os = "none"` only (on the host `main` is a stub so
//! `cargo test --workspace` and `cargo clippy --all-targets` stay green); see `size.sh`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

#[cfg(all(target_os = "none", feature = "empty"))]
#[cortex_m_rt::entry]
fn main() -> ! {
    loop {}
}

#[cfg(all(target_os = "none", not(feature = "empty")))]
#[cortex_m_rt::entry]
fn main() -> ! {
    probe::run();
    loop {}
}

#[cfg(all(target_os = "none", not(feature = "empty")))]
mod probe {
    use core::convert::Infallible;
    use core::hint::black_box;

    use tern_client::codec::{Connect, ProtocolVersion, QoS, Subscription, SubscriptionOptions};
    use tern_client::{Client, Event, Fixed, Instant};

    #[cfg(feature = "v5")]
    const VERSION: ProtocolVersion = ProtocolVersion::V5;
    #[cfg(not(feature = "v5"))]
    const VERSION: ProtocolVersion = ProtocolVersion::V3_1_1;

    /// CONNACK, SUBACK (pid 1), PUBACK (pid 2), PUBLISH QoS 0 "a/b" "hi".
    #[cfg(feature = "v5")]
    const BROKER: &[u8] = &[
        0x20, 3, 0, 0, 0, 0x90, 4, 0, 1, 0, 1, 0x40, 2, 0, 2, 0x30, 8, 0, 3, b'a', b'/', b'b', 0,
        b'h', b'i',
    ];
    #[cfg(not(feature = "v5"))]
    const BROKER: &[u8] = &[
        0x20, 2, 0, 0, 0x90, 3, 0, 1, 1, 0x40, 2, 0, 2, 0x30, 7, 0, 3, b'a', b'/', b'b', b'h', b'i',
    ];

    /// Replays the canned broker bytes; swallows what the client writes.
    struct Replay {
        data: &'static [u8],
        pos: usize,
    }

    impl embedded_io::ErrorType for Replay {
        type Error = Infallible;
    }

    impl embedded_io::Read for Replay {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
            let rest = self.data.get(self.pos..).unwrap_or_default();
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.pos += n;
            Ok(n)
        }
    }

    impl embedded_io::ReadReady for Replay {
        fn read_ready(&mut self) -> Result<bool, Infallible> {
            Ok(true)
        }
    }

    impl embedded_io::Write for Replay {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
            black_box(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> Result<(), Infallible> {
            Ok(())
        }
    }

    impl embedded_io_async::Read for Replay {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
            embedded_io::Read::read(self, buf)
        }
    }

    impl embedded_io_async::Write for Replay {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
            embedded_io::Write::write(self, buf)
        }
        async fn flush(&mut self) -> Result<(), Infallible> {
            Ok(())
        }
    }

    #[cfg(feature = "async")]
    struct NoDelay;

    #[cfg(feature = "async")]
    impl embedded_hal_async::delay::DelayNs for NoDelay {
        async fn delay_ns(&mut self, ns: u32) {
            black_box(ns);
        }
    }

    fn now() -> Instant {
        Instant::from_millis(black_box(0))
    }

    type Storage = Fixed<1, 0, 0, 0, 0>;

    pub(crate) fn run() {
        let mut rx = [0u8; 256];
        let mut tx = [0u8; 256];
        let mut outbox = [0u8; 64];
        let mut io = Replay {
            data: black_box(BROKER),
            pos: 0,
        };
        let mut client = Client::<Storage>::new(&mut rx, &mut tx, &mut outbox);
        let mut connect = Connect::new(VERSION, black_box("probe"));
        connect.keep_alive = 60;
        let sub = [Subscription {
            filter: black_box("a/+"),
            options: SubscriptionOptions::new(QoS::AtLeastOnce),
        }];
        #[cfg(not(feature = "async"))]
        blocking(&mut client, &mut io, &connect, &sub);
        #[cfg(feature = "async")]
        block_on(asynchronous(&mut client, &mut io, &connect, &sub));
    }

    #[cfg(not(feature = "async"))]
    fn blocking(
        client: &mut Client<'_, Storage>,
        io: &mut Replay,
        connect: &Connect<'_>,
        sub: &[Subscription<'_>],
    ) {
        let _ = client.connect(io, now(), connect);
        let mut subscribed = false;
        loop {
            match client.poll(io, now()) {
                Ok(Some(Event::Connected { .. })) if !subscribed => {
                    subscribed = true;
                    let _ = client.subscribe(io, now(), sub);
                    let _ = client.publish(
                        black_box("a/b"),
                        black_box(b"21.5"),
                        QoS::AtLeastOnce,
                        false,
                    );
                }
                Ok(Some(Event::Message(m))) => {
                    black_box(m.payload);
                    return;
                }
                Ok(Some(Event::Disconnected(_))) | Err(_) => return,
                _ => {}
            }
        }
    }

    #[cfg(feature = "async")]
    async fn asynchronous(
        client: &mut Client<'_, Storage>,
        io: &mut Replay,
        connect: &Connect<'_>,
        sub: &[Subscription<'_>],
    ) {
        let _ = client.connect_async(io, now(), connect).await;
        let mut subscribed = false;
        loop {
            match client.next_event(io, &mut NoDelay, &now).await {
                Ok(Some(Event::Connected { .. })) if !subscribed => {
                    subscribed = true;
                    let _ = client.subscribe_async(io, now(), sub).await;
                    let _ = client.publish(
                        black_box("a/b"),
                        black_box(b"21.5"),
                        QoS::AtLeastOnce,
                        false,
                    );
                }
                Ok(Some(Event::Message(m))) => {
                    black_box(m.payload);
                    return;
                }
                Ok(Some(Event::Disconnected(_))) | Err(_) => return,
                _ => {}
            }
        }
    }

    /// A minimal executor: the replay transport never returns `Pending` for long.
    #[cfg(feature = "async")]
    use core::future::Future;

    #[cfg(feature = "async")]
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = core::pin::pin!(f);
        let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
        loop {
            if let core::task::Poll::Ready(x) = f.as_mut().poll(&mut cx) {
                return x;
            }
        }
    }
}
