//! demix: real-time music source separation as a CLAP/VST3 plugin.
//!
//! The host's audio thread only talks to [`RealtimeEngine::process_with_stems`] (lock-free
//! rings, smoothed gains; in the stem-outputs layout each stem also gets its own output); the
//! separation runs on the engine's worker thread, started in `activate` and joined in
//! `deactivate`. Every entry point that runs engine code catches panics so none crosses the
//! plugin ABI.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use demix_engine::audio_thread::realtime::{EngineConfig, RealtimeEngine};
use demix_engine::dsp::denormals;
use demix_engine::dsp::stft::StftConfig;
use demix_engine::model::{bundle, contract, neural, NeuralError};
use demix_engine::stem::{N_STEMS, STEM_LABELS};
use demix_engine::sync::notice::EngineNotice;
use demix_engine::sync::status::{EngineKind, EngineStatus};
use demix_engine::worker::SeparatorFactory;
use nice_plug::prelude::*;

mod editor;
pub mod params;

use params::{DemixParams, EngineChoice};

/// Engine configuration for a host setup. `stft` is the model's STFT for this rate when a
/// model is present (its contract dictates frame and hop); otherwise the base STFT is scaled so
/// every bin keeps its frequency in Hz at `sample_rate_hz`. The same STFT serves both engines,
/// so switching engine never changes the latency.
pub fn engine_config(
    sample_rate_hz: f32,
    channels: usize,
    max_block: usize,
    stft: Option<StftConfig>,
) -> EngineConfig {
    EngineConfig {
        sample_rate_hz,
        channels: channels.clamp(1, 2),
        max_block: max_block.max(1),
        stft: stft.unwrap_or_else(|| StftConfig::default_for_rate(sample_rate_hz as f64)),
    }
}

/// Finds the neural engine's files: the model ([`bundle::MODEL_FILE`]) and ONNX Runtime, only
/// in the plugin's own bundle ([`bundle::module_search_dirs`]: the binary's directory,
/// `demix-resources/` beside it, `../Resources`, `../lib`; never the current directory).
fn neural_setup(
    sample_rate_hz: f64,
) -> (Option<StftConfig>, Result<SeparatorFactory, NeuralError>) {
    neural_setup_in(&bundle::module_search_dirs(), sample_rate_hz)
}

/// [`neural_setup`] over `dirs`. Returns the model's STFT for `sample_rate_hz` (if the model
/// could be read) and the factory, or why there is none (shown in the editor while Classic
/// runs). The factory itself loads the model on the worker thread.
fn neural_setup_in(
    dirs: &[std::path::PathBuf],
    sample_rate_hz: f64,
) -> (Option<StftConfig>, Result<SeparatorFactory, NeuralError>) {
    let Some(model) = bundle::find_file_in(dirs, bundle::MODEL_FILE) else {
        let searched = dirs.to_vec();
        return (None, Err(NeuralError::NoModel { file: bundle::MODEL_FILE, searched }));
    };
    let info = match contract::load_model_info(&model) {
        Ok(info) => info,
        Err(e) => return (None, Err(e.into())),
    };
    let stft = info.stft_for_rate(sample_rate_hz);
    match bundle::locate_ort_library(dirs) {
        Ok(lib) => (Some(stft), Ok(neural::neural_factory(model, lib))),
        Err(e) => (Some(stft), Err(e.into())),
    }
}

/// Writes silence to every auxiliary (per-stem) output.
fn silence_aux_outputs(aux: &mut AuxiliaryBuffers) {
    for buffer in aux.outputs.iter_mut() {
        for channel in buffer.as_slice() {
            channel.fill(0.0);
        }
    }
}

/// State shared between the plugin, its editor and (via `status`) the engine.
pub struct Shared {
    /// Engine status: atomics for meters/counters, plus the GUI-only message.
    pub status: Arc<EngineStatus>,
    /// Sample rate of the current activation (f32 bits; 0 while inactive).
    pub sample_rate_bits: AtomicU32,
    /// Set when engine code panicked on the audio thread; the plugin then passes audio through.
    pub audio_fault: AtomicBool,
    /// Whether the plugin is activated.
    pub active: AtomicBool,
}

impl Shared {
    /// Sample rate of the current activation in Hz (0 while inactive).
    pub fn sample_rate(&self) -> f32 {
        f32::from_bits(self.sample_rate_bits.load(Ordering::Relaxed))
    }
}

/// The plugin.
pub struct Demix {
    params: Arc<DemixParams>,
    shared: Arc<Shared>,
    engine: Option<RealtimeEngine>,
    /// `ProcessMode::Offline` at activation: the engine may then wait for its worker, so
    /// renders never fall back to dry.
    offline: bool,
    /// The engine choice last sent to the worker.
    requested: EngineChoice,
    /// Latency reported to the host, in samples.
    latency: u32,
    /// A restart for a new latency was asked of the (CLAP) host since activation.
    restart_requested: bool,
}

