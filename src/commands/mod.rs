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

/// Loads with `sets` and then `flags` (the `--set`s a flag such as `--seed`
/// stands for). Should that fail, and the scenario with `sets` alone fails
/// too, the latter error is returned: it names the scenario's own mistake
/// (a missing `[run]` table, say), where the former would blame a `--set`
/// the user never typed.
pub fn load_flagged<T, E>(
    sets: &[String],
    flags: &[String],
    load: impl Fn(&[String]) -> Result<T, E>,
) -> Result<T, E> {
    let all: Vec<String> = sets.iter().chain(flags).cloned().collect();
    match load(&all) {
        Err(flagged) if !flags.is_empty() => match load(sets) {
            Err(own) => Err(own),
            Ok(_) => Err(flagged),
        },
        result => result,
    }
}
