"""Compare all-layer speech-model features: neurospeech against a plain transformers pass.

A wav2vec 2.0 base-sized network (``Wav2Vec2Config()``: 12 layers, 768 wide, random
weights drawn with seed 0: timing does not depend on them) on the 300 s of real speech
of ``../shared/realspeech`` (resampled to 16 kHz), on this machine's CPU threads, side by
side in one run (each method in a fresh process, so that one's memory does not count
against the other):

- ``transformers``: one ``Wav2Vec2Model`` forward over the whole audio with
  ``attn_implementation="eager"`` and ``output_hidden_states=True`` (it needs about
  22 GiB for 300 s: the attention matrices grow with the square of the length);
- ``neurospeech``: :func:`neurospeech.embeddings.frame_level` (30 s chunks with 4 s of
  context on each side, PyTorch's fused attention, inference mode), every layer
  resampled onto the 10 ms neural frames.

Reports wall time, real-time factor (time / audio duration), the speed-up and the peak
resident memory of each process. ``--device cuda`` runs both on a GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

from neurospeech import bids, embeddings
from neurospeech.embeddings import extract

REALSPEECH = Path(__file__).resolve().parents[2] / "shared" / "realspeech" / "swpd"
METHODS = {
    "plain": "transformers eager, output_hidden_states",
    "neurospeech": "neurospeech frame_level (chunked, all layers)",
}


def recording() -> bids.Recording:
    """The real-speech participant (300 s of audio, 100 words)."""
    if not REALSPEECH.is_dir():
        raise SystemExit(f"the real-speech fixture is not at {REALSPEECH}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bids.RecordingWarning)
        return bids.read_recording(REALSPEECH, "02")


def run(method: str, device: str) -> dict:
    """Time one method in this process; return its time, audio length and peak memory."""
    torch.manual_seed(0)
    implementation = "eager" if method == "plain" else "sdpa"
    model = Wav2Vec2Model(Wav2Vec2Config(attn_implementation=implementation)).eval().to(device)
    rec = recording()
    seconds = len(rec.audio) / rec.audio_sfreq
    space = embeddings.REGISTRY["wav2vec2-base-untrained"]
    loaded = embeddings.LoadedModel(
        space, None, model, feature_extractor=Wav2Vec2FeatureExtractor(), device=device
    )
    start = time.perf_counter()
    if method == "plain":
        waveform = extract._normalized(loaded, extract._audio_at_model_rate(loaded, rec))
        with torch.inference_mode():
            inputs = torch.from_numpy(waveform[None].astype(np.float32)).to(device)
            output = model(inputs, output_hidden_states=True)
        layers = [h[0].cpu().numpy() for h in output.hidden_states]
        shape = (len(layers), *layers[0].shape)
    else:
        shape = embeddings.frame_level(loaded, dataclasses.replace(rec, audio_offset=0.0)).shape
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"time": elapsed, "seconds": seconds, "peak_gib": peak, "shape": list(shape)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--method", choices=list(METHODS), help="run one method (internal)")
    args = parser.parse_args()
    if args.method:
        print(json.dumps(run(args.method, args.device)))
        return
    results = {}
    for method in METHODS:
        command = [sys.executable, __file__, "--method", method, "--device", args.device]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{method}: failed (exit {done.returncode}; 137 = out of memory)")
            print(done.stderr[-2000:])
            continue
        results[method] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"device: {args.device}; CPU threads: {torch.get_num_threads()}\n")
    print("| method | time (s) | real-time factor | speed-up | peak memory (GiB) | output |")
    print("|---|---|---|---|---|---|")
    reference = results.get("plain", {}).get("time")
    for method, result in results.items():
        ratio = f"{reference / result['time']:.2f}x" if reference else "-"
        print(
            f"| {METHODS[method]} | {result['time']:.1f} | "
            f"{result['time'] / result['seconds']:.3f} | {ratio} | {result['peak_gib']:.1f} | "
            f"{' x '.join(map(str, result['shape']))} |"
        )


if __name__ == "__main__":
    main()
