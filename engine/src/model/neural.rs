//! The neural separator: a contract-following ONNX model (`models/CONTRACT.md`) run through
//! ONNX Runtime (`ort`), one STFT frame per call, on the worker thread only.
//!
//! - The session uses one intra-op and one inter-op thread, all graph optimisations.
//! - Input, output and state tensors are allocated once and bound with an `IoBinding`; the
//!   state is double-buffered (two bindings whose state inputs and outputs are swapped), so
//!   carrying `state_out` to the next call's `state_in` copies nothing.
//! - Mono frames feed the same spectrum to both model channels and take the mean of the two
//!   channels' masks.
//! - Frames with more bins than the model's (host rate above the model's, STFT scaled so bins
//!   keep their frequencies) give the extra bins to `other` with mask 1; frames with fewer bins
//!   feed zeros above their Nyquist.
//! - Non-finite input values are replaced by zeros after resetting the state.
//! - At Low latency (frames every half model hop) two recurrent streams take turns on the
//!   frames ([`MAX_STREAMS`]), so each state advances at the frame rate the model was trained
//!   at; the masks come from whichever stream saw the frame.
//!
//! Wiring (plugin / CLI):
//! ```text
//! let info = demix_engine::model::neural::load_model_info(&model)?;           // any thread, no runtime
//! let stft = info.stft_for_rate(host_rate);                             // STFT for the worker
//! let lib  = demix_engine::model::bundle::locate_ort_library(&dirs)?;         // DEMIX_ORT_LIB or dirs
//! let factory = demix_engine::model::neural::neural_factory(model, lib);       // runs on the worker
//! // offline: NeuralSeparator::load(&model, &lib, channels)? as a `Separator`
//! ```
//! with `dirs` = [`crate::model::bundle::module_search_dirs`] (+ [`crate::model::bundle::repo_cache_dir`]
//! in development builds).
//!
//! `ort`'s own `run` still allocates (~100 small allocations per call inside ONNX Runtime):
//! fine on the worker, which is why this never runs on the audio thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use ort::memory::Allocator;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{IoBinding, Session};
use ort::value::Tensor;
use realfft::num_complex::Complex32;

use crate::dsp::separator::{Frame, Masks, Separator, SeparatorError};
use crate::dsp::stft::StftConfig;
use crate::model::contract::{model_info_from_bytes, ModelError, ModelInfo};
use crate::model::runtime::{ort_environment, panic_message};
use crate::model::NeuralError;
use crate::stem::{Stem, N_STEMS};
use crate::worker::SeparatorFactory;

/// Relative tolerance on the bin spacing (Hz per bin) between the host STFT and the model's.
const BIN_SPACING_TOLERANCE: f64 = 0.005;

/// Recurrent streams that take turns on frames when the host's hop is a fraction of the
/// model's: at Low latency (half the hop) frames alternate between two streams, so each
/// stream's state still advances one model hop per frame, the frame rate it was trained at.
pub const MAX_STREAMS: usize = 2;

/// A [`Separator`] running a contract-following ONNX model.
pub struct NeuralSeparator {
    info: ModelInfo,
    label: String,
    session: Session,
    /// `bindings[2 * s + p]` reads `states[2 * s + p]` and writes `states[2 * s + 1 - p]`
    /// (stream `s`, see [`MAX_STREAMS`]).
    bindings: Vec<IoBinding>,
    /// Which state set of each stream the next call reads.
    parity: [usize; MAX_STREAMS],
    /// The stream the next frame belongs to, and how many take turns.
    stream: usize,
    streams: usize,
    spec: Tensor<f32>,
    mask: Tensor<f32>,
    states: Vec<Vec<Tensor<f32>>>,
    bins: usize,
    channels: usize,
    /// Set when the host STFT does not match the model's frequency grid (checked per frame).
    grid_error: Option<SeparatorError>,
    grid_checked: Option<(u32, usize)>,
}

fn session_err(path: &Path) -> impl Fn(String) -> NeuralError + '_ {
    move |message| NeuralError::Session { path: path.to_path_buf(), message }
}

