//! Soak test: runs the real-time engine for a long stretch of synthetic music-like audio and
//! reports underruns, worker time per hop, audio-thread `process()` time and memory growth.
//!
//! ```text
//! cargo run --release -p demix-engine --example soak -- --minutes 60 [--paced] \
//!     [--engine classic|neural] [--latency standard|low] [--block 128] [--rate 44100] [--channels 2] \
//!     [--model models/demix.onnx] [--json FILE] [--no-automation] [--progress-minutes 5]
//! ```
//! - offline (default): the host's offline render, `process(.., offline = true)` as fast as
//!   possible (the audio thread waits for the worker, so underruns must stay at zero);
//! - `--paced`: a simulated real-time audio callback every `block` samples (128 by default)
//!   that sleeps until each block's deadline; `process(.., offline = false)`. Engine underruns
//!   (frames the worker did not deliver in time, replaced by the engine's fallback) and
//!   callback deadline misses (a `process()` call that ended after its block's deadline) are
//!   counted separately.
//!
//! The separator runs in the worker behind a thin timing wrapper (given to the engine as its
//! separator factory), which records every hop's separator time in a histogram; the engine's
//! own `worker_max_hop_us` gives the longest full hop (STFT + separator + shaping + inverse
//! STFT). The separator's CPU time per call after warm-up is recorded too
//! (`CLOCK_THREAD_CPUTIME_ID`), and the audio thread's per `process()` call: wall time far
//! above CPU time means the thread was preempted, not that the engine worked that long.
//! Memory is the resident set from `/proc/self/statm`, sampled after a warm-up (the
//! first minute of audio, or 10 % of a shorter run) and at the end.
//!
//! `--canary` (paced runs) adds a thread that does no audio work: it asks for a real-time
//! priority above the worker's and wakes every millisecond. When it wakes late by more than
//! [`CANARY_STALL_MS`], the CPU it was on did not run it at that moment (taken by the machine:
//! the engine's threads rank below it). The summary then says how many late-frame episodes (engine
//! underruns within 50 ms of each other) overlap such a stall, and lists the slow separator
//! calls with their CPU time, page faults and context switches. `--pin-cpu N` keeps every thread
//! on CPU N, so that the canary shares the worker's CPU (a stall of one virtual CPU of two would
//! otherwise go unseen by a canary running on the other).
//!
//! The last line on stdout is a one-line summary starting with `SOAK`; `--json FILE` also
//! writes the numbers as JSON.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use demix_engine::audio_thread::mixer::{MixSettings, Mode};
use demix_engine::audio_thread::realtime::{EngineConfig, RealtimeEngine};
use demix_engine::dsp::classic::ClassicSeparator;
use demix_engine::dsp::separator::{Frame, Masks, Separator, SeparatorError};
use demix_engine::dsp::stft::{Latency, StftConfig};
use demix_engine::model::bundle::{locate_ort_library, repo_cache_dir};
use demix_engine::model::contract::load_model_info;
use demix_engine::model::neural::NeuralSeparator;
use demix_engine::sync::status::{EngineKind, EngineStatus};
use demix_engine::worker::SeparatorFactory;

// ---------------------------------------------------------------------------------------------
// Options

struct Opts {
    minutes: f64,
    paced: bool,
    neural: bool,
    block: usize,
    rate: f32,
    channels: usize,
    model: PathBuf,
    json: Option<PathBuf>,
    automation: bool,
    progress_minutes: f64,
    latency: Latency,
    canary: bool,
    pin_cpu: Option<usize>,
}

