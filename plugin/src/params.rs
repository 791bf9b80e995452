//! Host-visible parameters and persisted editor state.
//!
//! Parameter IDs are part of saved projects and automation: never rename them.
//! Per stem (`vocals`, `drums`, `bass`, `other`): `<stem>_gain`, `<stem>_mute`, `<stem>_solo`.
//! Global: `bypass` (linked to the host's bypass), `mix` (dry/wet), `engine`, `mode`,
//! `transition`.
//! Separation ("Separation" group): `bleed_artifacts`, `vocal_coherent`, `stereo_refine`, `bass_mono`,
//! `bass_mono_hz`.
//! Vocal post-chain ("Vocal Post-chain" group): `deess_on`, `deess_freq`, `deess_thresh`,
//! `deess_ratio`, `gate_on`, `gate_thresh`, `gate_range`, `gate_attack`, `gate_hold`,
//! `gate_release`.
//!
//! States saved before a parameter existed load with that parameter at its default, and every
//! default leaves the sound as it was (mode Custom = mute/solo decide, shaping neutral), except
//! `stereo_refine`: on by default, it is part of the separation, as the model is.

use std::sync::{Arc, RwLock};

use demix_engine::audio_thread::mixer::{MixSettings, Mode, DEFAULT_TRANSITION_MS};
use demix_engine::dsp::postfx::{DeEsserSettings, GateSettings};
use demix_engine::dsp::shaping::ShapingSettings;
use demix_engine::dsp::stft::Latency;
use demix_engine::stem::{Stem, N_STEMS, STEM_NAMES};
use demix_engine::sync::status::EngineKind;
use nice_plug::prelude::*;
use serde::{Deserialize, Serialize};

/// Bottom of the gain faders in dB; this value means -inf (silence).
pub const GAIN_FLOOR_DB: f32 = -60.0;
/// Top of the gain faders in dB.
pub const GAIN_MAX_DB: f32 = 12.0;

/// Range of the Transition parameter in ms.
pub const TRANSITION_RANGE_MS: (f32, f32) = (20.0, 500.0);
/// Default Transition in ms.
pub const TRANSITION_DEFAULT_MS: f32 = DEFAULT_TRANSITION_MS;

pub use demix_engine::stem::STEM_LABELS;

/// Which separator the user asked for.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    /// The neural model (falls back to Classic with a message while no model is available).
    #[id = "neural"]
    #[name = "Neural"]
    Neural,
    /// The classical DSP separator.
    #[id = "classic"]
    #[name = "Classic (no model)"]
    Classic,
}

impl EngineChoice {
    /// The engine kind to request from the worker.
    pub fn kind(self) -> EngineKind {
        match self {
            EngineChoice::Neural => EngineKind::Neural,
            EngineChoice::Classic => EngineKind::Classic,
        }
    }
}

/// The latency the user picks (the STFT's window pair and hop; see `dsp::stft::Latency`).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyChoice {
    /// The model's native frame rate (29 ms at 44.1 kHz with blocks up to 256).
    #[id = "standard"]
    #[name = "Standard"]
    Standard,
    /// Asymmetric windows at half the hop (11.6 ms at 44.1 kHz with blocks up to 256), at twice
    /// the worker's CPU.
    #[id = "low"]
    #[name = "Low"]
    Low,
}

impl LatencyChoice {
    /// Both, in GUI order.
    pub const ALL: [LatencyChoice; 2] = [LatencyChoice::Standard, LatencyChoice::Low];

    /// The engine's latency.
    pub fn latency(self) -> Latency {
        match self {
            LatencyChoice::Standard => Latency::Standard,
            LatencyChoice::Low => Latency::Low,
        }
    }
}