impl NeuralSeparator {
    /// Loads the model at `model_path` with ONNX Runtime from `lib_path` (the process-global
    /// environment is created on first use) for `channels` (1 or 2) audio channels.
    /// Blocking: call it on the worker or a loader thread.
    pub fn load(model_path: &Path, lib_path: &Path, channels: usize) -> Result<Self, NeuralError> {
        match catch_unwind(AssertUnwindSafe(|| Self::load_inner(model_path, lib_path, channels))) {
            Ok(r) => r,
            Err(p) => {
                Err(session_err(model_path)(format!("panic while loading: {}", panic_message(&p))))
            }
        }
    }

    fn load_inner(
        model_path: &Path,
        lib_path: &Path,
        channels: usize,
    ) -> Result<Self, NeuralError> {
        if !(1..=2).contains(&channels) {
            return Err(NeuralError::UnsupportedChannels { channels });
        }
        // Validate before touching ONNX Runtime, and load exactly the bytes validated.
        let bytes = crate::model::contract::read_model_file(model_path)?;
        let info = model_info_from_bytes(&bytes, model_path)?;
        let env = ort_environment(lib_path)?;
        let err = session_err(model_path);
        let s = |e: ort::Error<ort::session::builder::SessionBuilder>| err(e.to_string());
        let mut builder = Session::builder(env)
            .map_err(|e| err(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(s)?
            .with_intra_threads(1)
            .map_err(s)?
            .with_inter_threads(1)
            .map_err(s)?;
        let session = builder.commit_from_memory(&bytes).map_err(|e| err(e.to_string()))?;
        check_session(&session, &info)?;

        let alloc = Allocator::default();
        let bins = info.bins();
        let new_tensor = |shape: Vec<usize>| -> Result<Tensor<f32>, NeuralError> {
            let mut t = Tensor::<f32>::new(&alloc, shape).map_err(|e| err(e.to_string()))?;
            t.extract_tensor_mut().1.fill(0.0);
            Ok(t)
        };
        let mut spec = new_tensor(vec![2, 2, bins])?;
        let mut mask = new_tensor(vec![N_STEMS, 2, 2, bins])?;
        let mut states: Vec<Vec<Tensor<f32>>> = Vec::with_capacity(2 * MAX_STREAMS);
        for _ in 0..2 * MAX_STREAMS {
            let set = info.states.iter().map(|st| new_tensor(st.shape.clone()));
            states.push(set.collect::<Result<_, _>>()?);
        }
        let mut bindings = Vec::with_capacity(2 * MAX_STREAMS);
        for _ in 0..2 * MAX_STREAMS {
            bindings.push(session.create_binding().map_err(|e| err(e.to_string()))?);
        }
        let e = |e: ort::Error| err(format!("binding tensors: {e}"));
        for (j, b) in bindings.iter_mut().enumerate() {
            b.bind_input("spec", &spec).map_err(e)?;
            b.bind_output("mask", &mut mask).map_err(e)?;
            for (i, st) in info.states.iter().enumerate() {
                b.bind_input(st.input_name(), &states[j][i]).map_err(e)?;
            }
        }
        // Outputs: binding 2s + p writes its stream's other set. The binding keeps a handle to
        // the same memory, so the tensors in `states` see what the model wrote.
        for (j, b) in bindings.iter_mut().enumerate() {
            for (i, st) in info.states.iter().enumerate() {
                b.bind_output(st.output_name(), &mut states[j ^ 1][i]).map_err(e)?;
            }
        }
        spec.extract_tensor_mut().1.fill(0.0);
        let label = info.describe();
        Ok(NeuralSeparator {
            info,
            label,
            session,
            bindings,
            parity: [0; MAX_STREAMS],
            stream: 0,
            streams: 1,
            spec,
            mask,
            states,
            bins,
            channels,
            grid_error: None,
            grid_checked: None,
        })
    }

    /// The validated model description.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Runs the model on one frame given directly as the contract's `spec` tensor
    /// (`[2, 2, bins]`, real/imag planes) and returns the raw (unprojected) `mask` tensor
    /// `[stems, 2, 2, bins]` in the model's stem order. For parity tests and benchmarks.
    pub fn run_raw(&mut self, spec: &[f32]) -> Result<&[f32], SeparatorError> {
        let dst = self.spec.extract_tensor_mut().1;
        if spec.len() != dst.len() {
            return Err(SeparatorError::Shape {
                frame_channels: 1,
                frame_bins: spec.len(),
                mask_channels: 1,
                mask_bins: dst.len(),
                expected_channels: 1,
                expected_bins: dst.len(),
            });
        }
        if spec.iter().any(|v| !v.is_finite()) {
            self.reset();
            let dst = self.spec.extract_tensor_mut().1;
            for (d, s) in dst.iter_mut().zip(spec) {
                *d = if s.is_finite() { *s } else { 0.0 };
            }
        } else {
            self.spec.extract_tensor_mut().1.copy_from_slice(spec);
        }
        self.step()?;
        Ok(self.mask.extract_tensor().1)
    }

    /// How many streams take turns on `frame`'s hop: the model's hop, scaled to the frame's
    /// length, over the frame's, at most [`MAX_STREAMS`].
    fn streams_for(&self, frame: &Frame<'_>) -> usize {
        let model_hop = self.info.hop * frame.n_fft / self.info.n_fft.max(1);
        (model_hop / frame.hop.max(1)).clamp(1, MAX_STREAMS)
    }

    /// Changes how many streams take turns (the Latency changed) without a cold start: new
    /// streams begin from a copy of stream 0's state.
    fn set_streams(&mut self, streams: usize) {
        let src = self.parity[0];
        for s in self.streams..streams {
            let dst = 2 * s + self.parity[s];
            let (a, b) = self.states.split_at_mut(dst);
            for (to, from) in b[0].iter_mut().zip(&a[src]) {
                to.extract_tensor_mut().1.copy_from_slice(from.extract_tensor().1);
            }
        }
        self.streams = streams;
        self.stream = 0;
    }

    /// Zeroes every state set (a cold start for every stream).
    fn zero_states(&mut self) {
        for t in self.states.iter_mut().flatten() {
            t.extract_tensor_mut().1.fill(0.0);
        }
    }

    fn step(&mut self) -> Result<(), SeparatorError> {
        let session = &mut self.session;
        let s = self.stream;
        let binding = &self.bindings[2 * s + self.parity[s]];
        let result = catch_unwind(AssertUnwindSafe(|| session.run_binding(binding).map(drop)));
        match result {
            Ok(Ok(())) => {
                self.parity[s] ^= 1;
                self.stream = (s + 1) % self.streams;
                Ok(())
            }
            Ok(Err(e)) => {
                self.reset();
                Err(SeparatorError::Inference(e.to_string()))
            }
            Err(p) => {
                self.reset();
                Err(SeparatorError::Inference(format!(
                    "ONNX Runtime panicked: {}",
                    panic_message(&p)
                )))
            }
        }
    }

    fn check_grid(&mut self, frame: &Frame<'_>) {
        let key = (frame.sample_rate_hz.to_bits(), frame.n_fft);
        if self.grid_checked == Some(key) {
            return;
        }
        self.grid_checked = Some(key);
        let host = frame.sample_rate_hz as f64 / frame.n_fft as f64;
        let model = self.info.sample_rate as f64 / self.info.n_fft as f64;
        self.grid_error = ((host / model - 1.0).abs() > BIN_SPACING_TOLERANCE).then_some(
            SeparatorError::BinGrid {
                host_hz_per_bin: host,
                model_hz_per_bin: model,
                n_fft: frame.n_fft,
                sample_rate_hz: frame.sample_rate_hz,
            },
        );
    }
}

fn check_session(session: &Session, info: &ModelInfo) -> Result<(), NeuralError> {
    // The file was validated already; this guards against ONNX Runtime seeing it differently.
    let bad = |what: String| {
        NeuralError::Model(ModelError::BadTensor {
            name: what,
            reason: "differs in ONNX Runtime's view of the model".into(),
        })
    };
    let mut want_in: Vec<(String, Vec<usize>)> = vec![("spec".into(), vec![2, 2, info.bins()])];
    let mut want_out: Vec<(String, Vec<usize>)> =
        vec![("mask".into(), vec![N_STEMS, 2, 2, info.bins()])];
    for st in &info.states {
        want_in.push((st.input_name(), st.shape.clone()));
        want_out.push((st.output_name(), st.shape.clone()));
    }
    for (outlets, want) in [(session.inputs(), &want_in), (session.outputs(), &want_out)] {
        if outlets.len() != want.len() {
            return Err(bad(format!("{} tensors", outlets.len())));
        }
        for (name, shape) in want {
            let o = outlets.iter().find(|o| o.name() == name).ok_or_else(|| bad(name.clone()))?;
            let got: Option<Vec<usize>> =
                o.dtype().tensor_shape().map(|s| s.iter().map(|&d| d.max(0) as usize).collect());
            if got.as_ref() != Some(shape) {
                return Err(bad(name.clone()));
            }
        }
    }
    Ok(())
}

impl Separator for NeuralSeparator {
    fn name(&self) -> &str {
        &self.label
    }

    fn process(&mut self, frame: &Frame<'_>, masks: &mut Masks<'_>) -> Result<(), SeparatorError> {
        self.check_grid(frame);
        let streams = self.streams_for(frame);
        if streams != self.streams {
            self.set_streams(streams);
        }
        if let Some(e) = &self.grid_error {
            return Err(e.clone());
        }
        let ch = frame.channels;
        if ch != self.channels || ch != masks.channels || frame.bins != masks.bins {
            return Err(SeparatorError::Shape {
                frame_channels: ch,
                frame_bins: frame.bins,
                mask_channels: masks.channels,
                mask_bins: masks.bins,
                expected_channels: self.channels,
                expected_bins: frame.bins,
            });
        }
        let (mb, fb) = (self.bins, frame.bins);
        let used = mb.min(fb);
        // spec[c][part][k]; mono feeds channel 0 to both model channels.
        let mut nonfinite = false;
        {
            let spec = self.spec.extract_tensor_mut().1;
            for mc in 0..2 {
                let src = &frame.data[(mc.min(ch - 1)) * fb..][..used];
                let (re, im) = spec[mc * 2 * mb..(mc + 1) * 2 * mb].split_at_mut(mb);
                for (k, x) in src.iter().enumerate() {
                    let (r, i) = (x.re, x.im);
                    nonfinite |= !(r.is_finite() && i.is_finite());
                    re[k] = if r.is_finite() { r } else { 0.0 };
                    im[k] = if i.is_finite() { i } else { 0.0 };
                }
                re[used..].fill(0.0);
                im[used..].fill(0.0);
            }
        }
        if nonfinite {
            // Start over from a clean state rather than carry garbage forward.
            self.zero_states();
        }
        self.step()?;

        let m = self.mask.extract_tensor().1;
        let per_stem = ch * fb;
        for (s, &ms) in self.info.model_stem_index.iter().enumerate() {
            for c in 0..ch {
                let out = &mut masks.data[s * per_stem + c * fb..][..fb];
                let plane = |mc: usize| {
                    let base = ((ms * 2 + mc) * 2) * mb;
                    (&m[base..base + mb], &m[base + mb..base + 2 * mb])
                };
                if ch == 2 {
                    let (re, im) = plane(c);
                    for k in 0..used {
                        out[k] = Complex32::new(re[k], im[k]);
                    }
                } else {
                    let ((r0, i0), (r1, i1)) = (plane(0), plane(1));
                    for k in 0..used {
                        out[k] = Complex32::new(0.5 * (r0[k] + r1[k]), 0.5 * (i0[k] + i1[k]));
                    }
                }
                let above = if s == Stem::Other.index() { 1.0 } else { 0.0 };
                out[used..].fill(Complex32::new(above, 0.0));
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.zero_states();
        self.parity = [0; MAX_STREAMS];
        self.stream = 0;
    }
}

/// A [`SeparatorFactory`] for the worker: loads `model_path` with ONNX Runtime from `lib_path`
/// on the worker thread. The STFT passed by the worker must be `info.stft_for_rate(host_rate)`
/// (checked on the first frame).
pub fn neural_factory(model_path: PathBuf, lib_path: PathBuf) -> SeparatorFactory {
    Box::new(move |_cfg: StftConfig, channels: usize| {
        // The bin grid is checked against the frames' sample rate in `process`.
        let sep = NeuralSeparator::load(&model_path, &lib_path, channels)?;
        Ok(Box::new(sep) as Box<dyn Separator>)
    })
}
