//! The separation worker thread: pops hops of input from the input ring, runs STFT →
//! separator → inverse STFT, pushes stem frames into the output ring.
//!
//! Started when the plugin is activated, stopped and joined when it is deactivated. It sleeps
//! in `park_timeout` when there is nothing to do; the audio thread wakes it with `unpark`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use ringbuf::traits::{Consumer, Observer, Producer};
use ringbuf::{HeapCons, HeapProd};

use crate::dsp::classic::ClassicSeparator;
use crate::dsp::denormals::flush_denormals_on_this_thread;
use crate::dsp::separator::Separator;
use crate::stem::N_STEMS;
use crate::sync::status::{EngineKind, EngineStatus};
use crate::sync::worker_shared::WorkerShared;
use crate::worker::priority::{raise_current_thread, ThreadPriority};
use crate::worker::processor::{HopProcessor, HopReport};

pub mod offline;
pub mod priority;
pub mod processor;
use crate::dsp::stft::{Latency, StftConfig};
use crate::model::NeuralError;
use crate::sync::notice::EngineNotice;

/// Builds the neural separator on the worker thread (so its runtime state never touches the
/// audio thread), for an STFT and a channel count.
pub type SeparatorFactory =
    Box<dyn FnOnce(StftConfig, usize) -> Result<Box<dyn Separator>, NeuralError> + Send>;

/// Longest sleep between checks when idle.
const IDLE_PARK: Duration = Duration::from_millis(5);

/// A running worker thread.
pub struct Worker {
    handle: Option<JoinHandle<()>>,
    thread: Thread,
    shared: Arc<WorkerShared>,
}

/// Everything the worker thread owns.
pub struct WorkerSetup {
    /// STFT configuration at the processing sample rate.
    pub stft: StftConfig,
    /// Audio channels (1 or 2).
    pub channels: usize,
    /// Processing sample rate in Hz.
    pub sample_rate_hz: f32,
    /// Consumer side of the input ring (interleaved samples).
    pub input: HeapCons<f32>,
    /// Producer side of the output ring (stem frames, see [`HopProcessor`]).
    pub output: HeapProd<f32>,
    /// Builder of the neural separator, if one is configured.
    pub neural: Option<SeparatorFactory>,
    /// The engine the user asked for at start.
    pub requested: EngineKind,
    /// Status shared with the GUI.
    pub status: Arc<EngineStatus>,
}

impl Worker {
    /// Starts the worker thread.
    pub fn spawn(setup: WorkerSetup) -> std::io::Result<Worker> {
        let shared = Arc::new(WorkerShared::new(setup.requested, setup.stft.latency()));
        let thread_shared = shared.clone();
        // Running from now on, so an offline render waits for the thread's first frames
        // instead of mistaking a thread that has not started yet for a dead one.
        setup.status.worker_running.store(true, Ordering::Relaxed);
        let status = setup.status.clone();
        let handle = thread::Builder::new()
            .name("demix-worker".into())
            .spawn(move || run(setup, &thread_shared))
            .inspect_err(|_| status.worker_running.store(false, Ordering::Relaxed))?;
        let thread = handle.thread().clone();
        Ok(Worker { handle: Some(handle), thread, shared })
    }

    /// Wakes the worker (non-blocking; callable from the audio thread).
    #[inline]
    pub fn wake(&self) {
        self.thread.unpark();
    }

    /// State shared with the audio thread.
    pub fn shared(&self) -> &Arc<WorkerShared> {
        &self.shared
    }

    /// Stops the thread and waits for it to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.unpark();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(mut setup: WorkerSetup, shared: &WorkerShared) {
    flush_denormals_on_this_thread();
    let status = setup.status.clone();
    let priority = raise_current_thread();
    status
        .worker_realtime
        .store(matches!(priority, ThreadPriority::Realtime(_)), Ordering::Relaxed);
    log::debug!("demix worker priority: {priority:?}");
    // A panic inside the worker must not take the host down: it ends the thread, and the
    // audio thread falls back to dry because no more frames arrive.
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut setup, shared)));
    if result.is_err() {
        status.set_notice(EngineNotice::WorkerStopped);
        log::error!("demix worker panicked; output falls back to dry");
    }
    status.active_engine.store(EngineKind::Dry as u8, Ordering::Relaxed);
    status.worker_running.store(false, Ordering::Relaxed);
    shared.notify_progress();
}

/// The separator to run: the requested one if available, otherwise Classic.
fn select_engine(shared: &WorkerShared, have_neural: bool) -> EngineKind {
    match EngineKind::from_u8(shared.requested_engine.load(Ordering::Relaxed)) {
        EngineKind::Neural if have_neural => EngineKind::Neural,
        _ => EngineKind::Classic,
    }
}

