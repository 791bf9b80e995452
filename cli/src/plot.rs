//! Spectrogram PNGs (`demix separate --plot`, `demix plot`): one image, one panel per signal
//! (mixture first, then the stems), log-frequency axis, one dB colour scale for all panels.
//!
//! Drawn pixel by pixel into an RGB buffer and encoded with the pure-Rust `png` crate; text
//! uses the public-domain 8×8 bitmap font of `font8x8` (no system fonts, works headless).

use std::path::Path;

use anyhow::{Context, Result};
use realfft::RealFftPlanner;

/// Image width in pixels.
pub const WIDTH: u32 = 1200;
/// Height of one panel's plot area in pixels.
pub const PLOT_H: u32 = 170;
const LEFT: u32 = 76;
const RIGHT: u32 = 104;
const HEADER_H: u32 = 34;
const TITLE_H: u32 = 24;
const GAP: u32 = 8;
const BOTTOM: u32 = 48;
/// Lowest frequency shown, Hz.
pub const F_MIN: f32 = 30.0;
/// Colour scale range below the loudest cell, dB.
pub const DB_RANGE: f32 = 80.0;
const FONT_SCALE: u32 = 2;

const BLACK: [u8; 3] = [0, 0, 0];
const GREY: [u8; 3] = [90, 90, 90];

/// One signal to draw.
pub struct Panel<'a> {
    /// Title drawn above the panel (e.g. the stem name).
    pub title: String,
    /// `channels[ch][sample]`; drawn as the mean of the channels.
    pub channels: &'a [Vec<f32>],
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

/// An RGB image, row-major, 3 bytes per pixel.
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `3 * width * height` bytes.
    pub rgb: Vec<u8>,
}

impl Image {
    fn new(width: u32, height: u32) -> Self {
        Image { width, height, rgb: vec![255; (3 * width * height) as usize] }
    }

    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as u32) < self.width && (y as u32) < self.height {
            let i = 3 * (y as usize * self.width as usize + x as usize);
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    fn rect(&mut self, x0: i64, y0: i64, w: i64, h: i64, c: [u8; 3]) {
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                self.put(x, y, c);
            }
        }
    }

    /// Draws `text` with its top-left corner at (x, y).
    fn text(&mut self, x: i64, y: i64, text: &str, c: [u8; 3]) {
        let s = FONT_SCALE as i64;
        for (n, ch) in text.chars().enumerate() {
            let glyph = font8x8::legacy::BASIC_LEGACY
                [if (ch as u32) < 128 { ch as usize } else { b'?' as usize }];
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        self.rect(x + (n as i64 * 8 + col) * s, y + row as i64 * s, s, s, c);
                    }
                }
            }
        }
    }

    fn text_width(text: &str) -> i64 {
        (text.chars().count() * 8 * FONT_SCALE as usize) as i64
    }
}

/// Image size for `panels` panels.
pub fn image_size(panels: usize) -> (u32, u32) {
    (WIDTH, HEADER_H + panels as u32 * (TITLE_H + PLOT_H + GAP) + BOTTOM)
}

/// Inferno colour map (9 control points, linear in between), `v` in 0..=1.
pub fn colormap(v: f32) -> [u8; 3] {
    const P: [[f32; 3]; 9] = [
        [0.0, 0.0, 4.0],
        [31.0, 12.0, 72.0],
        [85.0, 15.0, 109.0],
        [136.0, 34.0, 106.0],
        [186.0, 54.0, 85.0],
        [227.0, 89.0, 51.0],
        [249.0, 140.0, 10.0],
        [249.0, 201.0, 50.0],
        [252.0, 255.0, 164.0],
    ];
    let x = if v.is_finite() { v.clamp(0.0, 1.0) * 8.0 } else { 0.0 };
    let i = (x.floor() as usize).min(7);
    let f = x - i as f32;
    let mut out = [0u8; 3];
    for (k, o) in out.iter_mut().enumerate() {
        *o = (P[i][k] + (P[i + 1][k] - P[i][k]) * f).round() as u8;
    }
    out
}

