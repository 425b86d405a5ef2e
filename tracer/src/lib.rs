//! The sentrace tracer engine.
