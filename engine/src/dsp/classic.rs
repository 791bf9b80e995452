//! The "Classic (no model)" separator: causal DSP heuristics, the quality floor the neural
//! model must beat (worker thread only; allocates at construction only).
//!
//! Per bin of each frame it splits the energy into
//! - drums: percussive share from causal median filtering (median across frequency in the
//!   current frame vs. median over the last [`HARMONIC_FRAMES`] frames of the same bin),
//! - bass: the harmonic share below ~150 Hz, fading out by 300 Hz,
//! - vocals: the harmonic, centre-panned share (left/right similarity) in the voice band,
//! - other: the rest,
//!
//! so the four real-valued masks sum to exactly one.

use realfft::num_complex::Complex32;

use crate::dsp::separator::{Frame, Masks, Separator, SeparatorError};
use crate::stem::Stem;

/// Frames of history in the causal harmonic (time) median.
pub const HARMONIC_FRAMES: usize = 9;
/// Width of the percussive (frequency) median in Hz.
const PERCUSSIVE_MEDIAN_HZ: f32 = 700.0;
/// Bass region: full weight below the first, none above the second (Hz).
const BASS_HZ: (f32, f32) = (150.0, 300.0);
/// Voice band edges (Hz): ramps in from the first to the second, out from the third to the fourth.
const VOICE_HZ: (f32, f32, f32, f32) = (120.0, 250.0, 6000.0, 12000.0);
/// Centre weight used for mono input, where panning says nothing.
const MONO_CENTRE_WEIGHT: f32 = 0.6;
/// Exponent sharpening the left/right similarity into a centre weight.
const CENTRE_EXPONENT: i32 = 4;

/// Causal HPSS + centre-channel separator.
pub struct ClassicSeparator {
    bins: usize,
    history: Vec<f32>,
    history_pos: usize,
    mag: Vec<f32>,
    scratch: Vec<f32>,
}

impl ClassicSeparator {
    /// Creates a separator for frames of `bins` bins.
    pub fn new(bins: usize) -> Self {
        ClassicSeparator {
            bins,
            history: vec![0.0; HARMONIC_FRAMES * bins],
            history_pos: 0,
            mag: vec![0.0; bins],
            scratch: Vec::with_capacity(HARMONIC_FRAMES.max(512)),
        }
    }
}

fn median(values: &mut [f32]) -> f32 {
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    *m
}

fn ramp(x: f32, from: f32, to: f32) -> f32 {
    ((x - from) / (to - from)).clamp(0.0, 1.0)
}

impl Separator for ClassicSeparator {
    fn name(&self) -> &str {
        "Classic"
    }

    fn process(&mut self, frame: &Frame<'_>, masks: &mut Masks<'_>) -> Result<(), SeparatorError> {
        let bins = self.bins.min(frame.bins);
        let ch = frame.channels;
        // Magnitude of the mid signal, shared by all channels' masks.
        for k in 0..bins {
            let mut m = 0.0;
            for c in 0..ch {
                m += frame.data[c * frame.bins + k].norm();
            }
            self.mag[k] = m / ch as f32;
        }
        let row = self.history_pos * self.bins;
        self.history[row..row + bins].copy_from_slice(&self.mag[..bins]);
        self.history_pos = (self.history_pos + 1) % HARMONIC_FRAMES;

        let hz_per_bin = frame.sample_rate_hz / frame.n_fft as f32;
        let half = ((PERCUSSIVE_MEDIAN_HZ / hz_per_bin / 2.0).round() as usize).max(1);
        let per_stem = ch * frame.bins;
        for k in 0..bins {
            self.scratch.clear();
            for t in 0..HARMONIC_FRAMES {
                self.scratch.push(self.history[t * self.bins + k]);
            }
            let h = median(&mut self.scratch);
            self.scratch.clear();
            let lo = k.saturating_sub(half);
            let hi = (k + half + 1).min(bins);
            self.scratch.extend_from_slice(&self.mag[lo..hi]);
            let p = median(&mut self.scratch);
            let (h2, p2) = (h * h, p * p);
            let perc = if h2 + p2 > 1e-30 { p2 / (h2 + p2) } else { 0.5 };
            let harm = 1.0 - perc;

            let f = k as f32 * hz_per_bin;
            let bass_w = 1.0 - ramp(f, BASS_HZ.0, BASS_HZ.1);
            let voice_w =
                ramp(f, VOICE_HZ.0, VOICE_HZ.1) * (1.0 - 0.7 * ramp(f, VOICE_HZ.2, VOICE_HZ.3));
            let centre = if ch >= 2 {
                let l = frame.data[k];
                let r = frame.data[frame.bins + k];
                let e = l.norm_sqr() + r.norm_sqr();
                if e > 1e-30 {
                    let sim = (2.0 * (l * r.conj()).re / e).clamp(0.0, 1.0);
                    sim.powi(CENTRE_EXPONENT)
                } else {
                    0.0
                }
            } else {
                MONO_CENTRE_WEIGHT
            };
            let drums = perc;
            let bass = harm * bass_w;
            let vocals = harm * (1.0 - bass_w) * centre * voice_w;
            let other = 1.0 - drums - bass - vocals;
            for c in 0..ch {
                let i = c * frame.bins + k;
                for (stem, m) in [
                    (Stem::Vocals, vocals),
                    (Stem::Drums, drums),
                    (Stem::Bass, bass),
                    (Stem::Other, other),
                ] {
                    masks.data[stem.index() * per_stem + i] = Complex32::new(m, 0.0);
                }
            }
        }
        // Bins beyond what this separator was built for go to "other".
        for k in bins..frame.bins {
            for c in 0..ch {
                let i = c * frame.bins + k;
                for s in Stem::ALL {
                    let m = if s == Stem::Other { 1.0 } else { 0.0 };
                    masks.data[s.index() * per_stem + i] = Complex32::new(m, 0.0);
                }
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.history.fill(0.0);
        self.history_pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stem::N_STEMS;

    #[test]
    fn masks_sum_to_one_and_are_in_range() {
        let bins = 513;
        let mut sep = ClassicSeparator::new(bins);
        let mut masks = vec![Complex32::new(0.0, 0.0); N_STEMS * 2 * bins];
        for t in 0..20 {
            let data: Vec<Complex32> = (0..2 * bins)
                .map(|i| {
                    Complex32::new(((i * 31 + t * 7) % 17) as f32 - 8.0, ((i * 13 + t) % 5) as f32)
                })
                .collect();
            let frame = Frame {
                data: &data,
                channels: 2,
                bins,
                sample_rate_hz: 44100.0,
                n_fft: 1024,
                hop: 256,
            };
            let mut m = Masks { data: &mut masks, channels: 2, bins };
            sep.process(&frame, &mut m).unwrap();
            for i in 0..2 * bins {
                let s: f32 = (0..N_STEMS).map(|s| masks[s * 2 * bins + i].re).sum();
                assert!((s - 1.0).abs() < 1e-5);
                for s in 0..N_STEMS {
                    let v = masks[s * 2 * bins + i].re;
                    assert!((-1e-6..=1.0 + 1e-6).contains(&v));
                }
            }
        }
    }
}
