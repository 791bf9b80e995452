//! Stereo refinement: a causal multichannel Wiener filter that re-estimates the stems from the
//! separator's masks using where each stem sits between the two channels (worker thread;
//! allocates only in `new`).
//!
//! Masks work channel by channel: they cannot tell a centred voice from a wide pad with the
//! same level in each channel. This stage keeps, per stem and bin, a running estimate of the
//! stem's normalised spatial covariance
//!
//! ```text
//! R_j = E[s_j s_jᴴ] / E[(|s_j,L|² + |s_j,R|²) / 2],      s_j = M_j ⊙ x   (masked estimate)
//! ```
//!
//! (exponential average over [`TIME_CONSTANT_S`]), and outputs
//!
//! ```text
//! y_j = C_j (Σ_k C_k)⁻¹ x,     C_j = v_j R_j + (ε / S) I,     v_j = (|s_j,L| + |s_j,R|) / 2
//! ```
//!
//! with ε = [`REGULARISATION`] · trace(Σ_k v_k R_k). Because Σ_j C_j (Σ_k C_k)⁻¹ = I the stems
//! still sum to the input (the last stem takes the rounding residue, so the sum is exact in
//! f32). Using the mean magnitude rather than the power for v_j keeps the refined masks about
//! as soft as the model's own (a power spectrum sharpened them and lost SDR; measured in
//! docs/RESULTS.md, "Stereo refinement"). Mono input passes through unchanged.

use realfft::num_complex::Complex32;

/// Time constant of the spatial covariance averages, in seconds.
pub const TIME_CONSTANT_S: f32 = 8.7;
/// Diagonal loading of the mixture covariance, relative to its trace.
pub const REGULARISATION: f64 = 1e-3;
/// Absolute floor of the diagonal loading (digital silence).
const FLOOR: f64 = 1e-30;

/// Running spatial statistics of one stem at one bin.
#[derive(Clone, Copy, Default)]
struct Stats {
    /// E[|s_L|²], E[|s_R|²], E[s_L s_R*] (re, im), E[(|s_L|² + |s_R|²) / 2].
    ll: f64,
    rr: f64,
    lr_re: f64,
    lr_im: f64,
    power: f64,
}

/// The stereo Wiener refinement for frames of `bins` bins and `stems` stems.
pub struct SpatialWiener {
    bins: usize,
    stems: usize,
    /// Per-hop decay of the averages: exp(-hop / time constant).
    decay: f64,
    stats: Vec<Stats>,
    /// Per stem of the current bin: C_j as (c00, c11, c01 re, c01 im).
    cov: Vec<[f64; 4]>,
}

impl SpatialWiener {
    /// A refinement stage for `stems` stems, `bins` bins per channel and hops of
    /// `hop_seconds` seconds.
    pub fn new(stems: usize, bins: usize, hop_seconds: f32) -> Self {
        SpatialWiener {
            bins,
            stems,
            decay: (-(hop_seconds as f64) / TIME_CONSTANT_S as f64).exp(),
            stats: vec![Stats::default(); stems * bins],
            cov: vec![[0.0; 4]; stems],
        }
    }

    /// Forgets the spatial statistics (transport jump, engine change).
    pub fn reset(&mut self) {
        self.stats.fill(Stats::default());
    }

