//! Placeholder: codec benchmarks.
fn main() {}
