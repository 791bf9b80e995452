//! BSS-Eval version 4 (images), computed the way `museval` 0.4 does
//! (`museval.evaluate(..., mode="v4")`, i.e. `museval.metrics.bss_eval` with
//! `framewise_filters=False`, `bsseval_sources_version=False`, no permutation search):
//!
//! 1. Time-invariant multichannel distortion filters of `filters_len` taps are fitted once on
//!    the whole track: for estimate `j`, `C_j` projects it on the span of delayed copies of
//!    *all* reference channels (normal equations `G C = D`, `G` the Gram matrix of delayed
//!    references); `Cj_j` projects it on the delayed copies of reference `j` alone.
//! 2. Per window (`window`/`hop` samples; museval's default for MUSDB is 1 s / 1 s), the
//!    window of the references is filtered with those filters (full convolution, so the
//!    projections are `W + filters_len - 1` long) and the estimate is decomposed into
//!    `s_true + e_spat + e_interf + e_artif`:
//!    - `SDR = 10 log10(‖s‖² / ‖ŝ − s‖²)`, `ISR = 10 log10(‖s‖² / ‖P_j − s‖²)`,
//!    - `SIR = 10 log10(‖P_j‖² / ‖P_all − P_j‖²)`, `SAR = 10 log10(‖P_all‖² / ‖ŝ − P_all‖²)`,
//!
//!    summed over channels. A window in which any reference or any estimate is all zeros is
//!    NaN for every source (as in museval); a zero denominator gives +inf.
//! 3. The track's value per source is the median over windows, ignoring NaN (`np.nanmedian`).
//!
//! The linear systems (size `sources · channels · filters_len`, 4096 for four stereo stems)
//! are solved by a blocked Cholesky factorisation in f64 (museval uses LU on `G + eps·I`;
//! the solutions agree for the positive-definite `G` of real audio). If `G` is numerically
//! singular (e.g. a reference made of a few pure tones), a tiny diagonal loading is added and
//! the result says so.

use std::sync::Arc;

use anyhow::{bail, Result};
use realfft::num_complex::Complex64;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::metrics::nanmedian;

/// museval's distortion filter length.
pub const FILTERS_LEN: usize = 512;

/// Framewise metrics of every source: `sdr[source][window]` etc. (dB; NaN for skipped windows).
#[derive(Debug, Clone)]
pub struct BssEval {
    /// Source-to-distortion ratio per source and window.
    pub sdr: Vec<Vec<f64>>,
    /// Image-to-spatial-distortion ratio.
    pub isr: Vec<Vec<f64>>,
    /// Source-to-interference ratio.
    pub sir: Vec<Vec<f64>>,
    /// Source-to-artifacts ratio.
    pub sar: Vec<Vec<f64>>,
    /// True if diagonal loading was needed to solve for the filters.
    pub regularized: bool,
}

impl BssEval {
    /// Median over windows (ignoring NaN) of `sdr`, `isr`, `sir`, `sar` for `source`.
    pub fn medians(&self, source: usize) -> [f64; 4] {
        [
            nanmedian(&self.sdr[source]),
            nanmedian(&self.isr[source]),
            nanmedian(&self.sir[source]),
            nanmedian(&self.sar[source]),
        ]
    }
}

/// Number of windows museval uses for a signal of `len` samples.
pub fn n_windows(len: usize, window: usize, hop: usize) -> usize {
    if window < len {
        (len - window + hop) / hop
    } else {
        1
    }
}

