"""One validated configuration of every analysis: profile, participants, models, parameters.

Each analysis script of ``analysis/`` reads one section, named after the script
(``04_encoding.py`` reads ``[encoding]``), and the keys every script shares
(``profile``, ``participants`` and ``[channels]``: the reference and the channels left
out). A step of :func:`neurospeech.pipeline.reproduce` is
keyed on exactly that slice (:meth:`Config.slice`), so changing a parameter of the
encoding re-runs the encoding and nothing else.

The defaults depend on the profile: ``sample`` (simulated data, offline, sized for two
CPU cores) or ``swpd`` (the real dataset and the paper's models). A TOML file overrides
any of them; every key is checked, and a typo is an error that names the nearest valid
key::

    participants = ["01", "03"]

    [encoding]
    n_shifts = 1000
    layers = [0, 6, 12]

    [contrastive.training]
    epochs = 40

Every number is checked before anything runs: numbers are finite (no ``nan`` or
``inf``); counts are at least 1, draws of a null, permutation, shuffle, bootstrap or
swap at most :data:`MAX_DRAWS` (100,000), other counts (components, network sizes,
epochs, a batch) at most :data:`MAX_COUNT` (10,000); lags within +-10 s, at most 1,000
of them a range; windows and trial lengths within 10 s; seeds from 0 to 2**32 - 1; a
learning rate positive; participants unique; every layer within its model's (by the
architecture cards).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurospeech.embeddings import cards, registry
from neurospeech.embeddings.registry import RAW_LAST

PROFILES = ("sample", "swpd")


class ConfigError(ValueError):
    """A configuration key or value that is not valid; the message says where and why."""


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is one of :data:`PROFILES`, else raise a ConfigError."""
    if profile not in PROFILES:
        close = difflib.get_close_matches(str(profile), PROFILES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown profile {profile!r}{hint}; choose one of {', '.join(PROFILES)}")
    return profile


#: The most draws of any null, permutation, shuffle, bootstrap or swap.
MAX_DRAWS = 100_000
#: The most of any other count (components, network sizes, epochs, a batch, lags).
MAX_COUNT = 10_000
#: The largest lag or window edge, in ms.
MAX_LAG_MS = 10_000
#: Seeds are numpy's: from 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1


def _positive(section: object, *names: str, most: int = MAX_COUNT) -> None:
    """Raise a ConfigError unless each of ``names`` is a count from 1 to ``most``."""
    for name in names:
        value = getattr(section, name)
        if not 1 <= value <= most:
            raise ConfigError(f"{name} must be from 1 to {most:,}, got {value:,}")


def _seeds(*values: int) -> None:
    """Raise a ConfigError unless every seed is within numpy's range."""
    for value in values:
        if not 0 <= value <= MAX_SEED:
            raise ConfigError(f"a seed must be from 0 to 2**32 - 1, got {value}")


def _spaces(names: Iterable[str], kinds: tuple[str, ...]) -> None:
    for name in names:
        space = registry.get(name)
        if space.kind not in kinds:
            raise ConfigError(
                f"{name!r} is a {space.kind} feature space; this analysis needs "
                f"{' or '.join(kinds)} ones"
            )


@dataclass(frozen=True)
class DecodingBaseline:
    """``[decoding_baseline]``: Verwoert et al. (2022), ``02_decoding_baseline.py``.

    Attributes
    ----------
    n_shifts : int
        Circular shifts of each chance distribution.
    seed : int
        Seed of the shifts and of the Griffin-Lim phases.
    """

    n_shifts: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        _positive(self, "n_shifts", most=MAX_DRAWS)
        _seeds(self.seed)


@dataclass(frozen=True)
class ProtocolCondition:
    """``[[paper_protocol.conditions]]``: one predictor of the protocol, fully specified.

    Attributes
    ----------
    name : str
        The condition's label in the tables (unique among the protocol's predictors).
    feature_space : str
        Registry name.
    layer : int or "last-raw"
        Hidden state (negative: from the last), or ``"last-raw"``: the raw output of
        the model's last transformer layer, before the encoder's final norm (what
        torchaudio's ``extract_features`` returns; a speech model only).
    pooling : {"mean", "flatten"}
        How a trial's frames become one vector: their mean, or all of them flattened
        (time x dims, as the paper treats the speech model's states).
    pca : float, optional
        Reduce the features by PCA to this fraction of their variance first.
    pca_on_all_trials : bool
        Fit that PCA once on all trials, held-out ones included (the published quirk);
        False: inside each fold.
    published_trial_length : float, optional
        The trial length of the published run this condition reproduces; None for a
        condition that is not the published one.
    """

    name: str
    feature_space: str
    layer: int | str = -1
    pooling: str = "mean"
    pca: float | None = None
    pca_on_all_trials: bool = False
    published_trial_length: float | None = None

    def __post_init__(self) -> None:
        _spaces([self.feature_space], registry.KINDS)
        try:
            registry.check_trial_options(self.feature_space, self.layer, self.pooling)
        except ValueError as err:
            raise ConfigError(f"{self.name}: {err}") from None
        if self.pca is not None and not 0 < self.pca < 1:
            raise ConfigError(
                f"{self.name}: pca is the fraction of variance kept, in (0, 1), got {self.pca}"
            )
        if self.pca_on_all_trials and self.pca is None:
            raise ConfigError(f"{self.name}: pca_on_all_trials needs pca")


@dataclass(frozen=True)
class PaperProtocol:
    """``[paper_protocol]``: Khanday et al. (2025) and its audit, ``03_paper_protocol.py``.

    Attributes
    ----------
    feature_spaces : tuple of str
        Registry names (``neurospeech models list``), as word-level predictors: the
        hidden state ``layer`` averaged over the trial, no PCA; labelled by their name.
    conditions : tuple of ProtocolCondition
        Further predictors with every option (layer, pooling, PCA), e.g. the paper's
        three as published and as corrected.
    trial_lengths : tuple of float
        Seconds of high-gamma averaged after each word cue (the paper: 1 and 2); every
        predictor is run with each.
    n_shuffles : int
        Shuffled word-to-feature assignments of the audit, for each of ``conditions``
        (and of ``feature_spaces`` with ``shuffle_feature_spaces``). Each shuffle is a
        whole leave-one-word-out pass; the default is sized to the group test across
        participants (one test per condition and trial length: Holm over the real
        profile's 8 needs p < 0.00625, reachable from 160 draws), not to the far larger
        family of per-participant tests.
    n_permutations : int
        Permutations of the word-level test.
    shuffle_feature_spaces : bool
        Run the shuffle null for the plain ``feature_spaces`` too (with the real
        profile's 12, its group family is four times larger and needs about four times
        the draws).
    layer : int
        The hidden state of ``feature_spaces`` used (negative: from the last); log-mel has one.
    seed : int
    drop_participant_10 : bool
        Leave participant 10 out, as the published code does.
    """

    feature_spaces: tuple[str, ...] = ("log-mel",)
    conditions: tuple[ProtocolCondition, ...] = ()
    trial_lengths: tuple[float, ...] = (1.0, 2.0)  # the paper's
    layer: int = -1
    n_shuffles: int = 200
    n_permutations: int = 1000
    shuffle_feature_spaces: bool = False
    seed: int = 0
    drop_participant_10: bool = False

    def __post_init__(self) -> None:
        _positive(self, "n_shuffles", "n_permutations", most=MAX_DRAWS)
        _seeds(self.seed)
        _spaces(self.feature_spaces, ("speech", "text", "acoustic"))
        if (
            not self.trial_lengths
            or not 0 < min(self.trial_lengths) <= max(self.trial_lengths) <= 10
        ):
            raise ConfigError(
                f"trial_lengths must be seconds in (0, 10], got {list(self.trial_lengths)}"
            )
        labels = [*self.feature_spaces, *(c.name for c in self.conditions)]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ConfigError(f"predictor labels must be unique, repeated: {', '.join(repeated)}")

    @property
    def predictors(self) -> list[ProtocolCondition]:
        """Every predictor: ``feature_spaces`` as plain conditions, then ``conditions``."""
        plain = [ProtocolCondition(name, name, layer=self.layer) for name in self.feature_spaces]
        return [*plain, *self.conditions]

    @property
    def shuffled(self) -> list[str]:
        """The predictors whose audit has the shuffle null (``n_shuffles``)."""
        plain = list(self.feature_spaces) if self.shuffle_feature_spaces else []
        return [*plain, *(c.name for c in self.conditions)]


#: The references of :mod:`neurospeech.reference`.
REFERENCES = ("original", "bipolar", "laplacian", "car")
#: The nulls and corrections of :func:`neurospeech.contamination.assess`.
CONTAMINATION_NULLS = ("both", "frequency", "time")
CONTAMINATION_CORRECTIONS = ("fdr", "holm", "max")


@dataclass(frozen=True)
class ContaminationCheck:
    """``[channels.contamination]``: the acoustic contamination check of every channel.

    See :func:`neurospeech.contamination.assess`.

    Attributes
    ----------
    window : float
        Spectrogram window in seconds (frames every half window).
    fmin, fmax : float
        Band of the contamination index in Hz (``fmax`` None: the iEEG's Nyquist rate).
    null : {"both", "frequency", "time"}
        Permute the audio's frequency bins (Roussel et al. 2020), its frames in blocks, or
        flag only what both reject (the larger p-value).
    block : float
        Block length in seconds of the time null (the frames used are whole blocks).
    n_permutations : int
    alpha : float
        Level of the corrected test.
    correction : {"fdr", "holm", "max"}
        Across a participant's channels: Benjamini-Hochberg, Holm, or the permutation
        maximum of the indices standardised by their nulls.
    seed : int
    """

    window: float = 0.2
    fmin: float = 50.0
    fmax: float | None = None
    null: str = "both"
    block: float = 1.0
    n_permutations: int = 10_000
    alpha: float = 0.05
    correction: str = "fdr"
    seed: int = 0

    def __post_init__(self) -> None:
        _positive(self, "n_permutations", most=MAX_DRAWS)
        _seeds(self.seed)
        for key, valid in (
            ("null", CONTAMINATION_NULLS),
            ("correction", CONTAMINATION_CORRECTIONS),
        ):
            if getattr(self, key) not in valid:
                raise ConfigError(
                    f"{key} must be one of {', '.join(valid)}, got {getattr(self, key)!r}"
                )
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha must be within (0, 1), got {self.alpha}")
        if self.window <= 0 or self.block <= 0:
            raise ConfigError(
                f"window and block must be positive seconds, got {self.window}, {self.block}"
            )
        if self.fmin < 0 or (self.fmax is not None and self.fmax <= self.fmin):
            raise ConfigError(f"the band {self.fmin}-{self.fmax} Hz must be increasing from 0")


@dataclass(frozen=True)
class Channels:
    """``[channels]``: which channels every analysis uses, under which reference.

    Read by every step (part of each step's key); ``01_data_overview.py`` reports the
    contamination check, both references and the anatomy.

    Attributes
    ----------
    reference : {"original", "bipolar", "laplacian", "car"}
        The reference of the analyses (:func:`neurospeech.reference.apply`); the published
        setting is ``original``.
    sensitivity_reference : str or None
        A second reference under which the decoding baseline and the acoustic encoding
        are reported beside the first (None, or ``"none"`` in a TOML file: none).
    exclude_contaminated : bool
        Leave out the channels the contamination check flags.
    contamination : ContaminationCheck
    """

    reference: str = "original"
    sensitivity_reference: str | None = "bipolar"
    exclude_contaminated: bool = True
    contamination: ContaminationCheck = field(default_factory=ContaminationCheck)

    def __post_init__(self) -> None:
        if self.sensitivity_reference == "none":  # TOML has no null
            object.__setattr__(self, "sensitivity_reference", None)
        for key in ("reference", "sensitivity_reference"):
            value = getattr(self, key)
            if value is not None and value not in REFERENCES:
                raise ConfigError(f"{key} must be one of {', '.join(REFERENCES)}, got {value!r}")

    @property
    def references(self) -> list[str]:
        """The reference of the analyses, then the sensitivity one if it differs."""
        second = self.sensitivity_reference
        return [self.reference] + ([second] if second not in (None, self.reference) else [])


@dataclass(frozen=True)
class Encoding:
    """``[encoding]``: frame-level encoding per electrode, ``04_encoding.py``.

    Attributes
    ----------
    speech_models : tuple of str
        Speech feature spaces fitted layer by layer (log-mel is always fitted).
    layers : tuple of int
        Hidden-state indices fitted (0: the input embedding); empty: every layer.
    n_components : int
        PCA components of a layer's features, fitted in each training fold.
    lags_ms : tuple of int
        Start, stop (inclusive) and step of the lags of the encoding models.
    profile_lags_ms : tuple of int
        Start, stop (inclusive) and step of the single-lag models of the lag profile.
    n_shifts : int
        Circular shifts of the null distributions.
    seed : int
    n_swaps : int
        Trial swaps of the word-identity test (:func:`neurospeech.encoding.trial_swaps`).
    pca_sensitivity : tuple of int
        PCA components of the sensitivity fits of each model's ``partition_layer`` (0:
        no PCA, where the lagged features fit in
        :data:`neurospeech.encoding.MAX_COLUMNS`).
    partition_layer : int, optional
        The hidden state of each speech model in the variance partitioning (fixed before
        any fit; default: the middle one, ``n_layers // 2``).
    partition_lags_ms : tuple of int
        Start, stop (inclusive) and step of the lags of the banded fits.
    band_ratios : tuple of float
        Weights of a band relative to the first searched by the banded fits of the
        variance partitioning (:func:`neurospeech.encoding.fit_bands`).
    """

    speech_models: tuple[str, ...] = ()
    layers: tuple[int, ...] = ()
    n_components: int = 16
    lags_ms: tuple[int, ...] = (-500, 500, 50)
    profile_lags_ms: tuple[int, ...] = (-500, 500, 10)
    n_shifts: int = 10_000
    seed: int = 0
    n_swaps: int = 200
    pca_sensitivity: tuple[int, ...] = (16, 64, 128)
    partition_layer: int | None = None
    partition_lags_ms: tuple[int, ...] = (-500, 500, 50)
    band_ratios: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)

    def __post_init__(self) -> None:
        _positive(self, "n_components")
        _positive(self, "n_shifts", "n_swaps", most=MAX_DRAWS)
        _seeds(self.seed)
        if any(not 0 <= k <= MAX_COUNT for k in self.pca_sensitivity):
            raise ConfigError(
                f"pca_sensitivity are numbers of components (0: all), got "
                f"{list(self.pca_sensitivity)}"
            )
        if self.partition_layer is not None and self.partition_layer < 0:
            raise ConfigError(
                f"partition_layer is a hidden-state index from 0, got {self.partition_layer}"
            )
        if not self.band_ratios or any(not ratio > 0 for ratio in self.band_ratios):
            raise ConfigError(f"band_ratios must be positive numbers, got {list(self.band_ratios)}")
        _spaces(self.speech_models, ("speech",))
        if any(layer < 0 for layer in self.layers):
            raise ConfigError(f"layers are hidden-state indices from 0, got {self.layers}")
        for key in ("lags_ms", "profile_lags_ms", "partition_lags_ms"):
            value = getattr(self, key)
            if len(value) != 3 or value[2] < 1 or value[1] < value[0]:
                raise ConfigError(f"{key} must be [start, stop, step > 0], got {list(value)}")
            if max(abs(value[0]), abs(value[1])) > MAX_LAG_MS:
                raise ConfigError(
                    f"{key}: lags must be within +-{MAX_LAG_MS} ms, got {list(value)}"
                )
            if len(self._range(value)) > MAX_COUNT // 10:
                raise ConfigError(
                    f"{key}: at most {MAX_COUNT // 10} lags, got {len(self._range(value))}"
                )

    @staticmethod
    def _range(value: tuple[int, ...]) -> list[int]:
        start, stop, step = value
        return list(range(start, stop + 1, step))

    @property
    def lags(self) -> list[int]:
        """The lags of the encoding models, in ms."""
        return self._range(self.lags_ms)

    @property
    def profile_lags(self) -> list[int]:
        """The lags of the lag profile, in ms."""
        return self._range(self.profile_lags_ms)

    @property
    def partition_lags(self) -> list[int]:
        """The lags of the variance partitioning's banded fits, in ms."""
        return self._range(self.partition_lags_ms)

    def partition_layer_of(self, n_layers: int, model: str) -> int:
        """Return the hidden state of a model with ``n_layers`` in the variance partitioning.

        Raises
        ------
        ConfigError
            If ``partition_layer`` is beyond the model's last hidden state.
        """
        if self.partition_layer is None:
            return n_layers // 2
        if self.partition_layer >= n_layers:
            raise ConfigError(
                f"encoding.partition_layer {self.partition_layer} is beyond {model}'s last "
                f"hidden state ({n_layers - 1})"
            )
        return self.partition_layer

    def layer_indices(self, n_layers: int, model: str) -> list[int]:
        """Return the layers to fit of a model with ``n_layers`` hidden states.

        Raises
        ------
        ConfigError
            If a configured layer is beyond the model's last one.
        """
        if not self.layers:
            return list(range(n_layers))
        beyond = [layer for layer in self.layers if layer >= n_layers]
        if beyond:
            raise ConfigError(
                f"encoding.layers: {model} has hidden states 0-{n_layers - 1}, not {beyond}"
            )
        return list(self.layers)


