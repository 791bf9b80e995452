//! Property-based fuzzing of the audio-thread engine ([`RealtimeEngine`]).
//!
//! Each case builds an engine at a random sample rate (44.1 … 192 kHz), channel count and
//! `max_block`, then plays a random "chaos" script: blocks of 0 … 8192 samples (also longer than
//! `max_block`) of silence, noise, full-scale and hot noise, tones, music-like material,
//! denormals, NaN and ±Inf bursts; random parameter automation (gains, mutes, solos, modes,
//! transition times, dry/wet, bypass), sound-shaping changes, engine requests, `reset()` calls,
//! offline / real-time / alternating mode, and hosts that pass fewer or more channel buffers than
//! configured. Properties:
//! - nothing panics (the test thread or the worker: the worker must still be running at the end);
//! - every output sample is finite;
//! - `process`, `reset`, `set_shaping` and `request_engine` never allocate on the calling thread
//!   (`assert_no_alloc`, counted with its `warn_debug` feature);
//! - when the chaos stops and the host goes back to unity settings, the output nulls against the
//!   input delayed by the reported latency to ≤ -100 dB, once the parameter ramps and the
//!   STFT/overlap tail of the chaos have passed (and, in half the cases, after a `reset()`).
//!
//! Bounded for CI (24 + 12 + 6 cases, under a minute in debug). Longer runs:
//! `DEMIX_FUZZ_ITERS=<n>` multiplies the cases and `DEMIX_FUZZ_SEED=<u64>` changes the seed
//! (default fixed, so CI is reproducible), e.g.
//! `DEMIX_FUZZ_ITERS=10 DEMIX_FUZZ_SEED=$RANDOM cargo test -p demix-engine --test fuzz_engine -- --nocapture`
//! (debug only: `assert_no_alloc`'s violation counter exists in debug builds).
//! The neural variant uses the tiny test model and needs ONNX Runtime (`DEMIX_ORT_LIB` or
//! `.cache/ort/`, see `cargo xtask fetch-ort`); without it that test is skipped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use assert_no_alloc::{assert_no_alloc, reset_violation_count, violation_count, AllocDisabler};
use demix_engine::audio_thread::mixer::{MixSettings, Mode, SMOOTHING_MS, TRANSITION_MS_RANGE};
use demix_engine::audio_thread::realtime::{EngineConfig, RealtimeEngine};
use demix_engine::dsp::postfx::{DeEsserSettings, GateSettings};
use demix_engine::dsp::shaping::ShapingSettings;
use demix_engine::dsp::stft::StftConfig;
use demix_engine::model::bundle::{locate_ort_library, repo_cache_dir};
use demix_engine::model::contract::load_model_info;
use demix_engine::model::neural::neural_factory;
use demix_engine::sync::status::{EngineKind, EngineStatus};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

#[global_allocator]
static ALLOC: AllocDisabler = AllocDisabler;

const RATES: [f32; 5] = [44100.0, 48000.0, 88200.0, 96000.0, 192000.0];
const MAX_BLOCKS: [usize; 12] = [1, 7, 32, 64, 128, 256, 333, 512, 1024, 2048, 4096, 8192];
const MAX_LEN: usize = 8192;

// ---------------------------------------------------------------------------------------------
// Scripts

#[derive(Debug, Clone, Copy)]
enum Sig {
    Silence,
    Noise(f32),
    FullScale,
    /// Noise well above 0 dBFS (floating-point hosts pass it through).
    Hot(f32),
    Tone(f32, f32),
    Music,
    Denormal,
    /// Every `n`-th sample is NaN, the others noise.
    NanEvery(u32),
    /// ±Inf and NaN mixed into noise.
    Inf,
    /// Constant offset.
    Dc(f32),
}

#[derive(Debug, Clone)]
enum Op {
    Block { len: usize, sig: Sig, seed: u32, mix: Option<MixSettings>, flip_offline: bool },
    Reset,
    Shaping(ShapingSettings),
    Engine(EngineKind),
}

