//! The egui editor: mode buttons with the transition time, four stem strips (name, colour,
//! fader with dB readout, mute, solo, level meter), the artifact controls and the vocal
//! post-chain, global bypass / dry-wet / engine, and the engine's status (latency, underruns,
//! worker load, engine in use, model name or error banner).
//!
//! Resizable (host handle or the corner grip); the size is remembered in the persisted
//! [`EditorPrefs`](crate::params::EditorPrefs) and restored when the editor opens.
//!
//! Runs on the GUI thread only: it reads the engine's atomics and its message mutex, and
//! changes parameters through the host (`ParamSetter`) so automation and undo see them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use demix_engine::dsp::db::amplitude_to_db;
use demix_engine::stem::N_STEMS;
use demix_engine::sync::notice::{EngineNotice, Severity};
use demix_engine::sync::status::EngineKind;
use egui::{Align, Color32, CornerRadius, Layout, RichText, Sense, Stroke, StrokeKind, Vec2};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::editor::ResizeHint;
use nice_plug::prelude::*;
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp,
    RepaintNotifier,
};

use crate::params::{
    format_gain_db, DemixParams, EngineChoice, LatencyChoice, ModeChoice, EDITOR_DEFAULT_SIZE,
    EDITOR_MAX_SIZE, EDITOR_MIN_SIZE, GAIN_FLOOR_DB, GAIN_MAX_DB, STEM_LABELS,
};
use crate::Shared;

/// The editor type exported to the host.
pub type DemixEditor = EguiEditor<DemixApp>;

/// Stem colours, in engine order.
const STEM_COLOURS: [Color32; N_STEMS] = [
    Color32::from_rgb(0xE8, 0x6A, 0x92), // vocals
    Color32::from_rgb(0xF2, 0xB1, 0x34), // drums
    Color32::from_rgb(0x4F, 0x9D, 0xDE), // bass
    Color32::from_rgb(0x6B, 0xC4, 0x7A), // other
];

/// Meter range in dBFS.
const METER_FLOOR_DB: f32 = -60.0;
const METER_TOP_DB: f32 = 6.0;
/// Meter fall per GUI frame, in dB.
const METER_FALL_DB: f32 = 1.5;

/// Height of the fader and meters in a stem strip.
const FADER_HEIGHT: f32 = 300.0;
/// Width of the label column in the control grids.
const LABEL_WIDTH: f32 = 74.0;

/// Builds the editor (called once per plugin instance, before any state is loaded; the
/// remembered size is applied when the editor opens).
pub fn create(params: Arc<DemixParams>, shared: Arc<Shared>) -> Option<DemixEditor> {
    let notifier = RepaintNotifier::new();
    let (w, h) = params.editor_prefs.read().map(|p| p.size()).unwrap_or(EDITOR_DEFAULT_SIZE);
    create_egui_editor(
        EguiEditorState::from_size(LogicalSize::new(w as f64, h as f64), 1.0),
        notifier.clone(),
        EguiNiceSettings::new()
            .with_tile("demix")
            .with_resize_hint(ResizeHint::resizable().with_min_max_logical_size(
                Some(LogicalSize::new(EDITOR_MIN_SIZE.0, EDITOR_MIN_SIZE.1)),
                Some(LogicalSize::new(EDITOR_MAX_SIZE.0, EDITOR_MAX_SIZE.1)),
            ))
            .with_repaint_poll_interval(Duration::from_millis(33)),
        DemixApp {
            params,
            shared,
            notifier,
            gui: None,
            meters_db: [METER_FLOOR_DB; N_STEMS],
            out_db: METER_FLOOR_DB,
            size_restored: false,
        },
    )
}

/// The editor's state.
pub struct DemixApp {
    params: Arc<DemixParams>,
    shared: Arc<Shared>,
    notifier: RepaintNotifier,
    gui: Option<GuiContext>,
    meters_db: [f32; N_STEMS],
    out_db: f32,
    /// Whether the remembered size was applied since the editor opened.
    size_restored: bool,
}

/// Meter level in dB, floored at -120 dB.
fn gain_to_db(g: f32) -> f32 {
    amplitude_to_db(g, 1e-6)
}

/// Falling peak meter value in dB.
fn meter_step(shown: f32, peak_lin: f32) -> f32 {
    let new = gain_to_db(peak_lin);
    new.max(shown - METER_FALL_DB).max(METER_FLOOR_DB)
}

