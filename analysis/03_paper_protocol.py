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
# # The paper's protocol (Khanday et al. 2025), and an audit of its metric
#
# **Protocol, as published.** The target of each trial is the full-rate high-gamma
# envelope averaged over the first 1 s (or 2 s) after the word cue, one value per
# channel. An `ElasticNet(alpha=1.0, l1_ratio=0.5)` predicts it from the word's features,
# with leave-one-word-out cross-validation, and each held-out trial is scored *across its
# channels*: MSE, RMSE, R2 and Pearson r (PCC) of the flattened channel vector. The paper
# reports per-participant PCC and R2 (mean +- sd over trials).
#
# **Audit.** A score across channels rewards getting each channel's *level* right, and
# the levels differ far more between channels than between trials. So the same numbers
# are computed for (i) a predictor of each channel's training mean, with no features;
# (ii) standard-normal noise features of the same width; (iii) for the `conditions` (the
# paper's three as published, and the corrected XLS-R) and, on simulated data, the oracle,
# the real features with the trial-to-feature assignment shuffled (200 times by default):
# a permutation p-value per participant, and a group test per predictor and trial length,
# the mean over participants of each one's PCC against the same mean under each
# participant's shuffle of the same draw. A shuffle is a whole leave-one-word-out pass
# (0.2-1.9 s of one core at the real size), so the plain `feature_spaces` are not shuffled
# unless `shuffle_feature_spaces` says so. Then a word-level evaluation that can fail:
# targets and features z-scored
# on the training words, ridge per channel with its penalty chosen by inner
# cross-validation over words, Pearson r per channel across held-out words, a permutation
# null of target shuffles (1,000 by default), FDR across channels. (The cross-validated r
# of a channel the features do not explain is negative on average: a held-out word differs from the
# training mean in the opposite direction to its own contribution. The null has the same
# bias, so the p-values are exact; the tables give the null's mean r beside the observed.)
# Across participants, one test per predictor and trial length: the mean over participants
# of each one's best channel r, against the same mean under each participant's permutation
# of the same draw. Holm's correction over participants x predictors x trial lengths needs
# about as many permutations as 20 times the tests (6,400 for the real study's 320 tests);
# with fewer, the manuscript says the per-participant tests cannot decide, and the group
# family (as many times smaller as there are participants) decides.
#
# Predictors: the `[paper_protocol] feature_spaces` of the configuration (each model's
# hidden state `layer`, averaged over the trial) and its `conditions`, each with its layer,
# pooling and PCA. The real-data profile runs the paper's three conditions as the authors
# ran them (GPT-2 and FastText vectors of the word; XLS-R's last transformer layer before
# the encoder's final norm, flattened over the trial, PCA to 90 % of the variance fitted on
# all trials) and XLS-R with that PCA fitted inside each fold, beside the other language and
# speech models, their untrained controls and the trial's mean log-mel spectrogram. The
# sample runs log-mel, mean and flattened with both PCAs. On simulated data the planted
# word-level latent values are a predictor too (an oracle that shows what a real word-level
# effect looks like). Every predictor runs with every trial length; `published_run` marks
# the length of the published run.
#
# **Why the paper's PCC is high.** For each participant, the variance of the channels' mean
# levels (B) against the variance of a channel across words (W): a predictor of the channel
# means correlates with a trial's channel vector at about sqrt(B / (B + W)), whatever the
# words. **The family.** The permutation p-values of every participant, predictor and trial
# length that has a shuffle null form one family, Holm-corrected; so do the word-level tests
# (the best channel's family-wise p of each), and the group tests of each kind.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from sklearn.dummy import DummyRegressor
from tqdm.auto import tqdm

from neurospeech import embeddings, figures, paper_protocol, published, runtime, stats
from neurospeech.simulate import read_truth, recovery

ctx = runtime.start("paper_protocol")
cfg = ctx.settings
predictors = cfg.predictors
# models load once, not per participant; the features are cached per participant
models = {
    space: embeddings.load(space) for space in dict.fromkeys(c.feature_space for c in predictors)
}
MEAN = "training mean (no features)"
ORACLE = "planted latent (oracle)"

# %% [markdown]
# ## Leave-one-word-out, audit and word-level encoding per participant

