//! The audio-thread side of the engine. Runs on the host's audio thread:
//! no allocation, no locks, no waiting in real-time mode (the only call into the OS is the
//! non-blocking `unpark` that wakes the worker). Offline rendering may wait for the worker.
//!
//! Per block it (1) writes the input into the input ring and a dry delay line, (2) reads one
//! stem frame per output sample from the output ring, (3) applies smoothed per-stem gains,
//! dry/wet and bypass. A frame that is not ready (counted as an underrun) is replaced by the dry
//! signal delayed by the latency, at the lowest stem gain and with short fades (see
//! [`crate::audio_thread::fallback`]); the frame is discarded when it arrives later.
//! [`RealtimeEngine::process_with_stems`] also writes each post-fader stem to its own buffers
//! (the plugin's optional per-stem output buses).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use crate::audio_thread::dry_delay::DryDelay;
use crate::audio_thread::fallback::Fallback;
use crate::audio_thread::mixer::{MixSettings, Mixer};
use crate::dsp::denormals::{flush_subnormal, sanitize};
use crate::dsp::stft::{Latency, StftConfig};
use crate::stem::N_STEMS;
use crate::sync::notice::EngineNotice;
use crate::sync::status::{EngineKind, EngineStatus};
use crate::worker::{SeparatorFactory, Worker, WorkerSetup};

/// Longest time an offline render waits for the worker before giving up on a frame.
const OFFLINE_WAIT: Duration = Duration::from_secs(5);

/// A latency switch fades the output out, moves the delay line and restarts the worker at the
/// new STFT, and fades back in, each fade this long, in milliseconds.
pub const LATENCY_SWITCH_FADE_MS: f32 = 5.0;

/// Fixed parameters of an activated engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineConfig {
    /// Host sample rate in Hz.
    pub sample_rate_hz: f32,
    /// Audio channels (1 or 2).
    pub channels: usize,
    /// Largest block the host will pass, in samples.
    pub max_block: usize,
    /// STFT at the host sample rate.
    pub stft: StftConfig,
}

impl EngineConfig {
    /// Slack between the newest input and the oldest output the audio thread needs, in samples:
    /// one host block, so a block's frames come from hops that the worker finished while the
    /// previous block played, and never less than a standard hop (`n_fft / 4`, 5.8 ms at
    /// 44.1 kHz). At low latency that floor is two of its hops: a single worker call delayed by
    /// more than one low-latency hop (2.9 ms; the machine taking the CPU away, a slow call)
    /// would otherwise make the output fall back to dry.
    pub fn slack_samples(&self) -> usize {
        // `hop <= n_fft / 4` at either latency.
        self.max_block.max(self.stft.n_fft / 4)
    }

    /// Latency reported to the host, in samples: the STFT's algorithmic delay
    /// ([`StftConfig::delay_samples`]), plus one hop of frame quantisation, plus
    /// [`Self::slack_samples`].
    pub fn latency_samples(&self) -> usize {
        self.stft.delay_samples() + self.stft.hop + self.slack_samples()
    }

    /// How many output frames the read position trails the input position.
    fn read_lag(&self) -> usize {
        self.latency_samples() - self.stft.delay_samples()
    }

    fn chunk(&self) -> usize {
        self.max_block.clamp(1, 8192)
    }

    /// This configuration at `latency` (see [`StftConfig::with_latency`]).
    pub fn with_latency(&self, latency: Latency) -> Self {
        EngineConfig { stft: self.stft.with_latency(latency), ..*self }
    }

    /// Frames the rings hold: the latency, two chunks and four hops of margin.
    fn ring_frames(&self) -> usize {
        self.latency_samples() + 2 * self.chunk() + 4 * self.stft.hop
    }
}

/// A latency change in progress: fade out, switch, fade in.
struct LatencySwitch {
    /// Gain on the whole output, 0..=1.
    gain: f32,
    step: f32,
    /// The latency to switch to once the gain reaches zero.
    pending: Option<Latency>,
}

impl LatencySwitch {
    /// Advances the fade by one sample: down while a switch is pending, else up.
    #[inline]
    fn next_gain(&mut self) -> f32 {
        self.gain = if self.pending.is_some() {
            (self.gain - self.step).max(0.0)
        } else {
            (self.gain + self.step).min(1.0)
        };
        self.gain
    }
}

