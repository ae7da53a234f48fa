import matplotlib.pyplot as plt
import numpy as np

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
