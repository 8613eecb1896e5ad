//! Estimate of the peak memory a training run needs, so that `inspect` can
//! tell and `predict` can choose the model (`--model auto`) or refuse (the
//! memory guard, [`crate::model::choice`]) before a run that would not fit.
//!
//! Both models compute the conditional logits through a coupling table of
//! `T = (L·q)²` floats (see `crate::model`): the Potts model's is whole (its
//! parameter) and T dominates; factored attention's on the CPU kernels is
//! built a block of 64 sites' columns at a time, and its attention
//! (`H·L²`) dominates. Formula (bytes;
//! q = 21, f = 4 bytes per f32; N sequences, L columns, H heads of dimension
//! d, batch B; `P = H(2·L·d + q²) + L·q` the factored model's parameters):
//!
//! - base: 200 MiB (libtorch runtime, binary, alignment) + `N·L·9`;
//! - factored attention on the fused CPU kernels (the default on the CPU:
//!   [`crate::model::uses_fused_kernels`]): `L·q·s·q·f` with
//!   `s = min(L, 64)` (one block of the table's columns,
//!   [`crate::model::BLOCK_SITES`], overwritten by its gradient) +
//!   `4·H·L²·f` (the attention in two layouts, its gradient in two; at
//!   extraction the attention in two layouts) + `2·B·s·q·f` (the logits'
//!   gradient of a block) + `5·P·f` (parameters, gradients, Adam m and v,
//!   the numerical guard's checkpoint) + `4·L²·8` (the L×L score arrays and
//!   the pair list of contact extraction);
//! - factored attention on libtorch's operators (CUDA, the masked
//!   objective): `4·T·f` (the table, its gradient and the einsum / masking
//!   temporaries) + `2·H·L²·f` + `4·B·L·q·f` + `5·P·f`;
//! - full Potts on the fused CPU kernels: `5.5·T·f` (the table itself,
//!   Adam's m and v, the checkpoint, the kernels' buffer — the table's rows,
//!   then its gradient, then the projected gradient — and half a table of
//!   margin) + `2·B·L·q·f`;
//! - full Potts on libtorch's operators: `14.5·T·f` (parameters, gradient,
//!   Adam m and v, checkpoint, the symmetrised masked table and its
//!   gradient, Adam's update temporaries) + `6·B·L·q·f`.
//!
//! The factors come from measured peaks (peak RSS of `fadca predict
//! --epochs 1 --threads 2` on random alignments, N = 1001, batches of 256;
//! BENCHMARKS.md, "Memory guard"), 2026-11-30: fused kernels, factored
//! 149 / 340 / 951 MiB and Potts 203 / 881 / 3 160 MiB at L = 100, 300,
//! 600, Potts 8.35 GiB at L = 1000 with N = 2000 (the Potts model 5.0 T
//! above the runtime), factored 5.04 GiB at
//! L = 1500 with N = 20 000 (measured before the memory freed by training
//! was returned to the kernel ahead of extraction,
//! `crate::runtime::release_freed_memory`); libtorch operators, factored
//! 4.05–4.11 T per step in L (measured before the fused kernels existed,
//! batches of 128), Potts 12.7–13.9 T. It is an estimate, above the
//! measured peaks, not a bound. Arithmetic saturates instead of
//! overflowing.
use crate::model::ModelKind;

