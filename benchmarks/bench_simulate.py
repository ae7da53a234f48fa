"""Time the simulator: seconds of simulated recording per second of compute.

There is no peer implementation of the simulator; this reports its own throughput so that
regressions are visible (the default sample must stay a small part of the reproduce run).
"""

import time

from neurospeech.simulate import SimulationParams, simulate_subject

REPEATS = 3


def main() -> None:
    params = SimulationParams(n_subjects=1, n_words=100, n_channels=110, n_responsive=40)
    duration = params.n_words * params.trial_duration
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        simulate_subject(params, 0)
        times.append(time.perf_counter() - start)
    best = min(times)
    print("| what | value |\n|---|---|")
    print(f"| participant: 110 channels x {duration:.0f} s | {best:.2f} s (best of {REPEATS}) |")
    print(f"| real-time factor | {best / duration:.4f} |")


if __name__ == "__main__":
    main()
