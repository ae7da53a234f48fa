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
from scipy.stats import false_discovery_control

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
    """One row per electrode: its identity, the fit's significance, penalties and swaps."""
    columns = ("r", "fold_r", "p", "q", "p_fwe", "swap_r", "p_swap")
    table = pd.DataFrame({column: fit[column] for column in columns if column in fit})
    if "p_swap" in table:
        table["q_swap"] = false_discovery_control(table["p_swap"])
    table = table.assign(
        feature_space=space,
        layer=layer,
        alpha_median=fit["alpha_median"],
        best_lag_ms=best_lag,
        **family,
    )
    return pd.concat([base, table], axis=1)


truths = {sub: read_truth(ctx.bids_root, sub) for sub in subjects} if ctx.simulated else {}
rows = []
for sub in subjects:
    found = fits[sub]
    base = pd.DataFrame(
        {"participant": f"sub-{sub}", "channel": found.channels, "region": found.regions}
    )
    base[["x", "y", "z"]] = found.positions
    if ctx.simulated:
        base = pd.concat([base, recovery.planted(truths[sub], found.channels)], axis=1)

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
electrodes["beyond_timing"] = electrodes["significant"] & (electrodes["q_swap"] < 0.05)
summary = (
    electrodes.groupby(["participant", "feature_space", "layer"], sort=False)
    .agg(
        electrodes=("r", "size"),
        significant=("significant", "sum"),
        beyond_timing=("beyond_timing", "sum"),
        mean_r=("r", "mean"),
        mean_fold_r=("fold_r", "mean"),
        mean_r_significant=("r", lambda r: r[electrodes.loc[r.index, "significant"]].mean()),
        max_r=("r", "max"),
    )
    .reset_index()
)
ctx.save_table(
    summary,
    "encoding_summary",
    caption="Frame-level encoding per participant, feature space and layer: electrodes with "
    f"FDR q < 0.05 against {cfg.n_shifts:,} circular shifts, those also above "
    f"{cfg.n_swaps:,} trial swaps (FDR q < 0.05: word-specific, not only timing), the mean r "
    "of all electrodes (pooled over the held-out frames, and per fold), the mean r of the "
    "significant ones (selected on the same data: biased upward), and the largest r.",
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
# ## Variance partitioning: what spectra and model layers add beyond timing
#
# In this task every trial has a cue, a speech onset and a word, so a model can predict
# high-gamma by tracking *when* speech happens. The nuisance features
# (`neurospeech.nuisance`: voice activity from Silero VAD, the speaking on/off, the
# envelope, acoustic onsets, pitch and voicing, impulses at the cue and the speech onset)
# carry that timing. Banded ridge fits (a penalty per feature space, chosen by the inner
# folds) of the nuisance features (N), N + log-mel, N + a model layer and N + log-mel + the
# layer give, per electrode, the cross-validated R2 that each space adds beyond the
# others, tested against circular shifts of the high-gamma against both models'
# predictions. The layer is fixed in the configuration (`partition_layer`; default: the
# middle hidden state), not chosen on the results.

# %%
partition = []
for sub in subjects:
    table = fits[sub].partition.assign(participant=f"sub-{sub}")
    if ctx.simulated:
        truth = recovery.planted(truths[sub], table["channel"].tolist())
        table = pd.concat([table, truth], axis=1)
    partition.append(table)
partition = pd.concat(partition, ignore_index=True)
ctx.save_table(partition, "encoding_partition")
partition["significant"] = partition["q"] < 0.05
partition_summary = (
    partition.groupby(["participant", "comparison"], sort=False)
    .agg(
        electrodes=("unique", "size"),
        significant=("significant", "sum"),
        median_unique=("unique", "median"),
        max_unique=("unique", "max"),
    )
    .reset_index()
)
ctx.save_table(
    partition_summary,
    "encoding_partition_summary",
    caption="Variance partitioning per participant: electrodes whose cross-validated R2 "
    f"gains from the space tested beyond the others at FDR q < 0.05 ({cfg.n_shifts:,} "
    "circular shifts), and the median and largest gain.",
    label="tab:encoding-partition",
    float_format="%.4f",
)
partition_summary  # noqa: B018 (shown in the notebook)

# %%
comparisons = list(partition["comparison"].unique())
fig, ax = plt.subplots(figsize=(8, 0.6 + 0.55 * len(comparisons)))
for row, comparison in enumerate(comparisons):
    chosen = partition[partition["comparison"] == comparison]
    jitter = (chosen.index.to_numpy() % 7 - 3) * 0.05
    for significant, style in ((False, "none"), (True, "C0")):
        picked = chosen["significant"].to_numpy() == significant
        ax.scatter(
            chosen["unique"][picked],
            row + jitter[picked],
            s=14,
            facecolors=style,
            edgecolors="C0",
            lw=0.6,
        )
ax.axvline(0, color="0.5", lw=0.8)
ax.set_yticks(range(len(comparisons)), comparisons, fontsize=8)
ax.invert_yaxis()
ax.set(xlabel="cross-validated R² gained (filled: q < 0.05)", title="variance partitioning")
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "encoding_partition")