const MIB: u64 = 1024 * 1024;
/// libtorch runtime overhead.
const BASE_BYTES: u64 = 200 * MIB;
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
/// `batch` sequences, on the fused CPU kernels when `fused_kernels` (see
/// [`crate::model::uses_fused_kernels`]) or on libtorch's operators
/// otherwise. See the module documentation for
/// the formula.
pub fn estimate_training_bytes(
    n: usize,
    l: usize,
    model: ModelKind,
    fused_kernels: bool,
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
    let table = prod(&[l, Q, l, Q, F]);
    let parameters = h
        .saturating_mul(prod(&[2, l, d]).saturating_add(Q * Q))
        .saturating_add(l * Q);
    match model {
        ModelKind::Factored if fused_kernels => {
            let s = l.min(crate::model::BLOCK_SITES as u64);
            base.saturating_add(prod(&[l, Q, s, Q, F]))
                .saturating_add(prod(&[4, h, l, l, F]))
                .saturating_add(prod(&[2, b, s, Q, F]))
                .saturating_add(prod(&[5, parameters, F]))
                .saturating_add(prod(&[4, l, l, 8]))
        }
        ModelKind::Factored => base
            .saturating_add(table.saturating_mul(4))
            .saturating_add(prod(&[2, h, l, l, F]))
            .saturating_add(prod(&[4, b, l, Q, F]))
            .saturating_add(prod(&[5, parameters, F])),
        ModelKind::Potts if fused_kernels => base
            .saturating_add(table.saturating_mul(5))
            .saturating_add(table / 2)
            .saturating_add(prod(&[2, b, l, Q, F])),
        ModelKind::Potts => base
            .saturating_add(table.saturating_mul(14))
            .saturating_add(table / 2)
            .saturating_add(prod(&[6, b, l, Q, F])),
    }
}

/// Parses a size such as `8G`, `512M`, `1.5GiB`, `2048` (bytes); binary
/// units (K = 1024). A bad value is an input error naming `--max-memory`.
pub fn parse_size(text: &str) -> anyhow::Result<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => 0,
    };
    match number.parse::<f64>() {
        Ok(v) if factor > 0 && v.is_finite() && v > 0.0 => Ok((v * factor as f64) as u64),
        _ => Err(crate::input_error(format!(
            "--max-memory {text:?}: expected a positive size such as 8G, 512M or 1.5G"
        ))),
    }
}

