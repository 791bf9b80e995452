//! End-to-end test harness: loads the built demix plugin as a CLAP through `clack-host` (a real
//! CLAP host library) and drives it like a DAW would.
//!
//! The plugin binary is **not** built by the tests. Build it first, with the allocation
//! checker on (any allocation on the audio thread then aborts the test process):
//!
//! ```text
//! cargo build -p demix --features assert_process_allocs
//! cargo test -p demix-e2e
//! ```
//!
//! The CLAP plugin is the shared library itself (`target/debug/libdemix.so`); set
//! `DEMIX_CLAP` to test another file (e.g. `target/bundled/demix.clap`).

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;

use clack_extensions::audio_ports::{AudioPortInfoBuffer, PluginAudioPorts};
use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
use clack_extensions::gui::{GuiSize, HostGui, HostGuiImpl};
use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;

/// The CLAP plugin ID of demix.
pub const PLUGIN_ID: &str = "com.demix.demix";

/// CLAP values (step index, the variant order) of the plugin's "Mode" parameter.
pub mod mode {
    /// Full mix.
    pub const FULL_MIX: f64 = 0.0;
    /// Vocals only.
    pub const ACAPELLA: f64 = 1.0;
    /// Everything but the vocals.
    pub const INSTRUMENTAL: f64 = 2.0;
    /// Drums and bass.
    pub const RHYTHM: f64 = 5.0;
    /// The stem mute/solo buttons decide.
    pub const CUSTOM: f64 = 6.0;
}

/// Where the plugin binary is expected.
pub fn plugin_path() -> PathBuf {
    if let Some(p) = std::env::var_os("DEMIX_CLAP") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    target.join("debug").join(if cfg!(target_os = "macos") {
        "libdemix.dylib"
    } else if cfg!(windows) {
        "demix.dll"
    } else {
        "libdemix.so"
    })
}

/// The loaded plugin entry (loaded once per test process).
pub fn entry() -> &'static PluginEntry {
    static ENTRY: OnceLock<PluginEntry> = OnceLock::new();
    ENTRY.get_or_init(|| {
        let path = plugin_path();
        assert!(
            path.exists(),
            "{} not found: build the plugin first with `cargo build -p demix --features assert_process_allocs`",
            path.display()
        );
        warn_if_unchecked_or_stale(&path);
        // SAFETY: loading a plugin runs its initialisers; demix is our own, trusted binary.
        unsafe { PluginEntry::load(&path) }.unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
    })
}

/// Loads the plugin binary at `path` (e.g. a copy laid out like an installed bundle), once per
/// path and process; the entry lives until the process ends.
pub fn load_entry(path: &std::path::Path) -> &'static PluginEntry {
    static ENTRIES: std::sync::Mutex<Vec<(PathBuf, &'static PluginEntry)>> =
        std::sync::Mutex::new(Vec::new());
    let mut entries = ENTRIES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, e)) = entries.iter().find(|(p, _)| p == path) {
        return e;
    }
    // SAFETY: as in `entry()`: our own, trusted binary.
    let e = unsafe { PluginEntry::load(path) }
        .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
    let e: &'static PluginEntry = Box::leak(Box::new(e));
    entries.push((path.to_path_buf(), e));
    e
}

/// Warns (does not fail) when the plugin binary lacks nice-plug's allocation checker or is
/// older than the plugin/engine sources, since either makes a green run mean less.
fn warn_if_unchecked_or_stale(path: &std::path::Path) {
    if std::env::var_os("DEMIX_CLAP").is_none() {
        if let Ok(bytes) = std::fs::read(path) {
            let needle = b"nice_assert_no_alloc";
            if !bytes.windows(needle.len()).any(|w| w == needle) {
                eprintln!(
                    "warning: {} was built without `assert_process_allocs`; rebuild with \
                     `cargo build -p demix --features assert_process_allocs` to check the audio thread",
                    path.display()
                );
            }
        }
    }
    let built = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let newest_source = ["plugin/src", "engine/src"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d)).ok())
        .flatten()
        .filter_map(|e| e.ok()?.metadata().ok()?.modified().ok())
        .max();
    if let (Some(built), Some(src)) = (built, newest_source) {
        if src > built {
            eprintln!(
                "warning: {} is older than the plugin/engine sources; rebuild it",
                path.display()
            );
        }
    }
}

