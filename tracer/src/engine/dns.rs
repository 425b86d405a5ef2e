//! DNS under ptrace: `dns` events for the queries a traced process sends,
//! and the names behind the addresses it connects to
//! (`connect.addr.hostname`).
//!
//! # How lookups are seen
//!
//! Tracing every send and receive would stop every process on every
//! network write. Instead the tracer waits for the start of a lookup, a
//! syscall that it traces anyway or can trace at little cost:
//!
//! - glibc connects a socket to the name server's port 53 and then uses
//!   `send`/`sendmmsg`/`writev` and `recvfrom`/`read` on it. `connect` is
//!   traced already; its exit stop starts following the thread.
//! - musl sends each query with `sendto(fd, ..., ns:53)` on an unconnected
//!   socket. The seccomp filter traces `sendto` only when its destination
//!   argument is not NULL, so sends on connected sockets (most of them)
//!   never stop.
//!
//! A followed thread is resumed with `PTRACE_SYSCALL`, so it stops at the
//! entry and exit of every syscall. At the exit of a send or receive on a
//! followed socket the tracer reads the bytes moved, splits them into DNS
//! messages (one per UDP datagram, or 2-byte length prefixed on TCP), and
//! emits a `dns` event per query. A response whose id matches a query sent
//! on the same socket adds its A and AAAA records to a [`HostnameCache`]
//! shared by every process of the session. The thread goes back to
//! seccomp-only stops once it has closed every followed socket, or after
//! [`watch::WATCH_SYSCALLS`] syscalls without a DNS message.
//!
//! The trade-off: a process that does no DNS pays nothing, and one that
//! resolves a name pays two stops for each of the few syscalls of a lookup.
//! A glibc 2.36 `getaddrinfo` of A and AAAA over UDP took 19 more stops
//! than without DNS following (counted with `sentrace trace --verbose`). A
//! process that keeps a socket to port 53 open and does other work on the
//! same thread pays the same for up to [`watch::WATCH_SYSCALLS`] unrelated
//! syscalls after each query. A process that sends datagrams with `sendto`
//! and a destination (a UDP server answering its clients) stops once per
//! such send, because the filter cannot read the port behind the pointer.
//!
//! # Limitations
//!
//! - Only the thread that connected or sent to port 53 is followed. A
//!   resolver that sends on one thread and receives on another (Go's
//!   netpoller can) produces its `dns` events, but its answers do not reach
//!   the hostname cache.
//! - Lookups through a local stub over another port or a UNIX socket
//!   (systemd-resolved's varlink, nscd) are not seen; the stub's own queries
//!   are, when it is traced. DNS over TLS or HTTPS is not seen.
//! - A query sent with `sendmsg` and a destination address in the
//!   `msghdr`, without a connect, is not seen, because seccomp cannot read
//!   the `msghdr`.
//! - `connect.addr.hostname` is the question name of the answer, not the
//!   end of its CNAME chain.
//! - Rules on `connect.addr.hostname` alone make the probe request connect
//!   but not sendto, so lookups in the musl style (sendto without connect)
//!   fill no hostnames unless a rule also uses a `dns` field.

pub mod cache;
pub mod message;
pub mod transfer;
pub mod watch;

pub use cache::HostnameCache;
pub use watch::Watch;

/// The port name servers listen on.
pub const DNS_PORT: u16 = 53;
