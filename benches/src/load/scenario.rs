//! The scenarios, run on one current-thread tokio runtime (all clients are tasks of one
//! `LocalSet`), each under a hard time limit.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::task::{JoinHandle, spawn_local};
use tokio::time::{sleep, sleep_until, timeout};

use super::BenchError;
use super::client::Conn;
use super::config::{Params, Scenario};
use super::report::{ConnStats, Latency, Report};
use super::sys;
use super::verify::{Guarantee, Histogram, SeqTracker};
use super::wire::{self, Ack, AckTemplates, PayloadHeader, PublishTemplate, packet_type};

/// Initial receive buffer of a subscriber (grows if a frame does not fit).
const SUB_RBUF: usize = 256 * 1024;
/// Initial receive buffer of a publisher (acks only).
const PUB_RBUF: usize = 16 * 1024;
/// Bytes of PUBLISH packets a QoS 0 publisher writes with one call.
const PUB_BATCH_BYTES: usize = 64 * 1024;
/// How often an idle subscriber checks whether the run is over.
const TICK: Duration = Duration::from_millis(50);
/// Keep-alive of the clients of throughput runs (seconds).
const KEEP_ALIVE: u16 = 60;

/// Runs one scenario to completion or to its time limit and reports. Never panics on broker
/// misbehaviour: every failure ends up in [`Report::error`].
pub fn run(params: &Params) -> Report {
    let mut report = Report::new(params.clone());
    if let Err(e) = params.validate() {
        report.error = Some(e.to_string());
        return report;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report.error = Some(format!("cannot build the tokio runtime: {e}"));
            return report;
        }
    };
    let shared = Rc::new(Shared::new(params.broker_pid));
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&rt, async {
        let work = async {
            match params.scenario {
                Scenario::Connections => connections(params, &shared, &mut report).await,
                _ => flow(params, &shared, &mut report).await,
            }
        };
        match timeout(params.time_limit, work).await {
            Ok(r) => r,
            Err(_) => Err(BenchError::TimeLimit(format!(
                "{:?} passed; {} sent, {} received, {} unacknowledged at publishers, \
                 {} PUBRELs awaited by subscribers",
                params.time_limit,
                shared.sent.get(),
                shared.received.get(),
                shared.unacked.get(),
                shared.awaiting_rel.get(),
            ))),
        }
    });
    if let Err(e) = result {
        // Partial counts and CPU for a run that did not finish.
        if report.sent == 0 {
            report.sent = shared.sent.get();
            report.received = shared.received.get();
        }
        if let Some(start) = shared.start.get().filter(|_| report.window.is_zero()) {
            start.finish_into(&mut report);
            report.elapsed = report.window;
        }
        report.error = Some(e.to_string());
    }
    // Dropping the runtime cancels and drops every task and socket that is left.
    drop(local);
    drop(rt);
    report
}

/// A point in time for the wall clock, our CPU time and the broker's.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    wall: Instant,
    own: Duration,
    broker: Option<Duration>,
    pid: Option<u32>,
}

impl Snapshot {
    fn take(pid: Option<u32>) -> Self {
        Self {
            wall: Instant::now(),
            own: sys::own_cpu(),
            broker: pid.and_then(|p| sys::proc_cpu(p).ok()),
            pid,
        }
    }

    /// Sets `window`, `tool_cpu` and `broker_cpu` of `r` from `self` to now.
    fn finish_into(&self, r: &mut Report) {
        let end = Snapshot::take(self.pid);
        r.window = end.wall - self.wall;
        r.tool_cpu = end.own.saturating_sub(self.own);
        r.broker_cpu = match (self.broker, end.broker) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
    }
}

/// State shared by the tasks of one run (single-threaded: `Cell`s).
#[derive(Debug)]
struct Shared {
    base: Instant,
    pid: Option<u32>,
    start: Cell<Option<Snapshot>>,
    sent: Cell<u64>,
    received: Cell<u64>,
    /// QoS 1/2 messages sent and not yet completed (PUBACK / PUBCOMP), all publishers.
    unacked: Cell<u64>,
    /// QoS 2 deliveries PUBRECed and not yet released, all subscribers.
    awaiting_rel: Cell<u64>,
    pubs_done: Cell<usize>,
    failed: Cell<bool>,
}