/// Computes BSS-Eval v4 for `refs[source][channel][sample]` against `ests` of the same shape
/// (estimates are padded with zeros or truncated to the references' length first, as
/// museval's `pad_or_truncate`). Errors if a whole reference or estimate is silent (museval
/// refuses those too) or shapes differ.
pub fn bss_eval_v4(
    refs: &[Vec<Vec<f32>>],
    ests: &[Vec<Vec<f32>>],
    window: usize,
    hop: usize,
    filters_len: usize,
) -> Result<BssEval> {
    let nsrc = refs.len();
    if nsrc == 0 || ests.len() != nsrc {
        bail!("need the same number (> 0) of references and estimates");
    }
    let nchan = refs[0].len();
    let n = refs[0][0].len();
    if n == 0 {
        bail!("empty references");
    }
    for (k, (r, e)) in refs.iter().zip(ests).enumerate() {
        if r.len() != nchan || e.len() != nchan || r.iter().any(|c| c.len() != n) {
            bail!("source {k}: channel counts or lengths differ");
        }
    }
    let to64 = |x: &Vec<f32>| -> Vec<f64> {
        let mut v: Vec<f64> = x.iter().take(n).map(|&s| s as f64).collect();
        v.resize(n, 0.0);
        v
    };
    // Flattened signals: reference channel u = p * nchan + c.
    let r: Vec<Vec<f64>> = refs.iter().flat_map(|s| s.iter().map(to64)).collect();
    let e: Vec<Vec<f64>> = ests.iter().flat_map(|s| s.iter().map(to64)).collect();
    for p in 0..nsrc {
        if silent(&r[p * nchan..(p + 1) * nchan], 0, n) {
            bail!("reference source {p} is silent (all zeros); BSS-Eval is undefined");
        }
        if silent(&e[p * nchan..(p + 1) * nchan], 0, n) {
            bail!("estimate {p} is silent (all zeros); BSS-Eval is undefined");
        }
    }
    let l = filters_len;
    let k = nsrc * nchan;
    let kl = k * l;

    // Correlations: R(x, y, τ) = Σ_n x[n] y[n + τ], τ ∈ [-(L-1), L-1].
    let mut pairs: Vec<(&[f64], &[f64])> = Vec::new();
    for u in 0..k {
        for v in u..k {
            pairs.push((&r[u], &r[v]));
        }
    }
    for u in 0..k {
        for ec in &e {
            pairs.push((&r[u], ec));
        }
    }
    let corr = xcorr_many(&pairs, l);
    let rr_index = |u: usize, v: usize| -> (usize, bool) {
        // index into `corr` of the pair (min, max) and whether it was swapped
        let (a, b, swapped) = if u <= v { (u, v, false) } else { (v, u, true) };
        (a * k - a * (a + 1) / 2 + b, swapped)
    };
    let rr = |u: usize, v: usize, tau: isize| -> f64 {
        let (i, swapped) = rr_index(u, v);
        let t = if swapped { -tau } else { tau };
        corr[i][(t + l as isize - 1) as usize]
    };
    let n_rr = k * (k + 1) / 2;
    let re = |u: usize, ec: usize, tau: usize| -> f64 { corr[n_rr + u * k + ec][tau + l - 1] };

    // Gram matrix G[(u,a),(v,b)] = <delay_a r_u, delay_b r_v> = R(u, v, a - b).
    let mut g = vec![0.0f64; kl * kl];
    for u in 0..k {
        for a in 0..l {
            let row = &mut g[(u * l + a) * kl..(u * l + a + 1) * kl];
            for v in 0..k {
                for b in 0..l {
                    row[v * l + b] = rr(u, v, a as isize - b as isize);
                }
            }
        }
    }
    let eps = f64::EPSILON;
    for i in 0..kl {
        g[i * kl + i] += eps;
    }
    // Per-source Gram matrices (rows/cols of source j only), before G is factored in place.
    let nl = nchan * l;
    let gj: Vec<Vec<f64>> = (0..nsrc)
        .map(|j| {
            let mut m = vec![0.0; nl * nl];
            for i in 0..nl {
                let src = (j * nl + i) * kl + j * nl;
                m[i * nl..(i + 1) * nl].copy_from_slice(&g[src..src + nl]);
            }
            m
        })
        .collect();
    let mut regularized = factor_with_loading(&mut g, kl)?;
    // Filters: c_all[j][(u, a) * nchan + c], cj[j][(cj, a) * nchan + c].
    let mut c_all = Vec::with_capacity(nsrc);
    let mut c_own = Vec::with_capacity(nsrc);
    for j in 0..nsrc {
        let mut d = vec![0.0f64; kl * nchan];
        for u in 0..k {
            for a in 0..l {
                for c in 0..nchan {
                    d[(u * l + a) * nchan + c] = re(u, j * nchan + c, a);
                }
            }
        }
        // D restricted to source j's rows, for Cj.
        let dj: Vec<f64> = d[j * nl * nchan..(j + 1) * nl * nchan].to_vec();
        solve_factored(&g, kl, &mut d, nchan);
        c_all.push(d);
        let mut m = gj[j].clone();
        regularized |= factor_with_loading(&mut m, nl)?;
        let mut dj = dj;
        solve_factored(&m, nl, &mut dj, nchan);
        c_own.push(dj);
    }
    drop(g);

    // Windowed decomposition with FFT convolution.
    let nwin = n_windows(n, window, hop);
    let mut out = BssEval {
        sdr: vec![vec![f64::NAN; nwin]; nsrc],
        isr: vec![vec![f64::NAN; nwin]; nsrc],
        sir: vec![vec![f64::NAN; nwin]; nsrc],
        sar: vec![vec![f64::NAN; nwin]; nsrc],
        regularized,
    };
    let mut planner = RealFftPlanner::<f64>::new();
    let mut conv: Option<Convolver> = None;
    for t in 0..nwin {
        let s0 = t * hop;
        let s1 = (t * hop + window).min(n);
        let w = s1 - s0;
        let any_silent = (0..nsrc).any(|p| {
            silent(&r[p * nchan..(p + 1) * nchan], s0, s1)
                || silent(&e[p * nchan..(p + 1) * nchan], s0, s1)
        });
        if any_silent {
            continue;
        }
        let nfft = (w + l - 1).next_power_of_two();
        if conv.as_ref().is_none_or(|c| c.nfft != nfft) {
            conv = Some(Convolver::new(&mut planner, nfft, l, nsrc, nchan, &c_all, &c_own));
        }
        let cv = conv.as_mut().unwrap();
        // Spectra of the reference windows.
        for u in 0..k {
            cv.buf.fill(0.0);
            cv.buf[..w].copy_from_slice(&r[u][s0..s1]);
            cv.fwd.process_with_scratch(&mut cv.buf, &mut cv.ref_spec[u], &mut cv.scratch).ok();
        }
        let out_len = w + l - 1;
        for j in 0..nsrc {
            let (mut ss, mut err, mut spat, mut pj2, mut interf, mut pall2, mut artif) =
                (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
            for c in 0..nchan {
                // P_all: all reference channels through C_j; P_j: source j's channels through Cj_j.
                cv.acc.fill(Complex64::new(0.0, 0.0));
                for u in 0..k {
                    let f = &cv.filt_all[(j * k + u) * nchan + c];
                    for ((a, x), y) in cv.acc.iter_mut().zip(&cv.ref_spec[u]).zip(f) {
                        *a += x * y;
                    }
                }
                cv.inverse(true);
                cv.acc.fill(Complex64::new(0.0, 0.0));
                for cj in 0..nchan {
                    let f = &cv.filt_own[(j * nchan + cj) * nchan + c];
                    for ((a, x), y) in cv.acc.iter_mut().zip(&cv.ref_spec[j * nchan + cj]).zip(f) {
                        *a += x * y;
                    }
                }
                cv.inverse(false);
                let sref = &r[j * nchan + c][s0..s1];
                let sest = &e[j * nchan + c][s0..s1];
                for i in 0..out_len {
                    let s = if i < w { sref[i] } else { 0.0 };
                    let x = if i < w { sest[i] } else { 0.0 };
                    let pa = cv.p_all[i];
                    let pj = cv.p_own[i];
                    ss += s * s;
                    err += (x - s) * (x - s);
                    spat += (pj - s) * (pj - s);
                    pj2 += pj * pj;
                    interf += (pa - pj) * (pa - pj);
                    pall2 += pa * pa;
                    artif += (x - pa) * (x - pa);
                }
            }
            out.sdr[j][t] = safe_db(ss, err);
            out.isr[j][t] = safe_db(ss, spat);
            out.sir[j][t] = safe_db(pj2, interf);
            out.sar[j][t] = safe_db(pall2, artif);
        }
    }
    Ok(out)
}

fn safe_db(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (num / den).log10()
    }
}

