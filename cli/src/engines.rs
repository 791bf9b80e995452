//! Which separator the CLI runs, and the STFT it runs at. Everything engine-specific lives
//! here, so the rest of the CLI only sees [`EngineSetup`].

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use demix_engine::dsp::classic::ClassicSeparator;
use demix_engine::dsp::separator::Separator;
use demix_engine::dsp::stft::{Latency, StftConfig};
use demix_engine::model::bundle;
use demix_engine::model::contract::{load_model_info, ModelInfo};
use demix_engine::model::neural::NeuralSeparator;

/// The separator the user asked for.
/// `--latency`: the plugin's Latency choice (see `dsp::stft::Latency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LatencyArg {
    /// The model's native frame rate (29 ms at 44.1 kHz in the plugin).
    #[default]
    Standard,
    /// Asymmetric windows at half the hop (11.6 ms at 44.1 kHz with 128-sample blocks).
    Low,
}

impl LatencyArg {
    /// The engine's latency.
    pub fn latency(self) -> Latency {
        match self {
            LatencyArg::Standard => Latency::Standard,
            LatencyArg::Low => Latency::Low,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// The neural model if it loads, else the classical engine (with a warning).
    Auto,
    /// The neural model (ONNX); an error if it cannot be loaded.
    Neural,
    /// The classical DSP separator (no model).
    Classic,
    /// Textbook offline baselines for comparison: centre-channel vocals, HPSS drums, low-pass
    /// bass, the rest as other (see `baseline.rs`); not the plugin's engine.
    Baseline,
}

/// Environment variable naming the model to use when `--model` is not given.
pub const MODEL_ENV: &str = "DEMIX_MODEL";

/// Folders the CLI searches for its run-time files (the model, ONNX Runtime), in order: its
/// install folder (the executable's folder and the bundle-style folders beside it, see
/// [`bundle::module_search_dirs`]), then, for a development build, the repository's `models/`
/// and the `cargo xtask fetch-ort` cache. Never the current directory.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = bundle::module_search_dirs();
    dirs.extend(
        [bundle::repo_models_dir(), bundle::repo_cache_dir()]
            .iter()
            .filter_map(|d| d.canonicalize().ok()),
    );
    dirs
}

/// The model to use when `--model` is not given: `$DEMIX_MODEL` if set, else the first
/// `file_name` (e.g. [`bundle::MODEL_FILE`]) in [`search_dirs`]. The error names every folder
/// searched.
pub fn default_model(file_name: &str) -> Result<PathBuf> {
    if let Some(v) = std::env::var_os(MODEL_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(v));
    }
    let dirs = search_dirs();
    bundle::find_file_in(&dirs, file_name).ok_or_else(|| {
        let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        anyhow!(
            "model file {file_name} not found in {}; give --model FILE or set {MODEL_ENV}",
            searched.join(", ")
        )
    })
}

/// `given` (a `--model` argument) if any, else [`default_model`]`(file_name)`.
pub fn model_or_default(given: Option<&Path>, file_name: &str) -> Result<PathBuf> {
    given.map_or_else(|| default_model(file_name), |m| Ok(m.to_path_buf()))
}

/// The engine actually used, after `auto` was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResolvedEngine {
    /// Neural model.
    Neural,
    /// Classical DSP.
    Classic,
    /// Offline textbook baselines (`demix separate` only; no streaming separator).
    Baseline,
}

/// A resolved engine with what it needs to build separators.
#[derive(Debug, Clone)]
pub struct EngineSetup {
    /// Which engine.
    pub kind: ResolvedEngine,
    /// Model file and ONNX Runtime library (neural only).
    pub neural: Option<NeuralSetup>,
}

/// What the neural engine needs.
#[derive(Debug, Clone)]
pub struct NeuralSetup {
    /// The ONNX model.
    pub model: PathBuf,
    /// The ONNX Runtime shared library.
    pub ort_lib: PathBuf,
    /// The model's contract (STFT, stems, name).
    pub info: ModelInfo,
}

impl EngineSetup {
    /// The classical engine.
    pub fn classic() -> Self {
        EngineSetup { kind: ResolvedEngine::Classic, neural: None }
    }

