//! Integration and interop tests for Tern live in `tests/tests/`; this library holds shared helpers.