@dataclass(frozen=True)
class ContrastiveTraining:
    """``[contrastive.training]``: the brain module's sizes and its training.

    Attributes
    ----------
    n_virtual, hidden, n_blocks
        Virtual channels of the spatial attention, width and number of the residual
        dilated convolution blocks with GLU
        (:class:`neurospeech.contrastive.model.BrainModule`).
    n_fourier, fourier_margin
        Fourier frequencies per axis of the contact positions and their margin
        (:class:`neurospeech.contrastive.model.SpatialAttention`).
    dropout_radius
        Spatial dropout in training: the contacts within this many mm of a random contact
        take no weight (0: off).
    pool : int
        Frames averaged into one time bin of the loss and of the retrieval (5: 20 Hz),
        for the outputs and the targets alike.
    epochs, batch_size, learning_rate, weight_decay
        AdamW over shuffled batches for at most ``epochs`` epochs.
    validation, patience
        Early stopping: this share of the training words (never a held-out word) is set
        aside; training stops when the loss on them has not improved for ``patience``
        epochs, and the weights of the best epoch are kept. ``validation = 0`` trains for
        ``epochs`` epochs; so does a training with fewer than 4 words to set aside.

    Notes
    -----
    The defaults are sized for the simulated sample on two CPU cores (one training in
    about 1.5 s). Defossez et al. used 320 hidden channels and 270 virtual ones for MEG.
    """

    n_virtual: int = 32
    hidden: int = 32
    n_blocks: int = 3
    n_fourier: int = 4
    fourier_margin: float = 0.2
    dropout_radius: float = 10.0
    pool: int = 5
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    validation: float = 0.2
    patience: int = 5

    def __post_init__(self) -> None:
        _positive(
            self, "n_virtual", "hidden", "n_blocks", "n_fourier", "pool", "epochs", "patience"
        )
        if self.batch_size < 2:
            raise ConfigError(
                f"batch_size must be at least 2 (the loss contrasts segments), "
                f"got {self.batch_size}"
            )
        if self.batch_size > MAX_COUNT:
            raise ConfigError(f"batch_size must be at most {MAX_COUNT:,}, got {self.batch_size:,}")
        if not self.learning_rate > 0 or self.weight_decay < 0:
            raise ConfigError(
                f"learning_rate must be positive and weight_decay not negative, got "
                f"{self.learning_rate} and {self.weight_decay}"
            )
        if self.dropout_radius < 0 or self.fourier_margin < 0:
            raise ConfigError(
                f"dropout_radius and fourier_margin must not be negative, got "
                f"{self.dropout_radius} and {self.fourier_margin}"
            )
        if not 0 <= self.validation < 1:
            raise ConfigError(f"validation must be in [0, 1), got {self.validation}")


