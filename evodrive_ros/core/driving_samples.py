"""On-disk format of cached driving samples (written by ``evodrive samples``), readable with numpy only.

A split is a directory::

    <cache>/<split>/split.json               index (below)
    <cache>/<split>/scenes/<scene_token>.npz one file per scene, arrays stacked over its N keyframes

``split.json``::

    {"format": "evodrive-samples", "format_version": 1, "split": "val", "version": "v1.0-mini",
     "dataroot": "/abs/path", "n_samples": 81, "trajectory_frame": "ego", "can_rule": "nearest",
     "history_padding": "repeat",
     "scenes": [{"scene_name": "scene-0103", "scene_token": "...", "file": "scenes/<token>.npz",
                 "cache_key": "<sha256 of the scene's source records + builder version + frame>", "n_samples": 40,
                 "sensor_mount": {"x": 0.94, "y": 0.0, "yaw": -1.57}}]}   (sensor_mount: lidar frame only)

Per-scene arrays (all in the split's trajectory frame at the sample's keyframe — ``ego``: the ego
pose's path, ``lidar``: LIDAR_TOP's path, see ``frames.TrajectoryFrame`` — x forward, y left, metres, REP-103;
H = 5 history steps at -2.0..0 s, F = 6 future steps at +0.5..+3.0 s, cameras in ``CAMERAS`` order):

==========================  ===============  ==========================================================
sample_token                (N,) str
timestamp_us                (N,) int64
camera_paths                (N, 6) str       current images, relative to the dataroot
history_xy                  (N, H, 2) f32    ego positions; the last one is (0, 0)
history_valid               (N, H) bool      False: before the scene start, padded with the oldest pose
history_dynamics            (N, H, 4) f32    speed m/s, acc_long m/s^2, acc_lat m/s^2 (left +),
                                             steering-wheel angle rad (left +); before the scene
                                             start the first keyframe's (or, ``--history-padding
                                             authors``, the authors' estimate from the history path)
history_dynamics_source     (N, H, 4) u8     per value: 0 CAN bus, 1 kinematic estimate from ego poses,
                                             2 missing, set to 0 (``--can-rule authors``)
command                     (N,) u8          index into ``COMMANDS`` (RIGHT, LEFT, FORWARD), DESIGN §2 rule
future_xy                   (N, F, 2) f32    GT waypoints; 0 where not valid
future_valid                (N, F) bool      False past the end of the scene
future_dynamics             (N, F, 4) f32    teacher input, as history_dynamics
future_dynamics_source      (N, F, 4) u8     as history_dynamics_source
future_dynamics_padded      (N, F) bool      True: past the scene end, repeats the last keyframe's values
teacher_front_paths         (N, 3) str       CAM_FRONT at +1, +2, +3 s, relative to the dataroot
teacher_front_padded        (N, 3) bool      True: past the scene end, repeats the last keyframe's image
occupancy_bits              (N, F, 5000) u8  ``np.packbits`` of each (200, 200) bool BEV grid of the other
                                             vehicles' and pedestrians' boxes at that future step; rows
                                             along x, columns along y, cell i covers [-50 + 0.5 i, ...)
drivable_bits               (N, 5000) u8     ``np.packbits`` of the (200, 200) bool BEV grid, as occupancy_bits,
                                             of the drivable surface now: the dataroot's map mask (the
                                             devkit's ``MapMask``, nuScenes' semantic prior) at each cell centre
drivable_known              (N,) bool        False: the dataroot has no map for the scene (the grid is empty)
cause                       (N,) u8          why the next 3 s depart from steady driving
                                             (``keyframe_causes.CAUSES`` index; 255: not labelled)
==========================  ===============  ==========================================================

Scene files also hold the scalars ``format_version``, ``scene_token``, ``scene_name``, ``cache_key``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from evodrive_ros.core.frames import SensorMount, TrajectoryFrame
from evodrive_ros.core.openloop_metrics import GRID_SIZE
from evodrive_ros.core.safe_output import atomic_write, atomic_writer, sha256_file

FORMAT_NAME = "evodrive-samples"
FORMAT_VERSION = 1
SPLIT_INDEX = "split.json"
SCENES_DIR = "scenes"
SOURCE_CAN, SOURCE_KINEMATIC, SOURCE_ZERO = 0, 1, 2
DYNAMICS_FIELDS: tuple[str, ...] = ("speed", "acc_long", "acc_lat", "steering")
TEACHER_FRONT_OFFSETS_S: tuple[float, ...] = (1.0, 2.0, 3.0)
OCCUPANCY_BYTES = GRID_SIZE * GRID_SIZE // 8
SAMPLE_FIELDS: tuple[str, ...] = (
    "sample_token",
    "timestamp_us",
    "camera_paths",
    "history_xy",
    "history_valid",
    "history_dynamics",
    "history_dynamics_source",
    "command",
    "future_xy",
    "future_valid",
    "future_dynamics",
    "future_dynamics_source",
    "future_dynamics_padded",
    "teacher_front_paths",
    "teacher_front_padded",
    "occupancy_bits",
    "drivable_bits",
    "drivable_known",
    "cause",
)
SCENE_SCALARS: tuple[str, ...] = ("format_version", "scene_token", "scene_name", "cache_key")


class SampleFormatError(ValueError):
    """A split directory or scene file that is not in the expected format."""


@dataclass(frozen=True)
class SampleSplit:
    """A loaded split: its index and the per-sample arrays concatenated over its scenes."""

    directory: Path
    index: dict
    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.index["n_samples"])

    @property
    def tokens(self) -> list[str]:
        return [str(t) for t in self.arrays["sample_token"]]


def pack_occupancy(grids: np.ndarray) -> np.ndarray:
    """(..., 200, 200) bool -> (..., 5000) uint8."""
    grids = np.asarray(grids, dtype=bool)
    return np.packbits(grids.reshape(*grids.shape[:-2], GRID_SIZE * GRID_SIZE), axis=-1)


def unpack_occupancy(bits: np.ndarray) -> np.ndarray:
    """(..., 5000) uint8 -> (..., 200, 200) bool."""
    bits = np.asarray(bits, dtype=np.uint8)
    flat = np.unpackbits(bits, axis=-1, count=GRID_SIZE * GRID_SIZE).astype(bool)
    return flat.reshape(*bits.shape[:-1], GRID_SIZE, GRID_SIZE)


def read_split_index(split_dir: Path) -> dict:
    """The ``split.json`` of ``split_dir``; raises ``SampleFormatError`` if absent or foreign."""
    path = Path(split_dir) / SPLIT_INDEX
    if not path.is_file():
        raise SampleFormatError(f"{split_dir}: no {SPLIT_INDEX} (expected a split built by 'evodrive samples')")
    index = json.loads(path.read_text())
    if index.get("format") != FORMAT_NAME or index.get("format_version") != FORMAT_VERSION:
        raise SampleFormatError(
            f"{path}: format {index.get('format')!r} v{index.get('format_version')}, "
            f"expected {FORMAT_NAME!r} v{FORMAT_VERSION}"
        )
    return index


def split_trajectory_frame(index: dict) -> TrajectoryFrame:
    """The ``TrajectoryFrame`` a split was built in (splits from before the field: ``ego``). A lidar
    split's mount is the median of its scenes' calibrations (nuScenes' cars differ by a few cm); a
    vehicle states its own to the node."""
    name = index.get("trajectory_frame", "ego")
    if name == "ego":
        return TrajectoryFrame()
    mounts = np.array([[e["sensor_mount"][k] for k in ("x", "y", "yaw")] for e in index.get("scenes", []) if "sensor_mount" in e])
    if not len(mounts):
        raise SampleFormatError(f"split {index.get('split')!r} is in the lidar frame but records no LIDAR_TOP mount")
    return TrajectoryFrame(name, SensorMount(*(float(v) for v in np.median(mounts, axis=0))))


def read_scene_file(path: Path, fields: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Arrays of one scene file (all sample fields, or only ``fields``)."""
    wanted = tuple(fields) if fields is not None else SAMPLE_FIELDS
    with np.load(path, allow_pickle=False) as data:
        missing = [f for f in wanted if f not in data.files]
        if missing:
            raise SampleFormatError(f"{path}: missing fields {missing}")
        return {f: data[f] for f in wanted}


def load_split(split_dir: Path, fields: Iterable[str] | None = None) -> SampleSplit:
    """Loads a split directory; ``fields`` limits what is read (e.g. skip ``occupancy_bits``)."""
    split_dir = Path(split_dir)
    index = read_split_index(split_dir)
    wanted = tuple(fields) if fields is not None else SAMPLE_FIELDS
    for scene in index["scenes"]:
        if scene.get("sha256") and sha256_file(split_dir / scene["file"]) != scene["sha256"]:
            raise SampleFormatError(f"{split_dir / scene['file']}: changed since the cache was built (sha256 differs from "
                                    f"{SPLIT_INDEX}); rebuild it with evodrive samples")
    per_scene = [read_scene_file(split_dir / scene["file"], wanted) for scene in index["scenes"]]
    arrays = {f: np.concatenate([s[f] for s in per_scene]) if per_scene else np.zeros(0) for f in wanted}
    return SampleSplit(directory=split_dir, index=index, arrays=arrays)


def write_scene_file(path: Path, arrays: dict[str, np.ndarray], scalars: dict[str, object]) -> None:
    """Writes one scene file atomically (temp file in the same directory, then rename)."""
    missing = [f for f in SAMPLE_FIELDS if f not in arrays] + [s for s in SCENE_SCALARS if s not in scalars]
    if missing:
        raise SampleFormatError(f"{path}: refusing to write a scene without {missing}")
    payload = {**{f: arrays[f] for f in SAMPLE_FIELDS}, **{k: np.asarray(v) for k, v in scalars.items()}}
    with atomic_writer(path) as handle:
        np.savez_compressed(handle, **payload)


def write_split_index(split_dir: Path, index: dict) -> None:
    """Writes ``split.json`` atomically."""
    text = json.dumps(index, indent=1)
    atomic_write(Path(split_dir) / SPLIT_INDEX, text)
