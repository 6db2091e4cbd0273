//! One module per subcommand.

pub mod check;
pub mod compare;
pub mod merge;
pub mod plot;
pub mod recommend;
pub mod run;
pub mod sweep;
