//! The contract between the sentrace tracer and probe: the event model
//! ([`event`]), the messages and their TCP framing ([`wire`]), which syscalls
//! produce which event types ([`syscalls`]), and event timestamps ([`time`]).

pub mod event;
pub mod syscalls;
pub mod time;
pub mod wire;

pub use event::*;
pub use wire::*;
