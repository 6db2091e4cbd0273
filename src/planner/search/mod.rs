//! `mode = "search"`: the cheapest point whose SLO holds, found with a
//! fraction of a grid sweep's runs.
//!
//! Three ideas, combined (see `driver` for the loop):
//! - **racing** (`verdict`): a point gets replications only while its SLO
//!   verdict is in doubt at 95 % and its cost rank against the best point is
//!   not known (paired, common random numbers): costlier, or not cheaper by
//!   more than `sweep.cost_tolerance`;
//! - **monotonicity** (`lattice`): a parameter declared `monotone` settles
//!   whole regions from one run: below a point that fails, everything
//!   fails; above a point that holds, nothing is cheaper; level probes
//!   (`driver`) pick the runs that settle the most that way;
//! - **a surrogate** (`gp`, `surrogate`): a Gaussian process per output
//!   proposes the next points (constrained expected improvement) and says
//!   when no untried point is likely to beat the best.
//!
//! `report` writes `search.csv` and the search's part of `summary.md`; the
//! other files are the grid's, built from the runs made.

pub mod driver;
pub mod gp;
pub mod lattice;
pub mod report;
pub mod surrogate;
pub mod verdict;