/// Host callbacks: counts restart requests (nice-plug asks for a restart when e.g. the render
/// mode or latency changes while active) and remembers main-thread callback requests (the
/// editor's event loop runs on them).
#[derive(Default)]
pub struct HostShared {
    /// Number of `request_restart` calls.
    pub restarts: AtomicU32,
    /// Set by `request_callback`; the host then calls the plugin's `on_main_thread`.
    pub callback_requested: AtomicBool,
    /// Number of GUI `closed` notifications.
    pub gui_closed: AtomicU32,
}

impl<'a> SharedHandler<'a> for HostShared {
    fn request_restart(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }
    fn request_process(&self) {}
    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::Release);
    }
}

impl HostGuiImpl for HostShared {
    fn resize_hints_changed(&self) {}
    fn request_resize(&self, _new_size: GuiSize) -> Result<(), HostError> {
        Ok(())
    }
    fn request_show(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn request_hide(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn closed(&self, _was_destroyed: bool) {
        self.gui_closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Main-thread host state: counts latency-changed notifications.
#[derive(Default)]
pub struct HostMain {
    /// Number of `latency.changed` calls.
    pub latency_changed: std::cell::Cell<u32>,
}

impl<'a> MainThreadHandler<'a> for HostMain {}

impl HostLatencyImpl for HostMain {
    fn changed(&self) {
        self.latency_changed.set(self.latency_changed.get() + 1);
    }
}

/// The test host's handler types.
pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = HostShared;
    type MainThread<'a> = HostMain;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostGui>().register::<HostLatency>();
    }
}

/// One parameter as the host sees it.
#[derive(Debug, Clone)]
pub struct ParamDesc {
    /// CLAP parameter ID.
    pub id: ClapId,
    /// Display name.
    pub name: String,
    /// Module (group) path.
    pub module: String,
    /// Plain range and default.
    pub min: f64,
    /// Plain maximum.
    pub max: f64,
    /// Plain default.
    pub default: f64,
}

/// One audio-ports configuration as the host sees it (CLAP audio-ports-config).
#[derive(Debug, Clone, PartialEq)]
pub struct PortConfig {
    /// Configuration ID (what `select` takes).
    pub id: ClapId,
    /// Display name.
    pub name: String,
    /// Number of input ports.
    pub inputs: u32,
    /// Number of output ports (main included).
    pub outputs: u32,
    /// Channels of the main input, if any.
    pub main_in: Option<u32>,
    /// Channels of the main output, if any.
    pub main_out: Option<u32>,
}

/// A plugin instance driven by the test host.
pub struct Instance {
    instance: PluginInstance<TestHost>,
    processor: Option<PluginAudioProcessor<TestHost>>,
    channels: usize,
    max_block: usize,
    pending: EventBuffer,
    in_bufs: Vec<Vec<f32>>,
    out_bufs: Vec<Vec<f32>>,
    /// Buffers of the auxiliary output ports (`[port][channel][sample]`), as many as the
    /// selected audio-ports configuration has (none in plain stereo/mono).
    aux_out_bufs: Vec<Vec<Vec<f32>>>,
    in_ports: AudioPorts,
    out_ports: AudioPorts,
    steady: u64,
}

/// Splits `len` samples into blocks following `pattern` cyclically (0-length calls included).
pub fn block_plan(len: usize, pattern: &[usize]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut done = 0;
    let mut i = 0;
    while done < len {
        let b = pattern[i % pattern.len()].min(len - done);
        out.push(b);
        done += b;
        i += 1;
        assert!(i < 10_000_000, "block pattern makes no progress");
    }
    out
}

impl Instance {
    /// Creates a new instance of demix.
    pub fn new() -> Self {
        Self::with_entry(entry())
    }

    /// Creates a new instance of demix from another loaded binary (see [`load_entry`]).
    pub fn with_entry(entry: &'static PluginEntry) -> Self {
        let factory = entry.get_plugin_factory().expect("no plugin factory");
        let id = CString::new(PLUGIN_ID).unwrap();
        assert!(
            factory.plugin_descriptors().any(|d| d.id().is_some_and(|i| i == id.as_c_str())),
            "plugin {PLUGIN_ID} not in the factory"
        );
        let host = HostInfo::new("demix-e2e", "demix", "https://example.invalid", "0.1.0").unwrap();
        let instance = PluginInstance::<TestHost>::new(
            |_| HostShared::default(),
            |_| HostMain::default(),
            entry,
            &id,
            &host,
        )
        .expect("instantiating demix");
        Instance {
            instance,
            processor: None,
            channels: 2,
            max_block: 0,
            pending: EventBuffer::new(),
            in_bufs: Vec::new(),
            out_bufs: Vec::new(),
            aux_out_bufs: Vec::new(),
            in_ports: AudioPorts::with_capacity(2, 1),
            out_ports: AudioPorts::with_capacity(10, 5),
            steady: 0,
        }
    }

    /// Switches CLAP render mode (must be called while inactive to take effect at activation).
    pub fn set_render_mode(&mut self, offline: bool) -> bool {
        let h = self.instance.plugin_handle();
        let Some(render) = h.get_extension::<PluginRender>() else { return false };
        let mode = if offline { RenderMode::Offline } else { RenderMode::Realtime };
        render.set(&h, mode).is_ok()
    }

    /// Activates at `sample_rate` with blocks of at most `max_block` samples (stereo).
    pub fn activate(&mut self, sample_rate: f64, max_block: usize) {
        self.activate_channels(sample_rate, max_block, 2);
    }

    /// Selects the audio-ports configuration whose main input and output have `channels`
    /// channels and which has no other ports (CLAP audio-ports-config; while inactive). False if
    /// there is none.
    pub fn select_layout(&mut self, channels: u32) -> bool {
        self.select_config(|c| {
            c.main_in == Some(channels)
                && c.main_out == Some(channels)
                && c.outputs == 1
                && c.inputs == 1
        })
    }

    /// Selects the stem-outputs configuration: stereo main input and output plus four stereo
    /// auxiliary outputs (CLAP audio-ports-config; while inactive). False if there is none.
    pub fn select_stem_outputs(&mut self) -> bool {
        self.select_config(|c| {
            c.main_in == Some(2) && c.main_out == Some(2) && c.outputs == 5 && c.inputs == 1
        })
    }

    /// The plugin's audio-ports configurations (CLAP audio-ports-config), in its order.
    pub fn port_configs(&mut self) -> Vec<PortConfig> {
        let h = self.instance.plugin_handle();
        let Some(ext) = h.get_extension::<PluginAudioPortsConfig>() else { return Vec::new() };
        let n = ext.count(&h);
        let mut out = Vec::new();
        for i in 0..n {
            let mut buf = AudioPortsConfigBuffer::new();
            if let Some(c) = ext.get(&h, i, &mut buf) {
                out.push(PortConfig {
                    id: c.id,
                    name: String::from_utf8_lossy(c.name).into_owned(),
                    inputs: c.input_port_count,
                    outputs: c.output_port_count,
                    main_in: c.main_input.as_ref().map(|p| p.channel_count),
                    main_out: c.main_output.as_ref().map(|p| p.channel_count),
                });
            }
        }
        out
    }

    /// Selects the first configuration matching `pred`.
    fn select_config(&mut self, pred: impl Fn(&PortConfig) -> bool) -> bool {
        let Some(id) = self.port_configs().into_iter().find(|c| pred(c)).map(|c| c.id) else {
            return false;
        };
        let h = self.instance.plugin_handle();
        let Some(ext) = h.get_extension::<PluginAudioPortsConfig>() else { return false };
        ext.select(&h, id).is_ok()
    }

    /// The current audio ports (CLAP audio-ports): `(name, channel count)` of each output
    /// (`is_input` false) or input port, main port first.
    pub fn ports(&mut self, is_input: bool) -> Vec<(String, u32)> {
        let h = self.instance.plugin_handle();
        let Some(ext) = h.get_extension::<PluginAudioPorts>() else { return Vec::new() };
        let n = ext.count(&h, is_input);
        let mut out = Vec::new();
        for i in 0..n {
            let mut buf = AudioPortInfoBuffer::new();
            if let Some(p) = ext.get(&h, i, is_input, &mut buf) {
                out.push((String::from_utf8_lossy(p.name).into_owned(), p.channel_count));
            }
        }
        out
    }

    /// Allocates the auxiliary output buffers for the current configuration's extra output
    /// ports (every port after the main one).
    fn alloc_aux_outputs(&mut self, max_block: usize) {
        let ports = self.ports(false);
        self.aux_out_bufs =
            ports.iter().skip(1).map(|(_, ch)| vec![vec![0.0; max_block]; *ch as usize]).collect();
    }

    /// Activates with `channels` channels in and out (select the matching layout first with
    /// [`Self::select_layout`]; stereo is the default).
    pub fn activate_channels(&mut self, sample_rate: f64, max_block: usize, channels: usize) {
        assert!(self.processor.is_none(), "already active");
        let cfg = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: max_block as u32,
        };
        let stopped = self.instance.activate(|_, _| (), cfg).expect("activate failed");
        let mut p: PluginAudioProcessor<TestHost> = stopped.into();
        p.start_processing().expect("start_processing failed");
        self.processor = Some(p);
        self.channels = channels;
        self.max_block = max_block;
        self.in_bufs = vec![vec![0.0; max_block]; channels];
        self.out_bufs = vec![vec![0.0; max_block]; channels];
        self.alloc_aux_outputs(max_block);
    }

    /// Tries to activate; returns false if the plugin refused.
    pub fn try_activate(&mut self, sample_rate: f64, max_block: usize) -> bool {
        let cfg = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: max_block as u32,
        };
        match self.instance.activate(|_, _| (), cfg) {
            Ok(stopped) => {
                let mut p: PluginAudioProcessor<TestHost> = stopped.into();
                p.start_processing().expect("start_processing failed");
                self.processor = Some(p);
                self.channels = 2;
                self.max_block = max_block;
                self.in_bufs = vec![vec![0.0; max_block]; 2];
                self.out_bufs = vec![vec![0.0; max_block]; 2];
                self.alloc_aux_outputs(max_block);
                true
            }
            Err(_) => false,
        }
    }

