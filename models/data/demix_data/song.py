"""Compose and render one multitrack song with true stems."""
from __future__ import annotations

import os
import tempfile

import mido
import numpy as np

from . import audio as A
from . import drumkits as DK
from . import midi as M
from . import singing as G
from . import sources as S
from . import vocals as V
from .rcc import read_rcc_file

STEMS = ("vocals", "drums", "bass", "other")
# Share of train songs whose drum part is played on a sampled kit (drumkits.py) instead of the
# SoundFont; the valid split never draws, so it renders as before.
P_SAMPLED_KIT = 0.3
LEAD_PROGRAMS = [56, 65, 66, 73, 80, 81, 40, 11, 24, 26, 29, 71, 68, 22, 17]
# programs an accompaniment channel may be remapped to (no bass, no voices, no sound effects)
OTHER_PROGRAMS = [p for p in range(0, 104) if not (32 <= p <= 39) and p not in M.VOICE_PROGRAMS
                  and p not in (55,)]


def _sf_item(name: str) -> dict:
    path, pkg, _role, _split = S.SOUNDFONTS[name]
    return dict(package=pkg, file=path, licence=S.LICENCES[pkg], soundfont=name)


def _choose_soundfonts(rng, split):
    if split == "valid":
        v = S.soundfonts("valid", "gm")[0]
        return dict(drums=v, bass=v, other=v, vocals=v)
    gms = S.soundfonts("train", "gm")
    w = np.array([{"FluidR3_GM": 0.55, "OPL3_FM": 0.2, "Freepats": 0.25}.get(g, 0.2) for g in gms])
    main = gms[int(rng.choice(len(gms), p=w / w.sum()))]
    sfs = dict(drums=main, bass=main, other=main, vocals=main)
    kits = S.soundfonts("train", "drums")
    if kits and rng.random() < 0.35:
        sfs["drums"] = kits[int(rng.integers(len(kits)))]
    for k in ("bass", "other", "vocals"):
        if rng.random() < 0.25:
            sfs[k] = gms[int(rng.integers(len(gms)))]
    return sfs


def _program_map(rng, notes_by_ch: dict) -> dict:
    pm = {}
    bass_prog = int(rng.integers(32, 40))
    for ch, notes in notes_by_ch.items():
        if ch == 9:
            continue
        for p in {n[4] for n in notes}:
            if p in M.VOICE_PROGRAMS:
                pm[(ch, p)] = int(rng.choice([48, 49, 50, 89, 19]))
            elif 32 <= p <= 39:
                if rng.random() < 0.5:
                    pm[(ch, p)] = bass_prog
            elif rng.random() < 0.3:
                pm[(ch, p)] = int(rng.choice(OTHER_PROGRAMS))
    return pm


