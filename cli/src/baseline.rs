//! `--engine baseline`: the textbook signal-processing separators, offline and non-causal,
//! kept only as a reference point for the results table (not tuned, not real-time).
//!
//! On a Hann STFT of ~93 ms frames (4096 samples at 44.1 kHz, scaled with the rate, hop 1/4):
//!
//! - **bass** = low-pass of the mixture: every bin below [`BASS_CUTOFF_HZ`] (raised-cosine
//!   crossover ±[`BASS_TRANSITION_HZ`]);
//! - **drums** = percussive part of HPSS (Fitzgerald 2010, "Harmonic/percussive separation
//!   using median filtering"): on the mixture's magnitude spectrogram `X` (mean of the
//!   channels), `H` = median of `X` over [`HPSS_KERNEL`] frames (time, both directions),
//!   `P` = median over [`HPSS_KERNEL`] bins (frequency); soft mask `P² / (H² + P²)`;
//! - **vocals** = centre channel (mid-side, no HPSS): per bin, the L/R similarity
//!   `ψ = 1 − |L−R|² / (|L|² + |R|²)` (1 where the two channels are equal, 0 where they are
//!   unrelated or in anti-phase), soft mask `ψ⁴` ([`CENTRE_EXPONENT`]); 0.5 for mono input;
//! - **other** = the mixture minus the three above (time domain), so the stems sum to the
//!   mixture exactly.
//!
//! Above the bass band, the drums and vocals masks are each computed from the mixture alone;
//! where they add up to more than one (a centre-panned drum hit) they are scaled down in
//! proportion so nothing is counted twice. Masks are real and the same for both channels
//! (except that ψ is per bin, shared by L and R).

use realfft::num_complex::Complex32;
use realfft::RealFftPlanner;

/// Bass low-pass cut-off in Hz.
pub const BASS_CUTOFF_HZ: f32 = 150.0;
/// Half-width of the raised-cosine crossover around [`BASS_CUTOFF_HZ`], in Hz.
pub const BASS_TRANSITION_HZ: f32 = 20.0;
/// HPSS median filter length, in frames (harmonic) and in bins (percussive).
pub const HPSS_KERNEL: usize = 17;
/// Exponent sharpening the L/R similarity into the vocals mask.
pub const CENTRE_EXPONENT: i32 = 4;
/// Vocals mask for mono input, where panning says nothing.
pub const MONO_CENTRE: f32 = 0.5;
/// STFT frame length at 44.1 kHz (scaled to keep its duration at other rates).
pub const N_FFT_44K: usize = 4096;

/// STFT frame length at `sample_rate` Hz: ~93 ms, a multiple of 4.
pub fn frame_len(sample_rate: u32) -> usize {
    let n = (N_FFT_44K as f64 * sample_rate as f64 / 44100.0 / 4.0).round() as usize * 4;
    n.max(64)
}

fn hann(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
        .collect()
}

fn median(v: &mut [f32]) -> f32 {
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1
}

/// Low-pass weight of bin frequency `f`: 1 below the crossover, 0 above.
pub fn bass_weight(f: f32) -> f32 {
    let x =
        ((f - (BASS_CUTOFF_HZ - BASS_TRANSITION_HZ)) / (2.0 * BASS_TRANSITION_HZ)).clamp(0.0, 1.0);
    0.5 + 0.5 * (std::f32::consts::PI * x).cos()
}

/// Centre-channel weight of one stereo bin: `ψ^CENTRE_EXPONENT`.
pub fn centre_weight(l: Complex32, r: Complex32) -> f32 {
    let e = l.norm_sqr() + r.norm_sqr();
    if e <= 1e-30 {
        return 0.0;
    }
    let psi = (1.0 - (l - r).norm_sqr() / e).clamp(0.0, 1.0);
    psi.powi(CENTRE_EXPONENT)
}

