//! Weighted column statistics of the training alignment: the initial
//! fields (the independent-site solution) and the reference sequence of
//! the fused kernels (the most frequent states).
use ndarray::Array2;
use tch::Tensor;

use crate::Q;

/// Weighted state counts per column: `counts[i·q + a] = Σ_n w_n [x_ni = a]`.
fn column_counts(states: &Array2<u8>, weights: &[f64]) -> Vec<f64> {
    let (_, l) = states.dim();
    let mut counts = vec![0.0f64; l * Q];
    for (row, &w) in states.rows().into_iter().zip(weights) {
        for (i, &s) in row.iter().enumerate() {
            counts[i * Q + s as usize] += w;
        }
    }
    counts
}

/// Initial fields: log of the weighted single-site frequencies (with a
/// small pseudo-count), centred per site — the independent-site solution.
pub(super) fn initial_fields(states: &Array2<u8>, weights: &[f64]) -> Tensor {
    let (_, l) = states.dim();
    let freq = column_counts(states, weights);
    let total: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let mut fields = vec![0.0f32; l * Q];
    for i in 0..l {
        let logs: Vec<f64> = (0..Q)
            .map(|a| (freq[i * Q + a] / total + 0.01).ln())
            .collect();
        let mean = logs.iter().sum::<f64>() / Q as f64;
        for a in 0..Q {
            fields[i * Q + a] = (logs[a] - mean) as f32;
        }
    }
    Tensor::from_slice(&fields).reshape([l as i64, Q as i64])
}

/// The most frequent state of each column, sequences counted with their
/// weights (ties to the lower state): the reference of
/// [`super::FusedObjective`].
pub fn reference_states(states: &Array2<u8>, weights: &[f64]) -> Vec<u8> {
    column_counts(states, weights)
        .chunks_exact(Q)
        .map(|c| (0..Q).fold(0, |best, a| if c[a] > c[best] { a } else { best }) as u8)
        .collect()
}