    /// Stops processing and deactivates.
    pub fn deactivate(&mut self) {
        if let Some(mut p) = self.processor.take() {
            let stopped = p.ensure_processing_stopped();
            let _ = stopped;
            let stopped = p.into_stopped();
            self.instance.deactivate(stopped);
        }
    }

    /// Takes the (started) audio processor out, e.g. to run it on another thread; give it back
    /// with [`Self::put_processor`] before deactivating.
    pub fn take_processor(&mut self) -> PluginAudioProcessor<TestHost> {
        let mut p = self.processor.take().expect("not active");
        p.ensure_processing_started().expect("start_processing failed");
        p
    }

    /// Returns a processor taken with [`Self::take_processor`].
    pub fn put_processor(&mut self, p: PluginAudioProcessor<TestHost>) {
        assert!(self.processor.is_none());
        self.processor = Some(p);
    }

    /// Whether the plugin is active.
    pub fn is_active(&self) -> bool {
        self.processor.is_some()
    }

    /// Number of restart requests the plugin made.
    pub fn restart_requests(&self) -> u32 {
        self.instance.access_shared_handler(|h| h.restarts.load(Ordering::Relaxed))
    }

    /// Runs `f` with the plugin's main-thread handle (for extensions not wrapped here).
    pub fn with_handle<R>(&mut self, f: impl FnOnce(&mut PluginMainThreadHandle) -> R) -> R {
        let mut h = self.instance.plugin_handle();
        f(&mut h)
    }

