//! Sound-shaping options applied by the worker around the separator: mask sharpness
//! ("Bleed ↔ Artifacts"), phase-coherent vocals, stereo refinement (see [`crate::dsp::spatial`]),
//! low-end mono for the bass stem, and the vocal post-chain settings. The audio thread
//! publishes them through [`crate::sync::shaping::SharedShaping`] (atomics); the worker reads
//! them once per hop.

use realfft::num_complex::Complex32;

use crate::dsp::postfx::{DeEsserSettings, GateSettings};
use crate::stem::Stem;

/// User-facing shaping options. Every setting keeps the stems summing to the input; the
/// defaults change nothing but turn on stereo refinement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShapingSettings {
    /// -1 (soft masks: more bleed, fewer artifacts) … 0 (as separated) … +1 (hard masks:
    /// less bleed, more "watery" artifacts).
    pub bleed_artifacts: f32,
    /// Use one mask for both channels of the vocal stem (less stereo "swirl"). Turns stereo
    /// refinement off, which would give the channels different filters again.
    pub vocal_coherent_stereo: bool,
    /// Re-estimate stereo stems from the masks and each stem's learnt position between the
    /// channels (causal multichannel Wiener filter, [`crate::dsp::spatial`]). No effect on mono.
    pub stereo_refine: bool,
    /// Collapse the bass stem to mono below this frequency in Hz; 0 = off.
    pub bass_mono_below_hz: f32,
    /// Vocal de-esser.
    pub deesser: DeEsserSettings,
    /// Vocal gate / downward expander.
    pub gate: GateSettings,
}

impl Default for ShapingSettings {
    fn default() -> Self {
        ShapingSettings {
            bleed_artifacts: 0.0,
            vocal_coherent_stereo: false,
            stereo_refine: true,
            bass_mono_below_hz: 0.0,
            deesser: DeEsserSettings::default(),
            gate: GateSettings::default(),
        }
    }
}

/// Mask exponent for a "Bleed ↔ Artifacts" position: 2^(1.5·x), so -1 → 0.35, 0 → 1, +1 → 2.8.
pub fn sharpness_exponent(bleed_artifacts: f32) -> f32 {
    2f32.powf(1.5 * bleed_artifacts.clamp(-1.0, 1.0))
}

/// Re-weights masks (`[stem][ch][bin]`, summing to one) by `|m|^p / Σ|m|^p`, keeping each
/// mask's phase; the caller projects the result back to a sum of one. `p > 1` sharpens.
pub fn sharpen(masks: &mut [Complex32], channels: usize, bins: usize, p: f32) {
    let per_stem = channels * bins;
    let stems = masks.len() / per_stem;
    for i in 0..per_stem {
        let mut total = 0.0f32;
        for s in 0..stems {
            total += masks[s * per_stem + i].norm().powf(p);
        }
        if total <= 1e-20 || !total.is_finite() {
            continue;
        }
        for s in 0..stems {
            let m = &mut masks[s * per_stem + i];
            let a = m.norm();
            if a > 1e-20 {
                *m *= a.powf(p) / total / a;
            }
        }
    }
}

/// Gives both channels of `stem` the mean of their masks and moves the difference into
/// [`Stem::Other`], so the masks still sum to one.
pub fn coherent_stereo(masks: &mut [Complex32], bins: usize, stem: Stem) {
    let per_stem = 2 * bins;
    let (stem, other) = (stem.index(), Stem::Other.index());
    for k in 0..bins {
        let (l, r) = (stem * per_stem + k, stem * per_stem + bins + k);
        let mean = (masks[l] + masks[r]) * 0.5;
        for (i, o) in [(l, other * per_stem + k), (r, other * per_stem + bins + k)] {
            masks[o] += masks[i] - mean;
            masks[i] = mean;
        }
    }
}

/// Replaces the stereo spectra `left`/`right` by their mid below `below_hz` (fading over one
/// bin on each side of the edge).
pub fn mono_below(left: &mut [Complex32], right: &mut [Complex32], below_hz: f32, hz_per_bin: f32) {
    let edge = below_hz / hz_per_bin;
    for k in 0..left.len() {
        let w = (edge + 0.5 - k as f32).clamp(0.0, 1.0);
        if w <= 0.0 {
            break;
        }
        let mid = (left[k] + right[k]) * 0.5;
        left[k] = left[k] * (1.0 - w) + mid * w;
        right[k] = right[k] * (1.0 - w) + mid * w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharpening_moves_masks_towards_binary_and_keeps_the_sum() {
        let bins = 1;
        let mut m = vec![
            Complex32::new(0.6, 0.0),
            Complex32::new(0.3, 0.0),
            Complex32::new(0.1, 0.0),
            Complex32::new(0.0, 0.0),
        ];
        sharpen(&mut m, 1, bins, sharpness_exponent(1.0));
        let sum: f32 = m.iter().map(|c| c.re).sum();
        assert!((sum - 1.0).abs() < 1e-6);
        assert!(m[0].re > 0.8, "{m:?}");
        let mut soft = vec![
            Complex32::new(0.6, 0.0),
            Complex32::new(0.3, 0.0),
            Complex32::new(0.1, 0.0),
            Complex32::new(0.0, 0.0),
        ];
        sharpen(&mut soft, 1, bins, sharpness_exponent(-1.0));
        assert!(soft[0].re < 0.6 && soft[2].re > 0.1, "{soft:?}");
        let mut same = vec![
            Complex32::new(0.6, 0.0),
            Complex32::new(0.3, 0.0),
            Complex32::new(0.1, 0.0),
            Complex32::new(0.0, 0.0),
        ];
        sharpen(&mut same, 1, bins, sharpness_exponent(0.0));
        assert!((same[0].re - 0.6).abs() < 1e-6);
    }

    #[test]
    fn coherent_vocals_share_one_mask_and_sum_stays_one() {
        let bins = 3;
        let mut m: Vec<Complex32> =
            (0..4 * 2 * bins).map(|i| Complex32::new(0.25 + 0.01 * (i % 5) as f32, 0.0)).collect();
        // Make every (ch, bin) sum to one first.
        for i in 0..2 * bins {
            let s: Complex32 = (0..3).map(|st| m[st * 2 * bins + i]).sum();
            m[3 * 2 * bins + i] = Complex32::new(1.0, 0.0) - s;
        }
        coherent_stereo(&mut m, bins, Stem::Vocals);
        for k in 0..bins {
            assert_eq!(m[k], m[bins + k]);
        }
        for i in 0..2 * bins {
            let s: Complex32 = (0..4).map(|st| m[st * 2 * bins + i]).sum();
            assert!((s.re - 1.0).abs() < 1e-6 && s.im.abs() < 1e-6);
        }
    }

    #[test]
    fn mono_below_collapses_only_low_bins() {
        let mut l = vec![Complex32::new(1.0, 0.0); 10];
        let mut r = vec![Complex32::new(-1.0, 0.0); 10];
        mono_below(&mut l, &mut r, 200.0, 43.0);
        assert_eq!(l[0], Complex32::new(0.0, 0.0));
        assert_eq!(r[3], Complex32::new(0.0, 0.0));
        assert_eq!(l[6], Complex32::new(1.0, 0.0));
        assert_eq!(r[9], Complex32::new(-1.0, 0.0));
    }
}
