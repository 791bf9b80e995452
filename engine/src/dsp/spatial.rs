//! Stereo refinement: a causal multichannel Wiener filter that re-estimates the stems from the
//! separator's masks using where each stem sits between the two channels and how it
//! correlates with the previous frame (worker thread; allocates only in `new`).
//!
//! Masks work channel by channel and bin by bin: they cannot tell a centred voice from a wide
//! pad with the same level in each channel. This stage stacks, per bin k, the two channels of
//! the last [`FRAMES`] frames — this frame's bin k and the previous frame's bin k (frames
//! overlap by 75 %, so they are strongly correlated) — into one vector z (D = 4 values) and keeps, per stem, a
//! running estimate of the stem's normalised covariance
//!
//! ```text
//! R_j = E[z_j z_jᴴ] / E[(|s_j,L|² + |s_j,R|²) / 2],      s_j = M_j ⊙ x   (masked estimate)
//! ```
//!
//! (exponential average over [`TIME_CONSTANT_S`]; z_j stacks the masked estimates likewise),
//! and outputs the first two entries (this bin, both channels) of
//!
//! ```text
//! y_j = C_j (Σ_k C_k)⁻¹ z,     C_j = v_j R_j + (ε / S) I,     v_j = (|s_j,L| + |s_j,R|) / 2
//! ```
//!
//! with ε = [`REGULARISATION`] · trace(Σ_k v_k R_k) / frames. Because Σ_j C_j (Σ_k C_k)⁻¹ = I the
//! stems still sum to the input (the last stem takes the rounding residue, so the sum is exact
//! in f32). Using the mean magnitude rather than the power for v_j keeps the refined masks
//! about as soft as the model's own (a power spectrum sharpened them and lost SDR). The choices
//! (frames, time constant, ε) were made on training songs (stacking bins k ± 1 as well gained
//! ~0.04 dB more for 3x the cost); measurements are in docs/RESULTS.md, "Stereo refinement".
//! Mono input passes through unchanged.
//!
//! The engine runs the filter twice in a row ([`StereoRefinement`], [`PASSES`]): the second
//! pass keeps its own statistics of the first pass's stems and takes v_j from them. Its
//! covariances are sharper, as the first pass has already moved energy to the stem that
//! sits where it is heard (mean SDR +0.25 dB on 8 training songs, +0.08 / +0.13 dB on the
//! valid split with dynamic-int8 / fp32 masks; a third pass lost again; docs/RESULTS.md, "Two
//! refinement passes and weight-only int8").
//!
//! All per-bin arithmetic runs over arrays of bins (structure of arrays) in f64, so the small
//! Hermitian solves (a Cholesky factorisation per bin) vectorise across bins.

use realfft::num_complex::Complex32;

/// Time constant of the covariance averages, in seconds.
pub const TIME_CONSTANT_S: f32 = 8.7;
/// Diagonal loading of the mixture covariance, relative to its trace per frame.
pub const REGULARISATION: f64 = 1e-4;
/// Frames stacked into one vector per bin: this one and the previous one.
pub const FRAMES: usize = 2;
/// Passes of the filter in a row (see [`StereoRefinement`]).
pub const PASSES: usize = 2;
/// Absolute floor of the diagonal loading (digital silence).
const FLOOR: f64 = 1e-30;
/// Length of the stacked vector: two channels per frame, newest frame first.
const D: usize = 2 * FRAMES;
/// Entries of the upper triangle (with the diagonal) of a D × D Hermitian matrix.
const NE: usize = D * (D + 1) / 2;

/// Index of entry (a, b), a ≤ b, in the packed upper triangle.
const fn tri(a: usize, b: usize) -> usize {
    a * D - a * (a + 1) / 2 + b
}

/// A complex array over bins, split into real and imaginary parts.
#[derive(Clone)]
struct Cplx {
    re: Vec<f64>,
    im: Vec<f64>,
}

impl Cplx {
    fn new(bins: usize) -> Self {
        Cplx { re: vec![0.0; bins], im: vec![0.0; bins] }
    }

    fn clear(&mut self) {
        self.re.fill(0.0);
        self.im.fill(0.0);
    }
}

