import pytest

from neurospeech import bids


def test_overview_of_the_simulated_dataset(tiny_dataset, tiny_params):
    table = bids.overview(tiny_dataset)
    assert table["participant"].tolist() == ["sub-01", "sub-02"]
    assert table["channels"].tolist() == list(tiny_params.n_channels)
    assert (table["words"] == tiny_params.n_words).all()
    assert (table["sfreq_hz"] == 1024).all() and (table["line_hz"] == 50).all()


def test_overview_of_the_parity_fixture(parity_dir):
    table = bids.overview(parity_dir / "swpd-fixture")
    assert table["channels"].tolist() == [12, 14]
    assert table["words"].tolist() == [20, 20]


def test_not_a_bids_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="no dataset_description.json"):
        bids.subjects(tmp_path)


def test_missing_sidecar_names_the_participant(tiny_dataset):
    with pytest.raises(FileNotFoundError, match="sub-01 has no photo.tsv"):
        bids.sidecar(tiny_dataset, "01", "photo.tsv")
