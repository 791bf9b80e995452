//! Neural separator tests: contract parity against the committed reference vectors, model
//! rejection, state handling, NaN input, sample-rate handling, failure mid-stream.
//!
//! ONNX Runtime comes from `DEMIX_ORT_LIB` or `<repo>/.cache/ort/` (`cargo xtask fetch-ort`).

use std::path::{Path, PathBuf};

use demix_engine::dsp::separator::{project_sum_to_one, Frame, Masks, Separator, SeparatorError};
use demix_engine::dsp::stft::StftConfig;
use demix_engine::model::bundle::{locate_ort_library, repo_cache_dir};
use demix_engine::model::contract::{load_model_info, ModelError};
use demix_engine::model::neural::{neural_factory, NeuralSeparator};
use demix_engine::model::NeuralError;
use demix_engine::stem::N_STEMS;
use demix_engine::sync::notice::EngineNotice;
use demix_engine::Complex32;

const BINS: usize = 513;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn ort_lib() -> PathBuf {
    locate_ort_library(&[repo_cache_dir().canonicalize().unwrap_or_else(|_| repo_cache_dir())])
        .unwrap_or_else(|e| {
            panic!("{e}\n(the neural tests need ONNX Runtime: run `cargo xtask fetch-ort`)")
        })
}

fn tiny() -> NeuralSeparator {
    NeuralSeparator::load(&data("tiny.onnx"), &ort_lib(), 2).expect("tiny model loads")
}

/// A deterministic test spectrum for frame `t`: `[ch][bin]`.
fn test_frame(t: usize, ch: usize, bins: usize) -> Vec<Complex32> {
    (0..ch * bins)
        .map(|i| {
            let x = (i * 31 + t * 17) as f32;
            Complex32::new((x * 0.013).sin() * 2.0, (x * 0.029).cos())
        })
        .collect()
}

fn run_frame(
    sep: &mut dyn Separator,
    spec: &[Complex32],
    ch: usize,
    bins: usize,
    sr: f32,
    n_fft: usize,
) -> Result<Vec<Complex32>, SeparatorError> {
    run_frame_at_hop(sep, spec, ch, bins, sr, n_fft, n_fft / 4)
}

fn run_frame_at_hop(
    sep: &mut dyn Separator,
    spec: &[Complex32],
    ch: usize,
    bins: usize,
    sr: f32,
    n_fft: usize,
    hop: usize,
) -> Result<Vec<Complex32>, SeparatorError> {
    let frame = Frame { data: spec, channels: ch, bins, sample_rate_hz: sr, n_fft, hop };
    let mut out = vec![Complex32::new(0.0, 0.0); N_STEMS * ch * bins];
    let mut masks = Masks { data: &mut out, channels: ch, bins };
    sep.process(&frame, &mut masks)?;
    Ok(out)
}

fn run44(sep: &mut dyn Separator, spec: &[Complex32], ch: usize) -> Vec<Complex32> {
    run_frame(sep, spec, ch, BINS, 44100.0, 1024).expect("frame runs")
}

/// The tiny model in plain Rust: `h' = (h + x) / 2`, `mask_s = tanh(w_s h' + b_s)` per part.
struct TinyRef {
    h: Vec<f32>, // [c][part][k]
}

impl TinyRef {
    const W: [f32; 4] = [0.9, -0.4, 0.25, 0.6];
    const B: [f32; 4] = [0.1, 0.2, -0.3, 0.05];

    fn step(&mut self, spec: &[Complex32]) -> Vec<Complex32> {
        for c in 0..2 {
            for k in 0..BINS {
                let x = spec[c * BINS + k];
                let hr = &mut self.h[(c * 2) * BINS + k];
                *hr = (*hr + x.re) * 0.5;
                let hi = &mut self.h[(c * 2 + 1) * BINS + k];
                *hi = (*hi + x.im) * 0.5;
            }
        }
        let mut out = Vec::with_capacity(N_STEMS * 2 * BINS);
        for s in 0..N_STEMS {
            for c in 0..2 {
                for k in 0..BINS {
                    let re = (Self::W[s] * self.h[(c * 2) * BINS + k] + Self::B[s]).tanh();
                    let im = (Self::W[s] * self.h[(c * 2 + 1) * BINS + k] + Self::B[s]).tanh();
                    out.push(Complex32::new(re, im));
                }
            }
        }
        out
    }
}

fn max_diff(a: &[Complex32], b: &[Complex32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).norm()).fold(0.0, f32::max)
}