/// The stereo Wiener refinement for frames of `bins` bins and `stems` stems.
pub struct SpatialWiener {
    bins: usize,
    stems: usize,
    /// Per-hop decay of the averages: exp(-hop / time constant).
    decay: f64,
    /// E[z_j z_jᴴ], per stem the packed upper triangle: `cov[j * NE + e]`.
    cov: Vec<Cplx>,
    /// E[(|s_L|² + |s_R|²) / 2] per stem.
    power: Vec<Vec<f64>>,
    /// Gain v_j / power_j of this frame, per stem.
    gain: Vec<Vec<f64>>,
    /// Stacked vectors (entry `frame * 2 + channel`): the input's `zx[d]` and each stem's
    /// masked estimates `zs[j * D + d]`; they carry the older frames from hop to hop.
    zx: Vec<Cplx>,
    zs: Vec<Cplx>,
    /// Mixture covariance, then its Cholesky factor (packed lower triangle, same indexing as
    /// the upper: entry (r, c), r ≥ c, at `tri(c, r)`), the loading, and the solution.
    mix: Vec<Cplx>,
    load: Vec<f64>,
    sol: Vec<Cplx>,
    /// One output row being accumulated.
    y: Cplx,
}

impl SpatialWiener {
    /// A refinement stage for `stems` stems, `bins` bins per channel and hops of
    /// `hop_seconds` seconds.
    pub fn new(stems: usize, bins: usize, hop_seconds: f32) -> Self {
        SpatialWiener {
            bins,
            stems,
            decay: (-(hop_seconds as f64) / TIME_CONSTANT_S as f64).exp(),
            cov: vec![Cplx::new(bins); stems * NE],
            power: vec![vec![0.0; bins]; stems],
            gain: vec![vec![0.0; bins]; stems],
            zx: vec![Cplx::new(bins); D],
            zs: vec![Cplx::new(bins); stems * D],
            mix: vec![Cplx::new(bins); NE],
            load: vec![0.0; bins],
            sol: vec![Cplx::new(bins); D],
            y: Cplx::new(bins),
        }
    }

    /// Forgets the statistics and the previous frame (transport jump, engine change).
    pub fn reset(&mut self) {
        self.cov.iter_mut().for_each(Cplx::clear);
        self.power.iter_mut().for_each(|p| p.fill(0.0));
        self.zx.iter_mut().for_each(Cplx::clear);
        self.zs.iter_mut().for_each(Cplx::clear);
    }

    /// Refines one stereo frame from the separator's masks. `spectrum` is `[channel][bin]`
    /// (2 channels), `masks` `[stem][channel][bin]` (summing to one per channel and bin); `out`
    /// receives the stem spectra, `[stem][channel][bin]`, which sum to `spectrum`.
    pub fn process(&mut self, spectrum: &[Complex32], masks: &[Complex32], out: &mut [Complex32]) {
        debug_assert_eq!(masks.len(), self.stems * 2 * self.bins);
        let bins = self.bins;
        self.push_frame(spectrum, |j, c, k| masks[(j * 2 + c) * bins + k] * spectrum[c * bins + k]);
        self.filter(spectrum, out);
    }

    /// Refines one stereo frame from stem estimates (`[stem][channel][bin]`, summing to
    /// `spectrum`), e.g. the output of an earlier pass; `out` as in [`Self::process`].
    pub fn process_estimates(
        &mut self,
        spectrum: &[Complex32],
        estimates: &[Complex32],
        out: &mut [Complex32],
    ) {
        debug_assert_eq!(estimates.len(), self.stems * 2 * self.bins);
        let bins = self.bins;
        self.push_frame(spectrum, |j, c, k| estimates[(j * 2 + c) * bins + k]);
        self.filter(spectrum, out);
    }