    /// Calls the plugin's `on_main_thread` if it asked for it; true if it did.
    pub fn poll_main_thread(&mut self) -> bool {
        let asked = self
            .instance
            .access_shared_handler(|h| h.callback_requested.swap(false, Ordering::AcqRel));
        if asked {
            self.instance.call_on_main_thread_callback();
        }
        asked
    }

    /// Number of `latency.changed` notifications from the plugin.
    pub fn latency_changed_count(&mut self) -> u32 {
        self.instance.access_handler(|h| h.latency_changed.get())
    }

    /// The latency the plugin reports, in samples.
    pub fn latency(&mut self) -> u32 {
        let h = self.instance.plugin_handle();
        let lat = h.get_extension::<PluginLatency>().expect("no latency extension");
        lat.get(&h)
    }

    /// All parameters.
    pub fn params(&mut self) -> Vec<ParamDesc> {
        let h = self.instance.plugin_handle();
        let ext = h.get_extension::<PluginParams>().expect("no params extension");
        let n = ext.count(&h);
        let mut out = Vec::new();
        for i in 0..n {
            let mut buf = ParamInfoBuffer::new();
            if let Some(info) = ext.get_info(&h, i, &mut buf) {
                out.push(ParamDesc {
                    id: info.id,
                    name: String::from_utf8_lossy(info.name).into_owned(),
                    module: String::from_utf8_lossy(info.module).into_owned(),
                    min: info.min_value,
                    max: info.max_value,
                    default: info.default_value,
                });
            }
        }
        out
    }