impl Default for Demix {
    fn default() -> Self {
        Demix {
            params: Arc::new(DemixParams::default()),
            shared: Arc::new(Shared {
                status: Arc::new(EngineStatus::default()),
                sample_rate_bits: AtomicU32::new(0),
                audio_fault: AtomicBool::new(false),
                active: AtomicBool::new(false),
            }),
            engine: None,
            offline: false,
            requested: EngineChoice::Neural,
            latency: 0,
            restart_requested: false,
        }
    }
}

impl Demix {
    fn build_engine(
        &mut self,
        layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
    ) -> Option<u32> {
        let channels = layout
            .main_output_channels
            .or(layout.main_input_channels)
            .map_or(2, |c| c.get() as usize);
        let sr = buffer_config.sample_rate;
        if !(sr.is_finite() && sr >= 1000.0 && (1..=2).contains(&channels)) {
            nice_error!("demix: unsupported setup: {sr} Hz, {channels} channels");
            return None;
        }
        let status = self.shared.status.clone();
        let requested = self.params.engine.value();
        let (model_stft, factory) = neural_setup(sr as f64);
        let cfg = engine_config(sr, channels, buffer_config.max_buffer_size as usize, model_stft)
            .with_latency(self.params.latency.value().latency());
        let neural = match factory {
            Ok(f) => {
                status.set_notice(EngineNotice::LoadingModel);
                Some(f)
            }
            Err(why) => {
                status.set_notice(why);
                None
            }
        };
        let settings = self.params.mix_settings();
        let engine = RealtimeEngine::new(cfg, &settings, requested.kind(), neural, status);
        engine.set_shaping(&self.params.shaping_settings());
        self.engine = Some(engine);
        self.requested = requested;
        self.offline = buffer_config.process_mode == ProcessMode::Offline;
        self.shared.sample_rate_bits.store(sr.to_bits(), Ordering::Relaxed);
        Some(cfg.latency_samples() as u32)
    }
}

impl Plugin for Demix {
    const NAME: &'static str = "demix";
    const VENDOR: &'static str = "demix";
    const URL: &'static str = "https://github.com/demix/demix";
    const EMAIL: &'static str = "demix@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
        // Optional per-stem outputs: the main output is the mix as in plain stereo,
        // plus one stereo output per stem (see `RealtimeEngine::process_with_stems`). Not the
        // first layout: plain stereo stays the default, so hosts that never pick a layout (and
        // every VST3 host: nice-plug only matches bus arrangements with the bus count of the
        // current layout) get a simple stereo effect. CLAP hosts offer it through
        // audio-ports-config.
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            aux_output_ports: &[new_nonzero_u32(2); N_STEMS],
            names: PortNames {
                layout: Some("Stereo with stem outputs"),
                // nice-plug 0.4.2's `main_output_name()` reads `main_input` instead of this
                // field (falling back to "Output"), so hosts see "Output"; `main_input` stays
                // unset, or both main ports would get its name.
                main_output: Some("Mix"),
                aux_outputs: &STEM_LABELS,
                ..PortNames::const_default()
            },
            ..AudioIOLayout::const_default()
        },
    ];

    type Editor = editor::DemixEditor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.shared.clone())
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        // `activate` may be called again without `deactivate` (e.g. after a state load):
        // stop the previous worker first.
        self.engine = None;
        self.shared.active.store(false, Ordering::Relaxed);
        self.shared.audio_fault.store(false, Ordering::Relaxed);
        let built =
            catch_unwind(AssertUnwindSafe(|| self.build_engine(audio_io_layout, buffer_config)));
        let Ok(Some(latency)) = built else {
            self.engine = None;
            return false;
        };
        // The engine's fixed delay (`EngineConfig::latency_samples`, derived there). The dry
        // fallback and bypass are delayed by the same amount, so host delay compensation holds
        // in every mode.
        self.latency = latency;
        self.restart_requested = false;
        context.set_latency_samples(latency);
        self.shared.active.store(true, Ordering::Relaxed);
        true
    }

    fn reset(&mut self) {
        if let Some(engine) = self.engine.as_mut() {
            if catch_unwind(AssertUnwindSafe(|| engine.reset())).is_err() {
                self.shared.audio_fault.store(true, Ordering::Relaxed);
            }
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let Some(engine) = self.engine.as_mut() else {
            silence_aux_outputs(aux);
            return ProcessStatus::Normal;
        };
        if self.shared.audio_fault.load(Ordering::Relaxed) {
            // Engine code panicked earlier: pass the input through (stem outputs silent)
            // until the host reactivates the plugin; NaN/inf/subnormal samples become 0 here
            // as they would in the engine.
            denormals::sanitize_in_place(buffer.as_slice());
            silence_aux_outputs(aux);
            return ProcessStatus::Normal;
        }
        let settings = self.params.mix_settings();
        // Shaping options go to the worker through relaxed atomics (no allocation, no lock).
        let shaping = self.params.shaping_settings();
        let choice = self.params.engine.value();
        if choice != self.requested {
            engine.request_engine(choice.kind());
            self.requested = choice;
        }
        // A latency change. CLAP allows a new latency only while the plugin is (re)activated:
        // ask the host for a restart, and `activate` builds the engine at the new latency.
        // VST3 hosts may just re-read the latency (JUCE's do), so the engine switches while
        // playing (a short fade) and the host is told the new value.
        let latency = self.params.latency.value().latency();
        if latency != engine.latency() {
            if context.plugin_api() == PluginApi::Clap {
                if !self.restart_requested {
                    self.restart_requested = true;
                    context.request_restart();
                }
            } else {
                let samples = engine.set_latency(latency) as u32;
                if samples != self.latency {
                    self.latency = samples;
                    context.set_latency_samples(samples);
                }
            }
        }
        let offline = self.offline;
        let ok = catch_unwind(AssertUnwindSafe(|| {
            engine.set_shaping(&shaping);
            // In the stem-outputs layout the auxiliary outputs are the stems' buses (a fixed
            // array of slices: no allocation); otherwise there are none.
            let mut stems: [&mut [&mut [f32]]; N_STEMS] = Default::default();
            let count = aux.outputs.len().min(N_STEMS);
            for (slot, bus) in stems.iter_mut().zip(aux.outputs.iter_mut()) {
                *slot = bus.as_slice();
            }
            engine.process_with_stems(buffer.as_slice(), &mut stems[..count], &settings, offline)
        }));
        if ok.is_err() {
            self.shared.audio_fault.store(true, Ordering::Relaxed);
            // The engine may have stopped half-way through the block.
            denormals::sanitize_in_place(buffer.as_slice());
            silence_aux_outputs(aux);
        }
        // The stems keep sounding for `latency` samples after the input goes silent.
        ProcessStatus::Tail(self.latency)
    }

    fn deactivate(&mut self) {
        // Dropping the engine stops and joins its worker thread.
        let engine = self.engine.take();
        let _ = catch_unwind(AssertUnwindSafe(move || drop(engine)));
        self.shared.active.store(false, Ordering::Relaxed);
        self.shared.status.active_engine.store(EngineKind::Dry as u8, Ordering::Relaxed);
    }
}