/// Which stems play: the performance presets (host-automatable, MIDI-mappable). The order is
/// the host's step order and part of saved automation: only append.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChoice {
    /// Every stem.
    #[id = "full"]
    #[name = "Full mix"]
    FullMix,
    /// Vocals only.
    #[id = "acapella"]
    #[name = "Acapella"]
    Acapella,
    /// Everything but the vocals.
    #[id = "instrumental"]
    #[name = "Instrumental"]
    Instrumental,
    /// Everything but the drums.
    #[id = "drumless"]
    #[name = "Drumless"]
    Drumless,
    /// Everything but the bass.
    #[id = "bassless"]
    #[name = "Bassless"]
    Bassless,
    /// Drums and bass.
    #[id = "rhythm"]
    #[name = "Drums+Bass"]
    Rhythm,
    /// Mute and solo buttons decide.
    #[id = "custom"]
    #[name = "Custom"]
    Custom,
}

impl ModeChoice {
    /// All modes in GUI (and host step) order.
    pub const ALL: [ModeChoice; 7] = [
        ModeChoice::FullMix,
        ModeChoice::Acapella,
        ModeChoice::Instrumental,
        ModeChoice::Drumless,
        ModeChoice::Bassless,
        ModeChoice::Rhythm,
        ModeChoice::Custom,
    ];

    /// The engine's mode.
    pub fn mode(self) -> Mode {
        match self {
            ModeChoice::FullMix => Mode::FullMix,
            ModeChoice::Acapella => Mode::Acapella,
            ModeChoice::Instrumental => Mode::Instrumental,
            ModeChoice::Drumless => Mode::Drumless,
            ModeChoice::Bassless => Mode::Bassless,
            ModeChoice::Rhythm => Mode::Rhythm,
            ModeChoice::Custom => Mode::Custom,
        }
    }
}

/// Default editor size in logical pixels.
pub const EDITOR_DEFAULT_SIZE: (f32, f32) = (900.0, 640.0);
/// Smallest editor size in logical pixels.
pub const EDITOR_MIN_SIZE: (f32, f32) = (760.0, 560.0);
/// Largest editor size in logical pixels (a sanity bound for corrupt states).
pub const EDITOR_MAX_SIZE: (f32, f32) = (3840.0, 2400.0);

/// Editor preferences saved with the plugin state (not automatable, not parameters).
/// Fields added later have serde defaults, so older states still load.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct EditorPrefs {
    /// Whether the engine details panel (load, hops, faults) is expanded.
    pub show_details: bool,
    /// Editor width in logical pixels, as the user last left it.
    pub width: f32,
    /// Editor height in logical pixels, as the user last left it.
    pub height: f32,
}

impl Default for EditorPrefs {
    fn default() -> Self {
        EditorPrefs {
            show_details: true,
            width: EDITOR_DEFAULT_SIZE.0,
            height: EDITOR_DEFAULT_SIZE.1,
        }
    }
}

impl EditorPrefs {
    /// The remembered editor size, clamped to the allowed range (defaults for junk values).
    pub fn size(&self) -> (f32, f32) {
        let fix = |v: f32, d: f32, lo: f32, hi: f32| {
            if v.is_finite() && v > 0.0 {
                v.clamp(lo, hi)
            } else {
                d
            }
        };
        (
            fix(self.width, EDITOR_DEFAULT_SIZE.0, EDITOR_MIN_SIZE.0, EDITOR_MAX_SIZE.0),
            fix(self.height, EDITOR_DEFAULT_SIZE.1, EDITOR_MIN_SIZE.1, EDITOR_MAX_SIZE.1),
        )
    }
}

/// Gain, mute and solo of one stem.
#[derive(Params)]
pub struct StemParams {
    /// Stem gain in dB; [`GAIN_FLOOR_DB`] means -inf.
    #[id = "gain"]
    pub gain_db: FloatParam,
    /// Stem mute.
    #[id = "mute"]
    pub mute: BoolParam,
    /// Stem solo.
    #[id = "solo"]
    pub solo: BoolParam,
}

