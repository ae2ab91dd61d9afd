//! Placeholder: subscription index.
