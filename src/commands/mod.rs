//! One module per subcommand.

pub mod check;
pub mod compare;
pub mod merge;
pub mod plot;
pub mod recommend;
pub mod replay;
pub mod run;
pub mod search;
pub mod sweep;
pub mod trace;
pub mod trace_cache;
pub mod trace_fit;
pub mod trace_inspect;
pub mod trace_plot;
pub mod trace_synth;