@dataclass(frozen=True)
class Contrastive:
    """``[contrastive]``: contrastive decoding (Defossez et al. 2023), ``05_contrastive.py``.

    Attributes
    ----------
    speech_model : str
        Speech feature space of the targets (log-mel is always a second target space).
    layers : tuple of int
        Hidden states averaged into the targets (negative: from the last).
    per_trial_targets : bool
        Run the speech model on each trial's audio alone (from its cue to the next cue),
        so that no context crosses trials; otherwise on the continuous audio.
    seeds : tuple of int
        One cross-validation per seed (folds and training); the shuffled-pairing control
        is retrained once per seed too.
    n_folds : int
    length, offset : float
        Seconds of the brain window, and its start relative to the speech onset: the
        window of the headline, fixed here, never chosen on the results.
    offsets : tuple of float
        Window starts of the offset sweep (a figure with every offset, not a selection).
    planning_window : tuple of float
        Start and end (s, relative to the speech onset) of the window that ends before any
        sound: speech planning, the control against acoustic leakage.
    n_permutations, n_bootstrap : int
        Draws of the permutation nulls and of the bootstrap intervals.
    calibration_words : tuple of int
        Words of a new participant used to fit its own layer, for the calibration curve;
        every size must leave at least 10 of its words to test on.
    training : ContrastiveTraining
        The brain module's sizes and its training.
    """

    speech_model: str = "log-mel"
    layers: tuple[int, ...] = (-4, -3, -2, -1)
    per_trial_targets: bool = True
    seeds: tuple[int, ...] = (0, 1, 2)
    n_folds: int = 5
    length: float = 1.0
    offset: float = -0.2
    offsets: tuple[float, ...] = (-0.8, -0.6, -0.4, -0.2, 0.0, 0.2)
    planning_window: tuple[float, float] = (-0.8, 0.0)
    n_permutations: int = 10000
    n_bootstrap: int = 2000
    calibration_words: tuple[int, ...] = (10, 20, 40, 60)
    training: ContrastiveTraining = field(default_factory=ContrastiveTraining)

    def __post_init__(self) -> None:
        _spaces([self.speech_model], ("speech", "acoustic"))
        if not self.seeds or not self.layers:
            raise ConfigError("seeds and layers need at least one value each")
        if self.n_folds < 2:
            raise ConfigError(f"n_folds must be at least 2, got {self.n_folds}")
        if self.length <= 0:
            raise ConfigError(f"length must be positive seconds, got {self.length}")
        window = self.planning_window
        if len(window) != 2 or not window[0] < window[1] <= 0:
            raise ConfigError(
                f"planning_window must be (start, end) with start < end <= 0 s from the speech "
                f"onset, got {self.planning_window}"
            )
        _positive(self, "n_permutations", "n_bootstrap", most=MAX_DRAWS)
        _positive(self, "n_folds")
        _seeds(*self.seeds)
        if self.length > MAX_LAG_MS / 1000 or max(map(abs, (*self.offsets, *window))) > 10:
            raise ConfigError("length, offsets and planning_window must be within 10 s")
        if not self.calibration_words or min(self.calibration_words) < 2:
            raise ConfigError(
                f"calibration_words needs sizes of at least 2 words, got {self.calibration_words}"
            )