fn usage() -> ! {
    eprintln!(
        "usage: soak --minutes N [--paced] [--engine classic|neural] [--latency standard|low] \
         [--block 128] [--rate 44100] \
         [--channels 2] [--model PATH] [--json FILE] [--no-automation] [--progress-minutes M] \
         [--canary] [--pin-cpu N]"
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut o = Opts {
        minutes: 60.0,
        paced: false,
        neural: false,
        block: 128,
        rate: 44100.0,
        channels: 2,
        model: repo.join("models/demix.onnx"),
        json: None,
        automation: true,
        progress_minutes: 5.0,
        latency: Latency::Standard,
        canary: false,
        pin_cpu: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--minutes" => o.minutes = val().parse().unwrap_or_else(|_| usage()),
            "--paced" => o.paced = true,
            "--engine" => {
                o.neural = match val().as_str() {
                    "neural" => true,
                    "classic" => false,
                    _ => usage(),
                }
            }
            "--latency" => {
                o.latency = match val().as_str() {
                    "standard" => Latency::Standard,
                    "low" => Latency::Low,
                    _ => usage(),
                }
            }
            "--block" => o.block = val().parse().unwrap_or_else(|_| usage()),
            "--rate" => o.rate = val().parse().unwrap_or_else(|_| usage()),
            "--channels" => o.channels = val().parse().unwrap_or_else(|_| usage()),
            "--model" => o.model = PathBuf::from(val()),
            "--json" => o.json = Some(PathBuf::from(val())),
            "--no-automation" => o.automation = false,
            "--progress-minutes" => o.progress_minutes = val().parse().unwrap_or_else(|_| usage()),
            "--canary" => o.canary = true,
            "--pin-cpu" => o.pin_cpu = Some(val().parse().unwrap_or_else(|_| usage())),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    if o.block == 0
        || !(1..=2).contains(&o.channels)
        || o.minutes <= 0.0
        || o.rate < 8000.0
        || (o.canary && !o.paced)
    {
        usage();
    }
    o
}

// ---------------------------------------------------------------------------------------------
// Histograms (log scale, 16 buckets per octave: ~4 % resolution)

const BUCKETS: usize = 64 * 16;

fn bucket(ns: u64) -> usize {
    (((ns.max(1) as f64).log2() * 16.0) as usize).min(BUCKETS - 1)
}

fn bucket_upper_ns(i: usize) -> f64 {
    2f64.powf((i + 1) as f64 / 16.0)
}

/// Lock-free histogram written by the worker (separator times).
struct AtomicHist {
    counts: Vec<AtomicU64>,
    max_ns: AtomicU64,
}

impl AtomicHist {
    fn new() -> Self {
        AtomicHist {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_ns: AtomicU64::new(0),
        }
    }
    fn record(&self, ns: u64) {
        self.counts[bucket(ns)].fetch_add(1, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }
    fn snapshot(&self) -> Hist {
        Hist {
            counts: self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
            max_ns: self.max_ns.load(Ordering::Relaxed),
        }
    }
}

/// Plain histogram (audio thread; allocated before the run).
struct Hist {
    counts: Vec<u64>,
    max_ns: u64,
}

impl Hist {
    fn new() -> Self {
        Hist { counts: vec![0; BUCKETS], max_ns: 0 }
    }
    fn record(&mut self, ns: u64) {
        self.counts[bucket(ns)] += 1;
        self.max_ns = self.max_ns.max(ns);
    }
    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
    /// Upper edge of the bucket holding quantile `q`, in µs (capped at the max seen).
    fn quantile_us(&self, q: f64) -> f64 {
        let n = self.total();
        if n == 0 {
            return 0.0;
        }
        let want = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut acc = 0;
        for (i, c) in self.counts.iter().enumerate() {
            acc += c;
            if acc >= want {
                return bucket_upper_ns(i).min(self.max_ns as f64) / 1000.0;
            }
        }
        self.max_ns as f64 / 1000.0
    }
    fn max_us(&self) -> f64 {
        self.max_ns as f64 / 1000.0
    }
}

// ---------------------------------------------------------------------------------------------
// Timing wrapper around the real separator (runs on the worker)

/// Where the timing wrapper records, shared with the main thread.
#[derive(Clone)]
struct Probes {
    cpu: Arc<AtomicHist>,
    all: Arc<AtomicHist>,
    steady: Arc<AtomicHist>,
    warm: Arc<AtomicBool>,
    slow: Arc<SlowCalls>,
}

struct Timed {
    inner: Box<dyn Separator>,
    probes: Probes,
}

impl Separator for Timed {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn process(&mut self, frame: &Frame<'_>, masks: &mut Masks<'_>) -> Result<(), SeparatorError> {
        let (t, c, u) = (Instant::now(), thread_cpu_ns(), thread_usage());
        let r = self.inner.process(frame, masks);
        let ns = t.elapsed().as_nanos() as u64;
        let p = &self.probes;
        p.all.record(ns);
        if p.warm.load(Ordering::Relaxed) {
            // CPU time after warm-up only, like the steady wall time: ONNX Runtime's first
            // calls include its own set-up.
            let cpu_ns = thread_cpu_ns().saturating_sub(c);
            p.cpu.record(cpu_ns);
            p.steady.record(ns);
            p.slow.note(t, ns, cpu_ns, thread_usage().since(&u));
        }
        r
    }
    fn reset(&mut self) {
        self.inner.reset();
    }
}

// ---------------------------------------------------------------------------------------------
// Stalls: slow separator calls and the canary thread

/// A separator call slower than this (wall time) is listed with its CPU time.
const SLOW_CALL_MS: f64 = 3.0;
/// A canary wake-up later than this counts as a stall of the whole process.
const CANARY_STALL_MS: f64 = 2.0;
/// Engine underruns closer together than this form one episode.
const EPISODE_GAP_MS: f64 = 50.0;
/// A stall that ended this long before an episode began can still have caused it (the worker's
/// slack is about one hop plus one block).
const EPISODE_LOOKBACK_MS: f64 = 20.0;

/// Slow separator calls after warm-up: start (ms from the run's origin), wall and CPU time (ms),
/// then the thread's minor and major page faults and voluntary and involuntary context switches
/// during the call.
struct SlowCalls {
    origin: Instant,
    calls: Mutex<Vec<[f64; 7]>>,
}

impl SlowCalls {
    fn note(&self, start: Instant, wall_ns: u64, cpu_ns: u64, usage: [u64; 4]) {
        let wall_ms = wall_ns as f64 * 1e-6;
        if wall_ms > SLOW_CALL_MS {
            let at_ms = start.duration_since(self.origin).as_secs_f64() * 1e3;
            if let Ok(mut v) = self.calls.lock() {
                let u = usage.map(|x| x as f64);
                v.push([at_ms, wall_ms, cpu_ns as f64 * 1e-6, u[0], u[1], u[2], u[3]]);
            }
        }
    }
}

/// A thread that only wakes every millisecond at a real-time priority above the worker's.
struct Canary {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<CanaryReport>,
}

struct CanaryReport {
    realtime: bool,
    wakeups: u64,
    /// (start, length) of each stall, in ms from the run's origin.
    stalls: Vec<[f64; 2]>,
}

impl Canary {
    fn spawn(origin: Instant) -> Canary {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let realtime = raise_to_fifo(2);
            let period = Duration::from_millis(1);
            let (mut wakeups, mut stalls) = (0u64, Vec::new());
            let mut target = Instant::now() + period;
            while !flag.load(Ordering::Relaxed) {
                let now = Instant::now();
                if target > now {
                    std::thread::sleep(target - now);
                }
                let woke = Instant::now();
                let late_ms = woke.saturating_duration_since(target).as_secs_f64() * 1e3;
                if late_ms > CANARY_STALL_MS {
                    stalls.push([target.duration_since(origin).as_secs_f64() * 1e3, late_ms]);
                }
                wakeups += 1;
                target = woke + period;
            }
            CanaryReport { realtime, wakeups, stalls }
        });
        Canary { stop, handle }
    }

    fn finish(self) -> CanaryReport {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(CanaryReport { realtime: false, wakeups: 0, stalls: vec![] })
    }
}

#[cfg(target_os = "linux")]
fn raise_to_fifo(priority: i32) -> bool {
    let param = libc::sched_param { sched_priority: priority };
    // SAFETY: pthread_self() is the calling thread and `param` outlives the call.
    unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn raise_to_fifo(_priority: i32) -> bool {
    false
}

/// Groups underrun times (ms) into episodes `[first, last]`.
fn episodes(underruns_ms: &[f64]) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = Vec::new();
    for &t in underruns_ms {
        match out.last_mut() {
            Some(e) if t - e[1] <= EPISODE_GAP_MS => e[1] = t,
            _ => out.push([t, t]),
        }
    }
    out
}

/// Whether an interval `[start, start + len]` (a stall or a slow call) overlaps the episode's
/// window, which begins [`EPISODE_LOOKBACK_MS`] before its first late frame.
fn overlaps_episode(episode: [f64; 2], start_ms: f64, len_ms: f64) -> bool {
    start_ms <= episode[1] && start_ms + len_ms >= episode[0] - EPISODE_LOOKBACK_MS
}

// ---------------------------------------------------------------------------------------------
// Synthetic music

struct Rng(u64);

impl Rng {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        self.next_u32() as f32 / (1u64 << 32) as f32
    }
    fn noise(&mut self) -> f32 {
        2.0 * self.unit() - 1.0
    }
}