/// Whether the engine's notice belongs in the red banner: errors always; warnings too, except
/// an unavailable neural engine while the user has chosen Classic anyway (then it is a plain
/// line under the status).
pub fn notice_in_banner(notice: &EngineNotice, neural_wanted: bool) -> bool {
    match notice.severity() {
        Severity::Error => true,
        Severity::Warning => neural_wanted || notice.neural_error().is_none(),
        Severity::Info => false,
    }
}

/// Wraps a control's edit in the host's automation gesture: a drag is one begin/end gesture;
/// a click or keyboard change is a gesture of its own. `set` writes the new value.
fn in_gesture(setter: &ParamSetter, param: &FloatParam, resp: &egui::Response, set: impl Fn()) {
    if resp.drag_started() {
        setter.begin_set_parameter(param);
    }
    if resp.changed() {
        if resp.dragged() || resp.drag_started() {
            set();
        } else {
            setter.begin_set_parameter(param);
            set();
            setter.end_set_parameter(param);
        }
    }
    if resp.drag_stopped() {
        setter.end_set_parameter(param);
    }
}

/// A host-aware edit of one float parameter (plain value) from an egui response.
fn edit_float(setter: &ParamSetter, param: &FloatParam, resp: &egui::Response, value: f32) {
    in_gesture(setter, param, resp, || setter.set_parameter(param, value));
}

fn toggle_bool(setter: &ParamSetter, param: &BoolParam) {
    setter.begin_set_parameter(param);
    setter.set_parameter(param, !param.value());
    setter.end_set_parameter(param);
}

/// Sets a parameter to its default (double-click on a control).
fn reset_float(setter: &ParamSetter, param: &FloatParam) {
    setter.begin_set_parameter(param);
    setter.set_parameter(param, param.default_plain_value());
    setter.end_set_parameter(param);
}

/// One row of a control grid: label, slider over the parameter's normalised range (so skewed
/// ranges feel right) and the value with its unit. Double-click resets to the default.
fn param_row(
    ui: &mut egui::Ui,
    setter: &ParamSetter,
    param: &FloatParam,
    label: &str,
    enabled: bool,
) {
    ui.add_enabled_ui(enabled, |ui| {
        ui.add_sized([LABEL_WIDTH, 18.0], egui::Label::new(label).truncate());
    });
    let mut n = param.unmodulated_normalized_value();
    let r = ui.add_enabled(enabled, egui::Slider::new(&mut n, 0.0..=1.0).show_value(false));
    in_gesture(setter, param, &r, || setter.set_parameter_normalized(param, n));
    if r.double_clicked() {
        reset_float(setter, param);
    }
    let text = RichText::new(param.to_string()).monospace();
    ui.label(if enabled { text } else { text.weak() });
    ui.end_row();
}

/// A toggle for a bool parameter as a selectable button.
fn bool_button(
    ui: &mut egui::Ui,
    setter: &ParamSetter,
    param: &BoolParam,
    text: &str,
) -> egui::Response {
    let r = ui.add(egui::Button::new(text).selected(param.value()));
    if r.clicked() {
        toggle_bool(setter, param);
    }
    r
}

/// A titled section frame.
fn section<R>(ui: &mut egui::Ui, title: &str, add: impl FnOnce(&mut egui::Ui) -> R) -> R {
    egui::Frame::group(ui.style())
        .inner_margin(8.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(RichText::new(title).strong().size(15.0));
            ui.add_space(2.0);
            add(ui)
        })
        .inner
}

fn draw_meter(ui: &mut egui::Ui, size: Vec2, db: f32, colour: Color32) {
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, CornerRadius::same(2), Color32::from_gray(24));
    let frac = ((db - METER_FLOOR_DB) / (METER_TOP_DB - METER_FLOOR_DB)).clamp(0.0, 1.0);
    if frac > 0.0 {
        let mut fill = rect;
        fill.set_top(rect.bottom() - frac * rect.height());
        let c = if db > 0.0 { Color32::from_rgb(0xE0, 0x40, 0x40) } else { colour };
        painter.rect_filled(fill, CornerRadius::same(2), c);
    }
    // 0 dBFS tick.
    let zero = rect.bottom() - (-METER_FLOOR_DB / (METER_TOP_DB - METER_FLOOR_DB)) * rect.height();
    painter.line_segment(
        [egui::pos2(rect.left(), zero), egui::pos2(rect.right(), zero)],
        Stroke::new(1.0, Color32::GRAY),
    );
    painter.rect_stroke(
        rect,
        CornerRadius::same(2),
        Stroke::new(1.0, Color32::from_gray(70)),
        StrokeKind::Inside,
    );
}

