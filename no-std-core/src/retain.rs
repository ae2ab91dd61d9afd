//! Placeholder: retained store.
