//! Estimate of the peak memory a training run needs, so that `inspect` can
//! warn and `predict` can refuse (memory guard) before a run that would not
//! fit.
//!
//! Both models compute the conditional logits through one coupling table of
//! `T = (L·q)²` floats (see `crate::model`), so T dominates. Formula (bytes;
//! q = 21, f = 4 bytes per f32; N sequences, L columns, H heads of dimension
//! d, batch B):
//!
//! - base: 256 MiB (libtorch runtime, binary, alignment) + `N·L·9`;
//! - factored attention: `4·T·f` (the table, its gradient and the einsum /
//!   masking temporaries) + `2·H·L²·f` (attention and its gradient) +
//!   `4·B·L·q·f` (logits, log-softmax and their gradients) + `5·P·f` with
//!   `P = H(2·L·d + q²) + L·q` (parameters, gradients, Adam m and v, the
//!   numerical guard's checkpoint);
//! - full Potts: `14.5·T·f` (parameters, gradient, Adam m and v, checkpoint,
//!   the symmetrised masked table and its gradient, Adam's update
//!   temporaries) + `6·B·L·q·f`.
//!
//! The factors were measured (peak RSS of `fadca predict --epochs 1
//! --threads 2`, N = 1000, default H = 32, d = 23, B = 128; see BENCHMARKS.md,
//! "Memory guard at L = 1500"): the peak grows by 4.05–4.11 T per step in L
//! for the factored model, over ~200 MiB. The Potts factor was measured
//! again on 2026-11-30 (batches of 256): 12.7–13.9 T at L = 300 and 600.
//! The factored model's peak has since fallen (3.1 T at L = 300, contact
//! scores computed pair by pair), so its estimate is now generous. It is an
//! estimate, above the measured peaks, not a bound. Arithmetic saturates
//! instead of overflowing.
use crate::model::ModelKind;


const MIB: u64 = 1024 * 1024;
/// libtorch runtime overhead.
const BASE_BYTES: u64 = 256 * MIB;
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
    let table = prod(&[l, Q, l, Q, F]);
    match model {
        ModelKind::Factored => {
            let p = h
                .saturating_mul(prod(&[2, l, d]).saturating_add(Q * Q))
                .saturating_add(l * Q);
            base.saturating_add(table.saturating_mul(4))
                .saturating_add(prod(&[2, h, l, l, F]))
                .saturating_add(prod(&[4, b, l, Q, F]))
                .saturating_add(prod(&[5, p, F]))
        }
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

/// The memory guard: fails with an input error when the estimated peak of
/// training (see [`estimate_training_bytes`]) exceeds `limit`, naming the
/// estimate and the ways out. `limit_source` says where the limit came from.
#[allow(clippy::too_many_arguments)]
pub fn check_training_memory(
    n: usize,
    l: usize,
    model: ModelKind,
    heads: usize,
    head_dim: usize,
    batch: usize,
    limit: u64,
    limit_source: &str,
) -> anyhow::Result<u64> {
    let estimate = estimate_training_bytes(n, l, model, heads, head_dim, batch);
    if estimate <= limit {
        return Ok(estimate);
    }
    let factored = estimate_training_bytes(n, l, ModelKind::Factored, heads, head_dim, batch);
    let mut ways = Vec::new();
    if model == ModelKind::Potts {
        ways.push(format!(
            "the factored model (--model factored, about {})",
            human_bytes(factored)
        ));
    } else if heads > 1 {
        ways.push("fewer heads (--heads)".to_string());
    }
    ways.push("fewer sequences (--max-seqs N, sampled by weight)".to_string());
    ways.push("a smaller --batch-size".to_string());
    ways.push("a larger --max-memory if you know better".to_string());
    Err(crate::input_error(format!(
        "training the {} model on N = {n} sequences of length L = {l} needs about {} \
         but only {} is allowed ({limit_source}); try {}",
        model.name(),
        human_bytes(estimate),
        human_bytes(limit),
        ways.join(", ")
    )))
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
        // base = 256 MiB + 10*5*9 = 268435456 + 450
        // 4T = 176400; 2*H*L^2*4 = 400; 4*B*L*q*4 = 6720
        // P = 2*(2*5*3 + 441) + 5*21 = 1047; 5*P*4 = 20940
        let got = estimate_training_bytes(10, 5, ModelKind::Factored, 2, 3, 4);
        assert_eq!(got, 268_435_456 + 450 + 176_400 + 400 + 6_720 + 20_940);
    }

    #[test]
    fn hand_computed_potts() {
        // N=10, L=5, B=4: 14.5 T = 639450; 6*B*L*q*4 = 10080
        let got = estimate_training_bytes(10, 5, ModelKind::Potts, 2, 3, 4);
        assert_eq!(got, 268_435_456 + 450 + 639_450 + 10_080);
    }

    #[test]
    fn close_to_the_measured_peaks() {
        // Peak RSS of `fadca predict --epochs 1 --threads 2` (N = 1000, defaults),
        // BENCHMARKS.md: the estimate is above each and within 25 % (50 % at
        // L = 100, where the fixed libtorch runtime dominates). Factored:
        // measured before the fused kernels and pair-wise contact scores,
        // which lowered the peaks (the estimate stays above them); Potts:
        // measured again on 2026-11-30 with batches of 256.
        const KIB: u64 = 1024;
        let measured = [
            (ModelKind::Factored, 100, 282_432 * KIB, 128),
            (ModelKind::Factored, 300, 841_264 * KIB, 128),
            (ModelKind::Factored, 600, 2_751_056 * KIB, 128),
            (ModelKind::Potts, 100, 380_904 * KIB, 256),
            (ModelKind::Potts, 300, 2_328_980 * KIB, 256),
            (ModelKind::Potts, 600, 8_879_528 * KIB, 256),
            // L = 1500, --max-seqs 300, --threads 1.
            (ModelKind::Factored, 1500, 16_300_560 * KIB, 128),
        ];
        for (model, l, peak, batch) in measured {
            let n = if l == 1500 { 300 } else { 1001 };
            let est = estimate_training_bytes(n, l, model, 32, 23, batch);
            let ratio = est as f64 / peak as f64;
            let most = if l == 100 { 1.5 } else { 1.25 };
            assert!(
                (1.0..most).contains(&ratio),
                "{model:?} L={l}: {est} vs {peak} ({ratio})"
            );
        }
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
    fn guard_passes_under_the_limit_and_names_ways_out_above() {
        let need = estimate_training_bytes(100, 50, ModelKind::Potts, 4, 4, 16);
        assert_eq!(
            check_training_memory(100, 50, ModelKind::Potts, 4, 4, 16, need, "x").unwrap(),
            need
        );
        let e = check_training_memory(
            100,
            50,
            ModelKind::Potts,
            4,
            4,
            16,
            need - 1,
            "--max-memory",
        )
        .unwrap_err();
        let msg = format!("{e}");
        assert!(crate::error::is_input_error(&e));
        assert!(msg.contains(&human_bytes(need)), "{msg}");
        assert!(
            msg.contains("--model factored") && msg.contains("--max-seqs"),
            "{msg}"
        );
        let e = check_training_memory(100, 50, ModelKind::Factored, 4, 4, 16, 1, "--max-memory")
            .unwrap_err();
        assert!(format!("{e}").contains("fewer heads"), "{e}");
    }

    #[test]
    fn available_memory_is_known_on_linux() {
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(available_bytes(tch::Device::Cpu).unwrap() > 0);
        }
    }
}