@dataclass(frozen=True)
class Config:
    """The configuration of a run: what each analysis reads.

    Attributes
    ----------
    profile : {"sample", "swpd"}
    participants : tuple of str
        Labels analysed (``"01"`` or ``"sub-01"``); empty: every participant.
    channels : Channels
        Reference and channel selection, shared by every analysis.
    decoding_baseline, paper_protocol, encoding, contrastive
        One section per analysis script.
    """

    profile: str = "sample"
    participants: tuple[str, ...] = ()
    channels: Channels = field(default_factory=Channels)
    decoding_baseline: DecodingBaseline = field(default_factory=DecodingBaseline)
    paper_protocol: PaperProtocol = field(default_factory=PaperProtocol)
    encoding: Encoding = field(default_factory=Encoding)
    contrastive: Contrastive = field(default_factory=Contrastive)

    def __post_init__(self) -> None:
        check_profile(self.profile)
        labels = tuple(str(label).removeprefix("sub-") for label in self.participants)
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ConfigError(f"participants must be unique, repeated: {', '.join(repeated)}")
        object.__setattr__(self, "participants", labels)
        self._check_layers()

    def _check_layers(self) -> None:
        """Raise a ConfigError where a layer is beyond a model's (its architecture card)."""
        encoding, contrastive = self.encoding, self.contrastive
        try:
            for model in encoding.speech_models:
                n_states = cards.hidden_states(model)
                encoding.layer_indices(n_states, model)
                encoding.partition_layer_of(n_states, model)
            for condition in self.paper_protocol.predictors:
                where = f"paper_protocol: {condition.name}: layer"
                cards.check_layers(condition.feature_space, [condition.layer], where)
            if cards.hidden_states(contrastive.speech_model) > 1:  # log-mel: one for all
                cards.check_layers(
                    contrastive.speech_model, contrastive.layers, "contrastive.layers"
                )
        except ValueError as err:
            raise ConfigError(str(err)) from None

    @property
    def simulated(self) -> bool:
        """Whether the profile's data are the simulated sample."""
        return is_simulated(self.profile)

    @property
    def feature_spaces(self) -> list[str]:
        """Every feature space the analyses use, sorted (log-mel always)."""
        used = {"log-mel", self.contrastive.speech_model}
        used.update(c.feature_space for c in self.paper_protocol.predictors)
        used.update(self.encoding.speech_models)
        used.add("nuisance")
        return sorted(used)

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as plain JSON-ready values (lists for tuples)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def slice(self, step: str) -> dict[str, Any]:
        """Return what the analysis ``step`` (a script's name without its number) reads.

        The shared keys (``profile``, ``participants``, ``channels``), and the step's own
        section if it has one.
        """
        values = self.to_dict()
        part = {key: values[key] for key in SHARED}
        if step in _sections():
            part[step] = values[step]
        return part

    def section(self, step: str) -> Any:
        """Return the section of the analysis ``step``, or None if it has none."""
        return getattr(self, step) if step in _sections() else None

    def subjects(
        self, available: Iterable[str], where: str | os.PathLike = "the dataset"
    ) -> list[str]:
        """Return the configured participants among ``available`` (:func:`select_participants`)."""
        return select_participants(self.participants, available, where)


