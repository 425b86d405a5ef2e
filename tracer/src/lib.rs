//! The sentrace tracer engine.

pub mod link;
pub mod sink;
