"""ament_python build of the ROS 2 package ``evodrive`` (the runtime: node, core, backends).

The training side is a separate package in ``training/`` (``evodrive_training``); it is not part of
what a vehicle installs.
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "evodrive"
HERE = Path(__file__).parent


def share_tree(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing ``folder`` (recursively) under share/evodrive/."""
    entries: dict[str, list[str]] = {}
    for path in sorted((HERE / folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(HERE)
            entries.setdefault(f"share/{PACKAGE}/{rel.parent.as_posix()}", []).append(rel.as_posix())
    return list(entries.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["evodrive_ros", "evodrive_ros.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *share_tree("launch"),
        *share_tree("config"),
        *share_tree("models"),
    ],
    install_requires=["setuptools"],
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    maintainer="evodrive developers",
    maintainer_email="dev@evodrive.invalid",
    description="Distilled driving VLA planner (EvoDriveVLA) for ROS 2.",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "evodrive = evodrive_ros.cli:main",
            "evodrive_planner = evodrive_ros.ros.node:main",
        ],
    },
)
