//! Hop-by-hop separation: STFT analysis → separator masks → per-stem inverse STFT with
//! overlap-add (worker thread, and the offline path of the CLI; allocates only in `new`).

use realfft::num_complex::Complex32;
use realfft::RealFftPlanner;

use crate::separator::{project_sum_to_one, Frame, Masks, Separator, N_STEMS};
use crate::stft::{Analyzer, StftConfig, Synthesizer};

/// What happened while processing one hop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HopReport {
    /// The separator failed or produced non-finite masks; neutral masks were used instead
    /// and the separator's state was reset.
    pub separator_fault: bool,
    /// The input held non-finite samples; they were replaced by zeros and state was reset.
    pub nonfinite_input: bool,
}

/// Turns hops of interleaved input into hops of interleaved stem frames.
///
/// Output layout: for each sample, `N_STEMS * channels` values ordered `[stem][channel]`.
/// Output sample `j` (counting from the first hop) belongs to input sample `j - cfg.delay_samples()`.
pub struct HopProcessor {
    cfg: StftConfig,
    channels: usize,
    sample_rate_hz: f32,
    analyzers: Vec<Analyzer>,
    synths: Vec<Synthesizer>,
    hop_in: Vec<f32>,
    spectrum: Vec<Complex32>,
    masks: Vec<Complex32>,
    stem_spec: Vec<Complex32>,
    stem_out: Vec<f32>,
}

impl HopProcessor {
    /// Creates a processor for `channels` (1 or 2) channels at `sample_rate_hz`.
    pub fn new(cfg: StftConfig, channels: usize, sample_rate_hz: f32) -> Self {
        let mut planner = RealFftPlanner::new();
        let bins = cfg.bins();
        HopProcessor {
            cfg,
            channels,
            sample_rate_hz,
            analyzers: (0..channels).map(|_| Analyzer::new(cfg, &mut planner)).collect(),
            synths: (0..N_STEMS * channels).map(|_| Synthesizer::new(cfg, &mut planner)).collect(),
            hop_in: vec![0.0; cfg.hop],
            spectrum: vec![Complex32::new(0.0, 0.0); channels * bins],
            masks: vec![Complex32::new(0.0, 0.0); N_STEMS * channels * bins],
            stem_spec: vec![Complex32::new(0.0, 0.0); bins],
            stem_out: vec![0.0; cfg.hop],
        }
    }

    /// The STFT configuration in use.
    pub fn config(&self) -> StftConfig {
        self.cfg
    }

    /// Number of audio channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Processes one hop: `input` holds `hop * channels` interleaved samples, `output` receives
    /// `hop * N_STEMS * channels` values (see the type's docs for the layout).
    pub fn process_hop(
        &mut self,
        separator: &mut dyn Separator,
        input: &[f32],
        output: &mut [f32],
    ) -> HopReport {
        let (h, ch, bins) = (self.cfg.hop, self.channels, self.cfg.bins());
        let mut report = HopReport::default();
        for c in 0..ch {
            for (t, v) in self.hop_in.iter_mut().enumerate() {
                let x = input[t * ch + c];
                *v = if x.is_finite() {
                    x
                } else {
                    report.nonfinite_input = true;
                    0.0
                };
            }
            self.analyzers[c].push_hop(&self.hop_in, &mut self.spectrum[c * bins..(c + 1) * bins]);
        }
        if report.nonfinite_input {
            separator.reset();
        }
        let frame = Frame {
            data: &self.spectrum,
            channels: ch,
            bins,
            sample_rate_hz: self.sample_rate_hz,
            n_fft: self.cfg.n_fft,
        };
        let mut masks = Masks { data: &mut self.masks, channels: ch, bins };
        let failed = separator.process(&frame, &mut masks).is_err();
        if failed {
            masks.data.fill(Complex32::new(f32::NAN, 0.0));
        }
        if project_sum_to_one(&mut masks) || failed {
            report.separator_fault = true;
            separator.reset();
        }
        let per_stem = ch * bins;
        for s in 0..N_STEMS {
            for c in 0..ch {
                let m = &self.masks[s * per_stem + c * bins..][..bins];
                let x = &self.spectrum[c * bins..(c + 1) * bins];
                for ((d, m), x) in self.stem_spec.iter_mut().zip(m).zip(x) {
                    *d = m * x;
                }
                self.synths[s * ch + c].push_frame(&self.stem_spec, &mut self.stem_out);
                let stride = N_STEMS * ch;
                for t in 0..h {
                    output[t * stride + s * ch + c] = self.stem_out[t];
                }
            }
        }
        report
    }

    /// Clears the STFT history and overlap buffers (not the separator).
    pub fn reset(&mut self) {
        self.analyzers.iter_mut().for_each(Analyzer::reset);
        self.synths.iter_mut().for_each(Synthesizer::reset);
    }
}