/// museval's `_any_source_silent` for one source: the channel sum is zero at every sample.
fn silent(chans: &[Vec<f64>], s0: usize, s1: usize) -> bool {
    (s0..s1).all(|i| chans.iter().map(|c| c[i]).sum::<f64>() == 0.0)
}

/// FFT convolution state for one FFT size: filter spectra, reference window spectra, buffers.
struct Convolver {
    nfft: usize,
    fwd: Arc<dyn RealToComplex<f64>>,
    inv: Arc<dyn ComplexToReal<f64>>,
    iscratch: Vec<Complex64>,
    buf: Vec<f64>,
    scratch: Vec<Complex64>,
    /// `filt_all[(j * k + u) * nchan + c]`: spectrum of C_j's filter from reference channel u to output channel c.
    filt_all: Vec<Vec<Complex64>>,
    /// `filt_own[(j * nchan + cj) * nchan + c]`.
    filt_own: Vec<Vec<Complex64>>,
    ref_spec: Vec<Vec<Complex64>>,
    acc: Vec<Complex64>,
    p_all: Vec<f64>,
    p_own: Vec<f64>,
}

impl Convolver {
    fn new(
        planner: &mut RealFftPlanner<f64>,
        nfft: usize,
        l: usize,
        nsrc: usize,
        nchan: usize,
        c_all: &[Vec<f64>],
        c_own: &[Vec<f64>],
    ) -> Self {
        let fwd = planner.plan_fft_forward(nfft);
        let k = nsrc * nchan;
        let mut buf = fwd.make_input_vec();
        let mut scratch = fwd.make_scratch_vec();
        let mut spec = |taps: &mut dyn Iterator<Item = f64>| -> Vec<Complex64> {
            buf.fill(0.0);
            for (b, x) in buf.iter_mut().zip(taps) {
                *b = x;
            }
            let mut s = fwd.make_output_vec();
            fwd.process_with_scratch(&mut buf, &mut s, &mut scratch).ok();
            s
        };
        let mut filt_all = Vec::with_capacity(nsrc * k * nchan);
        for cj in c_all.iter().take(nsrc) {
            for u in 0..k {
                for c in 0..nchan {
                    filt_all.push(spec(&mut (0..l).map(|a| cj[(u * l + a) * nchan + c])));
                }
            }
        }
        let mut filt_own = Vec::with_capacity(nsrc * nchan * nchan);
        for co in c_own.iter().take(nsrc) {
            for cj in 0..nchan {
                for c in 0..nchan {
                    filt_own.push(spec(&mut (0..l).map(|a| co[(cj * l + a) * nchan + c])));
                }
            }
        }
        let ref_spec = (0..k).map(|_| fwd.make_output_vec()).collect();
        let acc = fwd.make_output_vec();
        let inv = planner.plan_fft_inverse(nfft);
        Convolver {
            nfft,
            iscratch: inv.make_scratch_vec(),
            inv,
            buf: fwd.make_input_vec(),
            scratch: fwd.make_scratch_vec(),
            fwd,
            filt_all,
            filt_own,
            ref_spec,
            acc,
            p_all: vec![0.0; nfft],
            p_own: vec![0.0; nfft],
        }
    }

