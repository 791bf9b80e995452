//! `demix bench`: cost of each engine on this machine, with baselines measured in the same run
//! so that the ratios can be compared across machines.
//!
//! Per engine and sample rate:
//! - **worker**: one [`HopProcessor::process_hop`] (STFT of both channels → separator → mask
//!   projection → 8 inverse STFTs) timed hop by hop in a tight loop on one thread, after a
//!   warm-up; RTF = time per hop / hop duration. Baseline: the same hop processor with a
//!   separator that only writes constant masks (the STFT round trip alone).
//! - **audio thread**: [`RealtimeEngine::process`] per host block with the worker thread
//!   running, called at real-time pace (each block waits for its wall-clock deadline, as a
//!   host would), timed per call, as % of the block's duration; underruns counted. Baseline:
//!   a plain copy-with-gain pass over the same block (what any plugin costs at least).
//! - **latency** reported to the host, in samples and ms.
//!
//! Statistics: median and 99th percentile (and mean) over all timed iterations.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use demix_engine::audio_thread::mixer::MixSettings;
use demix_engine::audio_thread::realtime::{EngineConfig, RealtimeEngine};
use demix_engine::dsp::separator::{Frame, Masks, Separator, SeparatorError};
use demix_engine::dsp::stft::Latency;
use demix_engine::model::neural::neural_factory;
use demix_engine::stem::N_STEMS;
use demix_engine::sync::status::{EngineKind, EngineStatus};
use demix_engine::worker::processor::HopProcessor;
use demix_engine::Complex32;
use serde::Serialize;

use crate::engines::EngineSetup;

/// Options of `demix bench`.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Engines to measure, with a label each.
    pub engines: Vec<(String, EngineSetup)>,
    /// Sample rates in Hz.
    pub rates: Vec<u32>,
    /// Host block size in samples.
    pub block: usize,
    /// Timed hops per worker measurement.
    pub hops: usize,
    /// Seconds of real-time-paced blocks per audio-thread measurement (after 1 s warm-up).
    pub rt_seconds: f64,
    /// STFT latency (the plugin's Latency choice).
    pub latency: Latency,
}

/// Median / p99 / mean of a set of timings, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stats {
    /// Median.
    pub median_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Mean.
    pub mean_us: f64,
    /// Number of timed iterations.
    pub n: usize,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    let n = v.len().max(1);
    Stats {
        median_us: v.get(n / 2).copied().unwrap_or(0.0),
        p99_us: v.get(((n * 99) / 100).min(n - 1)).copied().unwrap_or(0.0),
        mean_us: v.iter().sum::<f64>() / n as f64,
        n: v.len(),
    }
}

/// One engine at one sample rate.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// Engine label.
    pub engine: String,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// STFT frame and hop at that rate.
    pub n_fft: usize,
    /// Hop in samples.
    pub hop: usize,
    /// Host block in samples.
    pub block: usize,
    /// Latency reported to the host, samples.
    pub latency_samples: usize,
    /// Latency in ms.
    pub latency_ms: f64,
    /// Worker time per hop.
    pub worker: Stats,
    /// Worker real-time factor (median time per hop / hop duration).
    pub worker_rtf_median: f64,
    /// Worker RTF at the 99th percentile.
    pub worker_rtf_p99: f64,
    /// Worker time per hop with stereo refinement off (masks applied directly).
    pub worker_masks_only: Stats,
    /// Worker RTF with stereo refinement off.
    pub worker_masks_only_rtf_median: f64,
    /// Baseline: STFT round trip without a separator, per hop.
    pub stft_only: Stats,
    /// Worker median / STFT-round-trip median.
    pub worker_vs_stft: f64,
    /// Audio-thread `process()` time per block.
    pub audio: Stats,
    /// Audio-thread median cost as % of the block duration.
    pub audio_pct_median: f64,
    /// Audio-thread p99 cost as % of the block duration.
    pub audio_pct_p99: f64,
    /// Baseline: copy-with-gain pass over the block.
    pub copy_gain: Stats,
    /// Audio-thread median / copy-with-gain median.
    pub audio_vs_copy: f64,
    /// Blocks that played the dry fallback during the timed audio-thread run.
    pub underrun_blocks: u64,
    /// Blocks timed in the audio-thread run.
    pub audio_blocks: u64,
}

/// The whole report (JSON output).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// CPU model and core count.
    pub machine: String,
    /// Method summary.
    pub method: String,
    /// Results.
    pub rows: Vec<BenchRow>,
}

/// Stereo test signal: partials, decaying noise bursts every 0.25 s, noise floor.
fn signal(rate: u32, n: usize) -> [Vec<f32>; 2] {
    let mut seed = 0x1234_5678u32;
    let (mut l, mut r) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let q = rate as usize / 4;
    for i in 0..n {
        let t = i as f32 / rate as f32;
        seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
        let noise = (seed >> 9) as f32 / (1u32 << 23) as f32 - 0.5;
        let click = (-((i % q) as f32) / 300.0).exp() * noise;
        let tone = 0.2 * (2.0 * std::f32::consts::PI * 110.0 * t).sin()
            + 0.1 * (2.0 * std::f32::consts::PI * 440.0 * t).sin();
        l.push(tone + 0.3 * click + 0.02 * noise);
        r.push(0.8 * tone - 0.3 * click + 0.02 * noise);
    }
    [l, r]
}

