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
# # Contrastive decoding: which word was said, among words never seen in training
#
# A brain module in the style of Defossez et al. (2023), adapted to sEEG (spatial
# attention over the contacts' ACPC positions, a layer per participant, dilated
# convolutions), is trained with a CLIP loss to map 1 s of robust-scaled high-gamma to
# the speech features of the same word, the brain window starting 200 ms before the
# speech onset. The words are dealt into 5 folds, the same for every participant, so
# a held-out word was never seen in training from anyone; each held-out segment is
# ranked among the fold's held-out segments of its participant, and among those of all
# participants (pooled). A ridge regression per participant from the same segments to
# the same targets is the baseline. Three seeds (folds and training); intervals are 95 %
# Student-t intervals over the seeds. Window, seeds, targets and the training settings
# are the `[contrastive]` section of the configuration (these are its defaults).

# %%
import matplotlib.pyplot as plt
import pandas as pd
from tqdm.auto import tqdm

from neurospeech import contrastive, embeddings, figures, runtime

ctx = runtime.start("contrastive")
cfg = ctx.settings
# the sample: an untrained control; the real data: XLS-R
SPEECH_SPACE = cfg.speech_model
SPACES = {SPEECH_SPACE: embeddings.load(SPEECH_SPACE), "log-mel": "log-mel"}

# %% [markdown]
# ## Inputs: high-gamma, speech onsets, contact positions, and both target spaces

# %%
people, targets = [], {space: [] for space in SPACES}
for sub in tqdm(ctx.subjects(), desc="participants"):
    recording, _ = ctx.recording(sub)  # the channels of [channels] (runtime.Context.recording)
    people.append(contrastive.participant(recording))
    for space, source in SPACES.items():
        targets[space].append(
            contrastive.target_features(
                source, recording, cfg.layers, cache_dir=ctx.features_cache(sub)
            )
        )
print(
    ", ".join(f"sub-{p.subject}: {len(p.words)} words, {len(p.channels)} contacts" for p in people)
)


def segments(space, offset=cfg.offset):
    """Every participant's segments for one target space and window offset."""
    return [person.segments(t, cfg.length, offset) for person, t in zip(people, targets[space])]


# %% [markdown]
# ## Retrieval of held-out words, per participant and pooled

# %%
ranks = {
    space: contrastive.cross_validate(
        segments(space), seeds=cfg.seeds, n_folds=cfg.n_folds, config=cfg.training
    )
    for space in SPACES
}
retrieval = pd.concat(
    [contrastive.summary(r).assign(target_space=space) for space, r in ranks.items()],
    ignore_index=True,
)
retrieval = retrieval[["target_space", *retrieval.columns[:-1]]]
ctx.save_table(
    pd.concat([r.assign(target_space=s) for s, r in ranks.items()]),
    "contrastive_ranks",
)
ctx.save_table(
    retrieval,
    "contrastive_retrieval",
    caption="Retrieval of held-out words: top-k accuracy of the contrastive model and of "
    f"the ridge baseline, mean over {len(cfg.seeds)} seeds with 95 % intervals, and chance "
    "(k over the "
    "number of candidates), per participant and pooled over participants.",
    label="tab:contrastive-retrieval",
)
retrieval[retrieval["participant"] == "pooled"]  # noqa: B018 (shown in the notebook)

# %% [markdown]
# ## The window offset: how far before the speech onset the brain window starts
#
# The contrastive model alone, one seed, the speech-model targets.

# %%
sweep = []
for offset in tqdm(cfg.offsets, desc="offsets"):
    found = contrastive.cross_validate(
        segments(SPEECH_SPACE, offset),
        seeds=cfg.seeds[:1],
        n_folds=cfg.n_folds,
        config=cfg.training,
        baseline=False,
        progress=False,
    )
    table = contrastive.summary(found)
    sweep.append(table[table["participant"] == "pooled"].assign(offset_s=offset))
sweep = pd.concat(sweep, ignore_index=True)
ctx.save_table(
    sweep,
    "contrastive_offsets",
    caption="Pooled top-k accuracy against the start of the brain window relative to the "
    f"speech onset ({SPEECH_SPACE} targets, contrastive model, seed {cfg.seeds[0]}).",
    label="tab:contrastive-offsets",
)

# %% [markdown]
# ## Figures: accuracy against k, and against the offset

# %%
fig, axes = plt.subplots(1, len(SPACES), figsize=(5 * len(SPACES), 3.6), sharey=True)
for ax, (space, found) in zip(axes, ranks.items()):
    n = found["candidates_pooled"].max()
    curve = contrastive.summary(found, ks=range(1, n + 1))
    curve = curve[curve["participant"] == "pooled"]
    for method, rows in curve.groupby("method", sort=False):
        ax.plot(rows["k"], rows["accuracy"], label=method)
        ax.fill_between(rows["k"], rows["ci_low"], rows["ci_high"], alpha=0.25, lw=0)
    ax.plot(rows["k"], rows["chance"], color="0.5", ls="--", label="chance")
    ax.set(xlabel="k", title=f"targets: {space}", xlim=(1, n), ylim=(0, 1.02))
axes[0].set_ylabel("top-k accuracy, pooled")
axes[0].legend(frameon=False)
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "contrastive_topk")

# %%
fig, ax = plt.subplots(figsize=(5, 3.6))
for (method, k), rows in sweep[sweep["k"].isin([1, 10])].groupby(["method", "k"], sort=False):
    ax.plot(rows["offset_s"], rows["accuracy"], marker="o", label=f"{method}, top-{k}")
for k in (1, 10):
    chance = sweep.loc[sweep["k"] == k, "chance"].mean()
    ax.axhline(chance, color="0.5", ls="--", lw=0.8)
    ax.text(cfg.offsets[0], chance, f"chance, top-{k}", fontsize=7, va="bottom")
ax.axvline(0, color="0.5", lw=0.8)
ax.set(
    xlabel="brain window start - speech onset (s)",
    ylabel="accuracy, pooled",
    title=f"window offset ({SPEECH_SPACE})",
    ylim=(0, 1.02),
)
ax.legend(fontsize=7, frameon=False)
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "contrastive_offsets")
