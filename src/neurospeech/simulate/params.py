"""Validated parameters of the simulated SWPD-layout dataset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def _per_subject(value: int | Sequence[int], n_subjects: int, name: str) -> tuple[int, ...]:
    """Broadcast an int to every subject, or check a sequence has one entry each."""
    if isinstance(value, int):
        return (value,) * n_subjects
    values = tuple(int(v) for v in value)
    if len(values) != n_subjects:
        raise ValueError(
            f"{name} has {len(values)} entries but n_subjects is {n_subjects}; give one "
            f"value per subject or a single int"
        )
    return values


@dataclass(frozen=True)
class SimulationParams:
    """Everything that determines a simulated dataset, bytes included.

    Parameters
    ----------
    n_subjects : int
        Number of participants (``sub-01`` ...).
    n_words : int
        Words read aloud per participant. Each trial is a word cue of
        ``word_duration`` seconds followed by a fixation cross of
        ``fixation_duration`` seconds, as in SingleWordProductionDutch.
    n_channels : int | sequence of int
        sEEG contacts per participant.
    n_responsive : int | sequence of int
        Contacts whose high-gamma amplitude follows the speech features.
    n_latent_channels : int | sequence of int
        Contacts whose high-gamma also responds to the word-level latent property.
    n_timing_channels : int | sequence of int
        Contacts whose high-gamma follows only *when* the participant speaks: a step
        from each word's speech onset to its offset (0.05 s ramps), with a lag, whatever
        the word's sound. Chosen among the contacts without other planted responses (a
        stream of their own: the rest of the participant does not depend on it).
    n_latent_dims : int
        Dimensions of the per-word latent property (a stand-in for a semantic feature).
    n_contaminated : int | sequence of int
        Contacts that pick up the microphone's sound (acoustic contamination, Roussel
        et al. 2020): a copy of the audio waveform, resampled to the iEEG clock (which
        low-passes it below the iEEG's Nyquist rate), is added to them. Chosen among the
        contacts without planted responses first.
    contamination_gain : float
        Peak amplitude (uV) of the leaked sound; each contaminated contact draws its gain
        from 0.75 to 1.25 times this value.
    sfreq : float
        iEEG sampling rate in Hz (1024 in the real data).
    audio_sfreq : float
        Audio sampling rate in Hz (48000 in the real data).
    line_freq : float
        Power-line frequency in Hz; harmonics up to the Nyquist rate are added.
    word_duration, fixation_duration : float
        Durations in seconds of the word cue and of the fixation cross.
    speech_delay : tuple of float
        Range in seconds of the delay between cue and speech onset.
    lag_range_ms : tuple of int
        Range of planted lags in milliseconds; negative means the brain leads the audio.
    seed : int
        Seed of every random draw. The same parameters give the same bytes.
    """

    n_subjects: int = 3
    n_words: int = 60
    n_channels: int | Sequence[int] = (16, 24, 32)
    n_responsive: int | Sequence[int] = (8, 12, 16)
    n_latent_channels: int | Sequence[int] = 3
    n_timing_channels: int | Sequence[int] = 2
    n_latent_dims: int = 2
    n_contaminated: int | Sequence[int] = 2
    contamination_gain: float = 80.0
    sfreq: float = 1024.0
    audio_sfreq: float = 48000.0
    line_freq: float = 50.0
    word_duration: float = 2.0
    fixation_duration: float = 1.0
    speech_delay: tuple[float, float] = (0.4, 0.9)
    lag_range_ms: tuple[int, int] = (-300, 100)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_subjects < 1:
            raise ValueError(f"n_subjects must be at least 1, got {self.n_subjects}")
        if self.n_subjects > 99:
            raise ValueError(
                f"n_subjects must be at most 99 (sub-01..sub-99), got {self.n_subjects}"
            )
        if self.n_words < 1:
            raise ValueError(f"n_words must be at least 1, got {self.n_words}")
        for name in ("sfreq", "audio_sfreq", "line_freq", "word_duration", "fixation_duration"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.sfreq / 2 <= 170:
            raise ValueError(
                f"sfreq must exceed 340 Hz so that high gamma (70-170 Hz) is below Nyquist, "
                f"got {self.sfreq}"
            )
        if self.audio_sfreq < 16000:
            raise ValueError(f"audio_sfreq must be at least 16000 Hz, got {self.audio_sfreq}")
        lo, hi = self.speech_delay
        if not 0 <= lo <= hi < self.word_duration - 0.3:
            raise ValueError(
                f"speech_delay {self.speech_delay} must satisfy 0 <= low <= high and leave at "
                f"least 0.3 s of speech inside the {self.word_duration} s word cue"
            )
        lag_lo, lag_hi = self.lag_range_ms
        if lag_lo > lag_hi:
            raise ValueError(f"lag_range_ms {self.lag_range_ms} must be (low, high)")
        if self.n_latent_dims < 1:
            raise ValueError(f"n_latent_dims must be at least 1, got {self.n_latent_dims}")
        if self.contamination_gain < 0:
            raise ValueError(
                f"contamination_gain must be non-negative, got {self.contamination_gain}"
            )
        channels = _per_subject(self.n_channels, self.n_subjects, "n_channels")
        responsive = _per_subject(self.n_responsive, self.n_subjects, "n_responsive")
        latent = _per_subject(self.n_latent_channels, self.n_subjects, "n_latent_channels")
        leaky = _per_subject(self.n_contaminated, self.n_subjects, "n_contaminated")
        timing = _per_subject(self.n_timing_channels, self.n_subjects, "n_timing_channels")
        for sub, (n_ch, n_resp, n_lat, n_leak, n_time) in enumerate(
            zip(channels, responsive, latent, leaky, timing), 1
        ):
            if n_ch < 1:
                raise ValueError(f"sub-{sub:02d}: n_channels must be at least 1, got {n_ch}")
            counts = (("n_responsive", n_resp), ("n_latent_channels", n_lat))
            for name, count in (*counts, ("n_contaminated", n_leak), ("n_timing_channels", n_time)):
                if not 0 <= count <= n_ch:
                    raise ValueError(
                        f"sub-{sub:02d}: {name}={count} must be between 0 and the "
                        f"{n_ch} channels of that subject"
                    )
            if n_time > n_ch - n_resp:
                raise ValueError(
                    f"sub-{sub:02d}: n_timing_channels={n_time} must be at most the "
                    f"{n_ch - n_resp} channels that do not follow the speech"
                )
        object.__setattr__(self, "n_channels", channels)
        object.__setattr__(self, "n_responsive", responsive)
        object.__setattr__(self, "n_latent_channels", latent)
        object.__setattr__(self, "n_contaminated", leaky)
        object.__setattr__(self, "n_timing_channels", timing)
        object.__setattr__(self, "speech_delay", (float(lo), float(hi)))
        object.__setattr__(self, "lag_range_ms", (int(lag_lo), int(lag_hi)))

    @property
    def trial_duration(self) -> float:
        """Seconds from one word cue to the next."""
        return self.word_duration + self.fixation_duration

    @property
    def subjects(self) -> list[str]:
        """BIDS subject labels, without the ``sub-`` prefix."""
        return [f"{i:02d}" for i in range(1, self.n_subjects + 1)]

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as JSON-serialisable values."""
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _field_spec(name: str) -> tuple[type, int | str | None]:
    """Element type and argparse ``nargs`` of a :class:`SimulationParams` field."""
    default = getattr(SimulationParams(), name)
    if isinstance(default, tuple):
        return type(default[0]), ("+" if name.startswith("n_") else len(default))
    return type(default), None


def add_arguments(parser) -> None:
    """Add one ``--option`` per :class:`SimulationParams` field to an argparse parser."""
    defaults = SimulationParams()
    for name in SimulationParams.__dataclass_fields__:
        kind, nargs = _field_spec(name)
        value = getattr(defaults, name)
        shown = " ".join(map(str, value)) if isinstance(value, tuple) else value
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=kind,
            nargs=nargs,
            default=None,
            help=f"(default: {shown})",
        )


def from_arguments(namespace) -> SimulationParams:
    """Build :class:`SimulationParams` from parsed ``--option`` values (unset: default)."""
    given = {}
    for name in SimulationParams.__dataclass_fields__:
        value = getattr(namespace, name)
        if value is not None:
            given[name] = tuple(value) if isinstance(value, list) else value
    return SimulationParams(**given)


def to_arguments(params: SimulationParams) -> list[str]:
    """Return the command-line options that rebuild ``params`` (see :func:`from_arguments`)."""
    args = []
    for name, value in params.to_dict().items():
        args.append(f"--{name.replace('_', '-')}")
        args += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return args