/// Formats a fader value: "-inf" at the floor, otherwise one decimal ("+0.0", never "-0.0").
pub fn format_gain_db(db: f32) -> String {
    if db <= GAIN_FLOOR_DB {
        "-inf".to_string()
    } else {
        format!("{:+.1}", no_negative_zero_1dp(db))
    }
}

/// `v`, or `0.0` where one decimal would print it as "-0.0" (-0.05 < v <= -0.0). "-0.0" parses
/// back to a value that prints "0.0", which breaks the hosts' value -> text -> value round trip.
fn no_negative_zero_1dp(v: f32) -> f32 {
    if v.abs() < 0.05 {
        0.0
    } else {
        v
    }
}

/// Parses "-inf", "-6", "-6 dB", "+3.5dB" (case-insensitive) into a fader value.
pub fn parse_gain_db(s: &str) -> Option<f32> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix("db").unwrap_or(&t).trim();
    if t == "-∞" {
        return Some(GAIN_FLOOR_DB);
    }
    // Rust's float parser also accepts "-inf"/"inf"/"nan".
    let v: f32 = t.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    Some(v.clamp(GAIN_FLOOR_DB, GAIN_MAX_DB))
}

/// Fader value (dB) to the engine's gain in dB (`-inf` at the floor).
pub fn fader_to_engine_db(db: f32) -> f32 {
    if db <= GAIN_FLOOR_DB || db.is_nan() {
        f32::NEG_INFINITY
    } else {
        db
    }
}

/// The number at the start of `s` (after trimming), ignoring any unit or words after it.
fn leading_number(s: &str) -> Option<f32> {
    let t = s.trim();
    let end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || ((c == '-' || c == '+') && i == 0)))
        .map_or(t.len(), |(i, _)| i);
    let v: f32 = t[..end].parse().ok()?;
    v.is_finite().then_some(v)
}

/// "Bleed/Artifacts" display: "-40 % (bleed)", "0 % (neutral)", "+25 % (artifacts)".
pub fn format_bleed_artifacts(v: f32) -> String {
    let r = v.round();
    if r == 0.0 {
        "0 % (neutral)".to_string()
    } else if r < 0.0 {
        format!("{r:.0} % (bleed)")
    } else {
        format!("+{r:.0} % (artifacts)")
    }
}

/// Formats a time in ms: one decimal below 10 ms, none above.
pub fn format_ms(v: f32) -> String {
    if v < 9.95 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// Formats a level or attenuation in dB with one decimal ("0.0 dB", never "-0.0 dB").
pub fn format_db(v: f32) -> String {
    format!("{:.1} dB", no_negative_zero_1dp(v))
}

/// "On" / "Bypassed" for the post-chain stage switches.
fn format_on_bypassed(on: bool) -> String {
    if on { "On" } else { "Bypassed" }.to_string()
}

fn parse_on_bypassed(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "1" | "true" | "enabled" => Some(true),
        "off" | "bypassed" | "bypass" | "0" | "false" | "disabled" => Some(false),
        _ => None,
    }
}

fn on_off(on: bool) -> String {
    if on { "On" } else { "Off" }.to_string()
}

fn parse_on_off(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "1" | "true" => Some(true),
        "off" | "0" | "false" => Some(false),
        _ => None,
    }
}

/// A parameter's range, stated once: the host parameter is built from it, and the value read
/// back for the engine is clamped to it.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// Lowest value.
    pub min: f32,
    /// Highest value.
    pub max: f32,
    /// `FloatRange::skew_factor` argument; 0 = linear.
    pub skew: f32,
}

impl Span {
    const fn linear(min: f32, max: f32) -> Self {
        Span { min, max, skew: 0.0 }
    }

    const fn skewed(min: f32, max: f32, skew: f32) -> Self {
        Span { min, max, skew }
    }

