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
# dataset the run uses (the simulated sample unless the `swpd` profile is chosen).

# %%
import matplotlib.pyplot as plt
import numpy as np

from neurospeech import bids, figures, runtime

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