    /// Shifts the older frames down one slot and puts this frame's input and stem estimates
    /// (`estimate(stem, channel, bin)`, as split f64 arrays) in front.
    fn push_frame(
        &mut self,
        spectrum: &[Complex32],
        estimate: impl Fn(usize, usize, usize) -> Complex32,
    ) {
        let bins = self.bins;
        debug_assert_eq!(spectrum.len(), 2 * bins);
        self.zx.rotate_right(2);
        for (c, x) in self.zx[..2].iter_mut().enumerate() {
            for (k, v) in spectrum[c * bins..(c + 1) * bins].iter().enumerate() {
                x.re[k] = v.re as f64;
                x.im[k] = v.im as f64;
            }
        }
        for j in 0..self.stems {
            let z = &mut self.zs[j * D..(j + 1) * D];
            z.rotate_right(2);
            for (c, s) in z[..2].iter_mut().enumerate() {
                for k in 0..bins {
                    let v = estimate(j, c, k);
                    s.re[k] = v.re as f64;
                    s.im[k] = v.im as f64;
                }
            }
        }
    }

    /// Updates the statistics with the frame in front and writes the filtered stems to `out`.
    fn filter(&mut self, spectrum: &[Complex32], out: &mut [Complex32]) {
        let (bins, stems) = (self.bins, self.stems);
        debug_assert_eq!(out.len(), stems * 2 * bins);
        let (a, b) = (self.decay, 1.0 - self.decay);

        // Update each stem's statistics and add its covariance into the mixture's.
        self.mix.iter_mut().for_each(Cplx::clear);
        for j in 0..stems {
            let z = &self.zs[j * D..(j + 1) * D];
            let (sl, sr) = (&z[0], &z[1]);
            let (pw, g) = (&mut self.power[j], &mut self.gain[j]);
            for k in 0..bins {
                let pl = sl.re[k] * sl.re[k] + sl.im[k] * sl.im[k];
                let pr = sr.re[k] * sr.re[k] + sr.im[k] * sr.im[k];
                pw[k] = a * pw[k] + b * 0.5 * (pl + pr);
                let v = 0.5 * (pl.sqrt() + pr.sqrt());
                g[k] = if pw[k] > 0.0 { v / pw[k] } else { 0.0 };
            }
            for r in 0..D {
                for c in r..D {
                    let e = tri(r, c);
                    let (zr, zc) = (&z[r], &z[c]);
                    let st = &mut self.cov[j * NE + e];
                    let m = &mut self.mix[e];
                    let zs = zr.re.iter().zip(&zr.im).zip(zc.re.iter().zip(&zc.im));
                    let acc = st
                        .re
                        .iter_mut()
                        .zip(st.im.iter_mut())
                        .zip(m.re.iter_mut().zip(m.im.iter_mut()));
                    for ((((rr, ri), (cr, ci)), ((sre, sim), (mre, mim))), gk) in
                        zs.zip(acc).zip(g.iter())
                    {
                        // z_r conj(z_c)
                        let pre = rr * cr + ri * ci;
                        let pim = ri * cr - rr * ci;
                        *sre = a * *sre + b * pre;
                        *sim = a * *sim + b * pim;
                        *mre += gk * *sre;
                        *mim += gk * *sim;
                    }
                }
            }
        }
        // Diagonal loading.
        for k in 0..bins {
            let tr: f64 = (0..D).map(|d| self.mix[tri(d, d)].re[k]).sum();
            self.load[k] = (REGULARISATION * tr / FRAMES as f64).max(FLOOR);
        }
        for d in 0..D {
            let m = &mut self.mix[tri(d, d)];
            for k in 0..bins {
                m.re[k] += self.load[k];
                m.im[k] = 0.0;
            }
        }
        cholesky_solve(&mut self.mix, &self.zx, &mut self.sol, bins);

        // y_j = rows 0..2 of (C_j + load / S · I) z, for every stem but the last.
        let share = 1.0 / stems as f64;
        for c in 0..2 {
            for k in 0..bins {
                out[((stems - 1) * 2 + c) * bins + k] = spectrum[c * bins + k];
            }
        }
        for j in 0..stems - 1 {
            for row in 0..2 {
                let g = &self.gain[j];
                let y = &mut self.y;
                for k in 0..bins {
                    let l = self.load[k] * share;
                    y.re[k] = l * self.sol[row].re[k];
                    y.im[k] = l * self.sol[row].im[k];
                }
                for col in 0..D {
                    // C_j[row][col]: stored at (row, col) if row ≤ col, else conj of (col, row).
                    let (e, conj) =
                        if row <= col { (tri(row, col), 1.0) } else { (tri(col, row), -1.0) };
                    let st = &self.cov[j * NE + e];
                    let z = &self.sol[col];
                    let ins = st.re.iter().zip(&st.im).zip(z.re.iter().zip(&z.im)).zip(g.iter());
                    for ((((sre, sim), (zre, zim)), gk), (yre, yim)) in
                        ins.zip(y.re.iter_mut().zip(y.im.iter_mut()))
                    {
                        let (cre, cim) = (gk * sre, conj * gk * sim);
                        *yre += cre * zre - cim * zim;
                        *yim += cre * zim + cim * zre;
                    }
                }
                let dst = (j * 2 + row) * bins;
                let last = ((stems - 1) * 2 + row) * bins;
                for k in 0..bins {
                    let v = Complex32::new(y.re[k] as f32, y.im[k] as f32);
                    out[dst + k] = v;
                    out[last + k] -= v;
                }
            }
        }
    }
}

