//! Benchmarks for the subscription index and the retained store (`tern_core::index`,
//! `tern_core::retain`).
//!
//! - `index_match/{n}`: route one PUBLISH topic through an index of `n` subscriptions with mixed
//!   filters (1/3 exact, 1/3 with one or two `+`, 1/3 ending in `#`, depth 3-6).
//! - `index_sub_unsub/{n}`: subscribe a new filter to an index of `n` subscriptions, then
//!   unsubscribe it (the index returns to its previous size; nodes are created and pruned).
//! - `retain_match/{filter}`: walk 100,000 retained topics for a wildcard filter;
//!   `retain_get`: exact lookup.
//!
//! Sizes: `cargo bench` runs 10k and 100k subscriptions; set `TERN_BENCH_FULL=1` to add 1M
//! (about 1-2 s to build and ~200 MB). Under `cargo test --benches` (criterion's test mode, an
//! unoptimised build) only the 10k sizes run, each bench once.
//!
//! At setup each size prints the heap bytes per subscription / retained message, measured with
//! a counting global allocator (the only `unsafe` here: a forwarding `GlobalAlloc`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tern_core::index::{Match, SubscriptionIndex};
use tern_core::retain::RetainedStore;
use tern_core::topic::{TopicFilter, TopicName};

/// Forwards to the system allocator, counting live heap bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Whether criterion runs in test mode (`cargo test --benches`): no `--bench` argument.
fn test_mode() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn sizes() -> Vec<usize> {
    if test_mode() {
        vec![10_000]
    } else if std::env::var_os("TERN_BENCH_FULL").is_some_and(|v| v == "1") {
        vec![10_000, 100_000, 1_000_000]
    } else {
        vec![10_000, 100_000]
    }
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Topic levels: region / site / device / metric / channel / field, 10 × 100 × 1000 × 8 × 4 × 4.
const LEVELS: [(&str, u64); 6] = [
    ("r", 10),
    ("s", 100),
    ("d", 1000),
    ("m", 8),
    ("c", 4),
    ("f", 4),
];

fn random_levels(rng: &mut Rng) -> Vec<String> {
    let depth = 3 + rng.below(4) as usize; // 3..=6
    LEVELS[..depth]
        .iter()
        .map(|(p, n)| format!("{p}{}", rng.below(*n)))
        .collect()
}

fn random_topic(rng: &mut Rng) -> String {
    random_levels(rng).join("/")
}

/// Subscription `i`: 1/3 exact, 1/3 with one or two `+`, 1/3 `prefix/#` (prefix depth 2-5).
fn random_filter(rng: &mut Rng, i: usize) -> String {
    let mut levels = random_levels(rng);
    match i % 3 {
        0 => {}
        1 => {
            let at = rng.below(levels.len() as u64) as usize;
            levels[at] = "+".into();
            if rng.below(2) == 0 {
                let at = rng.below(levels.len() as u64) as usize;
                levels[at] = "+".into();
            }
        }
        _ => {
            let keep = 2 + rng.below(levels.len() as u64 - 1) as usize; // 2..=depth
            levels.truncate(keep.min(5));
            levels.push("#".into());
        }
    }
    levels.join("/")
}

fn build_index(n: usize) -> SubscriptionIndex<u32, u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let filters: Vec<String> = (0..n).map(|i| random_filter(&mut rng, i)).collect();
    let before = live_bytes();
    let start = std::time::Instant::now();
    let mut index = SubscriptionIndex::new();
    for (i, f) in filters.iter().enumerate() {
        index.subscribe(TopicFilter::new(f).unwrap(), i as u32, 1);
    }
    let elapsed = start.elapsed();
    let bytes = live_bytes() - before;
    eprintln!(
        "index {n}: built in {elapsed:.2?} ({:.0} ns/subscribe), {} nodes, {bytes} heap bytes = {:.0} B/subscription",
        elapsed.as_nanos() as f64 / n as f64,
        index.node_count(),
        bytes as f64 / n as f64,
    );
    index
}

fn count_matches(index: &SubscriptionIndex<u32, u8>, topic: &TopicName<'_>) -> usize {
    let mut count = 0;
    index.for_each_match(topic, |m| match m {
        Match::Subscription { .. } => count += 1,
        Match::Shared { members, .. } => count += members.len(),
    });
    count
}

fn bench_index(c: &mut Criterion) {
    let topic = TopicName::new("r3/s42/d512/m5/c1").unwrap();
    let miss = TopicName::new("other/s42/d512/m5").unwrap();
    for n in sizes() {
        let index = build_index(n);
        eprintln!(
            "index {n}: {} matches for {topic}, {} for {miss}",
            count_matches(&index, &topic),
            count_matches(&index, &miss)
        );

        let mut group = c.benchmark_group("index_match");
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("hit", n), &n, |b, _| {
            b.iter(|| count_matches(black_box(&index), black_box(&topic)))
        });
        group.bench_with_input(BenchmarkId::new("miss", n), &n, |b, _| {
            b.iter(|| count_matches(black_box(&index), black_box(&miss)))
        });
        group.finish();

        let mut index = index;
        let mut rng = Rng(42);
        let fresh: Vec<String> = (0..1024).map(|i| random_filter(&mut rng, i)).collect();
        let mut k = 0usize;
        let mut group = c.benchmark_group("index_sub_unsub");
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let f = TopicFilter::new(&fresh[k % fresh.len()]).unwrap();
                k += 1;
                // A client id no built subscription uses, so this is always a new subscription.
                let client = u32::MAX;
                black_box(index.subscribe(f, client, 2));
                black_box(index.unsubscribe(f, &client))
            })
        });
        group.finish();
    }
}

fn bench_retain(c: &mut Criterion) {
    let n = if test_mode() { 10_000 } else { 100_000 };
    let mut rng = Rng(7);
    let before = live_bytes();
    let mut store: RetainedStore<u64> = RetainedStore::new();
    while store.len() < n {
        let t = random_topic(&mut rng);
        store.set(TopicName::new(&t).unwrap(), 0).unwrap();
    }
    let bytes = live_bytes() - before;
    eprintln!(
        "retain {n}: {} nodes, {bytes} heap bytes = {:.0} B/message (M = u64)",
        store.node_count(),
        bytes as f64 / n as f64
    );

    let mut group = c.benchmark_group("retain_match");
    for filter in ["r3/s42/+/+", "r3/s42/#", "+/s42/d512/#", "r3/+/+/m5/#", "#"] {
        let f = TopicFilter::new(filter).unwrap();
        let mut hits = 0usize;
        store.for_each_matching(&f, |_, _| hits += 1);
        eprintln!("retain {n}: {hits} messages match {filter}");
        group.bench_with_input(BenchmarkId::new(filter, n), &f, |b, f| {
            b.iter(|| {
                let mut hits = 0usize;
                store.for_each_matching(black_box(f), |t, _| hits += t.len());
                hits
            })
        });
    }
    group.finish();

    let mut probe = Rng(7);
    let topics: Vec<String> = (0..1024).map(|_| random_topic(&mut probe)).collect();
    let mut k = 0usize;
    c.bench_function("retain_get", |b| {
        b.iter(|| {
            k += 1;
            let t = TopicName::new(&topics[k % topics.len()]).unwrap();
            black_box(store.get(black_box(&t)))
        })
    });
}

criterion_group!(benches, bench_index, bench_retain);
criterion_main!(benches);
