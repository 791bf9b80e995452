//! `cargo xtask setup`: everything a fresh Debian 12 machine needs before building and testing:
//! Debian packages (installed with apt when running as root, otherwise a clear message), the
//! Python venv `.venv` for the model-side tests (no PyTorch: training has its own documented
//! setup in `models/README.md`), and the pinned ONNX Runtime library (`fetch-ort`, which
//! downloads with the venv's pip).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// The one list of Debian packages the project needs, grouped by purpose
/// (`xtask/debian-packages.txt`; its header gives the format).
const DEBIAN_PACKAGES_TXT: &str = include_str!("../debian-packages.txt");

/// The packages of `debian-packages.txt`, in file order (group headers and comments dropped).
pub fn apt_packages() -> Vec<&'static str> {
    DEBIAN_PACKAGES_TXT
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.starts_with('['))
        .flat_map(str::split_whitespace)
        .collect()
}

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
    apt_packages()
        .into_iter()
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
        eprintln!(
            "note: not a Debian system; make sure the equivalents of {:?} are installed",
            apt_packages()
        );
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
    run_cmd(
        Command::new("apt-get").args(["update", "-qq"]).env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
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
    // the project's own Python package (demix_data, demix_model), editable: its console scripts
    // (demix-render, demix-train, ...) run the working tree's code
    let package = "models/pyproject.toml";
    let mut wanted = String::new();
    for r in reqs.iter().chain([&package]) {
        wanted.push_str(
            &std::fs::read_to_string(root.join(r)).with_context(|| format!("reading {r}"))?,
        );
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
    run_cmd(
        Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--no-deps",
                "-e",
                "models",
            ])
            .current_dir(&root),
    )?;
    std::fs::write(stamp, wanted)?;
    Ok(())
}

/// Runs every setup step.
pub fn run(_args: &[String]) -> anyhow::Result<()> {
    apt()?;
    venv()?;
    crate::fetch_ort::run(&[])?;
    eprintln!("setup complete");
    Ok(())
}
