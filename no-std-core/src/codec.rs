//! Placeholder: filled in by the codec work.
