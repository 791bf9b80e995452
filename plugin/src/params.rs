//! Host-visible parameters and persisted editor state.
//!
//! Parameter IDs are part of saved projects and automation: never rename them.
//! Per stem (`vocals`, `drums`, `bass`, `other`): `<stem>_gain`, `<stem>_mute`, `<stem>_solo`.
//! Global: `bypass` (linked to the host's bypass), `mix` (dry/wet), `engine`.

use std::sync::{Arc, RwLock};

use demix_engine::mixer::MixSettings;
use demix_engine::separator::{N_STEMS, STEM_NAMES};
use demix_engine::status::EngineKind;
use nice_plug::prelude::*;
use serde::{Deserialize, Serialize};

/// Bottom of the gain faders in dB; this value means -inf (silence).
pub const GAIN_FLOOR_DB: f32 = -60.0;
/// Top of the gain faders in dB.
pub const GAIN_MAX_DB: f32 = 12.0;

/// Display names of the stems, in engine order.
pub const STEM_LABELS: [&str; N_STEMS] = ["Vocals", "Drums", "Bass", "Other"];

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

/// Editor preferences saved with the plugin state (not automatable, not parameters).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EditorPrefs {
    /// Whether the engine details panel (load, hops, faults) is expanded.
    pub show_details: bool,
}

impl Default for EditorPrefs {
    fn default() -> Self {
        EditorPrefs { show_details: true }
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

/// Formats a fader value: "-inf" at the floor, otherwise one decimal.
pub fn format_gain_db(db: f32) -> String {
    if db <= GAIN_FLOOR_DB {
        "-inf".to_string()
    } else {
        format!("{db:+.1}")
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
}

impl Default for DemixParams {
    fn default() -> Self {
        debug_assert_eq!(STEM_NAMES, ["vocals", "drums", "bass", "other"]);
        DemixParams {
            editor_prefs: Arc::new(RwLock::new(EditorPrefs::default())),
            vocals: StemParams::new(STEM_LABELS[0]),
            drums: StemParams::new(STEM_LABELS[1]),
            bass: StemParams::new(STEM_LABELS[2]),
            other: StemParams::new(STEM_LABELS[3]),
            bypass: BoolParam::new("Bypass", false)
                .with_value_to_string(formatters::v2s_bool_bypass())
                .with_string_to_value(formatters::s2v_bool_bypass())
                .make_bypass(),
            mix: FloatParam::new("Dry/Wet", 1.0, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_unit("%")
                .with_value_to_string(formatters::v2s_f32_percentage(0))
                .with_string_to_value(formatters::s2v_f32_percentage()),
            engine: EnumParam::new("Engine", EngineChoice::Neural),
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
        m
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
    }
}
