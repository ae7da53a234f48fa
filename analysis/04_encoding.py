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
# # Encoding: from speech features to every electrode's high-gamma, frame by frame
#
# For each participant, each feature space (and each layer of a model), a ridge
# regression maps the features of each 10 ms frame, lagged from -500 to +500 ms in 50 ms
# steps by default (negative: the brain leads the audio), to every electrode's high-gamma
# (50 ms windows). Contiguous 5-fold cross-validation; z-scoring (and, for model layers, a
# PCA to 16 components by default) fitted on the training frames; each electrode's penalty
# chosen by an inner contiguous 5-fold over 20 values. The held-out predictions are scored
# by Pearson r per electrode and tested against circular shifts of the high-gamma (10,000
# by default; at least 10 % of the recording); Benjamini-Hochberg across electrodes, and a
# max-statistic family-wise threshold across electrodes and layers.
#
# The electrodes are the channels of `[channels]` (`neurospeech.channels.prepare`): good,
# under the configured reference (as recorded, the published setting), without those that
# carry the microphone's sound. The acoustic fit is repeated under the sensitivity
# reference (bipolar by default) and both are reported side by side; the results are also
# summarised per anatomical region (`neurospeech.regions`).
#
# The lag profile fits one single-lag model per lag (10 ms steps) with the log-mel
# features: the lag of its peak is the electrode's best lag. Models, layers, lags and
# counts are the `[encoding]` section of the configuration (the sample: one untrained
# model, every third hidden state).

# %%
import matplotlib.pyplot as plt
import pandas as pd

from neurospeech import encoding_grid, figures, regions, runtime
from neurospeech.simulate import read_truth, recovery

ctx = runtime.start("encoding")
cfg = ctx.settings
subjects = ctx.subjects()

# %% [markdown]
# ## The grid: features per participant and model, then one task per fit
#
# Every participant's features of every model, then every fit (log-mel, each model layer,
# each lag of the profile) with its circular-shift null, run as independent tasks through
# Dask: in this process, or on the workers given by `neurospeech reproduce --workers N` or
# `--scheduler ADDRESS`, with the same results. Finished fits are kept under
# `derivatives/neurospeech-grid`, so an interrupted run resumes.

# %%
with ctx.executor() as client:
    fits = encoding_grid.run(
        ctx.bids_root,
        subjects,
        cfg,
        client,
        settings=ctx.channels,
        derivatives=ctx.derivatives,
    )

# %% [markdown]
# ## One row per electrode and fit
#
# The fits carry their electrodes' names and positions.


# %%
def record(base, space, layer, fit, best_lag=None, **family):
    """One row per electrode: its identity, the fit's significance and penalties."""
    table = pd.DataFrame({column: fit[column] for column in ("r", "p", "q", "p_fwe")})
    table = table.assign(
        feature_space=space,
        layer=layer,
        alpha_median=fit["alpha_median"],
        best_lag_ms=best_lag,
        **family,
    )
    return pd.concat([base, table], axis=1)


rows = []
for sub in subjects:
    found = fits[sub]
    base = pd.DataFrame(
        {"participant": f"sub-{sub}", "channel": found.channels, "region": found.regions}
    )
    base[["x", "y", "z"]] = found.positions
    if ctx.simulated:
        base = pd.concat(
            [base, recovery.planted(read_truth(ctx.bids_root, sub), found.channels)], axis=1
        )

    rows.append(
        record(
            base,
            "log-mel",
            0,
            found.acoustic,
            found.profile.best_lag_ms,
            p_fwe_lags=found.acoustic["p_fwe_lags"],
        )
    )
    for space, by_layer in found.layers.items():
        for layer, fit in by_layer.items():
            rows.append(record(base, space, layer, fit, p_fwe_layers=fit["p_fwe_layers"]))
electrodes = pd.concat(rows, ignore_index=True)

# %% [markdown]
# ## Tables

# %%
ctx.save_table(electrodes, "encoding_electrodes")
electrodes["significant"] = electrodes["q"] < 0.05
summary = (
    electrodes.groupby(["participant", "feature_space", "layer"], sort=False)
    .agg(
        electrodes=("r", "size"),
        significant=("significant", "sum"),
        mean_r_significant=("r", lambda r: r[electrodes.loc[r.index, "significant"]].mean()),
        max_r=("r", "max"),
    )
    .reset_index()
)
ctx.save_table(
    summary,
    "encoding_summary",
    caption="Frame-level encoding per participant, feature space and layer: electrodes with "
    f"FDR q < 0.05 against {cfg.n_shifts:,} circular shifts, their mean r, and the largest r.",
    label="tab:encoding-summary",
)
summary  # noqa: B018 (shown in the notebook)

