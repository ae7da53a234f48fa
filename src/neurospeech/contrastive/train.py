"""Training the brain module with the CLIP loss, and reading out its predictions."""

from __future__ import annotations

import contextlib
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


def fit(
    data: Batched,
    targets: np.ndarray,
    train: np.ndarray,
    config: ContrastiveTraining | None = None,
    *,
    seed: int = 0,
    device: str | None = None,
) -> BrainModule:
    """Train a brain module on the rows ``train`` with the CLIP loss.

    Parameters
    ----------
    data : Batched
    targets : ndarray, shape (n_segments, n_features)
        From :func:`pooled_targets`.
    train : ndarray of int
        Training rows.
    config : neurospeech.config.ContrastiveTraining, optional
        Sizes and training (default: its defaults).
    seed : int
        Seeds the weights, the batches and the dropped contacts: on the CPU, the same
        seed gives the same model.
    device : str, optional
        Torch device (``"cuda"``); the CPU by default.

    Returns
    -------
    model : BrainModule
        In evaluation mode.
    """
    config = config or ContrastiveTraining()
    device = torch.device(device or "cpu")
    with _seeded(seed):
        model = BrainModule(
            len(data.subjects),
            data.brain.shape[1],
            data.targets.shape[2],
            n_virtual=config.n_virtual,
            hidden=config.hidden,
            n_blocks=config.n_blocks,
            n_fourier=config.n_fourier,
            contact_dropout=config.contact_dropout,
        ).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    order = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    y = torch.as_tensor(targets, device=device)
    model.train()
    with _deterministic(device):
        for _ in range(config.epochs):
            shuffled = order.permutation(train)
            for start in range(0, len(shuffled), config.batch_size):
                rows = shuffled[start : start + config.batch_size]
                if len(rows) < 2:  # the loss needs another segment to contrast with
                    continue
                predicted = _forward(model, _tensors(data, rows, device), config.pool, generator)
                loss = clip_loss(predicted, y[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return model.eval()


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