    /// The offline textbook baselines.
    pub fn baseline() -> Self {
        EngineSetup { kind: ResolvedEngine::Baseline, neural: None }
    }

    /// Short name for tables and JSON ("classic", "baseline" or "neural <model description>").
    pub fn name(&self) -> String {
        match (&self.neural, self.kind) {
            (Some(n), _) => format!("neural {}", n.info.describe()),
            (None, ResolvedEngine::Baseline) => "baseline".into(),
            (None, _) => "classic".into(),
        }
    }

    /// STFT configuration at `sample_rate_hz` and `latency`: the model's own (scaled so bins
    /// keep their frequencies) for the neural engine; the engine default for the classical one.
    pub fn stft_config(&self, sample_rate_hz: u32, latency: Latency) -> StftConfig {
        let cfg = match &self.neural {
            Some(n) => n.info.stft_for_rate(sample_rate_hz as f64),
            None => StftConfig::default_for_rate(sample_rate_hz as f64),
        };
        cfg.with_latency(latency)
    }

    /// Builds a fresh separator (one per file, so no state leaks between files).
    pub fn make_separator(&self, cfg: StftConfig, channels: usize) -> Result<Box<dyn Separator>> {
        if self.kind == ResolvedEngine::Baseline {
            bail!("the baseline engine is offline only (whole file, non-causal); it has no streaming separator");
        }
        match &self.neural {
            None => Ok(Box::new(ClassicSeparator::new(cfg.bins()))),
            Some(n) => Ok(Box::new(
                NeuralSeparator::load(&n.model, &n.ort_lib, channels)
                    .map_err(|e| anyhow!("{e}"))?,
            )),
        }
    }
}

/// Checks the model and runtime (loading the model once) and returns the neural setup.
pub fn neural_setup(model: &Path) -> Result<NeuralSetup> {
    if !model.is_file() {
        bail!("model file {} not found", model.display());
    }
    let info = load_model_info(model).map_err(|e| anyhow!("{e}"))?;
    // `DEMIX_ORT_LIB` if set, else the first of `search_dirs()` that holds the library.
    let ort_lib = bundle::locate_ort_library(&search_dirs()).map_err(|e| anyhow!("{e}"))?;
    NeuralSeparator::load(model, &ort_lib, 2).map_err(|e| anyhow!("{e}"))?;
    Ok(NeuralSetup { model: model.to_path_buf(), ort_lib, info })
}

/// Decides once per run which engine to use: checks that the model can be loaded for
/// `neural`, falls back to classic for `auto`. Returns the engine and warnings to print.
pub fn resolve(choice: EngineChoice, model: Option<&Path>) -> Result<(EngineSetup, Vec<String>)> {
    let neural_or_err =
        || model_or_default(model, bundle::MODEL_FILE).and_then(|m| neural_setup(&m));
    let neural =
        |setup: NeuralSetup| EngineSetup { kind: ResolvedEngine::Neural, neural: Some(setup) };
    match choice {
        EngineChoice::Classic => Ok((EngineSetup::classic(), vec![])),
        EngineChoice::Baseline => Ok((EngineSetup::baseline(), vec![])),
        EngineChoice::Neural => match neural_or_err() {
            Ok(s) => Ok((neural(s), vec![])),
            Err(e) => bail!("neural engine unavailable: {e:#} (use --engine classic)"),
        },
        EngineChoice::Auto => match neural_or_err() {
            Ok(s) => Ok((neural(s), vec![])),
            Err(e) => Ok((
                EngineSetup::classic(),
                vec![format!("neural engine unavailable ({e:#}); using the classical engine")],
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_default_model_names_every_folder_searched() {
        let got = default_model("no-such-model.onnx");
        match std::env::var_os(MODEL_ENV).filter(|v| !v.is_empty()) {
            Some(v) => assert_eq!(got.unwrap(), PathBuf::from(v)),
            None => {
                let msg = format!("{:#}", got.unwrap_err());
                let dirs = search_dirs();
                assert!(dirs.len() >= 2, "{dirs:?}");
                for d in dirs {
                    assert!(msg.contains(&d.display().to_string()), "{msg} lacks {}", d.display());
                }
                assert!(msg.contains(MODEL_ENV) && msg.contains("no-such-model.onnx"), "{msg}");
            }
        }
    }
}
