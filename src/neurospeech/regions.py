"""Anatomical regions of the contacts, from the labels of ``channels.tsv``.

SingleWordProductionDutch gives each contact's label in the ``description`` column of
``channels.tsv``: a FreeSurfer Destrieux cortical label (``ctx_lh_G_precentral``), an
aseg subcortical label (``Left-Hippocampus``), white matter or ``Unknown``. They are
grouped into the regions that matter for speech production:

- ``sensorimotor``: precentral and postcentral gyri and sulci, the central and the
  subcentral gyrus and sulci (the labels do not tell ventral from dorsal; paracentral
  cortex, medial and dorsal, is ``other cortex``);
- ``superior temporal``: the superior temporal gyrus (lateral aspect, planum temporale,
  planum polare, Heschl's gyrus) and the superior temporal and transverse temporal sulci;
- ``inferior frontal``: the opercular, triangular and orbital parts of the inferior
  frontal gyrus and the anterior rami of the lateral fissure between them;
- ``insula``: the insular gyri and the circular sulcus;
- ``other cortex``: every other cortical label;
- ``hippocampus/amygdala``;
- ``other subcortical``: basal ganglia, thalamus, ventricles and choroid plexus;
- ``white matter``;
- ``unknown``: no label, or outside the brain.

A bipolar derivation joins its two contacts' labels with ``" / "``: its region is the
first grey-matter region among them (the activity of a bipolar pair is local to both).
"""

from __future__ import annotations

import re
import warnings

import pandas as pd

from neurospeech.bids import RecordingWarning

#: Region names, in the order of the tables and figures.
REGIONS = (
    "sensorimotor",
    "superior temporal",
    "inferior frontal",
    "insula",
    "other cortex",
    "hippocampus/amygdala",
    "other subcortical",
    "white matter",
    "unknown",
)
#: Regions of grey matter, where a contact records local neural activity.
GREY = REGIONS[:7]
_CORTICAL = re.compile(r"^ctx[-_](?:lh|rh)[-_](.+)$")
_CORTEX_RULES = (
    ("sensorimotor", re.compile(r"precentral|postcentral|S_central|subcentral")),
    ("superior temporal", re.compile(r"G_temp_sup|S_temporal_sup|S_temporal_transverse")),
    ("inferior frontal", re.compile(r"G_front_inf|Lat_Fis-ant")),
    ("insula", re.compile(r"insula|Ins_lg|G_insular")),
)
_SUBCORTICAL_RULES = (
    ("hippocampus/amygdala", re.compile(r"Hippocampus|Amygdala")),
    ("white matter", re.compile(r"White-Matter|WM-hypointensities|^(?:Left|Right)-WM$")),
    (
        "other subcortical",
        re.compile(
            r"Putamen|Caudate|Pallidum|Thalamus|Accumbens|VentralDC|Ventricle|Inf-Lat-Vent|"
            r"choroid-plexus|Claustrum"
        ),
    ),
)
_UNKNOWN = {"", "unknown", "n/a", "na", "nan", "none"}


def region(label: object) -> str:
    """Return the region of one anatomical label (see the module's description).

    Raises
    ------
    ValueError
        If the label is neither a cortical (``ctx_lh_...``) nor a known subcortical label,
        so that no contact is grouped by a guess.
    """
    text = str(label).strip()
    parts = [part.strip() for part in text.split(" / ")] if " / " in text else [text]
    if len(parts) > 1:
        found = [region(part) for part in parts]
        grey = [name for name in found if name in GREY]
        return grey[0] if grey else found[0]
    if text.lower() in _UNKNOWN:
        return "unknown"
    cortical = _CORTICAL.match(text)
    if cortical:
        name = cortical.group(1)
        if name.lower() == "unknown":
            return "unknown"
        return next((area for area, rule in _CORTEX_RULES if rule.search(name)), "other cortex")
    for area, rule in _SUBCORTICAL_RULES:
        if rule.search(text):
            return area
    raise ValueError(f"anatomical label {text!r} is not a FreeSurfer label this mapping knows")


def of_channels(channels: pd.DataFrame, where: object = "channels.tsv") -> pd.Series:
    """Return the region of every row of a ``channels.tsv`` table, indexed by channel name.

    A table without ``description`` gives ``unknown`` everywhere.

    Warns
    -----
    RecordingWarning
        For labels :func:`region` does not know (they are ``unknown``); names ``where``
        and the channels.
    """
    labels = channels.get("description", pd.Series("n/a", index=channels.index))
    found, unknown = {}, []
    for name, label in zip(channels["name"], labels):
        try:
            found[name] = region(label)
        except ValueError:
            found[name] = "unknown"
            unknown.append(f"{name} ({label})")
    if unknown:
        warnings.warn(
            f"{where}: anatomical labels of no known region, counted as unknown: "
            f"{', '.join(unknown)}",
            RecordingWarning,
            stacklevel=2,
        )
    return pd.Series(found, name="region", dtype=object)


def summarise(results: pd.DataFrame, electrodes: str = "electrodes") -> pd.DataFrame:
    """Summarise results per region, in the order of :data:`REGIONS`.

    Parameters
    ----------
    results : DataFrame
        One row per electrode (or per region decoder): ``participant``, ``region``, ``r``
        and ``significant`` (bool); a column named ``electrodes`` counts the electrodes
        of a row (1 per row if absent).
    electrodes : str
        That column's name.

    Returns
    -------
    summary : DataFrame
        One row per region present: ``region``, ``participants``, ``electrodes``,
        ``rows``, ``significant``, ``share_significant``, ``mean_r``,
        ``mean_r_significant`` and ``max_r``.
    """
    table = results.assign(
        **{electrodes: results[electrodes] if electrodes in results else 1},
        r_significant=results["r"].where(results["significant"].astype(bool)),
    )
    summary = (
        table.groupby("region")
        .agg(
            participants=("participant", "nunique"),
            electrodes=(electrodes, "sum"),
            rows=("r", "size"),
            significant=("significant", "sum"),
            mean_r=("r", "mean"),
            mean_r_significant=("r_significant", "mean"),
            max_r=("r", "max"),
        )
        .reindex([name for name in REGIONS if name in set(table["region"])])
        .rename_axis("region")
        .reset_index()
    )
    summary["share_significant"] = summary["significant"] / summary["rows"]
    return summary
