//! One module per subcommand: its arguments and its entry point, which returns
//! the process exit status.

pub mod probe;
pub mod rules;
pub mod run;
pub mod setup;
pub mod trace;
pub mod workload;
