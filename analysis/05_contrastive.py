# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Contrastive decoding: which word was said, among all of the participant's words
#
# A brain module in the style of Defossez et al. (2023), adapted to sEEG (spatial
# attention over the contacts' ACPC positions with Fourier features and spatial dropout,
# a layer per participant, residual dilated convolutions with GLU, early stopping on
# training words), is trained with a CLIP loss to map robust-scaled high-gamma to the
# speech features of the same word; the speech model hears each trial's audio alone.
# The words are dealt into folds shared by every participant, so a held-out word was
# never seen in training from anyone, and each held-out word is ranked among the targets
# of **all** its participant's words: a ranking across participants would mostly tell
# who speaks. Against it: a ridge regression on the same segments, a model retrained
# with the word-to-target pairing shuffled within participants (must be at chance), and
# a window that ends at the speech onset (planning, before any sound). Permutation
# p-values per participant and for the group, bootstrap intervals over words (and
# participants). The headline window is fixed in `[contrastive]`; the offset sweep is a
# figure of every offset, not a selection. Last, a new participant: its own layer
# fitted on a few words of a model trained on the others, against a model trained on
# those words alone.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from neurospeech import contrastive, embeddings, figures, runtime

ctx = runtime.start("contrastive")
cfg = ctx.settings
# the sample: an untrained control; the real data: XLS-R
SPEECH_SPACE = cfg.speech_model
SPACES = {SPEECH_SPACE: embeddings.load(SPEECH_SPACE), "log-mel": "log-mel"}
STATS = {"n_permutations": cfg.n_permutations, "n_bootstrap": cfg.n_bootstrap}
HEADLINE = (cfg.offset, cfg.offset + cfg.length)

# %% [markdown]
# ## Inputs: high-gamma, speech onsets, contact positions, and both target spaces
#
# The channels are those of `[channels]`: the contaminated ones are left out.

# %%
people, targets = [], {space: [] for space in SPACES}
for sub in tqdm(ctx.subjects(), desc="participants"):
    recording, _ = ctx.recording(sub)  # the channels of [channels] (runtime.Context.recording)
    people.append(contrastive.participant(recording))
    for space, source in SPACES.items():
        targets[space].append(
            contrastive.target_features(
                source,
                recording,
                cfg.layers,
                per_trial=cfg.per_trial_targets,
                cache_dir=ctx.features_cache(sub),
            )
        )
print(
    ", ".join(f"sub-{p.subject}: {len(p.words)} words, {len(p.channels)} contacts" for p in people)
)


def segments(space, window=HEADLINE):
    """Every participant's segments for one target space and brain window (s from onset)."""
    start, end = window
    return [person.segments(t, end - start, start) for person, t in zip(people, targets[space])]


def cross_validate(space, window=HEADLINE, seeds=cfg.seeds, **options):
    """Every word held out once per seed (contrastive.cross_validate)."""
    return contrastive.cross_validate(
        segments(space, window), seeds=seeds, n_folds=cfg.n_folds, config=cfg.training, **options
    )


# %% [markdown]
# ## Retrieval within participants: the model, its baselines, its controls
#
# Both target spaces with the ridge and participant-identity baselines and the
# shuffled-pairing control; for the speech model, the planning window.

# %%
runs = {(space, HEADLINE): cross_validate(space) for space in SPACES}
for space in SPACES:
    runs[(space, HEADLINE, "control")] = cross_validate(space, shuffled=True, baseline=False)
runs[(SPEECH_SPACE, cfg.planning_window)] = cross_validate(
    SPEECH_SPACE, cfg.planning_window, baseline=False
)
tables, ranks, pooled = [], [], []
for (space, (start, end), *_), found in runs.items():
    where = {"target_space": space, "window_start": start, "window_end": end}
    tables.append(contrastive.retrieval_table(found, **STATS).assign(**where))
    ranks.append(found.ranks.assign(**where))
    if start == cfg.offset and "contrastive" in set(found.ranks["method"]):
        pooled.append(contrastive.pooled_summary(found.ranks).assign(**where))
retrieval = pd.concat(tables, ignore_index=True)
front = ["target_space", "window_start", "window_end"]
retrieval = retrieval[front + [c for c in retrieval.columns if c not in front]]
ctx.save_table(pd.concat(ranks, ignore_index=True), "contrastive_ranks")
ctx.save_table(
    retrieval,
    "contrastive_retrieval",
    caption="Retrieval of held-out words among all of the participant's words: top-k and "
    f"rank accuracy, mean over {len(cfg.seeds)} seeds, chance, permutation p-value "
    f"({cfg.n_permutations} relabellings of the words; group: the mean of the "
    "participants, and p_participants a one-sided Wilcoxon test across participants) "
    "and 95 % bootstrap interval over words (group: participants and words).",
    label="tab:contrastive-retrieval",
)
ctx.save_table(
    pd.concat(pooled, ignore_index=True),
    "contrastive_pooled",
    caption="Secondary: top-k accuracy ranking among the held-out words of every "
    "participant at once, beside a baseline that knows only who is speaking (each "
    "participant's mean training target).",
    label="tab:contrastive-pooled",
)
group = retrieval[(retrieval["participant"] == "group") & (retrieval["k"] == 10)]
group[["target_space", "window_start", "method", "accuracy", "chance", "p_value"]]  # noqa: B018

