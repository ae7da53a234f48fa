"""The brain module: spatial attention over contacts, a per-participant layer, dilated convolutions.

Adapted to sEEG from the brain module of Defossez et al. (2023): sensors there sit on a
2-D layout shared by all participants; here each participant has its own contacts, so the
attention reads 3-D ACPC coordinates through Fourier features, and batches mix
participants with different numbers of contacts (padded, masked).
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: ACPC coordinates (mm) are mapped to [0, 1] from this box before the Fourier features.
BOX_MM = (-100.0, 100.0)


class SpatialAttention(nn.Module):
    """Virtual channels as softmax-weighted sums of the contacts, from their positions.

    Each position becomes ``2 * n_fourier**3`` Fourier features (cosine and sine of
    ``2 pi (k x + l y + m z) / (1 + 2 margin)`` for ``k, l, m < n_fourier``, coordinates
    scaled to [0, 1] and moved in by ``margin``): with a margin, the two ends of the box
    do not share a phase, so opposite positions differ. A linear map of those gives each
    contact a score per virtual channel, and a softmax over the contacts (masked: padding
    and dropped contacts take no weight) turns the scores into weights.

    Parameters
    ----------
    n_virtual : int
        Virtual channels out.
    n_fourier : int
        Frequencies per axis.
    margin : float
        Margin of the Fourier features, in units of the box (Defossez et al.: 0.2).
    dropout_radius : float
        In training, the contacts within this many mm of a point drawn at random for each
        segment (one of its contacts) take no weight; 0 turns the spatial dropout off.
        At least one contact is kept.
    """

    def __init__(
        self,
        n_virtual: int,
        n_fourier: int = 4,
        margin: float = 0.2,
        dropout_radius: float = 10.0,
    ) -> None:
        super().__init__()
        grid = torch.stack(
            torch.meshgrid(*[torch.arange(n_fourier, dtype=torch.float32)] * 3, indexing="ij"),
            dim=-1,
        ).reshape(-1, 3)
        self.register_buffer("frequencies", grid)
        self.scores = nn.Linear(2 * len(grid), n_virtual)
        self.margin = margin
        self.dropout_radius = dropout_radius

    def features(self, positions: torch.Tensor) -> torch.Tensor:
        """Fourier features of ACPC positions (mm), shape (..., 2 * n_fourier**3)."""
        low, high = BOX_MM
        unit = ((positions - low) / (high - low)).clamp(0.0, 1.0)
        phase = 2 * math.pi * (unit + self.margin) @ self.frequencies.T / (1 + 2 * self.margin)
        return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)

    def dropped(
        self, positions: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Return the contacts the spatial dropout keeps: all but a ball around one contact."""
        draw = torch.rand(mask.shape, generator=generator, device=mask.device)
        centre = draw.masked_fill(~mask, -1.0).argmax(dim=1)  # a random real contact
        centres = positions[torch.arange(len(positions), device=mask.device), centre]
        inside = (positions - centres[:, None]).norm(dim=-1) <= self.dropout_radius
        kept = mask & ~inside
        return torch.where(kept.any(dim=1, keepdim=True), kept, mask)

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Mix the contacts.

        Parameters
        ----------
        x : Tensor, shape (batch, signals, contacts, times)
        positions : Tensor, shape (batch, contacts, 3)
        mask : Tensor of bool, shape (batch, contacts)
            True for real contacts, False for padding.
        generator : torch.Generator, optional
            Draws the dropped contacts in training.

        Returns
        -------
        Tensor, shape (batch, signals * n_virtual, times)
        """
        scores = self.scores(self.features(positions))
        keep = mask
        if self.training and self.dropout_radius > 0:
            keep = self.dropped(positions, mask, generator)
        scores = scores.masked_fill(~keep[..., None], float("-inf"))
        weights = torch.softmax(scores, dim=1)  # batch, contacts, virtual
        mixed = torch.einsum("bsct,bcv->bsvt", x, weights)
        return mixed.flatten(1, 2)


class ResidualBlock(nn.Module):
    """Two residual dilated convolutions (batch norm, GELU), then a convolution with a GLU."""

    def __init__(self, channels: int, dilations: tuple[int, int], kernel: int = 3) -> None:
        super().__init__()
        self.residual = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(channels, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2),
                nn.BatchNorm1d(channels),
                nn.GELU(),
            )
            for d in dilations
        )
        self.gate = nn.Sequential(
            nn.Conv1d(channels, 2 * channels, kernel, padding=(kernel - 1) // 2), nn.GLU(dim=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to ``x`` of shape (batch, channels, times)."""
        for layer in self.residual:
            x = x + layer(x)
        return self.gate(x)


class BrainModule(nn.Module):
    """From the contacts of any participant to a time series in the target space.

    Parameters
    ----------
    n_subjects : int
        Participants, each with its own linear layer after the spatial attention.
    n_signals : int
        Input signals per contact (1: high-gamma; 2: with the broadband signal).
    dim : int
        Target dimension.
    n_virtual, hidden, n_blocks
        Virtual channels of the attention, width of the convolutions, residual blocks
        (dilations ``2 ** (2k % 5)`` and ``2 ** ((2k + 1) % 5)`` in block ``k``).
    n_fourier, margin, dropout_radius
        Of the spatial attention (:class:`SpatialAttention`).
    """

    def __init__(
        self,
        n_subjects: int,
        n_signals: int,
        dim: int,
        *,
        n_virtual: int = 32,
        hidden: int = 64,
        n_blocks: int = 3,
        n_fourier: int = 4,
        margin: float = 0.2,
        dropout_radius: float = 10.0,
    ) -> None:
        super().__init__()
        width = n_signals * n_virtual
        self.attention = SpatialAttention(n_virtual, n_fourier, margin, dropout_radius)
        self.subject_layers = nn.Parameter(torch.eye(width).repeat(n_subjects, 1, 1))
        self.entry = nn.Conv1d(width, hidden, 1)
        self.blocks = nn.Sequential(
            *[
                ResidualBlock(hidden, (2 ** (2 * k % 5), 2 ** ((2 * k + 1) % 5)))
                for k in range(n_blocks)
            ]
        )
        self.head = nn.Sequential(nn.Conv1d(hidden, 2 * hidden, 1), nn.GELU())
        self.projection = nn.Conv1d(2 * hidden, dim, 1)

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor,
        subject: torch.Tensor,
        generator: torch.Generator | None = None,
        pool: int = 1,
    ) -> torch.Tensor:
        """Map a batch of segments to the target space.

        Parameters
        ----------
        x : Tensor, shape (batch, signals, contacts, times)
        positions : Tensor, shape (batch, contacts, 3)
        mask : Tensor of bool, shape (batch, contacts)
        subject : Tensor of int, shape (batch,)
            Index of each segment's participant.
        generator : torch.Generator, optional
        pool : int
            Average the output over bins of ``pool`` frames. The last layer is linear,
            so the bins are taken before it: the same result, ``pool`` times cheaper.

        Returns
        -------
        Tensor, shape (batch, dim, times // pool)
        """
        mixed = self.attention(x, positions, mask, generator)
        mixed = torch.einsum("bvt,bwv->bwt", mixed, self.subject_layers[subject])
        hidden = self.head(self.blocks(self.entry(mixed)))
        if pool > 1:
            hidden = nn.functional.avg_pool1d(hidden, pool)
        return self.projection(hidden)
