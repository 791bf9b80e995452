//! `cargo xtask dist [--linux-only | --windows-only]`: release archives in `target/dist/`:
//!
//! - `demix-<version>-linux-x86_64.tar.gz`
//! - `demix-<version>-windows-x86_64.zip` (cross-compiled with mingw-w64)
//! - `SHA256SUMS` over the archives written by this run
//!
//! Each archive holds one folder `demix-<version>-<platform>/` with
//! - `CLAP/demix.clap` and `CLAP/demix-resources/` (model, ONNX Runtime) — install both side by side;
//! - `VST3/demix.vst3/` (model and ONNX Runtime in `Contents/Resources/`);
//! - `CLI/` — the `demix` command with the model and ONNX Runtime beside it (it looks there);
//! - `INSTALL.md` (for that platform), `README.md`, `MODEL_CARD.md`, `CHANGELOG.md`;
//! - `licences/`: demix's GPL-3.0 text, the licences of the Rust crates compiled into it
//!   (`rust-crates.txt`, `texts/`; see `notices.rs`) and ONNX Runtime's licence and
//!   third-party notices.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use crate::bundle::copy_into;
use crate::fetch_ort;
use crate::install::copy_dir;
use crate::platform::Platform;
use crate::setup::{repo_root, run_cmd};

/// Builds, stages and archives every requested platform.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let platforms = match args {
        [] => vec![Platform::LinuxX86_64, Platform::WindowsX86_64],
        [a] if a == "--linux-only" => vec![Platform::LinuxX86_64],
        [a] if a == "--windows-only" => vec![Platform::WindowsX86_64],
        _ => bail!("usage: cargo xtask dist [--linux-only | --windows-only]"),
    };
    crate::setup::run(&[])?;
    let root = repo_root();
    let version = env!("CARGO_PKG_VERSION");
    let out = root.join("target/dist");
    std::fs::create_dir_all(&out)?;
    let mut archives = Vec::new();
    for p in platforms {
        archives.push(build_platform(&root, &out, version, p)?);
    }
    let mut sums = String::new();
    for a in &archives {
        let bytes = std::fs::read(a)?;
        let name = a.file_name().context("archive name")?.to_string_lossy();
        sums += &format!("{:x}  {name}\n", Sha256::digest(&bytes));
    }
    std::fs::write(out.join("SHA256SUMS"), &sums)?;
    eprint!("{sums}");
    eprintln!("dist: archives and SHA256SUMS in {}", out.display());
    Ok(())
}

fn build_platform(root: &Path, out: &Path, version: &str, p: Platform) -> anyhow::Result<PathBuf> {
    p.ensure_rust_target()?;
    let ort_lib = fetch_ort::fetch(p, false)?;
    // The plugin and the CLI, in the platform's own target folder: nice-plug's bundler writes
    // `<target folder>/bundled/`, so the Windows plugin never replaces the Linux one in
    // `target/bundled/`.
    let target_dir = p.target_dir(root)?;
    let bundled = target_dir.join("bundled");
    // The bundler adds to an existing `demix.vst3` folder: start from an empty one, so nothing
    // stale travels along.
    let vst3_built = bundled.join("demix.vst3");
    if vst3_built.exists() {
        std::fs::remove_dir_all(&vst3_built)
            .with_context(|| format!("removing {}", vst3_built.display()))?;
    }
    let mut bundle = vec!["bundle".to_string(), "demix".into(), "--release".into()];
    bundle.extend(p.target_args());
    with_target_dir(&target_dir, || nice_plug_xtask::main_with_args("cargo xtask", bundle))?;
    run_cmd(
        Command::new("cargo")
            .args(["build", "--release", "-p", "demix-cli"])
            .args(p.target_args())
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(root),
    )?;

    let folder = format!("demix-{version}-{}", p.name());
    let stage = out.join(&folder);
    if stage.exists() {
        std::fs::remove_dir_all(&stage)?;
    }
    let model = root.join("models").join(demix_engine::model::bundle::MODEL_FILE);
    let runtime: [&Path; 2] = [&model, &ort_lib];

    let clap_dir = stage.join("CLAP");
    std::fs::create_dir_all(&clap_dir)?;
    copy_file(&bundled.join("demix.clap"), &clap_dir.join("demix.clap"))?;
    copy_into(&clap_dir.join(crate::bundle::RESOURCES_DIR), &runtime)?;

    let vst3 = stage.join("VST3").join("demix.vst3");
    copy_dir(&bundled.join("demix.vst3"), &vst3)?;
    copy_into(&vst3.join("Contents").join("Resources"), &runtime)?;

    let cli_dir = stage.join("CLI");
    std::fs::create_dir_all(&cli_dir)?;
    copy_file(&p.out_dir(root, "release")?.join(p.cli_file()), &cli_dir.join(p.cli_file()))?;
    copy_into(&cli_dir, &runtime)?;

    copy_file(&root.join(p.install_doc()), &stage.join("INSTALL.md"))?;
    for doc in ["README.md", "CHANGELOG.md", "models/MODEL_CARD.md"] {
        let src = root.join(doc);
        copy_file(&src, &stage.join(src.file_name().context("doc name")?))?;
    }
    let licences = stage.join("licences");
    std::fs::create_dir_all(&licences)?;
    copy_file(&root.join("LICENSE"), &licences.join("demix-GPL-3.0.txt"))?;
    crate::notices::write(root, p, &licences)?;
    for l in p.licence_paths() {
        copy_file(&l, &licences.join(l.file_name().context("licence name")?))?;
    }

    let archive = match p {
        Platform::LinuxX86_64 => {
            let a = out.join(format!("{folder}.tar.gz"));
            // GNU tar and gzip are essential packages on Debian.
            run_cmd(
                Command::new("tar")
                    .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-czf"])
                    .arg(&a)
                    .arg(&folder)
                    .current_dir(out),
            )?;
            a
        }
        Platform::WindowsX86_64 => {
            let a = out.join(format!("{folder}.zip"));
            write_zip(&stage, &folder, &a)?;
            a
        }
    };
    eprintln!("dist: {}", archive.display());
    Ok(archive)
}

/// Runs `f` (nice-plug's bundler, which asks cargo for its target folder) with
/// `CARGO_TARGET_DIR` set to `dir`, then restores the variable.
fn with_target_dir<T>(dir: &Path, f: impl FnOnce() -> T) -> T {
    let before = std::env::var_os("CARGO_TARGET_DIR");
    std::env::set_var("CARGO_TARGET_DIR", dir);
    let result = f();
    match before {
        Some(v) => std::env::set_var("CARGO_TARGET_DIR", v),
        None => std::env::remove_var("CARGO_TARGET_DIR"),
    }
    result
}

fn copy_file(src: &Path, dst: &Path) -> anyhow::Result<()> {
    std::fs::copy(src, dst)
        .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    Ok(())
}

/// Zips `dir` as `prefix/...` into `dest` (deflate; files in name order).
fn write_zip(dir: &Path, prefix: &str, dest: &Path) -> anyhow::Result<()> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.sort();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(dest)?);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for f in files {
        let rel = f.strip_prefix(dir)?;
        let name = Path::new(prefix).join(rel);
        let name = name.to_string_lossy().replace('\\', "/");
        zip.start_file(name, options)?;
        std::io::copy(&mut std::fs::File::open(&f)?, &mut zip)?;
    }
    zip.finish()?;
    Ok(())
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            collect_files(&entry.path(), out)?;
        } else {
            out.push(entry.path());
        }
    }
    Ok(())
}