// ---------------------------------------------------------------------------------------------
// Parity with the committed reference vectors (the same fixture the Python side checks).

struct Fixture {
    frames: usize,
    bins: usize,
    stems: usize,
    tol_fp32: f32,
    tol_int8: f32,
    values: Vec<f32>,
}

fn fixture() -> Option<Fixture> {
    let dir = repo().join("models/fixtures");
    let (json, bin) = (dir.join("reference.json"), dir.join("reference.bin"));
    // committed with the model (models/CONTRACT.md): missing means a broken checkout, not a skip
    assert!(
        json.exists() && bin.exists(),
        "{} / reference.bin missing (demix-export writes them)",
        json.display()
    );
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let tol = |m: &str| {
        j["models"][m]["tolerance"].as_f64().unwrap_or_else(|| panic!("no tolerance for {m}"))
            as f32
    };
    let bytes = std::fs::read(&bin).unwrap();
    let values: Vec<f32> =
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let f = Fixture {
        frames: j["frames"].as_u64().unwrap() as usize,
        bins: j["bins"].as_u64().unwrap() as usize,
        stems: j["stems"].as_u64().unwrap() as usize,
        tol_fp32: tol("demix_fp32.onnx"),
        tol_int8: tol("demix.onnx"),
        values,
    };
    let per = 4 * f.bins;
    assert_eq!(
        f.values.len(),
        f.frames * per * (1 + 2 * f.stems),
        "reference.bin size disagrees with reference.json"
    );
    Some(f)
}

/// Runs `model` over the fixture's frames through `Separator::process` (stereo) and compares the
/// projected masks with the expected ones (`which` = 0: fp32, 1: int8). Returns the max error.
fn parity(model: &str, which: usize) -> Option<(f32, f32)> {
    let f = fixture()?;
    let path = repo().join("models").join(model);
    let info = load_model_info(&path).unwrap();
    assert_eq!(info.bins(), f.bins);
    let mut sep = NeuralSeparator::load(&path, &ort_lib(), 2).unwrap();
    let per_in = 4 * f.bins;
    let per_mask = f.stems * per_in;
    let masks_base = f.frames * per_in + which * f.frames * per_mask;
    let mut worst = 0.0f32;
    for t in 0..f.frames {
        let spec = &f.values[t * per_in..(t + 1) * per_in];
        let frame: Vec<Complex32> = (0..2)
            .flat_map(|c| (0..f.bins).map(move |k| (c, k)))
            .map(|(c, k)| {
                Complex32::new(spec[(c * 2) * f.bins + k], spec[(c * 2 + 1) * f.bins + k])
            })
            .collect();
        let mut got =
            run_frame(&mut sep, &frame, 2, f.bins, info.sample_rate as f32, info.n_fft).unwrap();
        project_sum_to_one(&mut Masks { data: &mut got, channels: 2, bins: f.bins });
        let exp = &f.values[masks_base + t * per_mask..][..per_mask];
        for (s, &ms) in info.model_stem_index.iter().enumerate() {
            for c in 0..2 {
                for k in 0..f.bins {
                    let e = Complex32::new(
                        exp[((ms * 2 + c) * 2) * f.bins + k],
                        exp[((ms * 2 + c) * 2 + 1) * f.bins + k],
                    );
                    let g = got[(s * 2 + c) * f.bins + k];
                    assert!(g.re.is_finite() && g.im.is_finite());
                    worst = worst.max((g.re - e.re).abs()).max((g.im - e.im).abs());
                }
            }
        }
    }
    Some((worst, if which == 0 { f.tol_fp32 } else { f.tol_int8 }))
}

#[test]
fn parity_fp32_matches_reference_vectors() {
    if let Some((worst, tol)) = parity("demix_fp32.onnx", 0) {
        eprintln!("fp32 parity: max abs error {worst:.3e} (tolerance {tol:.1e})");
        assert!(worst <= tol.min(1e-4), "fp32 masks differ by {worst} > {tol}");
    }
}

#[test]
fn parity_int8_matches_reference_vectors() {
    if let Some((worst, tol)) = parity("demix.onnx", 1) {
        eprintln!("int8 parity: max abs error {worst:.3e} (tolerance {tol:.1e})");
        assert!(worst <= tol, "int8 masks differ by {worst} > {tol}");
    }
}

