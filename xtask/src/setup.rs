//! `cargo xtask setup`: everything a fresh Debian 12 machine needs before building and testing:
//! Debian packages (installed with apt when running as root, otherwise a clear message), the
//! pinned ONNX Runtime library (`fetch-ort`), and the Python venv `.venv` for the model-side
//! tests (no PyTorch: training has its own documented setup in `models/README.md`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// Debian packages for building the plugin (X11/GL/ALSA/JACK), headless GUI checks (Xvfb) and
/// the dataset generator's tests (FluidSynth/TiMidity, the train and valid SoundFonts, MMA,
/// openMSX songs, espeak-ng, recorded prompts, ffmpeg).
pub const APT_PACKAGES: &[&str] = &[
    "pkg-config",
    "libx11-dev",
    "libx11-xcb-dev",
    "libxcb1-dev",
    "libxcb-icccm4-dev",
    "libxcb-dri2-0-dev",
    "libxcursor-dev",
    "libxrandr-dev",
    "libgl-dev",
    "libgl1-mesa-dev",
    "libasound2-dev",
    "libjack-jackd2-dev",
    "xvfb",
    "xauth",
    "x11-apps",
    "fluidsynth",
    "fluid-soundfont-gm",
    "csound-soundfont",
    "freepats",
    "timidity",
    "mma",
    "openttd-openmsx",
    "asterisk-core-sounds-en-g722",
    "espeak-ng",
    "ffmpeg",
    "sox",
    "flac",
];

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repo root")
}

/// Runs a command, failing with its command line if it does not succeed.
pub fn run_cmd(cmd: &mut Command) -> anyhow::Result<()> {
    let line = format!("{cmd:?}");
    eprintln!("==> {line}");
    let status = cmd.status().with_context(|| format!("could not start {line}"))?;
    if !status.success() {
        bail!("command failed ({status}): {line}");
    }
    Ok(())
}

fn missing_packages() -> Vec<&'static str> {
    APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            let out = Command::new("dpkg-query").args(["-W", "-f=${Status}", p]).output();
            !matches!(out, Ok(o) if String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn apt() -> anyhow::Result<()> {
    if Command::new("dpkg-query").arg("--version").output().is_err() {
        eprintln!("note: not a Debian system; make sure the equivalents of {APT_PACKAGES:?} are installed");
        return Ok(());
    }
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing system packages: {}\nInstall them as root, then run this command again:\n  sudo apt-get install -y {}",
            missing.join(" "),
            missing.join(" ")
        );
    }
    run_cmd(Command::new("apt-get").args(["update", "-qq"]).env("DEBIAN_FRONTEND", "noninteractive"))?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The venv's python.
pub fn venv_python() -> PathBuf {
    repo_root().join(".venv").join("bin").join("python")
}

fn venv() -> anyhow::Result<()> {
    let root = repo_root();
    let py = venv_python();
    if !py.exists() {
        run_cmd(Command::new("python3").args(["-m", "venv"]).arg(root.join(".venv")))?;
    }
    let stamp = root.join(".venv").join(".demix-ci-requirements");
    let reqs = ["models/requirements-ci.txt", "models/requirements-data.txt"];
    let mut wanted = String::new();
    for r in reqs {
        wanted.push_str(&std::fs::read_to_string(root.join(r)).with_context(|| format!("reading {r}"))?);
    }
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    let mut pip = Command::new(&py);
    pip.args(["-m", "pip", "install", "-q", "--disable-pip-version-check"]).current_dir(&root);
    for r in reqs {
        pip.args(["-r", r]);
    }
    run_cmd(&mut pip)?;
    std::fs::write(stamp, wanted)?;
    Ok(())
}

/// Runs every setup step.
pub fn run(_args: &[String]) -> anyhow::Result<()> {
    apt()?;
    crate::fetch_ort::run(&[])?;
    venv()?;
    eprintln!("setup complete");
    Ok(())
}