def is_simulated(profile: str) -> bool:
    """Whether the data of ``profile`` are the simulated sample."""
    return profile == "sample"


def select_participants(
    participants: Iterable[str], available: Iterable[str], where: str | os.PathLike
) -> list[str]:
    """Return ``participants`` if all are ``available`` (all of ``available`` if none given).

    Raises
    ------
    ConfigError
        If a participant is not available; names the dataset and its participants.
    """
    participants, available = list(participants), list(available)
    if not participants:
        return available
    missing = [label for label in participants if label not in available]
    if missing:
        raise ConfigError(
            f"participant(s) {', '.join(missing)} not in {where}; it has "
            f"{', '.join(available) or 'none'}"
        )
    return participants


#: The keys of the configuration every step reads.
SHARED = ("profile", "participants", "channels")


def _sections() -> list[str]:
    hints = typing.get_type_hints(Config)
    return [name for name, kind in hints.items() if dataclasses.is_dataclass(kind)]


#: The paper's three predictors as the authors ran them (owaismujtaba/llm_brain_representations:
#: the word's GPT-2 and FastText vectors with 1 s trials; XLS-R's last layer before the final
#: norm, flattened over 2 s, PCA to 90 % of the variance fitted on all trials), and XLS-R
#: with that PCA fitted inside each fold.
_XLSR = {
    "feature_space": "wav2vec2-xls-r-300m",
    "layer": RAW_LAST,
    "pooling": "flatten",
    "pca": 0.9,
}
_PAPER_CONDITIONS = [
    {"name": "GPT-2 (as published)", "feature_space": "gpt2", "published_trial_length": 1.0},
    {
        "name": "FastText (as published)",
        "feature_space": "fasttext-nl",
        "published_trial_length": 1.0,
    },
    {
        "name": "XLS-R (as published)",
        **_XLSR,
        "pca_on_all_trials": True,
        "published_trial_length": 2.0,
    },
    {"name": "XLS-R (PCA in each fold)", **_XLSR},
]
#: The sample exercises the same options on its log-mel frames (no model to run).
_FRAMES = {"feature_space": "log-mel", "pooling": "flatten", "pca": 0.9}
_SAMPLE_CONDITIONS = [
    {"name": "log-mel frames (PCA on all trials)", **_FRAMES, "pca_on_all_trials": True},
    {"name": "log-mel frames (PCA in each fold)", **_FRAMES},
]


