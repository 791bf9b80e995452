"""The one Debian package list, xtask/debian-packages.txt, covers what the generator reads.

`cargo xtask setup` installs exactly that list. These tests fail, naming the path and the
package, when the dataset generator reads a system file that no listed package provides:
- statically, from the generator's catalogue (`demix_data.sources.system_paths()` and `TOOLS`,
  each path written next to its package), whether or not the packages are installed here;
- on the installed system, that each catalogue path exists and `dpkg -S` names its package;
- while rendering songs, that every system path the generator opens, lists or runs lies inside
  the catalogue (so a new source cannot bypass it).
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from demix_data import sources as S

PACKAGE_LIST = os.path.join(ROOT, "xtask", "debian-packages.txt")


def read_package_list(path: str = PACKAGE_LIST) -> dict[str, str]:
    """{package: group} in file order, parsed as xtask/src/setup.rs parses it."""
    out: dict[str, str] = {}
    group = ""
    for line in open(path, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if line.startswith("["):
            group = line.strip("[]")
            continue
        for pkg in line.split():
            assert pkg not in out, f"{pkg} is listed twice in {path}"
            out[pkg] = group
    return out


def catalogue() -> dict[str, str]:
    """{system path or program: package} the generator may read or run."""
    out = dict(S.system_paths())
    out.update({f"program {tool}": pkg for tool, pkg in S.TOOLS.items()})
    return out


def dpkg_owners(path: str) -> set[str]:
    """Packages that own `path` according to dpkg (empty if none)."""
    r = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
    owners: set[str] = set()
    for line in r.stdout.splitlines():
        pkgs, _, owned = line.rpartition(": ")
        if owned == path:
            owners |= {p.strip().split(":")[0] for p in pkgs.split(",")}
    return owners


def test_package_list_is_well_formed():
    pkgs = read_package_list()
    assert len(pkgs) > 20
    for pkg, group in pkgs.items():
        assert re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", pkg), f"not a Debian package name: {pkg!r}"
        assert group, f"{pkg} is not in a [group]"
    assert not set(pkgs) & set(S.RESERVED_PACKAGES), "a reserved package is on the install list"


def test_catalogue_packages_are_on_the_list():
    listed = read_package_list()
    missing = [f"{what} comes from {pkg}, which {os.path.relpath(PACKAGE_LIST, ROOT)} does not list"
               for what, pkg in catalogue().items() if pkg not in listed]
    assert not missing, "\n".join(missing)


def test_catalogue_packages_have_recorded_licences():
    unrecorded = set(S.system_paths().values()) - set(S.LICENCES)
    assert not unrecorded, f"no licence recorded in demix_data.sources.LICENCES for {sorted(unrecorded)}"


def _installed(pkg: str) -> bool:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
    return "install ok installed" in r.stdout


def test_catalogue_paths_belong_to_their_packages():
    """Each catalogue path exists and dpkg says its package owns it."""
    if not shutil.which("dpkg-query"):
        pytest.skip("not a Debian system")
    not_installed = sorted({pkg for pkg in catalogue().values() if not _installed(pkg)})
    if not_installed:
        pytest.skip(f"not installed (run `cargo xtask setup`): {' '.join(not_installed)}")
    wrong = []
    for what, pkg in catalogue().items():
        path = shutil.which(what.split()[1]) if what.startswith("program ") else what
        if not path or not os.path.exists(path):
            wrong.append(f"{what}: not found although {pkg} is installed")
            continue
        owners = dpkg_owners(path) or dpkg_owners(os.path.realpath(path))
        if pkg not in owners:
            wrong.append(f"{path}: owned by {sorted(owners) or 'no package'}, catalogue says {pkg}")
    assert not wrong, "\n".join(wrong)


# ------------------------------------------------------------------ what rendering really reads
def _ignored_prefixes() -> tuple[str, ...]:
    """Paths that are not the generator's data: Python itself, the venv, the repo, temp files."""
    keep = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    keep |= {ROOT, tempfile.gettempdir(), os.path.expanduser("~"), "/proc", "/sys", "/dev",
             "/usr/lib/python3", "/etc/ld.so.cache"}
    if sys.prefix != sys.base_prefix:  # a venv (outside one, sys.prefix may be /usr)
        keep.add(sys.prefix)
    return tuple(os.path.realpath(p) for p in keep)


