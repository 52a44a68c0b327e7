//! A small measuring harness: each case runs in rounds after a warm-up, and the median
//! round is reported, so one noisy round on a shared machine does not move the figure.
//! Each benchmark uses the helpers it needs.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Nanoseconds per operation of `op`, the median of `rounds` rounds of `per_round`.
pub fn ns_per_op(rounds: usize, per_round: u32, mut op: impl FnMut()) -> f64 {
    for _ in 0..per_round / 4 {
        op();
    }
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_round {
                op();
            }
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2].as_nanos() as f64 / f64::from(per_round)
}

/// The same for an async operation, on the given runtime.
pub fn ns_per_async_op<F, Fut>(
    runtime: &tokio::runtime::Runtime,
    rounds: usize,
    per_round: u32,
    mut op: F,
) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    runtime.block_on(async {
        for _ in 0..per_round / 4 {
            op().await;
        }
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            for _ in 0..per_round {
                op().await;
            }
            samples.push(start.elapsed());
        }
        samples.sort();
        samples[samples.len() / 2].as_nanos() as f64 / f64::from(per_round)
    })
}

/// Formats nanoseconds with a readable unit.
pub fn human(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}