# %% [markdown]
# ## The window offset: every window start, none selected
#
# The contrastive model alone, one seed, the speech-model targets, the group's top-k
# accuracy with its permutation p-value.

# %%
sweep = []
for offset in tqdm(cfg.offsets, desc="offsets"):
    window = (offset, offset + cfg.length)
    found = cross_validate(SPEECH_SPACE, window, cfg.seeds[:1], baseline=False, progress=False)
    table = contrastive.retrieval_table(found, **STATS)
    sweep.append(table[table["participant"] == "group"].assign(offset_s=offset))
sweep = pd.concat(sweep, ignore_index=True)
ctx.save_table(
    sweep,
    "contrastive_offsets",
    caption="Group top-k accuracy within participants against the start of the brain "
    f"window relative to the speech onset ({SPEECH_SPACE} targets, contrastive model, "
    f"seed {cfg.seeds[0]}); every offset is shown, the headline's is fixed at "
    f"{cfg.offset:g} s in the configuration.",
    label="tab:contrastive-offsets",
)

# %% [markdown]
# ## A new participant: its own layer on a few words, or a model of its own

# %%
curve = contrastive.calibration_table(
    contrastive.calibration_curve(
        segments(SPEECH_SPACE), cfg.calibration_words, cfg.training, seed=cfg.seeds[0]
    ),
    **STATS,
)
ctx.save_table(
    curve,
    "contrastive_calibration",
    caption="Retrieval of a new participant's held-out words (among all its words) "
    "against the number of its words used: the layer of a model trained on the other "
    f"participants fitted on them, or a model trained on them alone ({SPEECH_SPACE} "
    f"targets, seed {cfg.seeds[0]}).",
    label="tab:contrastive-calibration",
)

# %% [markdown]
# ## Figures

# %%
TOP = retrieval[(retrieval["window_start"] == cfg.offset) & (retrieval["metric"] == "top-k")]
fig, axes = plt.subplots(1, len(SPACES), figsize=(5 * len(SPACES), 3.6), sharey=True, squeeze=False)
for ax, space in zip(axes[0], SPACES):
    rows = TOP[(TOP["target_space"] == space) & (TOP["participant"] == "group")]
    methods = list(dict.fromkeys(rows["method"]))
    ks = sorted(rows["k"].unique())
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        part = rows[rows["method"] == method].set_index("k").loc[ks]
        x = np.arange(len(ks)) + (i - (len(methods) - 1) / 2) * width
        ax.bar(x, part["accuracy"], width, yerr=figures.interval(part), label=method, capsize=2)
    chance = rows.groupby("k")["chance"].mean().loc[ks]
    for x, level in enumerate(chance):
        ax.hlines(level, x - 0.45, x + 0.45, color="0.3", ls="--", lw=1)
    ax.set(
        xticks=range(len(ks)),
        xticklabels=[f"top-{k:g}" for k in ks],
        title=f"targets: {space}",
        ylim=(0, 1.02),
    )
axes[0, 0].set_ylabel("accuracy within participant (group)")
axes[0, 0].legend(fontsize=7, frameon=False)
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "contrastive_topk")

# %%
fig, ax = plt.subplots(figsize=(5, 3.6))
tops = sweep[(sweep["metric"] == "top-k") & sweep["k"].isin([1, 10])]
for k, rows in tops.groupby("k"):
    figures.accuracy_errorbar(ax, rows["offset_s"], rows, f"top-{k:g}")
    ax.axhline(rows["chance"].mean(), color="0.5", ls="--", lw=0.8)
ax.axvline(cfg.offset, color="C3", lw=0.8, label="headline (fixed)")
ax.axvline(0, color="0.5", lw=0.8)
ax.set(
    xlabel="brain window start - speech onset (s)",
    ylabel="accuracy within participant (group)",
    title=f"window offset ({SPEECH_SPACE}); dashed: chance",
    ylim=(0, 1.02),
)
ax.legend(fontsize=7, frameon=False)
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "contrastive_offsets")

# %%
fig, ax = plt.subplots(figsize=(5, 3.6))
ten = curve[(curve["participant"] == "group") & (curve["k"] == 10)]
for method, rows in ten.groupby("method", sort=False):
    figures.accuracy_errorbar(ax, rows["calibration_words"], rows, method)
ax.axhline(ten["chance"].mean(), color="0.5", ls="--", lw=0.8, label="chance")
ax.set(
    xlabel="words of the new participant used",
    ylabel="top-10 accuracy (group)",
    title=f"a new participant ({SPEECH_SPACE})",
    ylim=(0, 1.02),
)
ax.legend(fontsize=7, frameon=False)
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "contrastive_calibration")
