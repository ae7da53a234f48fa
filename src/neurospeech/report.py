"""The report: ``paper/build/index.html``, the manuscript with its numbers taken from the tables.

The manuscript (``paper/manuscript.md``) is Markdown with Jinja2 expressions. Every number
in its text is an expression over the generated tables, so the text cannot drift from
the results::

    The baseline reconstructs the spectrogram with a mean r of
    {{ tables.decoding_summary.mean_r.mean() | num }}.

    {{ figure("decoding_r", "Reconstruction per participant.") }}

Names available to the manuscript:

- ``tables``: every CSV of ``paper/tables`` as a :class:`pandas.DataFrame`, by name;
- ``simulated`` (bool), ``profile`` and ``config`` (the run's configuration as a dict);
- ``figure(name, caption)``: the figure, numbered, with the script and commit that made it;
- ``sound(name, label)``: an audio player for ``paper/audio/<name>.wav``;
- the filters ``num`` (fixed decimals, default 2), ``pct`` (a fraction as a percentage),
  ``count`` (an integer with thousands separators) and ``span`` (a column's range, "16 to
  32", or its one value);
- ``prose``: :mod:`neurospeech.prose`, the sentences made from the tables (the verdict,
  counts with their nouns, lists, the published values beside ours);
- ``published``: :mod:`neurospeech.published`, the published values themselves.

After the manuscript the report shows every figure and sound it did not place, links to
every table (CSV and LaTeX), and the provenance of the run: profile, commit, model
revisions, configuration and package versions. On the sample profile a banner at the top
says the data are simulated. The page holds no date: the same outputs give the same bytes.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from neurospeech import _io, prose, published

SIMULATED_BANNER = (
    "SIMULATED DATA. Every number, figure and sound on this page comes from the simulated "
    "sample (neurospeech.simulate), not from recordings of people. Run "
    "<code>nox -s reproduce -- --profile swpd</code> for the real dataset."
)
REHEARSAL_BANNER = (
    "REHEARSAL. Simulated signals in the real study's layout, analysed with untrained "
    "stand-ins of every model (neurospeech rehearse): this run measures what the real "
    "study costs in time, memory and disk; none of its numbers is a result."
)
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
.simulated { background: #fde2e1; border: 2px solid #c0392b; color: #7b1d14; padding: 0.8rem;
             font-weight: 600; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; }
figcaption { font-size: 0.9rem; } .made-by { color: #666; font-size: 0.8rem; }
table { border-collapse: collapse; font-size: 0.85rem; }
td, th { border: 1px solid #ccc; padding: 0.2rem 0.5rem; }
pre { background: #f6f6f6; padding: 0.5rem; overflow-x: auto; font-size: 0.8rem; }
"""


def _outputs(manifest: dict[str, Any], folder: str, suffix: str) -> list[str]:
    """Names (stems) of the run's outputs in ``folder`` with ``suffix``, sorted."""
    return sorted(
        Path(rel).stem
        for rel in manifest["outputs"]
        if rel.startswith(f"{folder}/") and rel.endswith(suffix)
    )