#[derive(Debug, Clone)]
struct Scenario {
    rate: usize,
    channels: usize,
    /// Channel buffers the host passes (usually `channels`; 1 or 3 to play a sloppy host).
    buffers: usize,
    max_block: usize,
    /// 0: real time, 1: offline, 2: alternating (per block, with `flip_offline`).
    offline_mode: u8,
    initial: MixSettings,
    ops: Vec<Op>,
    /// Before the null check: set unity (0-length block) then `reset()`; otherwise just wait.
    null_after_reset: bool,
    null_block: usize,
}

fn sig_strategy() -> impl Strategy<Value = Sig> {
    prop_oneof![
        3 => Just(Sig::Silence),
        4 => (0.0f32..1.0).prop_map(Sig::Noise),
        2 => Just(Sig::FullScale),
        1 => (1.0f32..64.0).prop_map(Sig::Hot),
        3 => (20.0f32..20_000.0, 0.0f32..1.0).prop_map(|(f, a)| Sig::Tone(f, a)),
        4 => Just(Sig::Music),
        2 => Just(Sig::Denormal),
        2 => (1u32..200).prop_map(Sig::NanEvery),
        1 => Just(Sig::Inf),
        1 => (-1.0f32..1.0).prop_map(Sig::Dc),
    ]
}

fn gain_db(hostile: bool) -> BoxedStrategy<f32> {
    if hostile {
        prop_oneof![
            4 => -60.0f32..12.0,
            1 => Just(f32::NAN),
            1 => Just(f32::INFINITY),
            1 => Just(f32::NEG_INFINITY),
            1 => Just(f32::MAX),
            1 => Just(-1e30f32),
        ]
        .boxed()
    } else {
        prop_oneof![6 => -60.0f32..12.0, 1 => Just(f32::NEG_INFINITY), 1 => Just(-100.0f32), 2 => Just(0.0f32)].boxed()
    }
}

fn unit(hostile: bool) -> BoxedStrategy<f32> {
    if hostile {
        prop_oneof![4 => 0.0f32..=1.0, 1 => Just(f32::NAN), 1 => Just(-1.0f32), 1 => Just(7.0f32), 1 => Just(f32::INFINITY)].boxed()
    } else {
        prop_oneof![3 => 0.0f32..=1.0, 1 => Just(1.0f32), 1 => Just(0.0f32)].boxed()
    }
}

fn transition_ms(hostile: bool) -> BoxedStrategy<f32> {
    if hostile {
        prop_oneof![3 => 0.0f32..2000.0, 1 => Just(f32::NAN), 1 => Just(-5.0f32), 1 => Just(1e12f32), 1 => Just(f32::INFINITY)].boxed()
    } else {
        // Mostly short transitions so the null phase stays cheap; sometimes the 2 s maximum.
        prop_oneof![6 => 0.0f32..200.0, 1 => 200.0f32..=2000.0].boxed()
    }
}

fn mix_strategy(hostile: bool) -> impl Strategy<Value = MixSettings> {
    (
        prop::array::uniform4(gain_db(hostile)),
        prop::array::uniform4(prop::bool::weighted(0.25)),
        prop::array::uniform4(prop::bool::weighted(0.15)),
        unit(hostile),
        prop::bool::weighted(0.15),
        prop::sample::select(Mode::ALL.to_vec()),
        transition_ms(hostile),
    )
        .prop_map(|(stem_gain_db, mute, solo, wet, bypass, mode, transition_ms)| MixSettings {
            stem_gain_db,
            mute,
            solo,
            wet,
            bypass,
            mode,
            transition_ms,
        })
}

fn hz(lo: f32, hi: f32, hostile: bool) -> BoxedStrategy<f32> {
    if hostile {
        prop_oneof![3 => lo..hi, 1 => Just(f32::NAN), 1 => Just(-1000.0f32), 1 => Just(0.0f32), 1 => Just(1e9f32), 1 => Just(f32::INFINITY)].boxed()
    } else {
        (lo..hi).boxed()
    }
}

