//! Streaming STFT analysis and overlap-add synthesis (worker thread only; allocates at construction).
//!
//! Periodic Hann analysis and synthesis windows at hop = n_fft / 4 satisfy COLA for the
//! squared window (sum of w² over the hops is exactly 1.5), so analysis → synthesis with a
//! unity mask reconstructs the input delayed by `n_fft - hop` samples.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Frame size and hop of the STFT, in samples at the processing sample rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StftConfig {
    /// Frame (window) length in samples; a multiple of 4.
    pub n_fft: usize,
    /// Hop in samples; always `n_fft / 4`.
    pub hop: usize,
}

impl StftConfig {
    /// The model's native configuration: 1024-sample frames, 256-sample hop at 44.1 kHz.
    pub const DEFAULT_44K: StftConfig = StftConfig { n_fft: 1024, hop: 256 };

    /// A configuration from a hop; `n_fft = 4 * hop`.
    pub fn from_hop(hop: usize) -> Self {
        let hop = hop.max(1);
        StftConfig { n_fft: 4 * hop, hop }
    }

    /// Scales a configuration defined at `base_rate_hz` to `sample_rate_hz` so every bin keeps
    /// (within rounding) its frequency in Hz.
    pub fn scaled(base: StftConfig, base_rate_hz: f64, sample_rate_hz: f64) -> Self {
        let hop = (base.hop as f64 * sample_rate_hz / base_rate_hz).round() as usize;
        Self::from_hop(hop)
    }

    /// [`Self::DEFAULT_44K`] scaled to `sample_rate_hz`: the STFT when no model dictates one.
    pub fn default_for_rate(sample_rate_hz: f64) -> Self {
        Self::scaled(Self::DEFAULT_44K, 44100.0, sample_rate_hz)
    }

    /// Number of frequency bins, `n_fft / 2 + 1`.
    pub fn bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Algorithmic delay of analysis + overlap-add, in samples: `n_fft - hop`.
    pub fn delay_samples(&self) -> usize {
        self.n_fft - self.hop
    }
}

/// Periodic Hann window of length `n`: `0.5 - 0.5 cos(2πi/n)`.
pub fn hann_periodic(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
        .collect()
}

/// Streaming analysis for one channel: keeps the last `n_fft` input samples.
pub struct Analyzer {
    cfg: StftConfig,
    window: Vec<f32>,
    history: Vec<f32>,
    scratch_in: Vec<f32>,
    scratch_fft: Vec<Complex32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl Analyzer {
    /// Creates an analyzer whose history starts as `n_fft` zeros.
    pub fn new(cfg: StftConfig, planner: &mut RealFftPlanner<f32>) -> Self {
        let fft = planner.plan_fft_forward(cfg.n_fft);
        Analyzer {
            cfg,
            window: hann_periodic(cfg.n_fft),
            history: vec![0.0; cfg.n_fft],
            scratch_in: fft.make_input_vec(),
            scratch_fft: fft.make_scratch_vec(),
            fft,
        }
    }

    /// Appends one hop of samples (`hop.len() == cfg.hop`) and writes the spectrum of the
    /// newest frame (`cfg.bins()` values) into `spectrum`.
    pub fn push_hop(&mut self, hop: &[f32], spectrum: &mut [Complex32]) {
        let n = self.cfg.n_fft;
        let h = self.cfg.hop;
        debug_assert_eq!(hop.len(), h);
        self.history.copy_within(h.., 0);
        self.history[n - h..].copy_from_slice(hop);
        for ((d, x), w) in self.scratch_in.iter_mut().zip(&self.history).zip(&self.window) {
            *d = x * w;
        }
        // Lengths are fixed at construction, so this cannot fail.
        let _ =
            self.fft.process_with_scratch(&mut self.scratch_in, spectrum, &mut self.scratch_fft);
    }

    /// Clears the history to zeros.
    pub fn reset(&mut self) {
        self.history.fill(0.0);
    }
}

/// Streaming overlap-add synthesis for one signal (one stem of one channel).
pub struct Synthesizer {
    cfg: StftConfig,
    window: Vec<f32>,
    accum: Vec<f32>,
    scratch_spec: Vec<Complex32>,
    scratch_out: Vec<f32>,
    scratch_fft: Vec<Complex32>,
    ifft: Arc<dyn ComplexToReal<f32>>,
    /// `1 / (n_fft · Σ w²)`: inverse-FFT scale and COLA normalisation in one factor.
    scale: f32,
}

impl Synthesizer {
    /// Creates a synthesizer with an all-zero overlap buffer.
    pub fn new(cfg: StftConfig, planner: &mut RealFftPlanner<f32>) -> Self {
        let ifft = planner.plan_fft_inverse(cfg.n_fft);
        let window = hann_periodic(cfg.n_fft);
        // Σ over frames of w² at each sample position, averaged over one hop (1.5 for Hann).
        let mut acc = 0.0f64;
        for i in 0..cfg.hop {
            let mut s = 0.0f64;
            let mut j = i;
            while j < cfg.n_fft {
                s += (window[j] as f64).powi(2);
                j += cfg.hop;
            }
            acc += s;
        }
        let wsq = acc / cfg.hop as f64;
        Synthesizer {
            cfg,
            window,
            accum: vec![0.0; cfg.n_fft],
            scratch_spec: ifft.make_input_vec(),
            scratch_out: ifft.make_output_vec(),
            scratch_fft: ifft.make_scratch_vec(),
            ifft,
            scale: (1.0 / (cfg.n_fft as f64 * wsq)) as f32,
        }
    }