impl Shared {
    fn new(pid: Option<u32>) -> Self {
        Self {
            base: Instant::now(),
            pid,
            start: Cell::new(None),
            sent: Cell::new(0),
            received: Cell::new(0),
            unacked: Cell::new(0),
            awaiting_rel: Cell::new(0),
            pubs_done: Cell::new(0),
            failed: Cell::new(false),
        }
    }

    /// Nanoseconds since the run's base instant (the payload timestamp clock).
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    fn add(cell: &Cell<u64>, n: u64) {
        cell.set(cell.get() + n);
    }

    fn sub(cell: &Cell<u64>, n: u64) {
        cell.set(cell.get().saturating_sub(n));
    }
}

async fn resolve(p: &Params) -> Result<SocketAddr, BenchError> {
    tokio::net::lookup_host((p.host.as_str(), p.port))
        .await
        .map_err(|e| BenchError::io(format!("resolve {}", p.host), e))?
        .next()
        .ok_or_else(|| BenchError::Usage(format!("{} resolves to no address", p.host)))
}

/// A prefix unique to this run, so concurrent runs against one broker never cross-talk.
fn run_id(shared: &Shared) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{}-{:x}", std::process::id(), nanos ^ shared.now_ns())
}

/// Who publishes where and who listens to whom.
#[derive(Debug)]
struct Topology {
    /// Topic of each publisher (index = publisher id).
    topics: Vec<String>,
    /// Filter of each subscriber and the publisher ids it must hear from.
    subs: Vec<(String, Vec<u32>)>,
}

fn topology(p: &Params, id: &str) -> Topology {
    let base = format!("tb/{id}/{}", p.scenario.name());
    let n = p.publisher_count() as u32;
    match p.scenario {
        Scenario::FanIn => Topology {
            topics: (0..n).map(|i| format!("{base}/{i}")).collect(),
            subs: vec![(format!("{base}/+"), (0..n).collect())],
        },
        Scenario::Pairs => Topology {
            topics: (0..n).map(|i| format!("{base}/{i}")).collect(),
            subs: (0..n).map(|i| (format!("{base}/{i}"), vec![i])).collect(),
        },
        Scenario::FanOut | Scenario::Latency | Scenario::Connections => Topology {
            topics: vec![base.clone()],
            subs: (0..p.subscriber_count())
                .map(|_| (base.clone(), vec![0]))
                .collect(),
        },
    }
}

/// What one subscriber saw.
#[derive(Debug, Default)]
struct SubOutcome {
    trackers: Vec<SeqTracker>,
    hist: Histogram,
    last_delivery: Option<Instant>,
    violation: Option<String>,
}

