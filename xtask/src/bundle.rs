//! `cargo xtask bundle demix [--release]`: nice-plug-xtask's bundler, then the run-time files
//! the neural engine needs are copied where the plugin looks for them (relative to its own
//! binary, never the current directory):
//! - CLAP (`target/bundled/demix.clap` is a single file on Linux): `target/bundled/demix-resources/`
//!   beside it — install both into the same folder;
//! - VST3: `target/bundled/demix.vst3/Contents/Resources/`.
//!
//! The files: the ONNX Runtime library (`fetch-ort`) and the default model `models/demix.onnx`.

use std::path::Path;

use anyhow::Context;

use crate::setup::repo_root;

/// Folder name of the resources beside a CLAP file (the engine looks there).
pub use demix_engine::model::bundle::BUNDLE_RESOURCES_DIR as RESOURCES_DIR;

/// Copies `files` into `dir` (created), keeping their names.
pub(crate) fn copy_into(dir: &Path, files: &[&Path]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for f in files {
        let name = f.file_name().context("file name")?;
        std::fs::copy(f, dir.join(name))
            .with_context(|| format!("copying {} into {}", f.display(), dir.display()))?;
    }
    Ok(())
}

/// Bundles and adds the run-time files.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let argv = std::iter::once("bundle".to_string()).chain(args.iter().cloned());
    nice_plug_xtask::main_with_args("cargo xtask", argv)?;
    crate::fetch_ort::run(&[])?;
    let root = repo_root();
    let lib = crate::fetch_ort::lib_path();
    let model = root.join("models").join(demix_engine::model::bundle::MODEL_FILE);
    let files: Vec<&Path> =
        [lib.as_path(), model.as_path()].into_iter().filter(|p| p.exists()).collect();
    let bundled = root.join("target").join("bundled");
    // nice-plug-xtask takes any `target/<profile>/demix` executable for a standalone build of
    // the plugin; ours is the command-line tool of the same name, which is no plugin.
    for profile in ["release", "debug"] {
        let cli = root.join("target").join(profile).join("demix");
        let stray = bundled.join("demix");
        if stray.is_file()
            && cli.is_file()
            && std::fs::read(&stray).ok() == std::fs::read(&cli).ok()
        {
            std::fs::remove_file(&stray)?;
        }
    }
    if bundled.join("demix.clap").exists() {
        copy_into(&bundled.join(RESOURCES_DIR), &files)?;
    }
    let vst3 = bundled.join("demix.vst3");
    if vst3.exists() {
        copy_into(&vst3.join("Contents").join("Resources"), &files)?;
    }
    for f in &files {
        eprintln!("bundled {}", f.display());
    }
    Ok(())
}