    /// Overlap-adds the frame whose spectrum is `spectrum` and writes the `hop` samples that
    /// are now complete into `out`.
    pub fn push_frame(&mut self, spectrum: &[Complex32], out: &mut [f32]) {
        let n = self.cfg.n_fft;
        let h = self.cfg.hop;
        self.scratch_spec.copy_from_slice(spectrum);
        // A real signal's DC and Nyquist bins are real; drop any imaginary part there.
        self.scratch_spec[0].im = 0.0;
        let last = self.scratch_spec.len() - 1;
        self.scratch_spec[last].im = 0.0;
        let _ = self.ifft.process_with_scratch(
            &mut self.scratch_spec,
            &mut self.scratch_out,
            &mut self.scratch_fft,
        );
        for ((a, y), w) in self.accum.iter_mut().zip(&self.scratch_out).zip(&self.window) {
            *a += y * w * self.scale;
        }
        out[..h].copy_from_slice(&self.accum[..h]);
        self.accum.copy_within(h.., 0);
        self.accum[n - h..].fill(0.0);
    }

    /// Clears the overlap buffer.
    pub fn reset(&mut self) {
        self.accum.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_error_db(cfg: StftConfig) -> f64 {
        let mut planner = RealFftPlanner::new();
        let mut an = Analyzer::new(cfg, &mut planner);
        let mut sy = Synthesizer::new(cfg, &mut planner);
        let len = cfg.hop * 200;
        let x: Vec<f32> = (0..len)
            .map(|i| {
                let t = i as f32;
                0.5 * (t * 0.031).sin()
                    + 0.3 * (t * 0.2171).cos()
                    + 0.1 * ((i * 7919 % 101) as f32 / 50.0 - 1.0)
            })
            .collect();
        let mut spec = vec![Complex32::new(0.0, 0.0); cfg.bins()];
        let mut y = vec![0.0f32; len];
        for (hin, hout) in x.chunks(cfg.hop).zip(y.chunks_mut(cfg.hop)) {
            an.push_hop(hin, &mut spec);
            sy.push_frame(&spec, hout);
        }
        let d = cfg.delay_samples();
        let (mut sig, mut err) = (0.0f64, 0.0f64);
        for i in d..len {
            let r = x[i - d] as f64;
            sig += r * r;
            err += (y[i] as f64 - r).powi(2);
        }
        10.0 * (err / sig).log10()
    }

    #[test]
    fn round_trip_reconstructs_delayed_input() {
        for cfg in [StftConfig::DEFAULT_44K, StftConfig::from_hop(279), StftConfig::from_hop(128)] {
            let db = round_trip_error_db(cfg);
            assert!(db <= -120.0, "round trip error {db:.1} dB for {cfg:?}");
        }
    }

    #[test]
    fn scaled_config_keeps_bin_frequencies() {
        for sr in [48000.0, 88200.0, 96000.0, 192000.0] {
            let c = StftConfig::default_for_rate(sr);
            let base_spacing = 44100.0 / 1024.0;
            let spacing = sr / c.n_fft as f64;
            assert!(((spacing - base_spacing) / base_spacing).abs() < 0.002, "{sr}: {c:?}");
            assert_eq!(c.n_fft, 4 * c.hop);
        }
    }
}
