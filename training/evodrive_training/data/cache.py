"""Builds a split's sample cache once and afterwards rebuilds only the scenes whose inputs changed.

Layout: ``<cache>/<version>/<split>/`` with ``split.json`` and ``scenes/<scene_token>.npz`` (format:
``evodrive_ros.core.driving_samples``). A scene is rebuilt when its file is missing, its cache key —
the sha256 of every value read for it (``SceneSource.digest``) and ``BUILDER_VERSION`` — differs from the
one stored in its file, or the file's own sha256 differs from the one ``split.json`` recorded when it
was written (a damaged or edited file: rebuilt, and said). ``load_split`` checks the same hashes.
Every file is written to a temp file and renamed, so an interrupted build loses nothing already
written and resumes where it stopped. A cache folder belongs to one dataroot, and a build removes
only scene files its own previous index listed.

Splits: the official scene lists (``create_splits_scenes``) for v1.0-trainval / v1.0-mini / v1.0-test
(on v1.0-mini, ``train``/``val`` mean ``mini_train``/``mini_val``); for any other version (synthetic
data) a scene is in ``val`` when the hash of its name falls below ``val_fraction``, else in ``train``
— stable when scenes are added. ``all`` is every scene of the dataroot.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from evodrive_ros.core.driving_samples import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SCENES_DIR,
    SampleFormatError,
    read_split_index,
    write_scene_file,
    write_split_index,
)
from evodrive_ros.core.safe_output import sha256_file
from evodrive_training.data.samples import BUILDER_VERSION, build_scene_samples, scene_frame
from evodrive_training.data.scene_source import gather_scene
from evodrive_ros.core.keyframe_causes import read_keyframe_causes

OFFICIAL_VERSIONS = ("v1.0-trainval", "v1.0-mini", "v1.0-test")
NUSCENES_TABLES = (
    "attribute", "calibrated_sensor", "category", "ego_pose", "instance", "log", "map", "sample",
    "sample_annotation", "sample_data", "scene", "sensor", "visibility",
)  # fmt: skip
DEFAULT_VAL_FRACTION = 0.2


@dataclass
class BuildReport:
    """What a build did: where the split is, which scenes were (re)built, how long it took."""

    split_dir: Path
    n_samples: int
    rebuilt: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # rebuilt because the file's content changed since it was written
    rebuilt_samples: int = 0


def split_scene_names(all_names: list[str], version: str, split: str, val_fraction: float = DEFAULT_VAL_FRACTION) -> list[str]:
    """Scene names of ``split``, in dataroot order."""
    if split == "all":
        return list(all_names)
    if version in OFFICIAL_VERSIONS:
        from nuscenes.utils.splits import create_splits_scenes

        official = create_splits_scenes()
        name = f"mini_{split}" if version == "v1.0-mini" and split in ("train", "val") else split
        if name not in official:
            raise ValueError(f"split {split!r}: not an official nuScenes split (expected one of {', '.join(official)}, all)")
        wanted = set(official[name])
        return [s for s in all_names if s in wanted]
    if split not in ("train", "val"):
        raise ValueError(f"split {split!r}: expected train, val or all for the non-official version {version!r}")
    return [s for s in all_names if (_hash_fraction(s) < val_fraction) == (split == "val")]


def _hash_fraction(name: str) -> float:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") / 2.0**64


def open_dataset(dataroot: Path, version: str):
    """(NuScenes, NuScenesCanBus or None); a missing folder or table is a one-line error."""
    from nuscenes.nuscenes import NuScenes

    tables = Path(dataroot) / version
    if not tables.is_dir():
        raise FileNotFoundError(f"{tables}: not found (expected the nuScenes JSON tables of {version} there)")
    missing = [t for t in NUSCENES_TABLES if not (tables / f"{t}.json").is_file()]
    if missing:
        raise FileNotFoundError(f"{tables}: missing nuScenes table(s) {', '.join(m + '.json' for m in missing)}")
    nusc = NuScenes(version=version, dataroot=str(dataroot), verbose=False)
    if not (Path(dataroot) / "can_bus").is_dir():
        print(f"no CAN bus expansion in {dataroot}/can_bus: ego dynamics are kinematic estimates", file=sys.stderr)
        return nusc, None
    from nuscenes.can_bus.can_bus_api import NuScenesCanBus

    return nusc, NuScenesCanBus(dataroot=str(dataroot))


def build_split(
    dataroot: Path,
    version: str,
    split: str,
    cache_dir: Path,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    progress: bool = True,
    workers: int = 1,
    trajectory_frame: str = "ego",
    can_rule: str = "nearest",
    history_padding: str = "repeat",
) -> BuildReport:
    """Creates or refreshes ``<cache_dir>/<version>/<split>``; returns what was rebuilt.

    ``trajectory_frame``: ``ego`` (the ego pose's path) or ``lidar`` (LIDAR_TOP's path, the community
    files' frame); ``can_rule``: ``nearest`` or ``authors`` (``scene_source.CAN_RULES``); ``history_padding``:
    ``repeat`` or ``authors`` (``scene_source.HISTORY_PADDINGS``). All three are part of every
    scene's cache key, so changing one rebuilds the split.

    ``workers`` > 1 builds scenes in that many forked processes; every scene file depends only on
    its own scene, so the cache is byte-identical to a one-worker build (``split.json`` keeps the
    scene order)."""
    dataroot = Path(dataroot).resolve()
    nusc, can_bus = open_dataset(dataroot, version)
    scenes_by_name = {s["name"]: s for s in nusc.scene}
    names = split_scene_names(list(scenes_by_name), version, split, val_fraction)
    split_dir = Path(cache_dir) / version / split
    previous = _previous_index(split_dir)
    if previous and Path(previous["dataroot"]).resolve() != dataroot:
        raise ValueError(f"{split_dir} holds samples of {previous['dataroot']}, not {dataroot}; choose another cache folder")
    recorded = {e["file"]: e.get("sha256") for e in previous.get("scenes", [])} if previous else {}
    report = BuildReport(split_dir=split_dir, n_samples=0)
    causes = read_keyframe_causes(dataroot / version)
    job = _SceneJob(nusc, can_bus, scenes_by_name, split_dir, recorded, trajectory_frame, can_rule, history_padding, causes)
    bar = tqdm(total=len(names), desc=f"samples {version}/{split}", unit="scene", disable=not progress)
    entries = []
    for built in _build_scenes(job, names, workers, bar):
        name = built.entry["scene_name"]
        if built.rebuilt:
            report.rebuilt.append(name)
            report.rebuilt_samples += built.entry["n_samples"]
        else:
            report.reused.append(name)
        if built.damaged:
            report.damaged.append(name)
        entries.append(built.entry)
        report.n_samples += built.entry["n_samples"]
    bar.close()
    index = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "split": split,
        "version": version,
        "dataroot": str(dataroot),
        "builder_version": BUILDER_VERSION,
        "trajectory_frame": trajectory_frame,
        "can_rule": can_rule,
        "history_padding": history_padding,
        "n_samples": report.n_samples,
        "scenes": entries,
    }
    write_split_index(split_dir, index)
    for stale in set(recorded) - {e["file"] for e in entries}:  # ours, no longer in the split
        (split_dir / stale).unlink(missing_ok=True)
    return report


@dataclass(frozen=True)
class _SceneJob:
    """What building one scene needs; forked workers inherit it (the nuScenes tables load once)."""

    nusc: object
    can_bus: object
    scenes_by_name: dict
    split_dir: Path
    recorded: dict  # scene file -> sha256 the previous split.json recorded
    trajectory_frame: str
    can_rule: str
    history_padding: str
    causes: dict  # sample token -> keyframe cause code (synthetic dataroots; empty for nuScenes)

    def build(self, name: str) -> _BuiltScene:
        scene = self.scenes_by_name[name]
        source = gather_scene(self.nusc, self.can_bus, scene, self.can_rule, self.causes, self.history_padding)
        frame = scene_frame(source, self.trajectory_frame)
        key = source.digest(f"{BUILDER_VERSION}/{self.trajectory_frame}")
        relative = f"{SCENES_DIR}/{scene['token']}.npz"
        path = self.split_dir / relative
        stored_key = _cached_key(path)
        digest = sha256_file(path) if stored_key is not None else None
        rebuilt = not (stored_key == key and self.recorded.get(relative) in (None, digest))
        if rebuilt:
            arrays = build_scene_samples(source, frame)
            scalars = {"format_version": FORMAT_VERSION, "scene_token": scene["token"], "scene_name": name, "cache_key": key}
            write_scene_file(path, arrays, scalars)
            digest = sha256_file(path)
        entry = {"scene_name": name, "scene_token": scene["token"], "file": relative, "cache_key": key,
                 "n_samples": len(source.sample_tokens), "sha256": digest,
                 **({"sensor_mount": asdict(frame.mount)} if frame.mount else {})}
        return _BuiltScene(entry, rebuilt, damaged=rebuilt and stored_key == key)


@dataclass(frozen=True)
class _BuiltScene:
    entry: dict  # the scene's line in split.json
    rebuilt: bool
    damaged: bool  # rebuilt because the file's content changed since it was written


_FORKED_JOB: _SceneJob | None = None  # set in the parent just before forking the workers


def _build_in_worker(name: str) -> _BuiltScene:
    assert _FORKED_JOB is not None
    return _FORKED_JOB.build(name)


def _build_scenes(job: _SceneJob, names: list[str], workers: int, bar: tqdm) -> Iterator[_BuiltScene]:
    """Each scene's result in ``names`` order, ``workers`` scenes at a time; ``bar`` counts finished scenes."""
    if workers <= 1 or len(names) <= 1:
        for name in names:
            yield job.build(name)
            bar.update()
        return
    global _FORKED_JOB
    _FORKED_JOB = job
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(workers, len(names)), mp_context=context) as pool:
            futures = [pool.submit(_build_in_worker, name) for name in names]
            for future in as_completed(futures):
                future.result()  # a failed scene fails the build now, not after the others
                bar.update()
            yield from (f.result() for f in futures)
    finally:
        _FORKED_JOB = None


def _previous_index(split_dir: Path) -> dict | None:
    try:
        return read_split_index(split_dir)
    except (SampleFormatError, ValueError, OSError):
        return None


def _cached_key(path: Path) -> str | None:
    """The cache key stored in an existing scene file (None if absent or unreadable)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return str(data["cache_key"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