#[test]
fn shipped_models_follow_the_contract() {
    for m in ["demix.onnx", "demix_fp32.onnx"] {
        let path = repo().join("models").join(m);
        assert!(path.exists(), "{} missing: the shipped model is committed", path.display());
        let info = load_model_info(&path).unwrap_or_else(|e| panic!("{m}: {e}"));
        assert_eq!(info.stft(), StftConfig::DEFAULT_44K, "{m}");
        assert_eq!(info.sample_rate, 44100);
    }
}

// ---------------------------------------------------------------------------------------------
// The tiny model: state, reset, mono, other sample rates, NaN.

#[test]
fn tiny_model_carries_state_like_the_reference() {
    let mut sep = tiny();
    let mut reference = TinyRef { h: vec![0.0; 4 * BINS] };
    for t in 0..6 {
        let spec = test_frame(t, 2, BINS);
        let got = run44(&mut sep, &spec, 2);
        let exp = reference.step(&spec);
        let d = max_diff(&got, &exp);
        assert!(d < 1e-5, "frame {t}: max diff {d}");
    }
}

/// At Low latency (half the model's hop) frames alternate between two recurrent streams, so
/// each stream's state advances once per model hop, as in training. Switching the hop keeps
/// the state: a new stream starts from a copy of stream 0's.
#[test]
fn half_hop_frames_alternate_between_two_streams() {
    let mut sep = tiny();
    let low = |sep: &mut NeuralSeparator, f: &[Complex32]| {
        run_frame_at_hop(sep, f, 2, BINS, 44100.0, 1024, 128).expect("frame runs")
    };
    let mut a = TinyRef { h: vec![0.0; 4 * BINS] };
    let frames: Vec<_> = (0..12).map(|t| test_frame(t, 2, BINS)).collect();
    // Standard first: one stream.
    for f in &frames[..3] {
        let d = max_diff(&run44(&mut sep, f, 2), &a.step(f));
        assert!(d < 1e-5, "standard: max diff {d}");
    }
    // Low: stream 1 starts where stream 0 is.
    let mut b = TinyRef { h: a.h.clone() };
    for (t, f) in frames[3..9].iter().enumerate() {
        let exp = if t % 2 == 0 { a.step(f) } else { b.step(f) };
        let d = max_diff(&low(&mut sep, f), &exp);
        assert!(d < 1e-5, "low frame {t}: max diff {d}");
    }
    // Back to Standard: stream 0 goes on alone.
    for f in &frames[9..] {
        let d = max_diff(&run44(&mut sep, f, 2), &a.step(f));
        assert!(d < 1e-5, "standard again: max diff {d}");
    }
    // After a reset, Low starts both streams from zeros.
    sep.reset();
    let (mut a, mut b) = (TinyRef { h: vec![0.0; 4 * BINS] }, TinyRef { h: vec![0.0; 4 * BINS] });
    for (t, f) in frames.iter().enumerate() {
        let exp = if t % 2 == 0 { a.step(f) } else { b.step(f) };
        let d = max_diff(&low(&mut sep, f), &exp);
        assert!(d < 1e-5, "low after reset, frame {t}: max diff {d}");
    }
}

#[test]
fn reset_replays_identically() {
    let mut sep = tiny();
    let frames: Vec<_> = (0..5).map(|t| test_frame(t, 2, BINS)).collect();
    let first: Vec<_> = frames.iter().map(|f| run44(&mut sep, f, 2)).collect();
    assert_ne!(first[0], first[1], "state must influence the output");
    sep.reset();
    for (f, exp) in frames.iter().zip(&first) {
        assert_eq!(&run44(&mut sep, f, 2), exp);
    }
    // Reset after an odd number of frames too (the state is double-buffered).
    for f in &frames[..3] {
        run44(&mut sep, f, 2);
    }
    sep.reset();
    for (f, exp) in frames.iter().zip(&first) {
        assert_eq!(&run44(&mut sep, f, 2), exp);
    }
}

