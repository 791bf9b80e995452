"""The Windows build of the `demix` command, run under Wine, separates like the Linux build.

Needs the Windows CLI (`cargo build --release -p demix-cli --target x86_64-pc-windows-gnu`, or
`$DEMIX_WINDOWS_CLI`), the Windows ONNX Runtime (`cargo xtask fetch-ort --target windows`), the
Linux CLI (`cargo build --release -p demix-cli`, or `$DEMIX_LINUX_CLI`), Debian's `wine64`, the
test-only `bcryptprimitives.dll` stand-in (`$DEMIX_WINE_STAND_IN`, built from
`bcryptprimitives.c`) and the names of the Visual C++ runtime DLLs ONNX Runtime imports
(`$DEMIX_VC_RUNTIME_DLLS`, comma-separated, from the engine's `VC_RUNTIME_DLLS`).
`cargo xtask test` builds them, sets the variables and runs this.
"""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pedalboard.io import AudioFile

ROOT = Path(__file__).resolve().parents[2]
WINE = Path("/usr/lib/wine/wine64")
# Relative overrides are relative to the repository.
WIN_CLI = ROOT / os.environ.get("DEMIX_WINDOWS_CLI", "target/x86_64-pc-windows-gnu/release/demix.exe")
LINUX_CLI = ROOT / os.environ.get("DEMIX_LINUX_CLI", "target/release/demix")
WIN_ORT = ROOT / ".cache/ort/windows-x86_64/onnxruntime.dll"
MODEL = ROOT / "models/demix.onnx"
CLIP = ROOT / "demo/demo_mix.flac"
STEMS = ("vocals", "drums", "bass", "other")
# The Microsoft C++ runtime ONNX Runtime imports (Wine ships its own copies), without ".dll".
VC_RUNTIME = tuple(
    Path(name).stem.lower() for name in os.environ.get("DEMIX_VC_RUNTIME_DLLS", "").split(",") if name
)


def need(path: Path) -> Path:
    assert path.exists(), f"{path} missing (see this file's docstring)"
    return path


@pytest.fixture(scope="module")
def wine_env(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("wineprefix")
    env = dict(os.environ, WINEPREFIX=str(prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=")
    env.pop("DEMIX_ORT_LIB", None)  # the Windows CLI must find its runtime beside itself
    subprocess.run([str(need(WINE).parent / "wineserver"), "-k"], env=env, check=False)
    # Wine's own programs run through the loader (Debian's `wine` wrapper package is optional).
    boot = subprocess.run([str(WINE), "wineboot", "-i"], env=env, capture_output=True, timeout=300)
    assert boot.returncode == 0, f"wineboot -i: exit {boot.returncode}\n{boot.stderr.decode(errors='replace')}"
    return env


@pytest.fixture(scope="module")
def install_dir(tmp_path_factory):
    """The CLI as installed: the executable with the model and ONNX Runtime beside it."""
    d = tmp_path_factory.mktemp("demix-windows")
    for f in (need(WIN_CLI), need(WIN_ORT), need(MODEL)):
        shutil.copy(f, d / f.name)
    stand_in = Path(os.environ.get("DEMIX_WINE_STAND_IN") or "DEMIX_WINE_STAND_IN (unset)")
    shutil.copy(need(stand_in), d / "bcryptprimitives.dll")
    assert VC_RUNTIME, "DEMIX_VC_RUNTIME_DLLS unset (see this file's docstring)"
    return d


def read(path: Path) -> np.ndarray:
    with AudioFile(str(path)) as f:
        return f.read(f.frames)


def test_windows_cli_matches_linux_from_another_folder(wine_env, install_dir, tmp_path):
    win_out, linux_out = tmp_path / "win", tmp_path / "linux"
    # Run from a folder that holds neither the model nor ONNX Runtime.
    r = subprocess.run(
        [str(WINE), str(install_dir / "demix.exe"), "separate", str(need(CLIP)), "-o", str(win_out)],
        env=wine_env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "neural" in r.stderr, r.stderr
    subprocess.run(
        [str(need(LINUX_CLI)), "separate", str(CLIP), "-o", str(linux_out)],
        cwd=tmp_path, check=True, capture_output=True,
        env=dict(os.environ, DEMIX_ORT_LIB=str(ROOT / ".cache/ort")),
    )
    for stem in STEMS:
        w = read(win_out / "demo_mix" / f"{stem}.wav")
        lx = read(linux_out / "demo_mix" / f"{stem}.wav")
        assert w.shape == lx.shape, stem
        worst = float(np.max(np.abs(w - lx)))
        print(f"{stem}: max |windows - linux| = {worst:.2e}")
        assert worst <= 1e-4, f"{stem}: {worst}"


def test_missing_visual_cpp_runtime_is_named(wine_env, install_dir, tmp_path):
    """Without the Microsoft C++ runtime the neural engine is unavailable and the message says
    which runtime to install (Wine's own copies are switched off to stand for such a machine)."""
    env = dict(wine_env, WINEDLLOVERRIDES=wine_env["WINEDLLOVERRIDES"] + ";" + ",".join(VC_RUNTIME) + "=")
    r = subprocess.run(
        [str(WINE), str(install_dir / "demix.exe"), "separate", "--engine", "neural",
         str(need(CLIP)), "-o", str(tmp_path / "out")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert r.returncode != 0, r.stderr
    assert "Visual C++ Redistributable" in r.stderr, r.stderr
    assert "vc_redist.x64.exe" in r.stderr, r.stderr