/// A song section: tempo, key, which parts play and how loud.
#[derive(Clone, Copy)]
struct Section {
    bpm: f32,
    root_hz: f32,
    vocal: f32,
    drums: f32,
    bass: f32,
    pad: f32,
    master: f32,
}

/// Music-like test material that changes every 8-30 s: kick/snare/hat patterns, a bass line,
/// a vocal-like harmonic tone with vibrato and syllables, pads; now and then a silent or a very
/// quiet section.
struct Music {
    sr: f32,
    rng: Rng,
    section: Section,
    left_in_section: u64,
    t: u64,
    phases: [f64; 8],
    snare_env: f32,
}

impl Music {
    fn new(sr: f32, seed: u64) -> Self {
        let mut m = Music {
            sr,
            rng: Rng(seed),
            section: Section {
                bpm: 120.0,
                root_hz: 55.0,
                vocal: 0.2,
                drums: 0.5,
                bass: 0.3,
                pad: 0.1,
                master: 0.8,
            },
            left_in_section: 0,
            t: 0,
            phases: [0.0; 8],
            snare_env: 0.0,
        };
        m.new_section();
        m
    }

    fn new_section(&mut self) {
        let r = &mut self.rng;
        let kind = r.unit();
        let on = |r: &mut Rng, p: f32, lvl: f32| {
            if r.unit() < p {
                lvl * (0.3 + 0.7 * r.unit())
            } else {
                0.0
            }
        };
        self.section = Section {
            bpm: 70.0 + 110.0 * r.unit(),
            root_hz: 41.2 * 2f32.powf((r.next_u32() % 12) as f32 / 12.0),
            vocal: on(r, 0.7, 0.35),
            drums: on(r, 0.8, 0.6),
            bass: on(r, 0.8, 0.4),
            pad: on(r, 0.6, 0.15),
            master: if kind < 0.06 {
                0.0 // silence
            } else if kind < 0.12 {
                0.003 // very quiet
            } else {
                0.4 + 0.6 * r.unit()
            },
        };
        self.left_in_section = ((8.0 + 22.0 * r.unit()) * self.sr) as u64;
    }