class Recorder:
    """Collects absolute paths from audit events while `on` is set."""

    EVENTS = {"open", "os.scandir", "os.listdir", "glob.glob", "subprocess.Popen", "ctypes.dlopen"}

    def __init__(self):
        self.on = False
        self.paths: dict[str, str] = {}

    def __call__(self, event, args):
        if not self.on or event not in self.EVENTS or not args:
            return
        if event == "subprocess.Popen":
            exe, argv = args[0], args[1]
            argv = [argv] if isinstance(argv, (str, bytes)) else list(argv or [])
            prog = exe or (argv[0] if argv else None)
            if prog:
                found = shutil.which(os.fsdecode(prog))
                if found:
                    self.paths.setdefault(found, f"runs {os.path.basename(found)}")
            for a in argv[1:]:
                if isinstance(a, (str, bytes)) and os.fsdecode(a).startswith("/"):
                    self.paths.setdefault(os.fsdecode(a), "passed to a program")
            return
        p = args[0]
        if isinstance(p, (str, bytes)) and os.fsdecode(p).startswith("/"):
            p = os.fsdecode(p)
            while event == "glob.glob" and glob.has_magic(p):  # the folder a pattern reads
                p = os.path.dirname(p)
            self.paths.setdefault(p, event)


RECORDER = Recorder()
sys.addaudithook(RECORDER)  # hooks cannot be removed; it records only while RECORDER.on


def _covered(path: str, allowed: list[str]) -> bool:
    return any(path == a or path.startswith(a.rstrip("/") + "/") for a in allowed)


@pytest.mark.parametrize("split,source,voice,sfont,kit", [("train", "mma", "real", "FluidR3_GM", False),
                                                          ("train", "openmsx", "espeak", "Freepats", False),
                                                          ("train", "mma", "sinsy", "OPL3_FM", False),
                                                          ("train", "mma", "real", "FluidR3_GM", True),
                                                          ("valid", "mma", "real", None, False)])
def test_rendering_reads_only_catalogue_paths(split, source, voice, sfont, kit, monkeypatch):
    from demix_data import song
    from demix_data import vocals as V
    from demix_data.song import render_song

    monkeypatch.setattr(song, "P_SAMPLED_KIT", 1.0 if kit else 0.0)

    if not all(shutil.which(t) for t in S.TOOLS):
        pytest.skip("generator programs not installed (run `cargo xtask setup`)")
    if voice == "sinsy" and not V.sinsy_available():
        voice = "real"
    RECORDER.paths.clear()
    RECORDER.on = True
    try:
        render_song(f"pkgcheck_{split}_{source}", split, [7, len(source)], 3, 5, source=source,
                    want_voice=voice, soundfont=sfont)
    finally:
        RECORDER.on = False
    _assert_only_catalogue_paths()


def _assert_only_catalogue_paths():
    ignored = _ignored_prefixes()
    allowed = [p for p in S.system_paths()] + [shutil.which(t) for t in S.TOOLS]
    seen = {p: how for p, how in RECORDER.paths.items()
            if not os.path.realpath(p).startswith(ignored) and not p.startswith(ignored)}
    assert seen, "recorded no system path: the audit hook saw nothing"
    listed = read_package_list()
    stray = []
    for p, how in sorted(seen.items()):
        if _covered(p, allowed) or _covered(os.path.realpath(p), allowed):
            continue
        owners = dpkg_owners(p) or dpkg_owners(os.path.realpath(p))
        where = ", ".join(f"{o} ({'listed' if o in listed else 'NOT on the list'})" for o in sorted(owners))
        stray.append(f"{p} ({how}): owned by {where or 'no package'}; "
                     "add it to demix_data.sources.system_paths() with its package")
    assert not stray, "\n".join(stray)


@pytest.mark.parametrize("split", ["train", "dev"])
def test_record_rendering_reads_only_catalogue_paths(split):
    """The record-like examples (recordings as accompaniment, sung read speech) too."""
    import numpy as np
    from demix_data import records

    for cached in (S.recording_items, S.tuxpaint_speakers, records._duration_s):
        cached.cache_clear()  # so that the folders are listed again while recording
    RECORDER.paths.clear()
    RECORDER.on = True
    try:
        records.render_example(f"pkgcheck_{split}", split, np.random.SeedSequence(3), 6.0)
    finally:
        RECORDER.on = False
    _assert_only_catalogue_paths()
