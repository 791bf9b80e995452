//! `cargo xtask demo`: the main job on the bundled demo clip. Sets the machine up, bundles
//! the plugin (CLAP + VST3, with the ONNX Runtime library and the model), separates
//! `demo/demo_mix.flac` into four stems with the same engine and prints each stem's SDR
//! against the demo's true stems.

use std::process::Command;

use crate::setup::{repo_root, run_cmd};

/// Runs the demo.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    crate::setup::run(args)?;
    let root = repo_root();
    crate::bundle::run(&["demix".to_string(), "--release".to_string()])?;
    let out = root.join("demo-out");
    run_cmd(
        Command::new("cargo")
            .args([
                "run",
                "--release",
                "-q",
                "-p",
                "demix-cli",
                "--",
                "separate",
                "demo/demo_mix.flac",
                "-o",
            ])
            .arg(&out)
            .args(["--reference-dir", "demo/stems"])
            .env("DEMIX_ORT_LIB", crate::fetch_ort::lib_path())
            .current_dir(&root),
    )?;
    println!("\nPlugin bundles: {}", root.join("target/bundled").display());
    println!("Stems:          {}", out.join("demo_mix").display());
    Ok(())
}
