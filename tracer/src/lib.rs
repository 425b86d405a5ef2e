//! The sentrace tracer: the ptrace + seccomp engine ([`engine`]), where its
//! events go ([`sink`]), and the link to a probe ([`link`]).

pub mod engine;
pub mod link;
pub mod output;
pub mod sink;