impl DemixApp {
    fn header(&mut self, ui: &mut egui::Ui, setter: &ParamSetter) {
        let p = &self.params;
        ui.horizontal(|ui| {
            ui.heading(RichText::new("demix").strong());
            ui.separator();
            let bypass = p.bypass.value();
            let b = ui.add(egui::Button::new("Bypass").selected(bypass));
            if b.clicked() {
                toggle_bool(setter, &p.bypass);
            }
            ui.separator();
            ui.label("Dry/Wet");
            let mut wet = p.mix.value() * 100.0;
            let r = ui.add(egui::Slider::new(&mut wet, 0.0..=100.0).suffix(" %").step_by(1.0));
            edit_float(setter, &p.mix, &r, wet / 100.0);
            ui.separator();
            ui.label("Engine");
            let current = p.engine.value();
            egui::ComboBox::from_id_salt("engine")
                .selected_text(match current {
                    EngineChoice::Neural => "Neural",
                    EngineChoice::Classic => "Classic (no model)",
                })
                .show_ui(ui, |ui| {
                    for (choice, label) in [
                        (EngineChoice::Neural, "Neural"),
                        (EngineChoice::Classic, "Classic (no model)"),
                    ] {
                        if ui.selectable_label(current == choice, label).clicked()
                            && current != choice
                        {
                            setter.begin_set_parameter(&p.engine);
                            setter.set_parameter(&p.engine, choice);
                            setter.end_set_parameter(&p.engine);
                        }
                    }
                });
            ui.separator();
            ui.label("Latency");
            let current = p.latency.value();
            egui::ComboBox::from_id_salt("latency")
                .selected_text(current.latency().label())
                .show_ui(ui, |ui| {
                    for choice in LatencyChoice::ALL {
                        if ui
                            .selectable_label(current == choice, choice.latency().label())
                            .clicked()
                            && current != choice
                        {
                            setter.begin_set_parameter(&p.latency);
                            setter.set_parameter(&p.latency, choice);
                            setter.end_set_parameter(&p.latency);
                        }
                    }
                });
            // What actually runs (Neural may fall back to Classic), in colour.
            let active = self.shared.active.load(Ordering::Relaxed);
            let running = if active { self.shared.status.active_engine() } else { EngineKind::Dry };
            let (text, colour) = match (active, running) {
                (false, _) => ("inactive".to_string(), Color32::GRAY),
                (true, EngineKind::Neural) => {
                    ("Neural running".to_string(), Color32::from_rgb(0x6B, 0xC4, 0x7A))
                }
                (true, EngineKind::Classic) => {
                    ("Classic running".to_string(), Color32::from_rgb(0xF2, 0xB1, 0x34))
                }
                (true, EngineKind::Dry) => {
                    ("Dry passthrough".to_string(), Color32::from_rgb(0xE0, 0x60, 0x60))
                }
            };
            ui.label(RichText::new(text).color(colour).strong());
        });
    }

    /// Mode buttons and the transition time.
    fn modes(&mut self, ui: &mut egui::Ui, setter: &ParamSetter) {
        let p = &self.params;
        ui.horizontal(|ui| {
            ui.label(RichText::new("Mode").strong().size(15.0));
            let current = p.mode.value();
            for m in ModeChoice::ALL {
                let label = m.mode().label();
                let b = ui.add(
                    egui::Button::new(RichText::new(label).size(14.0))
                        .selected(current == m)
                        .min_size(Vec2::new(0.0, 26.0)),
                );
                if b.clicked() && current != m {
                    setter.begin_set_parameter(&p.mode);
                    setter.set_parameter(&p.mode, m);
                    setter.end_set_parameter(&p.mode);
                }
            }
            ui.separator();
            ui.label("Transition");
            ui.spacing_mut().slider_width = 90.0;
            let mut n = p.transition_ms.unmodulated_normalized_value();
            let r = ui.add(egui::Slider::new(&mut n, 0.0..=1.0).show_value(false));
            let value = p.transition_ms.preview_plain(n);
            edit_float(setter, &p.transition_ms, &r, value);
            if r.double_clicked() {
                reset_float(setter, &p.transition_ms);
            }
            ui.label(RichText::new(p.transition_ms.to_string()).monospace());
        });
    }