    /// The host-facing range.
    pub fn range(self) -> FloatRange {
        if self.skew == 0.0 {
            FloatRange::Linear { min: self.min, max: self.max }
        } else {
            FloatRange::Skewed {
                min: self.min,
                max: self.max,
                factor: FloatRange::skew_factor(self.skew),
            }
        }
    }

    /// `p`'s value clamped to the span; a non-finite value gives the parameter's default.
    pub fn read(self, p: &FloatParam) -> f32 {
        let x = p.value();
        if x.is_finite() {
            x.clamp(self.min, self.max)
        } else {
            p.default_plain_value()
        }
    }
}

/// Bleed/Artifacts, in % (-100 = softest masks, +100 = hardest).
pub const BLEED_ARTIFACTS_PCT: Span = Span::linear(-100.0, 100.0);
/// Bass Mono Below, in Hz.
pub const BASS_MONO_HZ: Span = Span::skewed(40.0, 300.0, -1.0);
/// De-esser Frequency, in Hz.
pub const DEESS_FREQ_HZ: Span = Span::skewed(4000.0, 10000.0, -0.5);
/// De-esser Threshold, in dBFS.
pub const DEESS_THRESHOLD_DB: Span = Span::linear(-60.0, 0.0);
/// De-esser Ratio (x:1).
pub const DEESS_RATIO: Span = Span::skewed(1.0, 10.0, -1.0);
/// Gate Threshold, in dBFS.
pub const GATE_THRESHOLD_DB: Span = Span::linear(-80.0, 0.0);
/// Gate Range, in dB.
pub const GATE_RANGE_DB: Span = Span::linear(0.0, 80.0);
/// Gate Attack, in ms.
pub const GATE_ATTACK_MS: Span = Span::skewed(0.1, 50.0, -1.5);
/// Gate Hold, in ms.
pub const GATE_HOLD_MS: Span = Span::skewed(0.0, 500.0, -1.0);
/// Gate Release, in ms.
pub const GATE_RELEASE_MS: Span = Span::skewed(5.0, 1000.0, -1.5);
/// Transition, in ms.
pub const TRANSITION_MS: Span = Span::skewed(TRANSITION_RANGE_MS.0, TRANSITION_RANGE_MS.1, -1.0);

/// A float parameter in some unit whose display already includes that unit.
fn unit_param(
    name: &str,
    default: f32,
    range: FloatRange,
    step: f32,
    fmt: fn(f32) -> String,
) -> FloatParam {
    FloatParam::new(name, default, range)
        .with_step_size(step)
        .with_value_to_string(Arc::new(fmt))
        .with_string_to_value(Arc::new(leading_number))
}

/// An on/off switch shown as "On"/"Off" (default off).
fn switch(name: &str) -> BoolParam {
    switch_default(name, false)
}

/// An on/off switch shown as "On"/"Off".
fn switch_default(name: &str, default: bool) -> BoolParam {
    BoolParam::new(name, default)
        .with_value_to_string(Arc::new(on_off))
        .with_string_to_value(Arc::new(parse_on_off))
}

/// A post-chain stage switch shown as "On"/"Bypassed" (default bypassed).
fn stage_switch(name: &str) -> BoolParam {
    BoolParam::new(name, false)
        .with_value_to_string(Arc::new(format_on_bypassed))
        .with_string_to_value(Arc::new(parse_on_bypassed))
}

/// Artifact controls: mask sharpness, coherent vocals, stereo refinement, low-end mono for the
/// bass stem.
#[derive(Params)]
pub struct SeparationParams {
    /// Mask sharpness in % (-100 soft/bleed … 0 neutral … +100 hard/artifacts).
    #[id = "bleed_artifacts"]
    pub bleed_artifacts: FloatParam,
    /// One mask for both channels of the vocal stem (less stereo swirl).
    #[id = "vocal_coherent"]
    pub vocal_coherent: BoolParam,
    /// Causal stereo Wiener refinement of the stems (default on; off with coherent vocals).
    #[id = "stereo_refine"]
    pub stereo_refine: BoolParam,
    /// Collapse the bass stem to mono below [`Self::bass_mono_hz`].
    #[id = "bass_mono"]
    pub bass_mono: BoolParam,
    /// Low-end mono crossover in Hz.
    #[id = "bass_mono_hz"]
    pub bass_mono_hz: FloatParam,
}