def _profile_defaults(profile: str) -> dict[str, Any]:
    """Return the values that differ between the sample and the real data."""
    names = registry.PROFILES.get(profile, ())
    speech = [name for name in names if registry.get(name).kind == "speech"]
    if profile == "sample":
        # the untrained controls: one model, every third hidden state (time on 2 cores)
        return {
            "paper_protocol": {"conditions": _SAMPLE_CONDITIONS},
            "encoding": {
                "speech_models": speech[:1],
                "layers": [0, 3, 6, 9, 12],
                "band_ratios": [0.1, 1.0, 10.0],
                "n_swaps": 40,
                "pca_sensitivity": [16, 32],
                "partition_lags_ms": [-500, 500, 100],
            },
            "contrastive": {"speech_model": speech[0], "calibration_words": [10, 20, 40]},
        }
    return {
        "paper_protocol": {"feature_spaces": list(names), "conditions": _PAPER_CONDITIONS},
        "encoding": {"speech_models": speech},
        "contrastive": {"speech_model": speech[0]},
    }


def _dotted(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def _unknown(key: str, valid: Iterable[str], where: str) -> ConfigError:
    valid = list(valid)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"did you mean {_dotted(where, close[0])!r}? " if close else ""
    return ConfigError(
        f"unknown key {_dotted(where, key)!r}; {hint}valid keys here: {', '.join(valid)}"
    )


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``kind``; return it in the field's type."""
    origin = typing.get_origin(kind)
    if origin is types.UnionType:
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is not type(None):
                try:
                    return _coerce(value, option, where)
                except ConfigError:
                    continue
        names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
        raise ConfigError(f"{where} must be {names}, got {value!r}")
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a table of keys, got {value!r}")
        return _build(kind, value, where)
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        item = typing.get_args(kind)[0]
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a table of keys, got {value!r}")
        return dict(value)
    accepted = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}[kind]
    if isinstance(value, bool) and kind is not bool or not isinstance(value, accepted):
        raise ConfigError(f"{where} must be {kind.__name__}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    return kind(value)


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """Make the dataclass ``cls`` from ``values``, every key and type checked."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise _unknown(str(key), fields, where)
    kwargs = {key: _coerce(value, hints[key], _dotted(where, key)) for key, value in values.items()}
    try:
        return cls(**kwargs)
    except ValueError as err:  # the dataclass's own checks (ConfigError is one)
        raise ConfigError(f"{where}: {err}" if where else str(err)) from None


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read(path: str | os.PathLike) -> dict[str, Any]:
    """Read a configuration file: TOML, or JSON (as written in ``paper/manifest.json``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not a key
    except FileNotFoundError:
        raise FileNotFoundError(f"no configuration file at {path}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path} is not a text file (byte {err.start} is not UTF-8): give a TOML file"
        ) from None
    try:
        values = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path} is not valid {path.suffix.lstrip('.').upper()}: {err}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a table of keys")
    return values


def load(
    path: str | os.PathLike | None = None,
    *,
    profile: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Return the validated configuration: profile defaults, then a file, then overrides.

    Parameters
    ----------
    path : path-like, optional
        A TOML (or JSON) file of keys to change.
    profile : str, optional
        ``"sample"`` or ``"swpd"``; the file may name it too (they must agree). Default:
        ``"sample"``.
    overrides : mapping, optional
        Keys to change after the file's, as nested mappings.

    Raises
    ------
    ConfigError
        An unknown key (the message names the nearest valid one), a value of the wrong
        type or out of range, or a profile that disagrees with the file's.
    """
    if path is None:
        return from_dict(overrides or {}, profile=profile)
    return from_dict(_merge(read(path), overrides or {}), profile=profile, where=str(path))


def from_dict(
    values: Mapping[str, Any], *, profile: str | None = None, where: str = "configuration"
) -> Config:
    """Return the validated configuration from nested mappings over the profile's defaults.

    ``values`` may be a whole configuration as :meth:`Config.to_dict` gives it (the
    manifest records one), or only the keys to change. ``where`` names the source in
    error messages. See :func:`load`.
    """
    given = values.get("profile")
    if profile is not None and given is not None and given != profile:
        raise ConfigError(f"{where} is for profile {given!r}, but profile {profile!r} was asked")
    chosen = given or profile or "sample"
    try:
        check_profile(chosen)
        return _build(Config, _merge(_profile_defaults(chosen), {**values, "profile": chosen}), "")
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