#[test]
fn nan_input_resets_state_and_yields_finite_masks() {
    let mut sep = tiny();
    let frames: Vec<_> = (0..4).map(|t| test_frame(t, 2, BINS)).collect();
    for f in &frames {
        run44(&mut sep, f, 2);
    }
    let mut bad = test_frame(9, 2, BINS);
    bad[3] = Complex32::new(f32::NAN, 0.0);
    bad[600] = Complex32::new(0.0, f32::INFINITY);
    let out = run44(&mut sep, &bad, 2);
    assert!(out.iter().all(|m| m.re.is_finite() && m.im.is_finite()));
    let after: Vec<_> = frames.iter().map(|f| run44(&mut sep, f, 2)).collect();

    // Same as a fresh separator fed the sanitised frame first.
    let mut fresh = tiny();
    let mut clean = bad.clone();
    clean[3] = Complex32::new(0.0, 0.0);
    clean[600] = Complex32::new(0.0, 0.0);
    assert_eq!(run44(&mut fresh, &clean, 2), out);
    for (f, exp) in frames.iter().zip(&after) {
        assert_eq!(&run44(&mut fresh, f, 2), exp);
    }
}

#[test]
fn mono_feeds_both_model_channels() {
    let mut mono = NeuralSeparator::load(&data("tiny.onnx"), &ort_lib(), 1).unwrap();
    let mut stereo = tiny();
    for t in 0..3 {
        let m = test_frame(t, 1, BINS);
        let dup: Vec<_> = m.iter().chain(m.iter()).copied().collect();
        let got = run44(&mut mono, &m, 1);
        let st = run44(&mut stereo, &dup, 2);
        for s in 0..N_STEMS {
            for k in 0..BINS {
                let mean = (st[(s * 2) * BINS + k] + st[(s * 2 + 1) * BINS + k]) * 0.5;
                assert!((got[s * BINS + k] - mean).norm() < 1e-6);
            }
        }
    }
}

#[test]
fn higher_host_rate_gives_extra_bins_to_other() {
    let info = load_model_info(&data("tiny.onnx")).unwrap();
    let cfg = info.stft_for_rate(48000.0);
    assert_eq!(cfg, StftConfig::from_hop(279));
    let bins = cfg.bins();
    let mut sep = tiny();
    let mut at44 = tiny();
    let spec = test_frame(0, 2, bins);
    let got = run_frame(&mut sep, &spec, 2, bins, 48000.0, cfg.n_fft).unwrap();
    let low: Vec<_> = (0..2).flat_map(|c| spec[c * bins..c * bins + BINS].to_vec()).collect();
    let exp = run44(&mut at44, &low, 2);
    for s in 0..N_STEMS {
        for c in 0..2 {
            let g = &got[(s * 2 + c) * bins..][..bins];
            assert_eq!(&g[..BINS], &exp[(s * 2 + c) * BINS..][..BINS]);
            let above = if s == N_STEMS - 1 { 1.0 } else { 0.0 };
            assert!(g[BINS..].iter().all(|m| *m == Complex32::new(above, 0.0)));
        }
    }
    // A lower host rate (fewer bins) runs too, with zeros fed above its Nyquist.
    let cfg22 = info.stft_for_rate(22050.0);
    let spec22 = test_frame(0, 2, cfg22.bins());
    let m22 = run_frame(&mut sep, &spec22, 2, cfg22.bins(), 22050.0, cfg22.n_fft).unwrap();
    assert!(m22.iter().all(|m| m.re.is_finite()));
}

