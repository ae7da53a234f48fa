"""Compare high-gamma extraction: neurospeech, the literal reference code and MNE.

One participant of the size of the real data (110 channels x 300 s at 1024 Hz, simulated),
side by side in one run:

- ``literal``: the published ``extractHG`` statement by statement (``scipy.signal.detrend``,
  three ``sosfiltfilt``, ``hilbert``, a Python loop over windows);
- ``mne``: ``Raw.filter(70, 170)`` + ``notch_filter([100, 150])`` +
  ``apply_hilbert(envelope=True)``, then the same windows (vectorized);
- ``neurospeech`` ``method="reference"`` and ``method="fft"``, with 1 and 2 threads.

Each timing is the best of five, taken in rounds over all methods. Peak memory is
measured in a fresh process per method (peak resident set size during the call minus the
size before it, Linux only), as a multiple of the input array. Agreement with the literal
reference: max error (worst frame, relative to its channel's maximum), max relative error
of the frames more than 1 s from either end (the issue's criterion), and the worst
channel's Pearson r.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
from scipy import fftpack, signal

from neurospeech import highgamma

SFREQ, SECONDS, CHANNELS, REPEATS = 1024.0, 300, 110, 5


def make_data() -> np.ndarray:
    """1/f background, line noise and speech-like high-gamma bursts; samples x channels."""
    rng = np.random.default_rng(0)
    n = int(SECONDS * SFREQ)
    data = np.empty((n, CHANNELS))
    t = np.arange(n) / SFREQ
    bursts = (np.sin(2 * np.pi * t / 3.0) > 0.6).astype(float)
    for c in range(CHANNELS):
        white = rng.standard_normal(n)
        pink = np.cumsum(white) * 0.05 + white
        gamma = signal.sosfiltfilt(
            signal.butter(4, [70, 170], "bandpass", fs=SFREQ, output="sos"),
            rng.standard_normal(n) * (1 + 2 * bursts),
        )
        data[:, c] = 20 * pink + 5 * gamma + 30 * np.sin(2 * np.pi * 50 * t) + 1000
    return data


def literal_reference(data: np.ndarray) -> np.ndarray:
    """``extractHG`` as published (Verwoert et al. 2022), line by line."""
    data = signal.detrend(data, axis=0)
    n_windows = int(np.floor((data.shape[0] - 0.05 * SFREQ) / (0.01 * SFREQ)))
    for sos in highgamma._sos(SFREQ, 50.0):
        data = signal.sosfiltfilt(sos, data, axis=0)
    data = np.abs(signal.hilbert(data, fftpack.next_fast_len(len(data)), axis=0)[: len(data)])
    feat = np.zeros((n_windows, data.shape[1]))
    for win in range(n_windows):
        start = int(np.floor((win * 0.01) * SFREQ))
        stop = int(np.floor(start + 0.05 * SFREQ))
        feat[win, :] = np.mean(data[start:stop, :], axis=0)
    return feat


def mne_chain(data: np.ndarray) -> np.ndarray:
    import mne

    raw = mne.io.RawArray(
        data.T * 1e-6, mne.create_info(data.shape[1], SFREQ, "seeg"), verbose=False
    )
    raw.filter(70, 170, verbose=False)
    raw.notch_filter([100, 150], verbose=False)
    raw.apply_hilbert(envelope=True, verbose=False)
    return highgamma.window_means(raw.get_data().T * 1e6, SFREQ)


METHODS = {
    "literal reference": literal_reference,
    "MNE filter + notch + Hilbert": mne_chain,
    'neurospeech method="reference"': lambda d: highgamma.extract(d, SFREQ),
    'neurospeech method="reference", 2 threads': lambda d: highgamma.extract(d, SFREQ, n_jobs=2),
    'neurospeech method="fft"': lambda d: highgamma.extract(d, SFREQ, method="fft"),
    'neurospeech method="fft", 2 threads': lambda d: highgamma.extract(
        d, SFREQ, method="fft", n_jobs=2
    ),
}


def high_water_mark() -> int:
    """Peak resident memory of this process in bytes (Linux ``VmHWM``).

    ``getrusage`` is not used: its ``ru_maxrss`` survives ``fork`` + ``exec`` and so
    starts at the parent's peak.
    """
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def peak_memory(name: str) -> float:
    """Peak extra memory of one method, in a fresh process, as a multiple of the input."""
    code = (
        "import sys; sys.path.insert(0, 'benchmarks'); import bench_highgamma as b\n"
        "d = b.make_data(); base = b.high_water_mark()\n"
        f"b.METHODS[{name!r}](d)\n"
        "print((b.high_water_mark() - base) / d.nbytes)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    data = make_data()
    times, results = dict.fromkeys(METHODS, np.inf), {}
    for _ in range(REPEATS):  # rounds over all methods, so a slow spell hits them alike
        for name, run in METHODS.items():
            start = time.perf_counter()
            results[name] = run(data)
            times[name] = min(times[name], time.perf_counter() - start)
    reference = results["literal reference"]
    scale = np.abs(reference).max(axis=0)
    inner = slice(int(1.0 / 0.01), -int(1.0 / 0.01))  # frames more than 1 s from either end
    print(f"{CHANNELS} channels x {SECONDS} s at {SFREQ:g} Hz ({data.nbytes / 2**20:.0f} MiB)\n")
    header = "| method | time (s) | vs literal | vs MNE | peak extra memory (x input) |"
    print(header + " max error (x channel max) | max error, frames > 1 s from the ends | min r |")
    print("|---|---|---|---|---|---|---|---|")
    for name, frames in results.items():
        err = np.max(np.abs(frames - reference) / scale)
        inner_err = np.max(np.abs(frames[inner] - reference[inner]) / reference[inner])
        r = min(np.corrcoef(frames[:, c], reference[:, c])[0, 1] for c in range(CHANNELS))
        print(
            f"| {name} | {times[name]:.2f} | {times['literal reference'] / times[name]:.1f}x | "
            f"{times['MNE filter + notch + Hilbert'] / times[name]:.1f}x | "
            f"{peak_memory(name):.2f} | {err:.1e} | {inner_err:.1e} | {r:.7f} |"
        )


if __name__ == "__main__":
    main()