# %%
if ctx.simulated:
    recovered = recovery.encoding_recovery(electrodes)
    ctx.save_table(
        recovered,
        "encoding_recovery",
        caption="Simulated data, all participants: planted speech-driven channels found (FDR "
        "q < 0.05), channels with no planted response found, and best lags within 30 ms "
        "of the planted lag.",
        label="tab:encoding-recovery",
    )
    print(recovered.to_string(index=False))

# %% [markdown]
# ## The reference: as recorded and bipolar
#
# The acoustic (log-mel) fit of each participant under each reference: electrodes (bipolar:
# derivations of adjacent contacts), those significant (FDR q < 0.05) and their mean r.

# %%
by_reference = []
for sub in subjects:
    fits_of = {ctx.channels.reference: fits[sub].acoustic, **fits[sub].sensitivity}
    for scheme, fit in fits_of.items():
        significant = fit["q"] < 0.05
        by_reference.append(
            {
                "participant": f"sub-{sub}",
                "reference": scheme,
                "electrodes": len(fit["r"]),
                "significant": int(significant.sum()),
                "share_significant": significant.mean(),
                "mean_r_significant": fit["r"][significant].mean() if significant.any() else None,
                "max_r": fit["r"].max(),
            }
        )
by_reference = pd.DataFrame(by_reference)
ctx.save_table(
    by_reference,
    "encoding_reference",
    caption="Acoustic (log-mel) encoding per participant under each reference: electrodes, "
    "those with FDR q < 0.05, their mean r, and the largest r.",
    label="tab:encoding-reference",
)
by_reference  # noqa: B018 (shown in the notebook)

# %% [markdown]
# ## Per anatomical region
#
# The acoustic fit's electrodes grouped by the region of their label in `channels.tsv`.

# %%
by_region = regions.summarise(electrodes[electrodes["feature_space"] == "log-mel"])
ctx.save_table(
    by_region,
    "encoding_regions",
    caption="Acoustic (log-mel) encoding per anatomical region: participants, electrodes, "
    "those with FDR q < 0.05, and r.",
    label="tab:encoding-regions",
    float_format="%.3f",
)
fig = figures.region_summary(by_region, "electrodes with q < 0.05", "acoustic encoding")
figures.mark_simulated(fig, ctx.simulated)
ctx.save_figure(fig, "encoding_regions")

# %% [markdown]
# ## Layer profile, lag profile and the electrode map

# %%
fig, (ax_layers, ax_lags) = plt.subplots(1, 2, figsize=(10, 3.6))
for space in cfg.speech_models:
    chosen = electrodes[(electrodes["feature_space"] == space) & electrodes["significant"]]
    profile = chosen.groupby(["participant", "layer"])["r"].mean().unstack(0)
    for participant in profile:
        ax_layers.plot(profile.index, profile[participant], marker="o", label=f"{participant}")
ax_layers.set(
    xlabel="layer",
    ylabel="mean r, significant electrodes",
    title=f"layer profile: {', '.join(cfg.speech_models)}",
)
ax_layers.legend(fontsize=7, frameon=False)
mel_rows = electrodes[electrodes["feature_space"] == "log-mel"]
for sub in subjects:
    significant = mel_rows.loc[mel_rows["participant"] == f"sub-{sub}", "significant"].to_numpy()
    if significant.any():
        ax_lags.plot(
            cfg.profile_lags, fits[sub].profile.r[:, significant].mean(axis=1), label=f"sub-{sub}"
        )
ax_lags.axvline(0, color="0.5", lw=0.8)
ax_lags.text(-480, ax_lags.get_ylim()[1] * 0.95, "brain leads", fontsize=7, va="top")
ax_lags.text(20, ax_lags.get_ylim()[1] * 0.95, "brain follows", fontsize=7, va="top")
ax_lags.set(
    xlabel="lag (ms)", ylabel="mean r, significant electrodes", title="lag profile, log-mel"
)
ax_lags.legend(fontsize=7, frameon=False)
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "encoding_profiles")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
limit = max(0.1, mel_rows["r"].abs().max())
for ax, (first, second), title in zip(axes, (("x", "y"), ("y", "z")), ("axial", "sagittal")):
    points = ax.scatter(
        mel_rows[first],
        mel_rows[second],
        c=mel_rows["r"],
        cmap="RdBu_r",
        vmin=-limit,
        vmax=limit,
        s=14,
    )
    ax.scatter(
        mel_rows.loc[mel_rows["significant"], first],
        mel_rows.loc[mel_rows["significant"], second],
        s=40,
        facecolors="none",
        edgecolors="k",
        lw=0.6,
    )
    ax.set(
        xlabel=f"{first} (mm, ACPC)",
        ylabel=f"{second} (mm, ACPC)",
        title=f"log-mel r, {title}",
        aspect="equal",
    )
fig.colorbar(points, ax=axes, label="r (circled: q < 0.05)", shrink=0.8)
figures.mark_simulated(fig, ctx.simulated)
ctx.save_figure(fig, "encoding_map")