/// The stereo refinement as the engine runs it: [`PASSES`] Wiener passes in a row, each with
/// its own statistics; the first starts from the separator's masks, each later one from the
/// previous pass's stems (worker thread; allocates only in `new`).
pub struct StereoRefinement {
    passes: Vec<SpatialWiener>,
    /// The previous pass's stems, `[stem][channel][bin]`.
    scratch: Vec<Complex32>,
}

impl StereoRefinement {
    /// A refinement for `stems` stems, `bins` bins per channel and hops of `hop_seconds` seconds.
    pub fn new(stems: usize, bins: usize, hop_seconds: f32) -> Self {
        StereoRefinement {
            passes: (0..PASSES).map(|_| SpatialWiener::new(stems, bins, hop_seconds)).collect(),
            scratch: vec![Complex32::new(0.0, 0.0); stems * 2 * bins],
        }
    }

    /// Forgets every pass's statistics.
    pub fn reset(&mut self) {
        self.passes.iter_mut().for_each(SpatialWiener::reset);
    }

    /// Refines one stereo frame; arguments as in [`SpatialWiener::process`].
    pub fn process(&mut self, spectrum: &[Complex32], masks: &[Complex32], out: &mut [Complex32]) {
        let (first, later) = self.passes.split_first_mut().expect("PASSES >= 1");
        first.process(spectrum, masks, out);
        for pass in later {
            self.scratch.copy_from_slice(out);
            pass.process_estimates(spectrum, &self.scratch, out);
        }
    }
}

