//! Streaming STFT analysis and overlap-add synthesis (worker thread only; allocates at construction).
//!
//! Two window pairs, both reconstructing the input exactly with a unity mask:
//! - **Standard**: periodic Hann analysis and synthesis windows of `n_fft` samples at
//!   hop = n_fft / 4 (COLA for the squared window: Σ w² over the hops is exactly 1.5). Delay
//!   `n_fft - hop`.
//! - **Low latency**: the same `n_fft`-sample analysis frame (so the bins, and the bass
//!   resolution, stay), but an asymmetric analysis window — a long Hann rise and a short
//!   square-root-Hann fall over the last hop — and a synthesis window that is non-zero only on
//!   the frame's last `2·hop` samples, chosen so that analysis × synthesis is a periodic Hann of
//!   `2·hop` there, which sums to one at hop overlap. Only the last `2·hop` samples of a frame
//!   reach the output, so the delay is `2·hop - hop = hop`. This is the asymmetric-window idea of
//!   Mauler & Martin (EUSIPCO 2007), built here from its definition.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// The latency a user picks: the STFT's window pair and hop (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Latency {
    /// Symmetric Hann windows at hop `n_fft / 4` (the model's native frame rate).
    #[default]
    Standard,
    /// Asymmetric windows at half the standard hop: about a third of the standard latency at
    /// twice the worker's CPU cost.
    Low,
}

impl Latency {
    /// Both, in the order a GUI lists them.
    pub const ALL: [Latency; 2] = [Latency::Standard, Latency::Low];

    /// From its `as u8` value (anything unknown is `Standard`).
    pub fn from_u8(v: u8) -> Self {
        if v == Latency::Low as u8 {
            Latency::Low
        } else {
            Latency::Standard
        }
    }

    /// Name in the GUI and on the command line.
    pub fn label(self) -> &'static str {
        match self {
            Latency::Standard => "Standard",
            Latency::Low => "Low",
        }
    }
}

/// Frame size, hop and synthesis span of the STFT, in samples at the processing sample rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StftConfig {
    /// Frame (analysis window) length in samples; a multiple of 4.
    pub n_fft: usize,
    /// Hop in samples: `n_fft / 4` in standard latency, half that in low latency.
    pub hop: usize,
    /// Samples at the end of each frame that the synthesis window covers: `n_fft` (standard)
    /// or `2 * hop` (low latency, asymmetric windows).
    pub synthesis_len: usize,
}

impl StftConfig {
    /// The model's native configuration: 1024-sample frames, 256-sample hop at 44.1 kHz.
    pub const DEFAULT_44K: StftConfig = StftConfig { n_fft: 1024, hop: 256, synthesis_len: 1024 };

    /// A standard-latency configuration from a hop; `n_fft = 4 * hop`.
    pub fn from_hop(hop: usize) -> Self {
        let hop = hop.max(1);
        StftConfig { n_fft: 4 * hop, hop, synthesis_len: 4 * hop }
    }

    /// This configuration's frame (same `n_fft`, so the same bins) at `latency`: standard keeps
    /// it as it is (with hop `n_fft / 4`); low halves the hop and synthesises over `2 * hop`.
    pub fn with_latency(self, latency: Latency) -> Self {
        let standard_hop = (self.n_fft / 4).max(1);
        match latency {
            Latency::Standard => {
                StftConfig { n_fft: self.n_fft, hop: standard_hop, synthesis_len: self.n_fft }
            }
            Latency::Low => {
                let hop = (standard_hop / 2).max(1);
                StftConfig { n_fft: self.n_fft, hop, synthesis_len: 2 * hop }
            }
        }
    }

