import os
import signal
import subprocess
import sys
import time

import pytest

from neurospeech.cli import main


def test_simulate_command(tmp_path):
    code = main(
        [
            "simulate",
            str(tmp_path / "ds"),
            "--n-subjects",
            "1",
            "--n-words",
            "2",
            "--n-channels",
            "3",
            "--n-responsive",
            "1",
            "--n-latent-channels",
            "1",
            "--no-progress",
        ]
    )
    assert code == 0
    assert (tmp_path / "ds" / "sub-01" / "ieeg").is_dir()


def test_bad_parameters_give_a_clear_error_and_status_2(tmp_path, capsys):
    code = main(
        [
            "simulate",
            str(tmp_path / "ds"),
            "--n-subjects",
            "1",
            "--n-channels",
            "3",
            "--n-responsive",
            "4",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "n_responsive=4 must be between 0 and the 3 channels" in err
    assert not (tmp_path / "ds").exists()


def test_unknown_profile(tmp_path, capsys):
    assert main(["reproduce", "--profile", "smaple", "--project-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown profile 'smaple' (did you mean 'sample'?); choose one of sample, swpd" in err


def test_config_command_prints_the_whole_configuration_or_names_the_typo(tmp_path, capsys):
    assert main(["config", "--profile", "swpd"]) == 0
    assert '"speech_model": "wav2vec2-xls-r-300m"' in capsys.readouterr().out
    settings = tmp_path / "s.toml"
    settings.write_text("[encoding]\nn_shift = 10\n")
    assert main(["config", "--config", str(settings)]) == 2
    assert "did you mean 'encoding.n_shifts'?" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "neurospeech", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("neurospeech ")


def test_models_list_and_fetch_offline(capsys, monkeypatch, tmp_path):
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert (
        "607a30d783dfa663caf39e06633721c8d4cfcd7e" in listing and "(no verified commit)" in listing
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["models", "fetch", "--cache-dir", str(tmp_path)]) == 2
    assert "nox -s models" in capsys.readouterr().err


def test_fetch_offline_and_verify_without_manifest_are_clear_errors(capsys, tmp_path, monkeypatch):
    from neurospeech import _io

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(_io.socket, "create_connection", refuse)
    target = tmp_path / "swpd"
    assert main(["fetch", "--method", "archive", "--path", str(target)]) == 2
    assert "cannot reach osf.io" in capsys.readouterr().err
    assert main(["fetch", "--method", "archive", "--participants", "01"]) == 2
    assert "--participants works with --method datalad" in capsys.readouterr().err
    assert not target.exists()
    assert main(["verify", "--project-root", str(tmp_path)]) == 2
    assert "run `nox -s reproduce` first" in capsys.readouterr().err


def test_reproduce_with_datalad_run_passes_the_same_arguments(tmp_path, monkeypatch):
    from neurospeech import pipeline

    seen = []
    monkeypatch.setattr(pipeline, "reproduce_with_datalad", lambda *args: seen.append(args))
    settings = tmp_path / "s.toml"
    argv = ["reproduce", "--datalad-run", "--profile", "swpd", "--config", str(settings)]
    assert (
        main([*argv, "--force", "--clean", "--workers", "2", "--project-root", str(tmp_path)]) == 0
    )
    expected = [
        "--profile",
        "swpd",
        "--config",
        str(settings),
        "--workers",
        "2",
        "--force",
        "--clean",
    ]
    assert seen == [(expected, tmp_path)]


def test_workers_and_scheduler_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as info:
        main(["reproduce", "--workers", "2", "--scheduler", "tcp://localhost:8786"])
    assert info.value.code == 2
    assert "not allowed with argument --workers" in capsys.readouterr().err


def test_any_error_is_one_line_and_status_2_and_debug_shows_the_traceback(monkeypatch, capsys):
    import neurospeech.cli

    def broken(args):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(neurospeech.cli, "_config", broken)
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "neurospeech config: error: TypeError: unsupported operand "
        "(a bug? --debug prints its traceback)\n"
    )
    assert main(["--debug", "config"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in broken" in err
    assert err.endswith("neurospeech config: error: TypeError: unsupported operand\n")

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(neurospeech.cli, "_config", interrupted)
    assert main(["config"]) == 130
    assert capsys.readouterr().err == "neurospeech config: interrupted\n"

    def terminated(args):  # SIGTERM, as a scheduler or `timeout` sends it
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        raise AssertionError("SIGTERM did not stop the command")

    handler = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(neurospeech.cli, "_config", terminated)
    assert main(["config"]) == 143
    assert capsys.readouterr().err == "neurospeech config: terminated\n"
    assert signal.getsignal(signal.SIGTERM) is handler  # restored


@pytest.mark.parametrize("workers", ["0", "-2", "two"])
def test_workers_must_be_a_count(workers, capsys):
    with pytest.raises(SystemExit) as exit_status:
        main(["reproduce", "--workers", workers])
    assert exit_status.value.code == 2
    assert (
        f"--workers: give a whole number of at least 1, not '{workers}'" in capsys.readouterr().err
    )
