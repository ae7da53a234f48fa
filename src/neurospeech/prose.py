"""Sentences of the manuscript made from the tables, right in every case.

The manuscript (``paper/manuscript.md``) states its conclusions with these functions, so a
conclusion follows the numbers: the verdict on the paper's metric and on the word-level
encoding (:func:`protocol_verdict`), counts that agree with their nouns (:func:`count`),
lists in prose (:func:`join`), and the published values beside ours as a Markdown table
(:func:`beside_table`). Each reads naturally with one participant, one trial length or one
feature space, and says so plainly when there is nothing to report.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from neurospeech import stats

#: The level of every test the manuscript reports.
LEVEL = 0.05


def join(items: Iterable[object]) -> str:
    """Return ``"a"``, ``"a and b"``, ``"a, b and c"``; ``""`` for no items."""
    items = [str(item) for item in items]
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def seconds(values: Iterable[float]) -> str:
    """``"1 and 2"`` for the lengths 1.0 and 2.0 (the unit is the caller's)."""
    return join(f"{float(v):g}" for v in values)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``"1 participant"``, ``"3 participants"``, ``"no participant"``."""
    n = int(n)
    if n == 0:
        return f"no {noun}"
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def _p(value: float) -> str:
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def _tests(audit: pd.DataFrame) -> str:
    """Return ``"the 12 tests (2 participants x 3 feature spaces x 2 trial lengths)"``."""
    parts = [
        count(audit["participant"].nunique(), "participant"),
        count(audit["feature_space"].nunique(), "feature space"),
        count(audit["trial_length"].nunique(), "trial length"),
    ]
    n = len(audit)
    noun = "the one test" if n == 1 else f"the {n} tests"
    return f"{noun} ({' x '.join(parts)})"


def _unresolvable(
    table: pd.DataFrame, draws: str, what: str, family: str, level: float
) -> str | None:
    """Say so when no test of the table could be significant with its ``draws`` per test.

    Returns None when the family (described by ``family``) can reach the level
    (:func:`neurospeech.stats.holm_floor`).
    """
    n_draws = int(table[draws].min())
    if stats.holm_floor(n_draws, len(table)) < level:
        return None
    needed = int(len(table) / level)
    while stats.holm_floor(needed, len(table)) >= level:
        needed += 1
    return (
        f"The {what} cannot decide here: with {n_draws:,} {draws.removeprefix('n_')} a "
        f"p-value is at least {_p(1 / (n_draws + 1))}, and Holm correction over {family} "
        f"needs less than {_p(level / len(table))}, so no test could be significant whatever "
        f"the data; at least {needed:,} are needed."
    )


def _none(audit: pd.DataFrame, verb: str, negated: str) -> str:
    """``"none of the 12 tests (...) scores"``, or ``"the one test (...) does not score"``."""
    return f"{_tests(audit)} {negated}" if len(audit) == 1 else f"none of {_tests(audit)} {verb}"


def _share(found: pd.DataFrame, audit: pd.DataFrame) -> str:
    """``"4 of the 12 tests (...)"``, or ``"the one test (...)"``."""
    return _tests(audit) if len(audit) == 1 else f"{len(found)} of {_tests(audit)}"


def _where(rows: pd.DataFrame) -> str:
    """``"log-mel (sub-01 and sub-02)"`` per feature space, in the table's order."""
    phrases = []
    for space, group in rows.groupby("feature_space", sort=False):
        cases = [
            f"{participant} at {length:g} s"
            for participant, length in zip(group["participant"], group["trial_length"])
        ]
        phrases.append(f"{space} ({join(cases)})")
    return join(phrases)


def metric_verdict(audit: pd.DataFrame, level: float = LEVEL) -> str:
    """Whether the paper's metric tells any feature space from having no features.

    Parameters
    ----------
    audit : DataFrame
        The ``protocol_audit`` table: ``pcc_model``, ``pcc_mean``, ``pcc_noise``,
        ``n_shuffles`` and ``p_shuffle_holm`` per participant, feature space and trial
        length (the rows with no shuffles have no shuffle test).
    level : float
        Family-wise level of the Holm-corrected permutation p-values.
    """
    if audit.empty:
        return "No feature space was run, so the paper's metric has nothing to judge."
    model, mean = audit["pcc_model"].mean(), audit["pcc_mean"].mean()
    moved = (audit["pcc_model"] - audit["pcc_mean"]).abs().max()
    tested = audit[audit["n_shuffles"] > 0]
    found = tested[tested["p_shuffle_holm"] < level]
    baseline = (
        f"a predictor of each channel's training mean, which sees no words, scores a mean "
        f"PCC of {mean:.3f} against {model:.3f} with the features"
    )
    if tested.empty:
        return f"No predictor was tested against shuffled words. Without features, {baseline}."
    if found.empty:
        undecided = _unresolvable(
            tested, "n_shuffles", "shuffle test of the paper's metric", _tests(tested), level
        )
        if undecided:
            return f"{undecided} Without features, {baseline}."
        return (
            f"The paper's metric does not distinguish any feature space from the no-feature "
            f"predictor: {baseline}, and {_none(tested, 'scores', 'does not score')} above "
            f"shuffled word assignments after Holm correction (smallest corrected p = "
            f"{_p(tested['p_shuffle_holm'].min())})."
        )
    return (
        f"The paper's metric scores the features above shuffled word assignments in "
        f"{_share(found, tested)} after Holm correction: {_where(found)}. Yet "
        f"{baseline}; the features move the PCC by at most {moved:.3f}."
    )


def word_level_verdict(audit: pd.DataFrame, level: float = LEVEL) -> str:
    """Whether the word-level encoding finds word information, and where.

    Uses ``word_level_p_holm`` (the best channel's family-wise p, Holm-corrected over
    the table) and ``significant`` / ``channels`` of the ``protocol_audit`` table.
    """
    if audit.empty:
        return "No feature space was run, so the word-level encoding has nothing to report."
    found = audit[audit["word_level_p_holm"] < level]
    if found.empty:
        undecided = _unresolvable(
            audit, "n_permutations", "word-level encoding", _tests(audit), level
        )
        if undecided:
            return undecided
        return (
            f"The word-level encoding finds no word information in any participant, feature "
            f"space or trial length: {_none(audit, 'has', 'does not have')} a channel whose "
            f"family-wise p survives Holm correction (smallest corrected p = "
            f"{_p(audit['word_level_p_holm'].min())})."
        )
    return (
        f"The word-level encoding finds word information in {_share(found, audit)} "
        f"after Holm correction: {_where(found)}, with "
        f"{count(found['significant'].sum(), 'channel')} at FDR q < {level:g} among their "
        f"{found['channels'].sum():,}."
    )


def _group_sentence(
    group: pd.DataFrame, draws: str, statistic: str, found_what: str, none_what: str, level
) -> str:
    """Return the verdict of a table of group tests (``participants``, ``p_group_holm``)."""
    if group.empty:
        return ""
    family = (
        f"{'the one group test' if len(group) == 1 else f'the {len(group)} group tests'} ("
        f"{count(group['feature_space'].nunique(), 'feature space')} x "
        f"{count(group['trial_length'].nunique(), 'trial length')})"
    )
    statistic = (
        f"Across the {count(int(group['participants'].max()), 'participant')} at once ({statistic})"
    )
    undecided = _unresolvable(group, draws, "group test", family, level)
    if undecided:
        return f"{statistic}: {undecided[0].lower()}{undecided[1:]}"
    found = group[group["p_group_holm"] < level]
    if found.empty:
        where = f"in {family}" if len(group) == 1 else f"in any of {family}"
        return (
            f"{statistic}, {none_what} {where} after Holm correction (smallest corrected "
            f"p = {_p(group['p_group_holm'].min())})."
        )
    cases = join(
        f"{space} ({seconds(rows['trial_length'])} s)"
        for space, rows in found.groupby("feature_space", sort=False)
    )
    share = family if len(group) == 1 else f"{len(found)} of {family}"
    return f"{statistic}, {found_what} in {share} after Holm correction: {cases}."


def group_verdict(group: pd.DataFrame, level: float = LEVEL) -> str:
    """Whether the word-level encoding finds word information across the participants.

    Parameters
    ----------
    group : DataFrame
        The ``protocol_group`` table (:func:`neurospeech.paper_protocol.group_word_level`
        per feature space and trial length, with ``p_group_holm``).
    level : float
        Family-wise level of the Holm-corrected p-values.
    """
    return _group_sentence(
        group,
        "n_permutations",
        "the mean of each one's best channel, against the same permutation in every one",
        "the word-level encoding finds word information",
        "the word-level encoding finds no word information",
        level,
    )


def shuffle_group_verdict(group: pd.DataFrame, level: float = LEVEL) -> str:
    """Whether the paper's metric beats shuffled words across the participants.

    Parameters
    ----------
    group : DataFrame
        The ``protocol_shuffle_group`` table (:func:`neurospeech.paper_protocol.group_audit`
        per feature space and trial length, with ``p_group_holm``).
    level : float
        Family-wise level of the Holm-corrected p-values.
    """
    return _group_sentence(
        group,
        "n_shuffles",
        "the mean of each one's PCC, against the same shuffle of the words in every one",
        "the paper's metric scores the features above shuffled word assignments",
        "the paper's metric does not score the features above shuffled word assignments",
        level,
    )


def noise_note(audit: pd.DataFrame) -> str:
    """Return the sentence that sets the PCC of noise features beside the features'."""
    if audit.empty:
        return ""
    return (
        f"Noise features of the same width score a mean PCC of "
        f"{audit['pcc_noise'].mean():.3f} (the features: {audit['pcc_model'].mean():.3f}); "
        f"the authors' own code likewise gives the same PCC with noise predictors as with "
        f"the embeddings."
    )


def protocol_verdict(
    audit: pd.DataFrame,
    group: pd.DataFrame | None = None,
    shuffle_group: pd.DataFrame | None = None,
    level: float = LEVEL,
) -> str:
    """Return the verdict on the paper's claim.

    Its metric per participant and (given the ``protocol_shuffle_group`` table) across
    participants, the word level per participant and (given the ``protocol_group``
    table) across participants, and the noise control.
    """
    parts = [
        metric_verdict(audit, level),
        "" if shuffle_group is None else shuffle_group_verdict(shuffle_group, level),
        word_level_verdict(audit, level),
        "" if group is None else group_verdict(group, level),
        noise_note(audit),
    ]
    return " ".join(part for part in parts if part)


def beside_table(table: pd.DataFrame, columns: list[str]) -> str:
    """Return the published values beside ours as a Markdown table, a row per participant.

    Parameters
    ----------
    table : DataFrame
        From :func:`neurospeech.published.beside`: ``participant``, the ``columns``,
        ``published`` and ``ours``.
    columns : list of str
        The columns that name a quantity (e.g. feature space and metric); each quantity
        gets a "published" and an "ours" column.
    """
    if table.empty:
        return "*No published values to compare.*"
    keys = list(dict.fromkeys(map(tuple, table[columns].to_numpy())))
    header = ["participant"]
    for key in keys:
        name = " ".join(str(k) for k in key)
        header += [f"{name}, published", f"{name}, ours"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    indexed = table.set_index(["participant", *columns])
    for participant in dict.fromkeys(table["participant"]):
        cells = [participant]
        for key in keys:
            index = (participant, *key)
            if index in indexed.index:
                row = indexed.loc[index]
                published = float(np.asarray(row["published"]).ravel()[0])
                cells += [f"{published:.4f}", str(np.asarray(row["ours"]).ravel()[0])]
            else:
                cells += ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def contamination_by_participant(summary: pd.DataFrame, reference: str) -> str:
    """Say, per participant, how many channels carry the microphone's sound.

    Parameters
    ----------
    summary : DataFrame
        The ``contamination_summary`` table: ``participant``, ``reference``, ``channels``,
        ``contaminated`` and ``left_out``.
    reference : str
        The reference whose rows are stated.
    """
    rows = summary[summary["reference"] == reference]
    if rows.empty:
        return f"No channel was tested under the {reference} reference."
    parts = []
    for row in rows.itertuples():
        found = "none" if row.contaminated == 0 else f"{row.contaminated:,}"
        kept = row.contaminated - row.left_out
        note = f", {kept:,} of them kept" if kept else ""
        parts.append(f"{row.participant}: {found} of {row.channels:,}{note}")
    flagged = int(rows["contaminated"].sum())
    if flagged == 0:
        lead = "No channel carries the microphone's sound"
    else:
        where = count((rows["contaminated"] > 0).sum(), "participant")
        lead = f"{count(flagged, 'channel')} in {where} carry the microphone's sound"
    return f"{lead} under the {reference} reference ({'; '.join(parts)})."


def _mean_by(table: pd.DataFrame, value: str, **where: str) -> float:
    rows = table
    for column, wanted in where.items():
        rows = rows[rows[column] == wanted]
    return float(rows[value].mean()) if len(rows) else float("nan")


def decoding_controls(table: pd.DataFrame, reference: str) -> str:
    """Say how the decoding baseline changes with the reference and the leaky channels.

    Parameters
    ----------
    table : DataFrame
        The ``decoding_reference`` table: ``participant``, ``reference``,
        ``contaminated`` (``"left out"`` or ``"kept"``), ``mean_r`` and ``p_decoder``.
    reference : str
        The reference of the analyses.
    """
    main = table[(table["reference"] == reference) & (table["contaminated"] == "left out")]
    sentences = []
    for other in dict.fromkeys(table["reference"]):
        if other == reference:
            continue
        rows = table[(table["reference"] == other) & (table["contaminated"] == "left out")]
        above = int((rows["p_decoder"] < LEVEL).sum())
        sentences.append(
            f"Under the {other} reference the mean r is "
            f"{_mean_by(rows, 'mean_r'):.2f} (against {_mean_by(main, 'mean_r'):.2f} "
            f"{reference}), {above} of {count(len(rows), 'participant')} above the decoder's "
            "chance."
        )
    kept = table[table["contaminated"] == "kept"]
    if kept.empty:
        sentences.append("No participant has a contaminated channel to keep.")
    else:
        paired = main.set_index("participant")["mean_r"].reindex(kept["participant"])
        change = kept["mean_r"].to_numpy() - paired.to_numpy()
        mean, low, high = (np.round(f(change), 3) + 0.0 for f in (np.nanmean, np.nanmin, np.nanmax))
        sentences.append(
            f"Keeping the contaminated channels ({count(len(kept), 'participant')}) changes "
            f"the mean r by {mean:+.3f} on average (from {low:+.3f} to {high:+.3f})."
        )
    return " ".join(sentences)


def encoding_references(table: pd.DataFrame) -> str:
    """Say how many electrodes the acoustic encoding finds under each reference.

    Parameters
    ----------
    table : DataFrame
        The ``encoding_reference`` table: ``reference``, ``electrodes``, ``significant``
        and ``mean_r_significant``, one row per participant and reference.
    """
    parts = []
    for scheme, rows in table.groupby("reference", sort=False):
        found, total = int(rows["significant"].sum()), int(rows["electrodes"].sum())
        r = rows["mean_r_significant"].dropna()
        strength = f", mean r {r.mean():.2f}" if len(r) else ""
        parts.append(f"{scheme}: {found:,} of {total:,} electrodes{strength}")
    return "Significant electrodes of the acoustic encoding by reference: " + "; ".join(parts) + "."


def by_region(summary: pd.DataFrame, found: str) -> str:
    """Say, region by region, how many rows are significant and their r.

    Parameters
    ----------
    summary : DataFrame
        From :func:`neurospeech.regions.summarise`.
    found : str
        What a row is, plural (``"electrodes"``, ``"region decoders"``).
    """
    if summary.empty:
        return f"No {found} to summarise by region."
    parts = [
        f"{row.region} {int(row.significant)} of {int(row.rows)} "
        f"({count(row.participants, 'participant')}; mean r {row.mean_r:.2f})"
        for row in summary.itertuples()
    ]
    return f"Significant {found} by region: " + "; ".join(parts) + "."


def _retrieval_phrase(row: pd.Series) -> str:
    """``"0.42 [0.35, 0.50] (chance 0.17, p = 0.001)"`` for a row of a retrieval table."""
    return (
        f"{row['accuracy']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}] "
        f"(chance {row['chance']:.2f}, p = {_p(row['p_value'])})"
    )


def _verdict(row: pd.Series) -> str:
    return "above chance" if row["p_value"] < LEVEL else "not distinguishable from chance"


def contrastive_headline(
    table: pd.DataFrame, space: str, window: tuple[float, float], k: int = 10
) -> str:
    """State the within-participant retrieval of the model, its baseline and its control.

    Parameters
    ----------
    table : DataFrame
        The ``contrastive_retrieval`` table (:func:`neurospeech.contrastive.retrieval_table`
        with ``target_space, window_start, window_end``).
    space : str
        The target space of the headline.
    window : tuple of float
        The headline's brain window (s from the speech onset).
    k : int
    """
    rows = table[
        (table["target_space"] == space)
        & np.isclose(table["window_start"], window[0])
        & (table["metric"] == "top-k")
        & (table["k"] == k)
    ]
    group = rows[rows["participant"] == "group"].set_index("method")
    people = rows[(rows["participant"] != "group") & (rows["method"] == "contrastive")]
    if "contrastive" not in group.index:
        return f"No contrastive retrieval was run with {space} targets."
    model = group.loc["contrastive"]
    n = len(people)
    wilcoxon = model["p_participants"]
    sentences = [
        f"Ranked among all of its participant's {model['candidates']:.0f} words (on average), "
        f"a held-out word is in the model's top {k} for a share of "
        f"{_retrieval_phrase(model)} across participants: {_verdict(model)}, with "
        f"{int((people['p_value'] < LEVEL).sum())} of {count(n, 'participant')} above chance "
        "on their own."
    ]
    if np.isfinite(wilcoxon):
        sentences.append(
            f"Across participants (Wilcoxon signed-rank test of accuracy minus chance) "
            f"p = {_p(wilcoxon)}; with {count(n, 'participant')} it cannot go below "
            f"{2.0**-n:.3f}."
        )
    named = {
        "ridge": "The ridge baseline scores",
        "contrastive, shuffled pairs": (
            "The same model retrained with the words' targets shuffled within each participant "
            "scores"
        ),
    }
    for method, lead in named.items():
        if method in group.index:
            row = group.loc[method]
            sentences.append(f"{lead} {_retrieval_phrase(row)}: {_verdict(row)}.")
    if "ridge" in group.index:
        ridge = group.loc["ridge", "accuracy"]
        side = "above" if model["accuracy"] > ridge else "not above"
        sentences.append(
            f"The contrastive model is {side} the ridge baseline ({model['accuracy']:.2f} "
            f"against {ridge:.2f}; the difference is not tested)."
        )
    return " ".join(sentences)


def contrastive_window(table: pd.DataFrame, space: str, window: tuple[float, float], k: int = 10):
    """State the retrieval from the window that ends before the speech onset."""
    rows = table[
        (table["target_space"] == space)
        & np.isclose(table["window_start"], window[0])
        & np.isclose(table["window_end"], window[1])
        & (table["metric"] == "top-k")
        & (table["k"] == k)
        & (table["participant"] == "group")
        & (table["method"] == "contrastive")
    ]
    if rows.empty:
        return "The window before the speech onset was not run."
    row = rows.iloc[0]
    return (
        f"From the brain window {window[0]:g} to {window[1]:g} s around the speech onset, "
        f"before any sound, top-{k} accuracy is {_retrieval_phrase(row)}: {_verdict(row)}."
    )


def calibration_curve(table: pd.DataFrame, k: int = 10) -> str:
    """State the new participant's top-k accuracy against its calibration words."""
    rows = table[(table["participant"] == "group") & (table["k"] == k)]
    if rows.empty:
        return "The calibration curve was not run."
    parts = []
    for method, part in rows.groupby("method", sort=False):
        points = ", ".join(
            f"{row.accuracy:.2f} with {row.calibration_words}"
            for row in part.sort_values("calibration_words").itertuples()
        )
        parts.append(f"{method}: {points} words")
    return (
        f"Top-{k} accuracy of a new participant's held-out words (chance "
        f"{rows['chance'].mean():.2f}) — " + "; ".join(parts) + "."
    )


def variance_partition(summary: pd.DataFrame) -> str:
    """Say, comparison by comparison, how many electrodes gain beyond the other spaces.

    Parameters
    ----------
    summary : DataFrame
        The ``encoding_partition_summary`` table: ``comparison``, ``electrodes``,
        ``significant`` and ``max_unique``, one row per participant and comparison.
    """
    parts = []
    for comparison, rows in summary.groupby("comparison", sort=False):
        found, total = int(rows["significant"].sum()), int(rows["electrodes"].sum())
        largest = rows["max_unique"].max()
        parts.append(
            f"{comparison}: {found:,} of {total:,} electrodes (largest gain in R² {largest:.3f})"
        )
    return (
        "Electrodes whose cross-validated R² gains from a feature space beyond the others "
        "(the nuisance features alone: beyond each electrode's mean; FDR q < 0.05): "
        + "; ".join(parts)
        + "."
    )


def layer_tests(tests: pd.DataFrame, level: float = LEVEL) -> str:
    """Say what the layer comparisons on the fixed electrode set find, model by model.

    Parameters
    ----------
    tests : DataFrame
        The ``encoding_layer_tests`` table: ``participant``, ``comparison``, ``space``,
        ``layer``, ``value``, ``p_fwe``, ``p_swap`` and ``set_electrodes``.
    level : float
    """
    if tests.empty:
        return "No speech-model layer was fitted, so no layers are compared."
    sentences = []
    for space, rows in tests.groupby("space", sort=False):
        layers = rows[rows["comparison"] == "layer"]
        scored = layers.dropna(subset=["value"])
        if scored.empty:
            sentences.append(
                f"With {space}, no participant has an electrode in the fixed set, so no layer "
                "is compared."
            )
            continue
        above = scored[scored["p_fwe"] < level]
        words = scored[(scored["p_fwe"] < level) & (scored["p_swap"] < level)]
        sentence = (
            f"With {space}, {count(len(above), 'layer-participant pair')} of {len(scored)} "
            f"score above the circular shifts on the fixed set (family-wise across layers), "
            f"and {len(words)} of them also above the trial swaps"
        )
        differences = rows[rows["comparison"] == "minus first layer"].dropna(subset=["value"])
        if len(differences):
            moved = differences[differences["p_fwe"] < level]
            sentence += (
                f"; {len(moved)} of {count(len(differences), 'layer-participant pair')} differ "
                "from the first layer fitted"
            )
        twins = rows[rows["comparison"] == "trained minus untrained"].dropna(subset=["value"])
        if len(twins):
            better = twins[(twins["p_fwe"] < level) & (twins["value"] > 0)]
            sentence += (
                f"; the trained model beats its untrained twin at {len(better)} of "
                f"{len(twins)} layer-participant pairs"
            )
        sentences.append(sentence + ".")
    if not (tests["comparison"] == "trained minus untrained").any():
        sentences.append(
            "No trained model was fitted beside its untrained twin, so training is not tested."
        )
    return " ".join(sentences)
