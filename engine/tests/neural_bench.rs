//! Worker cost per hop, printed (not asserted): the int8 and fp32 models through ONNX Runtime
//! (one thread) and the classical separator, in one run.
//!
//! ```text
//! cargo test --release -p demix-engine --test neural_bench -- --ignored --nocapture
//! ```
//! RTF = time per hop / hop duration (256 / 44100 s = 5.805 ms); the target for the int8 model
//! is RTF <= 0.1. "full hop" is what the worker does per hop (STFT of both channels, separator,
//! mask projection, 8 inverse STFTs); "model step" is one ONNX Runtime call alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use demix_engine::dsp::classic::ClassicSeparator;
use demix_engine::dsp::separator::Separator;
use demix_engine::dsp::stft::StftConfig;
use demix_engine::model::bundle::{locate_ort_library, repo_cache_dir};
use demix_engine::model::neural::NeuralSeparator;
use demix_engine::stem::N_STEMS;
use demix_engine::worker::processor::HopProcessor;

const SR: f32 = 44100.0;

fn hops() -> usize {
    std::env::var("DEMIX_BENCH_HOPS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000)
}

fn signal(n: usize) -> Vec<f32> {
    // Stereo, interleaved: a few partials, a decaying click every 0.25 s, and noise.
    let mut seed = 0x1234_5678u32;
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..n {
        let t = i as f32 / SR;
        seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
        let noise = (seed >> 9) as f32 / (1u32 << 23) as f32 - 0.5;
        let click = (-((i % 11025) as f32) / 300.0).exp() * noise;
        let tone = 0.2 * (2.0 * std::f32::consts::PI * 110.0 * t).sin()
            + 0.1 * (2.0 * std::f32::consts::PI * 440.0 * t).sin();
        out.push(tone + 0.3 * click + 0.02 * noise);
        out.push(0.8 * tone - 0.3 * click + 0.02 * noise);
    }
    out
}

struct Stats {
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    Stats { mean_us: mean, p50_us: v[v.len() / 2], p99_us: v[(v.len() * 99) / 100] }
}

fn bench_full_hop(sep: &mut dyn Separator, input: &[f32], n_hops: usize) -> Stats {
    let cfg = StftConfig::DEFAULT_44K;
    let mut proc = HopProcessor::new(cfg, 2, SR);
    let mut out = vec![0.0f32; cfg.hop * N_STEMS * 2];
    let warm = 50;
    let mut times = Vec::with_capacity(n_hops);
    for k in 0..warm + n_hops {
        let hop = &input[(k * cfg.hop * 2) % (input.len() - cfg.hop * 2)..][..cfg.hop * 2];
        let t0 = Instant::now();
        proc.process_hop(sep, hop, &mut out);
        let dt = t0.elapsed().as_secs_f64() * 1e6;
        if k >= warm {
            times.push(dt);
        }
    }
    stats(times)
}

fn bench_model_step(sep: &mut NeuralSeparator, n_hops: usize) -> Stats {
    let bins = sep.info().bins();
    let spec: Vec<f32> = (0..4 * bins).map(|i| ((i * 37) as f32 * 0.01).sin()).collect();
    let mut times = Vec::with_capacity(n_hops);
    for k in 0..50 + n_hops {
        let t0 = Instant::now();
        sep.run_raw(&spec).expect("model runs");
        let dt = t0.elapsed().as_secs_f64() * 1e6;
        if k >= 50 {
            times.push(dt);
        }
    }
    stats(times)
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn worker_rtf_int8_fp32_classic() {
    // DEMIX_REPO_DIR lets a copied test binary run against another checkout.
    let repo = std::env::var_os("DEMIX_REPO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    let cache = repo.join(".cache/ort");
    let lib = locate_ort_library(&[cache.canonicalize().unwrap_or(cache), repo_cache_dir()])
        .expect("ONNX Runtime library (cargo xtask fetch-ort)");
    let n_hops = hops();
    let hop_us = StftConfig::DEFAULT_44K.hop as f64 / SR as f64 * 1e6;
    let input = signal(44100 * 10);
    println!(
        "\nworker cost per hop, stereo 44.1 kHz, hop 256 = {hop_us:.0} µs, {n_hops} hops, 1 thread, {} build",
        if cfg!(debug_assertions) { "DEBUG (numbers meaningless)" } else { "release" }
    );
    println!("ONNX Runtime: {}", lib.display());
    println!(
        "{:<30} {:>10} {:>10} {:>10} {:>8} {:>10}",
        "separator / measure", "mean µs", "p50 µs", "p99 µs", "RTF", "vs classic"
    );

    let mut classic = ClassicSeparator::new(StftConfig::DEFAULT_44K.bins());
    let c = bench_full_hop(&mut classic, &input, n_hops);
    let row = |name: &str, s: &Stats, base: f64| {
        println!(
            "{name:<30} {:>10.1} {:>10.1} {:>10.1} {:>8.4} {:>9.2}x",
            s.mean_us,
            s.p50_us,
            s.p99_us,
            s.mean_us / hop_us,
            s.mean_us / base
        );
    };
    row("classic: full hop", &c, c.mean_us);
    let models: [(&str, PathBuf); 2] =
        [("int8", repo.join("models/demix.onnx")), ("fp32", repo.join("models/demix_fp32.onnx"))];
    for (label, path) in models {
        assert!(path.exists(), "committed model {} missing", path.display());
        let mut sep = NeuralSeparator::load(&path, &lib, 2).expect("model loads");
        let full = bench_full_hop(&mut sep, &input, n_hops);
        row(&format!("{label}: full hop"), &full, c.mean_us);
        sep.reset();
        let step = bench_model_step(&mut sep, n_hops);
        row(&format!("{label}: model step only"), &step, c.mean_us);
    }
}
