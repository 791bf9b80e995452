"""Tests of the licensed dataset generator (models/data) and the demo clip.

Runnable without torch:  .venv/bin/python -m pytest models/tests/test_data.py
Rendering tests need the Debian packages of xtask/debian-packages.txt (fluidsynth, mma,
SoundFonts, espeak-ng, voices; `cargo xtask setup` installs them); they are skipped when absent,
which is a failure under `cargo xtask test` (strict mode, see conftest.py).
"""
from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

sf = pytest.importorskip("soundfile")
pytest.importorskip("mido")

from demix_data import sources as S

HAVE_TOOLS = all(shutil.which(t) for t in S.TOOLS) and \
    all(os.path.exists(S.SOUNDFONTS[n][0]) for n in ("FluidR3_GM", "Csound_GMbank")) and \
    os.path.isdir(S.AST_DIR) and os.path.isdir(S.OPENMSX_DIR)
needs_tools = pytest.mark.skipif(not HAVE_TOOLS, reason="Debian packages of xtask/debian-packages.txt not installed")
STEMS = ("vocals", "drums", "bass", "other")


def _check_items(info):
    for stem in STEMS:
        items = info["stems"][stem]["items"]
        for it in items:
            for k in ("package", "file", "licence"):
                assert it.get(k), f"{info['song_id']}/{stem}: item without {k}: {it}"
            assert not S.is_reserved(it["package"]), it
            assert not S.is_reserved(it["file"]), it


def test_soundfont_and_source_splits_disjoint():
    tr = set(S.soundfonts("train"))
    va = set(S.soundfonts("valid"))
    assert va and not (tr & va)
    assert not ({S.SOUNDFONTS[n][0] for n in tr} & {S.SOUNDFONTS[n][0] for n in va})
    assert not set(S.openmsx_split("train")) & set(S.openmsx_split("valid"))
    tg = {g[1] for g in S.mma_grooves_split("train")}
    vg = {g[1] for g in S.mma_grooves_split("valid")}
    assert not tg & vg
    tv = {i["speaker"] for i in S.real_voice_items("train")}
    vv = {i["speaker"] for i in S.real_voice_items("valid")}
    assert not tv & vv
    assert not set(S.ESPEAK_TRAIN["variants"]) & set(S.ESPEAK_VALID["variants"])
    assert not set(S.gcompris_split(S.GCOMPRIS_OTHER, "train")) & set(S.gcompris_split(S.GCOMPRIS_OTHER, "valid"))


def test_no_reserved_material_in_catalogue():
    for name, (path, pkg, _r, _s) in S.SOUNDFONTS.items():
        assert not S.is_reserved(path) and not S.is_reserved(pkg)
    for f in S.openmsx_files():
        assert not S.is_reserved(f)
    for sp in ("train", "valid"):
        for it in S.real_voice_items(sp):
            assert not S.is_reserved(it["file"]) and not S.is_reserved(it["package"])
    assert S.is_reserved("timgm6mb-soundfont") and S.is_reserved("/usr/share/sounds/sf2/TimGM6mb.sf2")
    for pkg in S.LICENCES:
        assert not S.is_reserved(pkg)


@needs_tools
@pytest.mark.parametrize("split,source,voice,sfont", [("train", "mma", "sinsy", "FluidR3_GM"),
                                                      ("train", "openmsx", "real", "Freepats"),
                                                      ("train", "mma", "espeak", "OPL3_FM"),
                                                      ("valid", "mma", "espeak", None)])
def test_tiny_song_stems(split, source, voice, sfont):
    from demix_data import vocals as V
    from demix_data.song import render_song

    if voice == "sinsy" and not V.sinsy_available():
        voice = "real"
    if sfont == "Freepats" and not shutil.which("timidity"):
        pytest.skip("timidity not installed")
    stems, info = render_song(f"test_{split}_{source}", split, [123, len(source)], 4, 6, source=source,
                              want_voice=voice, soundfont=sfont)
    n = len(stems["vocals"])
    assert 3 * 44100 <= n <= 12 * 44100
    for s in STEMS:
        assert stems[s].dtype == np.float32 and stems[s].shape == (n, 2)
        assert np.isfinite(stems[s]).all()
    mix = sum(stems[s].astype(np.float64) for s in STEMS)
    assert 0 < np.abs(mix).max() <= 1.0
    assert np.abs(stems["vocals"]).max() > 1e-3, "no voice rendered"
    assert np.abs(stems["other"]).max() > 1e-4, "silent accompaniment"
    _check_items(info)
    used_sf = set(info["soundfonts"].values())
    assert used_sf <= set(S.soundfonts(split)), used_sf


