"""What an analysis found against what the simulator planted: the recovery tables.

Each function takes an analysis' table (one row per channel and fit) joined with the
planted truth (:func:`planted`) and returns the recovery table the sample reproduce
writes: how many of the planted channels were found, and how many of the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Significance level of the recovery tables (FDR q).
ALPHA = 0.05


def planted(truth: dict, channels: Sequence[str]) -> pd.DataFrame:
    """Return what was planted in each of ``channels`` (a subset of the simulated ones).

    Parameters
    ----------
    truth : dict
        From :func:`neurospeech.simulate.read_truth`.
    channels : sequence of str
        Channel names, e.g. a recording's good channels.

    Returns
    -------
    table : DataFrame
        One row per channel, in order: ``planted_speech`` (high-gamma follows the
        speech), ``planted_latent`` (follows the word-level latent value),
        ``planted_timing`` (follows only when speech happens),
        ``planted_lag_ms`` and ``planted_contamination`` (picks up the sound).

    Raises
    ------
    ValueError
        If a channel was not simulated.
    """
    simulated = list(truth["channels"])
    unknown = [name for name in channels if name not in simulated]
    if unknown:
        raise ValueError(f"channels {', '.join(unknown)} are not in the simulation's truth")
    rows = [simulated.index(name) for name in channels]
    return pd.DataFrame(
        {
            "planted_speech": np.array(truth["responsive"])[rows],
            "planted_latent": np.array(truth["latent_channel"])[rows],
            # datasets simulated before timing-only channels were planted have none
            "planted_timing": np.array(truth.get("timing_channel", [False] * len(simulated)), bool)[
                rows
            ],
            "planted_lag_ms": np.array(truth["lag_ms"])[rows],
            # datasets simulated before contamination was planted have none
            "planted_contamination": np.array(
                truth.get("contaminated", [False] * len(simulated)), bool
            )[rows],
        }
    )


def encoding_recovery(electrodes: pd.DataFrame, feature_space: str = "log-mel") -> pd.DataFrame:
    """Recovery of the frame-level encoding: planted speech channels found, silent ones not.

    Parameters
    ----------
    electrodes : DataFrame
        The encoding's table (``encoding_electrodes``): ``feature_space``, ``q``,
        ``best_lag_ms`` and the columns of :func:`planted`, one row per electrode and fit.
    feature_space : str
        The fit scored (its rows only).

    Returns
    -------
    recovery : DataFrame
        One row: ``speech_channels``, ``sensitivity`` (share found at q < 0.05),
        ``silent_channels`` (neither speech, latent nor timing), ``false_positive_rate`` and
        ``lag_within_30ms`` (share of speech channels whose best lag is within 30 ms of
        the planted one).
    """
    rows = electrodes[electrodes["feature_space"] == feature_space]
    speech = rows["planted_speech"].to_numpy(bool)
    silent = (
        ~speech & ~rows["planted_latent"].to_numpy(bool) & ~rows["planted_timing"].to_numpy(bool)
    )
    found = rows["q"].to_numpy() < ALPHA
    lag_error = np.abs(rows["best_lag_ms"] - rows["planted_lag_ms"]).to_numpy()
    return pd.DataFrame(
        [
            {
                "feature_space": feature_space,
                "speech_channels": int(speech.sum()),
                "sensitivity": found[speech].mean(),
                "silent_channels": int(silent.sum()),
                "false_positive_rate": found[silent].mean(),
                "lag_within_30ms": np.mean(lag_error[speech] <= 30),
            }
        ]
    )


def partition_recovery(partition: pd.DataFrame) -> pd.DataFrame:
    """Recovery of the variance partitioning: which planted channels each comparison finds.

    Parameters
    ----------
    partition : DataFrame
        The partitioning's table (``encoding_partition``): ``comparison``, ``q`` and the
        columns of :func:`planted`, one row per electrode and comparison.

    Returns
    -------
    recovery : DataFrame
        One row per comparison and kind of planted channel (``speech``: follows the
        sound's spectrum; ``timing``: only when speech happens; ``silent``: nothing, nor
        a latent or leaked response): ``channels`` and ``found`` (the share with unique
        variance at q < 0.05). Spectral features beyond the nuisance features should
        find the speech channels and not the timing-only ones.
    """
    kinds = {
        "speech": partition["planted_speech"].to_numpy(bool),
        "timing": partition["planted_timing"].to_numpy(bool),
    }
    kinds["silent"] = ~(
        kinds["speech"]
        | kinds["timing"]
        | partition["planted_latent"].to_numpy(bool)
        | partition["planted_contamination"].to_numpy(bool)
    )
    found = partition["q"].to_numpy() < ALPHA
    rows = []
    for comparison in partition["comparison"].unique():
        inside = partition["comparison"].to_numpy() == comparison
        for kind, mask in kinds.items():
            chosen = inside & mask
            rows.append(
                {
                    "comparison": comparison,
                    "planted": kind,
                    "channels": int(chosen.sum()),
                    "found": found[chosen].mean() if chosen.any() else np.nan,
                }
            )
    return pd.DataFrame(rows)


def protocol_recovery(channels: pd.DataFrame, oracle: str) -> pd.DataFrame:
    """Recovery of the word-level encoding of the paper's protocol, per fit.

    Parameters
    ----------
    channels : DataFrame
        The word-level table (``protocol_word_level``): ``participant``,
        ``trial_length``, ``feature_space``, ``q``, ``planted_latent`` and
        ``planted_speech``, one row per channel and fit.
    oracle : str
        The feature space of the planted latent values: its planted channels are the
        latent ones; every other space's are the speech-driven ones.

    Returns
    -------
    recovery : DataFrame
        One row per participant, trial length and feature space: ``planted``,
        ``planted_channels``, ``sensitivity`` and ``false_positive_rate`` (q < 0.05; among
        the channels with neither that nor a timing-only response).
    """
    rows = []
    order = ["participant", "trial_length", "feature_space"]
    for (sub, seconds, space), group in channels.groupby(order, sort=False):
        is_oracle = space == oracle
        truth = group["planted_latent" if is_oracle else "planted_speech"].to_numpy(bool)
        # timing-only channels follow when speech happens: neither found nor silent
        other = ~truth & ~group["planted_timing"].to_numpy(bool)
        found = group["q"].to_numpy() < ALPHA
        rows.append(
            {
                "participant": sub,
                "trial_length": seconds,
                "feature_space": space,
                "planted": "word-level latent" if is_oracle else "speech-driven",
                "planted_channels": int(truth.sum()),
                "sensitivity": found[truth].mean(),
                "false_positive_rate": found[other].mean(),
            }
        )
    return pd.DataFrame(rows)


def contamination_recovery(checks: pd.DataFrame) -> pd.DataFrame:
    """Recovery of the acoustic contamination check: planted leaks flagged, clean ones not.

    Parameters
    ----------
    checks : DataFrame
        The check's table (``contamination``): ``participant``, ``reference``,
        ``contaminated`` and ``planted_contamination``, one row per channel.

    Returns
    -------
    recovery : DataFrame
        One row per participant and reference: ``planted_channels``, ``sensitivity``
        (share of them flagged; NaN without any), ``clean_channels`` and
        ``false_positive_rate``.
    """
    rows = []
    for (sub, scheme), group in checks.groupby(["participant", "reference"], sort=False):
        planted = group["planted_contamination"].to_numpy(bool)
        flagged = group["contaminated"].to_numpy(bool)
        rows.append(
            {
                "participant": sub,
                "reference": scheme,
                "planted_channels": int(planted.sum()),
                "sensitivity": flagged[planted].mean() if planted.any() else np.nan,
                "clean_channels": int((~planted).sum()),
                "false_positive_rate": flagged[~planted].mean() if (~planted).any() else np.nan,
            }
        )
    return pd.DataFrame(rows)