    /// Inverse FFT of `acc` into `p_all` (or `p_own`), scaled by 1/nfft.
    fn inverse(&mut self, all: bool) {
        let dst = if all { &mut self.p_all } else { &mut self.p_own };
        self.acc[0].im = 0.0;
        let last = self.acc.len() - 1;
        self.acc[last].im = 0.0;
        self.inv.process_with_scratch(&mut self.acc, dst, &mut self.iscratch).ok();
        let s = 1.0 / self.nfft as f64;
        dst.iter_mut().for_each(|x| *x *= s);
    }
}

/// Cross-correlations `R(x, y, τ) = Σ_n x[n] y[n + τ]` for τ = -(L-1) ..= L-1 (index τ + L - 1)
/// of many pairs, by block FFTs whose cross-spectra are summed over blocks (one inverse FFT
/// per pair). All signals have the same length.
pub fn xcorr_many(pairs: &[(&[f64], &[f64])], l: usize) -> Vec<Vec<f64>> {
    if pairs.is_empty() {
        return vec![];
    }
    let n = pairs[0].0.len();
    let nfft = (4 * l).max(1 << 15).next_power_of_two();
    let block = nfft - 2 * (l - 1) - 1;
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(nfft);
    let inv = planner.plan_fft_inverse(nfft);
    // Distinct signals, by address, so each is transformed once per block.
    let mut sigs: Vec<*const f64> = Vec::new();
    let mut idx = |p: &[f64]| -> usize {
        let ptr = p.as_ptr();
        match sigs.iter().position(|&q| q == ptr) {
            Some(i) => i,
            None => {
                sigs.push(ptr);
                sigs.len() - 1
            }
        }
    };
    let pair_idx: Vec<(usize, usize)> = pairs.iter().map(|(x, y)| (idx(x), idx(y))).collect();
    let signals: Vec<&[f64]> = {
        let mut v: Vec<&[f64]> = vec![&[]; sigs.len()];
        for ((x, y), (i, j)) in pairs.iter().zip(&pair_idx) {
            v[*i] = x;
            v[*j] = y;
        }
        v
    };
    let xs_needed: Vec<bool> =
        (0..signals.len()).map(|s| pair_idx.iter().any(|p| p.0 == s)).collect();
    let ys_needed: Vec<bool> =
        (0..signals.len()).map(|s| pair_idx.iter().any(|p| p.1 == s)).collect();
    let bins = nfft / 2 + 1;
    let mut acc = vec![vec![Complex64::new(0.0, 0.0); bins]; pairs.len()];
    let mut xspec = vec![vec![Complex64::new(0.0, 0.0); bins]; signals.len()];
    let mut yspec = vec![vec![Complex64::new(0.0, 0.0); bins]; signals.len()];
    let mut buf = fwd.make_input_vec();
    let mut scratch = fwd.make_scratch_vec();
    let mut m0 = 0usize;
    while m0 < n {
        let bl = block.min(n - m0);
        for (s, sig) in signals.iter().enumerate() {
            if xs_needed[s] {
                buf.fill(0.0);
                buf[..bl].copy_from_slice(&sig[m0..m0 + bl]);
                fwd.process_with_scratch(&mut buf, &mut xspec[s], &mut scratch).ok();
            }
            if ys_needed[s] {
                // y segment starting at m0 - (L-1), length bl + 2(L-1), zero outside the signal.
                buf.fill(0.0);
                let start = m0 as isize - (l as isize - 1);
                for (i, b) in buf.iter_mut().enumerate().take(bl + 2 * (l - 1)) {
                    let j = start + i as isize;
                    if j >= 0 && (j as usize) < n {
                        *b = sig[j as usize];
                    }
                }
                fwd.process_with_scratch(&mut buf, &mut yspec[s], &mut scratch).ok();
            }
        }
        for (a, &(i, j)) in acc.iter_mut().zip(&pair_idx) {
            for ((a, x), y) in a.iter_mut().zip(&xspec[i]).zip(&yspec[j]) {
                *a += x.conj() * y;
            }
        }
        m0 += bl;
    }
    let mut out = Vec::with_capacity(pairs.len());
    let mut res = inv.make_output_vec();
    let mut iscratch = inv.make_scratch_vec();
    for mut a in acc {
        a[0].im = 0.0;
        a[bins - 1].im = 0.0;
        inv.process_with_scratch(&mut a, &mut res, &mut iscratch).ok();
        out.push(res[..2 * l - 1].iter().map(|v| v / nfft as f64).collect());
    }
    out
}