    fn osc(&mut self, i: usize, hz: f32) -> f32 {
        self.phases[i] = (self.phases[i] + hz as f64 / self.sr as f64).fract();
        (std::f64::consts::TAU * self.phases[i]).sin() as f32
    }

    /// Next stereo sample.
    fn next(&mut self) -> [f32; 2] {
        if self.left_in_section == 0 {
            self.new_section();
        }
        self.left_in_section -= 1;
        let s = self.section;
        let t = self.t as f32 / self.sr;
        self.t += 1;
        let beat_len = 60.0 / s.bpm;
        let beat_pos = (t / beat_len).fract();
        let beat = (t / beat_len) as u32;
        let bar_beat = beat % 4;
        // drums
        let kick = if bar_beat.is_multiple_of(2) {
            (-beat_pos * 25.0).exp() * self.osc(0, 45.0 + 80.0 * (-beat_pos * 40.0).exp())
        } else {
            0.0
        };
        if bar_beat % 2 == 1 && beat_pos * beat_len < 1.0 / self.sr {
            self.snare_env = 1.0;
        }
        self.snare_env *= 1.0 - 30.0 / self.sr;
        let n = self.rng.noise();
        let snare = self.snare_env * (0.7 * n + 0.3 * self.osc(1, 190.0));
        let hat_pos = (t / (beat_len / 4.0)).fract();
        let hat = (-hat_pos * 60.0).exp() * n * 0.3;
        let drums = s.drums * (0.9 * kick + 0.5 * snare + hat);
        // bass: root / fifth per beat
        let bass_hz = s.root_hz * if bar_beat == 3 { 1.5 } else { 1.0 };
        let b = self.osc(2, bass_hz);
        let bass = s.bass * (0.8 * b + 0.2 * b * b * b.signum()) * (1.0 - 0.5 * beat_pos);
        // vocal: harmonic tone with vibrato, formant-ish weighting, syllables
        let syll = ((t * s.bpm / 60.0 * 2.0).fract() * std::f32::consts::PI).sin().max(0.0);
        let note = s.root_hz * 8.0 * [1.0, 1.25, 1.5, 1.335][(beat / 2 % 4) as usize];
        let vib = 1.0 + 0.01 * (std::f32::consts::TAU * 5.5 * t).sin();
        let mut v = 0.0;
        for h in 1..=4 {
            let w = [0.0, 1.0, 0.6, 0.5, 0.25][h];
            v += w * self.osc(2 + h, note * vib * h as f32);
        }
        let vocal = s.vocal * syll * 0.4 * v;
        // pad: two detuned tones
        let pad = s.pad
            * (self.osc(7, s.root_hz * 6.0)
                + 0.5 * (std::f32::consts::TAU * s.root_hz * 6.01 * t).sin());
        let mono = bass + vocal;
        let l = s.master * (mono + 0.9 * drums + 0.7 * pad);
        let r = s.master * (mono + 0.8 * drums + 0.5 * pad + 0.05 * n * s.drums);
        [l, r]
    }
}

