"""The published values typed into the project, and ours set beside them."""

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

from neurospeech import published


def test_the_decoding_values_are_those_of_the_official_rerun_and_figure_4a():
    path = SHARED / "swpd-metadata" / "reference" / "published_decoding.csv"
    if not path.exists():
        pytest.skip(f"the real metadata are not at {path}")
    reference = pd.read_csv(path).set_index("participant")
    ours = published.verwoert2022().pivot(index="participant", columns="metric", values="value")
    assert list(ours.index) == [f"sub-{k:02d}" for k in range(1, 11)]
    np.testing.assert_allclose(
        ours["mean_r"], reference.loc[ours.index, "mean_r_official_rerun"], atol=5e-5
    )
    np.testing.assert_allclose(
        ours["mean_r_figure_4a"], reference.loc[ours.index, "fig4a_digitized"], atol=1e-9
    )


def test_the_papers_values_per_participant():
    table = published.khanday2025()
    assert set(table["participant"]) == {f"sub-{k:02d}" for k in range(1, 10)}  # no 10
    counts = table.groupby(["feature_space", "metric"]).size()
    assert counts.to_dict() == {
        ("fasttext-nl", "r2"): 9,
        ("gpt2", "pcc"): 9,
        ("gpt2", "r2"): 9,
        ("wav2vec2-xls-r-300m", "r2"): 9,
    }
    xlsr = table[table["feature_space"] == "wav2vec2-xls-r-300m"].set_index("participant")
    assert xlsr.loc["sub-09", "value"] == -0.2935
    assert table["source"].str.contains("llm_brain_representations").all()


def test_ours_beside_the_published_values():
    reference = pd.DataFrame({"participant": ["sub-01", "sub-02"], "value": [0.5, 0.6]})
    ours = pd.DataFrame({"participant": ["sub-01", "sub-03"], "value": [0.55, 0.7]})
    table = published.beside(reference, ours, ["participant"], simulated=False)
    assert table["ours"].tolist() == ["0.5500", "not run"]
    np.testing.assert_allclose(table["difference"], [0.05, np.nan])
    simulated = published.beside(reference, ours, ["participant"], simulated=True)
    assert simulated["ours"].tolist() == ["simulated", "simulated"]
    assert simulated["difference"].isna().all()