/// Memory available for training on `device`: `MemAvailable` of
/// /proc/meminfo on the CPU, the free memory reported by `nvidia-smi` on a
/// CUDA device. `None` when it cannot be found out.
pub fn available_bytes(device: tch::Device) -> Option<u64> {
    match device {
        tch::Device::Cuda(i) => {
            let out = std::process::Command::new("nvidia-smi")
                .args([
                    "--query-gpu=memory.free",
                    "--format=csv,noheader,nounits",
                    &format!("--id={i}"),
                ])
                .output()
                .ok()?;
            let mib: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
            Some(mib * MIB)
        }
        _ => {
            let text = std::fs::read_to_string("/proc/meminfo").ok()?;
            let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        }
    }
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
        // N=10, L=5, H=2, d=3, B=4; T = (5*21)^2 * 4 = 44100 bytes.
        // base = 200 MiB + 10*5*9 = 209715200 + 450
        // P = 2*(2*5*3 + 441) + 5*21 = 1047; 5*P*4 = 20940
        // libtorch: 4T = 176400; 2*H*L^2*4 = 400; 4*B*L*q*4 = 6720
        let got = estimate_training_bytes(10, 5, ModelKind::Factored, false, 2, 3, 4);
        assert_eq!(got, 209_715_200 + 450 + 176_400 + 400 + 6_720 + 20_940);
        // fused kernels, blocks of min(L, 64) = 5 sites: L*q*5*q*4 = 44100;
        // 4*H*L^2*4 = 800; 2*B*5*q*4 = 3360; score arrays 4*L^2*8 = 800
        let got = estimate_training_bytes(10, 5, ModelKind::Factored, true, 2, 3, 4);
        assert_eq!(got, 209_715_200 + 450 + 44_100 + 800 + 3_360 + 20_940 + 800);
        // At L = 100 the block is 64 sites wide: 100*21*64*21*4 = 11_289_600.
        let whole = estimate_training_bytes(10, 100, ModelKind::Factored, false, 2, 3, 4);
        let blocked = estimate_training_bytes(10, 100, ModelKind::Factored, true, 2, 3, 4);
        let base = 209_715_200 + 10 * 100 * 9;
        assert!(blocked - base < (whole - base) / 3, "{blocked} vs {whole}");
    }

    #[test]
    fn hand_computed_potts() {
        // N=10, L=5, B=4: libtorch 14.5 T = 639450; 6*B*L*q*4 = 10080
        let got = estimate_training_bytes(10, 5, ModelKind::Potts, false, 2, 3, 4);
        assert_eq!(got, 209_715_200 + 450 + 639_450 + 10_080);
        // fused kernels: 5.5 T = 242550; 2*B*L*q*4 = 3360
        let got = estimate_training_bytes(10, 5, ModelKind::Potts, true, 2, 3, 4);
        assert_eq!(got, 209_715_200 + 450 + 242_550 + 3_360);
    }

    #[test]
    fn close_to_the_measured_peaks() {
        // Peak RSS of `fadca predict --epochs 1 --threads 2` (N = 1001, default
        // H and d), BENCHMARKS.md: the estimate is above each and within 30 %
        // (80 % at L ≤ 300, where the fixed runtime allowance dominates).
        // Fused kernels: factored attention 2026-12-07, its table in blocks
        // of 64 sites (L = 1500: N = 20 000; L = 3000: N = 5000); Potts
        // 2026-11-30, batches of 256, after the table buffer became its own
        // gradient's. Libtorch operators: factored measured
        // before the fused kernels existed, batches of 128 (L = 1500:
        // --max-seqs 300, --threads 1); Potts on 2026-11-30 with batches of 256.
        const KIB: u64 = 1024;
        let measured = [
            (ModelKind::Factored, true, 100, 1001, 147_036 * KIB, 256),
            (ModelKind::Factored, true, 300, 1001, 223_632 * KIB, 256),
            (ModelKind::Factored, true, 600, 1001, 415_384 * KIB, 256),
            (ModelKind::Potts, true, 100, 1001, 207_504 * KIB, 256),
            (ModelKind::Potts, true, 300, 1001, 902_216 * KIB, 256),
            (ModelKind::Potts, true, 600, 1001, 3_235_640 * KIB, 256),
            (ModelKind::Potts, true, 1000, 2000, 8_760_264 * KIB, 256),
            (ModelKind::Factored, false, 100, 1001, 282_432 * KIB, 128),
            (ModelKind::Factored, false, 300, 1001, 841_264 * KIB, 128),
            (ModelKind::Factored, false, 600, 1001, 2_751_056 * KIB, 128),
            (ModelKind::Factored, false, 1500, 300, 16_300_560 * KIB, 128),
            (ModelKind::Potts, false, 100, 1001, 380_904 * KIB, 256),
            (ModelKind::Potts, false, 300, 1001, 2_328_980 * KIB, 256),
            (ModelKind::Potts, false, 600, 1001, 8_879_528 * KIB, 256),
        ];
        for (model, fused, l, n, peak, batch) in measured {
            let est = estimate_training_bytes(n, l, model, fused, 32, 23, batch);
            let ratio = est as f64 / peak as f64;
            let most = if l <= 300 { 1.8 } else { 1.3 };
            assert!(
                (1.0..most).contains(&ratio),
                "{model:?} fused {fused} L={l}: {est} vs {peak} ({ratio})"
            );
        }
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        let got = estimate_training_bytes(usize::MAX, usize::MAX, ModelKind::Potts, false, 1, 1, 1);
        assert_eq!(got, u64::MAX);
        let got =
            estimate_training_bytes(usize::MAX, usize::MAX, ModelKind::Factored, true, 1, 1, 1);
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

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("8G").unwrap(), 8 << 30);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("2048").unwrap(), 2048);
        assert_eq!(parse_size(" 4k ").unwrap(), 4096);
        for bad in ["", "G", "-1G", "0", "8X", "1e3G", "lots"] {
            let e = parse_size(bad).unwrap_err();
            assert!(crate::error::is_input_error(&e), "{bad}");
            assert!(format!("{e}").contains("--max-memory"), "{bad}");
        }
    }

    #[test]
    fn available_memory_is_known_on_linux() {
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(available_bytes(tch::Device::Cpu).unwrap() > 0);
        }
    }
}