/// Cholesky-factors the symmetric positive-definite `a` (n×n, row-major) in place (lower
/// triangle = L); on failure retries with growing diagonal loading. Returns whether loading
/// was used.
fn factor_with_loading(a: &mut [f64], n: usize) -> Result<bool> {
    let orig = a.to_vec();
    if cholesky_in_place(a, n).is_ok() {
        return Ok(false);
    }
    let mean_diag = (0..n).map(|i| orig[i * n + i]).sum::<f64>() / n as f64;
    let mut lambda = mean_diag * 1e-12;
    for _ in 0..8 {
        a.copy_from_slice(&orig);
        for i in 0..n {
            a[i * n + i] += lambda;
        }
        if cholesky_in_place(a, n).is_ok() {
            return Ok(true);
        }
        lambda *= 100.0;
    }
    bail!("distortion-filter system is singular (a reference is (nearly) silent or degenerate)")
}

/// Blocked right-looking Cholesky, lower triangle, row-major; the trailing updates use
/// `matrixmultiply::dgemm`. Err(i) if the i-th pivot is not positive.
pub fn cholesky_in_place(a: &mut [f64], n: usize) -> std::result::Result<(), usize> {
    const NB: usize = 48;
    const CB: usize = 256;
    let mut k = 0;
    while k < n {
        let kb = NB.min(n - k);
        // 1. Diagonal block.
        for j in k..k + kb {
            let mut d = a[j * n + j];
            for p in k..j {
                d -= a[j * n + p] * a[j * n + p];
            }
            if d.is_nan() || d <= 0.0 {
                return Err(j);
            }
            let ljj = d.sqrt();
            a[j * n + j] = ljj;
            for i in j + 1..k + kb {
                let mut s = a[i * n + j];
                for p in k..j {
                    s -= a[i * n + p] * a[j * n + p];
                }
                a[i * n + j] = s / ljj;
            }
        }
        // 2. Panel below: L21 = A21 L11^-T.
        for i in k + kb..n {
            for j in k..k + kb {
                let (ri, rj) = (i * n, j * n);
                let mut s = a[ri + j];
                for p in k..j {
                    s -= a[ri + p] * a[rj + p];
                }
                a[ri + j] = s / a[rj + j];
            }
        }
        // 3. Trailing lower part: A22 -= L21 L21^T, in column blocks from the diagonal down.
        let t0 = k + kb;
        let mut cb = t0;
        while cb < n {
            let w = CB.min(n - cb);
            let m = n - cb;
            // C = A[cb.., cb..cb+w] (m×w), A = L21[cb.., :] (m×kb), B = L21[cb..cb+w, :]^T (kb×w)
            unsafe {
                let base = a.as_mut_ptr();
                matrixmultiply::dgemm(
                    m,
                    kb,
                    w,
                    -1.0,
                    base.add(cb * n + k),
                    n as isize,
                    1,
                    base.add(cb * n + k),
                    1,
                    n as isize,
                    1.0,
                    base.add(cb * n + cb),
                    n as isize,
                    1,
                );
            }
            cb += w;
        }
        k += kb;
    }
    Ok(())
}