/// Frequency (Hz) at the centre of plot row `y` (0 = top) for a log axis F_MIN..f_max.
fn row_freq(y: f32, f_max: f32) -> f32 {
    F_MIN * (f_max / F_MIN).powf(1.0 - y / PLOT_H as f32)
}

/// Spectrogram of one panel on the plot grid: `cols × PLOT_H` values in dB re full scale (a
/// full-scale sine reads 0 dB), row 0 at the top; NaN where the signal has no data.
fn spectrogram(p: &Panel<'_>, cols: usize, duration_s: f64, f_max: f32) -> Vec<f32> {
    let mut out = vec![f32::NAN; cols * PLOT_H as usize];
    let len = p.channels.first().map_or(0, Vec::len);
    if len == 0 || p.sample_rate == 0 {
        return out;
    }
    let sr = p.sample_rate as f64;
    let n = crate::baseline::frame_len(p.sample_rate);
    let bins = n / 2 + 1;
    let win: Vec<f32> = (0..n)
        .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
        .collect();
    let win_sum: f32 = win.iter().sum();
    let db_offset = 20.0 * (win_sum / 2.0).log10();
    let mono: Vec<f32> = (0..len)
        .map(|i| p.channels.iter().map(|c| c[i]).sum::<f32>() / p.channels.len() as f32)
        .collect();
    // Signal columns: those whose time lies inside the signal.
    let px_per_s = cols as f64 / duration_s;
    let sig_cols = ((len as f64 / sr * px_per_s).ceil() as usize).clamp(1, cols);
    // Hop: n/4, or shorter so every column gets at least one frame.
    let hop = (n / 4).min((len / sig_cols).max(1));
    let mut planner = RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(n);
    let mut buf = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let mut power = vec![0.0f32; sig_cols * bins];
    let mut count = vec![0u32; sig_cols];
    let mut t = 0usize;
    while t < len {
        // Frame centred on sample t.
        for (i, b) in buf.iter_mut().enumerate() {
            let j = t as isize + i as isize - (n / 2) as isize;
            *b = if j >= 0 && (j as usize) < len { mono[j as usize] * win[i] } else { 0.0 };
        }
        fft.process_with_scratch(&mut buf, &mut spec, &mut scratch).expect("FFT sizes");
        let col = ((t as f64 / sr * px_per_s) as usize).min(sig_cols - 1);
        for (acc, s) in power[col * bins..(col + 1) * bins].iter_mut().zip(&spec) {
            *acc += s.norm_sqr();
        }
        count[col] += 1;
        t += hop;
    }
    // Bin range (or interpolation point) of each plot row.
    let hz_per_bin = sr as f32 / n as f32;
    let rows: Vec<(f32, f32, f32)> = (0..PLOT_H)
        .map(|y| {
            (
                row_freq(y as f32, f_max),
                row_freq(y as f32 + 0.5, f_max),
                row_freq(y as f32 - 0.5, f_max),
            )
        })
        .collect();
    let mut last = None;
    for c in 0..sig_cols {
        let src = if count[c] > 0 {
            last = Some(c);
            c
        } else {
            match last {
                Some(l) => l,
                None => continue,
            }
        };
        let norm = count[src].max(1) as f32;
        let col = &power[src * bins..(src + 1) * bins];
        for (y, &(f, f_lo, f_hi)) in rows.iter().enumerate() {
            if f > sr as f32 / 2.0 {
                continue;
            }
            let (k_lo, k_hi) =
                ((f_lo / hz_per_bin).ceil() as usize, (f_hi / hz_per_bin).floor() as usize);
            let pw = if k_hi >= k_lo && k_lo < bins {
                col[k_lo..=k_hi.min(bins - 1)].iter().fold(0.0f32, |a, &b| a.max(b))
            } else {
                let x = f / hz_per_bin;
                let k = (x.floor() as usize).min(bins - 2);
                let w = (x - k as f32).clamp(0.0, 1.0);
                col[k] * (1.0 - w) + col[k + 1] * w
            };
            out[y * cols + c] = 10.0 * (pw / norm + 1e-20).log10() - db_offset;
        }
    }
    out
}

