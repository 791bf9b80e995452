"""The VST3 plugin in a host nobody here wrote: Spotify's pedalboard (JUCE's plugin hosting).

Builds a VST3 bundle in a temporary folder from the plugin library that `cargo xtask test` just
compiled (with `assert_process_allocs`: an allocation on the audio thread aborts the host), with
ONNX Runtime and the model in `Contents/Resources/` as `cargo xtask bundle` lays them out, then:
- the reported latency is what the engine promises, and pedalboard's compensation of it gives a
  null at unity gains, at several block sizes;
- the `mode` parameter, driven by its value names, separates: Acapella and Instrumental each
  change the sound, differ from the Classic engine's, and sum back to the input;
- a saved state restores the parameters in a new instance, which then sounds the same.

    DEMIX_ORT_LIB=.cache/ort/libonnxruntime.so.1.31.1 .venv/bin/python -m pytest -q tests/vst3_host
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import soundfile as sf

pb = pytest.importorskip("pedalboard")  # models/requirements-ci.txt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = os.environ.get("DEMIX_PLUGIN_LIB", os.path.join(ROOT, "target", "debug", "libdemix.so"))
SR = 44100
BLOCK_LATENCY = {128: 1280, 512: 1536}  # samples at 44.1 kHz (docs/RESULTS.md, Latency)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    ort = os.environ.get("DEMIX_ORT_LIB")
    assert ort and os.path.exists(ort), "DEMIX_ORT_LIB must name the ONNX Runtime library (cargo xtask fetch-ort)"
    assert os.path.exists(LIB), f"{LIB} missing: build it with `cargo build -p demix`"
    b = tmp_path_factory.mktemp("vst3") / "demix.vst3"
    (b / "Contents" / "x86_64-linux").mkdir(parents=True)
    (b / "Contents" / "Resources").mkdir()
    shutil.copy(LIB, b / "Contents" / "x86_64-linux" / "demix.so")
    shutil.copy(ort, b / "Contents" / "Resources" / os.path.basename(ort))
    shutil.copy(os.path.join(ROOT, "models", "demix.onnx"), b / "Contents" / "Resources" / "demix.onnx")
    return str(b)


@pytest.fixture(scope="module")
def music():
    x, sr = sf.read(os.path.join(ROOT, "demo", "demo_mix.flac"), dtype="float32", always_2d=True)
    assert sr == SR
    return np.ascontiguousarray(x[: 5 * SR].T)


def db(residual, ref):
    return 10 * np.log10(np.sum(residual.astype(np.float64) ** 2) / np.sum(ref.astype(np.float64) ** 2) + 1e-30)


def set_choice(plugin, name, value):
    p = plugin.parameters[name]
    vals = list(p.valid_values)
    p.raw_value = vals.index(value) / (len(vals) - 1)
    assert p.string_value == value, f"{name}: asked for {value}, host reads {p.string_value}"


@pytest.mark.parametrize("block", sorted(BLOCK_LATENCY))
def test_latency_is_reported_and_compensated_to_a_null(bundle, music, block):
    p = pb.load_plugin(bundle)
    y = p.process(music, SR, buffer_size=block, reset=True)
    assert p.reported_latency_samples == BLOCK_LATENCY[block]
    assert y.shape == music.shape
    assert db(y - music, music) < -100


def test_modes_separate_and_sum_back_to_the_input(bundle, music):
    p = pb.load_plugin(bundle)
    assert p.parameters["engine"].string_value == "Neural"
    out = {}
    for mode in ("Acapella", "Instrumental"):
        set_choice(p, "mode", mode)
        out[mode] = p.process(music, SR, buffer_size=512, reset=True)
        assert db(out[mode] - music, music) > -20, f"{mode} sounds like the input: nothing was separated"
    assert db(out["Acapella"] + out["Instrumental"] - music, music) < -60
    q = pb.load_plugin(bundle)
    set_choice(q, "engine", "Classic (no model)")
    set_choice(q, "mode", "Acapella")
    classic = q.process(music, SR, buffer_size=512, reset=True)
    assert db(out["Acapella"] - classic, music) > -30, "Neural and Classic agree: the model did not run"


def test_saved_state_restores_parameters_and_sound(bundle, music):
    p = pb.load_plugin(bundle)
    p.parameters["vocals_gain_db"].raw_value = 0.25
    set_choice(p, "mode", "Custom")
    gain = p.parameters["vocals_gain_db"].string_value
    y = p.process(music, SR, buffer_size=256, reset=True)
    state = p.raw_state
    q = pb.load_plugin(bundle)
    assert q.parameters["vocals_gain_db"].string_value != gain
    q.raw_state = state
    assert q.parameters["vocals_gain_db"].string_value == gain
    assert q.parameters["mode"].string_value == "Custom"
    z = q.process(music, SR, buffer_size=256, reset=True)
    assert db(z - y, music) < -100
    assert db(y - music, music) > -40, "a vocal gain change left the sound unchanged"


def test_low_latency_is_reported_and_compensated_to_a_null(bundle, music):
    p = pb.load_plugin(bundle)
    set_choice(p, "latency", "Low")
    y = p.process(music, SR, buffer_size=128, reset=True)
    assert p.reported_latency_samples == 512  # hop 128 + one hop of frames + 256 of slack
    assert db(y - music, music) < -100
    set_choice(p, "mode", "Acapella")
    a = p.process(music, SR, buffer_size=128, reset=True)
    assert db(a - music, music) > -20, "Low latency Acapella sounds like the input"
