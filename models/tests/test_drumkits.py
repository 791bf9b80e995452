"""Tests of demix_data.drumkits: GM drum notes played on Hydrogen's sampled kits. Runnable
without torch:  .venv/bin/python -m pytest -q models/tests/test_drumkits.py
"""
from __future__ import annotations

import numpy as np
import soundfile as sf

from demix_data import drumkits as DK

SR = 44100

KIT_XML = """<?xml version="1.0" encoding="UTF-8"?>
<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">
 <name>test</name>
 <instrumentList>
  <instrument><id>0</id><name>Kick</name><volume>0.5</volume><gain>1</gain>
   <pan_L>1</pan_L><pan_R>0.5</pan_R>
   <layer><filename>kick_soft.wav</filename><min>0</min><max>0.5</max><gain>1</gain></layer>
   <layer><filename>kick_hard.wav</filename><min>0.5</min><max>1</max><gain>2</gain></layer>
  </instrument>
  <instrument><id>1</id><name>Open HH</name><volume>1</volume><gain>1</gain>
   <pan_L>1</pan_L><pan_R>1</pan_R>
   <layer><filename>hat_open.wav</filename><min>0</min><max>1</max><gain>1</gain></layer>
  </instrument>
  <instrument><id>2</id><name>Closed HH</name><volume>1</volume><gain>1</gain>
   <pan_L>1</pan_L><pan_R>1</pan_R>
   <layer><filename>hat_closed.wav</filename><min>0</min><max>1</max><gain>1</gain></layer>
  </instrument>
  <instrument><id>3</id><name>Whistle</name><volume>1</volume><gain>1</gain>
   <layer><filename>hat_closed.wav</filename><min>0</min><max>1</max><gain>1</gain></layer>
  </instrument>
 </instrumentList>
</drumkit_info>
"""


def _kit(tmp_path):
    (tmp_path / "drumkit.xml").write_text(KIT_XML)
    ramp = np.linspace(1.0, 0.0, 1000)
    sf.write(tmp_path / "kick_soft.wav", 0.1 * ramp, SR, subtype="FLOAT")
    sf.write(tmp_path / "kick_hard.wav", 0.2 * ramp, SR, subtype="FLOAT")
    sf.write(tmp_path / "hat_open.wav", 0.1 * np.ones(SR), SR, subtype="FLOAT")
    sf.write(tmp_path / "hat_closed.wav", 0.05 * np.ones(100), SR, subtype="FLOAT")
    return str(tmp_path)


def test_notes_play_their_layer_at_their_time_with_the_kit_s_gains(tmp_path):
    kit = _kit(tmp_path)
    t = 4410  # 0.1 s
    x, info = DK.render([(t / SR, 36, 127), (0.5, 36, 32)], kit, SR, np.random.default_rng(0))
    assert not x[:t].any()
    # hard layer: velocity 1 x volume 0.5 x layer gain 2 x 0.2; the right channel panned to half
    assert np.isclose(x[t, 0], 0.2) and np.isclose(x[t, 1], 0.1)
    s = int(0.5 * SR)
    assert np.isclose(x[s, 0], 32 / 127 * 0.5 * 0.1)  # soft layer
    assert info["notes"] == ["36:Kick"] and info["notes_left_out"] == []


def test_the_closed_hi_hat_chokes_the_open_one_and_unknown_notes_are_left_out(tmp_path):
    kit = _kit(tmp_path)
    x, info = DK.render([(0.1, 46, 127), (0.3, 42, 127), (0.4, 62, 100)], kit, SR, np.random.default_rng(0))
    choke = int(0.3 * SR)
    fade = int(DK.HH_CHOKE_MS * 1e-3 * SR)
    assert np.isclose(x[choke - 1, 0], 0.1)  # the open hat rings until the closed one
    assert not x[choke + fade + 100:].any()  # then stops (the closed hat is 100 samples long)
    assert info["notes_left_out"] == [62]  # a conga: no instrument of the kit plays it
    assert "Whistle" not in {i.name for i in DK.load_kit(kit)}


def test_every_packaged_kit_plays_kick_snare_and_hi_hat():
    kits = DK.installed_kits()
    assert kits == list(DK.KITS), "hydrogen-drumkits not installed (run `cargo xtask setup`)"
    rng = np.random.default_rng(0)
    for name in kits:
        kit = DK.load_kit(name)
        for note in (36, 38, 42):
            assert DK.pick(kit, note, rng) is not None, (name, note)


def test_instrument_names_say_what_they_are():
    assert DK.kinds_of("Ride (Custom, Zagrebin 22\")") == ("ride",)  # not a tom
    assert DK.kinds_of("VariBreaks Hat 1 Op") == ("hh_open",)
    assert DK.kinds_of("Snare Rimshot") == ("snare",)
    assert DK.kinds_of("Floor Tom")[0] == "tom_low"
    assert DK.kinds_of("redo super opaco") == ()
