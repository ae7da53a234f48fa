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
        side = -1.0 if shaft[0] == "L" else 1.0
        entry = np.array([side * rng.uniform(58, 66), rng.uniform(-70, 30), rng.uniform(-25, 40)])
        direction = np.array([-side, rng.normal(0, 0.15), rng.normal(0, 0.15)])
        direction /= np.linalg.norm(direction)
        for k in range(n):  # contact 1 is the deepest
            pos = entry + direction * CONTACT_SPACING_MM * (n - 1 - k)
            rows.append((f"{shaft}{k + 1}", *np.round(pos, 3), 5))
        remaining -= n
    if remaining:
        raise ValueError(
            f"cannot place {n_channels} contacts on {len(SHAFT_NAMES)} shafts of at most 10"
        )
    return pd.DataFrame(rows, columns=["name", "x", "y", "z", "size"])


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
