//! Helpers shared by the CLI's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// Stem names in output order.
pub const STEMS: [&str; 4] = ["vocals", "drums", "bass", "other"];

/// A fresh, empty temporary folder for one test.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("demix-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The `demix` binary under test.
pub fn demix() -> Command {
    Command::new(env!("CARGO_BIN_EXE_demix"))
}

/// Error energy of `estimate` against `reference` relative to the reference's energy, in dB.
pub fn error_db(reference: &[Vec<f32>], estimate: &[Vec<f32>]) -> f64 {
    let (mut e, mut s) = (0.0f64, 0.0f64);
    for (r, x) in reference.iter().zip(estimate) {
        for (a, b) in r.iter().zip(x) {
            e += ((a - b) as f64).powi(2);
            s += (*a as f64).powi(2);
        }
    }
    10.0 * (e / s).log10()
}