fn shaping_strategy(hostile: bool) -> impl Strategy<Value = ShapingSettings> {
    let bleed = if hostile {
        prop_oneof![3 => -1.0f32..=1.0, 1 => Just(f32::NAN), 1 => Just(50.0f32), 1 => Just(-50.0f32)].boxed()
    } else {
        prop_oneof![3 => -1.0f32..=1.0, 1 => Just(0.0f32)].boxed()
    };
    let bass = prop_oneof![1 => Just(0.0f32), 2 => hz(20.0, 400.0, hostile)];
    let deesser = (
        any::<bool>(),
        hz(2000.0, 12000.0, hostile),
        hz(-60.0, 0.0, hostile),
        hz(1.0, 20.0, hostile),
    )
        .prop_map(|(enabled, frequency_hz, threshold_db, ratio)| DeEsserSettings {
            enabled,
            frequency_hz,
            threshold_db,
            ratio,
        });
    let gate = (
        any::<bool>(),
        hz(-80.0, 0.0, hostile),
        hz(0.0, 80.0, hostile),
        hz(0.0, 50.0, hostile),
        hz(0.0, 500.0, hostile),
        hz(1.0, 2000.0, hostile),
    )
        .prop_map(|(enabled, threshold_db, range_db, attack_ms, hold_ms, release_ms)| {
            GateSettings { enabled, threshold_db, range_db, attack_ms, hold_ms, release_ms }
        });
    (bleed, any::<bool>(), any::<bool>(), bass, deesser, gate).prop_map(
        |(
            bleed_artifacts,
            vocal_coherent_stereo,
            stereo_refine,
            bass_mono_below_hz,
            deesser,
            gate,
        )| ShapingSettings {
            bleed_artifacts,
            vocal_coherent_stereo,
            stereo_refine,
            bass_mono_below_hz,
            deesser,
            gate,
        },
    )
}

fn len_strategy(max_block: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        1 => Just(0usize),
        2 => 1usize..=32,
        2 => Just(max_block.min(MAX_LEN)),
        4 => 33usize..=1024,
        2 => 1025usize..=MAX_LEN,
    ]
}

fn op_strategy(max_block: usize, hostile: bool) -> impl Strategy<Value = Op> {
    let block = (
        len_strategy(max_block),
        sig_strategy(),
        any::<u32>(),
        prop::option::weighted(0.4, mix_strategy(hostile)),
        any::<bool>(),
    )
        .prop_map(|(len, sig, seed, mix, flip_offline)| Op::Block {
            len,
            sig,
            seed,
            mix,
            flip_offline,
        });
    prop_oneof![
        12 => block,
        1 => Just(Op::Reset),
        1 => shaping_strategy(hostile).prop_map(Op::Shaping),
        1 => prop::sample::select(vec![EngineKind::Neural, EngineKind::Classic, EngineKind::Dry]).prop_map(Op::Engine),
    ]
}