    /// Artifact controls and the vocal post-chain (right-hand column).
    fn shaping(&mut self, ui: &mut egui::Ui, setter: &ParamSetter) {
        let sep = &self.params.separation;
        let post = &self.params.post;
        ui.spacing_mut().slider_width = 96.0;
        section(ui, "Artifacts", |ui| {
            ui.horizontal(|ui| {
                ui.label("Bleed");
                ui.spacing_mut().slider_width = 130.0;
                let p = &sep.bleed_artifacts;
                let mut n = p.unmodulated_normalized_value();
                let r = ui
                    .add(egui::Slider::new(&mut n, 0.0..=1.0).show_value(false))
                    .on_hover_text("Mask sharpness. Left: softer masks, more bleed of other instruments. Right: harder masks, less bleed but watery artifacts. Double-click: neutral.");
                edit_float(setter, p, &r, p.preview_plain(n));
                if r.double_clicked() {
                    reset_float(setter, p);
                }
                ui.label("Artifacts");
            });
            ui.label(
                RichText::new(format!("Bleed/Artifacts: {}", sep.bleed_artifacts)).monospace(),
            );
            ui.horizontal(|ui| {
                bool_button(ui, setter, &sep.vocal_coherent, "Coherent vocals")
                    .on_hover_text("One mask for both channels of the vocal stem: less stereo swirl (turns stereo refinement off)");
                ui.add_enabled_ui(!sep.vocal_coherent.value(), |ui| {
                    bool_button(ui, setter, &sep.stereo_refine, "Stereo refinement")
                        .on_hover_text("Re-estimate the stems from where each one sits between left and right (stereo input only)")
                        .on_disabled_hover_text("Off while Coherent vocals is on");
                });
            });
            bool_button(ui, setter, &sep.bass_mono, "Bass low-end mono")
                .on_hover_text("Collapse the bass stem to mono below the frequency");
            egui::Grid::new("bass_mono").num_columns(3).spacing([6.0, 4.0]).show(ui, |ui| {
                param_row(ui, setter, &sep.bass_mono_hz, "Mono below", sep.bass_mono.value());
            });
        });
        ui.add_space(4.0);
        section(ui, "Vocal post-chain", |ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new("De-esser").color(STEM_COLOURS[0]).strong());
                stage_toggle(ui, setter, &post.deess_on);
            });
            let on = post.deess_on.value();
            egui::Grid::new("deesser").num_columns(3).spacing([6.0, 3.0]).show(ui, |ui| {
                param_row(ui, setter, &post.deess_freq, "Frequency", on);
                param_row(ui, setter, &post.deess_thresh, "Threshold", on);
                param_row(ui, setter, &post.deess_ratio, "Ratio", on);
            });
            ui.add_space(4.0);
            ui.horizontal(|ui| {
                ui.label(RichText::new("Gate / expander").color(STEM_COLOURS[0]).strong());
                stage_toggle(ui, setter, &post.gate_on);
            });
            let on = post.gate_on.value();
            egui::Grid::new("gate").num_columns(3).spacing([6.0, 3.0]).show(ui, |ui| {
                param_row(ui, setter, &post.gate_thresh, "Threshold", on);
                param_row(ui, setter, &post.gate_range, "Range", on);
                param_row(ui, setter, &post.gate_attack, "Attack", on);
                param_row(ui, setter, &post.gate_hold, "Hold", on);
                param_row(ui, setter, &post.gate_release, "Release", on);
            });
        });
    }

    fn strips(&mut self, ui: &mut egui::Ui, setter: &ParamSetter) {
        let status = &self.shared.status;
        for s in 0..N_STEMS {
            self.meters_db[s] = meter_step(self.meters_db[s], status.stem_peak[s].load());
        }
        self.out_db = meter_step(self.out_db, status.output_peak.load());
        let stems = self.params.stems();
        let mix = self.params.mix_settings();
        let audible = mix.audible();
        let mode = self.params.mode.value();
        ui.horizontal(|ui| {
            for s in 0..N_STEMS {
                let sp = stems[s];
                let colour = STEM_COLOURS[s];
                egui::Frame::group(ui.style()).inner_margin(8.0).show(ui, |ui| {
                    ui.set_width(104.0);
                    ui.vertical_centered(|ui| {
                        ui.label(RichText::new(STEM_LABELS[s]).color(colour).strong().size(17.0));
                        // Whether the stem plays now (mode, or mute/solo in Custom).
                        let (state, c) = if audible[s] {
                            ("playing", Color32::from_gray(200))
                        } else if mode == ModeChoice::Custom {
                            ("muted", Color32::from_rgb(0xE0, 0x60, 0x60))
                        } else {
                            ("off in this mode", Color32::from_rgb(0xE0, 0x60, 0x60))
                        };
                        ui.label(RichText::new(state).color(c).small());
                        ui.horizontal(|ui| {
                            // A vertical slider's length is the spacing's slider width.
                            ui.spacing_mut().slider_width = FADER_HEIGHT;
                            let mut db = sp.gain_db.value();
                            let r = ui.add_sized(
                                [40.0, FADER_HEIGHT],
                                egui::Slider::new(&mut db, GAIN_FLOOR_DB..=GAIN_MAX_DB)
                                    .vertical()
                                    .show_value(false)
                                    .step_by(0.1)
                                    .trailing_fill(true),
                            );
                            edit_float(setter, &sp.gain_db, &r, db);
                            if r.double_clicked() {
                                setter.begin_set_parameter(&sp.gain_db);
                                setter.set_parameter(&sp.gain_db, 0.0);
                                setter.end_set_parameter(&sp.gain_db);
                            }
                            draw_meter(
                                ui,
                                Vec2::new(14.0, FADER_HEIGHT),
                                self.meters_db[s],
                                colour,
                            );
                        });
                        ui.label(
                            RichText::new(format!("{} dB", format_gain_db(sp.gain_db.value())))
                                .monospace(),
                        );
                        // Mute/solo act in Custom mode; in the other modes the mode decides.
                        let custom = mode == ModeChoice::Custom;
                        ui.horizontal(|ui| {
                            let m = ui.add_enabled(
                                custom,
                                egui::Button::new("M")
                                    .selected(sp.mute.value())
                                    .min_size(Vec2::new(36.0, 22.0)),
                            );
                            if m.clicked() {
                                toggle_bool(setter, &sp.mute);
                            }
                            let so = ui.add_enabled(
                                custom,
                                egui::Button::new("S")
                                    .selected(sp.solo.value())
                                    .min_size(Vec2::new(36.0, 22.0)),
                            );
                            if so.clicked() {
                                toggle_bool(setter, &sp.solo);
                            }
                        })
                        .response
                        .on_disabled_hover_text("Mute and solo apply in Custom mode");
                    });
                });
            }
            ui.vertical(|ui| {
                ui.label("Out");
                draw_meter(ui, Vec2::new(14.0, FADER_HEIGHT), self.out_db, Color32::LIGHT_GRAY);
            });
        });
    }

    fn status_panel(&mut self, ui: &mut egui::Ui) {
        let st = &self.shared.status;
        let sr = self.shared.sample_rate();
        let active = self.shared.active.load(Ordering::Relaxed);
        let latency = st.latency_samples.load(Ordering::Relaxed);
        let engine = if active { st.active_engine() } else { EngineKind::Dry };
        ui.horizontal_wrapped(|ui| {
            if active && sr > 0.0 {
                ui.label(
                    RichText::new(format!(
                        "Latency: {:.1} ms ({latency} samples @ {:.1} kHz)",
                        latency as f32 * 1000.0 / sr,
                        sr / 1000.0
                    ))
                    .strong(),
                );
            } else {
                ui.label("Latency: — (not active)");
            }
            ui.separator();
            let underruns = st.underrun_blocks.load(Ordering::Relaxed);
            let text = RichText::new(format!(
                "Underruns: {underruns} ({} samples)",
                st.underrun_samples.load(Ordering::Relaxed)
            ));
            ui.label(if underruns > 0 {
                text.color(Color32::from_rgb(0xF2, 0xB1, 0x34))
            } else {
                text
            });
            ui.separator();
            let load = st.worker_load.load();
            let load_text = RichText::new(format!("Worker CPU: {:.0} %", load * 100.0));
            ui.label(if load > 0.9 {
                load_text.color(Color32::from_rgb(0xE0, 0x60, 0x60))
            } else {
                load_text
            });
            ui.separator();
            ui.label(format!("Engine: {}", if active { engine.label() } else { "inactive" }));
        });
        let mut show = self.params.editor_prefs.read().map(|p| p.show_details).unwrap_or(true);
        let before = show;
        ui.checkbox(&mut show, "Details");
        if show != before {
            if let Ok(mut p) = self.params.editor_prefs.write() {
                p.show_details = show;
            }
        }
        if show {
            ui.label(
                RichText::new(format!(
                    "hops {} · max hop {} µs · separator faults {} · non-finite input blocks {} · worker {}{}",
                    st.hops_processed.load(Ordering::Relaxed),
                    st.worker_max_hop_us.load(Ordering::Relaxed),
                    st.separator_faults.load(Ordering::Relaxed),
                    st.nonfinite_blocks.load(Ordering::Relaxed),
                    if st.worker_running.load(Ordering::Relaxed) { "running" } else { "stopped" },
                    if st.worker_realtime.load(Ordering::Relaxed) { " (real-time priority)" } else { " (normal priority)" },
                ))
                .small(),
            );
        }
    }
}

