"""Data: MUSDB18-HQ-layout songs (``<root>/<split>/<track>/{mixture,vocals,drums,bass,other}.wav``),
random-mix augmentation, packing for the GPU machine, and the data ledger.

Our own generated dataset (``models/.data/songs``) and MUSDB18-HQ share this layout, so one
loader reads both (``.wav``, ``.flac`` or ``.ogg`` stems are accepted, 44.1 kHz, mono or stereo).
"""
import hashlib
import json
import os
from dataclasses import dataclass, field

import numpy as np

from .config import SAMPLE_RATE, STEMS

AUDIO_EXT = (".wav", ".flac", ".ogg")


def _find(track_dir, name):
    for ext in AUDIO_EXT:
        p = os.path.join(track_dir, name + ext)
        if os.path.exists(p):
            return p
    return None


def list_tracks(root, split, stems=STEMS):
    """Track directories of ``root/split`` that hold all of ``stems``, sorted."""
    d = os.path.join(root, split)
    if not os.path.isdir(d):
        return []
    out = []
    for name in sorted(os.listdir(d)):
        t = os.path.join(d, name)
        if os.path.isdir(t) and all(_find(t, s) for s in stems):
            out.append(t)
    return out


def read_wav(path, start=0, frames=-1):
    """-> float32 [2, N] (mono duplicated to both channels)."""
    import soundfile as sf
    x, sr = sf.read(path, start=start, frames=frames, dtype="float32", always_2d=True)
    if sr != SAMPLE_RATE:
        raise ValueError(f"{path}: sample rate {sr}, expected {SAMPLE_RATE}")
    x = x.T
    if x.shape[0] == 1:
        x = np.repeat(x, 2, axis=0)
    return np.ascontiguousarray(x[:2])


def audio_frames(path):
    import soundfile as sf
    return sf.info(path).frames


# ----------------------------------------------------------------------------- manifest
def load_manifest(path):
    if path and os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return None


def manifest_sha256(path):
    if path and os.path.exists(path):
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    return hashlib.sha256(b"").hexdigest()


def _licences_of(entry):
    """Collect licence strings from a manifest entry, whatever its exact shape."""
    found = set()

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k.lower() in ("licence", "license", "licenses", "licences") and isinstance(v, (str, list)):
                    for s in ([v] if isinstance(v, str) else v):
                        if isinstance(s, str):
                            found.add(s)
                else:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(entry)
    return sorted(found)


def track_info_from_manifest(manifest, split, track_name):
    """(licences list, sources summary) of a track from our generator's manifest, or None."""
    if not manifest:
        return None
    entries = None
    if isinstance(manifest, dict):
        for key in ("songs", "tracks", "items", "examples"):
            if isinstance(manifest.get(key), list):
                entries = manifest[key]
                break
            if isinstance(manifest.get(key), dict):
                entries = [dict(v, name=k) if isinstance(v, dict) else {"name": k, "v": v}
                           for k, v in manifest[key].items()]
                break
    elif isinstance(manifest, list):
        entries = manifest
    if entries is None:
        return None
    for e in entries:
        if not isinstance(e, dict):
            continue
        names = {str(e.get(k)) for k in ("name", "track", "id", "song", "song_id", "dir", "path")
                 if e.get(k) is not None}
        if track_name in names or f"{split}/{track_name}" in names or any(
                n.rstrip("/").endswith(f"{split}/{track_name}") for n in names):
            return _licences_of(e)
    return None


# ----------------------------------------------------------------------------- bank
@dataclass
class Track:
    name: str          # "<tag>:<split>/<track>"
    dir: str
    length: int        # samples (shortest stem)
    licences: list = field(default_factory=list)