fn scenario_strategy(hostile: bool, max_ops: usize) -> impl Strategy<Value = Scenario> {
    (0usize..RATES.len(), 1usize..=2, prop::sample::select(MAX_BLOCKS.to_vec()))
        .prop_flat_map(move |(rate, channels, max_block)| {
            (
                Just(rate),
                Just(channels),
                prop_oneof![6 => Just(channels), 1 => Just(1usize), 1 => Just(3usize)],
                Just(max_block),
                0u8..3,
                mix_strategy(hostile),
                prop::collection::vec(op_strategy(max_block, hostile), 1..max_ops),
                any::<bool>(),
                prop_oneof![2 => Just(max_block), 1 => 1usize..=max_block],
            )
        })
        .prop_map(
            |(
                rate,
                channels,
                buffers,
                max_block,
                offline_mode,
                initial,
                ops,
                null_after_reset,
                null_block,
            )| Scenario {
                rate,
                channels,
                buffers,
                max_block,
                offline_mode,
                initial,
                ops,
                null_after_reset,
                null_block,
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Signals

struct Rng(u32);

impl Rng {
    fn next(&mut self) -> f32 {
        // xorshift32 → [-1, 1)
        let mut x = self.0.max(1);
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
}

/// Fills `buf[c][..len]` with `sig`; `t0` is the running sample index (phase continuity).
fn fill(buf: &mut [Vec<f32>], len: usize, sig: Sig, seed: u32, t0: u64, sr: f32) {
    let mut rng = Rng(seed ^ 0x9E37_79B9);
    for (c, ch) in buf.iter_mut().enumerate() {
        for (i, v) in ch[..len].iter_mut().enumerate() {
            let t = (t0 + i as u64) as f32 / sr;
            let n = rng.next();
            *v = match sig {
                Sig::Silence => 0.0,
                Sig::Noise(a) => a * n,
                Sig::FullScale => n.signum(),
                Sig::Hot(a) => a * n,
                Sig::Tone(f, a) => a * (std::f32::consts::TAU * f * t + c as f32).sin(),
                Sig::Music => music(t0 + i as u64, c, sr, n),
                Sig::Denormal => n * 1e-39,
                Sig::NanEvery(k) => {
                    if (i as u32 + c as u32).is_multiple_of(k) {
                        f32::NAN
                    } else {
                        0.5 * n
                    }
                }
                Sig::Inf => match (i + c) % 5 {
                    0 => f32::INFINITY,
                    1 => f32::NEG_INFINITY,
                    2 => f32::NAN,
                    _ => n,
                },
                Sig::Dc(d) => d,
            };
        }
    }
}

/// Music-like material: a bass line, a chord, a kick-like thump, noise hats.
fn music(idx: u64, c: usize, sr: f32, noise: f32) -> f32 {
    use std::f32::consts::TAU;
    let t = idx as f64 / sr as f64;
    let beat = (t * 2.0).fract() as f32; // 120 bpm
    let bar = (t / 2.0) as u32 % 4;
    let root = [55.0f32, 65.4, 49.0, 73.4][bar as usize];
    let tt = t as f32;
    let bass = 0.25 * (TAU * root * tt).sin();
    let chord: f32 = [2.0f32, 2.52, 3.0]
        .iter()
        .map(|m| 0.08 * (TAU * root * 4.0 * m * tt + c as f32).sin())
        .sum();
    let kick = 0.5 * (-beat * 30.0).exp() * (TAU * 50.0 * beat * (1.0 - beat)).sin();
    let hat = if (t * 8.0).fract() < 0.02 { 0.2 * noise } else { 0.01 * noise };
    bass + chord + kick + hat
}

// ---------------------------------------------------------------------------------------------
// Running a script

#[derive(Default)]
struct Totals {
    cases: AtomicU64,
    calls: AtomicU64,
    samples: AtomicU64,
    resets: AtomicU64,
    nonfinite_blocks: AtomicU64,
    underrun_samples: AtomicU64,
    separator_faults: AtomicU64,
    hops: AtomicU64,
}

impl Totals {
    fn report(&self, name: &str, t: Instant) {
        eprintln!(
            "{name}: {} cases, {} engine calls, {} samples ({:.1} s of audio at the cases' rates), {} resets, \
             {} blocks with NaN/Inf input, {} underrun samples, {} separator faults, {} hops; {:.1} s",
            self.cases.load(Ordering::Relaxed),
            self.calls.load(Ordering::Relaxed),
            self.samples.load(Ordering::Relaxed),
            self.samples.load(Ordering::Relaxed) as f64 / 48000.0,
            self.resets.load(Ordering::Relaxed),
            self.nonfinite_blocks.load(Ordering::Relaxed),
            self.underrun_samples.load(Ordering::Relaxed),
            self.separator_faults.load(Ordering::Relaxed),
            self.hops.load(Ordering::Relaxed),
            t.elapsed().as_secs_f64()
        );
    }
}

struct Neural {
    model: PathBuf,
    lib: PathBuf,
    base: StftConfig,
    base_rate: f64,
}

/// Up to three channel buffers as the `&mut [&mut [f32]]` a host passes, without allocating.
fn process_block(
    eng: &mut RealtimeEngine,
    buf: &mut [Vec<f32>],
    buffers: usize,
    len: usize,
    mix: &MixSettings,
    offline: bool,
) {
    let (a, rest) = buf.split_at_mut(1);
    let (b, c) = rest.split_at_mut(1);
    let mut chans: [&mut [f32]; 3] = [&mut a[0][..len], &mut b[0][..len], &mut c[0][..len]];
    assert_no_alloc(|| eng.process(&mut chans[..buffers], mix, offline));
}

fn check_finite(
    buf: &[Vec<f32>],
    n_ch: usize,
    len: usize,
    what: &str,
) -> Result<(), TestCaseError> {
    for (c, ch) in buf.iter().take(n_ch).enumerate() {
        if let Some(i) = ch[..len].iter().position(|v| !v.is_finite()) {
            return Err(TestCaseError::fail(format!(
                "{what}: output channel {c} sample {i} is {}",
                ch[i]
            )));
        }
    }
    Ok(())
}

fn run_scenario(
    sc: &Scenario,
    neural: Option<&Neural>,
    totals: &Totals,
    check_null: bool,
) -> Result<(), TestCaseError> {
    let sr = RATES[sc.rate];
    let stft = match neural {
        Some(n) => StftConfig::scaled(n.base, n.base_rate, sr as f64),
        None => StftConfig::default_for_rate(sr as f64),
    };
    let cfg =
        EngineConfig { sample_rate_hz: sr, channels: sc.channels, max_block: sc.max_block, stft };
    let status = Arc::new(EngineStatus::default());
    let (requested, factory) = match neural {
        Some(n) => (EngineKind::Neural, Some(neural_factory(n.model.clone(), n.lib.clone()))),
        None => (EngineKind::Classic, None),
    };
    let mut eng = RealtimeEngine::new(cfg, &sc.initial, requested, factory, status.clone());
    let lat = eng.latency_samples();
    let out_ch = sc.channels.min(sc.buffers);
    let mut buf: Vec<Vec<f32>> = vec![vec![0.0; MAX_LEN.max(sc.null_block)]; 3];
    let mut mix = sc.initial;
    let mut max_transition = sc.initial.transition_ms;
    let mut t0 = 0u64;
    let mut calls = 0u64;
    let mut resets = 0u64;
    reset_violation_count();

    for (k, op) in sc.ops.iter().enumerate() {
        match *op {
            Op::Block { len, sig, seed, mix: m, flip_offline } => {
                if let Some(m) = m {
                    mix = m;
                    max_transition = max_transition.max(m.transition_ms);
                }
                let offline = match sc.offline_mode {
                    0 => false,
                    1 => true,
                    _ => flip_offline,
                };
                fill(&mut buf, len, sig, seed, t0, sr);
                process_block(&mut eng, &mut buf, sc.buffers, len, &mix, offline);
                check_finite(&buf, out_ch, len, &format!("op {k} ({sig:?}, {len} samples)"))?;
                t0 += len as u64;
            }
            Op::Reset => {
                assert_no_alloc(|| eng.reset());
                resets += 1;
            }
            Op::Shaping(s) => assert_no_alloc(|| eng.set_shaping(&s)),
            Op::Engine(kind) => assert_no_alloc(|| eng.request_engine(kind)),
        }
        calls += 1;
    }

    // Back to unity: default mix and shaping. Optionally a reset right after the host has
    // passed the new settings (a 0-length block), which snaps the gain ramps.
    let unity = MixSettings::default();
    assert_no_alloc(|| eng.set_shaping(&ShapingSettings::default()));
    if neural.is_some() {
        assert_no_alloc(|| eng.request_engine(EngineKind::Neural));
    }
    let offline = sc.offline_mode != 0;
    if sc.null_after_reset {
        process_block(&mut eng, &mut buf, sc.buffers, 0, &unity, offline);
        assert_no_alloc(|| eng.reset());
        resets += 1;
    }
    // Samples before the output can null: the chaos input still in the delay line (latency),
    // the gain/transition ramps, the STFT window and overlap-add tail of frames shaped before,
    // and a few hops of margin for a worker that picks up the new shaping late.
    let ramp_ms = if sc.null_after_reset {
        0.0
    } else {
        let t = if max_transition.is_finite() {
            max_transition.clamp(TRANSITION_MS_RANGE.0, TRANSITION_MS_RANGE.1)
        } else {
            50.0
        };
        t.max(SMOOTHING_MS) + 1.0
    };
    let settle =
        lat + (ramp_ms * 0.001 * sr).ceil() as usize + 2 * cfg.stft.n_fft + 4 * cfg.stft.hop;
    let measure = 8192.max(4 * cfg.stft.n_fft);
    let total = settle + measure;
    let mut x: Vec<Vec<f32>> = vec![Vec::with_capacity(total); out_ch];
    let mut y: Vec<Vec<f32>> = vec![Vec::with_capacity(total); out_ch];
    let mut done = 0usize;
    let null_block = sc.null_block.clamp(1, MAX_LEN);
    while done < total {
        let n = null_block.min(total - done);
        fill(&mut buf, n, Sig::Music, 7, t0, sr);
        for c in 0..out_ch {
            x[c].extend_from_slice(&buf[c][..n]);
        }
        process_block(&mut eng, &mut buf, sc.buffers, n, &unity, offline);
        check_finite(&buf, out_ch, n, "null phase")?;
        for c in 0..out_ch {
            y[c].extend_from_slice(&buf[c][..n]);
        }
        t0 += n as u64;
        done += n;
        calls += 1;
    }

    let violations = violation_count();
    // The worker applies an engine request at its next hop or idle wake-up (≤ 5 ms); a real-time
    // run may finish before the worker was even scheduled on a loaded machine, so give it time.
    let want = if neural.is_some() { EngineKind::Neural } else { EngineKind::Classic };
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while status.active_engine() != want
        && status.worker_running.load(Ordering::Relaxed)
        && Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let running = status.worker_running.load(Ordering::Relaxed);
    let active = status.active_engine();
    totals.cases.fetch_add(1, Ordering::Relaxed);
    totals.calls.fetch_add(calls, Ordering::Relaxed);
    totals.samples.fetch_add(t0, Ordering::Relaxed);
    totals.resets.fetch_add(resets, Ordering::Relaxed);
    totals
        .nonfinite_blocks
        .fetch_add(status.nonfinite_blocks.load(Ordering::Relaxed), Ordering::Relaxed);
    totals
        .underrun_samples
        .fetch_add(status.underrun_samples.load(Ordering::Relaxed), Ordering::Relaxed);
    totals
        .separator_faults
        .fetch_add(status.separator_faults.load(Ordering::Relaxed), Ordering::Relaxed);
    totals.hops.fetch_add(status.hops_processed.load(Ordering::Relaxed), Ordering::Relaxed);
    if violations != 0 {
        return Err(TestCaseError::fail(format!("{violations} allocation(s) on the audio thread")));
    }
    if !running || active == EngineKind::Dry {
        return Err(TestCaseError::fail(format!(
            "the worker stopped (running {running}, active {active:?}): {}",
            status.notice()
        )));
    }
    if neural.is_some() && active != EngineKind::Neural {
        return Err(TestCaseError::fail(format!(
            "neural engine not active at the end ({active:?}): {}",
            status.notice()
        )));
    }
    if check_null {
        let (mut sig, mut err, mut worst) = (0.0f64, 0.0f64, (0usize, 0.0f64));
        for c in 0..out_ch {
            for t in settle..total {
                let r = x[c][t - lat] as f64;
                let e = y[c][t] as f64 - r;
                sig += r * r;
                err += e * e;
                if e.abs() > worst.1 {
                    worst = (t, e.abs());
                }
            }
        }
        let db = 10.0 * (err.max(1e-300) / sig).log10();
        if db > -100.0 {
            return Err(TestCaseError::fail(format!(
                "null {db:.1} dB after the chaos (latency {lat}, settle {settle}, worst error {:.3e} at null-phase sample {}, {} separator faults)",
                worst.1,
                worst.0,
                status.separator_faults.load(Ordering::Relaxed)
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Runners

/// `default` cases times `DEMIX_FUZZ_ITERS` (a multiplier, 1 when unset).
fn iters(default: u32) -> u32 {
    default
        * std::env::var("DEMIX_FUZZ_ITERS")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(1)
            .max(1)
}

fn runner(default_cases: u32, salt: u64) -> TestRunner {
    let seed = std::env::var("DEMIX_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0xDE41_F022u64);
    let cases = iters(default_cases);
    eprintln!("seed {seed} (DEMIX_FUZZ_SEED), {cases} cases ({default_cases} x DEMIX_FUZZ_ITERS)");
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        max_shrink_time: 120_000,
        rng_seed: RngSeed::Fixed(seed ^ salt),
        ..Config::default()
    })
}

fn run_all(
    name: &str,
    default_cases: u32,
    salt: u64,
    hostile: bool,
    max_ops: usize,
    neural: Option<Neural>,
) {
    let t = Instant::now();
    let totals = Totals::default();
    let mut r = runner(default_cases, salt);
    // Hostile parameter values (NaN gains, wet 7, ...) only need to stay finite, not to null.
    let result = r.run(&scenario_strategy(hostile, max_ops), |sc| {
        run_scenario(&sc, neural.as_ref(), &totals, !hostile)
    });
    totals.report(name, t);
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

#[test]
fn classic_engine_survives_random_audio_automation_and_resets() {
    run_all("classic", 24, 1, false, 24, None);
}

#[test]
fn hostile_parameter_values_keep_the_output_finite() {
    run_all("hostile params", 12, 2, true, 16, None);
}

#[test]
fn neural_engine_survives_random_audio_automation_and_resets() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = manifest.join("tests/data/tiny.onnx");
    let lib = match locate_ort_library(&[repo_cache_dir()
        .canonicalize()
        .unwrap_or_else(|_| repo_cache_dir())])
    {
        Ok(l) => l,
        Err(e) => {
            // `cargo xtask test` fetched the runtime: there a missing one is a failure
            assert!(
                std::env::var("DEMIX_STRICT_TESTS").as_deref() != Ok("1"),
                "ONNX Runtime not found: {e}"
            );
            eprintln!("SKIPPED: {e}");
            return;
        }
    };
    let info = load_model_info(&model).expect("tiny model info");
    let neural = Neural { model, lib, base: info.stft(), base_rate: info.sample_rate as f64 };
    run_all("neural (tiny model)", 6, 3, false, 16, Some(neural));
}

/// Regression (found by this fuzzer): the worker read the shaping options only when it ran out
/// of input, so during an offline render with large blocks a de-esser switched off mid-render
/// stayed on (the output never nulled again at unity settings).
#[test]
fn shaping_change_applies_during_a_long_offline_render() {
    let shaping = ShapingSettings {
        deesser: DeEsserSettings {
            enabled: true,
            frequency_hz: 2000.0,
            threshold_db: 0.0,
            ratio: 5.0,
        },
        ..ShapingSettings::default()
    };
    let unity_full =
        MixSettings { wet: 0.0, mode: Mode::FullMix, transition_ms: 0.0, ..MixSettings::default() };
    let sc = Scenario {
        rate: 3,
        channels: 1,
        buffers: 1,
        max_block: 8192,
        offline_mode: 1,
        initial: unity_full,
        ops: vec![
            Op::Shaping(shaping),
            Op::Block { len: 8192, sig: Sig::Music, seed: 1, mix: None, flip_offline: false },
        ],
        null_after_reset: false,
        null_block: 8192,
    };
    run_scenario(&sc, None, &Totals::default(), true).unwrap_or_else(|e| panic!("{e}"));
}