/// Publishes `engine` as the active one when it differs from `*last`. The stereo refinement's
/// learnt stem positions come from the previous separator's masks, so they are forgotten.
fn note_engine(
    engine: EngineKind,
    last: &mut EngineKind,
    status: &EngineStatus,
    proc: &mut HopProcessor,
) {
    if engine != *last {
        status.active_engine.store(engine as u8, Ordering::Relaxed);
        proc.reset_refinement();
        *last = engine;
    }
}

fn work(setup: &mut WorkerSetup, shared: &WorkerShared) {
    let status = setup.status.clone();
    let mut cfg = setup.stft;
    let ch = setup.channels;
    let mut classic = ClassicSeparator::new(cfg.bins());
    let mut neural: Option<Box<dyn Separator>> = match setup.neural.take() {
        Some(factory) => match factory(cfg, ch) {
            Ok(sep) => {
                status.set_notice(EngineNotice::ModelLoaded { name: sep.name().to_string() });
                Some(sep)
            }
            Err(e) => {
                log::error!("demix: neural engine unavailable: {e}");
                status.set_notice(e);
                None
            }
        },
        None => None,
    };
    let mut proc = HopProcessor::new(cfg, ch, setup.sample_rate_hz);
    let mut hop_in = vec![0.0f32; cfg.hop * ch];
    let mut hop_out = vec![0.0f32; cfg.hop * N_STEMS * ch];
    let mut hop_seconds = cfg.hop as f32 / setup.sample_rate_hz;
    let mut load = 0.0f32;
    let mut max_us = 0u32;
    let mut last_engine = EngineKind::Dry;
    // Output frames pushed since the last flush (compared with `WorkerShared::frames_due`).
    let mut frames_pushed = 0u64;

    while !shared.stop.load(Ordering::Acquire) {
        let req = shared.flush_request.load(Ordering::Acquire);
        if req != shared.flush_ack.load(Ordering::Relaxed) {
            setup.input.clear();
            // A latency change arrives with a flush: the STFT (and so the hop) changes; the
            // separators see the same bins and only restart.
            let latency = Latency::from_u8(shared.latency.load(Ordering::Acquire));
            if latency != cfg.latency() {
                cfg = cfg.with_latency(latency);
                proc = HopProcessor::new(cfg, ch, setup.sample_rate_hz);
                hop_in = vec![0.0f32; cfg.hop * ch];
                hop_out = vec![0.0f32; cfg.hop * N_STEMS * ch];
                hop_seconds = cfg.hop as f32 / setup.sample_rate_hz;
                last_engine = EngineKind::Dry;
            }
            proc.reset();
            frames_pushed = 0;
            classic.reset();
            if let Some(n) = neural.as_mut() {
                n.reset();
            }
            shared.flush_ack.store(req, Ordering::Release);
            shared.notify_progress();
        }
        let engine = select_engine(shared, neural.is_some());
        proc.set_shaping(&shared.shaping.load());
        note_engine(engine, &mut last_engine, &status, &mut proc);
        let mut worked = false;
        while setup.input.occupied_len() >= hop_in.len()
            && setup.output.vacant_len() >= hop_out.len()
        {
            if shared.flush_request.load(Ordering::Acquire)
                != shared.flush_ack.load(Ordering::Relaxed)
            {
                break;
            }
            // Engine choice and shaping apply from the next hop on, also while the worker never
            // runs out of input (an offline render keeps this loop busy for the whole render).
            let engine = select_engine(shared, neural.is_some());
            note_engine(engine, &mut last_engine, &status, &mut proc);
            proc.set_shaping(&shared.shaping.load());
            setup.input.pop_slice(&mut hop_in);
            let t0 = Instant::now();
            let sep: &mut dyn Separator = match (engine, neural.as_mut()) {
                (EngineKind::Neural, Some(n)) => n.as_mut(),
                _ => &mut classic,
            };
            // Every frame of this hop was due before it could be made: the audio thread played
            // the fallback in its place and will discard it, so the separator is not run.
            let owed = shared.frames_due.load(Ordering::Relaxed) >= frames_pushed + cfg.hop as u64;
            let report = if owed {
                proc.process_owed_hop(sep, &hop_in, &mut hop_out);
                status.hops_owed.fetch_add(1, Ordering::Relaxed);
                HopReport::default()
            } else {
                proc.process_hop(sep, &hop_in, &mut hop_out)
            };
            let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
            setup.output.push_slice(&hop_out);
            frames_pushed += cfg.hop as u64;
            if report.separator_fault {
                status.separator_faults.fetch_add(1, Ordering::Relaxed);
            }
            max_us = max_us.max(us);
            load = 0.95 * load + 0.05 * (us as f32 * 1e-6 / hop_seconds);
            status.worker_load.store(load);
            status.worker_max_hop_us.store(max_us, Ordering::Relaxed);
            status.hops_processed.fetch_add(1, Ordering::Relaxed);
            worked = true;
            shared.notify_progress();
        }
        if !worked {
            thread::park_timeout(IDLE_PARK);
        }
    }
}
