"""What a simulated participant is shown, and for how long the recording runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Timeline:
    """What a participant is shown and for how long the recording runs.

    Attributes
    ----------
    events : DataFrame
        The rows of ``events.tsv`` (``onset``, ``duration``, ``trial_type``, ``value``,
        ``sample``).
    n_samples : int
        iEEG samples of the recording.
    duration : float
        Seconds of audio to write.
    """

    events: pd.DataFrame
    n_samples: int
    duration: float

    @property
    def trials(self) -> pd.DataFrame:
        """The ``word`` rows shown for a time (zero-duration rows are not trials)."""
        events = self.events
        return events[(events["trial_type"] == "word") & (events["duration"] > 0)]

    def stimulus(self, sfreq: float) -> np.ndarray:
        """Return the word on screen at each sample (``''`` otherwise), as the NWB holds it.

        Each trial's word fills ``round(duration * sfreq)`` samples from its ``sample``.
        """
        stimulus = np.full(self.n_samples, "", dtype=object)
        for _, event in self.trials.iterrows():
            start = int(event["sample"])
            stimulus[start : start + int(round(event["duration"] * sfreq))] = event["value"]
        return stimulus