    /// The ID of the parameter called `name`.
    pub fn param_id(&mut self, name: &str) -> ClapId {
        self.params()
            .into_iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no parameter named {name:?}"))
            .id
    }

    /// Current plain value of a parameter.
    pub fn param_value(&mut self, id: ClapId) -> f64 {
        let h = self.instance.plugin_handle();
        let ext = h.get_extension::<PluginParams>().expect("no params extension");
        ext.get_value(&h, id).expect("get_value failed")
    }

    /// All parameter values, by name.
    pub fn param_values(&mut self) -> Vec<(String, f64)> {
        let ps = self.params();
        ps.into_iter().map(|p| (p.name.clone(), self.param_value(p.id))).collect()
    }

    /// Queues a parameter change (the CLAP value: normalised 0..1 for nice-plug float
    /// parameters, the step index for bool/enum ones) for the start of the next process call.
    pub fn set_param(&mut self, name: &str, value: f64) {
        let id = self.param_id(name);
        self.pending.push(&ParamValueEvent::new(0, id, Pckn::match_all(), value));
    }

    /// Queues a parameter change at sample `time` of the next process call (CLAP value as in
    /// [`Self::set_param`]). Events must be queued in time order.
    pub fn set_param_at(&mut self, name: &str, value: f64, time: u32) {
        let id = self.param_id(name);
        self.pending.push(&ParamValueEvent::new(time, id, Pckn::match_all(), value));
    }

    /// Applies queued parameter changes without processing (`params.flush`), active or not.
    pub fn flush_params(&mut self) {
        let mut out = EventBuffer::new();
        let events = std::mem::take(&mut self.pending);
        if let Some(p) = self.processor.as_mut() {
            let mut h = p.plugin_handle();
            let ext = h.get_extension::<PluginParams>().expect("no params extension");
            ext.flush_active(&mut h, &events.as_input(), &mut out.as_output());
        } else {
            let mut h = self.instance.inactive_plugin_handle().expect("inactive handle");
            let ext = h.get_extension::<PluginParams>().expect("no params extension");
            ext.flush(&mut h, &events.as_input(), &mut out.as_output());
        }
    }

    /// Saves the plugin state.
    pub fn save_state(&mut self) -> Vec<u8> {
        let h = self.instance.plugin_handle();
        let st = h.get_extension::<PluginState>().expect("no state extension");
        let mut out = Vec::new();
        st.save(&h, &mut out).expect("state save failed");
        out
    }

    /// Loads a plugin state; false if the plugin rejected it.
    pub fn load_state(&mut self, bytes: &[u8]) -> bool {
        let h = self.instance.plugin_handle();
        let st = h.get_extension::<PluginState>().expect("no state extension");
        let mut r = bytes;
        st.load(&h, &mut r).is_ok()
    }

    /// Calls the plugin's `reset` from the audio thread's side.
    pub fn reset(&mut self) {
        if let Some(p) = self.processor.as_mut() {
            if let Ok(s) = p.as_started_mut() {
                s.reset();
            }
        }
    }

    /// Processes one block (`block <= max_block`, 0 allowed) of `input` starting at `offset`,
    /// writing the result to `output` at the same offset (auxiliary outputs are discarded).
    pub fn process_block(
        &mut self,
        input: &[Vec<f32>],
        output: &mut [Vec<f32>],
        offset: usize,
        block: usize,
    ) {
        self.process_block_with_aux(input, output, &mut [], offset, block);
    }

