//! TEMPORARY SHIM (not committed): replaced by the sim-kernel branch's stats.
#![allow(missing_docs)]
use crate::Timestamp;

#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    buckets: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}
const SUB: u32 = 7;
impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}
impl LatencyHistogram {
    pub fn new() -> Self {
        Self {
            buckets: vec![0; 64 << SUB],
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }
    fn idx(v: u64) -> usize {
        if v < (1 << SUB) {
            v as usize
        } else {
            let e = 63 - v.leading_zeros();
            let shift = e - SUB;
            (((e - SUB + 1) << SUB) as u64 + ((v >> shift) - (1 << SUB))) as usize
        }
    }
    fn value(i: usize) -> u64 {
        let i = i as u64;
        if i < (1 << SUB) {
            i
        } else {
            let e = (i >> SUB) as u32 - 1 + SUB;
            let m = (i & ((1 << SUB) - 1)) + (1 << SUB);
            let shift = e - SUB;
            (m << shift) + ((1u64 << shift) >> 1)
        }
    }
    pub fn record(&mut self, v: u64) {
        self.buckets[Self::idx(v)] += 1;
        self.count += 1;
        self.sum += v as u128;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }
    pub fn count(&self) -> u64 {
        self.count
    }
    pub fn mean_ns(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.sum as f64 / self.count as f64
        }
    }
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        let mut c = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            c += b;
            if c >= rank {
                return Self::value(i).clamp(self.min, self.max);
            }
        }
        self.max
    }
    pub fn clear(&mut self) {
        if self.count > 0 {
            self.buckets.iter_mut().for_each(|b| *b = 0);
        }
        self.count = 0;
        self.sum = 0;
        self.min = u64::MAX;
        self.max = 0;
    }
}
#[derive(Clone, Debug)]
pub struct TimeWeighted {
    start: Timestamp,
    last: Timestamp,
    value: f64,
    integral: f64,
}
impl TimeWeighted {
    pub fn new(start: Timestamp, initial: f64) -> Self {
        Self {
            start,
            last: start,
            value: initial,
            integral: 0.0,
        }
    }
    pub fn set(&mut self, now: Timestamp, v: f64) {
        self.integral += self.value * (now - self.last).as_nanos() as f64;
        self.last = now;
        self.value = v;
    }
    pub fn mean(&self, now: Timestamp) -> f64 {
        let total = (now - self.start).as_nanos() as f64;
        if total == 0.0 {
            return self.value;
        }
        (self.integral + self.value * (now - self.last).as_nanos() as f64) / total
    }
    pub fn reset(&mut self, now: Timestamp) {
        self.start = now;
        self.last = now;
        self.integral = 0.0;
    }
}
#[derive(Clone, Copy, Debug)]
pub struct ConfidenceInterval {
    pub mean: f64,
    pub half_width: f64,
    pub n: usize,
}
pub fn ci95(xs: &[f64]) -> ConfidenceInterval {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let n = xs.len();
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return ConfidenceInterval {
            mean,
            half_width: f64::NAN,
            n,
        };
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .unwrap()
        .inverse_cdf(0.975);
    ConfidenceInterval {
        mean,
        half_width: t * (var / n as f64).sqrt(),
        n,
    }
}