def read_tables(paper_dir: str | os.PathLike, manifest: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Return every table the run made (its CSV outputs, as the manifest lists them) by name."""
    folder = Path(paper_dir) / "tables"
    return {
        name: pd.read_csv(folder / f"{name}.csv") for name in _outputs(manifest, "tables", ".csv")
    }


def _made_by(manifest: dict[str, Any]) -> dict[str, str]:
    """Output path (relative to ``paper/``) -> the script that wrote it."""
    return {
        output: step["script"] for step in manifest["steps"].values() for output in step["outputs"]
    }


class _Page:
    """The figures and sounds of a report, numbered in the order they are placed."""

    def __init__(self, paper_dir: Path, manifest: dict[str, Any]) -> None:
        self.paper_dir = paper_dir
        self.made_by = _made_by(manifest)
        commit = manifest.get("commit") or "no commit (not a git checkout)"
        if manifest.get("dirty"):
            commit += " with uncommitted changes"
        self.commit = commit
        self.outputs = set(manifest["outputs"])
        self.figures = _outputs(manifest, "figures", ".svg")
        self.sounds = _outputs(manifest, "audio", ".wav")
        self.placed_figures: list[str] = []
        self.placed_sounds: list[str] = []

    def _origin(self, output: str) -> str:
        script = self.made_by.get(output, "an unknown script")
        return f"Made by <code>{html.escape(script)}</code> at commit {html.escape(self.commit)}."

    def _place(self, name: str, kind: str, available: list[str], placed: list[str]) -> None:
        """Note ``name`` as placed, or raise if the run did not make it."""
        if name not in available:
            folder = self.paper_dir / {"figure": "figures", "sound": "audio"}[kind]
            raise KeyError(
                f"no {kind} {name!r} in {folder}; there are {', '.join(available) or 'none'}"
            )
        placed.append(name)

    def figure(self, name: str, caption: str = "") -> str:
        """HTML of the figure ``name`` (``paper/figures/<name>.svg``), numbered."""
        self._place(name, "figure", self.figures, self.placed_figures)
        number = len(self.placed_figures)
        return (
            f'\n\n<figure id="{name}"><img src="../figures/{name}.svg" '
            f'alt="{html.escape(caption or name)}"><figcaption><b>Figure {number}.</b> '
            f'{html.escape(caption)} <span class="made-by">'
            f"{self._origin(f'figures/{name}.svg')}</span>"
            f"</figcaption></figure>\n\n"
        )

    def sound(self, name: str, label: str = "") -> str:
        """HTML of an audio player for ``paper/audio/<name>.wav``."""
        self._place(name, "sound", self.sounds, self.placed_sounds)
        return (
            f'\n\n<p>{html.escape(label or name)}<br><audio controls preload="none" '
            f'src="../audio/{name}.wav"></audio> <span class="made-by">'
            f"{self._origin(f'audio/{name}.wav')}</span></p>\n\n"
        )


def _num(value: float, digits: int = 2) -> str:
    return f"{float(value):.{digits}f}"


def _pct(value: float, digits: int = 0) -> str:
    return f"{100 * float(value):.{digits}f} %"


def _count(value: float) -> str:
    return f"{int(value):,}"


def _span(values: pd.Series, digits: int = 0) -> str:
    low, high = _num(values.min(), digits), _num(values.max(), digits)
    return low if low == high else f"{low} to {high}"


def render_manuscript(
    text: str,
    tables: dict[str, pd.DataFrame],
    page: _Page,
    manifest: dict,
    where: str,
    simulated: bool,
) -> str:
    """Return the manuscript's Markdown with every expression evaluated.

    Raises
    ------
    ValueError
        If an expression fails (a table or column that is not there, a figure that was
        not made); the message names the manuscript and the line where known.
    """
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters.update(num=_num, pct=_pct, count=_count, span=_span)
    try:
        template = env.from_string(text)
        return template.render(
            tables=tables,
            simulated=simulated,
            profile=manifest["config"]["profile"],
            config=manifest["config"],
            figure=page.figure,
            sound=page.sound,
            prose=prose,
            published=published,
        )
    except jinja2.TemplateSyntaxError as err:
        raise ValueError(f"{where}, line {err.lineno}: {err.message}") from None
    except (jinja2.UndefinedError, KeyError, AttributeError, ValueError, TypeError) as err:
        raise ValueError(
            f"{where}: {err}. Tables available: {', '.join(tables) or 'none'}"
        ) from None


def _rest(page: _Page, tables: dict[str, pd.DataFrame]) -> str:
    """Markdown of what the manuscript did not place: figures, sounds, the table list."""
    parts = []
    figures = [name for name in page.figures if name not in page.placed_figures]
    if figures:
        parts.append("## Every other figure")
        parts += [page.figure(name, name.replace("_", " ")) for name in figures]
    sounds = [name for name in page.sounds if name not in page.placed_sounds]
    if sounds:
        parts.append("## Sounds")
        parts += [page.sound(name, name.replace("_", " ")) for name in sounds]
    if tables:
        parts.append("## Tables")
        for name, table in tables.items():
            links = f"[CSV](../tables/{name}.csv)"
            if f"tables/{name}.tex" in page.outputs:
                links += f", [LaTeX](../tables/{name}.tex)"
            script = page.made_by.get(f"tables/{name}.csv", "an unknown script")
            parts.append(f"- **{name}** ({len(table)} rows): {links}; made by `{script}`")
    return "\n\n".join(parts)


def _provenance(manifest: dict[str, Any], page: _Page) -> str:
    """Markdown of the run's provenance."""
    models = "\n".join(
        f"| {name} | {m['hf_id'] or '(built in)'} | {m['revision'] or '-'} | "
        f"{'yes' if m['untrained'] else 'no'} |"
        for name, m in manifest["models"].items()
    )
    packages = "\n".join(f"{name}=={version}" for name, version in manifest["packages"].items())
    configuration = json.dumps(manifest["config"], indent=2)
    return f"""## Provenance

Profile **{manifest["config"]["profile"]}**; neurospeech {manifest["neurospeech"]}, Python
{manifest["python"]}; commit {html.escape(page.commit)}; code hash `{manifest["code"]}`;
{len(manifest["inputs"])} input files and {len(manifest["outputs"])} outputs, each with its
sha256 in `paper/manifest.json` (`nox -s verify` re-runs everything and compares them).

| feature space | model | revision | untrained |
|---|---|---|---|
{models}

<details><summary>Configuration</summary>

<pre>{html.escape(configuration)}</pre>

</details>

<details><summary>Installed packages ({len(manifest["packages"])})</summary>

<pre>{html.escape(packages)}</pre>

</details>
"""


def build(
    paper_dir: str | os.PathLike,
    manifest: dict[str, Any],
    manuscript: str | os.PathLike | None = None,
) -> Path:
    """Write ``paper_dir/build/index.html`` from the outputs, the manifest and the manuscript.

    Only the outputs the manifest lists (those the steps declared) are shown, so a file
    of ``paper/`` that no step owns never enters the report.

    Parameters
    ----------
    paper_dir : path-like
        ``paper/``, with ``figures/``, ``tables/`` and ``audio/`` written.
    manifest : dict
        Of the run (:func:`neurospeech.provenance.manifest`).
    manuscript : path-like, optional
        The manuscript template; without one (or if the file is absent) the report holds
        the figures, sounds, tables and provenance only.

    Returns
    -------
    path : Path
        The report.
    """
    from markdown_it import MarkdownIt

    from neurospeech import config

    paper_dir = Path(paper_dir)
    simulated = config.from_dict(manifest["config"]).simulated
    tables = read_tables(paper_dir, manifest)
    page = _Page(paper_dir, manifest)
    body = ""
    if manuscript is not None and Path(manuscript).exists():
        text = Path(manuscript).read_text(encoding="utf-8")
        body = render_manuscript(text, tables, page, manifest, str(manuscript), simulated)
    markdown = "\n\n".join([body, _rest(page, tables), _provenance(manifest, page)])
    content = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    banner = f'<p class="simulated">{SIMULATED_BANNER}</p>\n' if simulated else ""
    if manifest.get("rehearsal"):
        banner = f'<p class="simulated">{REHEARSAL_BANNER}</p>\n'
    page_html = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>neurospeech: reproduction report</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n{banner}{content}</body>\n</html>\n"
    )
    out = paper_dir / "build" / "index.html"
    _io.write_text(out, page_html)
    return out
