//! The contract between the sentrace tracer and probe: the event model
//! ([`event`]), the messages and their TCP framing ([`wire`]), which syscalls
//! produce which event types ([`syscalls`]), event timestamps ([`time`]),
//! and the user session a process runs in ([`user_session`]).

pub mod event;
pub mod syscalls;
pub mod time;
pub mod user_session;
pub mod wire;

pub use event::*;
pub use user_session::*;
pub use wire::*;
