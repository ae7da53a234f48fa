"""Anatomical regions from the labels of the real channels.tsv of all ten participants."""

from __future__ import annotations

import pandas as pd
import pytest

from neurospeech import bids, regions


def test_every_real_label_maps_to_a_region(swpd_metadata_channels):
    assert len(swpd_metadata_channels) == 10
    labels = pd.concat([table["description"] for _, table in swpd_metadata_channels])
    found = {label: regions.region(label) for label in labels.unique()}
    assert set(found.values()) <= set(regions.REGIONS)
    assert len(labels) == sum(len(t) for _, t in swpd_metadata_channels)
    # each speech region is present in the real data
    assert {"sensorimotor", "superior temporal", "inferior frontal", "insula"} <= set(
        found.values()
    )


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("ctx_lh_G_precentral", "sensorimotor"),
        ("ctx_rh_G_and_S_subcentral", "sensorimotor"),
        ("ctx_lh_S_central", "sensorimotor"),
        ("ctx_lh_G_temp_sup-Lateral", "superior temporal"),
        ("ctx_rh_S_temporal_sup", "superior temporal"),
        ("ctx_lh_G_temp_sup-G_T_transv", "superior temporal"),
        ("ctx_lh_G_front_inf-Triangul", "inferior frontal"),
        ("ctx_lh_S_circular_insula_sup", "insula"),
        ("ctx_lh_G_and_S_paracentral", "other cortex"),
        ("ctx_lh_G_temporal_middle", "other cortex"),
        ("Left-Hippocampus", "hippocampus/amygdala"),
        ("Right-Amygdala", "hippocampus/amygdala"),
        ("Right-Putamen", "other subcortical"),
        ("Left-Cerebral-White-Matter", "white matter"),
        ("WM-hypointensities", "white matter"),
        ("Unknown", "unknown"),
        ("n/a", "unknown"),
        ("Left-Cerebral-White-Matter / ctx_lh_G_precentral", "sensorimotor"),
        ("Unknown / Left-Cerebral-White-Matter", "unknown"),
    ],
)
def test_labels(label, expected):
    assert regions.region(label) == expected


def test_an_unknown_label_is_an_error_and_a_warning_per_table():
    with pytest.raises(ValueError, match="'Cerebellum-Cortex' is not"):
        regions.region("Cerebellum-Cortex")
    table = pd.DataFrame({"name": ["LA1", "LA2"], "description": ["Cerebellum-Cortex", "Unknown"]})
    with pytest.warns(bids.RecordingWarning, match=r"x\.tsv: .*LA1 \(Cerebellum-Cortex\)"):
        found = regions.of_channels(table, "x.tsv")
    assert found.to_dict() == {"LA1": "unknown", "LA2": "unknown"}


def test_summarise_in_region_order():
    results = pd.DataFrame(
        {
            "participant": ["sub-01", "sub-01", "sub-02", "sub-02"],
            "region": ["white matter", "sensorimotor", "sensorimotor", "sensorimotor"],
            "r": [0.1, 0.5, 0.3, 0.2],
            "significant": [False, True, True, False],
        }
    )
    summary = regions.summarise(results)
    assert summary["region"].tolist() == ["sensorimotor", "white matter"]
    first = summary.iloc[0]
    assert (first["participants"], first["electrodes"], first["significant"]) == (2, 3, 2)
    assert first["share_significant"] == pytest.approx(2 / 3)
    assert first["mean_r_significant"] == pytest.approx(0.4)