# %%
if ctx.simulated:
    partition_recovered = recovery.partition_recovery(partition)
    ctx.save_table(
        partition_recovered,
        "partition_recovery",
        caption="Simulated data: the share of channels of each planted kind (following the "
        "sound's spectrum, only when speech happens, or nothing) with unique variance at FDR "
        "q < 0.05 in each comparison.",
        label="tab:partition-recovery",
    )
    print(partition_recovered.to_string(index=False))

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
# ## Layers compared on a fixed electrode set
#
# Every layer of a model is scored on the same electrodes, fixed before the layers are
# compared: those whose log-mel fit (a different model from the ones compared) reaches
# FDR q < 0.05. On that set, each layer's mean r is tested against the circular shifts
# and against the trial swaps (the features of other trials aligned on their speech
# onsets: timing kept, word changed); each layer's difference from the model's first
# fitted layer, and a trained model's difference from its untrained twin at each layer,
# are tested under the same shifts (two-sided), family-wise across the layers.

# %%
layer_tests = pd.concat(
    [fits[sub].layer_tests.assign(participant=f"sub-{sub}") for sub in subjects],
    ignore_index=True,
)
fixed_set = {
    f"sub-{sub}": int((fits[sub].acoustic["q"] < encoding_grid.SELECTED_Q).sum())
    for sub in subjects
}
layer_tests["set_electrodes"] = layer_tests["participant"].map(fixed_set)
ctx.save_table(
    layer_tests,
    "encoding_layer_tests",
    caption="Layer comparisons on each participant's fixed electrode set (log-mel q < 0.05): "
    "the mean r of each layer (against the shifts, p_fwe across the model's layers; "
    "p_swap: against the trial swaps), each layer minus the first, and trained minus "
    "untrained twins (two-sided, family-wise across layers).",
    label="tab:encoding-layer-tests",
    float_format="%.4f",
)
layer_tests  # noqa: B018 (shown in the notebook)

# %% [markdown]
# ## Sensitivity to the PCA
#
# The layer of the variance partitioning of each model, fitted with each number of
# principal components of `pca_sensitivity` (a layer has hundreds of dimensions; log-mel
# keeps all 23).

# %%
components = pd.concat(
    [fits[sub].components.assign(participant=f"sub-{sub}") for sub in subjects],
    ignore_index=True,
)
ctx.save_table(
    components,
    "encoding_components",
    caption="Encoding of each model's partitioning layer with each number of PCA components: "
    "electrodes at FDR q < 0.05, the mean r of all electrodes, and the mean r (pooled and "
    "per fold) over the fixed electrode set.",
    label="tab:encoding-components",
    float_format="%.4f",
)
components  # noqa: B018 (shown in the notebook)

# %% [markdown]
# ## Layer profile, lag profile and the electrode map

# %%
fig, (ax_layers, ax_lags) = plt.subplots(1, 2, figsize=(10, 3.6))
for space in cfg.speech_models:
    chosen = layer_tests[(layer_tests["comparison"] == "layer") & (layer_tests["space"] == space)]
    for participant, rows in chosen.groupby("participant"):
        ax_layers.plot(rows["layer"], rows["set_r"], marker="o", label=f"{participant}")
ax_layers.set(
    xlabel="layer",
    ylabel="mean r, fixed electrode set",
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