// ---------------------------------------------------------------------------------------------
// Thread CPU time (to tell work from preemption: on a loaded machine a call's wall time can be
// long while the thread was simply not scheduled)

#[cfg(target_os = "linux")]
fn thread_cpu_ns() -> u64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the struct we pass (64-bit Linux layout).
    if unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    } else {
        0
    }
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_ns() -> u64 {
    0
}

/// The calling thread's page faults and context switches so far (`RUSAGE_THREAD`).
#[derive(Clone, Copy)]
struct Usage([u64; 4]);

impl Usage {
    fn since(&self, before: &Usage) -> [u64; 4] {
        std::array::from_fn(|i| self.0[i].saturating_sub(before.0[i]))
    }
}

#[cfg(target_os = "linux")]
fn thread_usage() -> Usage {
    // SAFETY: an all-zero rusage is valid, and getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } != 0 {
        return Usage([0; 4]);
    }
    let f = |v: libc::c_long| v.max(0) as u64;
    Usage([f(ru.ru_minflt), f(ru.ru_majflt), f(ru.ru_nvcsw), f(ru.ru_nivcsw)])
}

#[cfg(not(target_os = "linux"))]
fn thread_usage() -> Usage {
    Usage([0; 4])
}

/// Keeps the whole process (every thread started later) on one CPU: with `--canary`, a stall of
/// that CPU then shows in the canary too.
#[cfg(target_os = "linux")]
fn pin_process_to(cpu: usize) -> bool {
    // SAFETY: the set is zeroed before use and lives across the call.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_process_to(_cpu: usize) -> bool {
    false
}

