//! The egui editor: four stem strips (name, colour, fader with dB readout, mute, solo, level
//! meter), global bypass / dry-wet / engine, and the engine's status (latency, underruns,
//! worker load, engine in use, model message with an error banner).
//!
//! Runs on the GUI thread only: it reads the engine's atomics and its message mutex, and
//! changes parameters through the host (`ParamSetter`) so automation and undo see them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use demix_engine::separator::N_STEMS;
use demix_engine::status::EngineKind;
use egui::{Align, Color32, CornerRadius, Layout, RichText, Sense, Stroke, StrokeKind, Vec2};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::*;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
};

use crate::params::{format_gain_db, DemixParams, EngineChoice, GAIN_FLOOR_DB, GAIN_MAX_DB, STEM_LABELS};
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

/// Editor size in logical pixels.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 470.0;

/// Builds the editor (called once per plugin instance).
pub fn create(params: Arc<DemixParams>, shared: Arc<Shared>) -> Option<DemixEditor> {
    let notifier = RepaintNotifier::new();
    create_egui_editor(
        EguiEditorState::from_size(LogicalSize::new(WIDTH, HEIGHT), 1.0),
        notifier.clone(),
        EguiNiceSettings::new()
            .with_tile("demix")
            .with_repaint_poll_interval(Duration::from_millis(33)),
        DemixApp { params, shared, notifier, gui: None, meters_db: [METER_FLOOR_DB; N_STEMS], out_db: METER_FLOOR_DB },
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
}

fn gain_to_db(g: f32) -> f32 {
    if g > 1e-6 {
        20.0 * g.log10()
    } else {
        -120.0
    }
}

/// Falling peak meter value in dB.
fn meter_step(shown: f32, peak_lin: f32) -> f32 {
    let new = gain_to_db(peak_lin);
    new.max(shown - METER_FALL_DB).max(METER_FLOOR_DB)
}

/// Whether the engine message means something is wrong (shown as a red banner).
pub fn message_is_error(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("unavailable") || m.contains("error") || m.contains("could not") || m.contains("failed")
}

/// A host-aware edit of one float parameter from an egui response.
fn edit_float(setter: &ParamSetter, param: &FloatParam, resp: &egui::Response, value: f32) {
    if resp.drag_started() {
        setter.begin_set_parameter(param);
    }
    if resp.changed() {
        if resp.dragged() || resp.drag_started() {
            setter.set_parameter(param, value);
        } else {
            setter.begin_set_parameter(param);
            setter.set_parameter(param, value);
            setter.end_set_parameter(param);
        }
    }
    if resp.drag_stopped() {
        setter.end_set_parameter(param);
    }
}

fn toggle_bool(setter: &ParamSetter, param: &BoolParam) {
    setter.begin_set_parameter(param);
    setter.set_parameter(param, !param.value());
    setter.end_set_parameter(param);
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
    painter.line_segment([egui::pos2(rect.left(), zero), egui::pos2(rect.right(), zero)], Stroke::new(1.0, Color32::GRAY));
    painter.rect_stroke(rect, CornerRadius::same(2), Stroke::new(1.0, Color32::from_gray(70)), StrokeKind::Inside);
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
                    for (choice, label) in
                        [(EngineChoice::Neural, "Neural"), (EngineChoice::Classic, "Classic (no model)")]
                    {
                        if ui.selectable_label(current == choice, label).clicked() && current != choice {
                            setter.begin_set_parameter(&p.engine);
                            setter.set_parameter(&p.engine, choice);
                            setter.end_set_parameter(&p.engine);
                        }
                    }
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
        ui.horizontal(|ui| {
            for s in 0..N_STEMS {
                let sp = stems[s];
                let colour = STEM_COLOURS[s];
                egui::Frame::group(ui.style()).inner_margin(8.0).show(ui, |ui| {
                    ui.set_width(130.0);
                    ui.vertical_centered(|ui| {
                        ui.label(RichText::new(STEM_LABELS[s]).color(colour).strong().size(16.0));
                        ui.horizontal(|ui| {
                            let mut db = sp.gain_db.value();
                            let r = ui.add_sized(
                                [40.0, 200.0],
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
                            draw_meter(ui, Vec2::new(14.0, 200.0), self.meters_db[s], colour);
                        });
                        ui.label(RichText::new(format!("{} dB", format_gain_db(sp.gain_db.value()))).monospace());
                        ui.horizontal(|ui| {
                            let m = ui.add(
                                egui::Button::new("M")
                                    .selected(sp.mute.value())
                                    .min_size(Vec2::new(36.0, 22.0)),
                            );
                            if m.clicked() {
                                toggle_bool(setter, &sp.mute);
                            }
                            let so = ui.add(
                                egui::Button::new("S")
                                    .selected(sp.solo.value())
                                    .min_size(Vec2::new(36.0, 22.0)),
                            );
                            if so.clicked() {
                                toggle_bool(setter, &sp.solo);
                            }
                        });
                    });
                });
            }
            ui.vertical(|ui| {
                ui.label("Out");
                draw_meter(ui, Vec2::new(14.0, 200.0), self.out_db, Color32::LIGHT_GRAY);
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
                ui.label(format!("Latency: {:.1} ms ({latency} samples @ {:.1} kHz)", latency as f32 * 1000.0 / sr, sr / 1000.0));
            } else {
                ui.label("Latency: — (not active)");
            }
            ui.separator();
            ui.label(format!(
                "Underruns: {} ({} samples)",
                st.underrun_blocks.load(Ordering::Relaxed),
                st.underrun_samples.load(Ordering::Relaxed)
            ));
            ui.separator();
            ui.label(format!("Worker load: {:.0} %", st.worker_load.load() * 100.0));
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
                    "hops {} · max hop {} µs · separator faults {} · non-finite input blocks {} · worker {}",
                    st.hops_processed.load(Ordering::Relaxed),
                    st.worker_max_hop_us.load(Ordering::Relaxed),
                    st.separator_faults.load(Ordering::Relaxed),
                    st.nonfinite_blocks.load(Ordering::Relaxed),
                    if st.worker_running.load(Ordering::Relaxed) { "running" } else { "stopped" },
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
        let message = self.shared.status.message();
        let fault = self.shared.audio_fault.load(Ordering::Relaxed);
        egui::CentralPanel::default().show(ui, |ui| {
            self.header(ui, &setter);
            let neural_wanted = self.params.engine.value() == EngineChoice::Neural;
            if fault {
                banner(ui, "Internal error in the audio engine: passing audio through. Reload the plugin.");
            }
            let in_banner =
                !fault && message_is_error(&message) && (neural_wanted || !message.contains("Neural engine unavailable"));
            if in_banner {
                banner(ui, &message);
            }
            ui.add_space(6.0);
            self.strips(ui, &setter);
            ui.add_space(6.0);
            ui.with_layout(Layout::top_down(Align::Min), |ui| {
                self.status_panel(ui);
                if !message.is_empty() && !in_banner {
                    ui.label(RichText::new(format!("Model: {message}")).small().weak());
                }
            });
        });
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