impl Default for SeparationParams {
    fn default() -> Self {
        SeparationParams {
            bleed_artifacts: FloatParam::new("Bleed/Artifacts", 0.0, BLEED_ARTIFACTS_PCT.range())
                .with_step_size(1.0)
                .with_value_to_string(Arc::new(format_bleed_artifacts))
                .with_string_to_value(Arc::new(leading_number)),
            vocal_coherent: switch("Coherent Vocals"),
            stereo_refine: switch_default("Stereo Refinement", true),
            bass_mono: switch("Bass Low-end Mono"),
            bass_mono_hz: FloatParam::new("Bass Mono Below", 120.0, BASS_MONO_HZ.range())
                .with_step_size(1.0)
                .with_value_to_string(formatters::v2s_f32_hz_then_khz(0))
                .with_string_to_value(formatters::s2v_f32_hz_then_khz()),
        }
    }
}

/// The vocal stem's post-chain: de-esser and gate / downward expander.
#[derive(Params)]
pub struct PostChainParams {
    /// De-esser on (false = bypassed).
    #[id = "deess_on"]
    pub deess_on: BoolParam,
    /// De-esser split frequency in Hz.
    #[id = "deess_freq"]
    pub deess_freq: FloatParam,
    /// De-esser threshold in dBFS.
    #[id = "deess_thresh"]
    pub deess_thresh: FloatParam,
    /// De-esser ratio (x:1).
    #[id = "deess_ratio"]
    pub deess_ratio: FloatParam,
    /// Gate on (false = bypassed).
    #[id = "gate_on"]
    pub gate_on: BoolParam,
    /// Gate threshold in dBFS.
    #[id = "gate_thresh"]
    pub gate_thresh: FloatParam,
    /// Gate range (attenuation below the threshold) in dB.
    #[id = "gate_range"]
    pub gate_range: FloatParam,
    /// Gate attack in ms.
    #[id = "gate_attack"]
    pub gate_attack: FloatParam,
    /// Gate hold in ms.
    #[id = "gate_hold"]
    pub gate_hold: FloatParam,
    /// Gate release in ms.
    #[id = "gate_release"]
    pub gate_release: FloatParam,
}

impl Default for PostChainParams {
    fn default() -> Self {
        let de = DeEsserSettings::default();
        let g = GateSettings::default();
        PostChainParams {
            deess_on: stage_switch("De-esser"),
            deess_freq: FloatParam::new(
                "De-esser Frequency",
                de.frequency_hz,
                DEESS_FREQ_HZ.range(),
            )
            .with_step_size(10.0)
            .with_value_to_string(formatters::v2s_f32_hz_then_khz(1))
            .with_string_to_value(formatters::s2v_f32_hz_then_khz()),
            deess_thresh: unit_param(
                "De-esser Threshold",
                de.threshold_db,
                DEESS_THRESHOLD_DB.range(),
                0.1,
                format_db,
            ),
            deess_ratio: FloatParam::new("De-esser Ratio", de.ratio, DEESS_RATIO.range())
                .with_step_size(0.1)
                .with_value_to_string(formatters::v2s_compression_ratio(1))
                .with_string_to_value(formatters::s2v_compression_ratio()),
            gate_on: stage_switch("Gate"),
            gate_thresh: unit_param(
                "Gate Threshold",
                g.threshold_db,
                GATE_THRESHOLD_DB.range(),
                0.1,
                format_db,
            ),
            gate_range: unit_param("Gate Range", g.range_db, GATE_RANGE_DB.range(), 0.1, format_db),
            gate_attack: unit_param(
                "Gate Attack",
                g.attack_ms,
                GATE_ATTACK_MS.range(),
                0.1,
                format_ms,
            ),
            gate_hold: unit_param("Gate Hold", g.hold_ms, GATE_HOLD_MS.range(), 1.0, format_ms),
            gate_release: unit_param(
                "Gate Release",
                g.release_ms,
                GATE_RELEASE_MS.range(),
                1.0,
                format_ms,
            ),
        }
    }
}