def _nearest_prog(p: int, cover: tuple) -> int:
    fam = [c for c in cover if c // 8 == p // 8]
    pool = fam or list(cover)
    return min(pool, key=lambda c: abs(c - p))


def _cover(pm: dict, nb: dict, path: str) -> dict:
    """For TiMidity patch sets: map every program to one the set provides (no silent parts)."""
    if not path.endswith(".cfg"):
        return pm
    cover = S.timidity_programs(path)
    out = dict(pm)
    for ch, notes in nb.items():
        if ch == 9:
            continue
        for p in {n[4] for n in notes}:
            q = pm.get((ch, p), p)
            if q not in cover:
                out[(ch, p)] = _nearest_prog(q, cover)
    return out


def _cover_track(tr, path):
    if tr is None or not path.endswith(".cfg"):
        return tr
    cover = S.timidity_programs(path)
    return mido.MidiTrack([m.copy(program=_nearest_prog(m.program, cover)) if m.type == "program_change" and
                           m.program not in cover else m for m in tr])


def _skyline(notes):
    """Monophonic top line from (start, end, pitch, ...) tuples (ticks)."""
    notes = sorted(notes, key=lambda n: (n[0], -n[2]))
    out = []
    for n in notes:
        if out and n[0] < out[-1][1]:
            if n[0] == out[-1][0] and n[2] > out[-1][2]:
                out[-1] = n
            continue
        out.append(n)
    return out


def render_song(song_id: str, split: str, seed_seq, min_s: float = 20, max_s: float = 60,
                source: str | None = None, want_voice: str | None = None,
                soundfont: str | None = None) -> tuple[dict, dict]:
    """Render one song. source/want_voice/soundfont force choices (tests, demo)."""
    rng = np.random.default_rng(seed_seq)
    with tempfile.TemporaryDirectory(prefix="demix_") as wd:
        return _render(song_id, split, rng, min_s, max_s, wd, source, want_voice, soundfont)


def _render(song_id, split, rng, min_s, max_s, wd, source, want_voice, soundfont=None):
    if source is None:
        source = "openmsx" if rng.random() < 0.2 else "mma"
    sfs = _choose_soundfonts(rng, split)
    if soundfont:
        sfs = {k: soundfont for k in sfs}
    items = {s: [] for s in STEMS}
    info = dict(song_id=song_id, split=split, source=source, soundfonts=sfs)
    lo = int(rng.integers(55, 62))
    hi = lo + int(rng.integers(12, 17))

    if source == "mma":
        grooves = S.mma_grooves_split(split)
        for _try in range(12):
            # most songs should have all four stems: re-pick grooves without drums or bass
            g, gfile, beats = grooves[int(rng.integers(len(grooves)))]
            chart = M.make_chart(rng, g, gfile, beats, min_s, max_s)
            try:
                mid_path = M.run_mma(chart, wd)
            except RuntimeError:
                continue
            mid = mido.MidiFile(mid_path)
            nbt = M.channel_notes(mid)
            full = 9 in nbt and any(32 <= x[4] <= 39 for ch, ns in nbt.items() if ch != 9 for x in ns)
            if full or rng.random() < 0.1:
                break
        else:
            raise RuntimeError("no usable groove found")
        beat_s = 60.0 / chart.tempo
        n_bars = len(chart.chords)
        dur_s = n_bars * beats * beat_s
        t_off = 0.0  # song start in the MIDI timeline (s)
        melody = M.write_melody(rng, chart, lo, hi)  # beats from song start
        vocal_spans = [(b0 * beats * beat_s, (b0 + ln) * beats * beat_s) for _n, b0, ln, v in chart.sections if v]
        if want_voice is None and rng.random() < 0.05:
            vocal_spans, melody = [], []  # an instrumental song (silent vocal stem)
        tempo = chart.tempo
        info.update(groove=g, tempo=chart.tempo, key=M.NOTE_NAMES[chart.key] + ("m" if chart.minor else ""),
                    beats_per_bar=beats, chords=" ".join(chart.chord_name(i) for i in range(n_bars)))
        src_item = dict(package="mma", file=gfile, licence=S.LICENCES["mma"], groove=g)
        lead_ch = None
    else:
        files = S.openmsx_split(split)
        f = files[int(rng.integers(len(files)))]
        mid = mido.MidiFile(f)
        tmap = M.tick_to_seconds_map(mid)
        nb = M.channel_notes(mid)
        tpb = mid.ticks_per_beat
        last_tick = max(n[1] for ns in nb.values() for n in ns)
        total_s = float(tmap(last_tick))
        beats = 4
        want = rng.uniform(min_s, max_s)
        want = min(want, total_s - 1)
        n_bars_total = int(last_tick // (beats * tpb))
        # start on a bar line with material after it
        max_start_bar = max(0, n_bars_total - int(np.ceil(want / (float(tmap(beats * tpb)) or 2.0))) - 1)
        sb = int(rng.integers(0, max_start_bar + 1))
        start_tick = sb * beats * tpb
        t_off = float(tmap(start_tick))
        dur_s = float(min(want, total_s - t_off))
        # tempo at segment start
        tempo_us = 500000
        for tr in mid.tracks:
            t = 0
            for m in tr:
                t += m.time
                if m.type == "set_tempo" and t <= start_tick:
                    tempo_us = m.tempo
        tempo = 60e6 / tempo_us
        beat_s = 60.0 / tempo
        # lead channel: most notes, high register, mostly monophonic
        best, lead_ch = -1, None
        for ch, ns in nb.items():
            if ch == 9 or not ns:
                continue
            seg = [n for n in ns if tmap(n[0]) >= t_off and tmap(n[0]) < t_off + dur_s]
            if len(seg) < 8 or all(32 <= n[4] <= 39 for n in seg):
                continue
            mp = np.mean([n[2] for n in seg])
            mono = len(_skyline(seg)) / len(seg)
            score = len(seg) * mono * (1 + (mp - 55) / 12)
            if score > best:
                best, lead_ch = score, ch
        melody = []
        if lead_ch is not None:
            for n in _skyline(nb[lead_ch]):
                s = float(tmap(n[0])) - t_off
                if 0 <= s < dur_s:
                    melody.append(M.Note(start=(n[0] - start_tick) / tpb, dur=(n[1] - n[0]) / tpb, pitch=n[2]))
            # move the melody into the singer's range
            if melody:
                mp = np.mean([n.pitch for n in melody])
                shift = int(round(((lo + hi) / 2 - mp) / 12)) * 12
                for n in melody:
                    n.pitch += shift
        # vocal spans: alternate 4/8-bar blocks on and off
        bar_s = beats * beat_s
        vocal_spans, t = [], float(rng.choice([0, bar_s * 2, bar_s * 4]))
        while t < dur_s - 2:
            ln = bar_s * float(rng.choice([4, 8]))
            if rng.random() < 0.75:
                vocal_spans.append((t, min(t + ln, dur_s)))
            t += ln
        if not vocal_spans:
            vocal_spans = [(0.0, dur_s)]
        info.update(tempo=round(tempo, 2), segment_start_s=round(t_off, 3), lead_channel=lead_ch)
        src_item = dict(package="openttd-openmsx", file=f, licence=S.LICENCES["openttd-openmsx"])
        # keep only melody notes inside vocal spans
        melody = [n for n in melody if any(a <= n.start * beat_s < b for a, b in vocal_spans)]

    n = int(round(dur_s * A.SR))
    info["duration_s"] = round(n / A.SR, 3)
    nb = M.channel_notes(mid)
    pm = _program_map(rng, nb)
    drop_lead = lead_ch is not None and rng.random() < 0.5
    info["lead_instrument"] = "dropped" if drop_lead else ("in other" if lead_ch is not None else None)

    def crop(x):
        s = int(round(t_off * A.SR))
        return A.fit(x[s:], n)

    # ---------------- accompaniment stems
    raw = {}
    kits = DK.installed_kits() if split == "train" else []
    kit = kits[int(rng.integers(len(kits)))] if kits and rng.random() < P_SAMPLED_KIT else None
    for stem in ("drums", "bass", "other"):
        sfname = sfs[stem]
        sfpath = S.SOUNDFONTS[sfname][0]
        kit_only = S.SOUNDFONTS[sfname][2] == "drums"
        kit_x, kit_notes = None, None
        if stem == "drums" and kit:
            # the kit plays what it has; the SoundFont plays the rest (congas, claves, ...)
            kit_x, kit_item = DK.render(DK.drum_notes(mid), kit, int(t_off * A.SR) + n + A.SR, rng)
            kit_notes = set(range(128)) - set(kit_item["notes_left_out"])
            items[stem].append(kit_item)
            info["sampled_kit"] = kit

        def keep(ch, prog, note, stem=stem, kit_notes=kit_notes):
            if drop_lead and ch == lead_ch:
                return False
            if kit_notes is not None and ch == 9 and note in kit_notes:
                return False
            return M.group_of(ch, pm.get((ch, prog), prog)) == stem

        extra = None
        if stem == "other" and source == "mma" and melody and rng.random() < 0.3:
            prog = int(rng.choice(LEAD_PROGRAMS))
            extra = M.notes_track(melody, mid.ticks_per_beat, channel=10, program=prog,
                                  velocity=int(rng.integers(60, 100)), transpose=int(rng.choice([0, 0, 12, -12])))
            info["melody_double_program"] = prog
        fm = M.filter_midi(mid, keep, program_map=_cover(pm, nb, sfpath), drums_to_melodic=kit_only,
                           extra_notes=_cover_track(extra, sfpath))
        x = M.fluidsynth_render(fm, sfpath, wd, stem, int(t_off * A.SR) + n + A.SR)
        if kit_x is not None:
            x = x + kit_x
        raw[stem] = crop(x)
        items[stem].append(dict(src_item))
        items[stem].append(_sf_item(sfname))

    # ---------------- vocals
    vox = np.zeros(n)
    # vocal kinds and their chance of being a song's main kind: Sinsy singing, recorded speech
    # turned into singing ("sung", singing.py), recorded speech on the beat ("real"), espeak-ng
    weights = {"sinsy": 0.3, "sung": 0.3, "real": 0.25, "espeak": 0.15}
    if not V.sinsy_available():
        weights.pop("sinsy")
    if not G.available():
        weights.pop("sung")
    kinds = list(weights)
    probs = np.array([weights[k] for k in kinds])
    primary = want_voice or kinds[int(rng.choice(len(kinds), p=probs / probs.sum()))]
    if primary in ("sinsy", "sung") and not melody:
        primary = "real"
    span_kind = []
    for sp in vocal_spans:
        k = primary
        if want_voice is None and rng.random() < 0.3:
            k = kinds[int(rng.integers(len(kinds)))]
        if k in ("sinsy", "sung") and not melody:
            k = "real"
        span_kind.append((sp, k))
    info["vocal_kinds"] = sorted({k for _s, k in span_kind})
    sing = [sp for sp, k in span_kind if k == "sinsy"]
    if sing:
        notes = [nt for nt in melody if any(a <= nt.start * beat_s < b for a, b in sing)]
        if notes:
            x, it = V.sinsy_sing(notes, tempo, beats, rng, wd, n)
            fs = 0.0
            if rng.random() < 0.5:
                fs = float(rng.uniform(-4, 2))
                x = A.formant_shift(x, fs)
            it["transforms"] = dict(formant_semitones=round(fs, 2))
            lead_rms = A.active_rms(x) + 1e-9
            vox += x / lead_rms
            items["vocals"].append(it)
            if source == "mma" and rng.random() < 0.25:
                # backing harmony a diatonic third above (or below), quieter, same voice
                scale = [(chart.key + d) % 12 for d in (M.MINOR if chart.minor else M.MAJOR)]
                up = bool(rng.random() < 0.6)
                harm = []
                for nt in notes:
                    p = nt.pitch
                    for _ in range(2):
                        p += 1 if up else -1
                        while p % 12 not in scale:
                            p += 1 if up else -1
                    harm.append(M.Note(start=nt.start, dur=nt.dur, pitch=p))
                h, hit = V.sinsy_sing(harm, tempo, beats, rng, wd, n)
                if fs:
                    h = A.formant_shift(h, fs)
                hl = float(rng.uniform(0.25, 0.5))
                vox += h / (A.active_rms(h) + 1e-9) * hl
                hit["kind"] = "sinsy_harmony"
                hit["transforms"] = dict(formant_semitones=round(fs, 2), third="above" if up else "below",
                                         rel_level=round(hl, 2))
                items["vocals"].append(hit)
    sung = [sp for sp, k in span_kind if k == "sung"]
    if sung:
        x, its = G.sung_track(rng, n, melody, sung, beat_s, S.voice_speakers(split), max_phrase_s=beats * beat_s * 2)
        if its:
            vox += x / (A.active_rms(x) + 1e-9)
            items["vocals"].extend(its)
    real = [sp for sp, k in span_kind if k == "real"]
    if real:
        maker = V.real_phrase_maker(rng, S.voice_speakers(split), split)
        x, its = V.place_phrases(rng, n, real, beat_s, maker, max_bars_s=beats * beat_s * 2)
        if its:
            vox += x / (A.active_rms(x) + 1e-9)
            items["vocals"].extend(its)
    esp = [sp for sp, k in span_kind if k == "espeak"]
    if esp:
        cfg = S.ESPEAK_VALID if split == "valid" else S.ESPEAK_TRAIN
        maker, voice = V.espeak_phrase_maker(rng, cfg, wd, beat_s)
        x, its = V.place_phrases(rng, n, esp, beat_s, maker, max_bars_s=beats * beat_s * 2)
        if its:
            vox += x / (A.active_rms(x) + 1e-9)
            items["vocals"].append(dict(kind="espeak", package="espeak-ng", file="espeak-ng-data voice " + voice,
                                        licence=S.LICENCES["espeak-ng"], phrases=[i["text"] for i in its][:20]))
    vox = A.to_stereo(vox) * 0.0 + A.pan_mono(vox, float(rng.uniform(-0.15, 0.15)))
    if vox.any():
        vox = vox / (A.active_rms(vox) + 1e-9) * 0.1
    # GM choir layer on the melody (sampled voices) in some songs
    if melody and rng.random() < 0.15:
        prog = int(rng.choice([52, 53, 54]))
        tr = M.notes_track(melody, mid.ticks_per_beat, channel=10, program=prog, velocity=80,
                           transpose=int(rng.choice([0, -12, 0])))
        fm = M.filter_midi(mid, lambda *a: False, extra_notes=tr)
        if source == "openmsx":
            # melody beats are relative to the segment start: shift the track
            tr[2] = tr[2].copy(time=tr[2].time + int(round(float(t_off) / beat_s * mid.ticks_per_beat)))
        x = M.fluidsynth_render(fm, S.SOUNDFONTS[sfs["vocals"]][0], wd, "choir", int(t_off * A.SR) + n + A.SR)
        x = crop(x)
        lvl = 0.1 * (0.3 if vox.any() else 1.0)
        vox = vox + x / (A.active_rms(x) + 1e-9) * lvl
        items["vocals"].append(dict(kind="gm_choir", program=prog, **_sf_item(sfs["vocals"])))
    raw["vocals"] = vox

    # ---------------- real instrument recordings (gcompris) as occasional extra layers
    for stem, names, prob in (("other", S.GCOMPRIS_OTHER, 0.25), ("drums", S.GCOMPRIS_DRUMS, 0.12)):
        if rng.random() < prob:
            pool = S.gcompris_split(names, split)
            nm = pool[int(rng.integers(len(pool)))]
            res = f"/gcompris/src/activities/instruments/resource/{nm}.ogg"
            x, sr = A.load_bytes(read_rcc_file(S.GCOMPRIS_RCC, res))
            x = A.to_stereo(A.resample(x, sr, A.SR))
            s = int(rng.integers(0, max(1, n - len(x))))
            y = np.zeros((n, 2))
            m = min(len(x), n - s)
            y[s:s + m] = A.fade(x[:m])
            r = raw[stem]
            lvl = A.active_rms(r) if r.any() else 0.05
            raw[stem] = r + y / (A.active_rms(y) + 1e-9) * lvl * float(rng.uniform(0.3, 0.8))
            items[stem].append(dict(kind="recording", package="gcompris-qt-data", file=f"{S.GCOMPRIS_RCC}:{res}",
                                    licence=S.LICENCES["gcompris-qt-data"], start_s=round(s / A.SR, 2)))

    # ---------------- per-stem processing
    target_db = dict(vocals=rng.normal(-0.5, 3.0), drums=rng.normal(-1, 2.5), bass=rng.normal(-3, 2.5),
                     other=rng.normal(-2, 2.5))
    out = {}
    fx = {}
    for stem in STEMS:
        x = A.to_stereo(raw[stem])
        t = {}
        if not x.any():
            out[stem] = x
            fx[stem] = dict(silent=True)
            continue
        if stem == "vocals":
            b, a = A.biquad("highpass", float(rng.uniform(60, 110)))
            x = A.signal.lfilter(b, a, x, axis=0)
        x, t["eq"] = A.random_eq(x, rng, strength=0.8 if stem != "vocals" else 0.6)
        if rng.random() < (0.7 if stem == "vocals" else 0.4):
            thr, ratio = float(rng.uniform(-6, 0)), float(rng.uniform(1.5, 4))
            x = A.compress(x, thr, ratio)
            t["compressor"] = dict(threshold_rel_db=round(thr, 1), ratio=round(ratio, 2))
        if stem != "vocals":
            w = float(rng.uniform(0.5, 1.4))
            bal = float(rng.uniform(-0.15, 0.15))
            x = A.stereo_width(x, w, bal)
            t["width"], t["balance"] = round(w, 2), round(bal, 2)
        if rng.random() < (0.45 if stem == "vocals" else 0.2 if stem != "bass" else 0.05):
            rt, wet = float(rng.uniform(0.3, 2.2)), float(rng.uniform(0.08, 0.35))
            x = A.add_reverb(x, rng, rt, wet)
            t["reverb"] = dict(rt60=round(rt, 2), wet=round(wet, 2))
        g = 10 ** (target_db[stem] / 20) * 0.1 / (A.active_rms(x) + 1e-9)
        x = x * g
        t["level_db"] = round(float(target_db[stem]), 2)
        out[stem] = x
        fx[stem] = t
    # song fade-out and mix-bus gain (same for all stems: the sum stays exact)
    fo = min(n, int(A.SR * 0.5))
    env = np.ones(n)
    env[-fo:] = np.linspace(1, 0, fo)
    mix = sum(out[s] for s in STEMS)
    peak = float(np.max(np.abs(mix * env[:, None]))) + 1e-9
    bus = float(rng.uniform(0.4, 0.95)) / peak
    stems = {s: (out[s] * env[:, None] * bus).astype(np.float32) for s in STEMS}
    info["mix_bus_gain_db"] = round(20 * np.log10(bus), 2)
    info["stems"] = {s: dict(items=items[s], transforms=fx[s]) for s in STEMS}
    return stems, info
