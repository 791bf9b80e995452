//! Whole-signal separation metrics. Signals are `[channel][sample]`; sums run over all
//! channels and samples. See [`crate::bsseval`] for the framewise BSS-Eval v4 metrics.

/// Regulariser of the MDX/MUSDB "global" SDR (the Music Demixing Challenge's `delta`).
pub const MDX_DELTA: f64 = 1e-7;

/// SDR as used in the Music Demixing Challenge:
/// `10·log10((Σ s² + δ) / (Σ (s − ŝ)² + δ))` with δ = 1e-7, over all channels and samples.
/// Missing samples of a shorter estimate count as zeros.
pub fn sdr_mdx(reference: &[Vec<f32>], estimate: &[Vec<f32>]) -> f64 {
    let mut num = 0.0f64;
    let mut den = 0.0f64;
    for (c, r) in reference.iter().enumerate() {
        let e = estimate.get(c.min(estimate.len().saturating_sub(1)));
        for (i, &s) in r.iter().enumerate() {
            let est = e.and_then(|e| e.get(i)).copied().unwrap_or(0.0) as f64;
            let s = s as f64;
            num += s * s;
            den += (s - est) * (s - est);
        }
    }
    10.0 * ((num + MDX_DELTA) / (den + MDX_DELTA)).log10()
}

/// Scale-invariant SDR (Le Roux et al., 2019) over the concatenation of all channels:
/// `α = ⟨ŝ, s⟩ / ⟨s, s⟩`, `10·log10(‖α s‖² / ‖ŝ − α s‖²)`. No mean removal.
pub fn si_sdr(reference: &[Vec<f32>], estimate: &[Vec<f32>]) -> f64 {
    let est_at = |c: usize, i: usize| -> f64 {
        estimate
            .get(c.min(estimate.len().saturating_sub(1)))
            .and_then(|e| e.get(i))
            .copied()
            .unwrap_or(0.0) as f64
    };
    let mut ss = 0.0f64;
    let mut se = 0.0f64;
    for (c, r) in reference.iter().enumerate() {
        for (i, &s) in r.iter().enumerate() {
            ss += s as f64 * s as f64;
            se += s as f64 * est_at(c, i);
        }
    }
    if ss <= 0.0 {
        return f64::NAN;
    }
    let alpha = se / ss;
    let mut noise = 0.0f64;
    for (c, r) in reference.iter().enumerate() {
        for (i, &s) in r.iter().enumerate() {
            let d = est_at(c, i) - alpha * s as f64;
            noise += d * d;
        }
    }
    let target = alpha * alpha * ss;
    if noise == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (target / noise).log10()
}

/// Median of the finite-or-infinite (non-NaN) values, like `numpy.nanmedian`; NaN if none.
pub fn nanmedian(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdr_of_half_error() {
        let s = vec![vec![1.0f32, -1.0, 1.0, -1.0]];
        let e = vec![vec![0.5f32, -0.5, 0.5, -0.5]];
        // error energy is a quarter of the signal energy: 6.02 dB
        assert!((sdr_mdx(&s, &e) - 6.0206).abs() < 1e-3);
        // scaled copy: infinite SI-SDR
        assert!(si_sdr(&s, &e).is_infinite());
        assert_eq!(nanmedian(&[3.0, f64::NAN, 1.0, 2.0]), 2.0);
    }
}