class StemBank:
    """All stems of a set of tracks. ``preload=True`` keeps int16 audio in memory (one
    ``[S, 2, total]`` array, tracks concatenated); otherwise segments are read from disk.
    ``stems``: the four model stems, or e.g. ("vocals", "accompaniment") for recordings whose
    drums/bass/other split is unknown."""

    def __init__(self, sources, preload=True, max_tracks=None, log=print, stems=STEMS):
        """sources: list of (root, split, tag, manifest_path_or_None)."""
        self.stems = tuple(stems)
        self.tracks = []
        for root, split, tag, manifest_path in sources:
            manifest = load_manifest(manifest_path)
            for t in list_tracks(root, split, self.stems)[:max_tracks]:
                n = min(audio_frames(_find(t, s)) for s in self.stems)
                name = os.path.basename(t)
                lic = track_info_from_manifest(manifest, split, name)
                meta = os.path.join(root, ".meta", split, name + ".json")
                if lic is None and os.path.exists(meta):  # our generator's per-song record
                    with open(meta) as f:
                        lic = _licences_of(json.load(f))
                if lic is None:
                    lic = ["MUSDB18-HQ (research use)"] if tag == "musdb" else ["unknown"]
                self.tracks.append(Track(f"{tag}:{split}/{name}", t, n, lic))
        if not self.tracks:
            raise FileNotFoundError(f"no tracks with all stems {self.stems} under {sources}")
        self.lengths = np.array([t.length for t in self.tracks], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.total = int(self.lengths.sum())
        self.audio = None
        if preload:
            self.audio = np.zeros((len(self.stems), 2, self.total), dtype=np.int16)

            def load(job):
                i, s = job
                t = self.tracks[i]
                x = read_wav(_find(t.dir, self.stems[s]), 0, t.length)
                self.audio[s, :, self.starts[i]:self.starts[i] + t.length] = np.clip(
                    np.round(x * 32767.0), -32768, 32767).astype(np.int16)

            # decoding (Ogg packs) dominates start-up; libsndfile runs without the GIL
            from concurrent.futures import ThreadPoolExecutor
            jobs = [(i, s) for i in range(len(self.tracks)) for s in range(len(self.stems))]
            with ThreadPoolExecutor(max_workers=max(1, min(16, os.cpu_count() or 1))) as pool:
                list(pool.map(load, jobs))
        log(f"bank: {len(self.tracks)} tracks, {self.total / SAMPLE_RATE / 60:.1f} min"
            f"{' (preloaded, %.0f MB)' % (self.audio.nbytes / 1e6) if preload else ' (lazy)'}")

    def seconds(self):
        return self.total / SAMPLE_RATE

    def segment(self, track, stem, offset, length):
        """float32 [2, length] (zero-padded past the end)."""
        t = self.tracks[track]
        n = max(0, min(length, t.length - offset))
        if self.audio is not None:
            a = self.starts[track] + offset
            x = self.audio[stem, :, a:a + n].astype(np.float32) / 32767.0
        else:
            x = read_wav(_find(t.dir, self.stems[stem]), offset, n)
        if n < length:
            x = np.pad(x, ((0, 0), (0, length - n)))
        return x


class RandomMixer:
    """Random-mix augmentation: each example draws each stem from a (usually) different song,
    at a random offset, with random gain, channel swap and polarity; with probability
    ``p_coherent`` the four stems come from the same song and offset (a real mix). With
    probability ``p_speed`` a stem is resampled by a random factor in ``speed`` (played faster or
    slower: pitch, formants and tempo move together, +-2 semitones for the default 0.89-1.12); a
    real mix gets one factor for all its stems so it stays coherent.
    Keeps the ledger: seconds of audio drawn per track and stem."""

    def __init__(self, bank: StemBank, seg_len, seed=0, p_coherent=0.25, gain_db=(-9.0, 3.0),
                 p_swap=0.5, p_flip=0.5, p_drop=0.05, p_eq=0.0, p_speed=0.0, speed=(0.89, 1.12),
                 device=None):
        self.bank, self.seg_len = bank, int(seg_len)
        self.rng = np.random.default_rng(seed)
        self.p_coherent, self.gain_db = p_coherent, gain_db
        self.p_swap, self.p_flip, self.p_drop, self.p_eq = p_swap, p_flip, p_drop, p_eq
        self.p_speed, self.speed = p_speed, speed
        self.ledger = np.zeros((len(bank.tracks), len(bank.stems)), dtype=np.float64)
        self.device = device
        self._gpu_audio = None
        # gather segments with tensor indexing on the device (GPU + preloaded bank), else per stem
        self.gather_on_device = bank.audio is not None and str(device or "cpu") != "cpu"
        w = np.maximum(bank.lengths - self.seg_len, 1).astype(np.float64)
        self.p_track = w / w.sum()

    def _draw(self, B):
        S = len(self.bank.stems)
        rng = self.rng
        tr = rng.choice(len(self.bank.tracks), size=(B, S), p=self.p_track)
        coh = rng.random(B) < self.p_coherent
        tr[coh] = tr[coh, :1]
        maxoff = np.maximum(self.bank.lengths[tr] - self.seg_len, 0)
        off = (rng.random((B, S)) * (maxoff + 1)).astype(np.int64)
        off[coh] = off[coh, :1]
        gain = 10 ** (rng.uniform(*self.gain_db, size=(B, S)) / 20)
        gain *= np.where(rng.random((B, S)) < self.p_flip, -1.0, 1.0)
        gain *= rng.random((B, S)) >= self.p_drop
        swap = rng.random((B, S)) < self.p_swap
        rate = np.ones((B, S))
        if self.p_speed > 0:
            lo, hi = np.log(self.speed[0]), np.log(self.speed[1])
            r = np.exp(rng.uniform(lo, hi, size=(B, S)))
            r[coh] = r[coh, :1]
            on = rng.random((B, S)) < self.p_speed
            on[coh] = on[coh, :1]
            rate = np.where(on, r, 1.0)
        np.add.at(self.ledger, (tr, np.broadcast_to(np.arange(S), (B, S))), rate * self.seg_len / SAMPLE_RATE)
        return tr, off, gain.astype(np.float32), swap, rate

    def batch(self, B):
        """-> torch float32 stems [B, S, 2, L] (mixture = stems.sum(1))."""
        import torch
        tr, off, gain, swap, rate = self._draw(B)
        S, L = len(self.bank.stems), self.seg_len
        dev = self.device or "cpu"
        if self.gather_on_device:
            if self._gpu_audio is None:
                self._gpu_audio = torch.from_numpy(self.bank.audio).to(dev)
            # read position of each output sample (fractional when resampled): linear interpolation
            pos = torch.arange(L, device=dev, dtype=torch.float64) * torch.from_numpy(rate).to(dev)[..., None]
            i0 = pos.floor().long()  # [B, S, L]
            frac = (pos - i0).float()[:, :, None, :]
            off_t = torch.from_numpy(off).to(dev)
            len_t = torch.from_numpy(self.bank.lengths[tr]).to(dev)
            a = torch.from_numpy(self.bank.starts[tr] + off).to(dev)  # [B, S]
            sidx = torch.arange(S, device=dev)[None, :, None].expand(B, S, L)

            def gather(i):
                idx = (a[..., None] + i).clamp_max(self.bank.total - 1)
                v = self._gpu_audio[sidx, :, idx].permute(0, 1, 3, 2).float() / 32767.0  # [B, S, 2, L]
                valid = (off_t[..., None] + i) < len_t[..., None]  # zero past each track's end
                return v * valid[:, :, None, :]

            x = gather(i0)
            if (rate != 1.0).any():
                x = x + frac * (gather(i0 + 1) - x)
        else:
            x = np.zeros((B, S, 2, L), dtype=np.float32)
            for b in range(B):
                for s in range(S):
                    r = rate[b, s]
                    if r == 1.0:
                        x[b, s] = self.bank.segment(tr[b, s], s, off[b, s], L)
                    else:
                        n = int(np.ceil((L - 1) * r)) + 2
                        raw = self.bank.segment(tr[b, s], s, off[b, s], n)
                        pos = np.arange(L) * r
                        for c in range(2):
                            x[b, s, c] = np.interp(pos, np.arange(n), raw[c])
            x = torch.from_numpy(x).to(dev)
        sw = torch.from_numpy(swap).to(x.device)[:, :, None, None]
        x = torch.where(sw, x.flip(2), x)
        if self.p_eq > 0:
            x = random_eq(x, self.p_eq, self.rng)
        return x * torch.from_numpy(gain).to(x.device)[:, :, None, None]

    def ledger_summary(self):
        """{track name: {"seconds": total, "licences": [...], "per_stem": {...}}}"""
        out = {}
        for i, t in enumerate(self.bank.tracks):
            tot = float(self.ledger[i].sum())
            if tot > 0:
                out[t.name] = {"seconds": round(tot, 1), "licences": t.licences,
                               "per_stem": {s: round(float(self.ledger[i, k]), 1)
                                            for k, s in enumerate(self.bank.stems)}}
        return out


def random_eq(x, p, rng):
    """Random per-stem timbre change (applied with probability p per stem): a spectral tilt of
    +-1.5 dB/octave and two bell bumps of +-9 dB in log frequency. x [B, S, 2, L] (torch)."""
    import torch
    B, S, _, L = x.shape
    dev = x.device
    X = torch.fft.rfft(x, dim=-1)
    K = X.shape[-1]
    f = torch.linspace(0, SAMPLE_RATE / 2, K, device=dev)
    lf = torch.log2((f + 20.0) / 1000.0)  # octaves re 1 kHz
    r = lambda lo, hi, *shape: torch.from_numpy(rng.uniform(lo, hi, size=(B, S) + shape).astype(np.float32)).to(dev)
    gdb = r(-1.5, 1.5, 1) * lf
    for _ in range(2):
        c, w, g = r(-4, 4, 1), r(0.3, 1.5, 1), r(-9, 9, 1)
        gdb = gdb + g * torch.exp(-0.5 * ((lf - c) / w) ** 2)
    on = torch.from_numpy(rng.random((B, S, 1)) < p).to(dev)
    gdb = torch.where(on, gdb, torch.zeros_like(gdb))
    X = X * (10 ** (gdb / 20))[:, :, None, :]
    return torch.fft.irfft(X, n=L, dim=-1)


def merge_ledgers(a, b):
    out = {k: dict(v, per_stem=dict(v["per_stem"])) for k, v in (a or {}).items()}
    for k, v in (b or {}).items():
        if k in out:
            out[k]["seconds"] = round(out[k]["seconds"] + v["seconds"], 1)
            for s, sec in v["per_stem"].items():
                out[k]["per_stem"][s] = round(out[k]["per_stem"].get(s, 0) + sec, 1)
        else:
            out[k] = v
    return out


def ledger_by_licence(ledger):
    """{licence: stem-seconds of songs that contain material under it} (a song with several
    licences counts for each, so the values overlap)."""
    agg = {}
    for k, v in ledger.items():
        for lic in (v["licences"] or ["unknown"]):
            agg[lic] = agg.get(lic, 0.0) + v["seconds"]
    return dict(sorted(agg.items(), key=lambda kv: -kv[1]))


# ----------------------------------------------------------------------------- packing
def write_audio(path, x, fmt="ogg", quality=0.8):
    """x [2, N] float -> Ogg Vorbis (compression_level `quality`, ~55 kb/s at 0.8) or 16-bit FLAC.
    Written in blocks: libsndfile's Vorbis encoder crashes on very large single writes."""
    import soundfile as sf
    kw = dict(format="OGG", subtype="VORBIS", compression_level=quality) if fmt == "ogg" else \
        dict(format="FLAC", subtype="PCM_16")
    with sf.SoundFile(path, "w", SAMPLE_RATE, x.shape[0], **kw) as f:
        for i in range(0, x.shape[1], 16384):
            f.write(np.ascontiguousarray(x[:, i:i + 16384].T))


def pack(src_root, dst_root, splits=("train", "valid"), fmt="ogg", quality=0.8, max_tracks=None,
         max_seconds=None, shard=(0, 1)):
    """Re-encode a songs tree compactly (for carrying to a GPU machine): each stem as Ogg
    Vorbis (or FLAC); the mixture is left out (it is the sum of the stems). Copies manifest.json.
    ``shard=(i, n)`` keeps every n-th train song from the i-th (valid songs go to shard 0 only),
    so a set too large for one transfer travels as n packs."""
    import shutil
    total = 0
    if isinstance(max_tracks, int):
        max_tracks = {sp: max_tracks for sp in splits}
    i_shard, n_shards = shard
    for split in splits:
        tracks = list_tracks(src_root, split)
        if split == "train":
            tracks = tracks[i_shard::n_shards]
        elif i_shard != 0:
            continue
        for t in tracks[:(max_tracks or {}).get(split)]:
            d = os.path.join(dst_root, split, os.path.basename(t))
            os.makedirs(d, exist_ok=True)
            for stem in STEMS:
                x = read_wav(_find(t, stem))
                if max_seconds:
                    x = x[:, :int(max_seconds * SAMPLE_RATE)]
                p = os.path.join(d, stem + "." + fmt)
                if os.path.exists(p) and os.path.getmtime(p) > os.path.getmtime(_find(t, stem)):
                    total += os.path.getsize(p)
                    continue
                write_audio(p + ".part", x, fmt, quality)  # a killed run leaves no truncated stem
                os.replace(p + ".part", p)
                total += os.path.getsize(p)
    m = os.path.join(src_root, "manifest.json")
    if os.path.exists(m):
        shutil.copy(m, os.path.join(dst_root, "manifest.json"))
    for split in splits:  # per-song records (licences) of our generator
        md = os.path.join(src_root, ".meta", split)
        if os.path.isdir(md):
            shutil.copytree(md, os.path.join(dst_root, ".meta", split), dirs_exist_ok=True)
    return total


def main(argv=None):
    """Command line: pack a songs tree (demix-pack SRC DST)."""
    import argparse
    ap = argparse.ArgumentParser(description="pack a songs tree compactly (Ogg/FLAC stems) for carrying")
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--fmt", default="ogg", choices=["ogg", "flac"])
    ap.add_argument("--quality", type=float, default=0.8)
    ap.add_argument("--max-train", type=int, default=None)
    ap.add_argument("--max-valid", type=int, default=3)
    ap.add_argument("--shard", default="0/1", help="I/N: every N-th train song from the I-th (valid only in 0/N)")
    a = ap.parse_args(argv)
    i_shard, n_shards = (int(v) for v in a.shard.split("/"))
    if not 0 <= i_shard < n_shards:
        ap.error("--shard must be I/N with 0 <= I < N")
    size = pack(a.src, a.dst, fmt=a.fmt, quality=a.quality, max_tracks={"train": a.max_train, "valid": a.max_valid},
                shard=(i_shard, n_shards))
    print(f"packed {size / 1e6:.1f} MB into {a.dst}")


if __name__ == "__main__":
    main()
