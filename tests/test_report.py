import numpy as np
import pandas as pd
import pytest
from scipy.io import wavfile

from neurospeech import config, report

MANUSCRIPT = """# Results

{% if simulated %}These data are simulated.{% endif %}
The mean value is {{ tables.scores.value.mean() | num(1) }} over {{ tables.scores | length }}
rows ({{ tables.scores.value | span(1) }}; {{ config.encoding.n_shifts | count }} shifts,
{{ 0.25 | pct }}).

{{ figure("first", "The first figure; q < 0.05.") }}
{{ sound("voice", "A voice") }}
"""


@pytest.fixture
def paper(tmp_path):
    """A paper folder with two figures, one sound and one table, and its manifest."""
    paper = tmp_path / "paper"
    (paper / "figures").mkdir(parents=True)
    (paper / "tables").mkdir()
    (paper / "audio").mkdir()
    for name in ("first", "second", "stray"):  # no step made the stray one
        (paper / "figures" / f"{name}.svg").write_text("<svg/>")
    wavfile.write(paper / "audio" / "voice.wav", 16000, np.zeros(160, np.int16))
    pd.DataFrame({"value": [1.5, 2.5]}).to_csv(paper / "tables" / "scores.csv", index=False)
    (paper / "tables" / "scores.tex").write_text("\\begin{table}\\end{table}\n")
    manifest = {
        "neurospeech": "0.1",
        "python": "3.11",
        "commit": "abc1234",
        "dirty": True,
        "config": config.load().to_dict(),
        "models": {"log-mel": {"hf_id": None, "revision": None, "untrained": False}},
        "code": "c0de",
        "inputs": {"a.tsv": "0"},
        "outputs": {
            name: "0"
            for name in (
                "audio/voice.wav",
                "figures/first.svg",
                "figures/second.svg",
                "tables/scores.csv",
                "tables/scores.tex",
            )
        },
        "packages": {"numpy": "2.0"},
        "steps": {
            "01_one": {
                "script": "analysis/01_one.py",
                "outputs": {"figures/first.svg": "0", "tables/scores.csv": "0"},
            }
        },
    }
    manuscript = tmp_path / "manuscript.md"
    manuscript.write_text(MANUSCRIPT)
    return paper, manifest, manuscript


def test_report_has_the_numbers_figures_sounds_tables_and_provenance(paper):
    paper, manifest, manuscript = paper
    path = report.build(paper, manifest, manuscript)
    assert path == paper / "build" / "index.html"
    page = path.read_text()
    assert report.SIMULATED_BANNER in page and "These data are simulated." in page
    assert "The mean value is 2.0 over 2\nrows (1.5 to 2.5; 10,000 shifts,\n25 %)" in page
    # numbered figures with their script and commit, captions escaped
    assert '<img src="../figures/first.svg"' in page and "<b>Figure 1.</b>" in page
    assert "q &lt; 0.05." in page
    assert (
        "Made by <code>analysis/01_one.py</code> at commit abc1234 with uncommitted changes."
        in page
    )
    # what the manuscript did not place comes after it
    assert page.index("Every other figure") < page.index("<b>Figure 2.</b>")
    assert '<img src="../figures/second.svg"' in page and "an unknown script" in page
    assert page.count('src="../audio/voice.wav"') == 1
    assert "stray" not in page  # only the outputs the manifest lists
    assert (
        '<a href="../tables/scores.csv">CSV</a>, <a href="../tables/scores.tex">LaTeX</a>' in page
    )
    assert "c0de" in page and "numpy==2.0" in page and "&quot;n_shifts&quot;: 10000" in page
    # no date: the same outputs give the same bytes
    before = path.read_bytes()
    report.build(paper, manifest, manuscript)
    assert path.read_bytes() == before


def test_real_data_report_has_no_simulated_banner_and_works_without_a_manuscript(paper):
    paper, manifest, manuscript = paper
    manifest["config"] = config.load(profile="swpd").to_dict()
    page = report.build(paper, manifest, manuscript).read_text()
    assert "SIMULATED" not in page and "These data are simulated." not in page
    page = report.build(paper, manifest).read_text()
    assert "<b>Figure 1.</b>" in page and "<b>Figure 2.</b>" in page


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ tables.absent.value.mean() }}", "has no attribute 'absent'. Tables available: scores"),
        ('{{ figure("third") }}', "no figure 'third' in .*figures; there are first, second"),
        ('{{ sound("noise") }}', "no sound 'noise' in .*audio; there are voice"),
        ("line one\n{{ tables.scores.value.mean( }}", "manuscript.md, line 2"),
    ],
)
def test_a_manuscript_that_does_not_fit_the_outputs_is_an_error_naming_it(paper, text, message):
    paper, manifest, manuscript = paper
    manuscript.write_text(text)
    with pytest.raises(ValueError, match=message):
        report.build(paper, manifest, manuscript)
    assert not (paper / "build" / "index.html").exists()
