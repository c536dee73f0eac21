"""The ``evodrive`` command line: help, unknown commands, missing extras."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from evodrive_ros import cli


def test_help_lists_every_subcommand() -> None:
    out = subprocess.run([sys.executable, "-m", "evodrive_ros.cli", "--help"], capture_output=True, text=True, check=True)
    for spec in cli.SUBCOMMANDS:
        assert spec.name in out.stdout


def test_unknown_subcommand_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["fly"])
    assert exc.value.code == 2
    assert "unknown command 'fly'" in capsys.readouterr().err


def test_missing_extra_names_the_requirements(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def fake_import(name: str) -> types.ModuleType:
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(cli.importlib, "import_module", fake_import)
    assert cli.main(["train", "--help"]) == 2
    err = capsys.readouterr().err
    assert "'training' dependencies" in err and "requirements/training.txt" in err
