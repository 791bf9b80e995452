//! The `Separator` trait: one STFT frame in, one complex mask per stem out (worker thread only).

use realfft::num_complex::Complex32;

#[cfg(test)]
use crate::stem::N_STEMS;

/// Errors a separator can report for one frame; the caller falls back to neutral masks.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SeparatorError {
    /// The inference backend failed; the message says why.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The frame or mask buffers do not have the shape the separator was built for.
    #[error(
        "frame has {frame_channels} channel(s) x {frame_bins} bins, masks {mask_channels} x \
         {mask_bins}, separator built for {expected_channels} channel(s) x {expected_bins} values"
    )]
    Shape {
        /// Channels in the frame.
        frame_channels: usize,
        /// Bins per channel in the frame.
        frame_bins: usize,
        /// Channels in the mask buffer.
        mask_channels: usize,
        /// Bins per channel in the mask buffer.
        mask_bins: usize,
        /// Channels the separator was built for.
        expected_channels: usize,
        /// Values per channel (or in total, for a raw tensor) the separator expects.
        expected_bins: usize,
    },
    /// The frame's bin spacing differs from the one the model was trained at.
    #[error(
        "STFT bin spacing {host_hz_per_bin:.3} Hz (n_fft {n_fft} at {sample_rate_hz} Hz) does not \
         match the model's {model_hz_per_bin:.3} Hz; use ModelInfo::stft_for_rate"
    )]
    BinGrid {
        /// The frame's bin spacing in Hz.
        host_hz_per_bin: f64,
        /// The model's bin spacing in Hz.
        model_hz_per_bin: f64,
        /// The frame's FFT length.
        n_fft: usize,
        /// The frame's sample rate in Hz.
        sample_rate_hz: f32,
    },
}

/// One STFT frame of all channels: `bins` complex values per channel, channel-major.
pub struct Frame<'a> {
    /// Spectrum, `data[ch * bins + k]`.
    pub data: &'a [Complex32],
    /// Number of audio channels (1 or 2).
    pub channels: usize,
    /// Number of bins per channel (`n_fft / 2 + 1`).
    pub bins: usize,
    /// Sample rate of the audio in Hz, so bins can be mapped to frequencies.
    pub sample_rate_hz: f32,
    /// Frame length in samples, so bin k is at `k * sample_rate_hz / n_fft` Hz.
    pub n_fft: usize,
    /// Samples since the previous frame (`n_fft / 4` at Standard latency, half that at Low).
    pub hop: usize,
}

/// Complex masks for all stems: `data[(stem * channels + ch) * bins + k]`.
pub struct Masks<'a> {
    /// Mask values, stem-major, then channel, then bin.
    pub data: &'a mut [Complex32],
    /// Number of audio channels.
    pub channels: usize,
    /// Number of bins per channel.
    pub bins: usize,
}

/// A streaming separator with its own recurrent state. Runs on the worker thread; may
/// allocate, but should reuse buffers allocated at construction.
pub trait Separator: Send {
    /// Short name for the GUI and logs, e.g. "Classic" or the model's name.
    fn name(&self) -> &str;
    /// Computes one mask per stem for `frame`. Masks need not sum to one: the caller projects
    /// them (see [`project_sum_to_one`]).
    fn process(&mut self, frame: &Frame<'_>, masks: &mut Masks<'_>) -> Result<(), SeparatorError>;
    /// Clears all recurrent state (transport jump, non-finite input).
    fn reset(&mut self);
}

/// Projects the masks so that, per channel and bin, they sum to exactly `1 + 0i`, replacing
/// non-finite values by neutral masks (`1/stems`). Returns true if any value was non-finite.
pub fn project_sum_to_one(masks: &mut Masks<'_>) -> bool {
    let per_stem = masks.channels * masks.bins;
    let stems = masks.data.len() / per_stem;
    let inv = 1.0 / stems as f32;
    let mut bad = false;
    for i in 0..per_stem {
        let mut sum = Complex32::new(0.0, 0.0);
        let mut finite = true;
        for s in 0..stems {
            let m = masks.data[s * per_stem + i];
            finite &= m.re.is_finite() && m.im.is_finite();
            sum += m;
        }
        if !finite {
            bad = true;
            for s in 0..stems {
                masks.data[s * per_stem + i] = Complex32::new(inv, 0.0);
            }
            continue;
        }
        let corr = (Complex32::new(1.0, 0.0) - sum) * inv;
        for s in 0..stems {
            masks.data[s * per_stem + i] += corr;
        }
        // Put the rounding residue into the last stem so the sum is exact in f32.
        let mut partial = Complex32::new(0.0, 0.0);
        for s in 0..stems - 1 {
            partial += masks.data[s * per_stem + i];
        }
        masks.data[(stems - 1) * per_stem + i] = Complex32::new(1.0, 0.0) - partial;
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_makes_masks_sum_to_one() {
        let (ch, bins) = (2, 33);
        let mut data: Vec<Complex32> = (0..N_STEMS * ch * bins)
            .map(|i| Complex32::new((i as f32 * 0.37).sin() * 3.0, (i as f32 * 0.11).cos()))
            .collect();
        data[5] = Complex32::new(f32::NAN, 0.0);
        let mut m = Masks { data: &mut data, channels: ch, bins };
        assert!(project_sum_to_one(&mut m));
        for i in 0..ch * bins {
            let s: Complex32 = (0..N_STEMS).map(|s| data[s * ch * bins + i]).sum();
            assert!((s.re - 1.0).abs() < 1e-6 && s.im.abs() < 1e-6, "bin {i}: {s}");
        }
        assert_eq!(data[5], Complex32::new(0.25, 0.0));
    }
}
