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
# # Decoding baseline: high-gamma to log-mel spectrogram (Verwoert et al. 2022)
#
# The dataset's own baseline, as published: high-gamma features (50 ms windows every
# 10 ms, stacked over +-4 frames 50 ms apart) predict the 23-bin log-mel spectrogram of
# the participant's speech; contiguous 10-fold cross-validation; z-scoring, PCA (50
# components) and ordinary least squares fitted on the training folds; Pearson r per
# mel bin on each held-out fold.
#
# Chance is estimated two ways with circular shifts (1,000 by default: `[decoding_baseline]
# n_shifts` of the configuration; split points between 10 % and 90 % of the recording).
# *Published*: the spectrogram correlated with a shifted copy of itself, as the reference
# code does; this measures the spectrogram's own structure at
# long lags, not the decoder. *Decoder*: the reconstruction correlated with the shifted
# true spectrogram within each fold and averaged over folds: the chance level of the score
# actually reported, computed as that score is.
#
# **What the score is made of.** Much of a spectrogram's variance is whether the
# participant is speaking at all. A *speech/silence oracle* predicts each frame by the
# training folds' mean spectrum of speech frames or of silent frames (same folds, same
# score): it knows when speech happens and nothing about what is said. The decoder's r
# *within speech frames* (per fold, then averaged) is what it gets right beyond that.
# Speech frames: mean log-mel level above the 10th percentile plus a quarter of the range
# up to the 99th (`audio.speech_mask`).

# %%
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Audio, display
from scipy.io import wavfile
from tqdm.auto import tqdm

from neurospeech import audio, bids, channels, decoding, figures, published, regions, runtime, stats

ctx = runtime.start("decoding_baseline")
cfg = ctx.settings
SHIFT_S = 0.01  # frame hop
MIN_REGION_ELECTRODES = 2  # a region's own decoder needs this many electrodes

# %% [markdown]
# ## Reconstruction, chance and waveforms per participant

# %%
results, spectrograms, rows, variants, by_region = {}, {}, [], [], []
for sub in tqdm(ctx.subjects(), desc="decoding"):
    raw = bids.read_recording(ctx.bids_root, sub)
    recording, check = channels.prepare(raw, ctx.channels)
    result, spec, scores = decoding.decoder_scores(recording, n_shifts=cfg.n_shifts, seed=cfg.seed)
    self_chance = decoding.compare_with_chance(
        result.r, decoding.circular_shift_chance(spec, n_shifts=cfg.n_shifts, seed=cfg.seed)
    )
    speech = audio.speech_mask(spec)
    oracle = decoding.speech_silence_oracle(spec, speech)
    rows.append(
        {
            "participant": f"sub-{sub}",
            "frames": len(spec),
            "features": scores["features"],
            "explained_variance": result.explained_variance.mean(),
            "mean_r": result.mean_r,
            "chance_p95_published": self_chance["chance_p95"],
            "p_published": self_chance["p_value"],
            "chance_p95_decoder": scores["chance_p95_decoder"],
            "p_decoder": scores["p_decoder"],
            "speech_fraction": speech.mean(),
            "mean_r_speech_silence_oracle": oracle.mean_r,
            "mean_r_within_speech": scores["mean_r_within_speech"],
        }
    )
    # the same decoder with the contaminated channels kept, and under the other reference
    variants.append({"reference": ctx.channels.reference, "contaminated": "left out", **scores})
    if check["excluded"].any():
        kept, _ = channels.prepare(raw, replace(ctx.channels, exclude_contaminated=False))
        variants.append(
            {
                "reference": ctx.channels.reference,
                "contaminated": "kept",
                **decoding.decoder_scores(kept, n_shifts=cfg.n_shifts, seed=cfg.seed)[2],
            }
        )
    for scheme in ctx.channels.references[1:]:
        other, _ = channels.prepare(raw, ctx.channels, scheme=scheme)
        variants.append(
            {
                "reference": scheme,
                "contaminated": "left out",
                **decoding.decoder_scores(other, n_shifts=cfg.n_shifts, seed=cfg.seed)[2],
            }
        )
    for variant in variants:
        variant.setdefault("participant", f"sub-{sub}")
    # one decoder per anatomical region, on that region's electrodes only
    used = check[~check["excluded"]]
    for region, names in used.groupby("region", sort=False)["channel"]:
        if len(names) >= MIN_REGION_ELECTRODES:
            scores_region = decoding.decoder_scores(
                recording.pick(names.tolist()), n_shifts=cfg.n_shifts, seed=cfg.seed
            )[2]
            by_region.append({"participant": f"sub-{sub}", "region": region, **scores_region})
    for name, spectrogram in (("original", spec), ("reconstructed", result.predicted)):
        wave = audio.griffin_lim(spectrogram, seed=cfg.seed)
        ctx.save_sound(f"sub-{sub}_{name}_griffinlim", wave, audio.TARGET_SFREQ)
    results[sub], spectrograms[sub] = result, spec
