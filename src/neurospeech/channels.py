"""The channels every analysis uses: good, re-referenced, free of leaked sound.

One place applies the ``[channels]`` section of the configuration
(:class:`neurospeech.config.Channels`) to a recording: the channels with non-finite
samples leave, the reference is applied (:func:`neurospeech.reference.apply`), every
channel is tested for acoustic contamination (:func:`neurospeech.contamination.assess`)
and, by default, the contaminated ones leave too. The check runs on the channels as
analysed: under a local reference, sound leaked into the recording reference cancels,
sound leaked into one contact stays in the derivations that use it.
"""

from __future__ import annotations

import dataclasses
import warnings

import pandas as pd

from neurospeech import contamination, reference, regions
from neurospeech.bids import Recording, RecordingWarning
from neurospeech.config import Channels


def prepare(
    recording: Recording, settings: Channels | None = None, *, scheme: str | None = None
) -> tuple[Recording, pd.DataFrame]:
    """Return the recording the analyses use, and the contamination check of its channels.

    Parameters
    ----------
    recording : neurospeech.bids.Recording
    settings : neurospeech.config.Channels, optional
        Default: the defaults (original reference, contaminated channels left out).
    scheme : str, optional
        A reference other than ``settings.reference`` (the sensitivity analysis).

    Returns
    -------
    recording : Recording
        Good channels under the reference, without the contaminated ones if
        ``settings.exclude_contaminated``.
    check : DataFrame
        :func:`neurospeech.contamination.assess` of every channel under the reference,
        with its ``region`` (:mod:`neurospeech.regions`) and ``excluded`` (left out of
        the analyses).

    Raises
    ------
    ValueError
        If every channel is contaminated and would be left out (names the file).

    Warns
    -----
    RecordingWarning
        Naming the channels left out as contaminated.
    """
    settings = settings or Channels()
    referenced = reference.apply(recording, scheme or settings.reference)
    check = contamination.assess(referenced, **dataclasses.asdict(settings.contamination))
    check.insert(1, "region", regions.of_channels(referenced.channels, referenced.source).array)
    check["excluded"] = check["contaminated"] & settings.exclude_contaminated
    if not check["excluded"].any():
        return referenced, check
    left_out = check.loc[check["excluded"], "channel"].tolist()
    if len(left_out) == len(check):
        raise ValueError(
            f"{recording.source}: every channel carries the microphone's sound under the "
            f"{scheme or settings.reference} reference, so none is left to analyse; set "
            f"[channels] exclude_contaminated = false to analyse them anyway"
        )
    warnings.warn(
        f"sub-{recording.subject}: {len(left_out)} channel(s) carry the microphone's sound "
        f"and are left out: {', '.join(left_out)}",
        RecordingWarning,
        stacklevel=2,
    )
    return referenced.pick(check.loc[~check["excluded"], "channel"].tolist()), check