#[test]
fn mismatched_stft_grid_is_an_error_not_garbage() {
    let mut sep = tiny();
    let spec = test_frame(0, 2, BINS);
    let err = run_frame(&mut sep, &spec, 2, BINS, 48000.0, 1024).unwrap_err();
    assert!(matches!(err, SeparatorError::BinGrid { n_fft: 1024, .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Failure modes: clear errors, never a panic.

fn load_err(path: &Path) -> NeuralError {
    match NeuralSeparator::load(path, &ort_lib(), 2) {
        Ok(_) => panic!("{} should be rejected", path.display()),
        Err(e) => e,
    }
}

#[test]
fn missing_model_is_rejected() {
    let p = data("does_not_exist.onnx");
    let e = load_err(&p);
    assert!(matches!(e, NeuralError::Model(ModelError::Io { .. })), "{e}");
    assert!(e.to_string().contains("does_not_exist.onnx"), "{e}");
    assert!(matches!(load_model_info(&p), Err(ModelError::Io { .. })));
}

#[test]
fn corrupt_and_truncated_models_are_rejected() {
    let dir = std::env::temp_dir().join(format!("demix-neural-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read(data("tiny.onnx")).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.onnx", Vec::new()),
        ("truncated.onnx", good[..good.len() / 2].to_vec()),
        ("garbage.onnx", (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()),
        ("text.onnx", b"this is not a model\n".to_vec()),
    ];
    for (name, bytes) in cases {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = load_err(&p);
        eprintln!("{name}: {e}");
        assert!(
            matches!(
                e,
                NeuralError::Model(ModelError::Corrupt { .. })
                    | NeuralError::Model(ModelError::MissingMetadata { .. })
            ),
            "{name}: {e}"
        );
    }
    // The real int8 model truncated at several points.
    let real = repo().join("models/demix.onnx");
    if let Ok(bytes) = std::fs::read(&real) {
        for frac in [0.1, 0.5, 0.9, 0.999] {
            let p = dir.join("real_truncated.onnx");
            std::fs::write(&p, &bytes[..(bytes.len() as f64 * frac) as usize]).unwrap();
            let e = load_err(&p);
            assert!(e.to_string().contains("corrupt or truncated"), "{frac}: {e}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_metadata_names_the_key() {
    let e = load_err(&data("tiny_no_hop.onnx"));
    assert!(
        matches!(e, NeuralError::Model(ModelError::MissingMetadata { key: "demix.hop" })),
        "{e}"
    );
    assert!(e.to_string().contains("demix.hop"), "{e}");
}

#[test]
fn shapes_disagreeing_with_metadata_name_the_tensor() {
    let e = load_err(&data("tiny_wrong_bins.onnx"));
    assert!(
        matches!(&e, NeuralError::Model(ModelError::BadTensor { name, .. }) if name == "spec"),
        "{e}"
    );
    assert!(e.to_string().contains("`spec`"), "{e}");
}

#[test]
fn missing_library_is_a_clear_error() {
    let missing = Path::new("/nonexistent/libonnxruntime.so.1");
    let e = NeuralSeparator::load(&data("tiny.onnx"), missing, 2).err().expect("must fail");
    assert!(matches!(e, NeuralError::Runtime(_)), "{e}");
    assert!(e.to_string().contains("/nonexistent/libonnxruntime.so.1"), "{e}");
    assert!(
        locate_ort_library(&[PathBuf::from("/nonexistent")]).is_err()
            || std::env::var_os("DEMIX_ORT_LIB").is_some()
    );
    // The factory passes the typed error on to the worker.
    let f = neural_factory(data("tiny.onnx"), PathBuf::from("/nonexistent/libonnxruntime.so"));
    let e = f(StftConfig::DEFAULT_44K, 2).err().expect("must fail");
    assert!(matches!(e, NeuralError::Runtime(_)), "{e}");
}

#[test]
fn inference_error_mid_stream_is_reported_and_recoverable() {
    let mut sep = NeuralSeparator::load(&data("tiny_trap.onnx"), &ort_lib(), 2).unwrap();
    let mut spec = test_frame(0, 2, BINS);
    spec[0] = Complex32::new(1.0, 0.0);
    run44(&mut sep, &spec, 2);
    spec[0] = Complex32::new(100.0, 0.0); // Gather index out of range inside the graph
    let err = run_frame(&mut sep, &spec, 2, BINS, 44100.0, 1024).unwrap_err();
    assert!(matches!(err, SeparatorError::Inference(_)), "{err}");
    spec[0] = Complex32::new(2.0, 0.0);
    run44(&mut sep, &spec, 2);
}

#[test]
fn factory_builds_a_separator_on_the_calling_thread() {
    let f = neural_factory(data("tiny.onnx"), ort_lib());
    let handle = std::thread::spawn(move || {
        let mut sep = f(StftConfig::DEFAULT_44K, 2).unwrap();
        assert_eq!(sep.name(), "tiny-test (fp32, 44100 Hz)");
        run44(sep.as_mut(), &test_frame(0, 2, BINS), 2)
    });
    assert!(handle.join().unwrap().iter().all(|m| m.re.is_finite()));
    let bad = neural_factory(data("tiny_no_hop.onnx"), ort_lib());
    let e = bad(StftConfig::DEFAULT_44K, 2).err().unwrap();
    assert!(
        matches!(e, NeuralError::Model(ModelError::MissingMetadata { key: "demix.hop" })),
        "{e}"
    );
}

#[test]
fn offline_separation_with_the_neural_engine_sums_to_the_input() {
    let mut sep = tiny();
    let n = 44100 / 4;
    let chans: Vec<Vec<f32>> = (0..2)
        .map(|c| (0..n).map(|i| ((i as f32) * 0.031 * (c + 1) as f32).sin() * 0.4).collect())
        .collect();
    let stems = demix_engine::worker::offline::separate(
        &chans,
        44100.0,
        StftConfig::DEFAULT_44K,
        &mut sep,
        &Default::default(),
        |_| {},
    );
    for c in 0..2 {
        for i in 2048..n - 2048 {
            let sum: f32 = (0..N_STEMS).map(|s| stems[s][c][i]).sum();
            assert!(
                (sum - chans[c][i]).abs() < 1e-4,
                "ch {c} sample {i}: {sum} vs {}",
                chans[c][i]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Through the real-time engine and its worker thread.

fn realtime_run(
    model: &Path,
    sr: f32,
) -> (demix_engine::audio_thread::realtime::RealtimeEngine, Vec<Vec<f32>>, Vec<Vec<f32>>) {
    use demix_engine::audio_thread::mixer::MixSettings;
    use demix_engine::audio_thread::realtime::{EngineConfig, RealtimeEngine};
    use demix_engine::sync::status::{EngineKind, EngineStatus};
    use std::sync::Arc;
    let stft = load_model_info(model)
        .map(|i| i.stft_for_rate(sr as f64))
        .unwrap_or(StftConfig::DEFAULT_44K);
    let cfg = EngineConfig { sample_rate_hz: sr, channels: 2, max_block: 512, stft };
    let factory = neural_factory(model.to_path_buf(), ort_lib());
    let mut eng = RealtimeEngine::new(
        cfg,
        &MixSettings::default(),
        EngineKind::Neural,
        Some(factory),
        Arc::new(EngineStatus::default()),
    );
    let len = sr as usize;
    let x: Vec<Vec<f32>> = (0..2)
        .map(|c| {
            (0..len)
                .map(|i| {
                    0.3 * ((i as f32) * 0.02 * (c + 1) as f32).sin()
                        + 0.05 * ((i * 7919 % 101) as f32 / 50.0 - 1.0)
                })
                .collect()
        })
        .collect();
    let mut y = x.clone();
    let mut start = 0;
    while start < len {
        let n = 512.min(len - start);
        let mut chans: Vec<&mut [f32]> = y.iter_mut().map(|c| &mut c[start..start + n]).collect();
        eng.process(&mut chans, &MixSettings::default(), true);
        start += n;
    }
    (eng, x, y)
}

#[test]
fn realtime_engine_runs_the_neural_model_and_nulls_at_unity() {
    use demix_engine::sync::status::EngineKind;
    let real = repo().join("models/demix.onnx");
    let model = if real.exists() { real } else { data("tiny.onnx") };
    for sr in [44100.0f32, 48000.0] {
        let (eng, x, y) = realtime_run(&model, sr);
        let st = eng.status();
        assert_eq!(st.active_engine(), EngineKind::Neural, "sr {sr}: {}", st.notice());
        assert!(matches!(st.notice(), EngineNotice::ModelLoaded { .. }), "{}", st.notice());
        assert_eq!(st.separator_faults.load(std::sync::atomic::Ordering::Relaxed), 0);
        // The null must come from separated stems, not from the dry fallback.
        let hops = st.hops_processed.load(std::sync::atomic::Ordering::Relaxed);
        let hop = eng.config().stft.hop as u64;
        assert!(hops * hop >= x[0].len() as u64 / 2, "sr {sr}: only {hops} hops separated");
        let lat = eng.latency_samples();
        let (mut sig, mut err) = (0.0f64, 0.0f64);
        for (xc, yc) in x.iter().zip(&y) {
            for t in lat..xc.len() {
                sig += (xc[t - lat] as f64).powi(2);
                err += (yc[t] as f64 - xc[t - lat] as f64).powi(2);
            }
        }
        let db = 10.0 * (err.max(1e-300) / sig).log10();
        eprintln!("neural realtime at {sr} Hz: {}, null {db:.1} dB", st.notice());
        assert!(db < -80.0, "sr {sr}: unity gains must null, got {db:.1} dB");
    }
}

#[test]
fn realtime_engine_falls_back_to_classic_with_a_broken_model() {
    use demix_engine::sync::status::EngineKind;
    let (eng, _, y) = realtime_run(&data("tiny_no_hop.onnx"), 44100.0);
    let st = eng.status();
    assert_eq!(st.active_engine(), EngineKind::Classic);
    assert!(
        matches!(
            st.notice().neural_error(),
            Some(NeuralError::Model(ModelError::MissingMetadata { key: "demix.hop" }))
        ),
        "{}",
        st.notice()
    );
    assert!(y.iter().flatten().all(|v| v.is_finite()));
}