summary = pd.DataFrame(rows)
summary  # noqa: B018 (shown in the notebook)

# %%
ctx.save_table(decoding.r_table(results), "decoding_r")
ctx.save_table(
    summary,
    "decoding_summary",
    caption="Spectrogram reconstruction from high-gamma (mean Pearson r over folds and "
    f"mel bins) against the 95th percentile of {cfg.n_shifts:,} circular shifts, published and "
    "decoder chance.",
    label="tab:decoding-summary",
)
below = summary[summary["mean_r"] <= summary["chance_p95_published"]]
print(f"participants at or below the published chance level: {len(below)}")

# %% [markdown]
# ## Controls: leaked sound, the reference, the anatomy
#
# The decoder of each participant with the channels that carry the microphone's sound kept
# (where the check flagged any), and under the sensitivity reference (bipolar by default),
# beside the decoder of the analyses. Then one decoder per anatomical region, on that
# region's electrodes only (regions with at least two), tested against its own decoder
# chance with Holm's correction over every region decoder of every participant.

# %%
SCORES = ["channels", "mean_r", "chance_p95_decoder", "p_decoder", "mean_r_within_speech"]
variants = pd.DataFrame(variants, columns=["participant", "reference", "contaminated", *SCORES])
ctx.save_table(
    variants,
    "decoding_reference",
    caption="Decoding baseline per participant under each reference, and with the "
    "acoustically contaminated channels kept: mean r, decoder chance (95th percentile) and "
    "p, and r within speech frames.",
    label="tab:decoding-reference",
)
by_region = pd.DataFrame(by_region, columns=["participant", "region", *SCORES])
by_region["p_holm"] = stats.holm(by_region["p_decoder"].to_numpy()) if len(by_region) else []
ctx.save_table(by_region, "decoding_regions")
region_summary = regions.summarise(
    by_region.assign(r=by_region["mean_r"], significant=by_region["p_holm"] < 0.05),
    electrodes="channels",
)
ctx.save_table(
    region_summary,
    "decoding_regions_summary",
    caption="Decoding from one anatomical region's electrodes: participants, electrodes, "
    "region decoders above their chance (Holm-corrected p < 0.05), and their mean r.",
    label="tab:decoding-regions",
    float_format="%.3f",
)
fig = figures.region_summary(region_summary, "region decoders above chance", "decoding per region")
figures.mark_simulated(fig, ctx.simulated)
ctx.save_figure(fig, "decoding_regions")
variants  # noqa: B018 (shown in the notebook)

# %% [markdown]
# ## Published beside reproduced
#
# Verwoert et al. (2022): the official code re-run unmodified on the real data, and the
# values of the paper's figure 4a (digitised). On the simulated sample our column says so.

# %%
reference = published.verwoert2022()
ours = pd.concat(  # our mean r, beside each published estimate of it
    [
        summary.assign(metric=metric, value=summary["mean_r"])
        for metric in reference["metric"].unique()
    ]
)
compared = published.beside(reference, ours, ["participant", "metric"], simulated=ctx.simulated)
ctx.save_table(
    compared,
    "decoding_published",
    caption="Decoding baseline: mean r per participant, published (the official code re-run "
    "on the real data; the paper's figure 4a, digitised) beside ours.",
    label="tab:decoding-published",
)
compared  # noqa: B018 (shown in the notebook)

