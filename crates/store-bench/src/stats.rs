//! Turning per-operation latencies into the figures the report shows.
//!
//! Throughput is computed from the sum of the latencies (the time the subject actually
//! spent in its operations, never the time another subject spent in between), and the
//! ratio compares nanoseconds per operation, so a ratio of 1.10 means the store needs 10 %
//! more time per operation than the baseline.

/// The figures of one subject on one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// How many operations were timed.
    pub operations: usize,
    /// Mean nanoseconds per operation.
    pub ns_per_op: f64,
    /// Operations per second, `1e9 / ns_per_op`.
    pub ops_per_sec: f64,
    /// Median latency in nanoseconds.
    pub p50_ns: u64,
    /// 99th-percentile latency in nanoseconds.
    pub p99_ns: u64,
    /// The slowest operation in nanoseconds.
    pub max_ns: u64,
}

impl Summary {
    /// Summarises latencies in nanoseconds (sorting them); `None` when there are none.
    #[must_use]
    pub fn of(latencies: &mut [u64]) -> Option<Summary> {
        if latencies.is_empty() {
            return None;
        }
        latencies.sort_unstable();
        let total: u128 = latencies.iter().map(|&latency| u128::from(latency)).sum();
        #[allow(clippy::cast_precision_loss)] // nanosecond totals stay far below 2^52
        let ns_per_op = total as f64 / latencies.len() as f64;
        Some(Summary {
            operations: latencies.len(),
            ns_per_op,
            ops_per_sec: if ns_per_op > 0.0 {
                1e9 / ns_per_op
            } else {
                f64::INFINITY
            },
            p50_ns: percentile(latencies, 50.0),
            p99_ns: percentile(latencies, 99.0),
            max_ns: latencies[latencies.len() - 1],
        })
    }
}

/// The nearest-rank percentile of sorted values: the smallest value such that at least
/// `percent` % of the values are at or below it. 0 for no values.
#[must_use]
pub fn percentile(sorted: &[u64], percent: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = ((percent.clamp(0.0, 100.0) / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The store's time per operation over the baseline's: below 1 the store is faster.
#[must_use]
pub fn ratio(store: &Summary, baseline: &Summary) -> f64 {
    if baseline.ns_per_op > 0.0 {
        store.ns_per_op / baseline.ns_per_op
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_good_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50.0), 50);
        assert_eq!(percentile(&sorted, 99.0), 99);
        assert_eq!(percentile(&sorted, 100.0), 100);
        assert_eq!(percentile(&sorted, 0.0), 1);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[1, 2, 3], 50.0), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), 2);
    }

    #[test]
    fn percentile_bad_empty_is_zero() {
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn summary_good_sorts_and_averages() {
        let mut latencies = vec![400, 100, 300, 200];
        let summary = Summary::of(&mut latencies).unwrap_or_else(|| unreachable!());
        assert_eq!(summary.operations, 4);
        assert!((summary.ns_per_op - 250.0).abs() < 1e-9);
        assert!((summary.ops_per_sec - 4_000_000.0).abs() < 1e-3);
        assert_eq!(
            (summary.p50_ns, summary.p99_ns, summary.max_ns),
            (200, 400, 400)
        );
    }

    #[test]
    fn summary_bad_empty_is_none() {
        assert!(Summary::of(&mut []).is_none());
    }

    #[test]
    fn ratio_good_is_store_time_over_baseline_time() {
        let store = Summary::of(&mut [110, 110]).unwrap_or_else(|| unreachable!());
        let baseline = Summary::of(&mut [100, 100]).unwrap_or_else(|| unreachable!());
        assert!((ratio(&store, &baseline) - 1.1).abs() < 1e-9);
        assert!((ratio(&baseline, &store) - 100.0 / 110.0).abs() < 1e-9);
    }

    #[test]
    fn ratio_bad_zero_baseline_is_infinite() {
        let store = Summary::of(&mut [1]).unwrap_or_else(|| unreachable!());
        let baseline = Summary::of(&mut [0]).unwrap_or_else(|| unreachable!());
        assert!(ratio(&store, &baseline).is_infinite());
    }
}
