"""Settings and CLI contract of ``evodrive synth``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evodrive_training.synth import ConfigError, SynthConfig
from evodrive_training.synth import cli

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_documents_the_defaults():
    assert SynthConfig.from_yaml(ROOT / "config" / "synth.yaml") == SynthConfig()


@pytest.mark.parametrize("data, key", [
    ({"camera": {"width": "wide"}}, "camera.width"),
    ({"traffic": {"cars_per_100m": [3, 1]}}, "traffic.cars_per_100m"),
    ({"road": {"lanes": 2}}, "road.lanes"),
    ({"appearance": {"sky_rgb": [0, 0, 300]}}, "appearance.sky_rgb"),
    ({"scene": {"duration_s": 1.0}}, "scene.duration_s"),
    ({"camera": {"fog_start_m": 100.0, "fog_end_m": 50.0}}, "camera.fog_end_m"),
])
def test_invalid_settings_name_the_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        SynthConfig.from_dict(data)


def _run(args: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(args))


def test_cli_bad_config_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("traffic:\n  truck_fraction: 2.0\n")
    assert _run(["--out", str(tmp_path / "x"), "--config", str(tmp_path / "bad.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "traffic.truck_fraction" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_cli_refuses_to_overwrite(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    assert _run(["--out", str(tmp_path / "x"), "--scenes", "1"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_registered_in_evodrive_cli():
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'training'}"}
    result = subprocess.run([sys.executable, "-m", "evodrive_ros.cli", "synth", "--help"], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and "--bag" in result.stdout and "--config" in result.stdout