# %%
folds, audits, channels, variances = [], [], [], []
by_predictor = {}  # (feature space, trial length): every participant's word-level encoding
shuffles = {}  # (feature space, trial length): every participant's PCC and shuffle null
subjects = paper_protocol.paper_participants(
    ctx.subjects(), drop_participant_10=cfg.drop_participant_10
)
for sub in tqdm(subjects, desc="participants"):
    recording, _ = ctx.recording(sub)  # the channels of [channels] (runtime.Context.recording)
    words = recording.words["value"].to_numpy()
    names = recording.ch_names  # the columns of every array computed from the recording
    truth = read_truth(ctx.bids_root, sub) if ctx.simulated else None
    for seconds in cfg.trial_lengths:
        means = paper_protocol.trial_means(recording, seconds)
        spaces = {
            condition.name: (
                condition,
                embeddings.trial_features(
                    models[condition.feature_space],
                    recording,
                    seconds,
                    layer=condition.layer,
                    pooling=condition.pooling,
                    cache_dir=ctx.features_cache(sub),
                ),
            )
            for condition in predictors
        }
        if truth is not None:
            spaces[ORACLE] = (None, np.array(truth["latent"]))
        baseline = paper_protocol.leave_one_word_out(
            np.zeros((len(words), 1)), means, words, estimator=DummyRegressor()
        )
        key = {"participant": f"sub-{sub}", "trial_length": seconds}
        variances.append(
            {
                **key,
                **paper_protocol.variance_ratio(means),
                "observed_pcc": baseline["pcc"].mean(),
            }
        )
        folds.append(baseline.assign(**key, feature_space=MEAN, published_run=False))
        for space, (condition, features) in spaces.items():
            options = {
                "pca": None if condition is None else condition.pca,
                "pca_on_all_trials": condition is not None and condition.pca_on_all_trials,
            }
            published_run = condition is not None and condition.published_trial_length == seconds
            metrics = paper_protocol.leave_one_word_out(features, means, words, **options)
            folds.append(metrics.assign(**key, feature_space=space, published_run=published_run))
            shuffled = space in cfg.shuffled or space == ORACLE
            audit, null = paper_protocol.audit(
                features,
                means,
                words,
                n_shuffles=cfg.n_shuffles if shuffled else 0,
                seed=cfg.seed,
                return_null=True,
                **options,
            )
            if shuffled:
                shuffles.setdefault((space, seconds), []).append((audit, null))
            encoding = paper_protocol.word_level_encoding(
                features, means, words, n_permutations=cfg.n_permutations, seed=cfg.seed
            )
            found = encoding.significant()
            by_predictor.setdefault((space, seconds), []).append(encoding)
            audits.append(
                {
                    **key,
                    "feature_space": space,
                    "published_run": published_run,
                    "dims": features.shape[1],
                    **audit,
                    "word_level_mean_r": float(encoding.r.mean()),
                    "word_level_null_r": float(encoding.null.mean()),
                    "word_level_p_fwe": float(encoding.p_fwe.min()),
                    "n_permutations": cfg.n_permutations,
                    "channels": len(names),
                    "significant": int(found.sum()),
                }
            )
            per_channel = pd.DataFrame(
                {
                    "channel": names,
                    "r": encoding.r,
                    "p": encoding.p,
                    "q": encoding.q,
                    "p_fwe": encoding.p_fwe,
                    "null_mean_r": encoding.null.mean(axis=0),
                    "alpha_median": np.median(encoding.alpha, axis=0),
                }
            )
            if truth is not None:
                planted = recovery.planted(truth, names)
                per_channel["planted_latent"] = planted["planted_latent"]
                per_channel["planted_speech"] = planted["planted_speech"]
                per_channel["planted_timing"] = planted["planted_timing"]
            channels.append(per_channel.assign(**key, feature_space=space))
folds = pd.concat(folds, ignore_index=True)
audits = pd.DataFrame(audits)
tested = audits["n_shuffles"] > 0  # the shuffle null: the conditions (and the oracle)
audits["p_shuffle_holm"] = np.nan
audits.loc[tested, "p_shuffle_holm"] = stats.holm(audits.loc[tested, "p_shuffle"])
audits["word_level_p_holm"] = stats.holm(audits["word_level_p_fwe"])
channels = pd.concat(channels, ignore_index=True)
variances = pd.DataFrame(variances)
group = pd.DataFrame(
    [
        {"feature_space": space, "trial_length": seconds, **paper_protocol.group_word_level(found)}
        for (space, seconds), found in by_predictor.items()
    ]
)
group["p_group_holm"] = stats.holm(group["p_group"])
shuffle_group = pd.DataFrame(
    [
        {"feature_space": space, "trial_length": seconds, **paper_protocol.group_audit(found)}
        for (space, seconds), found in shuffles.items()
    ]
)
shuffle_group["p_group_holm"] = stats.holm(shuffle_group["p_group"])

# %% [markdown]
# ## Tables: the paper's numbers, and the audit beside them

