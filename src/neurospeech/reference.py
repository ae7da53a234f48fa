"""Re-referencing of sEEG recordings: as recorded, bipolar, Laplacian, common average.

SingleWordProductionDutch is recorded against one intracranial contact (``iEEGReference``
in ``ieeg.json``, e.g. ``LI1`` for participant 01). Whatever that contact picks up, high
gamma and leaked sound included, is in every channel. Local references remove it:

``original``
    As recorded.
``bipolar``
    Each contact minus the next contact of the same shaft (``LA1-LA2``); the derivation
    sits at the midpoint of the two contacts. Contacts without a neighbour (a gap left by
    a bad channel, a single contact) pair with nothing and are left out, with a warning.
``laplacian``
    Each contact minus the mean of its neighbours on its shaft (numbers one below and one
    above; one neighbour at the ends). Contacts with no neighbour are left out, with a
    warning.
``car``
    Each channel minus the mean of all good channels.

Shafts and contact numbers come from the channel names (letters, then the contact
number: ``LA1``, ``RFA12``); the contacts are checked against ``electrodes.tsv``.
"""

from __future__ import annotations

import dataclasses
import re
import warnings

import numpy as np
import pandas as pd

from neurospeech.bids import Recording, RecordingWarning

#: The references :func:`apply` knows.
SCHEMES = ("original", "bipolar", "laplacian", "car")
_CONTACT = re.compile(r"^([A-Za-z]+'?)(\d+)$")


def parse_contact(name: str, where: object = "the recording") -> tuple[str, int]:
    """Return the shaft and the contact number of a channel name (``"LA12"``: ``("LA", 12)``).

    Raises
    ------
    ValueError
        If the name is not letters followed by a number; names ``where`` and the channel.
    """
    found = _CONTACT.match(str(name).strip())
    if found is None:
        raise ValueError(
            f"{where}: channel {name!r} does not parse into a shaft (letters) and a contact "
            f"number, so its neighbours on the shaft are unknown"
        )
    return found.group(1), int(found.group(2))


def shafts(names: list[str], where: object = "the recording") -> dict[str, list[str]]:
    """Group channel names by shaft, each shaft's contacts in increasing number."""
    parsed = [(name, *parse_contact(name, where)) for name in names]
    grouped: dict[str, list[tuple[int, str]]] = {}
    for name, shaft, number in parsed:
        grouped.setdefault(shaft, []).append((number, name))
    return {shaft: [name for _, name in sorted(contacts)] for shaft, contacts in grouped.items()}


def _pairs(names: list[str], where: object) -> list[tuple[str, str]]:
    """Adjacent contacts (numbers differing by one) of each shaft, deepest first."""
    pairs = []
    for contacts in shafts(names, where).values():
        numbers = [parse_contact(name)[1] for name in contacts]
        pairs += [
            (contacts[k], contacts[k + 1])
            for k in range(len(contacts) - 1)
            if numbers[k + 1] - numbers[k] == 1
        ]
    return pairs


def _neighbours(names: list[str], where: object) -> dict[str, list[str]]:
    """Each contact's neighbours on its shaft (numbers one below and one above)."""
    found = {}
    for contacts in shafts(names, where).values():
        number = {name: parse_contact(name)[1] for name in contacts}
        for name in contacts:
            found[name] = [other for other in contacts if abs(number[other] - number[name]) == 1]
    return found


def _check_electrodes(recording: Recording) -> None:
    """Warn about channels that ``electrodes.tsv`` does not place."""
    placed = set(recording.electrodes.get("name", pd.Series(dtype=str)))
    unplaced = [name for name in recording.ch_names if name not in placed]
    if unplaced:
        warnings.warn(
            f"sub-{recording.subject}: electrodes.tsv has no position for "
            f"{', '.join(unplaced)}; their derivations have no position",
            RecordingWarning,
            stacklevel=3,
        )


def _warn_left_out(recording: Recording, left_out: list[str], scheme: str) -> None:
    if left_out:
        warnings.warn(
            f"sub-{recording.subject}: {', '.join(left_out)} have no neighbour on their "
            f"shaft and are left out of the {scheme} reference",
            RecordingWarning,
            stacklevel=3,
        )


def _derived(
    recording: Recording, names: list[str], weights: np.ndarray, sources: list[list[str]]
) -> Recording:
    """Return the recording of channels ``names`` = ``ieeg @ weights``, rows from ``sources``."""
    channels = recording.channels.set_index("name")
    positions = recording.electrodes.set_index("name").reindex(recording.ch_names)
    rows, places = [], []
    for name, parts in zip(names, sources):
        row = channels.loc[parts[0]].copy()
        row["description"] = " / ".join(
            dict.fromkeys(str(channels.loc[p].get("description", "n/a")) for p in parts)
        )
        rows.append(row.rename(name))
        place = positions.loc[parts, ["x", "y", "z"]].astype(float).mean()
        places.append({"name": name, **place.to_dict()})
    table = pd.DataFrame(rows).rename_axis("name").reset_index()
    return dataclasses.replace(
        recording,
        ieeg=recording.ieeg @ weights,
        channels=table,
        electrodes=pd.DataFrame(places, columns=["name", "x", "y", "z"]),
    )


def apply(recording: Recording, scheme: str = "original") -> Recording:
    """Return the recording's good channels under the reference ``scheme``.

    Parameters
    ----------
    recording : neurospeech.bids.Recording
        Its bad channels are left out first (:meth:`~neurospeech.bids.Recording.pick_good`).
    scheme : {"original", "bipolar", "laplacian", "car"}
        See the module's description.

    Returns
    -------
    Recording
        ``ieeg``, ``channels`` and ``electrodes`` of the derivations (bipolar: named
        ``LA1-LA2``, placed at the midpoint, ``description`` joining both contacts'
        labels); everything else unchanged.

    Raises
    ------
    ValueError
        For an unknown scheme, or (bipolar, laplacian) a channel name that does not
        parse into shaft and contact number: the message names the file and the channel.

    Warns
    -----
    RecordingWarning
        For contacts left out (no neighbour) and contacts without a position.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"reference must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    recording = recording.pick_good()
    names = recording.ch_names
    if scheme == "original":
        return recording
    if scheme == "car":
        return dataclasses.replace(
            recording, ieeg=recording.ieeg - recording.ieeg.mean(axis=1, keepdims=True)
        )
    where = recording.source
    _check_electrodes(recording)
    index = {name: k for k, name in enumerate(names)}
    if scheme == "bipolar":
        pairs = _pairs(names, where)
        weights = np.zeros((len(names), len(pairs)))
        for column, (first, second) in enumerate(pairs):
            weights[index[first], column], weights[index[second], column] = 1.0, -1.0
        used = {name for pair in pairs for name in pair}
        _warn_left_out(recording, [name for name in names if name not in used], scheme)
        return _derived(
            recording, [f"{a}-{b}" for a, b in pairs], weights, [list(pair) for pair in pairs]
        )
    neighbours = _neighbours(names, where)
    kept = [name for name in names if neighbours[name]]
    _warn_left_out(recording, [name for name in names if not neighbours[name]], scheme)
    weights = np.zeros((len(names), len(kept)))
    for column, name in enumerate(kept):
        weights[index[name], column] = 1.0
        for other in neighbours[name]:
            weights[index[other], column] -= 1.0 / len(neighbours[name])
    return _derived(recording, kept, weights, [[name] for name in kept])
