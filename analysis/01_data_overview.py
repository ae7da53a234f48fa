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
# # Data overview
#
# Participants, channels, electrode coverage in ACPC space and trial timing of the
# dataset the run uses (the simulated sample unless the `swpd` profile is chosen), and the
# channels every analysis uses: their anatomy, their reference, and whether they carry the
# microphone's sound.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from neurospeech import bids, channels, contamination, figures, reference, regions, runtime
from neurospeech.simulate import read_truth, recovery

ctx = runtime.start("data_overview")

# %% [markdown]
# ## Participants

# %%
subjects = ctx.subjects()
table = bids.overview(ctx.bids_root, subjects)
ctx.save_table(
    table,
    "data_overview",
    caption="Participants and recordings.",
    label="tab:data-overview",
    float_format="%.1f",
)
table  # noqa: B018 (shown in the notebook)

# %% [markdown]
# ## Electrode coverage and trial timing

# %%
colors = plt.get_cmap("tab10")(np.arange(len(subjects)) % 10)
fig, (ax_top, ax_side, ax_time) = plt.subplots(
    1, 3, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1, 1, 1.4]}
)
for sub, color in zip(subjects, colors):
    elec = bids.read_tsv(bids.sidecar(ctx.bids_root, sub, "space-ACPC_electrodes.tsv"))
    ax_top.scatter(elec["x"], elec["y"], s=6, color=color, label=f"sub-{sub}")
    ax_side.scatter(elec["y"], elec["z"], s=6, color=color)
for ax, (xl, yl), title in (
    (ax_top, ("x (mm, left-right)", "y (mm, posterior-anterior)"), "axial"),
    (ax_side, ("y (mm, posterior-anterior)", "z (mm, inferior-superior)"), "sagittal"),
):
    ax.set(xlabel=xl, ylabel=yl, title=f"contacts, ACPC, {title}", aspect="equal")
ax_top.legend(fontsize=7, markerscale=2, frameon=False)

events = bids.read_tsv(bids.sidecar(ctx.bids_root, subjects[0], "events.tsv"))
first = events.iloc[:12]
for _, ev in first.iterrows():
    is_word = ev["trial_type"] == "word"
    ax_time.barh(
        0, ev["duration"], left=ev["onset"], color="C1" if is_word else "0.8", edgecolor="white"
    )
    if is_word:
        ax_time.text(ev["onset"] + 0.1, 0, ev["value"], va="center", fontsize=7)
ax_time.set(
    yticks=[], xlabel="time (s)", title=f"sub-{subjects[0]}: word cue (orange), fixation (grey)"
)
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "data_overview")

# %% [markdown]
# ## Anatomy
#
# Each contact's label in `channels.tsv` (FreeSurfer Destrieux or aseg) grouped into the
# regions of speech production (`neurospeech.regions`).

# %%
anatomy = pd.concat(
    [
        regions.of_channels(
            bids.read_tsv(bids.sidecar(ctx.bids_root, sub, "channels.tsv")),
            bids.sidecar(ctx.bids_root, sub, "channels.tsv"),
        )
        .value_counts()
        .rename(f"sub-{sub}")
        for sub in subjects
    ],
    axis=1,
)
anatomy = (
    anatomy.reindex([name for name in regions.REGIONS if name in anatomy.index])
    .fillna(0)
    .astype(int)
    .rename_axis("region")
    .reset_index()
)
ctx.save_table(
    anatomy,
    "regions",
    caption="Contacts per anatomical region (labels of channels.tsv) and participant.",
    label="tab:regions",
)
anatomy  # noqa: B018 (shown in the notebook)

# %% [markdown]
# ## Acoustic contamination and the reference
#
# Every channel under each reference of `[channels]` (as recorded, the published setting;
# bipolar, the sensitivity analysis) is tested for the microphone's sound (Roussel et al.
# 2020, `neurospeech.contamination`): the correlation over time of audio and neural log
# power at the same frequency, averaged over frequencies (the contamination index), against
# the same index with the audio's frequency bins permuted; Benjamini-Hochberg across a
# participant's channels by default. The flagged channels are left out of every analysis
# (`[channels] exclude_contaminated`).

