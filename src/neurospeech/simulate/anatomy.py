"""Simulated sEEG implantations: depth shafts with contacts in ACPC space."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Shaft labels in the style of clinical sEEG naming (hemisphere + target letter).
SHAFT_NAMES = (
    "LA",
    "LH",
    "LT",
    "LF",
    "LP",
    "LI",
    "LO",
    "LC",
    "RA",
    "RH",
    "RT",
    "RF",
    "RP",
    "RI",
    "RO",
    "RC",
    "LS",
    "RS",
    "LM",
    "RM",
)
#: Centres (ACPC, mm) of cortex that takes part in speech production: left and right
#: ventral sensorimotor cortex, superior temporal gyrus, and left inferior frontal gyrus.
SPEECH_HOTSPOTS = np.array(
    [
        [-55.0, -8.0, 25.0],
        [55.0, -8.0, 25.0],
        [-60.0, -22.0, 5.0],
        [60.0, -22.0, 5.0],
        [-48.0, 18.0, 10.0],
    ]
)
CONTACT_SPACING_MM = 3.5
#: Destrieux label of each speech hotspot (``{h}``: the hemisphere, ``lh`` or ``rh``).
HOTSPOT_LABELS = (
    "ctx_{h}_G_precentral",
    "ctx_{h}_G_precentral",
    "ctx_{h}_G_temp_sup-Lateral",
    "ctx_{h}_G_temp_sup-Lateral",
    "ctx_{h}_G_front_inf-Opercular",
)
#: Columns of the simulated ``electrodes.tsv``.
ELECTRODE_COLUMNS = ["name", "x", "y", "z", "size"]
#: Contacts this close (mm) to a hotspot take its label.
HOTSPOT_RADIUS_MM = 15.0


def implant(n_channels: int, rng: np.random.Generator) -> pd.DataFrame:
    """Place ``n_channels`` contacts on straight shafts entering from the lateral surface.

    Contacts are numbered from the deepest (``LA1``) outwards, 3.5 mm apart, as on
    clinical depth electrodes.

    Parameters
    ----------
    n_channels : int
        Number of contacts.
    rng : numpy.random.Generator
        Source of shaft trajectories and lengths.

    Returns
    -------
    electrodes : DataFrame
        Columns ``name``, ``x``, ``y``, ``z`` (mm, ACPC) and ``size`` (mm^2), one row per
        contact, in channel order.
    """
    rows = []
    shafts = rng.permutation(len(SHAFT_NAMES))
    remaining = n_channels
    for idx in shafts:
        if remaining == 0:
            break
        shaft = SHAFT_NAMES[idx]
        n = int(min(remaining, rng.integers(4, 11)))
        rows += _shaft(shaft, list(range(1, n + 1)), rng)
        remaining -= n
    if remaining:
        raise ValueError(
            f"cannot place {n_channels} contacts on {len(SHAFT_NAMES)} shafts of at most 10"
        )
    return pd.DataFrame(rows, columns=ELECTRODE_COLUMNS)


def implant_named(names: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Made-up positions for contacts whose names are known (``LA1``, ``LA2`` ... ``RT12``).

    Each shaft (the name without its trailing number) gets a straight trajectory from the
    lateral surface of its hemisphere (``L`` or ``R`` first, otherwise drawn), as in
    :func:`implant`; its contacts lie :data:`CONTACT_SPACING_MM` apart by number, so that
    missing numbers leave gaps as on a real shaft with removed contacts.

    Parameters
    ----------
    names : list of str
        Contact names, in channel order.
    rng : numpy.random.Generator
        Source of the trajectories.

    Returns
    -------
    electrodes : DataFrame
        As :func:`implant` returns, in the order of ``names``.
    """
    from neurospeech import reference

    rows = {}
    for shaft, contacts in reference.shafts(names, "the channel names").items():
        numbers = [reference.parse_contact(name)[1] for name in contacts]
        for name, row in zip(contacts, _shaft(shaft, numbers, rng)):
            rows[name] = (name, *row[1:])
    return pd.DataFrame([rows[name] for name in names], columns=ELECTRODE_COLUMNS)


def _shaft(shaft: str, numbers: list[int], rng: np.random.Generator) -> list[tuple]:
    """Rows of the contacts ``numbers`` of one shaft; contact 1 is the deepest."""
    hemisphere = shaft[:1].upper()
    side = (
        {"L": -1.0, "R": 1.0}[hemisphere] if hemisphere in ("L", "R") else rng.choice([-1.0, 1.0])
    )
    entry = np.array([side * rng.uniform(58, 66), rng.uniform(-70, 30), rng.uniform(-25, 40)])
    direction = np.array([-side, rng.normal(0, 0.15), rng.normal(0, 0.15)])
    direction /= np.linalg.norm(direction)
    deepest = max(numbers)
    return [
        (f"{shaft}{k}", *np.round(entry + direction * CONTACT_SPACING_MM * (deepest - k), 3), 5)
        for k in numbers
    ]


def speech_proximity(electrodes: pd.DataFrame) -> np.ndarray:
    """Distance in mm from each contact to the nearest speech hotspot."""
    xyz = electrodes[["x", "y", "z"]].to_numpy(float)
    d = np.linalg.norm(xyz[:, None, :] - SPEECH_HOTSPOTS[None], axis=-1)
    return d.min(axis=1)


def labels(electrodes: pd.DataFrame) -> list[str]:
    """FreeSurfer-style anatomical labels of the contacts, from their positions.

    Within :data:`HOTSPOT_RADIUS_MM` of a speech hotspot: its Destrieux label; deeper than
    30 mm from the midline's side (``|x| < 30``): cerebral white matter; at ``|x| >= 62``:
    ``Unknown`` (outside the brain); elsewhere a cortical label by ``y`` (middle frontal,
    middle temporal or supramarginal gyrus), like the ``description`` column of the real
    ``channels.tsv``.
    """
    xyz = electrodes[["x", "y", "z"]].to_numpy(float)
    distance = np.linalg.norm(xyz[:, None, :] - SPEECH_HOTSPOTS[None], axis=-1)
    found = []
    for (x, y, _), near in zip(xyz, distance):
        h, side = ("lh", "Left") if x < 0 else ("rh", "Right")
        if near.min() <= HOTSPOT_RADIUS_MM:
            found.append(HOTSPOT_LABELS[int(near.argmin())].format(h=h))
        elif abs(x) < 30:
            found.append(f"{side}-Cerebral-White-Matter")
        elif abs(x) >= 62:
            found.append("Unknown")
        else:
            gyrus = (
                "G_front_middle"
                if y > 0
                else "G_temporal_middle"
                if y > -40
                else ("G_pariet_inf-Supramar")
            )
            found.append(f"ctx_{h}_{gyrus}")
    return found