impl NiceEguiApp for DemixApp {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(nice_gui_ctx);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        // Meters move continuously: ask for the next frame (polled every 33 ms).
        self.notifier.request_repaint();
        let Some(gui) = self.gui.clone() else {
            return;
        };
        let setter = gui.param_setter();
        let notice = self.shared.status.notice();
        let fault = self.shared.audio_fault.load(Ordering::Relaxed);
        // Restore the remembered size once per opening (the editor is created before the
        // host loads the state, so the window starts at the size known then).
        if !self.size_restored {
            self.size_restored = true;
            let (w, h) =
                self.params.editor_prefs.read().map(|p| p.size()).unwrap_or(EDITOR_DEFAULT_SIZE);
            let now = ui.ctx().content_rect().size();
            if (now.x - w).abs() > 1.0 || (now.y - h).abs() > 1.0 {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::InnerSize(Vec2::new(w, h)));
            }
        }
        ResizableWindow::new("demix-resize")
            .min_size(Vec2::new(EDITOR_MIN_SIZE.0, EDITOR_MIN_SIZE.1))
            .max_size(Vec2::new(EDITOR_MAX_SIZE.0, EDITOR_MAX_SIZE.1))
            .show(ui, |ui| {
                egui::Frame::new().inner_margin(8.0).show(ui, |ui| {
                    self.header(ui, &setter);
                    let neural_wanted = self.params.engine.value() == EngineChoice::Neural;
                    if fault {
                        banner(ui, "Internal error in the audio engine: passing audio through. Reload the plugin.");
                    }
                    let in_banner = !fault && notice_in_banner(&notice, neural_wanted);
                    if in_banner {
                        banner(ui, &notice.to_string());
                    }
                    ui.add_space(4.0);
                    self.modes(ui, &setter);
                    ui.add_space(4.0);
                    ui.horizontal_top(|ui| {
                        ui.vertical(|ui| self.strips(ui, &setter));
                        ui.vertical(|ui| {
                            ui.set_width(ui.available_width().max(260.0));
                            self.shaping(ui, &setter);
                        });
                    });
                    ui.add_space(4.0);
                    ui.with_layout(Layout::top_down(Align::Min), |ui| {
                        self.status_panel(ui);
                        if !matches!(notice, EngineNotice::None) && !in_banner {
                            ui.label(RichText::new(format!("Model: {notice}")).weak());
                        }
                    });
                });
            });
    }

    fn resized(&mut self, new_size: nice_plug_egui::baseview::WindowSize) {
        // Remember the logical size for the next session (saved with the plugin state).
        let (w, h) = (new_size.logical.width as f32, new_size.logical.height as f32);
        if w.is_finite() && h.is_finite() && w >= 1.0 && h >= 1.0 {
            if let Ok(mut p) = self.params.editor_prefs.write() {
                p.width = w.clamp(EDITOR_MIN_SIZE.0, EDITOR_MAX_SIZE.0);
                p.height = h.clamp(EDITOR_MIN_SIZE.1, EDITOR_MAX_SIZE.1);
            }
        }
    }

    fn editor_closed(&mut self) {
        self.size_restored = false;
    }
}

fn banner(ui: &mut egui::Ui, text: &str) {
    egui::Frame::new()
        .fill(Color32::from_rgb(0x8A, 0x1C, 0x1C))
        .inner_margin(6.0)
        .corner_radius(4.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(RichText::new(text).color(Color32::WHITE).strong());
        });
}

/// "On"/"Bypassed" toggle of a post-chain stage.
fn stage_toggle(ui: &mut egui::Ui, setter: &ParamSetter, param: &BoolParam) {
    let on = param.value();
    let text = if on {
        RichText::new("On").strong().color(Color32::WHITE)
    } else {
        RichText::new("Bypassed").weak()
    };
    let r = ui.add(egui::Button::new(text).selected(on).min_size(Vec2::new(72.0, 20.0)));
    if r.clicked() {
        toggle_bool(setter, param);
    }
}
