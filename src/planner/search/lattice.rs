//! The search space as a lattice: every combination of every parameter's
//! values, numbered as a grid sweep numbers them (first parameter slowest),
//! and the order monotone parameters put on it.
//!
//! A monotone parameter's values run from least to most capacity. For two
//! points that differ only in monotone parameters, `a <= b` when every
//! monotone coordinate of `a` is at most `b`'s: `b` is then no worse on the
//! SLO metrics and no cheaper. So a point that fails its SLO settles every
//! point below it, and a point that holds settles every point above it (none
//! of them can be cheaper).

/// The lattice of a search.
#[derive(Clone, Debug)]
pub struct Lattice {
    /// Values per parameter.
    sizes: Vec<usize>,
    /// Whether each parameter is monotone.
    monotone: Vec<bool>,
    /// Per parameter, each value's surrogate input in `[0, 1]`.
    scales: Vec<Vec<f64>>,
}

impl Lattice {
    /// A lattice with `sizes[j]` values of parameter `j`, each value's
    /// surrogate input its rank scaled to `[0, 1]`.
    pub fn new(sizes: Vec<usize>, monotone: Vec<bool>) -> Lattice {
        let scales = sizes
            .iter()
            .map(|&n| {
                (0..n)
                    .map(|x| {
                        if n > 1 {
                            x as f64 / (n - 1) as f64
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        Lattice {
            sizes,
            monotone,
            scales,
        }
    }

    /// A lattice over `levels`: numeric values (integers, floats,
    /// durations) in ascending order, all positive and spanning a ratio of 4
    /// or more, get logarithmic places (capacity acts by ratios: 2 -> 4
    /// replicas is as big a step as 8 -> 16); others their rank. The places
    /// are kept in `scales`, which `position` does not read yet (see there).
    pub fn over(levels: &[Vec<toml::Value>], monotone: Vec<bool>) -> Lattice {
        let mut l = Lattice::new(levels.iter().map(Vec::len).collect(), monotone);
        for (j, values) in levels.iter().enumerate() {
            let xs: Option<Vec<f64>> = values.iter().map(numeric).collect();
            let Some(xs) = xs else { continue };
            let ascending = xs.windows(2).all(|w| w[0] < w[1]);
            let (lo, hi) = (xs[0], xs[xs.len() - 1]);
            if ascending && lo > 0.0 && hi / lo >= 4.0 {
                let span = (hi / lo).ln();
                l.scales[j] = xs.iter().map(|x| (x / lo).ln() / span).collect();
            }
        }
        l
    }

    /// Points in all.
    pub fn len(&self) -> usize {
        self.sizes.iter().product()
    }

    /// The value positions of point `index`.
    pub fn coords(&self, mut index: usize) -> Vec<usize> {
        let mut c = vec![0; self.sizes.len()];
        for j in (0..self.sizes.len()).rev() {
            c[j] = index % self.sizes[j];
            index /= self.sizes[j];
        }
        c
    }

    /// The index of the point at value positions `c`.
    pub fn index(&self, c: &[usize]) -> usize {
        c.iter()
            .zip(&self.sizes)
            .fold(0, |acc, (&x, &n)| acc * n + x)
    }

    /// Point `index` as surrogate inputs: each value's rank along its axis
    /// in `[0, 1]` (0 for a parameter with one value). Not the logarithmic
    /// places `over` computes: every validated figure (experiments/README.md,
    /// "Adaptive search") is with ranks, and switching needs a re-run.
    pub fn position(&self, index: usize) -> Vec<f64> {
        self.coords(index)
            .iter()
            .zip(&self.sizes)
            .map(|(&x, &n)| {
                if n > 1 {
                    x as f64 / (n - 1) as f64
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Whether `b` is at or above `a`: equal non-monotone coordinates and
    /// every monotone coordinate of `b` at least `a`'s.
    pub fn at_or_above(&self, a: &[usize], b: &[usize]) -> bool {
        (0..self.sizes.len()).all(|j| {
            if self.monotone[j] {
                b[j] >= a[j]
            } else {
                b[j] == a[j]
            }
        })
    }

    /// Calls `f` with every point at or below `top` (itself included).
    pub fn for_each_below(&self, top: usize, mut f: impl FnMut(usize)) {
        let top = self.coords(top);
        let mut c: Vec<usize> = (0..top.len())
            .map(|j| if self.monotone[j] { 0 } else { top[j] })
            .collect();
        loop {
            f(self.index(&c));
            // Odometer over the monotone coordinates, each 0..=top[j].
            let mut j = c.len();
            loop {
                if j == 0 {
                    return;
                }
                j -= 1;
                if self.monotone[j] && c[j] < top[j] {
                    c[j] += 1;
                    break;
                }
                if self.monotone[j] {
                    c[j] = 0;
                }
            }
        }
    }

    /// The point with monotone coordinates at their most and the others
    /// at their middle value; `None` without a monotone parameter.
    pub fn most_capacity(&self) -> Option<usize> {
        if !self.monotone.iter().any(|&m| m) {
            return None;
        }
        let c: Vec<usize> = (0..self.sizes.len())
            .map(|j| {
                if self.monotone[j] {
                    self.sizes[j] - 1
                } else {
                    (self.sizes[j] - 1) / 2
                }
            })
            .collect();
        Some(self.index(&c))
    }

    /// Whether parameter `j` is monotone.
    pub fn is_monotone(&self, j: usize) -> bool {
        self.monotone[j]
    }

    /// Values of parameter `j`.
    pub fn size(&self, j: usize) -> usize {
        self.sizes[j]
    }

    /// The point of `anchor`'s non-monotone values with monotone parameter
    /// `j` at value `v` and every other monotone parameter at its most
    /// (`ceiling`) or its least: the most and the least capacity of level
    /// `v` of `j` in `anchor`'s slice. If the ceiling fails, every point of
    /// the level (and of the levels below) fails; the floor is the level's
    /// cheapest point.
    pub fn level_point(&self, anchor: &[usize], j: usize, v: usize, ceiling: bool) -> usize {
        let c: Vec<usize> = (0..self.sizes.len())
            .map(|k| match (k == j, self.monotone[k], ceiling) {
                (true, _, _) => v,
                (false, false, _) => anchor[k],
                (false, true, true) => self.sizes[k] - 1,
                (false, true, false) => 0,
            })
            .collect();
        self.index(&c)
    }

    /// The point at every parameter's middle value.
    pub fn center(&self) -> usize {
        let c: Vec<usize> = self.sizes.iter().map(|&n| (n - 1) / 2).collect();
        self.index(&c)
    }

    /// The points one value away from `index` along one parameter.
    pub fn neighbours(&self, index: usize) -> Vec<usize> {
        let c = self.coords(index);
        let mut out = Vec::new();
        for j in 0..c.len() {
            for step in [-1i64, 1] {
                let v = c[j] as i64 + step;
                if v >= 0 && (v as usize) < self.sizes[j] {
                    let mut n = c.clone();
                    n[j] = v as usize;
                    out.push(self.index(&n));
                }
            }
        }
        out
    }
}

/// A value as a number: integers, floats and duration strings.
fn numeric(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(n) => Some(*n as f64),
        toml::Value::Float(x) => Some(*x),
        toml::Value::String(s) => headroom_sim::Span::parse(s)
            .ok()
            .map(|s| s.as_nanos() as f64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_follow_the_grid_order() {
        let l = Lattice::new(vec![3, 2, 4], vec![true, false, true]);
        assert_eq!(l.len(), 24);
        assert_eq!(l.coords(0), [0, 0, 0]);
        assert_eq!(l.coords(1), [0, 0, 1], "last parameter varies fastest");
        assert_eq!(l.coords(23), [2, 1, 3]);
        for i in 0..24 {
            assert_eq!(l.index(&l.coords(i)), i);
        }
        assert_eq!(l.position(l.index(&[1, 1, 3])), [0.5, 1.0, 1.0]);
    }

    #[test]
    fn below_spans_the_monotone_box_only() {
        let l = Lattice::new(vec![3, 2, 4], vec![true, false, true]);
        let top = l.index(&[1, 1, 2]);
        let mut below = Vec::new();
        l.for_each_below(top, |i| below.push(l.coords(i)));
        assert_eq!(below.len(), 2 * 3, "monotone coords 0..=1 x 0..=2");
        assert!(below.iter().all(|c| c[1] == 1 && c[0] <= 1 && c[2] <= 2));
        assert!(below.iter().all(|c| l.at_or_above(c, &[1, 1, 2])));
        assert!(
            !l.at_or_above(&[0, 0, 0], &[1, 1, 2]),
            "other non-monotone value"
        );
        let none = Lattice::new(vec![3], vec![false]);
        let mut n = 0;
        none.for_each_below(2, |_| n += 1);
        assert_eq!(n, 1, "without monotone parameters only the point itself");
    }

    #[test]
    fn numeric_axes_spanning_ratios_are_placed_by_logarithm() {
        let ints = |v: &[i64]| v.iter().map(|&x| toml::Value::Integer(x)).collect();
        let l = Lattice::over(
            &[
                ints(&[1, 2, 4, 8]),
                ints(&[10, 11, 12]),
                vec!["a".into(), "b".into()],
            ],
            vec![false; 3],
        );
        let p = l.position(l.index(&[1, 1, 1]));
        assert!((p[0] - 1.0 / 3.0).abs() < 1e-12, "log2 steps: {p:?}");
        assert_eq!(p[1], 0.5, "a narrow range keeps ranks");
        assert_eq!(p[2], 1.0, "names keep ranks");
    }

    #[test]
    fn starting_points() {
        let l = Lattice::new(vec![5, 4], vec![true, false]);
        assert_eq!(l.coords(l.most_capacity().unwrap()), [4, 1]);
        assert_eq!(l.coords(l.center()), [2, 1]);
        assert_eq!(l.neighbours(l.index(&[0, 3])).len(), 2);
        assert!(Lattice::new(vec![2], vec![false]).most_capacity().is_none());
    }

    #[test]
    fn a_level_spans_its_slice_from_floor_to_ceiling() {
        let l = Lattice::new(vec![4, 3, 5], vec![true, false, true]);
        let anchor = [3, 2, 4];
        assert!(l.is_monotone(0) && !l.is_monotone(1) && l.size(2) == 5);
        assert_eq!(l.coords(l.level_point(&anchor, 0, 1, true)), [1, 2, 4]);
        assert_eq!(l.coords(l.level_point(&anchor, 0, 1, false)), [1, 2, 0]);
        assert_eq!(l.coords(l.level_point(&anchor, 2, 0, true)), [3, 2, 0]);
        assert_eq!(l.coords(l.level_point(&anchor, 2, 3, false)), [0, 2, 3]);
        // Every point of the level in the slice is at or below its ceiling
        // and at or above its floor.
        let (top, floor) = (
            l.level_point(&anchor, 0, 1, true),
            l.level_point(&anchor, 0, 1, false),
        );
        let mut n = 0;
        l.for_each_below(top, |i| {
            let c = l.coords(i);
            if c[0] == 1 {
                n += 1;
                assert!(l.at_or_above(&l.coords(floor), &c));
            }
        });
        assert_eq!(n, 5, "the level is the last monotone parameter's 5 values");
    }
}
