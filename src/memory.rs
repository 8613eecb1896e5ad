//! Rough estimate of the memory a training run needs, so that `inspect`
//! can warn before a run that would not fit.
//!
//! Formula (bytes; q = 21 states, f = 4 bytes per f32; N sequences, L
//! columns, H heads of dimension d, batch B):
//!
//! - base: 300 MiB (libtorch runtime) + `N·L·9` (states, one-hot views,
//!   weights and indices);
//! - factored attention: parameters `P = H(2·L·d + q²) + L·q`, held in 4
//!   copies (parameters, gradients, Adam m and v): `4·P·f`; activations
//!   `B·L·H·q·f·3 + B·L·q·f·4 + H·L²·f·4`;
//! - full Potts: parameters `P = L²q² + L·q`, 4 copies: `4·P·f`;
//!   activations `B·L·q·f·6 + (L·q)²·f·2`.
//!
//! The lead will refine this against measured peaks; it is an estimate, not
//! a bound. Arithmetic saturates instead of overflowing.
use crate::model::ModelKind;

/// Default number of attention heads assumed by the estimate.
pub const DEFAULT_HEADS: usize = 32;
/// Default head dimension assumed by the estimate.
pub const DEFAULT_HEAD_DIM: usize = 16;
/// Default batch size (sequences per step) assumed by the estimate.
pub const DEFAULT_BATCH: usize = 1024;

const MIB: u64 = 1024 * 1024;
/// libtorch runtime overhead.
const BASE_BYTES: u64 = 300 * MIB;
/// Bytes per f32.
const F: u64 = 4;
/// States per column.
const Q: u64 = crate::Q as u64;

/// Saturating product of a list of factors.
fn prod(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |acc, &x| acc.saturating_mul(x))
}

/// Estimated peak bytes of training `model` on an N×L alignment with
/// `heads` heads of dimension `head_dim` (ignored for Potts) and batches of
/// `batch` sequences. See the module documentation for the formula.
pub fn estimate_training_bytes(
    n: usize,
    l: usize,
    model: ModelKind,
    heads: usize,
    head_dim: usize,
    batch: usize,
) -> u64 {
    let (n, l, h, d, b) = (
        n as u64,
        l as u64,
        heads as u64,
        head_dim as u64,
        batch as u64,
    );
    let base = BASE_BYTES.saturating_add(prod(&[n, l, 9]));
    let (params, activations) = match model {
        ModelKind::Factored => {
            let p = h
                .saturating_mul(prod(&[2, l, d]).saturating_add(Q * Q))
                .saturating_add(l * Q);
            let act = prod(&[b, l, h, Q, F, 3])
                .saturating_add(prod(&[b, l, Q, F, 4]))
                .saturating_add(prod(&[h, l, l, F, 4]));
            (p, act)
        }
        ModelKind::Potts => {
            let p = prod(&[l, l, Q, Q]).saturating_add(l * Q);
            let act = prod(&[b, l, Q, F, 6]).saturating_add(prod(&[l, Q, l, Q, F, 2]));
            (p, act)
        }
    };
    base.saturating_add(prod(&[params, 4, F]))
        .saturating_add(activations)
}

/// A byte count in binary units with one decimal: `"512 B"`, `"1.2 GiB"`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_factored() {
        // N=10, L=5, H=2, d=3, B=4.
        // base = 300 MiB + 10*5*9 = 314572800 + 450
        // P = 2*(2*5*3 + 441) + 5*21 = 2*471 + 105 = 1047; 4 copies * 4 B = 16752
        // act = 4*5*2*21*4*3 + 4*5*21*4*4 + 2*25*4*4 = 10080 + 6720 + 800 = 17600
        let got = estimate_training_bytes(10, 5, ModelKind::Factored, 2, 3, 4);
        assert_eq!(got, 314_572_800 + 450 + 16_752 + 17_600);
    }

    #[test]
    fn hand_computed_potts() {
        // N=10, L=5, B=4: P = 25*441 + 105 = 11130 -> *16 = 178080
        // act = 4*5*21*4*6 + (105)^2*4*2 = 10080 + 88200 = 98280
        let got = estimate_training_bytes(10, 5, ModelKind::Potts, 2, 3, 4);
        assert_eq!(got, 314_572_800 + 450 + 178_080 + 98_280);
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        let got = estimate_training_bytes(usize::MAX, usize::MAX, ModelKind::Potts, 1, 1, 1);
        assert_eq!(got, u64::MAX);
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(human_bytes(1_288_490_189), "1.2 GiB");
    }
}