# %%
checks = []
for sub in subjects:
    raw = bids.read_recording(ctx.bids_root, sub)
    for scheme in ctx.channels.references:
        _, check = channels.prepare(raw, ctx.channels, scheme=scheme)
        checks.append(check.assign(participant=f"sub-{sub}", reference=scheme))
checks = pd.concat(checks, ignore_index=True)
checks = checks[["participant", "reference", *checks.columns[:-2]]]
if ctx.simulated:  # a bipolar derivation carries the sound of either of its contacts
    leaky = {
        f"sub-{sub}": {
            name for name, planted in zip(truth["channels"], truth["contaminated"]) if planted
        }
        for sub, truth in ((sub, read_truth(ctx.bids_root, sub)) for sub in subjects)
    }
    checks["planted_contamination"] = [
        bool(leaky[row.participant] & set(row.channel.split("-"))) for row in checks.itertuples()
    ]
ctx.save_table(checks, "contamination")
options = ctx.channels.contamination
per_participant = (
    checks.groupby(["participant", "reference"], sort=False)
    .agg(
        channels=("channel", "size"),
        contaminated=("contaminated", "sum"),
        left_out=("excluded", "sum"),
        largest_index=("statistic", "max"),
    )
    .reset_index()
)
ctx.save_table(
    per_participant,
    "contamination_summary",
    caption=f"Acoustic contamination per participant and reference: channels, those whose "
    f"contamination index exceeds its {options.null} null ({options.n_permutations:,} "
    f"permutations; {options.correction} across channels at {options.alpha}), those left "
    "out of the analyses, and the largest index.",
    label="tab:contamination-summary",
)
per_participant  # noqa: B018 (shown in the notebook)

# %%
if ctx.simulated:
    found = recovery.contamination_recovery(checks)
    ctx.save_table(
        found,
        "contamination_recovery",
        caption="Simulated data: channels with planted leaked sound flagged (sensitivity), "
        "and channels without it flagged (false-positive rate), per participant and reference.",
        label="tab:contamination-recovery",
    )
    print(found.to_string(index=False))

# %% [markdown]
# The contamination index of every channel against its null (left), and the audio x neural
# correlation matrix of the channel with the largest index above its null (right): leaked
# sound is a bright diagonal.

# %%
original = checks[checks["reference"] == ctx.channels.reference].reset_index(drop=True)
excess = original["statistic"] - original["null_mean"]
worst = original.loc[excess.idxmax()]
recording = reference.apply(
    bids.read_recording(ctx.bids_root, worst["participant"][4:]), ctx.channels.reference
)
sound, neural, freqs = contamination.spectrograms(
    recording,
    window=options.window,
    fmin=options.fmin,
    fmax=options.fmax,
    channels=[worst["channel"]],
)
matrix = contamination.correlation_matrices(sound, neural)[:, :, 0]
fig, (ax_index, ax_matrix) = plt.subplots(
    1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1.6, 1]}
)
x = np.arange(len(original))
ax_index.scatter(x, excess, s=10, color=np.where(original["contaminated"], "C3", "0.4"))
ax_index.plot(x, original["null_p95"] - original["null_mean"], "_", color="C0", ms=6)
for k, (participant, rows) in enumerate(original.groupby("participant", sort=False)):
    ax_index.axvspan(
        rows.index[0] - 0.5, rows.index[-1] + 0.5, color="0.93" if k % 2 else "1", zorder=0
    )
    ax_index.text(rows.index.to_numpy().mean(), excess.max(), participant, ha="center", fontsize=7)
ax_index.axhline(0, color="0.5", lw=0.8)
ax_index.set(
    xlabel="channel",
    ylabel="index minus null mean",
    title="contamination index (red: flagged; blue: null p95)",
)
limit = np.nanmax(np.abs(matrix))
image = ax_matrix.imshow(
    matrix,
    origin="lower",
    cmap="RdBu_r",
    vmin=-limit,
    vmax=limit,
    extent=(freqs[0], freqs[-1], freqs[0], freqs[-1]),
)
ax_matrix.set(
    xlabel="neural frequency (Hz)",
    ylabel="audio frequency (Hz)",
    title=f"{worst['participant']} {worst['channel']}",
)
fig.colorbar(image, ax=ax_matrix, label="r", shrink=0.8)
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "contamination")