/// Writes constant masks: the STFT round trip without separation work.
struct ConstantMasks;

impl Separator for ConstantMasks {
    fn name(&self) -> &str {
        "constant"
    }
    fn process(&mut self, _frame: &Frame<'_>, masks: &mut Masks<'_>) -> Result<(), SeparatorError> {
        masks.data.fill(Complex32::new(1.0 / N_STEMS as f32, 0.0));
        Ok(())
    }
    fn reset(&mut self) {}
}

/// Times `HopProcessor::process_hop` with `sep`, stereo refinement on or off.
fn bench_worker(
    sep: &mut dyn Separator,
    cfg: demix_engine::dsp::stft::StftConfig,
    rate: u32,
    hops: usize,
    stereo_refine: bool,
) -> Stats {
    let warm = 100;
    let total = hops + warm;
    let sig = signal(rate, (total + 1) * cfg.hop);
    let mut input = vec![0.0f32; cfg.hop * 2];
    let mut out = vec![0.0f32; cfg.hop * N_STEMS * 2];
    let mut proc = HopProcessor::new(cfg, 2, rate as f32);
    proc.set_shaping(&demix_engine::dsp::shaping::ShapingSettings {
        stereo_refine,
        ..Default::default()
    });
    let mut times = Vec::with_capacity(hops);
    for k in 0..total {
        for t in 0..cfg.hop {
            input[2 * t] = sig[0][k * cfg.hop + t];
            input[2 * t + 1] = sig[1][k * cfg.hop + t];
        }
        let t0 = Instant::now();
        proc.process_hop(sep, &input, &mut out);
        let dt = t0.elapsed().as_secs_f64() * 1e6;
        std::hint::black_box(&out);
        if k >= warm {
            times.push(dt);
        }
    }
    stats(times)
}

fn bench_copy_gain(block: usize, iters: usize) -> Stats {
    let sig = signal(44100, block);
    let (mut l, mut r) = (sig[0].clone(), sig[1].clone());
    let (src_l, src_r) = (sig[0].clone(), sig[1].clone());
    let mut times = Vec::with_capacity(iters);
    for k in 0..iters + 100 {
        let g = std::hint::black_box(0.9f32);
        let t0 = Instant::now();
        for i in 0..block {
            l[i] = src_l[i] * g;
            r[i] = src_r[i] * g;
        }
        std::hint::black_box((&mut l, &mut r));
        let dt = t0.elapsed().as_secs_f64() * 1e6;
        if k >= 100 {
            times.push(dt);
        }
    }
    stats(times)
}

