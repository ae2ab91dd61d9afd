//! Placeholder: filled in by the topic work.
