"""The published numbers on the real dataset (``-m realdata``; needs ``data/swpd``).

Skipped, with the reason, unless ``data/swpd`` holds the real SingleWordProductionDutch
files (every NWB file of the published size: ``neurospeech fetch``). Then the decoding
baseline equals the official pipeline's outputs on the real data (``linearResults``,
``explainedVariance`` in ``../shared/swpd-metadata/reference``) to 1e-6, as do its
frame labels and feature names, and the paper protocol's arrays have the real shapes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, SHARED

from neurospeech import bids, datasets, decoding, embeddings, highgamma, paper_protocol

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

ROOT = REPO / "data" / "swpd"
REFERENCE = SHARED / "swpd-metadata" / "reference"
SUBJECTS = [f"{n:02d}" for n in range(1, 11)]


@pytest.fixture(scope="module")
def real_root():
    if not REFERENCE.is_dir():
        pytest.skip(f"the official outputs are not under {REFERENCE}")
    try:
        datasets.check_nwb_files(ROOT, hashes=False)  # sizes only: instant
    except (OSError, ValueError) as err:
        pytest.skip(
            f"{ROOT} does not hold the real dataset (fetch it with `neurospeech fetch`): "
            f"{str(err).splitlines()[-1]}"
        )
    return ROOT


def test_every_nwb_file_is_the_published_one(real_root):
    datasets.check_nwb_files(real_root)  # sha256 too


@pytest.mark.filterwarnings("ignore::neurospeech.bids.RecordingWarning")
@pytest.mark.parametrize("sub", SUBJECTS)
def test_the_decoding_baseline_equals_the_official_outputs(real_root, sub):
    index = SUBJECTS.index(sub)
    recording = bids.read_recording(real_root, sub)
    stacked, spec, words = decoding.reference_features(recording)
    official_words = np.load(REFERENCE / f"sub-{sub}_procWords.npy").astype(str)
    np.testing.assert_array_equal(words, official_words[: len(words)])
    assert len(words) == len(official_words)
    names = np.load(REFERENCE / f"sub-{sub}_feat_names.npy").astype(str)
    np.testing.assert_array_equal(highgamma.stacked_names(recording.ch_names), names)
    result = decoding.linear_reconstruction(stacked, spec)
    np.testing.assert_allclose(
        result.r, np.load(REFERENCE / "linearResults.npy")[index], rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(
        result.explained_variance,
        np.load(REFERENCE / "explainedVariance.npy")[index],
        rtol=0,
        atol=1e-6,
    )


@pytest.mark.filterwarnings("ignore::neurospeech.bids.RecordingWarning")
@pytest.mark.parametrize("sub", ["01", "10"])
def test_the_paper_protocols_arrays_have_the_real_shapes(real_root, sub):
    frames = pd.read_csv(REFERENCE / "frames.csv").set_index("participant").loc[f"sub-{sub}"]
    recording = bids.read_recording(real_root, sub)
    assert recording.ieeg.shape == (frames["n_ieeg_samples"], frames["n_channels"])
    for trial_length in (1.0, 2.0):
        targets = paper_protocol.trial_means(recording, trial_length)
        assert targets.shape == (frames["n_words"], frames["n_channels"])
        predictors = embeddings.word_level("log-mel", recording, trial_length)
        assert predictors.shape == (1, frames["n_words"], 23)