    /// [`Self::process_block`], also copying the auxiliary output ports (e.g. the per-stem
    /// outputs) into `aux[port][channel]` at `offset` (ports beyond `aux.len()` are dropped).
    /// The host's auxiliary buffers are filled with NaN before each call, so a sample the plugin
    /// leaves unwritten shows up.
    pub fn process_block_with_aux(
        &mut self,
        input: &[Vec<f32>],
        output: &mut [Vec<f32>],
        aux: &mut [Vec<Vec<f32>>],
        offset: usize,
        block: usize,
    ) {
        assert!(block <= self.max_block, "block {block} > max {}", self.max_block);
        let ch = self.channels;
        for c in 0..ch {
            self.in_bufs[c][..block].copy_from_slice(&input[c][offset..offset + block]);
            self.out_bufs[c][..block].fill(0.0);
        }
        for port in &mut self.aux_out_bufs {
            for c in port.iter_mut() {
                c[..block].fill(f32::NAN);
            }
        }
        let events = std::mem::take(&mut self.pending);
        let mut out_events = EventBuffer::new();
        let p = self.processor.as_mut().expect("not active");
        let started = p.ensure_processing_started().expect("start_processing failed");
        let in_audio = self.in_ports.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                self.in_bufs.iter_mut().map(|b| InputChannel::variable(&mut b[..block])),
            ),
        }]);
        // Every output port gets buffers: the main one, then each auxiliary port.
        let out_bufs = &mut self.out_bufs;
        let aux_bufs = &mut self.aux_out_bufs;
        let mut out_audio = self.out_ports.with_output_buffers(
            std::iter::once(out_bufs)
                .chain(aux_bufs.iter_mut())
                .map(|port| AudioPortBuffer {
                    latency: 0,
                    channels: AudioPortBufferType::f32_output_only(
                        port.iter_mut().map(move |b| &mut b[..block]),
                    ),
                })
                .collect::<Vec<_>>(),
        );
        started
            .process(
                &in_audio,
                &mut out_audio,
                &events.as_input(),
                &mut out_events.as_output(),
                Some(self.steady),
                None,
            )
            .expect("process failed");
        self.steady += block as u64;
        for c in 0..ch {
            output[c][offset..offset + block].copy_from_slice(&self.out_bufs[c][..block]);
        }
        for (dst, src) in aux.iter_mut().zip(&self.aux_out_bufs) {
            for (d, s) in dst.iter_mut().zip(src) {
                d[offset..offset + block].copy_from_slice(&s[..block]);
            }
        }
    }

    /// Processes all of `input` (one `Vec` per channel) in blocks following `pattern`
    /// cyclically; returns the output.
    pub fn process(&mut self, input: &[Vec<f32>], pattern: &[usize]) -> Vec<Vec<f32>> {
        let len = input[0].len();
        let mut output = vec![vec![0.0f32; len]; self.channels];
        let mut offset = 0;
        for b in block_plan(len, pattern) {
            self.process_block(input, &mut output, offset, b);
            offset += b;
        }
        output
    }

    /// [`Self::process`], also returning the auxiliary output ports
    /// (`[port][channel][sample]`; empty without auxiliary outputs).
    pub fn process_with_aux(
        &mut self,
        input: &[Vec<f32>],
        pattern: &[usize],
    ) -> (Vec<Vec<f32>>, Vec<Vec<Vec<f32>>>) {
        let len = input[0].len();
        let mut output = vec![vec![0.0f32; len]; self.channels];
        let mut aux: Vec<Vec<Vec<f32>>> =
            self.aux_out_bufs.iter().map(|p| vec![vec![0.0f32; len]; p.len()]).collect();
        let mut offset = 0;
        for b in block_plan(len, pattern) {
            self.process_block_with_aux(input, &mut output, &mut aux, offset, b);
            offset += b;
        }
        (output, aux)
    }
}

impl Default for Instance {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.deactivate();
    }
}

/// Energy-ratio helpers and synthetic signals.
pub mod signal {
    /// Deterministic white noise in [-1, 1) (xorshift).
    pub struct Noise(u64);

    impl Noise {
        /// A generator with a seed.
        pub fn new(seed: u64) -> Self {
            Noise(seed.max(1))
        }
        /// Next sample.
        pub fn sample(&mut self) -> f32 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
    }

