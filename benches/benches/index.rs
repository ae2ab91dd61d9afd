//! Placeholder: index benchmarks.
fn main() {}
