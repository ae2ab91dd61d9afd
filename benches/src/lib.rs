//! Shared code for the Tern benchmarks and the `tern-bench` load tool.
