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
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Audio, display
from scipy.io import wavfile
from tqdm.auto import tqdm

from neurospeech import audio, bids, decoding, figures, published, runtime

ctx = runtime.start("decoding_baseline")
cfg = ctx.settings
SHIFT_S = 0.01  # frame hop

# %% [markdown]
# ## Reconstruction, chance and waveforms per participant

# %%
results, spectrograms, rows = {}, {}, []
for sub in tqdm(ctx.subjects(), desc="decoding"):
    recording = bids.read_recording(ctx.bids_root, sub)
    stacked, spec, _ = decoding.reference_features(recording)
    result = decoding.linear_reconstruction(stacked, spec)
    self_chance = decoding.compare_with_chance(
        result.r, decoding.circular_shift_chance(spec, n_shifts=cfg.n_shifts, seed=cfg.seed)
    )
    decoder = decoding.compare_with_chance(
        result.r,
        decoding.circular_shift_chance(
            spec, result.predicted, fold=result.fold, n_shifts=cfg.n_shifts, seed=cfg.seed
        ),
    )
    speech = audio.speech_mask(spec)
    oracle = decoding.speech_silence_oracle(spec, speech)
    within_speech = decoding.fold_r(spec, result.predicted, result.fold, speech)
    rows.append(
        {
            "participant": f"sub-{sub}",
            "frames": len(spec),
            "features": stacked.shape[1],
            "explained_variance": result.explained_variance.mean(),
            "mean_r": result.mean_r,
            "chance_p95_published": self_chance["chance_p95"],
            "p_published": self_chance["p_value"],
            "chance_p95_decoder": decoder["chance_p95"],
            "p_decoder": decoder["p_value"],
            "speech_fraction": speech.mean(),
            "mean_r_speech_silence_oracle": oracle.mean_r,
            "mean_r_within_speech": float(np.nanmean(within_speech)),
        }
    )
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
