"""The ``evodrive`` command: one entry point, subcommands loaded lazily.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their subcommand runs, so ``evodrive --help`` works on a vehicle that
has the runtime only; subcommands of a package that is not installed (the training side) are not
listed, and one whose extra dependencies are missing names the requirements file to install.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Subcommand:
    name: str
    module: str
    help: str
    extra: str  # "runtime", "tools" or "training": which requirements file provides its dependencies

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.module.split(".")[0]) is not None


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("synth", "evodrive_training.synth.cli", "generate a synthetic nuScenes-format dataset (and rosbags)", "training"),
    Subcommand("samples", "evodrive_training.data.cli", "build/cache driving samples from a nuScenes-format dataroot", "training"),
    Subcommand("eval", "evodrive_ros.evaluation.cli", "open-loop L2 / collision under the ST-P3 and UniAD protocols", "runtime"),
    Subcommand("baseline", "evodrive_training.baselines.cli", "write predictions of constant-velocity / ego-MLP baselines", "training"),
    Subcommand("train", "evodrive_training.train_cli", "train the oracle teacher, the distilled student or the SFT baseline", "training"),
    Subcommand("ablation", "evodrive_training.ablation", "the tiny-preset ablation benchmark on synthetic data (METHOD §8)", "training"),
    Subcommand("predict", "evodrive_training.predict_cli", "run a trained model on a split and write a predictions file", "training"),
    Subcommand("export", "evodrive_training.export.cli", "export a checkpoint to an ONNX model directory", "training"),
    Subcommand("closedloop", "evodrive_training.closedloop", "drive the synthetic world with planners in control: PDMS and driving score", "training"),
    Subcommand("carla", "evodrive_training.carla_client", "drive a CARLA 0.9.16 server's vehicle with the planner (needs requirements/carla.txt)", "training"),
    Subcommand("bench", "evodrive_ros.runtime.bench", "per-stage latency of a model directory on every available backend", "runtime"),
    Subcommand("replay", "evodrive_ros.tools.replay", "replay a rosbag2 through the planner node and score the plans", "tools"),
    Subcommand("demo", "evodrive_ros.tools.demo", "the main job: a synthetic drive replayed through the real node", "training"),
)

# Modules each extra provides, checked before a subcommand runs (tools import theirs lazily).
_EXTRA_MODULES = {"runtime": (), "tools": ("rosbags", "mcap", "matplotlib"), "training": ("torch", "transformers")}
_INSTALL_HINT = {
    "runtime": "pip install -r requirements/runtime.txt",
    "tools": "pip install -r requirements/tools.txt",
    "training": "pip install -r requirements/training.txt && pip install -e training",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evodrive", description="EvoDriveVLA: distilled driving VLA for ROS 2.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for spec in SUBCOMMANDS:
        if spec.installed:
            sub.add_parser(spec.name, help=spec.help, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    specs = {s.name: s for s in SUBCOMMANDS}
    spec = specs.get(argv[0])
    if spec is None:
        parser.error(f"unknown command {argv[0]!r} (choose from {', '.join(s.name for s in SUBCOMMANDS if s.installed)})")
    if not spec.installed:
        print(f"evodrive {spec.name}: part of the {spec.extra} package, not installed here; install it with: "
              f"{_INSTALL_HINT[spec.extra]}", file=sys.stderr)
        return 2
    missing = next((name for name in _EXTRA_MODULES[spec.extra] if importlib.util.find_spec(name) is None), None)
    try:
        module = None if missing else importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        if not exc.name or exc.name.startswith("evodrive"):
            raise
        missing = exc.name
    if missing:
        print(f"evodrive {spec.name}: needs the '{spec.extra}' dependencies (missing module {missing!r}); "
              f"install them with: {_INSTALL_HINT[spec.extra]}", file=sys.stderr)
        return 2
    sub_parser = argparse.ArgumentParser(prog=f"evodrive {spec.name}", description=spec.help)
    module.add_arguments(sub_parser)
    args = sub_parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