# %% [markdown]
# ## Mean r per participant, with folds and chance

# %%
subjects = list(results)
fig, (ax_r, ax_bins) = plt.subplots(1, 2, figsize=(10, 3.4))
x = np.arange(len(subjects))
ax_r.bar(x, summary["mean_r"], color="0.75", label="mean r")
for i, sub in enumerate(subjects):
    folds = results[sub].r.mean(axis=1)
    ax_r.scatter(np.full(len(folds), i), folds, s=8, color="k", zorder=3)
ax_r.scatter(x, summary["chance_p95_published"], marker="_", s=300, color="C3", zorder=4)
ax_r.scatter(x, summary["chance_p95_decoder"], marker="_", s=300, color="C0", zorder=4)
ax_r.plot([], [], "k.", label="folds")
ax_r.plot([], [], color="C3", label="chance p95, published")
ax_r.plot([], [], color="C0", label="chance p95, decoder")
ax_r.set(
    xticks=x,
    xticklabels=[f"sub-{s}" for s in subjects],
    ylabel="Pearson r",
    ylim=(min(0.0, summary["mean_r"].min() - 0.05), 1.15),
    title="spectrogram reconstruction",
)
ax_r.legend(fontsize=7, frameon=False, loc="upper center", ncol=2)
for sub in subjects:
    ax_bins.plot(np.arange(1, 24), results[sub].r.mean(axis=0), label=f"sub-{sub}")
ax_bins.set(xlabel="mel bin", ylabel="mean r over folds", title="r per mel bin")
ax_bins.legend(fontsize=7, frameon=False)
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "decoding_r")

# %% [markdown]
# ## An example: original and reconstructed spectrogram and their sounds
#
# Ten seconds of the participant with the highest mean r. The waveforms are the same
# ten seconds of the Griffin-Lim syntheses written above to `paper/audio/` (they line up
# sample for sample with the spectrogram frames).

# %%
best = max(results, key=lambda sub: results[sub].mean_r)
frames = slice(500, 1500)
seconds = np.arange(frames.start, frames.stop) * SHIFT_S
original, reconstructed = spectrograms[best][frames], results[best].predicted[frames]
hop = int(round(SHIFT_S * audio.TARGET_SFREQ))
waves = {
    name: wavfile.read(ctx.audio / f"sub-{best}_{name}_griffinlim.wav")[1][
        frames.start * hop : frames.stop * hop
    ].astype(float)
    for name in ("original", "reconstructed")
}
fig, axes = plt.subplots(2, 2, figsize=(10, 4.4), sharex=True)
limits = np.percentile(original, [1, 99])
for row, (name, spec) in enumerate((("original", original), ("reconstructed", reconstructed))):
    axes[row, 0].imshow(
        spec.T,
        aspect="auto",
        origin="lower",
        extent=(seconds[0], seconds[-1] + SHIFT_S, 0.5, 23.5),
        vmin=limits[0],
        vmax=limits[1],
        cmap="magma",
    )
    axes[row, 0].set(ylabel="mel bin", title=f"sub-{best}: {name} log-mel")
    wave = waves[name]
    axes[row, 1].plot(
        seconds[0] + np.arange(len(wave)) / audio.TARGET_SFREQ, wave / np.abs(wave).max(), lw=0.3
    )
    axes[row, 1].set(ylabel="amplitude (peak 1)", title=f"Griffin-Lim from the {name}")
for ax in axes[1]:
    ax.set_xlabel("time in the decoded frames (s)")
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "decoding_example")

# %%
for name, wave in waves.items():
    print(f"sub-{best}, {name} spectrogram, Griffin-Lim:")
    display(Audio(wave / np.abs(wave).max(), rate=audio.TARGET_SFREQ, normalize=False))
