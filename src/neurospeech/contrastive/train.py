"""Training the brain module with the CLIP loss, and reading out its predictions."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from neurospeech.config import ContrastiveTraining
from neurospeech.contrastive.data import Segments
from neurospeech.contrastive.model import BrainModule


@dataclass(frozen=True)
class Batched:
    """Segments of several participants in one padded array.

    Attributes
    ----------
    brain : ndarray, shape (n_segments, n_signals, max_contacts, n_times), float32
        Zero beyond each participant's contacts.
    positions : ndarray, shape (n_segments, max_contacts, 3), float32
    mask : ndarray of bool, shape (n_segments, max_contacts)
    subject : ndarray of int, shape (n_segments,)
        Index into ``subjects``.
    targets : ndarray, shape (n_segments, n_times, dim), float32
    words : ndarray of str
    subjects : tuple of str
    """

    brain: np.ndarray
    positions: np.ndarray
    mask: np.ndarray
    subject: np.ndarray
    targets: np.ndarray
    words: np.ndarray
    subjects: tuple[str, ...]


def batched(segments: Sequence[Segments]) -> Batched:
    """Pad and concatenate the segments of several participants.

    Raises
    ------
    ValueError
        If the participants' segments differ in length, signals or target dimension.
    """
    if not segments:
        raise ValueError("no participants were given")
    shapes = {(s.brain.shape[1], s.brain.shape[3], s.targets.shape[1:]) for s in segments}
    if len(shapes) > 1:
        raise ValueError(
            "every participant's segments must have the same signals, length and target "
            f"dimension; got (signals, times, target shape) {sorted(shapes)}"
        )
    n_signals, n_times, _ = shapes.pop()
    width = max(s.brain.shape[2] for s in segments)
    n = sum(len(s) for s in segments)
    brain = np.zeros((n, n_signals, width, n_times), np.float32)
    positions = np.zeros((n, width, 3), np.float32)
    mask = np.zeros((n, width), bool)
    row = 0
    for s in segments:
        rows, contacts = slice(row, row + len(s)), s.brain.shape[2]
        brain[rows, :, :contacts] = s.brain
        positions[rows, :contacts] = s.positions
        mask[rows, :contacts] = True
        row += len(s)
    return Batched(
        brain=brain,
        positions=positions,
        mask=mask,
        subject=np.repeat(np.arange(len(segments)), [len(s) for s in segments]),
        targets=np.concatenate([s.targets for s in segments]),
        words=np.concatenate([s.words for s in segments]),
        subjects=tuple(s.subject for s in segments),
    )


def pooled_targets(targets: np.ndarray, train: np.ndarray, pool: int) -> np.ndarray:
    """Z-score each target dimension on the training segments, average ``pool`` frames.

    Returns
    -------
    ndarray, shape (n_segments, dim * (n_times // pool)), float32
        Flattened dimension-major, as the brain module's pooled output is.
    """
    frames = targets[train].reshape(-1, targets.shape[2])
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    z = (targets - mean) / np.where(std > 0, std, 1.0)
    n_bins = targets.shape[1] // pool
    if n_bins < 1:
        raise ValueError(f"segments of {targets.shape[1]} frames are shorter than pool={pool}")
    binned = z[:, : n_bins * pool].reshape(len(z), n_bins, pool, -1).mean(axis=2)
    return np.ascontiguousarray(binned.transpose(0, 2, 1).reshape(len(z), -1), np.float32)


def similarity(predicted: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Scores of every prediction against every target: ``<z_i, y_j> / ||y_j||``."""
    return predicted @ F.normalize(targets, dim=1).T


def clip_loss(predicted: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of finding each segment's own target among the batch's."""
    logits = similarity(predicted, targets)
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


def _tensors(data: Batched, rows: np.ndarray, device) -> tuple[torch.Tensor, ...]:
    return tuple(
        torch.as_tensor(values[rows], device=device)
        for values in (data.brain, data.positions, data.mask, data.subject)
    )


def _forward(model: BrainModule, inputs, pool: int, generator=None) -> torch.Tensor:
    return model(*inputs, generator=generator, pool=pool).flatten(1)


@contextlib.contextmanager
def _deterministic(device: torch.device):
    """Compute on one CPU thread (on a GPU: nothing changes).

    PyTorch's multi-threaded CPU kernels (convolution and batch-norm gradients) do not
    sum in a fixed order, so two trainings would differ in the last bits and then drift
    apart. At these sizes one thread is as fast as two.
    """
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _seeded(seed: int):
    """Draw torch's global random numbers (weight initialization) from ``seed`` only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def new_model(data: Batched, config: ContrastiveTraining, seed: int) -> BrainModule:
    """Make a brain module for the participants, signals and targets of ``data``, seeded."""
    with _seeded(seed):
        return BrainModule(
            len(data.subjects),
            data.brain.shape[1],
            data.targets.shape[2],
            n_virtual=config.n_virtual,
            hidden=config.hidden,
            n_blocks=config.n_blocks,
            n_fourier=config.n_fourier,
            margin=config.fourier_margin,
            dropout_radius=config.dropout_radius,
        )


def validation_split(
    words: np.ndarray, rows: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Set aside ``share`` of the distinct words of ``rows`` (all their segments).

    Returns
    -------
    fitted, validation : ndarray of int
        ``validation`` is empty where fewer than 4 words would be set aside: too few for
        a loss to stop on.
    """
    unique = np.unique(words[rows])
    n_out = int(share * len(unique))
    if n_out < 4:
        return rows, rows[:0]
    out = np.random.default_rng(seed).choice(unique, n_out, replace=False)
    aside = np.isin(words[rows], out)
    return rows[~aside], rows[aside]


def fit(
    data: Batched,
    targets: np.ndarray,
    train: np.ndarray,
    config: ContrastiveTraining | None = None,
    *,
    seed: int = 0,
    device: str | None = None,
    start: BrainModule | None = None,
) -> BrainModule:
    """Train a brain module on the rows ``train`` with the CLIP loss, with early stopping.

    Parameters
    ----------
    data : Batched
    targets : ndarray, shape (n_segments, n_features)
        From :func:`pooled_targets`.
    train : ndarray of int
        Training rows. ``config.validation`` of their words are set aside for early
        stopping (:func:`validation_split`): no other row is looked at.
    config : neurospeech.config.ContrastiveTraining, optional
        Sizes and training (default: its defaults).
    seed : int
        Seeds the weights, the validation words, the batches and the dropped contacts:
        on the CPU, the same seed gives the same model.
    device : str, optional
        Torch device (``"cuda"``); the CPU by default.
    start : BrainModule, optional
        A trained module: only the participants' own layers of a copy of it are fitted
        (the shared weights and the batch-norm statistics stay), as for a new participant
        calibrated on a few words.

    Returns
    -------
    model : BrainModule
        The weights of the epoch with the lowest validation loss, in evaluation mode.
    """
    config = config or ContrastiveTraining()
    device = torch.device(device or "cpu")
    if start is None:
        model = new_model(data, config, seed).to(device)
        parameters = list(model.parameters())
    else:
        model = copy.deepcopy(start).to(device)
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        parameters = [model.subject_layers.requires_grad_(True)]
    fitted, validation = validation_split(data.words, train, config.validation, seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    order = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(
        parameters, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    y = torch.as_tensor(targets, device=device)
    best, best_loss, waited = None, np.inf, 0
    with _deterministic(device):
        for _ in range(config.epochs):
            _train_mode(model, shared=start is None)
            shuffled = order.permutation(fitted)
            for first in range(0, len(shuffled), config.batch_size):
                rows = shuffled[first : first + config.batch_size]
                if len(rows) < 2:  # the loss needs another segment to contrast with
                    continue
                predicted = _forward(model, _tensors(data, rows, device), config.pool, generator)
                loss = clip_loss(predicted, y[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if not len(validation):
                continue
            loss = _loss(model, data, y, validation, config.pool, device)
            if loss < best_loss:
                best, best_loss, waited = copy.deepcopy(model.state_dict()), loss, 0
            else:
                waited += 1
                if waited >= config.patience:
                    break
    if best is not None:
        model.load_state_dict(best)
    return model.eval()


def _train_mode(model: BrainModule, *, shared: bool) -> None:
    """Training mode; with ``shared=False`` the batch norms keep their statistics."""
    model.train()
    if not shared:
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.eval()


def _loss(model: BrainModule, data: Batched, y: torch.Tensor, rows, pool: int, device) -> float:
    """Return the CLIP loss of ``rows`` all at once, without dropout."""
    model.eval()
    with torch.inference_mode():
        predicted = _forward(model, _tensors(data, rows, device), pool)
        return float(clip_loss(predicted, y[rows]))


def predict(
    model: BrainModule, data: Batched, rows: np.ndarray, pool: int, *, device: str | None = None
) -> np.ndarray:
    """Return the model's pooled, flattened output for the segments ``rows`` (no dropout)."""
    device = torch.device(device or "cpu")
    model.eval()
    with torch.inference_mode(), _deterministic(device):
        parts = [
            _forward(model, _tensors(data, rows[start : start + 256], device), pool).cpu()
            for start in range(0, len(rows), 256)
        ]
    return torch.cat(parts).numpy()
