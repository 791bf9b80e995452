//! `demix eval` metrics against values computed by museval 0.4.1 on committed fixtures
//! (`cli/fixtures/make_fixtures.py`): every framewise SDR/ISR/SIR/SAR, their medians, MDX SDR
//! and SI-SDR must agree within 0.05 dB.

use std::path::{Path, PathBuf};
use std::process::Command;

use demix_cli::eval::{eval_track, EvalOptions};

mod common;
use common::tmpdir;

const TOL_DB: f64 = 0.05;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/metrics")
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
        .unwrap()
}

fn close(what: &str, got: Option<f64>, want: &serde_json::Value) {
    match (got, want.as_f64()) {
        (None, None) => {}
        (Some(g), Some(w)) => {
            assert!((g - w).abs() < TOL_DB, "{what}: demix {g:.4} vs museval {w:.4}")
        }
        (g, _) => panic!("{what}: demix {g:?} vs museval {want}"),
    }
}

fn check_track(name: &str) {
    let exp = expected();
    let t = &exp["tracks"][name];
    let dir = fixtures().join(name);
    let opts = EvalOptions {
        reference: dir.join("reference"),
        estimates: dir.join("estimates"),
        window_s: 1.0,
        hop_s: 1.0,
        no_bss: false,
    };
    let got = eval_track(&opts.reference, &opts.estimates, &opts).unwrap();
    assert_eq!(got.rate as u64, t["rate"].as_u64().unwrap());
    let stems = t["stems"].as_object().unwrap();
    assert_eq!(got.stems.len(), stems.len());
    for (stem, w) in stems {
        let g = &got.stems[stem];
        close(&format!("{name}/{stem} sdr_mdx"), Some(g.sdr_mdx), &w["sdr_mdx"]);
        close(&format!("{name}/{stem} si_sdr"), Some(g.si_sdr), &w["si_sdr"]);
        close(&format!("{name}/{stem} SDR"), g.sdr, &w["SDR"]);
        close(&format!("{name}/{stem} ISR"), g.isr, &w["ISR"]);
        close(&format!("{name}/{stem} SIR"), g.sir, &w["SIR"]);
        close(&format!("{name}/{stem} SAR"), g.sar, &w["SAR"]);
        let f = g.frames.as_ref().unwrap();
        for (key, vals) in [("SDR", &f.sdr), ("ISR", &f.isr), ("SIR", &f.sir), ("SAR", &f.sar)] {
            let wf = w["frames"][key].as_array().unwrap();
            assert_eq!(vals.len(), wf.len(), "{name}/{stem} {key}: number of windows");
            for (i, (v, x)) in vals.iter().zip(wf).enumerate() {
                close(&format!("{name}/{stem} {key} window {i}"), *v, x);
            }
        }
    }
}

#[test]
fn mono_two_stems_match_museval() {
    check_track("mono_two_stems");
}

/// Four stereo stems (4096-unknown filter system), one window where a reference is silent
/// (NaN for every stem, ignored by the median).
#[test]
fn stereo_four_stems_match_museval() {
    check_track("stereo_four_stems");
}

#[test]
fn eval_command_writes_table_json_and_csv() {
    let dir = tmpdir("eval");
    // Multi-track layout: <dir>/<track>/<stem>.wav, made of the two fixture tracks.
    let (refs, ests) = (dir.join("ref"), dir.join("est"));
    for name in ["mono_two_stems", "stereo_four_stems"] {
        for (src, dst) in [("reference", &refs), ("estimates", &ests)] {
            let to = dst.join(name);
            std::fs::create_dir_all(&to).unwrap();
            for e in std::fs::read_dir(fixtures().join(name).join(src)).unwrap() {
                let p = e.unwrap().path();
                std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    let (json, csv) = (dir.join("r.json"), dir.join("r.csv"));
    let o = Command::new(env!("CARGO_BIN_EXE_demix"))
        .args(["eval", "--no-bss", "--reference"])
        .arg(&refs)
        .arg("--estimates")
        .arg(&ests)
        .arg("--json")
        .arg(&json)
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("median over 2 track(s)"), "{table}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["aggregate"]["vocals"]["tracks"], 2);
    assert_eq!(v["aggregate"]["drums"]["tracks"], 1);
    // Median over two tracks of the MDX SDR = their mean.
    let exp = expected();
    let want = 0.5
        * (exp["tracks"]["mono_two_stems"]["stems"]["vocals"]["sdr_mdx"].as_f64().unwrap()
            + exp["tracks"]["stereo_four_stems"]["stems"]["vocals"]["sdr_mdx"].as_f64().unwrap());
    let got = v["aggregate"]["vocals"]["sdr_mdx"].as_f64().unwrap();
    assert!((got - want).abs() < TOL_DB, "{got} vs {want}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(csv.starts_with("track,stem,sdr_mdx,si_sdr,SDR,ISR,SIR,SAR\n"));
    assert_eq!(csv.lines().count(), 1 + 6 + 4);
}

/// `demix bench` runs and writes its JSON (tiny run; no timing assertions).
#[test]
fn bench_smoke() {
    let dir = tmpdir("bench");
    let json = dir.join("bench.json");
    let o = Command::new(env!("CARGO_BIN_EXE_demix"))
        .args([
            "bench",
            "--engines",
            "classic",
            "--rates",
            "44100,48000",
            "--hops",
            "20",
            "--seconds",
            "0.1",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (r, rate) in rows.iter().zip([44100, 48000]) {
        assert_eq!(r["sample_rate"], rate);
        assert_eq!(r["block"], 512);
        for k in [
            "worker_rtf_median",
            "worker_vs_stft",
            "audio_pct_median",
            "audio_vs_copy",
            "latency_ms",
        ] {
            assert!(r[k].as_f64().unwrap() > 0.0, "{k}: {}", r[k]);
        }
        assert_eq!(r["worker"]["n"], 20);
    }
}