/// Audio thread at real-time pace; returns (stats, underrun blocks, blocks, latency).
fn bench_audio(
    engine: &EngineSetup,
    cfg: demix_engine::dsp::stft::StftConfig,
    rate: u32,
    block: usize,
    seconds: f64,
) -> (Stats, u64, u64, usize) {
    let ecfg =
        EngineConfig { sample_rate_hz: rate as f32, channels: 2, max_block: block, stft: cfg };
    let status = Arc::new(EngineStatus::default());
    let settings = MixSettings::default();
    let (kind, factory) = match &engine.neural {
        Some(n) => (EngineKind::Neural, Some(neural_factory(n.model.clone(), n.ort_lib.clone()))),
        None => (EngineKind::Classic, None),
    };
    let mut rt = RealtimeEngine::new(ecfg, &settings, kind, factory, status.clone());
    let latency = rt.latency_samples();
    let block_dur = Duration::from_secs_f64(block as f64 / rate as f64);
    let warm_blocks = (rate as usize / block).max(10);
    let timed_blocks = ((seconds * rate as f64) as usize / block).max(50);
    let total = warm_blocks + timed_blocks;
    let sig = signal(rate, (total + 1) * block);
    let (mut l, mut r) = (vec![0.0f32; block], vec![0.0f32; block]);
    // Give the worker time to start (and load a model) before the clock starts.
    std::thread::sleep(Duration::from_millis(200));
    let mut times = Vec::with_capacity(timed_blocks);
    let mut underruns_at_start = 0;
    let start = Instant::now();
    for k in 0..total {
        let deadline = start + block_dur * k as u32;
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        l.copy_from_slice(&sig[0][k * block..(k + 1) * block]);
        r.copy_from_slice(&sig[1][k * block..(k + 1) * block]);
        if k == warm_blocks {
            underruns_at_start = status.underrun_blocks.load(Ordering::Relaxed);
        }
        let t0 = Instant::now();
        rt.process(&mut [&mut l[..], &mut r[..]], &settings, false);
        let dt = t0.elapsed().as_secs_f64() * 1e6;
        if k >= warm_blocks {
            times.push(dt);
        }
    }
    let underruns = status.underrun_blocks.load(Ordering::Relaxed) - underruns_at_start;
    drop(rt);
    (stats(times), underruns, timed_blocks as u64, latency)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!(
        "{cpu}, {cores} logical cores available, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Runs the benchmark; `progress` receives one line per measurement.
pub fn run(opts: &BenchOptions, mut progress: impl FnMut(&str)) -> Result<BenchReport> {
    let mut rows = Vec::new();
    for (label, engine) in &opts.engines {
        for &rate in &opts.rates {
            let cfg = engine.stft_config(rate, opts.latency);
            progress(&format!("{label} @ {rate} Hz: worker ({} hops)…", opts.hops));
            let mut sep = engine.make_separator(cfg, 2)?;
            let worker = bench_worker(sep.as_mut(), cfg, rate, opts.hops, true);
            sep.reset();
            let worker_masks_only = bench_worker(sep.as_mut(), cfg, rate, opts.hops, false);
            drop(sep);
            let stft_only = bench_worker(&mut ConstantMasks, cfg, rate, opts.hops, false);
            progress(&format!(
                "{label} @ {rate} Hz: audio thread ({:.0} s at real-time pace)…",
                opts.rt_seconds + 1.0
            ));
            let (audio, underrun_blocks, audio_blocks, latency) =
                bench_audio(engine, cfg, rate, opts.block, opts.rt_seconds);
            let copy_gain = bench_copy_gain(opts.block, audio.n.max(1000));
            let hop_us = cfg.hop as f64 / rate as f64 * 1e6;
            let block_us = opts.block as f64 / rate as f64 * 1e6;
            rows.push(BenchRow {
                engine: label.clone(),
                sample_rate: rate,
                n_fft: cfg.n_fft,
                hop: cfg.hop,
                block: opts.block,
                latency_samples: latency,
                latency_ms: latency as f64 / rate as f64 * 1e3,
                worker_rtf_median: worker.median_us / hop_us,
                worker_rtf_p99: worker.p99_us / hop_us,
                worker_masks_only_rtf_median: worker_masks_only.median_us / hop_us,
                worker_masks_only,
                worker_vs_stft: worker.median_us / stft_only.median_us.max(1e-9),
                worker,
                stft_only,
                audio_pct_median: 100.0 * audio.median_us / block_us,
                audio_pct_p99: 100.0 * audio.p99_us / block_us,
                audio_vs_copy: audio.median_us / copy_gain.median_us.max(1e-3),
                audio,
                copy_gain,
                underrun_blocks,
                audio_blocks,
            });
        }
    }
    Ok(BenchReport {
        machine: machine(),
        method: "worker: HopProcessor::process_hop (default shaping: stereo refinement on) timed per hop in a tight loop after \
                 100 warm-up hops, RTF = time/hop duration; worker_masks_only: same with stereo refinement off; \
                 stft_only: same with constant masks and no refinement (STFT round trip baseline); audio: RealtimeEngine::process per block at \
                 real-time pace with the worker thread running, after 1 s warm-up, as % of block duration; copy_gain: \
                 copy-with-gain pass over the same block (baseline); median and p99 over all timed iterations"
            .into(),
        rows,
    })
}

/// The printed table.
pub fn table(r: &BenchReport) -> String {
    let mut s = format!("machine: {}\n\n", r.machine);
    s += &format!(
        "{:<26} {:>6} {:>10} {:>10} {:>10} {:>11} {:>9} {:>10} {:>10} {:>10} {:>9} {:>9} {:>12}\n",
        "engine",
        "rate",
        "hop µs p50",
        "hop µs p99",
        "worker RTF",
        "RTF masks",
        "×STFT",
        "audio %p50",
        "audio %p99",
        "audio µs",
        "×copy",
        "underruns",
        "latency"
    );
    for x in &r.rows {
        s += &format!(
            "{:<26} {:>6} {:>10.1} {:>10.1} {:>10.4} {:>11.4} {:>9.2} {:>10.3} {:>10.3} {:>10.2} {:>9.1} {:>9} {:>5} / {:.1} ms\n",
            x.engine,
            x.sample_rate,
            x.worker.median_us,
            x.worker.p99_us,
            x.worker_rtf_median,
            x.worker_masks_only_rtf_median,
            x.worker_vs_stft,
            x.audio_pct_median,
            x.audio_pct_p99,
            x.audio.median_us,
            x.audio_vs_copy,
            format!("{}/{}", x.underrun_blocks, x.audio_blocks),
            x.latency_samples,
            x.latency_ms
        );
    }
    s += "\nworker RTF = median time per hop / hop duration (p99 in the JSON), with stereo refinement; RTF masks = the same \
          without it;\n×STFT = worker / STFT round trip without separator or refinement;\naudio % = RealtimeEngine::process per block / block duration; ×copy = audio / copy-with-gain pass; \
          underruns = fallback blocks (a late stem frame) / timed blocks.\n";
    s
}