// ---------------------------------------------------------------------------------------------
// Memory

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4 // 4 KiB pages (x86-64 / AArch64 Linux default)
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let o = parse_opts();
    if let Some(cpu) = o.pin_cpu {
        if !pin_process_to(cpu) {
            eprintln!("soak: cannot pin the process to CPU {cpu}");
            std::process::exit(1);
        }
    }
    let sr = o.rate;
    let ch = o.channels;
    let origin = Instant::now();
    let probes = Probes {
        cpu: Arc::new(AtomicHist::new()),
        all: Arc::new(AtomicHist::new()),
        steady: Arc::new(AtomicHist::new()),
        warm: Arc::new(AtomicBool::new(false)),
        slow: Arc::new(SlowCalls { origin, calls: Mutex::new(Vec::new()) }),
    };

    // The separator, behind the timing wrapper, as the engine's separator factory.
    let (stft, engine_label, factory): (StftConfig, String, SeparatorFactory) = if o.neural {
        let info = load_model_info(&o.model).unwrap_or_else(|e| {
            eprintln!("soak: {e}");
            std::process::exit(1)
        });
        let lib = locate_ort_library(&[repo_cache_dir()
            .canonicalize()
            .unwrap_or_else(|_| repo_cache_dir())])
        .unwrap_or_else(|e| {
            eprintln!("soak: {e}");
            std::process::exit(1)
        });
        let model = o.model.clone();
        let probes = probes.clone();
        let f: SeparatorFactory = Box::new(move |_cfg, channels| {
            let sep = NeuralSeparator::load(&model, &lib, channels)?;
            Ok(Box::new(Timed { inner: Box::new(sep), probes }) as Box<dyn Separator>)
        });
        (info.stft_for_rate(sr as f64), format!("neural ({})", info.describe()), f)
    } else {
        let probes = probes.clone();
        let f: SeparatorFactory = Box::new(move |cfg: StftConfig, _channels| {
            let inner = Box::new(ClassicSeparator::new(cfg.bins()));
            Ok(Box::new(Timed { inner, probes }) as Box<dyn Separator>)
        });
        (StftConfig::default_for_rate(sr as f64), "classic".to_string(), f)
    };

    let stft = stft.with_latency(o.latency);
    let cfg = EngineConfig { sample_rate_hz: sr, channels: ch, max_block: o.block, stft };
    let status = Arc::new(EngineStatus::default());
    let mut mix = MixSettings::default();
    // The wrapped separator sits in the engine's "neural" slot; request it.
    let mut eng = RealtimeEngine::new(cfg, &mix, EngineKind::Neural, Some(factory), status.clone());

    let total_samples = (o.minutes * 60.0 * sr as f64).round() as u64;
    let warmup_samples = ((60.0 * sr as f64) as u64).min(total_samples / 10);
    let progress_every = ((o.progress_minutes * 60.0 * sr as f64) as u64).max(o.block as u64);
    let mode_name = if o.paced { "paced" } else { "offline" };
    eprintln!(
        "soak: {engine_label}, {mode_name}, {:.1} min of audio at {sr} Hz, {ch} ch, block {}, latency {} samples, STFT {}/{}",
        o.minutes,
        o.block,
        eng.latency_samples(),
        stft.n_fft,
        stft.hop
    );

    let mut music = Music::new(sr, 0x5EED);
    let mut auto_rng = Rng(42);
    let mut bufs = vec![vec![0.0f32; o.block]; ch];
    let mut proc_all = Hist::new();
    let mut proc_steady = Hist::new();
    let mut proc_cpu = Hist::new();
    let block_time = |k: u64| Duration::from_secs_f64(k as f64 * o.block as f64 / sr as f64);
    let automation_every = (10.0 * sr) as u64;
    let reset_every = (300.0 * sr) as u64;

    let canary = o.canary.then(|| Canary::spawn(origin));
    // Times (ms from the origin) of the blocks that played the fallback, after warm-up.
    let mut underruns_ms: Vec<f64> = Vec::with_capacity(1 << 16);
    let start = Instant::now();
    let mut done = 0u64;
    let mut k = 0u64;
    let mut deadline_misses = 0u64;
    let mut max_late = Duration::ZERO;
    let mut resets = 0u64;
    let mut automation_changes = 0u64;
    let mut rss_warm = 0u64;
    let mut rss_max = 0u64;
    let mut rss_half: Option<u64> = None;
    let mut underrun_blocks_warm = 0u64;
    let mut next_progress = progress_every;
    let mut warmed = false;

    while done < total_samples {
        let n = (o.block as u64).min(total_samples - done) as usize;
        // Host-side work (not timed): the next input block and parameter automation.
        for i in 0..n {
            let s = music.next();
            for (c, b) in bufs.iter_mut().enumerate() {
                b[i] = if ch == 1 { 0.5 * (s[0] + s[1]) } else { s[c] };
            }
        }
        if o.automation && done / automation_every != (done + n as u64) / automation_every {
            let r = &mut auto_rng;
            mix.mode = Mode::ALL[(r.next_u32() as usize) % Mode::ALL.len()];
            for g in &mut mix.stem_gain_db {
                *g = if r.unit() < 0.7 { 0.0 } else { -24.0 + 30.0 * r.unit() };
            }
            mix.wet = if r.unit() < 0.8 { 1.0 } else { r.unit() };
            mix.transition_ms = 5.0 + 500.0 * r.unit();
            automation_changes += 1;
        }
        let do_reset =
            o.automation && done > 0 && done / reset_every != (done + n as u64) / reset_every;

        let callback_start = Instant::now();
        if o.paced {
            let scheduled = start + block_time(k);
            max_late = max_late.max(callback_start.saturating_duration_since(scheduled));
        }
        {
            let (a, b) = bufs.split_at_mut(1);
            let mut chans: [&mut [f32]; 2] =
                if ch == 2 { [&mut a[0][..n], &mut b[0][..n]] } else { [&mut a[0][..n], &mut []] };
            if do_reset {
                eng.reset();
                resets += 1;
            }
            let before = status.underrun_blocks.load(Ordering::Relaxed);
            let (t, c) = (Instant::now(), thread_cpu_ns());
            eng.process(&mut chans[..ch], &mix, !o.paced);
            let ns = t.elapsed().as_nanos() as u64;
            if warmed && status.underrun_blocks.load(Ordering::Relaxed) != before {
                underruns_ms.push(t.duration_since(origin).as_secs_f64() * 1e3);
            }
            proc_cpu.record(thread_cpu_ns().saturating_sub(c));
            proc_all.record(ns);
            if warmed {
                proc_steady.record(ns);
            }
        }
        done += n as u64;
        k += 1;
        if o.paced {
            let deadline = start + block_time(k);
            let now = Instant::now();
            if now > deadline {
                deadline_misses += 1;
            } else {
                std::thread::sleep(deadline - now);
            }
        }

        if !warmed && done >= warmup_samples {
            warmed = true;
            probes.warm.store(true, Ordering::Relaxed);
            rss_warm = rss_kib();
            underrun_blocks_warm = status.underrun_blocks.load(Ordering::Relaxed);
        }
        if rss_half.is_none() && done >= total_samples / 2 {
            rss_half = Some(rss_kib());
        }
        if done >= next_progress || done == total_samples {
            next_progress += progress_every;
            let rss = rss_kib();
            rss_max = rss_max.max(rss);
            eprintln!(
                "  {:7.2} min audio, {:8.1} s wall, hops {}, underrun blocks {}, deadline misses {}, worker max hop {} us, process max {:.1} us, RSS {} KiB",
                done as f64 / sr as f64 / 60.0,
                start.elapsed().as_secs_f64(),
                status.hops_processed.load(Ordering::Relaxed),
                status.underrun_blocks.load(Ordering::Relaxed),
                deadline_misses,
                status.worker_max_hop_us.load(Ordering::Relaxed),
                proc_all.max_us(),
                rss
            );
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let canary = canary.map(Canary::finish);
    let slow_calls = probes.slow.calls.lock().map(|v| v.clone()).unwrap_or_default();
    let episodes = episodes(&underruns_ms);
    let explained = |e: &[f64; 2]| {
        canary.as_ref().is_some_and(|c| c.stalls.iter().any(|s| overlaps_episode(*e, s[0], s[1])))
    };
    let episodes_with_stall = episodes.iter().filter(|e| explained(e)).count();
    for e in &episodes {
        let calls: Vec<String> = slow_calls
            .iter()
            .filter(|c| overlaps_episode(*e, c[0], c[1]))
            .map(|c| {
                format!(
                    "{:.1} ms wall / {:.1} ms CPU, faults {}+{} major, switches {}+{} forced",
                    c[1], c[2], c[3], c[4], c[5], c[6]
                )
            })
            .collect();
        let stalls: Vec<String> = canary
            .iter()
            .flat_map(|c| c.stalls.iter().filter(|s| overlaps_episode(*e, s[0], s[1])))
            .map(|s| format!("{:.1} ms", s[1]))
            .collect();
        eprintln!(
            "  late frames {:.3}-{:.3} s: separator calls [{}], canary stalls [{}]",
            e[0] * 1e-3,
            e[1] * 1e-3,
            calls.join(", "),
            stalls.join(", ")
        );
    }
    let canary_max_ms =
        canary.as_ref().map_or(0.0, |c| c.stalls.iter().fold(0.0f64, |m, s| m.max(s[1])));
    let rss_end = rss_kib();
    rss_max = rss_max.max(rss_end);
    let sep_all = probes.all.snapshot();
    let sep_steady = probes.steady.snapshot();
    let sep_cpu = probes.cpu.snapshot();
    let audio_s = done as f64 / sr as f64;
    let underrun_blocks = status.underrun_blocks.load(Ordering::Relaxed);
    let underrun_samples = status.underrun_samples.load(Ordering::Relaxed);
    let hops = status.hops_processed.load(Ordering::Relaxed);
    let hops_owed = status.hops_owed.load(Ordering::Relaxed);
    let worker_max_us = status.worker_max_hop_us.load(Ordering::Relaxed);
    let hop_budget_us = stft.hop as f64 / sr as f64 * 1e6;
    // The wrapped separator runs in the engine's neural slot; anything else means it failed.
    let active = status.active_engine();
    let message = status.notice().to_string();
    let growth = rss_end as i64 - rss_warm as i64;
    let growth_second_half = rss_end as i64 - rss_half.unwrap_or(rss_end) as i64;
    let running = active == EngineKind::Neural && status.worker_running.load(Ordering::Relaxed);

    let summary = format!(
        "SOAK engine={} mode={mode_name} audio_min={:.2} wall_s={:.1} speed={:.1}x rate={sr} ch={ch} block={} hops={hops} hops_owed={hops_owed} \
         underrun_blocks={underrun_blocks} underrun_blocks_after_warmup={} underrun_samples={underrun_samples} \
         deadline_misses={deadline_misses} max_callback_late_us={} worker_max_hop_us={worker_max_us} hop_budget_us={:.0} \
         sep_p50_us={:.0} sep_p99_us={:.0} sep_max_us={:.0} sep_steady_p99_us={:.0} sep_steady_max_us={:.0} sep_cpu_p99_us={:.0} sep_cpu_max_us={:.0} \
         process_p99_us={:.1} process_max_us={:.1} process_steady_max_us={:.1} process_cpu_p99_us={:.1} process_cpu_max_us={:.1} \
         rss_warm_kib={rss_warm} rss_end_kib={rss_end} rss_max_kib={rss_max} rss_growth_kib={growth} rss_growth_second_half_kib={growth_second_half} \
         resets={resets} automation_changes={automation_changes} nonfinite_blocks={} separator_faults={} separator_running={running} \
         late_episodes={} late_episodes_with_canary_stall={episodes_with_stall} canary_stalls={} canary_max_stall_ms={canary_max_ms:.1} canary_realtime={} slow_separator_calls={}",
        if o.neural { "neural" } else { "classic" },
        audio_s / 60.0,
        wall,
        audio_s / wall,
        o.block,
        underrun_blocks - underrun_blocks_warm,
        max_late.as_micros(),
        hop_budget_us,
        sep_all.quantile_us(0.5),
        sep_all.quantile_us(0.99),
        sep_all.max_us(),
        sep_steady.quantile_us(0.99),
        sep_steady.max_us(),
        sep_cpu.quantile_us(0.99),
        sep_cpu.max_us(),
        proc_all.quantile_us(0.99),
        proc_all.max_us(),
        proc_steady.max_us(),
        proc_cpu.quantile_us(0.99),
        proc_cpu.max_us(),
        status.nonfinite_blocks.load(Ordering::Relaxed),
        status.separator_faults.load(Ordering::Relaxed),
        episodes.len(),
        canary.as_ref().map_or(0, |c| c.stalls.len()),
        canary.as_ref().is_some_and(|c| c.realtime),
        slow_calls.len(),
    );
    if !running {
        eprintln!(
            "soak: WARNING: the wrapped separator is not running (active {active:?}): {message}"
        );
    }
    println!("{summary}");
    if let Some(path) = &o.json {
        let j = serde_json::json!({
            "engine": if o.neural { "neural" } else { "classic" },
            "engine_label": engine_label,
            "mode": mode_name,
            "audio_minutes": audio_s / 60.0,
            "wall_seconds": wall,
            "speed_x_realtime": audio_s / wall,
            "sample_rate_hz": sr,
            "channels": ch,
            "block": o.block,
            "latency_samples": eng.latency_samples(),
            "stft": { "n_fft": stft.n_fft, "hop": stft.hop },
            "hops_processed": hops,
            "hops_owed": hops_owed,
            "underrun_blocks": underrun_blocks,
            "underrun_blocks_after_warmup": underrun_blocks - underrun_blocks_warm,
            "underrun_samples": underrun_samples,
            "deadline_misses": deadline_misses,
            "max_callback_late_us": max_late.as_micros() as u64,
            "worker_max_hop_us": worker_max_us,
            "hop_budget_us": hop_budget_us,
            "separator_us": {
                "p50": sep_all.quantile_us(0.5), "p99": sep_all.quantile_us(0.99), "p999": sep_all.quantile_us(0.999),
                "max": sep_all.max_us(), "steady_p99": sep_steady.quantile_us(0.99), "steady_max": sep_steady.max_us(),
                "cpu_p50": sep_cpu.quantile_us(0.5), "cpu_p99": sep_cpu.quantile_us(0.99), "cpu_max": sep_cpu.max_us(),
            },
            "process_us": {
                "p50": proc_all.quantile_us(0.5), "p99": proc_all.quantile_us(0.99), "max": proc_all.max_us(),
                "steady_p99": proc_steady.quantile_us(0.99), "steady_max": proc_steady.max_us(),
                "cpu_p50": proc_cpu.quantile_us(0.5), "cpu_p99": proc_cpu.quantile_us(0.99), "cpu_max": proc_cpu.max_us(),
            },
            "rss_kib": { "after_warmup": rss_warm, "half_time": rss_half, "end": rss_end, "max": rss_max, "growth_after_warmup": growth, "growth_second_half": growth_second_half },
            "resets": resets,
            "automation_changes": automation_changes,
            "nonfinite_blocks": status.nonfinite_blocks.load(Ordering::Relaxed),
            "separator_faults": status.separator_faults.load(Ordering::Relaxed),
            "separator_running": running,
            "message": message,
            "pin_cpu": o.pin_cpu,
            "late_episodes_ms": episodes,
            "late_episodes_with_canary_stall": episodes_with_stall,
            "slow_separator_calls_ms": slow_calls,
            "canary": canary.as_ref().map(|c| serde_json::json!({
                "realtime": c.realtime, "wakeups": c.wakeups, "stall_ms": CANARY_STALL_MS,
                "stalls_ms": c.stalls,
            })),
        });
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) =
            std::fs::write(path, serde_json::to_string_pretty(&j).unwrap_or_default() + "\n")
        {
            eprintln!("soak: cannot write {}: {e}", path.display());
        }
    }
}
