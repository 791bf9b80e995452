"""Tests of demix_data.records: record-like examples (sung read speech over instrumental
recordings, mixed and mastered). Runnable without torch:
    .venv/bin/python -m pytest -q models/tests/test_records.py
"""
from __future__ import annotations

import os

import numpy as np

from demix_data import audio as A
from demix_data import records as R
from demix_data import sources as S

SR = 44100


def test_limiter_keeps_peaks_under_the_ceiling_and_leaves_quiet_audio_alone():
    t = np.arange(SR) / SR
    x = 0.2 * np.sin(2 * np.pi * 220 * t)
    x[SR // 2:SR // 2 + 50] += 1.5  # a click 8 dB over a -1 dB ceiling
    mix = np.stack([x, x], axis=1)
    ceiling = 10 ** (-1 / 20)
    g = R.limiter_gain(mix, ceiling, release_ms=50)
    assert np.abs(mix * g[:, None]).max() <= ceiling * 1.001
    assert np.all(g <= 1.0)
    assert np.allclose(g[: SR // 4], 1.0)  # far from the click: untouched
    assert g[SR // 2 + 25] < 0.6


def test_master_applies_one_gain_to_both_stems_and_reaches_release_loudness():
    rng = np.random.default_rng(1)
    n = 4 * SR
    voc = 0.05 * rng.standard_normal((n, 2))
    acc = 0.05 * rng.standard_normal((n, 2))
    v2, a2, info = R.master(voc, acc, np.random.default_rng(2))
    # the same gain curve on both: their ratio sample by sample is the balance gain alone
    k = np.abs(voc[:, 0]) > 1e-3
    ratio = (v2[k, 0] / voc[k, 0]) / (a2[k, 0] / acc[k, 0])
    assert np.allclose(ratio, ratio[0], rtol=1e-6)
    mix = v2 + a2
    assert np.abs(mix).max() < 1.0
    level_db = 20 * np.log10(np.sqrt(np.mean(mix ** 2)))
    assert -20 < level_db < -5, info


def test_melody_is_diatonic_and_harmony_moves_by_scale_steps():
    rng = np.random.default_rng(4)
    notes, degs, info = R.random_melody(rng, 32)
    scale = set(R.SCALES[info["mode"]])
    assert notes and all((n.pitch - info["root_midi"]) % 12 in scale for n in notes)
    assert all(b.start >= a.start + a.dur - 1e-9 for a, b in zip(notes, notes[1:]))  # no overlaps
    third = R.harmony_line(notes, degs, info["root_midi"], info["mode"], 2)
    assert all((h.pitch - n.pitch) in (3, 4) for h, n in zip(third, notes))


def test_dev_split_shares_no_package_or_speaker_with_train():
    pk = {s: {it["package"] for it in S.recording_items(s)} for s in ("train", "dev")}
    assert pk["train"] and pk["dev"], "recordings not installed (run `cargo xtask setup`)"
    assert not pk["train"] & pk["dev"]
    spk = {s: set(S.record_speakers(s)) for s in ("train", "dev")}
    assert spk["dev"] and not spk["train"] & spk["dev"]
    for s in ("train", "dev"):
        assert not any(S.is_reserved(it["file"]) or S.is_reserved(it["package"]) for it in S.recording_items(s))


def test_every_recording_package_contributes_files_with_a_licence():
    """A glob that matches nothing (a package that moved its music) would silently shrink the
    accompaniment pool; setup installs every package of RECORDINGS."""
    for pkg, (_pattern, _member, split) in S.RECORDINGS.items():
        items = [it for it in S.recording_items(split) if it["package"] == pkg]
        assert items, f"{pkg}: no recordings found (run `cargo xtask setup`)"
        assert all(it["licence"] for it in items), pkg


def test_an_example_has_two_stems_that_sum_to_a_mastered_mixture_with_licences():
    stems, meta = R.render_example("t", "train", np.random.SeedSequence(11), 8.0)
    assert set(stems) == set(R.STEMS2)
    v, a = stems["vocals"], stems["accompaniment"]
    assert v.shape == a.shape == (8 * SR, 2)
    assert np.isfinite(v).all() and np.isfinite(a).all()
    assert np.abs(v + a).max() <= 1.0
    active = np.mean(np.sqrt(np.mean(v.reshape(-1, 4410, 2) ** 2, axis=(1, 2))) > 1e-3)
    assert active > 0.3, "the vocal stem is mostly silent"
    assert meta["licences"] and all(lic for lic in meta["licences"])
    assert meta["accompaniment"]["package"] in S.RECORDINGS
    assert meta["vocals"]["items"] and all(it["kind"] == "sung" for it in meta["vocals"]["items"])


def test_recording_licences_come_from_the_matching_copyright_stanza():
    # marsshooter's music has its own stanza (installed without the source tree's data/ folder)
    mars = [it for it in S.recording_items("dev") if it["package"] == "marsshooter-data"]
    assert mars and all(it["licence"].startswith("CC-BY-SA-3.0") for it in mars)
    # ufoai's archive members are licensed file by file; `debian/*` never stands for everything
    ufo = {it["licence"].split(" ")[0] for it in S.recording_items("train") if it["package"] == "ufoai-music"}
    assert {"CC-BY-3.0", "CC-BY-SA-3.0", "GPL-2"} <= ufo
    wz = [it for it in S.recording_items("train") if it["package"] == "warzone2100-music"]
    assert wz and all("Warzone 2100 Project" in it["licence"] for it in wz)
    hw = [it for it in S.recording_items("train") if it["package"] == "hedgewars-data"]
    assert hw and all(it["licence"].startswith("GPL-2 (") and "Hedgewars Project" in it["licence"] for it in hw)
    # naev's music is licensed track by track; the tracks only its catch-all covers are left out
    nv = {it["licence"].split(" (")[0] for it in S.recording_items("train") if it["package"] == "naev-data"}
    assert nv and nv <= {"GPL-2+", "GPL-3 or CC-BY-3.0", "CC-BY-3.0", "CC-BY-SA-3.0"}, nv


def test_a_file_whose_stanza_names_no_licence_is_left_out(monkeypatch, tmp_path):
    for name in ("a.ogg", "b.ogg"):
        (tmp_path / name).write_bytes(b"")
    stanzas = [(["*"], "GPL-2+", "Upstream"), ([f"{tmp_path.name}/b.ogg"], "", "Someone")]
    monkeypatch.setattr(S, "dep5_stanzas", lambda pkg: stanzas)
    assert S.file_licence("pkg", str(tmp_path / "b.ogg")) == ""
    monkeypatch.setattr(S, "RECORDINGS", {"pkg": (f"{tmp_path}/*.ogg", None, "test")})
    S.recording_items.cache_clear()
    try:
        assert [os.path.basename(it["file"]) for it in S.recording_items("test")] == ["a.ogg"]
    finally:
        S.recording_items.cache_clear()


def test_a_copyright_glob_covers_nested_installed_folders_and_the_last_stanza_wins(monkeypatch):
    stanzas = [(["*"], "GPL-2+", "Upstream"), (["data/music/*"], "GPL-2+", "Composer"),
               (["data/music/castle/fortress.ogg"], "CC-BY-SA-4.0", "Guest"), (["debian/*"], "GPL-3", "Packager")]
    monkeypatch.setattr(S, "dep5_stanzas", lambda pkg: stanzas)
    game = "/usr/share/games/game/music"
    assert S.file_licence("pkg", f"{game}/forest/forest.ogg") == "GPL-2+ (Composer)"
    assert S.file_licence("pkg", f"{game}/castle/fortress.ogg") == "CC-BY-SA-4.0 (Guest)"
    assert S.file_licence("pkg", f"{game}/a.ogg") == "GPL-2+ (Composer)"
    # outside the music folder only the catch-all applies
    assert S.file_licence("pkg", "/usr/share/games/game/sounds/forest.ogg") == "GPL-2+ (Upstream)"


def test_a_package_with_a_known_source_tree_is_matched_on_its_source_paths(monkeypatch):
    # the engine's `hedgewars/*` would match the installed `.../games/hedgewars/Data/...` by its
    # folder name; on source paths only the data stanzas can
    stanzas = [(["*"], "GPL-2", "Project"), (["share/hedgewars/Data/Sounds/*"], "GFDL-1.3", "Voices"),
               (["hedgewars/*"], "GPL-2", "Engine")]
    monkeypatch.setattr(S, "dep5_stanzas", lambda pkg: stanzas)
    monkeypatch.setitem(S.SOURCE_TREE, "pkg", ("/usr/share/games/hedgewars/", "share/hedgewars/"))
    base = "/usr/share/games/hedgewars/Data"
    assert S.file_licence("pkg", f"{base}/Music/Art.ogg") == "GPL-2 (Project)"
    assert S.file_licence("pkg", f"{base}/Sounds/voices/Default/Amazing.ogg") == "GFDL-1.3 (Voices)"
    monkeypatch.delitem(S.SOURCE_TREE, "pkg")
    assert S.file_licence("pkg", f"{base}/Music/Art.ogg") == "GPL-2 (Engine)"


def _tones(n: int, f0: float, phase: float = 0.0) -> np.ndarray:
    t = np.arange(n) / SR
    x = sum(0.3 / k * np.sin(2 * np.pi * f0 * k * t + phase * k) for k in range(1, 30) if f0 * k < 9000)
    return np.stack([x, 0.8 * x], axis=1)


def test_lossy_round_trip_is_aligned_and_lossy():
    x = _tones(3 * SR, 220.0)
    for codec, (*_, rates) in A.LOSSY_CODECS.items():
        y = A.lossy_round_trip(x, codec, min(rates))
        assert y.shape == x.shape
        core = slice(SR // 2, -SR // 2)  # away from the codec's start-up and padding
        snr_db = 10 * np.log10(np.sum(x[core] ** 2) / np.sum((y[core] - x[core]) ** 2))
        # one sample off would leave the 8.8 kHz partial ~65 degrees out of phase: far below 15 dB
        assert 15 < snr_db < 80, (codec, snr_db)


def test_codec_error_is_shared_so_stems_sum_to_the_decoded_mix_and_silence_stays_silent():
    n = 4 * SR
    voc = _tones(n, 330.0, 0.7)
    voc[n // 2:] = 0.0  # the singer stops half-way
    acc = _tones(n, 110.0)
    decoded = A.lossy_round_trip(voc + acc, "mp3", 128)
    v2, a2 = R.share_codec_error([voc, acc], decoded)
    assert np.allclose(v2 + a2, decoded, atol=1e-12)
    assert not np.allclose(v2, voc, atol=1e-4)  # the vocal carries some codec error
    tail = slice(n // 2 + 4096, None)  # beyond the last STFT frame that saw the voice
    assert np.sqrt(np.mean(v2[tail] ** 2)) < 1e-6
    assert np.allclose(a2[tail], decoded[tail])


def test_lossy_is_drawn_last_so_a_zero_share_keeps_examples_as_they_were():
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    voc = 0.05 * np.random.default_rng(6).standard_normal((SR, 2))
    acc = 0.05 * np.random.default_rng(7).standard_normal((SR, 2))
    v1, a1, m1 = R.finish(voc, acc, rng_a, 0.0)
    v2, a2, _ = R.master(voc, acc, rng_b)
    assert m1["lossy"] is None and np.array_equal(v1, v2) and np.array_equal(a1, a2)
    v3, a3, m3 = R.finish(voc, acc, np.random.default_rng(5), 1.0)
    assert m3["lossy"]["codec"] in A.LOSSY_CODECS
    assert np.allclose(v3 + a3, A.lossy_round_trip(v1 + a1, m3["lossy"]["codec"], m3["lossy"]["kbps"]))


def test_a_multitrack_recording_is_the_sum_of_its_parts(tmp_path):
    rng = np.random.default_rng(3)
    band, guitar = 0.1 * rng.standard_normal((3 * SR, 2)), 0.1 * rng.standard_normal((3 * SR, 2))
    import soundfile as sf
    sf.write(tmp_path / "song.wav", band, SR, subtype="FLOAT")
    sf.write(tmp_path / "guitar.wav", guitar, SR, subtype="FLOAT")
    item = dict(file=str(tmp_path / "song.wav"), parts=[str(tmp_path / "guitar.wav")])
    x = R._read_excerpt(item, 1.0, 1.0)
    assert np.allclose(x[:SR], (band + guitar)[SR:2 * SR], atol=1e-7)


def test_muldjord_songs_come_with_their_guitar_and_sectoid_stays_reserved():
    items = [it for it in S.recording_items("train") if it["package"] == "fretsonfire-songs-muldjord"]
    assert len(items) == 3, "fretsonfire-songs-muldjord not installed (run `cargo xtask setup`)"
    assert not any("mutilated_mime" in it["file"] for it in items)  # voice-like passages
    for it in items:
        assert it["parts"] and all(p.endswith("/guitar.ogg") and os.path.exists(p) for p in it["parts"])
        assert it["licence"].startswith("CC-BY-SA-3.0")
    assert S.is_reserved("/usr/share/games/fretsonfire/data/songs/sectoid/Feelings/guitar.ogg")
    assert S.is_reserved("fretsonfire-songs-sectoid")


def test_a_resumed_run_renders_again_an_example_whose_audio_is_gone(tmp_path, monkeypatch):
    calls = []

    def fake_render(ex_id, split, seed_seq, dur_s, voice, p_lossy):
        calls.append(ex_id)
        x = np.zeros((SR // 10, 2), np.float32)
        return dict(vocals=x, accompaniment=x), dict(generator_version=R.GEN_VERSION, id=ex_id)

    monkeypatch.setattr(R, "render_example", fake_render)
    job = (str(tmp_path), "train", 3, 1, 0.1, "wav", "sung", 0.0)
    R._job(job)
    R._job(job)  # complete: kept
    assert calls == ["r0003"]
    os.remove(tmp_path / "train" / "r0003" / "accompaniment.wav")
    R._job(job)
    assert calls == ["r0003", "r0003"]
    assert (tmp_path / "train" / "r0003" / "accompaniment.wav").is_file()