# %%
order = ["participant", "trial_length", "feature_space", "published_run"]
ctx.save_table(folds[order + ["word", "n_trials", *paper_protocol.METRICS]], "protocol_folds")
ctx.save_table(channels, "protocol_word_level")
summary = (
    folds.groupby(order, sort=False)[["pcc", "r2"]]
    .agg(["mean", "std"])
    .set_axis(["pcc_mean", "pcc_sd", "r2_mean", "r2_sd"], axis=1)
    .reset_index()
)
ctx.save_table(
    summary,
    "protocol_summary",
    caption="The paper's metric: leave-one-word-out ElasticNet, PCC and R2 across the "
    "channels of each held-out trial (mean and sd over trials), next to the same metric "
    "for the channels' training means without any features.",
    label="tab:protocol-summary",
)
audit_columns = [
    *order,
    "dims",
    "pcc_model",
    "pcc_mean",
    "pcc_noise",
    "pcc_shuffled",
    "p_shuffle",
    "p_shuffle_holm",
    "n_shuffles",
    "word_level_mean_r",
    "word_level_null_r",
    "word_level_p_fwe",
    "word_level_p_holm",
    "n_permutations",
    "significant",
    "channels",
]
ctx.save_table(
    audits[audit_columns],
    "protocol_audit",
    caption="Audit of the paper's metric: mean PCC of the features, of the training-mean "
    f"predictor, of noise features and of {cfg.n_shuffles:,} shuffled assignments (the "
    "conditions only; p: permutation p-value, and Holm-corrected over the shuffled rows); "
    "word-level encoding: mean r across channels, "
    "the mean r of its permutation null, the family-wise p of the best channel (and "
    "Holm-corrected over the table), and channels with FDR q < 0.05.",
    label="tab:protocol-audit",
)
audits[audit_columns]  # noqa: B018 (shown in the notebook)

# %%
ctx.save_table(
    group,
    "protocol_group",
    caption="Word-level encoding across participants: the mean over participants of each "
    "one's best channel r, the mean of its null (each participant's permutations paired by "
    f"draw, {cfg.n_permutations:,} draws), its p-value and the p-value Holm-corrected over "
    "the feature spaces and trial lengths.",
    label="tab:protocol-group",
)
group  # noqa: B018 (shown in the notebook)

# %%
ctx.save_table(
    shuffle_group,
    "protocol_shuffle_group",
    caption="The paper's metric across participants: the mean over participants of each "
    "one's mean PCC, the mean of its null (each participant's shuffles paired by draw, "
    f"{cfg.n_shuffles:,} draws), its p-value and the p-value Holm-corrected over the "
    "conditions and trial lengths.",
    label="tab:protocol-shuffle-group",
)
shuffle_group  # noqa: B018 (shown in the notebook)

# %%
ctx.save_table(
    variances,
    "protocol_variance",
    caption="Why the paper's PCC is high: variance of the channels' mean levels (between, B) "
    "and of a channel across words (within, W), the PCC that B / W predicts for the "
    "training-mean predictor, sqrt(B / (B + W)), and the one observed.",
    label="tab:protocol-variance",
)
variances  # noqa: B018 (shown in the notebook)

# %% [markdown]
# ## Published beside reproduced
#
# Khanday et al. (2025): R2 of GPT-2, FastText and XLS-R and PCC of GPT-2 per participant
# (mean over leave-one-word-out folds), beside ours from the same condition and trial
# length (`published_run`). On the simulated sample our column says so.

# %%
reproduced = summary[summary["published_run"]]
reproduced = reproduced.assign(  # the condition's registry name, as the published table has
    feature_space=reproduced["feature_space"].map({c.name: c.feature_space for c in predictors})
)
ours = pd.concat(
    [
        reproduced.assign(metric=metric, value=reproduced[f"{metric}_mean"])
        for metric in ("r2", "pcc")
    ]
)
compared = published.beside(
    published.khanday2025(),
    ours,
    ["participant", "feature_space", "metric"],
    simulated=ctx.simulated,
)
ctx.save_table(
    compared,
    "protocol_published",
    caption="Khanday et al. (2025) per participant, mean over leave-one-word-out folds, "
    "beside ours from the same condition and trial length.",
    label="tab:protocol-published",
)
compared  # noqa: B018 (shown in the notebook)

# %%
if ctx.simulated:
    recovered = recovery.protocol_recovery(channels, oracle=ORACLE)
    ctx.save_table(
        recovered,
        "protocol_recovery",
        caption="Simulated data: channels found by the word-level encoding (FDR q < 0.05) "
        "among those the simulator made respond to the feature space, and among the others.",
        label="tab:protocol-recovery",
    )
    display(recovered)

# %% [markdown]
# ## R2 per trial: box plots per participant, and the histogram of trials per R2 bin