impl StemParams {
    fn new(label: &str) -> Self {
        StemParams {
            gain_db: FloatParam::new(
                format!("{label} Gain"),
                0.0,
                FloatRange::Linear { min: GAIN_FLOOR_DB, max: GAIN_MAX_DB },
            )
            .with_step_size(0.1)
            .with_unit(" dB")
            .with_value_to_string(Arc::new(format_gain_db))
            .with_string_to_value(Arc::new(parse_gain_db)),
            mute: BoolParam::new(format!("{label} Mute"), false),
            solo: BoolParam::new(format!("{label} Solo"), false),
        }
    }
}

/// All of demix's parameters.
#[derive(Params)]
pub struct DemixParams {
    /// Editor preferences (persisted with the plugin state).
    #[persist = "editor-prefs"]
    pub editor_prefs: Arc<RwLock<EditorPrefs>>,

    /// Vocals stem.
    #[nested(id_prefix = "vocals", group = "Vocals")]
    pub vocals: StemParams,
    /// Drums stem.
    #[nested(id_prefix = "drums", group = "Drums")]
    pub drums: StemParams,
    /// Bass stem.
    #[nested(id_prefix = "bass", group = "Bass")]
    pub bass: StemParams,
    /// Everything else.
    #[nested(id_prefix = "other", group = "Other")]
    pub other: StemParams,

    /// Global bypass, linked to the host's bypass control. Outputs the dry signal delayed by the
    /// reported latency, so the host's delay compensation stays valid.
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// Dry/wet: share of the separated mix in the output, 0 … 1.
    #[id = "mix"]
    pub mix: FloatParam,
    /// Separator selection.
    #[id = "engine"]
    pub engine: EnumParam<EngineChoice>,
    /// Latency (Standard / Low). Changing it changes the latency reported to the host.
    #[id = "latency"]
    pub latency: EnumParam<LatencyChoice>,
    /// Performance mode (which stems play; Custom = mute/solo decide).
    #[id = "mode"]
    pub mode: EnumParam<ModeChoice>,
    /// Crossfade time of mode, mute and solo changes, in ms.
    #[id = "transition"]
    pub transition_ms: FloatParam,

    /// Artifact controls.
    #[nested(group = "Separation")]
    pub separation: SeparationParams,
    /// Vocal post-chain.
    #[nested(group = "Vocal Post-chain")]
    pub post: PostChainParams,
}

impl Default for DemixParams {
    fn default() -> Self {
        debug_assert_eq!(STEM_NAMES, ["vocals", "drums", "bass", "other"]);
        DemixParams {
            editor_prefs: Arc::new(RwLock::new(EditorPrefs::default())),
            vocals: StemParams::new(Stem::Vocals.label()),
            drums: StemParams::new(Stem::Drums.label()),
            bass: StemParams::new(Stem::Bass.label()),
            other: StemParams::new(Stem::Other.label()),
            bypass: BoolParam::new("Bypass", false)
                .with_value_to_string(formatters::v2s_bool_bypass())
                .with_string_to_value(formatters::s2v_bool_bypass())
                .make_bypass(),
            mix: FloatParam::new("Dry/Wet", 1.0, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_unit("%")
                .with_value_to_string(formatters::v2s_f32_percentage(0))
                .with_string_to_value(formatters::s2v_f32_percentage()),
            engine: EnumParam::new("Engine", EngineChoice::Neural),
            latency: EnumParam::new("Latency", LatencyChoice::Standard),
            mode: EnumParam::new("Mode", ModeChoice::Custom),
            transition_ms: unit_param(
                "Transition",
                TRANSITION_DEFAULT_MS,
                TRANSITION_MS.range(),
                1.0,
                format_ms,
            ),
            separation: SeparationParams::default(),
            post: PostChainParams::default(),
        }
    }
}

impl DemixParams {
    /// The stems' parameters in engine order ([`STEM_NAMES`]).
    pub fn stems(&self) -> [&StemParams; N_STEMS] {
        [&self.vocals, &self.drums, &self.bass, &self.other]
    }