/// The throughput scenarios (`fan-in`, `fan-out`, `pairs`) and `latency`.
async fn flow(p: &Params, shared: &Rc<Shared>, report: &mut Report) -> Result<(), BenchError> {
    let addr = resolve(p).await?;
    let id = run_id(shared);
    let topo = topology(p, &id);
    let acks = AckTemplates::new(p.version)?;
    let templates = topo
        .topics
        .iter()
        .map(|t| PublishTemplate::new(p.version, t, p.qos, p.payload))
        .collect::<Result<Vec<_>, _>>()?;

    // Subscribers first, so that no message is published before every subscription exists.
    let mut subs = Vec::with_capacity(topo.subs.len());
    for (i, (filter, _)) in topo.subs.iter().enumerate() {
        let mut c = Conn::connect(
            addr,
            p.version,
            &format!("tb-{id}-s{i}"),
            KEEP_ALIVE,
            SUB_RBUF,
        )
        .await?;
        c.subscribe(filter, p.qos).await?;
        subs.push(c);
    }
    let mut pubs = Vec::with_capacity(templates.len());
    for i in 0..templates.len() {
        pubs.push(
            Conn::connect(
                addr,
                p.version,
                &format!("tb-{id}-p{i}"),
                KEEP_ALIVE,
                PUB_RBUF,
            )
            .await?,
        );
    }
    report.expected =
        topo.subs.iter().map(|(_, ps)| ps.len() as u64).sum::<u64>() * u64::from(p.messages);

    let start = Snapshot::take(p.broker_pid);
    shared.start.set(Some(start));
    let n_pubs = pubs.len();
    let sub_tasks: Vec<JoinHandle<Result<SubOutcome, BenchError>>> = subs
        .into_iter()
        .zip(topo.subs)
        .map(|(conn, (_, from))| {
            let cfg = SubConfig {
                qos: p.qos,
                messages: p.messages,
                n_pubs,
                from,
                acks,
            };
            let shared = Rc::clone(shared);
            spawn_local(async move {
                let r = subscriber(conn, cfg, &shared).await;
                if r.is_err() {
                    shared.failed.set(true);
                }
                r
            })
        })
        .collect();
    let rate = (p.scenario == Scenario::Latency).then_some(p.rate);
    let pub_tasks: Vec<JoinHandle<Result<(), BenchError>>> = pubs
        .into_iter()
        .zip(templates)
        .enumerate()
        .map(|(i, (conn, template))| {
            let cfg = PubConfig {
                id: i as u32,
                qos: p.qos,
                messages: p.messages,
                window: p.window,
                rate,
                template,
                acks,
            };
            let shared = Rc::clone(shared);
            spawn_local(async move {
                let r = publisher(conn, cfg, &shared).await;
                shared.pubs_done.set(shared.pubs_done.get() + 1);
                if r.is_err() {
                    shared.failed.set(true);
                }
                r
            })
        })
        .collect();

    let mut first_error = None;
    let mut outcomes = Vec::new();
    for t in sub_tasks {
        match joined(t.await) {
            Ok(o) => outcomes.push(o),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    for t in pub_tasks {
        if let Err(e) = joined(t.await) {
            first_error.get_or_insert(e);
        }
    }
    start.finish_into(report);

    let mut hist = Histogram::default();
    let mut violation = None;
    let mut last = None;
    for o in &outcomes {
        hist.merge(&o.hist);
        last = last.max(o.last_delivery);
        for t in &o.trackers {
            report.received += t.received;
            report.duplicates += t.duplicates;
            report.lost += t.lost(p.messages);
        }
        if violation.is_none() {
            violation.clone_from(&o.violation);
        }
    }
    report.sent = shared.sent.get();
    report.elapsed = last.map_or(report.window, |l| l.saturating_duration_since(start.wall));
    report.latency = Latency::from_histogram(&hist);
    if let Some(e) = first_error {
        return Err(e);
    }
    if let Some(v) = violation {
        return Err(BenchError::Violation(v));
    }
    if p.qos > 0 && report.lost > 0 {
        return Err(BenchError::Violation(format!(
            "{} deliveries never arrived at QoS {}",
            report.lost, p.qos
        )));
    }
    Ok(())
}

fn joined<T>(r: Result<Result<T, BenchError>, tokio::task::JoinError>) -> Result<T, BenchError> {
    r.map_err(|e| BenchError::Protocol(format!("client task failed: {e}")))?
}

/// What a publisher does.
struct PubConfig {
    id: u32,
    qos: u8,
    messages: u32,
    window: usize,
    /// Messages per second for `latency`; `None` publishes as fast as the window allows.
    rate: Option<f64>,
    template: PublishTemplate,
    acks: AckTemplates,
}

/// Publishes `messages` messages: batched writes of patched copies of one encoded PUBLISH, at
/// QoS 1/2 at most `window` unacknowledged, optionally paced at a fixed rate.
async fn publisher(mut conn: Conn, cfg: PubConfig, shared: &Shared) -> Result<(), BenchError> {
    const FREE: u8 = 0;
    const AWAIT_ACK: u8 = 1; // PUBACK (QoS 1) or PUBREC (QoS 2)
    const AWAIT_COMP: u8 = 2;
    let PubConfig {
        id,
        qos,
        messages,
        window,
        rate,
        template,
        acks,
    } = cfg;
    let batch = (PUB_BATCH_BYTES / template.len().max(1)).max(1) as u32;
    let interval = rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let mut state = vec![FREE; 1 << 16];
    let mut inflight = 0usize;
    let mut next_pkid: u16 = 1;
    let mut seq: u32 = 0;
    let t0 = tokio::time::Instant::now();
    let due = |seq: u32, iv: Duration| t0 + iv * seq;
    loop {
        let allowed = match interval {
            None => messages,
            Some(iv) => {
                let n = t0.elapsed().as_nanos() / iv.as_nanos().max(1) + 1;
                messages.min(u32::try_from(n).unwrap_or(u32::MAX))
            }
        };
        let sent_ns = shared.now_ns();
        let mut n = 0;
        while seq < allowed && n < batch {
            if qos > 0 {
                if inflight >= window || state[usize::from(next_pkid)] != FREE {
                    break;
                }
                state[usize::from(next_pkid)] = AWAIT_ACK;
                inflight += 1;
            }
            template.append(
                &mut conn.out,
                next_pkid,
                PayloadHeader {
                    publisher: id,
                    seq,
                    sent_ns,
                },
            );
            if qos > 0 {
                next_pkid = next_pkid.checked_add(1).unwrap_or(1);
            }
            seq += 1;
            n += 1;
        }
        conn.flush().await?;
        Shared::add(&shared.sent, u64::from(n));
        if qos > 0 {
            Shared::add(&shared.unacked, u64::from(n));
        }
        if seq == messages && inflight == 0 {
            return Ok(());
        }
        if qos == 0 {
            if let Some(iv) = interval {
                sleep_until(due(seq, iv)).await;
            }
            continue;
        }
        if shared.failed.get() {
            return Err(BenchError::Protocol(
                "stopped: another client failed".into(),
            ));
        }
        // Wait for acks, or for the next message's slot when paced and the window has room.
        match interval.filter(|_| seq < messages && inflight < window) {
            Some(iv) => {
                tokio::select! {
                    r = conn.fill() => { r?; }
                    () = sleep_until(due(seq, iv)) => continue,
                }
            }
            None => {
                conn.fill().await?;
            }
        }
        let before = inflight;
        conn.scan(|frame, out| {
            let t = frame.packet_type();
            let want = match (t, qos) {
                (packet_type::PUBACK, 1) | (packet_type::PUBREC, 2) => AWAIT_ACK,
                (packet_type::PUBCOMP, 2) => AWAIT_COMP,
                (packet_type::DISCONNECT, _) => {
                    return Err(BenchError::Protocol(format!(
                        "publisher {id}: broker sent DISCONNECT"
                    )));
                }
                _ => {
                    return Err(BenchError::Protocol(format!(
                        "publisher {id} at QoS {qos}: unexpected packet type {t}"
                    )));
                }
            };
            let pkid = wire::parse_ack(frame)?;
            let s = &mut state[usize::from(pkid)];
            if *s != want {
                return Err(BenchError::Protocol(format!(
                    "publisher {id}: packet type {t} for packet id {pkid}, which is not awaiting it"
                )));
            }
            if t == packet_type::PUBREC {
                *s = AWAIT_COMP;
                acks.append(out, Ack::PubRel, pkid);
            } else {
                *s = FREE;
                inflight -= 1;
            }
            Ok(())
        })?;
        Shared::sub(&shared.unacked, (before - inflight) as u64);
    }
}

/// What a subscriber expects.
struct SubConfig {
    qos: u8,
    messages: u32,
    /// Publishers in the run (publisher ids are `0..n_pubs`).
    n_pubs: usize,
    /// The publisher ids this subscriber must hear from.
    from: Vec<u32>,
    acks: AckTemplates,
}

/// Receives until every expected message has arrived (and, at QoS 2, every PUBREL), or until the
/// publishers are done and nothing arrived for a quiet period; verifies every delivery.
async fn subscriber(
    mut conn: Conn,
    cfg: SubConfig,
    shared: &Shared,
) -> Result<SubOutcome, BenchError> {
    let SubConfig {
        qos,
        messages,
        n_pubs,
        from,
        acks,
    } = cfg;
    let version = conn.version();
    let g = Guarantee::of_qos(qos);
    let quiet = if qos == 0 {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(2)
    };
    let mut slot = vec![usize::MAX; n_pubs];
    for (i, &p) in from.iter().enumerate() {
        slot[p as usize] = i;
    }
    let mut out = SubOutcome {
        trackers: vec![SeqTracker::default(); from.len()],
        ..Default::default()
    };
    let mut complete = 0usize;
    let mut awaiting_rel = vec![false; 1 << 16];
    let mut pending_rel = 0usize;
    let mut last_activity = Instant::now();
    // One timer for the whole loop (re-armed only when it fires), not one per read.
    let tick = sleep(TICK);
    tokio::pin!(tick);
    while complete < from.len() || pending_rel > 0 {
        tokio::select! {
            biased;
            r = conn.fill() => {
                r?;
            }
            () = &mut tick => {
                tick.as_mut().reset(tokio::time::Instant::now() + TICK);
                if shared.failed.get() {
                    break;
                }
                if shared.pubs_done.get() == n_pubs && last_activity.elapsed() >= quiet {
                    break;
                }
                continue;
            }
        }
        let now = Instant::now();
        let now_ns = shared.now_ns();
        last_activity = now;
        let mut delivered = 0u64;
        let rel_before = pending_rel;
        conn.scan(|frame, wbuf| {
            match frame.packet_type() {
                packet_type::PUBLISH => {
                    let v = wire::parse_publish(version, frame)?;
                    if v.qos != qos {
                        return Err(BenchError::Violation(format!(
                            "message published and subscribed at QoS {qos} delivered at QoS {}",
                            v.qos
                        )));
                    }
                    let pub_id = v.header.publisher;
                    let i = *slot
                        .get(pub_id as usize)
                        .filter(|&&i| i != usize::MAX)
                        .ok_or_else(|| {
                            BenchError::Protocol(format!(
                                "message from unexpected publisher {pub_id}"
                            ))
                        })?;
                    let t = &mut out.trackers[i];
                    let before = t.in_order();
                    if let Some(msg) = t.record(v.header.seq, g) {
                        out.violation
                            .get_or_insert_with(|| format!("publisher {pub_id}: {msg}"));
                    }
                    if before < messages && t.in_order() >= messages {
                        complete += 1;
                    }
                    out.hist.record(now_ns.saturating_sub(v.header.sent_ns));
                    delivered += 1;
                    match qos {
                        1 => acks.append(wbuf, Ack::PubAck, v.pkid),
                        2 => {
                            let a = &mut awaiting_rel[usize::from(v.pkid)];
                            if !*a {
                                *a = true;
                                pending_rel += 1;
                            }
                            acks.append(wbuf, Ack::PubRec, v.pkid);
                        }
                        _ => {}
                    }
                }
                packet_type::PUBREL if qos == 2 => {
                    let pkid = wire::parse_ack(frame)?;
                    let a = &mut awaiting_rel[usize::from(pkid)];
                    if !*a {
                        return Err(BenchError::Protocol(format!(
                            "PUBREL for packet id {pkid} not received"
                        )));
                    }
                    *a = false;
                    pending_rel -= 1;
                    acks.append(wbuf, Ack::PubComp, pkid);
                }
                packet_type::DISCONNECT => {
                    return Err(BenchError::Protocol(
                        "subscriber: broker sent DISCONNECT".into(),
                    ));
                }
                t => {
                    return Err(BenchError::Protocol(format!(
                        "subscriber at QoS {qos}: unexpected packet type {t}"
                    )));
                }
            }
            Ok(())
        })?;
        if delivered > 0 {
            out.last_delivery = Some(now);
            Shared::add(&shared.received, delivered);
        }
        if pending_rel != rel_before {
            let a = &shared.awaiting_rel;
            a.set((a.get() + pending_rel as u64).saturating_sub(rel_before as u64));
        }
        conn.flush().await?;
    }
    Ok(out)
}

/// `connections`: open `connections` idle clients at `rate` per second, hold them, check each
/// answers PINGREQ, and read the broker's RSS growth.
async fn connections(
    p: &Params,
    shared: &Rc<Shared>,
    report: &mut Report,
) -> Result<(), BenchError> {
    let limit = sys::raise_nofile_limit().map_err(|e| BenchError::io("raise RLIMIT_NOFILE", e))?;
    if (p.connections as u64).saturating_add(64) > limit {
        return Err(BenchError::Usage(format!(
            "{} connections need more than the open-file limit of {limit}",
            p.connections
        )));
    }
    let addr = resolve(p).await?;
    let id = run_id(shared);
    let keep_alive = u16::try_from(p.hold.as_secs().saturating_mul(2).max(60)).unwrap_or(u16::MAX);
    let mut stats = ConnStats {
        rss_before: shared.pid.and_then(|pid| sys::proc_rss(pid).ok()),
        ..Default::default()
    };
    let start = Snapshot::take(p.broker_pid);
    shared.start.set(Some(start));

    let open: Rc<RefCell<Vec<Conn>>> = Rc::new(RefCell::new(Vec::with_capacity(p.connections)));
    let error: Rc<RefCell<Option<BenchError>>> = Rc::new(RefCell::new(None));
    let finished = Rc::new(Cell::new(0usize));
    let interval = Duration::from_secs_f64(1.0 / p.rate);
    let t0 = tokio::time::Instant::now();
    let mut spawned = 0;
    for i in 0..p.connections {
        let at = t0 + interval * i as u32;
        if at > tokio::time::Instant::now() {
            sleep_until(at).await;
        }
        if error.borrow().is_some() {
            break;
        }
        let (open, error, finished) = (Rc::clone(&open), Rc::clone(&error), Rc::clone(&finished));
        let client_id = format!("tb-{id}-c{i}");
        let version = p.version;
        spawn_local(async move {
            match Conn::connect(addr, version, &client_id, keep_alive, 64).await {
                Ok(c) => open.borrow_mut().push(c),
                Err(e) => {
                    error.borrow_mut().get_or_insert(e);
                }
            }
            finished.set(finished.get() + 1);
        });
        spawned += 1;
    }
    while finished.get() < spawned {
        sleep(Duration::from_millis(5)).await;
    }
    let mut conns = std::mem::take(&mut *open.borrow_mut());
    stats.opened = conns.len() as u64;
    stats.open_s = t0.elapsed().as_secs_f64();
    report.conns = Some(stats);
    if let Some(e) = error.borrow_mut().take() {
        return Err(BenchError::Protocol(format!(
            "after {} connections opened: {e}",
            stats.opened
        )));
    }

    sleep(p.hold).await;
    stats.rss_after = shared.pid.and_then(|pid| sys::proc_rss(pid).ok());
    report.conns = Some(stats);

    // Every connection must still be alive: PINGREQ all, then collect every PINGRESP.
    let ping = wire::encode_pingreq()?;
    for c in &mut conns {
        c.out.extend_from_slice(&ping);
        c.flush().await?;
    }
    report.sent = conns.len() as u64;
    for (i, c) in conns.iter_mut().enumerate() {
        let (header, _) = c.next_frame_owned().await.map_err(|e| {
            BenchError::Protocol(format!(
                "connection {i} did not answer PINGREQ after the hold: {e}"
            ))
        })?;
        if header >> 4 != packet_type::PINGRESP {
            return Err(BenchError::Protocol(format!(
                "connection {i}: expected PINGRESP, got packet type {}",
                header >> 4
            )));
        }
        stats.alive += 1;
        report.received += 1;
    }
    report.conns = Some(stats);
    start.finish_into(report);
    report.elapsed = report.window;

    let bye = wire::encode_disconnect(p.version)?;
    for c in &mut conns {
        c.out.extend_from_slice(&bye);
        // The run is over: a broker that already closed is not a failure.
        let _ = c.flush().await;
    }
    drop(conns);
    if stats.alive < p.connections as u64 {
        return Err(BenchError::Protocol(format!(
            "only {} of {} connections alive",
            stats.alive, p.connections
        )));
    }
    Ok(())
}
