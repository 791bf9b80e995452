//! `demix separate --engine baseline`, `--plot` and `demix plot`: the stems sum to the input,
//! lengths and rates are kept, and the spectrogram PNG decodes, has the documented size and
//! is not blank.

use std::path::Path;

use demix_cli::audio::{decode, write_audio, Audio, OutFormat};
use demix_cli::plot;

mod common;

use common::{demix, error_db, tmpdir, STEMS};

/// Bass tone (centre), a voice-like tone (centre), a side-only tone, clicks; plus noise.
fn signal(rate: u32, channels: usize, secs: f32) -> Audio {
    let n = (rate as f32 * secs) as usize;
    let mut seed = 777u32;
    let chans = (0..channels)
        .map(|c| {
            (0..n)
                .map(|i| {
                    seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                    let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                    let t = i as f32 / rate as f32;
                    let tau = 2.0 * std::f32::consts::PI;
                    let click = (-((i % (rate as usize / 4)) as f32) / 100.0).exp();
                    0.25 * (tau * 55.0 * t).sin()
                        + 0.2 * (tau * 440.0 * t).sin()
                        + if c == 0 { 0.2 * (tau * 3000.0 * t).sin() } else { 0.0 }
                        + 0.3 * click
                        + 0.02 * noise
                })
                .collect()
        })
        .collect();
    Audio { sample_rate: rate, channels: chans }
}

/// Decodes a PNG into (width, height, RGB bytes).
fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Mean brightness of a rectangle of the image.
fn mean_luma(img: &(u32, u32, Vec<u8>), x0: u32, y0: u32, w: u32, h: u32) -> f64 {
    let (width, _, rgb) = img;
    let mut sum = 0.0;
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            let i = 3 * (y * width + x) as usize;
            sum += rgb[i] as f64 + rgb[i + 1] as f64 + rgb[i + 2] as f64;
        }
    }
    sum / (3 * w * h) as f64
}

fn check_not_blank(img: &(u32, u32, Vec<u8>)) {
    let mut colours = std::collections::HashSet::new();
    for px in img.2.chunks(3) {
        colours.insert([px[0], px[1], px[2]]);
    }
    assert!(colours.len() > 100, "only {} colours", colours.len());
}

#[test]
fn baseline_round_trip_and_spectrogram_png() {
    let dir = tmpdir("baseline");
    let mut inputs = Vec::new();
    for (rate, ch) in [(44100, 2), (48000, 1), (22050, 2)] {
        let mut a = signal(rate, ch, 1.5);
        for c in &mut a.channels {
            c.truncate(c.len() - 41);
        }
        let p = dir.join(format!("sig_{rate}_{ch}ch.wav"));
        write_audio(&p, &a, OutFormat::WavF32).unwrap();
        inputs.push((p, a));
    }
    let out = dir.join("out");
    let st = demix()
        .args(["separate", "--engine", "baseline", "--plot", "-q", "-o"])
        .arg(&out)
        .args(inputs.iter().map(|(p, _)| p))
        .status()
        .unwrap();
    assert!(st.success());
    for (p, a) in &inputs {
        let song = p.file_stem().unwrap().to_str().unwrap();
        let mut sum = vec![vec![0.0f32; a.len()]; a.n_channels()];
        let mut energy = Vec::new();
        for s in STEMS {
            let d = decode(&out.join(song).join(format!("{s}.wav"))).unwrap().audio;
            assert_eq!(
                (d.sample_rate, d.n_channels(), d.len()),
                (a.sample_rate, a.n_channels(), a.len()),
                "{song}/{s}"
            );
            energy.push(d.channels.iter().flatten().map(|x| (*x as f64).powi(2)).sum::<f64>());
            for (acc, x) in sum.iter_mut().zip(&d.channels) {
                for (u, v) in acc.iter_mut().zip(x) {
                    *u += v;
                }
            }
        }
        let db = error_db(&a.channels, &sum);
        assert!(db < -90.0, "{song}: stems sum to the input within {db:.1} dB");
        // Every stem gets something from this signal (tone + clicks + centre + side).
        assert!(energy.iter().all(|&e| e > 1e-3), "{song}: stem energies {energy:?}");

        // One PNG per song: mixture + 4 stems.
        let png_path = out.join(song).join("spectrogram.png");
        let img = read_png(&png_path);
        assert_eq!((img.0, img.1), plot::image_size(5), "{song}: image size");
        check_not_blank(&img);
        // The bass panel (4th plot) is dark at the top (high frequencies), the mixture's is not.
        let (w, _) = plot::image_size(5);
        let panel_top = |k: u32| 34 + k * (24 + plot::PLOT_H + 8) + 24;
        let hi_mix = mean_luma(&img, 100, panel_top(0) + 5, w - 300, 30);
        let hi_bass = mean_luma(&img, 100, panel_top(3) + 5, w - 300, 30);
        assert!(
            hi_bass < 20.0 && hi_mix > hi_bass + 10.0,
            "{song}: mixture {hi_mix:.1}, bass {hi_bass:.1}"
        );
    }
    assert!(!std::fs::read_dir(out.join("sig_44100_2ch")).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_str()
        .unwrap()
        .contains(".partial")));
}

#[test]
fn plot_command_with_a_bad_file_in_the_list() {
    let dir = tmpdir("plot");
    let a = signal(44100, 2, 0.7);
    let good = dir.join("mix.wav");
    write_audio(&good, &a, OutFormat::WavF32).unwrap();
    let b = signal(48000, 1, 0.3);
    let short = dir.join("short.flac");
    write_audio(&short, &b, OutFormat::Flac24).unwrap();
    let bad = dir.join("bad.wav");
    std::fs::write(&bad, b"RIFF....WAVEjunk").unwrap();
    let png_path = dir.join("plots.png");
    let o = demix()
        .arg("plot")
        .arg(&good)
        .arg(&bad)
        .arg(&short)
        .arg("-o")
        .arg(&png_path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "a bad file makes the exit code 1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("demix: error:") && err.contains("bad.wav"), "{err}");
    let img = read_png(&png_path);
    assert_eq!((img.0, img.1), plot::image_size(2));
    check_not_blank(&img);
    // Default output name: spectrogram.png next to the first file.
    let st = demix().arg("plot").arg(&good).status().unwrap();
    assert!(st.success());
    let img = read_png(&dir.join("spectrogram.png"));
    assert_eq!((img.0, img.1), plot::image_size(1));
    // Nothing readable: an error, no file.
    let o = demix().arg("plot").arg(&bad).arg("-o").arg(dir.join("none.png")).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(!dir.join("none.png").exists());
}