/// Solves A x = rhs per bin for the Hermitian positive definite A given as its packed upper
/// triangle; A is overwritten by its Cholesky factor L (A = L Lᴴ).
fn cholesky_solve(a: &mut [Cplx], rhs: &[Cplx], x: &mut [Cplx], bins: usize) {
    // Factor column by column: L[r][c] stored at tri(c, r) (r ≥ c), conj(A[c][r]) read from there.
    for c in 0..D {
        for m in 0..c {
            // diag -= |L[c][m]|²
            let (head, tail) = a.split_at_mut(tri(c, c));
            let l = &head[tri(m, c)];
            let d = &mut tail[0];
            for k in 0..bins {
                d.re[k] -= l.re[k] * l.re[k] + l.im[k] * l.im[k];
            }
        }
        {
            let d = &mut a[tri(c, c)];
            for k in 0..bins {
                d.re[k] = d.re[k].max(FLOOR).sqrt();
            }
        }
        for r in c + 1..D {
            // L[r][c] = (A[r][c] - Σ_m L[r][m] conj(L[c][m])) / L[c][c], with A[r][c] = conj(A[c][r]).
            let e = tri(c, r);
            {
                let t = &mut a[e];
                for k in 0..bins {
                    t.im[k] = -t.im[k];
                }
            }
            for m in 0..c {
                // Rows m < c of the packed triangle all lie before entry (c, r).
                let (head, tail) = a.split_at_mut(e);
                let (lr, lc) = (&head[tri(m, r)], &head[tri(m, c)]);
                let t = &mut tail[0];
                for k in 0..bins {
                    t.re[k] -= lr.re[k] * lc.re[k] + lr.im[k] * lc.im[k];
                    t.im[k] -= lr.im[k] * lc.re[k] - lr.re[k] * lc.im[k];
                }
            }
            let (head, tail) = a.split_at_mut(e);
            let d = &head[tri(c, c)];
            let t = &mut tail[0];
            for k in 0..bins {
                t.re[k] /= d.re[k];
                t.im[k] /= d.re[k];
            }
        }
    }
    // Forward: L w = rhs.
    for r in 0..D {
        let (done, rest) = x.split_at_mut(r);
        let w = &mut rest[0];
        w.re.copy_from_slice(&rhs[r].re);
        w.im.copy_from_slice(&rhs[r].im);
        for (m, wm) in done.iter().enumerate() {
            let l = &a[tri(m, r)];
            for k in 0..bins {
                w.re[k] -= l.re[k] * wm.re[k] - l.im[k] * wm.im[k];
                w.im[k] -= l.re[k] * wm.im[k] + l.im[k] * wm.re[k];
            }
        }
        let d = &a[tri(r, r)];
        for k in 0..bins {
            w.re[k] /= d.re[k];
            w.im[k] /= d.re[k];
        }
    }
    // Backward: Lᴴ x = w.
    for r in (0..D).rev() {
        let (head, done) = x.split_at_mut(r + 1);
        let v = &mut head[r];
        for (i, xm) in done.iter().enumerate() {
            let m = r + 1 + i;
            let l = &a[tri(r, m)]; // L[m][r]; Lᴴ[r][m] = conj(L[m][r])
            for k in 0..bins {
                v.re[k] -= l.re[k] * xm.re[k] + l.im[k] * xm.im[k];
                v.im[k] -= l.re[k] * xm.im[k] - l.im[k] * xm.re[k];
            }
        }
        let d = &a[tri(r, r)];
        for k in 0..bins {
            v.re[k] /= d.re[k];
            v.im[k] /= d.re[k];
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
    fn run(
        w: &mut SpatialWiener,
        x: &[Complex32],
        m: &[Complex32],
        frames: usize,
    ) -> Vec<Complex32> {
        let mut out = vec![c(0.0, 0.0); S * 2 * BINS];
        for _ in 0..frames {
            w.process(x, m, &mut out);
        }
        out
    }

    fn even_masks() -> Vec<Complex32> {
        vec![c(0.25, 0.0); S * 2 * BINS]
    }

    /// A = G Gᴴ + I (Hermitian positive definite) for a fixed pseudo-random G; the solve
    /// returns x with A x = b, checked by multiplying back.
    #[test]
    fn cholesky_solve_inverts_a_hermitian_matrix() {
        let bins = 3;
        let val = |i: usize| ((i as f64 * 0.7315).sin() * 1.7, (i as f64 * 1.113).cos());
        let g: Vec<Vec<(f64, f64)>> =
            (0..D).map(|r| (0..D).map(|c| val(r * D + c)).collect()).collect();
        let mut full = vec![vec![(0.0f64, 0.0f64); D]; D];
        for r in 0..D {
            for c in 0..D {
                let (mut re, mut im) = (if r == c { 1.0 } else { 0.0 }, 0.0);
                for m in 0..D {
                    let (a, b) = (g[r][m], g[c][m]); // a * conj(b)
                    re += a.0 * b.0 + a.1 * b.1;
                    im += a.1 * b.0 - a.0 * b.1;
                }
                full[r][c] = (re, im);
            }
        }
        let mut packed = vec![Cplx::new(bins); NE];
        for r in 0..D {
            for c in r..D {
                packed[tri(r, c)].re.fill(full[r][c].0);
                packed[tri(r, c)].im.fill(full[r][c].1);
            }
        }
        let rhs: Vec<Cplx> = (0..D)
            .map(|d| Cplx {
                re: (0..bins).map(|k| val(100 + d * 7 + k).0).collect(),
                im: (0..bins).map(|k| val(200 + d + k).1).collect(),
            })
            .collect();
        let mut x = vec![Cplx::new(bins); D];
        cholesky_solve(&mut packed, &rhs, &mut x, bins);
        for k in 0..bins {
            for r in 0..D {
                let (mut re, mut im) = (0.0, 0.0);
                for c in 0..D {
                    let (a, (xr, xi)) = (full[r][c], (x[c].re[k], x[c].im[k]));
                    re += a.0 * xr - a.1 * xi;
                    im += a.0 * xi + a.1 * xr;
                }
                assert!(
                    (re - rhs[r].re[k]).abs() < 1e-9 && (im - rhs[r].im[k]).abs() < 1e-9,
                    "bin {k} row {r}: ({re}, {im})"
                );
            }
        }
    }

    fn test_input() -> (Vec<Complex32>, Vec<Complex32>) {
        let x: Vec<Complex32> =
            (0..2 * BINS).map(|i| c((i as f32 * 0.7).sin(), (i as f32 * 1.3).cos())).collect();
        let m: Vec<Complex32> = (0..S * 2 * BINS)
            .map(|i| c((i as f32 * 0.37).sin().abs(), (i as f32 * 0.11).cos() * 0.2))
            .collect();
        (x, m)
    }

    #[test]
    fn stems_sum_to_the_input_exactly() {
        let mut w = SpatialWiener::new(S, BINS, 256.0 / 44100.0);
        let mut r = StereoRefinement::new(S, BINS, 256.0 / 44100.0);
        let (x, m) = test_input();
        let mut out_r = vec![c(0.0, 0.0); S * 2 * BINS];
        for frames in [1, 5, 50] {
            let out = run(&mut w, &x, &m, frames);
            for _ in 0..frames {
                r.process(&x, &m, &mut out_r);
            }
            for o in [&out, &out_r] {
                for i in 0..2 * BINS {
                    let s: Complex32 = (0..S).map(|j| o[j * 2 * BINS + i]).sum();
                    assert!(
                        (s - x[i]).norm() <= 1e-6 * x[i].norm().max(1.0),
                        "bin {i}: {s} vs {}",
                        x[i]
                    );
                }
            }
        }
    }

    /// Masks and the stem estimates they make (mask × input) are the same input to a pass.
    #[test]
    fn estimates_and_masks_give_the_same_pass() {
        let mut a = SpatialWiener::new(S, BINS, 256.0 / 44100.0);
        let mut b = SpatialWiener::new(S, BINS, 256.0 / 44100.0);
        let (x, m) = test_input();
        let est: Vec<Complex32> =
            m.iter().enumerate().map(|(i, v)| v * x[i % (2 * BINS)]).collect();
        let (mut oa, mut ob) = (vec![c(0.0, 0.0); S * 2 * BINS], vec![c(0.0, 0.0); S * 2 * BINS]);
        for _ in 0..7 {
            a.process(&x, &m, &mut oa);
            b.process_estimates(&x, &est, &mut ob);
        }
        assert_eq!(oa, ob);
    }

    /// The second pass starts from the first pass's stems and refines them further: on the
    /// position test below, with masks that wrongly give a share to the other stems, two passes
    /// end at least twice as near the true split as one.
    #[test]
    fn second_pass_moves_further_towards_the_positions() {
        let hop_s = 256.0 / 44100.0;
        let mut one = SpatialWiener::new(S, BINS, hop_s);
        let mut two = StereoRefinement::new(S, BINS, hop_s);
        let mut m = vec![c(0.0, 0.0); S * 2 * BINS];
        for k in 0..BINS {
            m[k] = c(1.0, 0.0);
            m[(2 + 1) * BINS + k] = c(1.0, 0.0);
        }
        let x = vec![c(1.0, 0.0); 2 * BINS];
        let mut half = vec![c(0.0, 0.0); S * 2 * BINS];
        half[..4 * BINS].fill(c(0.6, 0.0));
        half[4 * BINS..].fill(c(-0.1, 0.0));
        let (mut o1, mut o2) = (vec![c(0.0, 0.0); S * 2 * BINS], vec![c(0.0, 0.0); S * 2 * BINS]);
        for _ in 0..3000 {
            one.process(&x, &m, &mut o1);
            two.process(&x, &m, &mut o2);
        }
        one.process(&x, &half, &mut o1);
        two.process(&x, &half, &mut o2);
        // Error of stem 0: it should be all of the left channel and none of the right.
        let err = |o: &[Complex32]| (o[0] - c(1.0, 0.0)).norm() + o[BINS].norm();
        assert!(err(&o2) < 0.5 * err(&o1), "two passes {} vs one {}", err(&o2), err(&o1));
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