    /// Four synthetic stereo stems `[stem][channel][sample]` in engine order
    /// (vocals, drums, bass, other).
    pub fn synthetic_stems(sr: f32, len: usize) -> [[Vec<f32>; 2]; 4] {
        let tau = std::f32::consts::TAU;
        let mut noise = Noise::new(0x5eed);
        // Vocals: centre-panned harmonic tone at 220 Hz with 5.5 Hz vibrato, 8 harmonics.
        let mut vocal = vec![0.0f32; len];
        let mut phase = 0.0f32;
        for (i, v) in vocal.iter_mut().enumerate() {
            let t = i as f32 / sr;
            let f0 = 220.0 * (1.0 + 0.02 * (tau * 5.5 * t).sin());
            phase = (phase + tau * f0 / sr) % tau;
            let mut s = 0.0;
            for h in 1..=8 {
                s += (phase * h as f32).sin() / h as f32;
            }
            // Syllable envelope (2 Hz).
            let env = 0.6 + 0.4 * (tau * 2.0 * t).sin().abs();
            *v = 0.12 * s * env;
        }
        // Drums: noise bursts every 250 ms, 40 ms exponential decay, slightly different per side.
        let mut drums = [vec![0.0f32; len], vec![0.0f32; len]];
        let period = (0.25 * sr) as usize;
        for i in 0..len {
            let k = i % period;
            let env = (-(k as f32) / (0.03 * sr)).exp();
            let n = noise.sample();
            drums[0][i] = 0.8 * env * n;
            drums[1][i] = 0.8 * env * (0.8 * n + 0.2 * noise.sample());
        }
        // Bass: 55 Hz sine, centre.
        let bass: Vec<f32> = (0..len).map(|i| 0.15 * (tau * 55.0 * i as f32 / sr).sin()).collect();
        // Other: side-panned sustained chord (C major, 3 voices), left and right in antiphase.
        let mut other = [vec![0.0f32; len], vec![0.0f32; len]];
        for i in 0..len {
            let t = i as f32 / sr;
            let c = (tau * 523.25 * t).sin() + (tau * 659.25 * t).sin() + (tau * 783.99 * t).sin();
            other[0][i] = 0.08 * c;
            other[1][i] = -0.08 * c + 0.03 * (tau * 1046.5 * t).sin();
        }
        [[vocal.clone(), vocal], drums, [bass.clone(), bass], other]
    }

    /// Sum of stems.
    pub fn mix(stems: &[[Vec<f32>; 2]; 4]) -> Vec<Vec<f32>> {
        let len = stems[0][0].len();
        (0..2).map(|c| (0..len).map(|i| stems.iter().map(|s| s[c][i]).sum()).collect()).collect()
    }

    /// Energy of the projection of `y` onto `reference` (least-squares gain² · energy of the
    /// reference), summed over channels, over `range`.
    pub fn projected_energy(
        y: &[Vec<f32>],
        reference: &[Vec<f32>],
        range: std::ops::Range<usize>,
    ) -> f64 {
        let mut total = 0.0;
        for c in 0..y.len() {
            let (mut xy, mut xx) = (0.0f64, 0.0f64);
            for i in range.clone() {
                xy += y[c][i] as f64 * reference[c][i] as f64;
                xx += (reference[c][i] as f64).powi(2);
            }
            if xx > 0.0 {
                total += xy * xy / xx;
            }
        }
        total
    }

    /// Largest sample-to-sample difference over all channels within `range`.
    pub fn max_jump(y: &[Vec<f32>], range: std::ops::Range<usize>) -> f32 {
        let start = range.start.max(1);
        y.iter()
            .map(|c| {
                (start..range.end.min(c.len()))
                    .map(|i| (c[i] - c[i - 1]).abs())
                    .fold(0.0f32, f32::max)
            })
            .fold(0.0, f32::max)
    }

    /// Energy summed over channels over `range`.
    pub fn energy(y: &[Vec<f32>], range: std::ops::Range<usize>) -> f64 {
        y.iter().map(|c| c[range.clone()].iter().map(|&v| (v as f64).powi(2)).sum::<f64>()).sum()
    }

    /// `x` delayed by `d` samples (zeros shifted in).
    pub fn delayed(x: &[Vec<f32>], d: usize) -> Vec<Vec<f32>> {
        x.iter()
            .map(|c| {
                let mut o = vec![0.0; c.len()];
                if d < c.len() {
                    o[d..].copy_from_slice(&c[..c.len() - d]);
                }
                o
            })
            .collect()
    }

    /// Error of `y` against `reference` in dB relative to the reference's energy, over `range`.
    pub fn error_db(y: &[Vec<f32>], reference: &[Vec<f32>], range: std::ops::Range<usize>) -> f64 {
        let (mut err, mut sig) = (0.0f64, 0.0f64);
        for c in 0..y.len() {
            for i in range.clone() {
                err += (y[c][i] as f64 - reference[c][i] as f64).powi(2);
                sig += (reference[c][i] as f64).powi(2);
            }
        }
        10.0 * (err.max(1e-300) / sig.max(1e-300)).log10()
    }
}
