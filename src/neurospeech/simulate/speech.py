"""A small source-filter synthesizer that speaks Dutch words, in pure NumPy/SciPy.

Each word is split into Dutch graphemes, each grapheme is mapped to a phone class
(vowel, plosive, fricative, nasal, liquid, glide) with its formants or noise band, and
the phones are rendered from a glottal source (a sawtooth with a falling pitch
contour) or from shaped noise, filtered by formant resonators and overlap-added with
short cross-fades. It is not meant to sound natural: it gives every word its own
spectro-temporal pattern, so that acoustic features, speech envelopes and word
identity carry information the way real speech does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

#: Dutch nouns, adjectives and verbs used as the simulated vocabulary.
VOCABULARY: tuple[str, ...] = (
    "appel",
    "auto",
    "avond",
    "bakker",
    "bal",
    "bank",
    "bed",
    "beer",
    "berg",
    "bier",
    "bloem",
    "boek",
    "boom",
    "boot",
    "bos",
    "brief",
    "brood",
    "brug",
    "bus",
    "deur",
    "dorp",
    "duif",
    "ei",
    "eend",
    "fiets",
    "fles",
    "geel",
    "geit",
    "glas",
    "gras",
    "groen",
    "haar",
    "hand",
    "hart",
    "heks",
    "hoed",
    "hond",
    "hoofd",
    "huis",
    "jas",
    "jurk",
    "kaas",
    "kam",
    "kast",
    "kat",
    "kerk",
    "kind",
    "klok",
    "koe",
    "koffie",
    "konijn",
    "koning",
    "kop",
    "kort",
    "koud",
    "kraan",
    "lamp",
    "lepel",
    "leraar",
    "licht",
    "maan",
    "man",
    "markt",
    "melk",
    "mes",
    "muis",
    "muur",
    "neus",
    "nacht",
    "oog",
    "oor",
    "oud",
    "paard",
    "papier",
    "pen",
    "peper",
    "pijp",
    "raam",
    "regen",
    "rivier",
    "rok",
    "roos",
    "schaap",
    "school",
    "schip",
    "sleutel",
    "slak",
    "sneeuw",
    "soep",
    "spin",
    "stoel",
    "straat",
    "suiker",
    "tafel",
    "tand",
    "thee",
    "tien",
    "trein",
    "tuin",
    "uil",
    "vaas",
    "vis",
    "vlag",
    "vogel",
    "voet",
    "vork",
    "vuur",
    "water",
    "weg",
    "wind",
    "winkel",
    "wolk",
    "zak",
    "zee",
    "zes",
    "zon",
    "zout",
    "zus",
    "zwaan",
    "zwart",
)

# Formants (Hz) of Dutch vowels for an adult male voice; scaled per speaker.
_VOWELS: dict[str, tuple[tuple[float, float, float], float]] = {
    # grapheme: ((F1, F2, F3), duration in s)
    "a": ((750, 1250, 2500), 0.10),
    "aa": ((800, 1350, 2600), 0.17),
    "e": ((550, 1800, 2550), 0.09),
    "ee": ((450, 2100, 2650), 0.16),
    "i": ((400, 2000, 2600), 0.08),
    "ie": ((300, 2250, 2900), 0.12),
    "o": ((500, 900, 2500), 0.10),
    "oo": ((450, 850, 2450), 0.16),
    "u": ((420, 1600, 2300), 0.09),
    "uu": ((300, 1750, 2300), 0.14),
    "oe": ((320, 750, 2300), 0.12),
    "eu": ((420, 1500, 2350), 0.16),
    "ij": ((600, 1800, 2500), 0.18),
    "ei": ((600, 1800, 2500), 0.18),
    "ui": ((550, 1500, 2400), 0.18),
    "ou": ((650, 1050, 2450), 0.18),
    "au": ((650, 1050, 2450), 0.18),
    "y": ((600, 1800, 2500), 0.16),
}
# Sonorant consonants: formants, relative amplitude, duration.
_SONORANTS: dict[str, tuple[tuple[float, float, float], float, float]] = {
    "m": ((250, 1100, 2300), 0.35, 0.07),
    "n": ((250, 1500, 2400), 0.35, 0.07),
    "ng": ((250, 2000, 2600), 0.35, 0.08),
    "l": ((360, 1300, 2700), 0.55, 0.06),
    "r": ((450, 1250, 1800), 0.5, 0.06),
    "w": ((300, 700, 2200), 0.5, 0.05),
    "j": ((280, 2200, 3000), 0.5, 0.05),
}
# Obstruents: kind, noise band (Hz), relative amplitude, duration, voiced.
_OBSTRUENTS: dict[str, tuple[str, tuple[float, float], float, float, bool]] = {
    "p": ("plosive", (500, 1500), 0.5, 0.09, False),
    "b": ("plosive", (300, 1200), 0.35, 0.08, True),
    "t": ("plosive", (3000, 6000), 0.5, 0.09, False),
    "d": ("plosive", (2500, 5000), 0.35, 0.08, True),
    "k": ("plosive", (1500, 3000), 0.5, 0.1, False),
    "f": ("fricative", (1500, 7500), 0.15, 0.1, False),
    "v": ("fricative", (1500, 7000), 0.12, 0.09, True),
    "s": ("fricative", (4500, 9000), 0.35, 0.11, False),
    "z": ("fricative", (4000, 8500), 0.25, 0.1, True),
    "ch": ("fricative", (1200, 3500), 0.3, 0.11, False),
    "g": ("fricative", (1200, 3500), 0.25, 0.1, True),
    "h": ("fricative", (400, 5000), 0.08, 0.06, False),
}
_ALIASES = {"c": "k", "q": "k", "x": "s", "sch": "s"}  # sch is rendered s + ch below
_GRAPHEMES = sorted(
    set(_VOWELS) | set(_SONORANTS) | set(_OBSTRUENTS) | set(_ALIASES), key=len, reverse=True
)


#: How the numbers among the real dataset's words (``1`` to ``12``) are spoken.
NUMBERS = {
    str(n): name
    for n, name in enumerate(
        "nul een twee drie vier vijf zes zeven acht negen tien elf twaalf".split()
    )
}


def graphemes(word: str) -> list[str]:
    """Split a Dutch word into the graphemes the synthesizer knows.

    Parameters
    ----------
    word : str
        A word of letters a-z (case is ignored; other characters are skipped), or a
        number of :data:`NUMBERS`, spoken as its Dutch name.

    Returns
    -------
    units : list of str
        Greedy longest-match graphemes, e.g. ``"schaap" -> ["s", "ch", "aa", "p"]``.

    Raises
    ------
    ValueError
        If the word contains no letter the synthesizer can speak.
    """
    text = "".join(ch for ch in NUMBERS.get(word.strip(), word).lower() if "a" <= ch <= "z")
    units: list[str] = []
    i = 0
    while i < len(text):
        for g in _GRAPHEMES:
            if text.startswith(g, i):
                if g == "sch":
                    units += ["s", "ch"]
                else:
                    units.append(_ALIASES.get(g, g))
                i += len(g)
                break
        else:  # pragma: no cover - every letter a-z is covered above
            i += 1
    if not units:
        raise ValueError(f"cannot synthesize {word!r}: it has no letters a-z")
    return units


@dataclass(frozen=True)
class Speaker:
    """Voice of one simulated participant.

    Parameters
    ----------
    f0 : float
        Mean fundamental frequency in Hz.
    formant_scale : float
        Multiplier on every formant (about 1.15 for a shorter vocal tract).
    rate : float
        Speaking-rate multiplier on phone durations (below 1 is faster).
    """

    f0: float
    formant_scale: float
    rate: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> Speaker:
        """Draw a male- or female-sounding voice."""
        female = rng.random() < 0.5
        f0 = rng.uniform(185, 225) if female else rng.uniform(100, 135)
        scale = rng.uniform(1.1, 1.2) if female else rng.uniform(0.95, 1.05)
        return cls(f0=float(f0), formant_scale=float(scale), rate=float(rng.uniform(0.9, 1.1)))


def _resonators(formants: tuple[float, ...], sfreq: float) -> np.ndarray:
    """Second-order sections of a cascade of formant resonators (unit gain at DC)."""
    sos = []
    for f, bw in zip(formants, (90.0, 110.0, 160.0)):
        f = min(f, 0.45 * sfreq)
        r = np.exp(-np.pi * bw / sfreq)
        a = [1.0, -2 * r * np.cos(2 * np.pi * f / sfreq), r * r]
        sos.append([sum(a), 0.0, 0.0, *a])
    return np.asarray(sos)


def _band_noise(n: int, band: tuple[float, float], sfreq: float, rng: np.random.Generator):
    """White noise band-passed to ``band`` (Hz), unit RMS."""
    hi = min(band[1], 0.45 * sfreq)
    sos = signal.butter(2, [band[0], hi], btype="bandpass", fs=sfreq, output="sos")
    return _unit_rms(signal.sosfilt(sos, rng.standard_normal(n + 256))[256:])


def _unit_rms(x: np.ndarray) -> np.ndarray:
    """Scale ``x`` to unit root-mean-square."""
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _ramp(n: int, sfreq: float, attack: float = 0.012, release: float = 0.012) -> np.ndarray:
    """Raised-cosine on/off ramps of an ``n``-sample segment."""
    env = np.ones(n)
    for length, sl in ((attack, slice(None)), (release, slice(None, None, -1))):
        m = min(n // 2, max(1, int(length * sfreq)))
        env[sl][:m] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(m) / m)
    return env


def synthesize_word(
    word: str, speaker: Speaker, sfreq: float, rng: np.random.Generator, max_duration: float
) -> np.ndarray:
    """Render one spoken word.

    Parameters
    ----------
    word : str
        The word to speak.
    speaker : Speaker
        The voice.
    sfreq : float
        Output sampling rate in Hz.
    rng : numpy.random.Generator
        Source of the word's jitter (duration, pitch, amplitude) and noise.
    max_duration : float
        The word is time-compressed to fit this many seconds if needed.

    Returns
    -------
    audio : ndarray, shape (n_samples,)
        The waveform, peak amplitude near 1.
    """
    units = graphemes(word)
    durations = []
    for u in units:
        if u in _VOWELS:
            durations.append(_VOWELS[u][1])
        elif u in _SONORANTS:
            durations.append(_SONORANTS[u][2])
        else:
            durations.append(_OBSTRUENTS[u][3])
    durations = np.asarray(durations) * speaker.rate * rng.uniform(0.92, 1.08)
    durations *= min(1.0, max_duration / durations.sum())
    lengths = np.maximum((durations * sfreq).astype(int), 16)
    total = int(lengths.sum())

    # Glottal source for the whole word: falling pitch with slight jitter.
    t = np.arange(total) / sfreq
    f0 = speaker.f0 * rng.uniform(0.95, 1.05) * np.linspace(1.08, 0.9, total)
    f0 *= 1 + 0.01 * np.sin(2 * np.pi * rng.uniform(4, 6) * t)
    phase = 2 * np.pi * np.cumsum(f0) / sfreq
    voice = signal.sawtooth(phase, width=0.85) + 0.05 * rng.standard_normal(total)

    out = np.zeros(total + int(0.02 * sfreq))
    start = 0
    for u, n in zip(units, lengths):
        seg_voice = voice[start : start + n]
        if u in _VOWELS or u in _SONORANTS:
            formants, amp = (_VOWELS[u][0], 1.0) if u in _VOWELS else _SONORANTS[u][:2]
            scaled = tuple(f * speaker.formant_scale for f in formants)
            seg = amp * _unit_rms(signal.sosfilt(_resonators(scaled, sfreq), seg_voice))
            if u == "r":  # an alveolar trill: amplitude modulation at about 25 Hz
                seg *= 0.6 + 0.4 * np.cos(2 * np.pi * 25 * np.arange(n) / sfreq)
        else:
            kind, band, amp, _, voiced = _OBSTRUENTS[u]
            noise = amp * _band_noise(n, band, sfreq, rng)
            if kind == "plosive":  # closure (silence or voice bar), burst, aspiration
                closure = int(0.6 * n)
                noise[:closure] = 0.0
                noise[closure:] *= np.exp(-np.arange(n - closure) / (0.015 * sfreq))
            seg = noise
            if voiced:
                bar = signal.sosfilt(_resonators((250.0, 1000.0, 2500.0), sfreq), seg_voice)
                seg = seg + 0.15 * _unit_rms(bar)
        out[start : start + n] += seg * _ramp(n, sfreq)
        start += n
    out *= _ramp(out.size, sfreq, attack=0.015, release=0.04)
    return out / (np.max(np.abs(out)) + 1e-12)