/// The audio-thread engine: owns the ring ends, the dry delay line and the mixer.
pub struct RealtimeEngine {
    cfg: EngineConfig,
    input: HeapProd<f32>,
    worker: Option<Worker>,
    status: Arc<EngineStatus>,
    mixer: Mixer,
    /// What plays without a stem frame, and the fades into and out of it.
    fallback: Fallback,
    dry_delay: DryDelay,
    /// The delayed dry signal of the current chunk, interleaved.
    dry: Vec<f32>,
    /// The sanitised input of the current chunk, interleaved.
    interleaved: Vec<f32>,
    frames: FrameReader,
    switch: LatencySwitch,
    /// Output samples played since the worker (re)started.
    written: u64,
    /// The flush generation the audio thread is waiting for the worker to acknowledge.
    flushing: Option<u32>,
    flush_gen: u32,
}

/// Reads stem frames from the worker's output ring, one per output sample. A frame that is not
/// ready in time is owed: it is skipped when it arrives, so later frames stay aligned.
struct FrameReader {
    output: HeapCons<f32>,
    /// The current frame, `[stem][channel]`.
    frame: Vec<f32>,
    /// Frames played dry that the worker has not delivered yet.
    skip_debt: u64,
}

impl FrameReader {
    /// Forgets queued frames and the debt (after a flush).
    fn clear(&mut self) {
        self.output.clear();
        self.skip_debt = 0;
    }

    /// Pops the next stem frame into `self.frame`; false (and one more frame of debt) if it is
    /// not ready. With `offline`, waits for `worker` instead.
    fn next(&mut self, offline: Option<(&Worker, &EngineStatus)>) -> bool {
        let frame_len = self.frame.len();
        // Drop frames that arrived after we already played dry in their place.
        while self.skip_debt > 0 && self.output.occupied_len() >= frame_len {
            self.output.skip(frame_len);
            self.skip_debt -= 1;
        }
        if self.skip_debt == 0 && self.output.occupied_len() >= frame_len {
            self.output.pop_slice(&mut self.frame);
            return true;
        }
        if let (Some((w, status)), 0) = (offline, self.skip_debt) {
            let deadline = Instant::now() + OFFLINE_WAIT;
            while self.output.occupied_len() < frame_len
                && status.worker_running.load(Ordering::Relaxed)
                && Instant::now() < deadline
            {
                w.wake();
                w.shared().wait_progress(Duration::from_millis(2));
            }
            if self.output.occupied_len() >= frame_len {
                self.output.pop_slice(&mut self.frame);
                return true;
            }
        }
        self.skip_debt += 1;
        false
    }
}

/// What one block measured, published to [`EngineStatus`] once per block.
#[derive(Default)]
struct BlockMeters {
    stem_peak: [f32; N_STEMS],
    output_peak: f32,
    underrun_samples: u64,
    nonfinite_input: bool,
}

