"""Score engines on the real-material development set (demix_data.records, split "dev"): real
voices sung over instrumental recordings, two stems (vocals; accompaniment = drums + bass + other).

Separates every example's mixture with the product's CLI (so the streaming engine, its
refinement and post-processing are what is scored) and reports MDX SDR per stem: the median over
examples, and the share of examples where each engine's vocals beat the classical engine's.

    demix-devset --dev models/.data/records/dev --demix target/release/demix \\
        --engine neural=models/demix.onnx --engine classic --json /tmp/dev.json
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np

from .config import RECORD_STEMS as PARTS


def sdr(ref, est, eps=1e-8):
    """MDX SDR in dB over the whole signal (all channels)."""
    return float(10 * np.log10((np.sum(ref ** 2) + eps) / (np.sum((ref - est) ** 2) + eps)))


def _read(path):
    import soundfile as sf
    x, _sr = sf.read(path, dtype="float64", always_2d=True)
    return x


def separate_all(demix, engine, model, inputs, out, latency="standard"):
    cmd = [demix, "separate", "-o", out, "--engine", engine, "--latency", latency, *inputs]
    if model:
        cmd[2:2] = ["--model", model]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def score(dev, demix, engines, work, latency="standard"):
    examples = sorted(d for d in os.listdir(dev) if os.path.exists(os.path.join(dev, d, "mixture.wav")))
    if not examples:
        raise SystemExit(f"no <example>/mixture.wav under {dev}")
    inputs_dir = os.path.join(work, "inputs")
    os.makedirs(inputs_dir, exist_ok=True)
    inputs = []
    for e in examples:
        link = os.path.join(inputs_dir, e + ".wav")
        if not os.path.exists(link):
            os.symlink(os.path.abspath(os.path.join(dev, e, "mixture.wav")), link)
        inputs.append(link)
    refs = {e: {p: _read(os.path.join(dev, e, p + ".wav")) for p in PARTS} for e in examples}
    out = {}
    for label, (engine, model) in engines.items():
        per = {}
        if engine == "none":  # doing nothing: half the mixture for each part
            for e in examples:
                mix = refs[e]["vocals"] + refs[e]["accompaniment"]
                per[e] = {p: sdr(refs[e][p], mix / 2) for p in PARTS}
        else:
            d = os.path.join(work, label)
            separate_all(demix, engine, model, inputs, d, latency)
            for e in examples:
                st = {s: _read(os.path.join(d, e, s + ".wav")) for s in ("vocals", "drums", "bass", "other")}
                est = {"vocals": st["vocals"], "accompaniment": st["drums"] + st["bass"] + st["other"]}
                per[e] = {p: sdr(refs[e][p], est[p]) for p in PARTS}
        out[label] = per
    return examples, out


def report(examples, out, baseline="classic"):
    lines = ["| engine | vocals | accompaniment | vocals above classic |", "|---|---|---|---|"]
    summary = {}
    for label, per in out.items():
        med = {p: float(np.median([per[e][p] for e in examples])) for p in PARTS}
        beat = None
        if baseline in out and label != baseline:
            beat = float(np.mean([per[e]["vocals"] > out[baseline][e]["vocals"] for e in examples]))
        summary[label] = dict(median=med, share_vocals_above_classic=beat)
        lines.append(f"| {label} | {med['vocals']:.2f} | {med['accompaniment']:.2f} | "
                     f"{'-' if beat is None else f'{100 * beat:.0f} %'} |")
    return "\n".join(lines), summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev", default="models/.data/records/dev")
    ap.add_argument("--demix", default="target/release/demix")
    ap.add_argument("--engine", action="append", default=[],
                    help="LABEL=MODEL for the neural engine with that model, or classic / none (repeatable)")
    ap.add_argument("--work", default=None, help="folder for the separated stems (default: a temporary one)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--latency", choices=("standard", "low"), default="standard",
                    help="the streaming STFT's latency (`demix separate --latency`)")
    a = ap.parse_args(argv)
    engines = {}
    for spec in a.engine or ["neural=models/demix.onnx", "classic", "none"]:
        if spec in ("classic", "none"):
            engines[spec] = (spec, None)
        else:
            label, model = spec.split("=", 1)
            engines[label] = ("neural", model)
    with tempfile.TemporaryDirectory() as tmp:
        examples, out = score(a.dev, a.demix, engines, a.work or tmp, a.latency)
    table, summary = report(examples, out)
    print(f"{len(examples)} examples in {a.dev}; MDX SDR in dB, median over examples\n")
    print(table)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(examples=examples, per_example=out, summary=summary), f, indent=1)


if __name__ == "__main__":
    main()