/// Separates `channels[ch][sample]` (1 or 2 channels of equal length) into
/// `stems[stem][ch][sample]` in the engine's stem order (vocals, drums, bass, other), same
/// length as the input; the stems sum to the input. `progress` gets the fraction done.
pub fn separate(
    channels: &[Vec<f32>],
    sample_rate: u32,
    mut progress: impl FnMut(f32),
) -> Vec<Vec<Vec<f32>>> {
    let ch = channels.len();
    let len = channels.first().map_or(0, Vec::len);
    let n = frame_len(sample_rate);
    let hop = n / 4;
    let bins = n / 2 + 1;
    let win = hann(n);
    // Frames start at -(n - hop), -(n - 2 hop), …: every input sample is covered by 4 frames.
    let lead = (n - hop) as isize;
    let frames = (len + n - hop).div_ceil(hop);
    let mut planner = RealFftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut buf = fwd.make_input_vec();
    let mut spec = vec![vec![Complex32::new(0.0, 0.0); bins]; ch];
    let mut scratch = fwd.make_scratch_vec();
    let mut iscratch = inv.make_scratch_vec();

    let mut analyse = |t: usize, spec: &mut [Vec<Complex32>]| {
        let start = t as isize * hop as isize - lead;
        for (c, s) in spec.iter_mut().enumerate() {
            for (i, b) in buf.iter_mut().enumerate() {
                let j = start + i as isize;
                *b = if j >= 0 && (j as usize) < len {
                    channels[c][j as usize] * win[i]
                } else {
                    0.0
                };
            }
            fwd.process_with_scratch(&mut buf, s, &mut scratch).expect("FFT sizes");
        }
    };

    // Pass 1: magnitude spectrogram of the mixture (mean over channels).
    let mut mag = vec![0.0f32; frames * bins];
    for t in 0..frames {
        analyse(t, &mut spec);
        let row = &mut mag[t * bins..(t + 1) * bins];
        for (k, m) in row.iter_mut().enumerate() {
            *m = spec.iter().map(|s| s[k].norm()).sum::<f32>() / ch.max(1) as f32;
        }
        if t % 512 == 0 {
            progress(0.3 * t as f32 / frames as f32);
        }
    }
    // Harmonic: median over time of each bin.
    let half = HPSS_KERNEL / 2;
    let mut harm = vec![0.0f32; frames * bins];
    let mut win_vals = Vec::with_capacity(HPSS_KERNEL);
    for k in 0..bins {
        for t in 0..frames {
            win_vals.clear();
            for u in t.saturating_sub(half)..(t + half + 1).min(frames) {
                win_vals.push(mag[u * bins + k]);
            }
            harm[t * bins + k] = median(&mut win_vals);
        }
    }
    progress(0.4);

    // Pass 2: masks, inverse STFT, overlap-add of vocals, drums and bass.
    let hz_per_bin = sample_rate as f32 / n as f32;
    let bass_w: Vec<f32> = (0..bins).map(|k| bass_weight(k as f32 * hz_per_bin)).collect();
    let mut out = vec![vec![vec![0.0f32; len]; ch]; 4];
    let mut masks = vec![[0.0f32; 3]; bins];
    let mut masked = vec![Complex32::new(0.0, 0.0); bins];
    let mut frame_out = inv.make_output_vec();
    // Hann² at hop n/4 overlap-adds to 1.5; realfft's inverse is unnormalised (× n).
    let norm = 1.0 / (1.5 * n as f32);
    for t in 0..frames {
        analyse(t, &mut spec);
        let row = &mag[t * bins..(t + 1) * bins];
        for k in 0..bins {
            win_vals.clear();
            win_vals.extend_from_slice(&row[k.saturating_sub(half)..(k + half + 1).min(bins)]);
            let p = median(&mut win_vals);
            let h = harm[t * bins + k];
            let (p2, h2) = (p * p, h * h);
            let perc = if p2 + h2 > 1e-30 { p2 / (p2 + h2) } else { 0.0 };
            let centre = if ch >= 2 { centre_weight(spec[0][k], spec[1][k]) } else { MONO_CENTRE };
            let s = perc + centre;
            let scale = if s > 1.0 { 1.0 / s } else { 1.0 };
            let rest = 1.0 - bass_w[k];
            masks[k] = [centre * scale * rest, perc * scale * rest, bass_w[k]];
        }
        let start = t as isize * hop as isize - lead;
        for c in 0..ch {
            for (stem, out_stem) in out.iter_mut().take(3).enumerate() {
                for k in 0..bins {
                    masked[k] = spec[c][k] * masks[k][stem];
                }
                // The DC and Nyquist bins of a real signal's spectrum are real.
                masked[0].im = 0.0;
                masked[bins - 1].im = 0.0;
                inv.process_with_scratch(&mut masked, &mut frame_out, &mut iscratch)
                    .expect("FFT sizes");
                let o = &mut out_stem[c];
                for (i, y) in frame_out.iter().enumerate() {
                    let j = start + i as isize;
                    if j >= 0 && (j as usize) < len {
                        o[j as usize] += y * win[i] * norm;
                    }
                }
            }
        }
        if t % 512 == 0 {
            progress(0.4 + 0.6 * t as f32 / frames as f32);
        }
    }
    // Other: the rest, so the four stems sum to the mixture.
    for c in 0..ch {
        for i in 0..len {
            out[3][c][i] = channels[c][i] - out[0][c][i] - out[1][c][i] - out[2][c][i];
        }
    }
    progress(1.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(f: f32, sr: u32, n: usize, a: f32) -> Vec<f32> {
        (0..n).map(|i| a * (2.0 * std::f32::consts::PI * f * i as f32 / sr as f32).sin()).collect()
    }

    fn energy(x: &[Vec<f32>]) -> f64 {
        x.iter().flatten().map(|v| (*v as f64).powi(2)).sum()
    }

    #[test]
    fn sums_to_mixture_and_sorts_textbook_cases() {
        let sr = 44100;
        let n = sr as usize * 2 + 123;
        // Left: 60 Hz bass (centre) + 1 kHz tone only on the left (side) + clicks (centre).
        let bass = sine(60.0, sr, n, 0.3);
        let side = sine(1000.0, sr, n, 0.2);
        let click: Vec<f32> = (0..n).map(|i| if i % 11025 == 0 { 0.9 } else { 0.0 }).collect();
        let voice = sine(440.0, sr, n, 0.2);
        let l: Vec<f32> = (0..n).map(|i| bass[i] + side[i] + click[i] + voice[i]).collect();
        let r: Vec<f32> = (0..n).map(|i| bass[i] + click[i] + voice[i]).collect();
        let mix = vec![l, r];
        let stems = separate(&mix, sr, |_| {});
        assert_eq!(stems.len(), 4);
        for s in &stems {
            assert_eq!(s.len(), 2);
            assert!(s.iter().all(|c| c.len() == n));
        }
        let mut err = 0.0f64;
        for c in 0..2 {
            for i in 0..n {
                let s: f32 = (0..4).map(|k| stems[k][c][i]).sum();
                err += ((s - mix[c][i]) as f64).powi(2);
            }
        }
        assert!(10.0 * (err / energy(&mix)).log10() < -100.0);
        // The bass stem is mostly the 60 Hz tone.
        let bass_err: f64 = (0..2)
            .map(|c| (0..n).map(|i| ((stems[2][c][i] - bass[i]) as f64).powi(2)).sum::<f64>())
            .sum();
        assert!(bass_err < 0.1 * energy(&[bass.clone(), bass.clone()]), "bass error {bass_err}");
        // The 1 kHz tone is on one side only: not vocals; the 440 Hz centre tone is vocals.
        let e_v = energy(&stems[0]);
        let e_o = energy(&stems[3]);
        assert!(e_v > 0.3 * energy(&[voice.clone(), voice.clone()]), "vocals {e_v}");
        assert!(e_o > 0.5 * energy(std::slice::from_ref(&side)), "other {e_o}");
        // The clicks end up mostly in drums.
        assert!(energy(&stems[1]) > 0.3 * energy(&[click.clone(), click.clone()]));
    }

    #[test]
    fn mono_and_short_inputs() {
        for len in [0usize, 1, 100, 5000] {
            let x = vec![sine(300.0, 48000, len, 0.5)];
            let s = separate(&x, 48000, |_| {});
            for (c, v) in x[0].iter().enumerate() {
                let sum: f32 = (0..4).map(|k| s[k][0][c]).sum();
                assert!((sum - v).abs() < 1e-5);
            }
        }
    }
}
