//! The interfaces through which the engine sends events and checks whether
//! to reject a syscall.

use protocol::{Event, EventKind};

/// Receives the events of a traced workload.
///
/// The engine calls [`EventSink::emit`] on its own thread between two ptrace
/// stops, so an implementation must return quickly and never block on I/O
/// that a peer controls: the workload waits while it runs.
pub trait EventSink: Send {
    /// Takes one event.
    fn emit(&mut self, event: Event);

    /// Flushes buffered events; called when the last tracee has exited.
    fn flush(&mut self) {}

    /// Writes buffered events out without ending the session. The engine
    /// calls it after an event that may be the tracer's last, such as a
    /// signal sent to the tracer. The default does nothing.
    fn flush_buffered(&mut self) {}
}

/// Decides at syscall entry whether a syscall is refused with `EPERM`.
pub trait SyscallGate: Send {
    /// Returns the id of the rule that denies this event, if any. The event's
    /// `retval` fields are 0 because the syscall has not run yet.
    fn deny(&self, event: &Event) -> Option<String>;

    /// Returns false when no rule of the gate reads events of `kind`. The
    /// engine then leaves out what only the gate reads at syscall entry,
    /// such as the argument and environment lists of an exec, which the
    /// exec event takes from the kernel's copy. The default is true.
    fn checks(&self, kind: EventKind) -> bool {
        let _ = kind;
        true
    }
}