fn nice_step(span: f64, max_ticks: usize) -> f64 {
    for s in
        [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0]
    {
        if span / s <= max_ticks as f64 {
            return s;
        }
    }
    7200.0
}

fn fmt_hz(f: f32) -> String {
    if f >= 1000.0 {
        format!("{}k", f / 1000.0)
    } else {
        format!("{f}")
    }
}

fn fmt_s(t: f64, step: f64) -> String {
    if step < 1.0 {
        format!("{t:.1}")
    } else {
        format!("{t:.0}")
    }
}

/// Renders the panels into one image: a header line, then per panel its title and its
/// spectrogram (log frequency F_MIN..Nyquist, shared time axis), a dB colour bar at the right.
pub fn render(panels: &[Panel<'_>], header: &str) -> Image {
    let (w, h) = image_size(panels.len());
    let mut img = Image::new(w, h);
    let cols = (WIDTH - LEFT - RIGHT) as usize;
    let duration = panels
        .iter()
        .map(|p| p.channels.first().map_or(0, Vec::len) as f64 / p.sample_rate.max(1) as f64)
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let f_max = panels.iter().map(|p| p.sample_rate as f32 / 2.0).fold(F_MIN * 2.0, f32::max);
    let specs: Vec<Vec<f32>> =
        panels.iter().map(|p| spectrogram(p, cols, duration, f_max)).collect();
    let top = specs.iter().flatten().filter(|v| v.is_finite()).fold(-200.0f32, |a, &b| a.max(b));
    let db_hi = (top / 10.0).ceil() * 10.0;
    let db_lo = db_hi - DB_RANGE;

    // Header, cut to the width left of the colour bar.
    let max_chars = ((WIDTH - RIGHT) as usize + 8) / (8 * FONT_SCALE as usize)
        - LEFT as usize / (8 * FONT_SCALE as usize);
    let header: String = if header.chars().count() > max_chars {
        header.chars().take(max_chars.saturating_sub(3)).chain("...".chars()).collect()
    } else {
        header.to_string()
    };
    img.text(LEFT as i64, 9, &header, BLACK);
    let t_step = nice_step(duration, 12);
    let freq_ticks: Vec<f32> =
        [50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0]
            .into_iter()
            .filter(|&f| f >= F_MIN && f <= f_max)
            .collect();
    let x0 = LEFT as i64;
    for (pi, (p, spec)) in panels.iter().zip(&specs).enumerate() {
        let y_title = (HEADER_H + pi as u32 * (TITLE_H + PLOT_H + GAP)) as i64;
        let y0 = y_title + TITLE_H as i64;
        img.text(x0, y_title + 3, &p.title, BLACK);
        for y in 0..PLOT_H as usize {
            for x in 0..cols {
                let v = spec[y * cols + x];
                let c =
                    if v.is_finite() { colormap((v - db_lo) / DB_RANGE) } else { [225, 225, 225] };
                img.put(x0 + x as i64, y0 + y as i64, c);
            }
        }
        // Frame.
        img.rect(x0 - 1, y0 - 1, cols as i64 + 2, 1, BLACK);
        img.rect(x0 - 1, y0 + PLOT_H as i64, cols as i64 + 2, 1, BLACK);
        img.rect(x0 - 1, y0 - 1, 1, PLOT_H as i64 + 2, BLACK);
        img.rect(x0 + cols as i64, y0 - 1, 1, PLOT_H as i64 + 2, BLACK);
        // Frequency ticks and labels.
        for &f in &freq_ticks {
            let y = PLOT_H as f32 * (1.0 - (f / F_MIN).ln() / (f_max / F_MIN).ln());
            let y = y0 + y.round() as i64;
            img.rect(x0 - 6, y, 5, 1, BLACK);
            let label = fmt_hz(f);
            img.text(x0 - 9 - Image::text_width(&label), y - 8, &label, BLACK);
        }
        // Time ticks.
        let mut t = 0.0;
        while t <= duration + 1e-9 {
            let x = x0 + (t / duration * cols as f64).round() as i64;
            img.rect(x, y0 + PLOT_H as i64 + 1, 1, 5, BLACK);
            if pi + 1 == panels.len() {
                let label = fmt_s(t, t_step);
                img.text(x - Image::text_width(&label) / 2, y0 + PLOT_H as i64 + 9, &label, BLACK);
            }
            t += t_step;
        }
    }
    let axis_y = h as i64 - 16;
    let xlabel = "x: time (s)   y: frequency (Hz, log)   colour: dBFS";
    img.text(x0 + cols as i64 / 2 - Image::text_width(xlabel) / 2, axis_y - 4, xlabel, GREY);

    // Colour bar spanning all panels.
    let bar_x = x0 + cols as i64 + 14;
    let bar_y0 = (HEADER_H + TITLE_H) as i64;
    let bar_h =
        (panels.len() as i64 * (TITLE_H + PLOT_H + GAP) as i64 - TITLE_H as i64 - GAP as i64)
            .max(20);
    for y in 0..bar_h {
        let v = 1.0 - y as f32 / (bar_h - 1).max(1) as f32;
        img.rect(bar_x, bar_y0 + y, 16, 1, colormap(v));
    }
    img.rect(bar_x - 1, bar_y0 - 1, 18, 1, BLACK);
    img.rect(bar_x - 1, bar_y0 + bar_h, 18, 1, BLACK);
    img.rect(bar_x - 1, bar_y0 - 1, 1, bar_h + 2, BLACK);
    img.rect(bar_x + 16, bar_y0 - 1, 1, bar_h + 2, BLACK);
    img.text(bar_x - 10, HEADER_H as i64 - 2, "dBFS", BLACK);
    let mut d = db_hi;
    while d >= db_lo - 1e-3 {
        let y = bar_y0 + ((db_hi - d) / DB_RANGE * (bar_h - 1) as f32).round() as i64;
        img.rect(bar_x + 17, y, 4, 1, BLACK);
        img.text(bar_x + 24, y - 7, &format!("{d:.0}"), BLACK);
        d -= 20.0;
    }
    img
}

/// Encodes `img` as PNG and writes it to `path` via a temporary file renamed at the end.
pub fn write_png(path: &Path, img: &Image) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("plot.png");
    let tmp = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let res = (|| -> Result<()> {
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), img.width, img.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(&img.rgb)?;
        writer.finish()?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot rename to {}", path.display()))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colormap_ends() {
        assert_eq!(colormap(0.0), [0, 0, 4]);
        assert_eq!(colormap(1.0), [252, 255, 164]);
        assert_eq!(colormap(f32::NAN), [0, 0, 4]);
    }

    #[test]
    fn long_header_empty_and_silent_panels() {
        let silent = vec![vec![0.0f32; 1000]; 2];
        let empty: Vec<Vec<f32>> = vec![vec![]];
        let panels = [
            Panel { title: "silent".into(), channels: &silent, sample_rate: 8000 },
            Panel { title: "empty".into(), channels: &empty, sample_rate: 44100 },
        ];
        let img = render(&panels, &"x".repeat(500));
        assert_eq!((img.width, img.height), image_size(2));
        assert_eq!(img.rgb.len(), (3 * img.width * img.height) as usize);
    }

    #[test]
    fn sine_lands_on_its_row_at_zero_db() {
        let sr = 44100;
        let x = vec![(0..sr as usize)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / sr as f32).sin())
            .collect::<Vec<f32>>()];
        let p = Panel { title: "t".into(), channels: &x, sample_rate: sr };
        let cols = 100;
        let s = spectrogram(&p, cols, 1.0, sr as f32 / 2.0);
        let (mut best, mut best_y) = (f32::MIN, 0);
        for y in 0..PLOT_H as usize {
            if s[y * cols + 50] > best {
                best = s[y * cols + 50];
                best_y = y;
            }
        }
        assert!(best.abs() < 1.0, "peak {best} dB");
        let f = row_freq(best_y as f32, sr as f32 / 2.0);
        assert!((f / 1000.0 - 1.0).abs() < 0.05, "peak at {f} Hz");
    }
}