/// Solves `(L Lᵀ) X = B` for `B` (n×m, row-major) in place, `L` from [`cholesky_in_place`].
pub fn solve_factored(l: &[f64], n: usize, b: &mut [f64], m: usize) {
    for c in 0..m {
        // forward: L y = b
        for i in 0..n {
            let mut s = b[i * m + c];
            let row = &l[i * n..i * n + i];
            for (p, lv) in row.iter().enumerate() {
                s -= lv * b[p * m + c];
            }
            b[i * m + c] = s / l[i * n + i];
        }
        // backward: Lᵀ x = y
        for i in (0..n).rev() {
            let mut s = b[i * m + c];
            for p in i + 1..n {
                s -= l[p * n + i] * b[p * m + c];
            }
            b[i * m + c] = s / l[i * n + i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_spd_system() {
        let n = 130;
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] =
                    1.0 / (1.0 + (i as f64 - j as f64).abs()) + if i == j { n as f64 } else { 0.0 };
            }
        }
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.3).sin()).collect();
        let mut b: Vec<f64> = (0..n).map(|i| (0..n).map(|j| a[i * n + j] * x[j]).sum()).collect();
        let mut f = a.clone();
        cholesky_in_place(&mut f, n).unwrap();
        solve_factored(&f, n, &mut b, 1);
        for i in 0..n {
            assert!((b[i] - x[i]).abs() < 1e-10);
        }
    }

    #[test]
    fn xcorr_matches_direct() {
        let n: usize = 70000;
        let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0).collect();
        let y: Vec<f64> = (0..n).map(|i| ((i * 104729) % 997) as f64 / 500.0 - 1.0).collect();
        let l = 5;
        let r = xcorr_many(&[(&x, &y)], l);
        for (ti, tau) in (-(l as isize - 1)..l as isize).enumerate() {
            let mut s = 0.0;
            for i in 0..n as isize {
                let j = i + tau;
                if j >= 0 && j < n as isize {
                    s += x[i as usize] * y[j as usize];
                }
            }
            assert!(
                (r[0][ti] - s).abs() < 1e-6 * s.abs().max(1.0),
                "tau {tau}: {} vs {s}",
                r[0][ti]
            );
        }
    }
}
