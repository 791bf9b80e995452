//! Which separator the CLI runs, and the STFT it runs at. Everything engine-specific lives
//! here, so the rest of the CLI only sees [`EngineSetup`].

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use demix_engine::classic::ClassicSeparator;
use demix_engine::model_meta::{load_model_info, ModelInfo};
use demix_engine::neural::NeuralSeparator;
use demix_engine::ort_env;
use demix_engine::separator::Separator;
use demix_engine::stft::StftConfig;

/// The separator the user asked for.
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

/// Model file used when `--model` is not given: `$DEMIX_MODEL`, else `models/demix.onnx`.
pub fn default_model_path() -> PathBuf {
    std::env::var_os("DEMIX_MODEL").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("models/demix.onnx"))
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

    /// STFT configuration at `sample_rate_hz`: the model's own (scaled so bins keep their
    /// frequencies) for the neural engine; the engine default for the classical one.
    pub fn stft_config(&self, sample_rate_hz: u32) -> StftConfig {
        match &self.neural {
            Some(n) => n.info.stft_for_rate(sample_rate_hz as f64),
            None => StftConfig::scaled(StftConfig::DEFAULT_44K, 44100.0, sample_rate_hz as f64),
        }
    }

    /// Builds a fresh separator (one per file, so no state leaks between files).
    pub fn make_separator(&self, cfg: StftConfig, channels: usize) -> Result<Box<dyn Separator>> {
        if self.kind == ResolvedEngine::Baseline {
            bail!("the baseline engine is offline only (whole file, non-causal); it has no streaming separator");
        }
        match &self.neural {
            None => Ok(Box::new(ClassicSeparator::new(cfg.bins()))),
            Some(n) => Ok(Box::new(
                NeuralSeparator::load(&n.model, &n.ort_lib, channels).map_err(|e| anyhow!("{e}"))?,
            )),
        }
    }
}

/// Where the CLI looks for ONNX Runtime: `DEMIX_ORT_LIB`, the executable's folder (and
/// `../lib`), then the development cache filled by `cargo xtask fetch-ort`.
pub fn ort_search_dirs() -> Vec<PathBuf> {
    let mut dirs = ort_env::exe_search_dirs();
    if let Ok(c) = ort_env::repo_cache_dir().canonicalize() {
        dirs.push(c);
    }
    dirs
}

/// Checks the model and runtime (loading the model once) and returns the neural setup.
pub fn neural_setup(model: &Path) -> Result<NeuralSetup> {
    if !model.is_file() {
        bail!("model file {} not found", model.display());
    }
    let info = load_model_info(model).map_err(|e| anyhow!("{e}"))?;
    let ort_lib = ort_env::locate_ort_library(&ort_search_dirs()).map_err(|e| anyhow!("{e}"))?;
    NeuralSeparator::load(model, &ort_lib, 2).map_err(|e| anyhow!("{e}"))?;
    Ok(NeuralSetup { model: model.to_path_buf(), ort_lib, info })
}

/// Decides once per run which engine to use: checks that the model can be loaded for
/// `neural`, falls back to classic for `auto`. Returns the engine and warnings to print.
pub fn resolve(choice: EngineChoice, model: Option<&Path>) -> Result<(EngineSetup, Vec<String>)> {
    let model_path = model.map(Path::to_path_buf).unwrap_or_else(default_model_path);
    let neural = |setup: NeuralSetup| EngineSetup { kind: ResolvedEngine::Neural, neural: Some(setup) };
    match choice {
        EngineChoice::Classic => Ok((EngineSetup::classic(), vec![])),
        EngineChoice::Baseline => Ok((EngineSetup::baseline(), vec![])),
        EngineChoice::Neural => match neural_setup(&model_path) {
            Ok(s) => Ok((neural(s), vec![])),
            Err(e) => bail!("neural engine unavailable: {e:#} (use --engine classic)"),
        },
        EngineChoice::Auto => match neural_setup(&model_path) {
            Ok(s) => Ok((neural(s), vec![])),
            Err(e) => Ok((
                EngineSetup::classic(),
                vec![format!("neural engine unavailable ({e:#}); using the classical engine")],
            )),
        },
    }
}
