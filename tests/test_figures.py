import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from neurospeech import figures


def _figure():
    fig, ax = plt.subplots()
    ax.plot(np.arange(10), np.arange(10) ** 2)
    return fig


def test_figures_are_byte_for_byte_reproducible(tmp_path):
    first = figures.save(_figure(), tmp_path / "a" / "fig")
    second = figures.save(_figure(), tmp_path / "b" / "fig")
    assert [p.suffix for p in first] == [".svg", ".png"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()
    svg = first[0].read_text()
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg


def test_tables_are_written_as_csv_and_latex(tmp_path):
    table = pd.DataFrame({"participant": ["sub-01", "sub-02"], "mean_r": [0.51519, 0.6]})
    csv_only = figures.save_table(table, tmp_path / "scores")
    assert csv_only == [tmp_path / "scores.csv"]
    pd.testing.assert_frame_equal(pd.read_csv(csv_only[0]), table)
    paths = figures.save_table(table, tmp_path / "scores", caption="Scores.", label="tab:s")
    assert [p.name for p in paths] == ["scores.csv", "scores.tex"]
    latex = paths[1].read_text()
    assert "\\caption{Scores.}" in latex and "\\label{tab:s}" in latex and "0.515" in latex


def test_mark_simulated_titles_only_simulated_figures():
    fig = plt.figure()
    figures.mark_simulated(fig, False)
    assert fig._suptitle is None
    figures.mark_simulated(fig, True)
    assert fig._suptitle.get_text() == figures.SIMULATED_TITLE
    plt.close(fig)