    /// Which latency this configuration is.
    pub fn latency(&self) -> Latency {
        if self.synthesis_len < self.n_fft {
            Latency::Low
        } else {
            Latency::Standard
        }
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

    /// Algorithmic delay of analysis + overlap-add, in samples: `synthesis_len - hop`
    /// (`n_fft - hop` in standard latency, `hop` in low).
    pub fn delay_samples(&self) -> usize {
        self.synthesis_len - self.hop
    }

    /// The analysis window (`n_fft` samples).
    pub fn analysis_window(&self) -> Vec<f32> {
        match self.latency() {
            Latency::Standard => hann_periodic(self.n_fft),
            Latency::Low => {
                // A Hann rise over all but the last hop, then the falling half of a sqrt-Hann
                // of `2 * hop` samples: it meets the rise at 1.
                let (n, h) = (self.n_fft, self.hop);
                let rise = hann_periodic(2 * (n - h));
                let fall = hann_periodic(2 * h);
                (0..n)
                    .map(|i| if i < n - h { rise[i] } else { fall[i - (n - h) + h].sqrt() })
                    .collect()
            }
        }
    }

    /// The synthesis window over the frame's last `synthesis_len` samples. In low latency it is
    /// Hann(`2 * hop`) divided by the analysis window there, so their product overlap-adds to
    /// one.
    pub fn synthesis_window(&self) -> Vec<f32> {
        match self.latency() {
            Latency::Standard => hann_periodic(self.n_fft),
            Latency::Low => {
                let analysis = self.analysis_window();
                let tail = &analysis[self.n_fft - self.synthesis_len..];
                let product = hann_periodic(self.synthesis_len);
                product.iter().zip(tail).map(|(p, a)| if *a > 0.0 { p / a } else { 0.0 }).collect()
            }
        }
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
            window: cfg.analysis_window(),
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
    /// The synthesis window over the frame's last `synthesis_len` samples.
    window: Vec<f32>,
    /// Overlap-add buffer for the frame's last `synthesis_len` samples.
    accum: Vec<f32>,
    scratch_spec: Vec<Complex32>,
    scratch_out: Vec<f32>,
    scratch_fft: Vec<Complex32>,
    ifft: Arc<dyn ComplexToReal<f32>>,
    /// `1 / (n_fft · Σ w_a·w_s)`: inverse-FFT scale and overlap-add normalisation in one factor.
    scale: f32,
}

impl Synthesizer {
    /// Creates a synthesizer with an all-zero overlap buffer.
    pub fn new(cfg: StftConfig, planner: &mut RealFftPlanner<f32>) -> Self {
        let ifft = planner.plan_fft_inverse(cfg.n_fft);
        let window = cfg.synthesis_window();
        let analysis = cfg.analysis_window();
        let offset = cfg.n_fft - cfg.synthesis_len;
        // Σ over frames of analysis × synthesis window at each sample position, averaged over
        // one hop (1.5 for standard Hann/Hann, 1 for the low-latency pair).
        let mut acc = 0.0f64;
        for i in 0..cfg.hop {
            let mut s = 0.0f64;
            let mut j = i;
            while j < cfg.synthesis_len {
                s += analysis[offset + j] as f64 * window[j] as f64;
                j += cfg.hop;
            }
            acc += s;
        }
        let wsq = acc / cfg.hop as f64;
        Synthesizer {
            cfg,
            window,
            accum: vec![0.0; cfg.synthesis_len],
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
        let (n, h, len) = (self.cfg.n_fft, self.cfg.hop, self.cfg.synthesis_len);
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
        let tail = &self.scratch_out[n - len..];
        for ((a, y), w) in self.accum.iter_mut().zip(tail).zip(&self.window) {
            *a += y * w * self.scale;
        }
        out[..h].copy_from_slice(&self.accum[..h]);
        self.accum.copy_within(h.., 0);
        self.accum[len - h..].fill(0.0);
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
            for cfg in [cfg, cfg.with_latency(Latency::Low)] {
                let db = round_trip_error_db(cfg);
                assert!(db <= -120.0, "round trip error {db:.1} dB for {cfg:?}");
            }
        }
    }

    #[test]
    fn low_latency_keeps_the_frame_and_cuts_the_delay() {
        let low = StftConfig::DEFAULT_44K.with_latency(Latency::Low);
        assert_eq!(low, StftConfig { n_fft: 1024, hop: 128, synthesis_len: 256 });
        assert_eq!(low.delay_samples(), 128);
        assert_eq!(low.latency(), Latency::Low);
        assert_eq!(low.with_latency(Latency::Standard), StftConfig::DEFAULT_44K);
        assert_eq!(StftConfig::DEFAULT_44K.delay_samples(), 768);
        // The windows: the analysis window is continuous where rise and fall meet, rises over
        // most of the frame (so the bins keep their resolution), and the synthesis window ends
        // smoothly at zero.
        let a = low.analysis_window();
        let s = low.synthesis_window();
        assert_eq!((a.len(), s.len()), (1024, 256));
        let steps = a.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0f32, f32::max);
        assert!(steps < 0.05, "analysis window step {steps}");
        let peak = a.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)).unwrap().0;
        assert!(peak > 800, "peak at {peak}");
        assert!(s[255] < 0.05 && s[0] == 0.0, "synthesis window ends {} / {}", s[0], s[255]);
    }

    /// An impulse comes out exactly `delay_samples` later in both latencies.
    #[test]
    fn impulse_is_delayed_by_delay_samples() {
        for cfg in [StftConfig::DEFAULT_44K, StftConfig::DEFAULT_44K.with_latency(Latency::Low)] {
            let mut planner = RealFftPlanner::new();
            let mut an = Analyzer::new(cfg, &mut planner);
            let mut sy = Synthesizer::new(cfg, &mut planner);
            let mut x = vec![0.0f32; cfg.n_fft * 4];
            x[1000] = 1.0;
            let mut y = vec![0.0f32; x.len()];
            let mut spec = vec![Complex32::new(0.0, 0.0); cfg.bins()];
            for (hin, hout) in x.chunks(cfg.hop).zip(y.chunks_mut(cfg.hop)) {
                an.push_hop(hin, &mut spec);
                sy.push_frame(&spec, hout);
            }
            let peak = y.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap();
            assert_eq!(peak.0, 1000 + cfg.delay_samples(), "{cfg:?}");
            assert!((peak.1 - 1.0).abs() < 1e-5, "{cfg:?}: {}", peak.1);
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