# %%
spaces = list(dict.fromkeys(folds["feature_space"]))
colors = {space: f"C{k}" for k, space in enumerate(spaces)}
fig, axes = plt.subplots(1, len(cfg.trial_lengths), figsize=(10, 3.6), sharey=True)
width = 0.8 / len(spaces)
for ax, seconds in zip(np.atleast_1d(axes), cfg.trial_lengths):
    for k, space in enumerate(spaces):
        chosen = folds[(folds["trial_length"] == seconds) & (folds["feature_space"] == space)]
        data = [chosen.loc[chosen["participant"] == f"sub-{s}", "r2"] for s in subjects]
        boxes = ax.boxplot(
            data,
            positions=np.arange(len(subjects)) + (k - (len(spaces) - 1) / 2) * width,
            widths=width * 0.9,
            patch_artist=True,
            showfliers=False,
        )
        for box in boxes["boxes"]:
            box.set(facecolor=colors[space], alpha=0.6)
        ax.plot([], [], "s", color=colors[space], label=space)
    ax.set(
        xticks=np.arange(len(subjects)),
        xticklabels=[f"sub-{s}" for s in subjects],
        title=f"{seconds:g} s trials",
        ylabel="R2 across channels (held-out trial)",
    )
np.atleast_1d(axes)[0].legend(fontsize=7, frameon=False, loc="lower left")
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "protocol_r2_boxplots")

# %%
fig, axes = plt.subplots(1, len(cfg.trial_lengths), figsize=(10, 3.2), sharey=True)
bins = np.linspace(np.floor(folds["r2"].quantile(0.01) * 20) / 20, 1.0, 31)
for ax, seconds in zip(np.atleast_1d(axes), cfg.trial_lengths):
    for space in spaces:
        chosen = folds[(folds["trial_length"] == seconds) & (folds["feature_space"] == space)]
        ax.hist(
            chosen["r2"].clip(bins[0], None),
            bins,
            histtype="step",
            color=colors[space],
            label=space,
        )
    ax.set(
        xlabel="R2 across channels",
        ylabel="trials",
        title=f"{seconds:g} s trials, all participants",
    )
np.atleast_1d(axes)[0].legend(fontsize=7, frameon=False, loc="upper left")
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "protocol_r2_histogram")

# %% [markdown]
# ## The audit: the paper's PCC against its baselines, and the word-level test
#
# Left: mean PCC per participant (1 s trials) for the features, the training-mean
# predictor, noise features and the shuffled assignments. Right: word-level r of every
# channel; filled markers are significant (FDR q < 0.05).

# %%
first = audits[audits["trial_length"] == cfg.trial_lengths[0]]
feature_spaces = list(dict.fromkeys(first["feature_space"]))
fig, (ax_pcc, ax_r) = plt.subplots(1, 2, figsize=(10, 3.6))
x = np.arange(len(subjects))
step = 0.8 / len(feature_spaces)
for k, space in enumerate(feature_spaces):
    rows = first[first["feature_space"] == space].set_index("participant")
    offset = x + (k - (len(feature_spaces) - 1) / 2) * step
    for column, marker in (
        ("pcc_model", "o"),
        ("pcc_mean", "_"),
        ("pcc_noise", "x"),
        ("pcc_shuffled", "+"),
    ):
        ax_pcc.scatter(
            offset,
            rows.loc[[f"sub-{s}" for s in subjects], column],
            marker=marker,
            color=colors[space],
            s=40,
        )
for column, marker in (
    ("features", "o"),
    ("training mean", "_"),
    ("noise features", "x"),
    ("shuffled (mean)", "+"),
):
    ax_pcc.scatter([], [], marker=marker, color="0.3", label=column)
ax_pcc.set(ylabel="mean PCC across channels", title="the paper's metric")
ax_pcc.legend(fontsize=7, frameon=False)
first_channels = channels[channels["trial_length"] == cfg.trial_lengths[0]]
for k, space in enumerate(feature_spaces):
    rows = first_channels[first_channels["feature_space"] == space]
    position = np.array([subjects.index(p.removeprefix("sub-")) for p in rows["participant"]])
    jitter = (k - (len(feature_spaces) - 1) / 2) * step
    significant = rows["q"].to_numpy() < 0.05
    ax_r.scatter(
        position[~significant] + jitter,
        rows["r"][~significant],
        s=12,
        facecolors="none",
        edgecolors=colors[space],
    )
    ax_r.scatter(
        position[significant] + jitter,
        rows["r"][significant],
        s=12,
        color=colors[space],
        label=space,
    )
ax_r.axhline(0, color="0.5", lw=0.8)
ax_r.set(ylabel="r across held-out words", title="word-level encoding, per channel")
for ax in (ax_pcc, ax_r):
    ax.set(xticks=x, xticklabels=[f"sub-{s}" for s in subjects])
ax_r.legend(fontsize=7, frameon=False)
figures.mark_simulated(fig, ctx.simulated)
fig.tight_layout()
ctx.save_figure(fig, "protocol_audit")