    /// Refines one stereo frame. `spectrum` is `[channel][bin]` (2 channels), `masks`
    /// `[stem][channel][bin]` (summing to one per channel and bin); `out` receives the stem
    /// spectra, `[stem][channel][bin]`, which sum to `spectrum`.
    pub fn process(&mut self, spectrum: &[Complex32], masks: &[Complex32], out: &mut [Complex32]) {
        let (bins, stems) = (self.bins, self.stems);
        debug_assert_eq!(spectrum.len(), 2 * bins);
        debug_assert_eq!(masks.len(), stems * 2 * bins);
        debug_assert_eq!(out.len(), stems * 2 * bins);
        let (a, b) = (self.decay, 1.0 - self.decay);
        for k in 0..bins {
            let xl = spectrum[k];
            let xr = spectrum[bins + k];
            let (xl_re, xl_im, xr_re, xr_im) = (xl.re as f64, xl.im as f64, xr.re as f64, xr.im as f64);
            let mut sum = [0.0f64; 4];
            for j in 0..stems {
                let sl = masks[j * 2 * bins + k] * xl;
                let sr = masks[(j * 2 + 1) * bins + k] * xr;
                let (pl, pr) = (sl.norm_sqr() as f64, sr.norm_sqr() as f64);
                let cross = sl * sr.conj();
                let st = &mut self.stats[j * bins + k];
                st.ll = a * st.ll + b * pl;
                st.rr = a * st.rr + b * pr;
                st.lr_re = a * st.lr_re + b * cross.re as f64;
                st.lr_im = a * st.lr_im + b * cross.im as f64;
                st.power = a * st.power + b * 0.5 * (pl + pr);
                let v = 0.5 * (pl.sqrt() + pr.sqrt());
                let g = if st.power > 0.0 { v / st.power } else { 0.0 };
                let c = [g * st.ll, g * st.rr, g * st.lr_re, g * st.lr_im];
                for (s, c) in sum.iter_mut().zip(c) {
                    *s += c;
                }
                self.cov[j] = c;
            }
            let load = (REGULARISATION * (sum[0] + sum[1])).max(FLOOR);
            let (m00, m11, m01_re, m01_im) = (sum[0] + load, sum[1] + load, sum[2], sum[3]);
            let det = m00 * m11 - (m01_re * m01_re + m01_im * m01_im);
            // (Σ C)⁻¹ = [[m11, -m01], [-m01*, m00]] / det; det > 0 since Σ C is Hermitian
            // positive semi-definite before loading.
            let (i00, i11, i01_re, i01_im) = (m11 / det, m00 / det, -m01_re / det, -m01_im / det);
            // z = (Σ C)⁻¹ x
            let zl_re = i00 * xl_re + i01_re * xr_re - i01_im * xr_im;
            let zl_im = i00 * xl_im + i01_re * xr_im + i01_im * xr_re;
            let zr_re = i01_re * xl_re + i01_im * xl_im + i11 * xr_re;
            let zr_im = i01_re * xl_im - i01_im * xl_re + i11 * xr_im;
            let share = load / stems as f64;
            let (mut acc_l, mut acc_r) = (Complex32::new(0.0, 0.0), Complex32::new(0.0, 0.0));
            for j in 0..stems - 1 {
                let [c00, c11, c01_re, c01_im] = self.cov[j];
                let (c00, c11) = (c00 + share, c11 + share);
                // y = C_j z with C_j = [[c00, c01], [c01*, c11]]
                let yl = Complex32::new(
                    (c00 * zl_re + c01_re * zr_re - c01_im * zr_im) as f32,
                    (c00 * zl_im + c01_re * zr_im + c01_im * zr_re) as f32,
                );
                let yr = Complex32::new(
                    (c01_re * zl_re + c01_im * zl_im + c11 * zr_re) as f32,
                    (c01_re * zl_im - c01_im * zl_re + c11 * zr_im) as f32,
                );
                out[j * 2 * bins + k] = yl;
                out[(j * 2 + 1) * bins + k] = yr;
                acc_l += yl;
                acc_r += yr;
            }
            let last = stems - 1;
            out[last * 2 * bins + k] = xl - acc_l;
            out[(last * 2 + 1) * bins + k] = xr - acc_r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BINS: usize = 8;
    const S: usize = 4;

    fn c(re: f32, im: f32) -> Complex32 {
        Complex32::new(re, im)
    }

    /// Runs `frames` frames of a fixed spectrum and masks; returns the last output.
    fn run(w: &mut SpatialWiener, x: &[Complex32], m: &[Complex32], frames: usize) -> Vec<Complex32> {
        let mut out = vec![c(0.0, 0.0); S * 2 * BINS];
        for _ in 0..frames {
            w.process(x, m, &mut out);
        }
        out
    }

    fn even_masks() -> Vec<Complex32> {
        vec![c(0.25, 0.0); S * 2 * BINS]
    }

    #[test]
    fn stems_sum_to_the_input_exactly() {
        let mut w = SpatialWiener::new(S, BINS, 256.0 / 44100.0);
        let x: Vec<Complex32> = (0..2 * BINS).map(|i| c((i as f32 * 0.7).sin(), (i as f32 * 1.3).cos())).collect();
        let m: Vec<Complex32> = (0..S * 2 * BINS).map(|i| c((i as f32 * 0.37).sin().abs(), (i as f32 * 0.11).cos() * 0.2)).collect();
        for frames in [1, 5, 50] {
            let out = run(&mut w, &x, &m, frames);
            for i in 0..2 * BINS {
                let s: Complex32 = (0..S).map(|j| out[j * 2 * BINS + i]).sum();
                assert!((s - x[i]).norm() <= 1e-6 * x[i].norm().max(1.0), "bin {i}: {s} vs {}", x[i]);
            }
        }
    }

    /// Stem 0 has only ever played on the left, stem 1 on the right. When the masks then say
    /// "half of each channel is stem 0, half stem 1" (which per channel cannot be undone),
    /// the learnt positions still put the left channel in stem 0 and the right in stem 1.
    #[test]
    fn separates_stems_by_their_position() {
        let mut w = SpatialWiener::new(S, BINS, 256.0 / 44100.0);
        let mut m = vec![c(0.0, 0.0); S * 2 * BINS];
        for k in 0..BINS {
            m[k] = c(1.0, 0.0); // stem 0, left
            m[(2 + 1) * BINS + k] = c(1.0, 0.0); // stem 1, right
        }
        let x = vec![c(1.0, 0.0); 2 * BINS];
        run(&mut w, &x, &m, 3000);
        let mut half = vec![c(0.0, 0.0); S * 2 * BINS];
        half[..4 * BINS].fill(c(0.5, 0.0));
        let out = run(&mut w, &x, &half, 1);
        for k in 0..BINS {
            let (s0l, s0r) = (out[k].norm(), out[BINS + k].norm());
            let (s1l, s1r) = (out[2 * BINS + k].norm(), out[3 * BINS + k].norm());
            assert!(s0l > 0.99 && s0r < 0.01, "stem 0 bin {k}: L {s0l} R {s0r}");
            assert!(s1r > 0.99 && s1l < 0.01, "stem 1 bin {k}: L {s1l} R {s1r}");
        }
    }

    /// With every stem in the same place (dual mono), the refinement gives each stem its
    /// share of the mean magnitude: even masks stay even.
    #[test]
    fn dual_mono_with_even_masks_stays_even() {
        let mut w = SpatialWiener::new(S, BINS, 256.0 / 44100.0);
        let x = vec![c(0.5, -0.25); 2 * BINS];
        let out = run(&mut w, &x, &even_masks(), 20);
        for (i, y) in out.iter().enumerate() {
            let want = x[i % (2 * BINS)] * 0.25;
            assert!((y - want).norm() < 1e-5, "value {i}: {y} vs {want}");
        }
    }

    #[test]
    fn silence_and_reset_stay_finite() {
        let mut w = SpatialWiener::new(S, BINS, 256.0 / 44100.0);
        let zero = vec![c(0.0, 0.0); 2 * BINS];
        let out = run(&mut w, &zero, &even_masks(), 3);
        assert!(out.iter().all(|v| v.re == 0.0 && v.im == 0.0));
        let tiny = vec![c(1e-30, 1e-30); 2 * BINS];
        let out = run(&mut w, &tiny, &even_masks(), 3);
        assert!(out.iter().all(|v| v.re.is_finite() && v.im.is_finite()));
        w.reset();
        let big = vec![c(1e6, -1e6); 2 * BINS];
        let out = run(&mut w, &big, &even_masks(), 3);
        assert!(out.iter().all(|v| v.re.is_finite() && v.im.is_finite()));
    }
}
