//! Which share of a sweep's points this process runs: `--shard K/N`, or the
//! index a batch system hands each task (a Slurm array's
//! `SLURM_ARRAY_TASK_ID`, a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`).
//!
//! Shard `K` of `N` (1-based) runs the points `p` with `p mod N = K - 1`:
//! round robin, so neighbouring points, which tend to cost alike (a grid
//! varies its last parameter fastest), land on different shards.

use std::fmt;

/// Shard `index` of `count`, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// 1-based index.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

/// Most shards one sweep may be split into.
pub const MAX_SHARDS: u32 = 100_000;

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Parses `K/N` (1 <= K <= N).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "--shard {text}: expected K/N with 1 <= K <= N <= {MAX_SHARDS}, e.g. `--shard 2/8`"
            )
        };
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let k: u32 = k.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        Shard::new(k, n).ok_or_else(bad)
    }

    /// Shard `index` of `count` if `1 <= index <= count <= MAX_SHARDS`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (1..=count).contains(&index).then_some(())?;
        (count <= MAX_SHARDS).then_some(Shard { index, count })
    }

    /// Whether point `point` (0-based) belongs to this shard.
    pub fn owns(&self, point: usize) -> bool {
        point % self.count as usize == (self.index - 1) as usize
    }

    /// The points of `0..n` this shard runs, in order.
    pub fn points(&self, n: usize) -> Vec<usize> {
        (0..n).filter(|&p| self.owns(p)).collect()
    }

    /// The shard for this process: `--shard` if given, else from the batch
    /// system's environment (`env` looks a variable up), else `None` (the
    /// whole sweep). `shards` is `--shards N`, needed with
    /// `JOB_COMPLETION_INDEX`.
    pub fn resolve(
        flag: Option<&str>,
        shards: Option<u32>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Shard>, String> {
        if let Some(text) = flag {
            let shard = Shard::parse(text)?;
            if let Some(n) = shards.filter(|&n| n != shard.count) {
                return Err(format!("--shard {text} disagrees with --shards {n}"));
            }
            return Ok(Some(shard));
        }
        let int = |name: &str| -> Result<Option<i64>, String> {
            match env(name) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| format!("{name}={v}: expected an integer")),
            }
        };
        if let Some(id) = int("SLURM_ARRAY_TASK_ID")? {
            let (min, max, count) = (
                int("SLURM_ARRAY_TASK_MIN")?,
                int("SLURM_ARRAY_TASK_MAX")?,
                int("SLURM_ARRAY_TASK_COUNT")?,
            );
            let (k, n) = match (min, max, count) {
                (Some(min), Some(max), count) => {
                    let n = max - min + 1;
                    if count.is_some_and(|c| c != n) {
                        return Err(format!(
                            "SLURM_ARRAY_TASK_COUNT={} but the array spans {min}-{max}: use a contiguous array such as --array=1-{}",
                            count.unwrap_or_default(),
                            count.unwrap_or_default()
                        ));
                    }
                    (id - min + 1, n)
                }
                (_, _, Some(count)) => (id, count),
                _ => {
                    return Err("SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MIN/MAX is; run inside a Slurm array job or pass --shard K/N".into());
                }
            };
            if let Some(s) = shards.filter(|&s| i64::from(s) != n) {
                return Err(format!(
                    "--shards {s} disagrees with the Slurm array of {n} tasks"
                ));
            }
            return to_shard(k, n, "SLURM_ARRAY_TASK_ID");
        }
        if let Some(index) = int("JOB_COMPLETION_INDEX")? {
            let Some(n) = shards else {
                return Err("JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job): pass --shards N with the Job's completions".into());
            };
            return to_shard(index + 1, i64::from(n), "JOB_COMPLETION_INDEX");
        }
        if let Some(n) = shards {
            return Err(format!(
                "--shards {n} needs a shard index: --shard K/{n}, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX"
            ));
        }
        Ok(None)
    }
}

fn to_shard(k: i64, n: i64, source: &str) -> Result<Option<Shard>, String> {
    let fit = |x: i64| u32::try_from(x).ok();
    match (fit(k), fit(n)) {
        (Some(k), Some(n)) if Shard::new(k, n).is_some() => Ok(Shard::new(k, n)),
        _ => Err(format!(
            "{source} gives shard {k} of {n}: expected 1 <= K <= N <= {MAX_SHARDS}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn parse_and_ownership() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["4/3", "0/3", "1/0", "x/2", "2", "1/2/3", "-1/2"] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("1 <= K <= N"), "{e}");
        }
        let shards: Vec<Vec<usize>> = (1..=3)
            .map(|k| Shard::new(k, 3).unwrap().points(7))
            .collect();
        assert_eq!(shards, [vec![0, 3, 6], vec![1, 4], vec![2, 5]]);
        assert_eq!(Shard::ALL.points(3), [0, 1, 2]);
    }

    #[test]
    fn batch_system_environments() {
        let none = env(&[]);
        assert_eq!(Shard::resolve(None, None, &none), Ok(None));
        assert_eq!(
            Shard::resolve(Some("1/2"), None, env(&[("SLURM_ARRAY_TASK_ID", "2")])),
            Ok(Shard::new(1, 2)),
            "the flag wins"
        );
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
            ("SLURM_ARRAY_TASK_MAX", "6"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(
            Shard::resolve(None, None, env(&slurm)),
            Ok(Shard::new(2, 3))
        );
        let counted = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(
            Shard::resolve(None, None, env(&counted)),
            Ok(Shard::new(3, 3))
        );
        let stepped = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert!(
            Shard::resolve(None, None, env(&stepped))
                .unwrap_err()
                .contains("contiguous")
        );
        let k8s = [("JOB_COMPLETION_INDEX", "0")];
        assert_eq!(
            Shard::resolve(None, Some(4), env(&k8s)),
            Ok(Shard::new(1, 4))
        );
        assert!(
            Shard::resolve(None, None, env(&k8s))
                .unwrap_err()
                .contains("--shards")
        );
        let past = [("JOB_COMPLETION_INDEX", "4")];
        assert!(
            Shard::resolve(None, Some(4), env(&past))
                .unwrap_err()
                .contains("5 of 4")
        );
        assert!(
            Shard::resolve(None, Some(4), &none).is_err(),
            "--shards alone"
        );
    }
}