impl BlockMeters {
    fn publish(&self, status: &EngineStatus) {
        for (meter, p) in status.stem_peak.iter().zip(self.stem_peak) {
            meter.store(p);
        }
        status.output_peak.store(self.output_peak);
        if self.underrun_samples > 0 {
            status.underrun_samples.fetch_add(self.underrun_samples, Ordering::Relaxed);
            status.underrun_blocks.fetch_add(1, Ordering::Relaxed);
        }
        if self.nonfinite_input {
            status.nonfinite_blocks.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl RealtimeEngine {
    /// Allocates rings and buffers and starts the worker. Call from a non-realtime thread
    /// (plugin `activate`). If the worker cannot start, the engine passes audio through dry.
    pub fn new(
        cfg: EngineConfig,
        settings: &MixSettings,
        requested: EngineKind,
        neural: Option<SeparatorFactory>,
        status: Arc<EngineStatus>,
    ) -> Self {
        let ch = cfg.channels;
        let chunk = cfg.chunk();
        // Sized for either latency, so a switch never allocates.
        let frames = Latency::ALL.iter().map(|&l| cfg.with_latency(l).ring_frames()).max();
        let frames = frames.unwrap_or_else(|| cfg.ring_frames());
        let max_latency = Latency::ALL.iter().map(|&l| cfg.with_latency(l).latency_samples());
        let max_latency = max_latency.max().unwrap_or(0).max(cfg.latency_samples());
        let (in_prod, in_cons) = HeapRb::<f32>::new(frames * ch).split();
        let (out_prod, out_cons) = HeapRb::<f32>::new(frames * N_STEMS * ch).split();
        status.latency_samples.store(cfg.latency_samples() as u32, Ordering::Relaxed);
        let worker = Worker::spawn(WorkerSetup {
            stft: cfg.stft,
            channels: ch,
            sample_rate_hz: cfg.sample_rate_hz,
            input: in_cons,
            output: out_prod,
            neural,
            requested,
            status: status.clone(),
        });
        let worker = match worker {
            Ok(w) => Some(w),
            Err(e) => {
                status.set_notice(EngineNotice::WorkerNotStarted { reason: Arc::new(e) });
                status.active_engine.store(EngineKind::Dry as u8, Ordering::Relaxed);
                None
            }
        };
        RealtimeEngine {
            cfg,
            input: in_prod,
            worker,
            status,
            mixer: Mixer::new(cfg.sample_rate_hz, settings),
            fallback: Fallback::new(cfg.sample_rate_hz),
            dry_delay: DryDelay::with_capacity(cfg.latency_samples(), max_latency, ch),
            dry: vec![0.0; chunk * ch],
            interleaved: vec![0.0; chunk * ch],
            frames: FrameReader { output: out_cons, frame: vec![0.0; N_STEMS * ch], skip_debt: 0 },
            switch: LatencySwitch {
                gain: 1.0,
                step: 1.0 / (LATENCY_SWITCH_FADE_MS * 0.001 * cfg.sample_rate_hz).max(1.0),
                pending: None,
            },
            written: 0,
            flushing: None,
            flush_gen: 0,
        }
    }

    /// The configuration this engine was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Latency in samples (see [`EngineConfig::latency_samples`]); during a latency switch, the
    /// latency being switched to.
    pub fn latency_samples(&self) -> usize {
        match self.switch.pending {
            Some(l) => self.cfg.with_latency(l).latency_samples(),
            None => self.cfg.latency_samples(),
        }
    }

    /// The STFT latency in effect, or being switched to.
    pub fn latency(&self) -> Latency {
        self.switch.pending.unwrap_or(self.cfg.stft.latency())
    }

    /// Switches to `latency` while playing (real-time safe): the output fades out over
    /// [`LATENCY_SWITCH_FADE_MS`], the dry delay and the worker's STFT change, and it fades
    /// back in, playing the fallback until the worker's first frames at the new latency.
    /// Returns the new latency in samples, for the host.
    pub fn set_latency(&mut self, latency: Latency) -> usize {
        self.switch.pending = if latency == self.cfg.stft.latency() { None } else { Some(latency) };
        self.latency_samples()
    }

    /// Applies a pending latency switch (the output is silent by now).
    fn apply_latency(&mut self, latency: Latency) {
        self.cfg = self.cfg.with_latency(latency);
        self.dry_delay.set_delay(self.cfg.latency_samples());
        self.status.latency_samples.store(self.cfg.latency_samples() as u32, Ordering::Relaxed);
        if let Some(w) = &self.worker {
            w.shared().latency.store(latency as u8, Ordering::Release);
        }
        self.begin_flush();
    }

    /// Shared status (meters, counters, messages).
    pub fn status(&self) -> &Arc<EngineStatus> {
        &self.status
    }

    /// Asks the worker to switch separator (takes effect at its next hop).
    pub fn request_engine(&self, kind: EngineKind) {
        if let Some(w) = &self.worker {
            w.shared().requested_engine.store(kind as u8, Ordering::Relaxed);
        }
    }

    /// Publishes sound-shaping options to the worker (real-time safe: relaxed atomics).
    pub fn set_shaping(&self, settings: &crate::dsp::shaping::ShapingSettings) {
        if let Some(w) = &self.worker {
            w.shared().shaping.store(settings);
        }
    }

    /// Restarts the separation stream (transport jump, host reset): the worker drops queued
    /// input and clears its state; the output is the delayed dry signal until new frames arrive.
    /// Real-time safe.
    pub fn reset(&mut self) {
        self.begin_flush();
        self.mixer.snap();
    }

    fn begin_flush(&mut self) {
        if let Some(w) = &self.worker {
            self.flush_gen = self.flush_gen.wrapping_add(1);
            // Before the request (released with it): the worker's count restarts at the flush.
            w.shared().frames_due.store(0, Ordering::Relaxed);
            w.shared().flush_request.store(self.flush_gen, Ordering::Release);
            w.wake();
            self.flushing = Some(self.flush_gen);
        }
    }

    /// Processes one block in place: `channels[ch][sample]` holds the input and receives the
    /// output. `offline` allows waiting for the worker (host offline render).
    /// Same as [`Self::process_with_stems`] without stem outputs.
    pub fn process(&mut self, channels: &mut [&mut [f32]], settings: &MixSettings, offline: bool) {
        self.process_with_stems(channels, &mut [], settings, offline);
    }

    /// [`Self::process`], and also writes each stem to its own caller-provided buffers
    /// (per-stem output buses): `stem_outputs[s][k][sample]` is channel `k` of stem `s`
    /// (engine order vocals, drums, bass, other), at the same sample positions as `channels`.
    /// Allocation-free like `process`.
    ///
    /// What a stem bus carries:
    /// - the stem *post-fader*: multiplied by its smoothed gain (fader, mute, solo and mode
    ///   crossfades), i.e. exactly what the stem contributes to the main mix, and by
    ///   `1 - bypass` (smoothed), so Bypass fades the stem buses to silence while the main bus
    ///   plays the delayed dry signal;
    /// - Dry/Wet ("Mix") is **not** applied: it only blends the main bus. At Dry/Wet 100 %
    ///   and no bypass the stem buses sum exactly (up to float rounding) to the main bus;
    /// - silence for every sample without a separated stem frame (the first `latency` samples
    ///   after activation or a restart, an underrun in real-time mode, a pending flush, no
    ///   worker), reached and left with the fallback's short fades: the main bus plays the
    ///   delayed dry signal there (at the lowest stem gain), which belongs to no stem;
    /// - silence (faded) for a stem sample that is not finite (a worker bug; the main bus plays
    ///   dry).
    ///
    /// Channels: stem bus channel `k` carries the stem's channel `min(k, channels - 1)`, so a
    /// mono engine fills both sides of a stereo stem bus and a mono bus of a stereo engine gets
    /// the left channel. Stems beyond `stem_outputs.len()` are not written; samples beyond a
    /// stem channel's length are skipped; `stem_outputs` entries past [`N_STEMS`] are ignored.
    pub fn process_with_stems(
        &mut self,
        channels: &mut [&mut [f32]],
        stem_outputs: &mut [&mut [&mut [f32]]],
        settings: &MixSettings,
        offline: bool,
    ) {
        self.mixer.set(settings);
        // Slices of unequal length (never from CLAP/VST3) are processed up to the shortest.
        let len = channels.iter().map(|c| c.len()).min().unwrap_or(0);
        let mut meters = BlockMeters::default();
        let mut start = 0;
        // Chunks of at most `EngineConfig::chunk` samples: take the input, hand it to the worker
        // (or finish a pending flush), then mix one output sample at a time.
        while start < len {
            let mut n = (len - start).min(self.cfg.chunk());
            if let Some(latency) = self.switch.pending {
                if self.switch.gain <= 0.0 {
                    self.switch.pending = None;
                    self.apply_latency(latency);
                } else {
                    // Up to the end of the fade-out, so the switch lands between chunks.
                    let left = (self.switch.gain / self.switch.step).ceil() as usize;
                    n = n.min(left.max(1));
                }
            }
            self.take_input(channels, start, n, &mut meters);
            self.poll_flush(offline);
            self.feed_worker(n * self.cfg.channels);
            self.mix_out(channels, stem_outputs, start, n, offline, &mut meters);
            start += n;
        }
        meters.publish(&self.status);
    }

    /// Sanitises `n` input samples at `start` (NaN/inf and subnormals become 0), interleaves
    /// them and runs the dry delay line; non-finite input restarts the separation.
    fn take_input(
        &mut self,
        channels: &[&mut [f32]],
        start: usize,
        n: usize,
        meters: &mut BlockMeters,
    ) {
        let ch = self.cfg.channels.min(channels.len());
        let stride = self.cfg.channels;
        let mut nonfinite = false;
        for i in 0..n {
            for c in 0..stride {
                let x = channels[c.min(ch - 1)][start + i];
                nonfinite |= !x.is_finite();
                self.interleaved[i * stride + c] = sanitize(x);
            }
        }
        self.dry_delay.process(&self.interleaved[..n * stride], &mut self.dry[..n * stride]);
        if nonfinite {
            // A NaN/Inf burst may have poisoned the separator's state: restart it.
            meters.nonfinite_input = true;
            self.begin_flush();
        }
    }

    /// Completes a pending flush once the worker has acknowledged it; an offline render waits
    /// for that, so no input bypasses the separator.
    fn poll_flush(&mut self, offline: bool) {
        if let (Some(gen), Some(w), true) = (self.flushing, &self.worker, offline) {
            // Offline renders wait for the flush so no input bypasses the separator.
            let deadline = Instant::now() + OFFLINE_WAIT;
            while w.shared().flush_ack.load(Ordering::Acquire) != gen
                && self.status.worker_running.load(Ordering::Relaxed)
                && Instant::now() < deadline
            {
                w.wake();
                w.shared().wait_progress(Duration::from_millis(2));
            }
        }
        if let (Some(gen), Some(w)) = (self.flushing, &self.worker) {
            if w.shared().flush_ack.load(Ordering::Acquire) == gen {
                self.frames.clear();
                self.written = 0;
                self.flushing = None;
            }
        }
    }

    /// Hands the chunk's `len` interleaved input samples to the worker (unless a flush is
    /// pending).
    fn feed_worker(&mut self, len: usize) {
        if self.flushing.is_none() {
            if let Some(w) = &self.worker {
                if self.input.vacant_len() >= len {
                    self.input.push_slice(&self.interleaved[..len]);
                    w.wake();
                } else {
                    // The worker has stalled for longer than the rings hold: resynchronise.
                    self.begin_flush();
                }
            }
        }
    }

    /// Writes the chunk's output: stem frames (or the dry signal) through the mixer's gains,
    /// Dry/Wet and Bypass, and the per-stem buses.
    fn mix_out(
        &mut self,
        channels: &mut [&mut [f32]],
        stem_outputs: &mut [&mut [&mut [f32]]],
        start: usize,
        n: usize,
        offline: bool,
        meters: &mut BlockMeters,
    ) {
        let ch = self.cfg.channels.min(channels.len());
        let stride = self.cfg.channels;
        let lag = self.cfg.read_lag() as u64;
        // Since the worker (re)started, its first `delay_samples` output samples belong to input
        // it never saw (zeros in its history, e.g. input that arrived while a flush was pending):
        // they are consumed but the latency-aligned dry signal plays in their place.
        let first_valid = self.cfg.latency_samples() as u64;
        for i in 0..n {
            let pos = self.written + i as u64;
            let due = self.flushing.is_none() && pos >= lag;
            let have_frame = match (&self.worker, due) {
                (Some(w), true) => {
                    let ready = self.frames.next(offline.then_some((w, &*self.status)));
                    meters.underrun_samples += u64::from(!ready);
                    ready
                }
                _ => false,
            };
            let have_frame = have_frame && pos >= first_valid;
            let (g, wet, bypass) = self.mixer.next_gains();
            let switch_gain = self.switch.next_gain();
            self.fallback.advance(have_frame);
            let dry_gain = Fallback::dry_gain(&g);
            for c in 0..ch {
                let dry = self.dry[i * stride + c];
                let separated = have_frame.then(|| {
                    let mut sum = 0.0;
                    for s in 0..N_STEMS {
                        let v = g[s] * self.frames.frame[s * stride + c];
                        meters.stem_peak[s] = meters.stem_peak[s].max(v.abs());
                        sum += v;
                    }
                    sum
                });
                let wet_signal = self.fallback.main(c, separated, dry_gain * dry);
                let mixed = wet * wet_signal + (1.0 - wet) * dry;
                let y = bypass * dry + (1.0 - bypass) * mixed;
                // Last line of defence: a non-finite stem sample (a worker bug) plays dry.
                let y = if y.is_finite() { y } else { dry } * switch_gain;
                // Gains, dry/wet and bypass < 1 can underflow tiny samples into subnormals
                // (no FTZ on the host's thread): hosts and validators expect none.
                let y = flush_subnormal(y);
                meters.output_peak = meters.output_peak.max(y.abs());
                channels[c][start + i] = y;
            }
            // Per-stem buses: post-fader stem, faded out by bypass, silent without a frame.
            let stem_gain = 1.0 - bypass;
            for (s, bus) in stem_outputs.iter_mut().take(N_STEMS).enumerate() {
                // One value per engine channel (a mono engine fills every bus channel with it).
                let mut v = [0.0f32; 2];
                for (c, v) in v.iter_mut().enumerate().take(stride) {
                    let separated =
                        have_frame.then(|| stem_gain * g[s] * self.frames.frame[s * stride + c]);
                    *v = sanitize(self.fallback.bus(s, c, separated) * switch_gain);
                }
                for (k, out) in bus.iter_mut().enumerate() {
                    if let Some(out) = out.get_mut(start + i) {
                        *out = v[k.min(stride - 1)];
                    }
                }
            }
            if have_frame {
                self.fallback.separated_sample_done();
            }
        }
        if self.flushing.is_none() {
            self.written += n as u64;
            if let Some(w) = &self.worker {
                // Every position past the read lag took a frame or owed one.
                let due = self.written.saturating_sub(lag);
                w.shared().frames_due.store(due, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for RealtimeEngine {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.stop();
        }
    }
}