@needs_tools
def test_render_pipeline_writes_exact_sums(tmp_path):
    from demix_data import render as R

    songs = []
    for split in ("train", "valid"):
        songs += R.render_split(str(tmp_path), split, 0.05, 7, 1, 3, 5, log=lambda *a: None)
    man = R.write_manifest(str(tmp_path), songs, type("A", (), dict(seed=7, minutes_train=0.05, minutes_valid=0.05,
                                                                    min_seconds=3, max_seconds=5))())
    assert man["splits"]["train"]["songs"] >= 1 and man["splits"]["valid"]["songs"] >= 1
    assert not set(man["splits"]["train"]["soundfonts"]) & set(man["splits"]["valid"]["soundfonts"])
    for info in man["songs"]:
        d = tmp_path / info["split"] / info["song_id"]
        x = {s: sf.read(str(d / f"{s}.wav"), dtype="float32")[0] for s in STEMS + ("mixture",)}
        assert x["mixture"].shape[1] == 2
        err = np.abs(sum(x[s].astype(np.float64) for s in STEMS) - x["mixture"]).max()
        assert err < 1e-6, err
        assert sf.info(str(d / "mixture.wav")).samplerate == 44100
        _check_items(info)
        assert info["duration_s"] > 0
        assert info["voices"] == R.voices_available()
    assert man["voices"] == R.voices_available()
    assert (tmp_path / "summary.csv").exists()
    with open(tmp_path / "manifest.json") as f:
        assert json.load(f)["songs"]


def test_render_refuses_to_drop_a_voice_silently(tmp_path, monkeypatch, capsys):
    """Without pysinsy every song would draw among fewer vocal kinds: other songs than a full
    render, the validation split included. The CLI says so instead of rendering them."""
    from demix_data import render as R

    monkeypatch.setattr(R.V, "sinsy_available", lambda: False)
    with pytest.raises(SystemExit) as e:
        R.main(["--out", str(tmp_path), "--minutes-train", "0", "--minutes-valid", "0", "--nice", "0"])
    assert "pysinsy" in str(e.value) and "--allow-missing-voices" in str(e.value)
    assert not os.listdir(tmp_path)
    R.main(["--out", str(tmp_path), "--minutes-train", "0", "--minutes-valid", "0", "--nice", "0",
            "--allow-missing-voices"])
    with open(tmp_path / "manifest.json") as f:
        assert json.load(f)["voices"]["sinsy"] is False


@pytest.mark.optional
def test_rendered_dataset_manifest_if_present():
    p = os.path.join(ROOT, "models", ".data", "songs", "manifest.json")
    if not os.path.exists(p):
        pytest.skip("dataset not rendered here")
    with open(p) as f:
        man = json.load(f)
    tr = [s for s in man["songs"] if s["split"] == "train"]
    va = [s for s in man["songs"] if s["split"] == "valid"]
    assert tr and va
    assert not {s["song_id"] for s in tr} & {s["song_id"] for s in va}
    assert not set(man["splits"]["train"]["soundfonts"]) & set(man["splits"]["valid"]["soundfonts"])
    for s in man["songs"]:
        _check_items(s)


def test_demo_clip_stems_sum_to_mixture():
    d = os.path.join(ROOT, "demo")
    mixp = os.path.join(d, "demo_mix.flac")
    mix, sr = sf.read(mixp, dtype="int16")
    assert sr == 44100 and mix.ndim == 2 and mix.shape[1] == 2
    assert 10 * sr <= len(mix) <= 25 * sr
    acc = np.zeros(mix.shape, dtype=np.int64)
    for s in STEMS:
        x, sr2 = sf.read(os.path.join(d, "stems", f"{s}.flac"), dtype="int16")
        assert sr2 == sr and x.shape == mix.shape
        acc += x
    assert np.array_equal(acc, mix.astype(np.int64))
    assert np.abs(acc).max() < 32767
    voc, _ = sf.read(os.path.join(d, "stems", "vocals.flac"), dtype="float32")
    assert np.sqrt(np.mean(voc ** 2)) > 0.01, "demo has no clearly audible voice"
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _d, fs in os.walk(d) for f in fs)
    assert total < 3 * 1024 * 1024


def test_medley_covers_every_valid_song_with_licences():
    """tests/fixtures/medley: equal 2 s slices of all 18 valid songs, each with its sources listed."""
    d = os.path.join(ROOT, "tests", "fixtures", "medley")
    lens = set()
    for s in STEMS:
        info = sf.info(os.path.join(d, f"{s}.ogg"))
        assert info.samplerate == 44100 and info.channels == 2
        lens.add(info.frames)
    assert len(lens) == 1 and abs(lens.pop() - 36 * 44100) < 4096
    rows = [r.split("|") for r in open(os.path.join(d, "README.md")).read().splitlines()
            if r.startswith("| ") and not r.startswith("| excerpt")]
    assert sorted({int(r[1]) for r in rows}) == list(range(18))
    assert sorted({r[2].strip() for r in rows}) == [f"valid_{i:04d}" for i in range(18)]
    assert all(r[8].strip() for r in rows), "an item without a licence"


@needs_tools
def test_render_is_deterministic():
    import hashlib
    import subprocess

    code = ("import hashlib;"
            "from demix_data.song import render_song;"
            "st, _ = render_song('d', 'train', [3, 1], 4, 5, source='mma', want_voice='real');"
            "print(hashlib.sha256(b''.join(st[k].tobytes() for k in sorted(st))).hexdigest())")
    outs = set()
    for hs in ("1", "2"):  # different hash seeds: no set/dict-order dependence
        env = dict(os.environ, PYTHONHASHSEED=hs)
        r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=True)
        outs.add(r.stdout.strip().splitlines()[-1])
    assert len(outs) == 1
