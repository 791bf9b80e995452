//! Hop-by-hop separation: STFT analysis → separator masks → shaping and stereo refinement →
//! per-stem inverse STFT with overlap-add (worker thread, and the offline path of the CLI;
//! allocates only in `new`).

use realfft::num_complex::Complex32;
use realfft::RealFftPlanner;

use crate::dsp::postfx::{DeEsser, Gate};
use crate::dsp::separator::{project_sum_to_one, Frame, Masks, Separator};
use crate::dsp::shaping::{self, ShapingSettings};
use crate::dsp::spatial::StereoRefinement;
use crate::dsp::stft::{Analyzer, StftConfig, Synthesizer};
use crate::stem::{Stem, N_STEMS};

/// What happened while processing one hop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HopReport {
    /// The separator failed or produced non-finite masks; neutral masks were used instead
    /// and the separator's state was reset.
    pub separator_fault: bool,
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
    /// The last hop's final masks (after shaping; they sum to one), which an owed hop reuses.
    masks: Vec<Complex32>,
    /// Stem spectra of the current frame, `[stem][channel][bin]`.
    stems_spec: Vec<Complex32>,
    spatial: Option<StereoRefinement>,
    stem_out: Vec<f32>,
    vocal_hop: Vec<f32>,
    shaping: ShapingSettings,
    deesser: DeEsser,
    gate: Gate,
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
            masks: vec![NEUTRAL_MASK; N_STEMS * channels * bins],
            stems_spec: vec![Complex32::new(0.0, 0.0); N_STEMS * channels * bins],
            spatial: (channels == 2)
                .then(|| StereoRefinement::new(N_STEMS, bins, cfg.hop as f32 / sample_rate_hz)),
            stem_out: vec![0.0; cfg.hop],
            vocal_hop: vec![0.0; cfg.hop * channels],
            shaping: ShapingSettings::default(),
            deesser: DeEsser::new(sample_rate_hz),
            gate: Gate::new(sample_rate_hz),
        }
    }

    /// Applies sound-shaping options from the next hop on.
    pub fn set_shaping(&mut self, s: &ShapingSettings) {
        self.shaping = *s;
        self.deesser.set(s.deesser);
        self.gate.set(s.gate);
    }

    /// Processes one hop: `input` holds `hop * channels` interleaved samples, `output` receives
    /// `hop * N_STEMS * channels` values (see the type's docs for the layout).
    pub fn process_hop(
        &mut self,
        separator: &mut dyn Separator,
        input: &[f32],
        output: &mut [f32],
    ) -> HopReport {
        let (ch, bins) = (self.channels, self.cfg.bins());
        let mut report = HopReport::default();
        self.analyse(separator, input);
        let frame = Frame {
            data: &self.spectrum,
            channels: ch,
            bins,
            sample_rate_hz: self.sample_rate_hz,
            n_fft: self.cfg.n_fft,
            hop: self.cfg.hop,
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
        let sh = self.shaping;
        if sh.bleed_artifacts != 0.0 || (sh.vocal_coherent_stereo && ch == 2) {
            if sh.bleed_artifacts != 0.0 {
                let p = shaping::sharpness_exponent(sh.bleed_artifacts);
                shaping::sharpen(&mut self.masks, ch, bins, p);
            }
            if sh.vocal_coherent_stereo && ch == 2 {
                shaping::coherent_stereo(&mut self.masks, bins, Stem::Vocals);
            }
            project_sum_to_one(&mut Masks { data: &mut self.masks, channels: ch, bins });
        }
        match self.spatial.as_mut() {
            Some(w) if sh.stereo_refine && !sh.vocal_coherent_stereo => {
                w.process(&self.spectrum, &self.masks, &mut self.stems_spec);
            }
            _ => self.apply_masks(),
        }
        self.synthesise(output);
        report
    }

    /// Processes a hop whose frames will arrive too late to be played: the analysis and
    /// overlap-add run as usual (later hops overlap this one), but with the previous hop's
    /// masks instead of a separator call, so a worker that fell behind catches up at the cost
    /// of the STFT alone. The separator only hears of the hop if its input was not finite.
    pub fn process_owed_hop(
        &mut self,
        separator: &mut dyn Separator,
        input: &[f32],
        output: &mut [f32],
    ) {
        self.analyse(separator, input);
        self.apply_masks();
        self.synthesise(output);
    }

    /// Analyses one hop of interleaved input into `self.spectrum`. Non-finite samples become
    /// zeros, and the separator starts over.
    fn analyse(&mut self, separator: &mut dyn Separator, input: &[f32]) {
        let (ch, bins) = (self.channels, self.cfg.bins());
        let mut nonfinite_input = false;
        for c in 0..ch {
            for (t, v) in self.hop_in.iter_mut().enumerate() {
                let x = input[t * ch + c];
                *v = if x.is_finite() {
                    x
                } else {
                    nonfinite_input = true;
                    0.0
                };
            }
            self.analyzers[c].push_hop(&self.hop_in, &mut self.spectrum[c * bins..(c + 1) * bins]);
        }
        if nonfinite_input {
            separator.reset();
        }
    }

    /// Stem spectra = masks × mixture spectrum.
    fn apply_masks(&mut self) {
        let per_stem = self.channels * self.cfg.bins();
        for (i, (d, m)) in self.stems_spec.iter_mut().zip(&self.masks).enumerate() {
            *d = m * self.spectrum[i % per_stem];
        }
    }

    /// Bass shaping, overlap-add synthesis of every stem into `output`, and the vocal
    /// post-processing.
    fn synthesise(&mut self, output: &mut [f32]) {
        let (h, ch, bins) = (self.cfg.hop, self.channels, self.cfg.bins());
        let sh = self.shaping;
        let per_stem = ch * bins;
        let stride = N_STEMS * ch;
        let hz_per_bin = self.sample_rate_hz / self.cfg.n_fft as f32;
        for s in 0..N_STEMS {
            let spec = &mut self.stems_spec[s * per_stem..(s + 1) * per_stem];
            if s == Stem::Bass.index() && ch == 2 && sh.bass_mono_below_hz > 0.0 {
                let (left, right) = spec.split_at_mut(bins);
                shaping::mono_below(left, right, sh.bass_mono_below_hz, hz_per_bin);
            }
            for c in 0..ch {
                self.synths[s * ch + c]
                    .push_frame(&spec[c * bins..(c + 1) * bins], &mut self.stem_out);
                for t in 0..h {
                    output[t * stride + s * ch + c] = self.stem_out[t];
                }
            }
        }
        if sh.deesser.enabled || sh.gate.enabled {
            for t in 0..h {
                for c in 0..ch {
                    self.vocal_hop[t * ch + c] = output[t * stride + Stem::Vocals.index() * ch + c];
                }
            }
            self.deesser.process(&mut self.vocal_hop, ch);
            self.gate.process(&mut self.vocal_hop, ch);
            for t in 0..h {
                for c in 0..ch {
                    output[t * stride + Stem::Vocals.index() * ch + c] = self.vocal_hop[t * ch + c];
                }
            }
        }
    }

    /// Forgets the stereo refinement's learnt stem positions (the separator changed).
    pub fn reset_refinement(&mut self) {
        if let Some(w) = self.spatial.as_mut() {
            w.reset();
        }
    }

    /// Clears the STFT history, overlap buffers and refinement statistics (not the separator).
    pub fn reset(&mut self) {
        self.reset_refinement();
        self.masks.fill(NEUTRAL_MASK);
        self.analyzers.iter_mut().for_each(Analyzer::reset);
        self.synths.iter_mut().for_each(Synthesizer::reset);
        self.deesser.reset();
        self.gate.reset();
    }
}

/// A mask that gives each stem an equal share: they sum to one, so an owed hop before the
/// first separated one still reconstructs the input.
const NEUTRAL_MASK: Complex32 = Complex32::new(1.0 / N_STEMS as f32, 0.0);
