//! The sentrace probe.