impl ClapPlugin for Demix {
    const CLAP_ID: &'static str = "com.demix.demix";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Real-time music source separation: vocals, drums, bass and other as a stem mixer");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] =
        &[ClapFeature::AudioEffect, ClapFeature::Stereo, ClapFeature::Mono, ClapFeature::Utility];
}

impl Vst3Plugin for Demix {
    /// Fixed forever: hosts identify saved instances by it.
    const VST3_CLASS_ID: [u8; 16] = *b"demixStemSplit01";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Tools];
}

nice_export_clap!(Demix);
nice_export_vst3!(Demix);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_config_and_latency() {
        let c = engine_config(44100.0, 2, 512, None);
        assert_eq!(c.stft, StftConfig::DEFAULT_44K);
        assert_eq!(c.latency_samples(), 1024 + 512);
        let c = engine_config(48000.0, 3, 0, None);
        assert_eq!((c.channels, c.max_block, c.stft.hop), (2, 1, 279));
        let model = StftConfig::from_hop(512);
        assert_eq!(engine_config(44100.0, 1, 256, Some(model)).stft, model);
    }

    #[test]
    fn a_missing_model_reaches_the_editor_as_a_typed_notice() {
        let empty = std::env::temp_dir().join(format!("demix-no-model-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let (stft, factory) = neural_setup_in(std::slice::from_ref(&empty), 44100.0);
        let _ = std::fs::remove_dir(&empty);
        assert_eq!(stft, None);
        let Err(err) = factory else { panic!("a factory without a model") };
        assert!(matches!(&err, NeuralError::NoModel { searched, .. } if searched == &[empty]));
        // The path the plugin takes in `build_engine`, and what the editor reads back.
        let status = EngineStatus::default();
        status.set_notice(err);
        let notice = status.notice();
        assert!(matches!(notice.neural_error(), Some(NeuralError::NoModel { .. })));
        assert!(editor::notice_in_banner(&notice, true), "Neural chosen: a banner");
        assert!(!editor::notice_in_banner(&notice, false), "Classic chosen: no banner");
        assert!(editor::notice_in_banner(&EngineNotice::WorkerStopped, false));
        let loaded = EngineNotice::ModelLoaded { name: "m".into() };
        assert!(!editor::notice_in_banner(&loaded, true));
    }
}