    /// Current values as engine mix settings (allocation-free; called once per block).
    pub fn mix_settings(&self) -> MixSettings {
        let stems = self.stems();
        let mut m = MixSettings::default();
        for (s, p) in stems.iter().enumerate() {
            m.stem_gain_db[s] = fader_to_engine_db(p.gain_db.value());
            m.mute[s] = p.mute.value();
            m.solo[s] = p.solo.value();
        }
        let wet = self.mix.value();
        m.wet = if wet.is_finite() { wet.clamp(0.0, 1.0) } else { 1.0 };
        m.bypass = self.bypass.value();
        m.mode = self.mode.value().mode();
        m.transition_ms = TRANSITION_MS.read(&self.transition_ms);
        m
    }

    /// Current values as the engine's shaping settings (allocation-free; called once per block).
    /// Non-finite values fall back to the defaults; everything is clamped to the parameter ranges.
    pub fn shaping_settings(&self) -> ShapingSettings {
        let sep = &self.separation;
        let post = &self.post;
        ShapingSettings {
            bleed_artifacts: BLEED_ARTIFACTS_PCT.read(&sep.bleed_artifacts) / 100.0,
            vocal_coherent_stereo: sep.vocal_coherent.value(),
            stereo_refine: sep.stereo_refine.value(),
            bass_mono_below_hz: if sep.bass_mono.value() {
                BASS_MONO_HZ.read(&sep.bass_mono_hz)
            } else {
                0.0
            },
            deesser: DeEsserSettings {
                enabled: post.deess_on.value(),
                frequency_hz: DEESS_FREQ_HZ.read(&post.deess_freq),
                threshold_db: DEESS_THRESHOLD_DB.read(&post.deess_thresh),
                ratio: DEESS_RATIO.read(&post.deess_ratio),
            },
            gate: GateSettings {
                enabled: post.gate_on.value(),
                threshold_db: GATE_THRESHOLD_DB.read(&post.gate_thresh),
                range_db: GATE_RANGE_DB.read(&post.gate_range),
                attack_ms: GATE_ATTACK_MS.read(&post.gate_attack),
                hold_ms: GATE_HOLD_MS.read(&post.gate_hold),
                release_ms: GATE_RELEASE_MS.read(&post.gate_release),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_text_round_trips() {
        assert_eq!(format_gain_db(GAIN_FLOOR_DB), "-inf");
        assert_eq!(format_gain_db(0.0), "+0.0");
        assert_eq!(parse_gain_db("-inf"), Some(GAIN_FLOOR_DB));
        assert_eq!(parse_gain_db("-inf dB"), Some(GAIN_FLOOR_DB));
        assert_eq!(parse_gain_db("-6 dB"), Some(-6.0));
        assert_eq!(parse_gain_db("+3.5dB"), Some(3.5));
        assert_eq!(parse_gain_db("40"), Some(GAIN_MAX_DB));
        assert_eq!(parse_gain_db("abc"), None);
        assert_eq!(fader_to_engine_db(GAIN_FLOOR_DB), f32::NEG_INFINITY);
        assert_eq!(fader_to_engine_db(-12.0), -12.0);
    }

    #[test]
    fn defaults_are_unity() {
        let p = DemixParams::default();
        assert_eq!(p.mix_settings(), MixSettings::default());
        assert_eq!(p.engine.value(), EngineChoice::Neural);
        // Every shaping default is the engine's neutral default (stems still sum to the input).
        assert_eq!(p.shaping_settings(), ShapingSettings::default());
        assert_eq!(p.mode.value(), ModeChoice::Custom);
    }

    #[test]
    fn modes_map_to_the_engine_in_gui_order() {
        let engine: Vec<Mode> = ModeChoice::ALL.iter().map(|m| m.mode()).collect();
        assert_eq!(engine, Mode::ALL.to_vec());
        for m in ModeChoice::ALL {
            assert_eq!(
                ModeChoice::variants()[m.to_index()],
                m.mode().label(),
                "host name of {m:?}"
            );
        }
    }

    #[test]
    fn unit_texts() {
        assert_eq!(format_bleed_artifacts(0.2), "0 % (neutral)");
        assert_eq!(format_bleed_artifacts(-40.0), "-40 % (bleed)");
        assert_eq!(format_bleed_artifacts(25.0), "+25 % (artifacts)");
        assert_eq!(leading_number("+25 % (artifacts)"), Some(25.0));
        assert_eq!(leading_number("-40 % (bleed)"), Some(-40.0));
        assert_eq!(leading_number("12.5 ms"), Some(12.5));
        assert_eq!(leading_number("ms"), None);
        assert_eq!(format_ms(1.0), "1.0 ms");
        assert_eq!(format_ms(150.0), "150 ms");
        assert_eq!(format_db(-45.0), "-45.0 dB");
        let p = DemixParams::default();
        assert_eq!(p.transition_ms.to_string(), "50 ms");
        assert_eq!(p.post.deess_freq.to_string(), "6.0 kHz");
        assert_eq!(p.post.deess_ratio.to_string(), "4.0:1");
        assert_eq!(p.post.gate_on.to_string(), "Bypassed");
        assert_eq!(p.separation.bass_mono_hz.to_string(), "120 Hz");
    }

    /// Found by clap-validator's fuzzer: "-0.02 dB" printed as "-0.0 dB", which parses back to
    /// 0 dB and prints "+0.0"/"0.0 dB", so value -> text -> value -> text did not round-trip.
    /// Sweeps every parameter through the conversions the CLAP wrapper uses for
    /// `value_to_text`/`text_to_value` and asks for the same text twice.
    #[test]
    fn every_parameter_text_round_trips() {
        assert_eq!(format_gain_db(-0.02), "+0.0");
        assert_eq!(format_db(-0.04), "0.0 dB");
        assert_eq!(format_db(-0.05), "-0.1 dB");
        let p = DemixParams::default();
        let mut checked = 0;
        for (id, ptr, _) in p.param_map() {
            // SAFETY: `ptr` points into `p`, which outlives this loop.
            let steps = unsafe { ptr.step_count() };
            let points = steps.unwrap_or(20_000);
            for k in 0..=points {
                let normalized = k as f32 / points as f32;
                let text = unsafe { ptr.normalized_value_to_string(normalized, true) };
                let back = unsafe { ptr.string_to_normalized_value(&text) }
                    .unwrap_or_else(|| panic!("{id}: {text:?} (from {normalized}) does not parse"));
                let again = unsafe { ptr.normalized_value_to_string(back, true) };
                assert_eq!(text, again, "{id}: {normalized} -> {text:?} -> {back} -> {again:?}");
                checked += 1;
            }
        }
        assert!(checked > 10 * 20_000, "only {checked} values checked");
    }

    #[test]
    fn editor_size_is_sane() {
        assert_eq!(EditorPrefs::default().size(), EDITOR_DEFAULT_SIZE);
        let junk = EditorPrefs { show_details: true, width: f32::NAN, height: 1e9 };
        assert_eq!(junk.size(), (EDITOR_DEFAULT_SIZE.0, EDITOR_MAX_SIZE.1));
    }
}
