"""Everything a scene's samples are built from, read once with nuscenes-devkit into plain arrays.

Separating this from the sample builder makes the builder a pure function (testable without a
dataset) and gives the cache an exact key: the hash of this source plus the builder version.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass

import numpy as np

from evodrive_ros.core.conventions import CAMERAS
from evodrive_ros.core.frames import SensorMount, quaternion_yaw
from evodrive_ros.core.keyframe_causes import UNKNOWN

# Other road users that block the ego box (ST-P3 / UniAD: vehicles and pedestrians).
OCCUPANCY_CATEGORY_PREFIXES: tuple[str, ...] = ("vehicle.", "human.pedestrian.")
CAN_MAX_OFFSET_S = 0.1  # a CAN message further than this from the keyframe counts as missing
# ``nearest`` (ours): the nearest message, kinematic estimates where none is close. ``authors``: as
# the authors' cached data picks them, zeros where a scene has no CAN data (blacklisted, no file).
CAN_RULES = ("nearest", "authors")
HISTORY_PADDINGS = ("repeat", "authors")  # dynamics before the scene start (``samples.build_scene_samples``)
_CAN_SCENE_NAME = re.compile(r"^scene-\d{4}$")


@dataclass
class SceneSource:
    """A scene's keyframes (N) in time order; world frame, nuScenes global coordinates."""

    scene_token: str
    scene_name: str
    sample_tokens: list[str]
    timestamps_us: np.ndarray  # (N,) int64
    ego_xy: np.ndarray  # (N, 2)
    ego_yaw: np.ndarray  # (N,)
    camera_paths: np.ndarray  # (N, 6) str, CAMERAS order, relative to the dataroot
    boxes: list[np.ndarray]  # N arrays (M_i, 5): centre x, centre y, yaw, length, width
    can_motion: np.ndarray  # (N, 3) speed, acc_long, acc_lat from CAN "pose"; NaN where missing
    can_steering: np.ndarray  # (N,) steeranglefeedback (rad, left +); NaN where missing
    lidar_mount: SensorMount | None = None  # LIDAR_TOP's calibration (the ``lidar`` trajectory frame); None without one
    can_rule: str = "nearest"  # how CAN values were picked (``CAN_RULES``)
    history_padding: str = "repeat"  # how dynamics before the scene start are filled (``HISTORY_PADDINGS``)
    cause: np.ndarray | None = None  # (N,) uint8 ``keyframe_causes`` code per keyframe (``UNKNOWN`` where unlabelled)

    def digest(self, builder_version: str) -> str:
        """sha256 of every input value and the builder version: the scene's cache key."""
        h = hashlib.sha256(builder_version.encode())
        h.update(json.dumps([self.scene_token, self.scene_name, self.sample_tokens]).encode())
        for array in (self.timestamps_us, self.ego_xy, self.ego_yaw, self.can_motion, self.can_steering):
            h.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        h.update("\0".join(self.camera_paths.ravel().tolist()).encode())
        for boxes in self.boxes:
            h.update(np.ascontiguousarray(boxes, dtype=np.float64).tobytes() + b"|")
        h.update(repr((self.lidar_mount, self.can_rule)).encode())
        if self.history_padding != "repeat":  # the default leaves earlier caches' keys as they were
            h.update(self.history_padding.encode())
        if self.cause is not None:
            h.update(np.ascontiguousarray(self.cause, dtype=np.uint8).tobytes())
        return h.hexdigest()


def gather_scene(nusc, can_bus, scene: dict, can_rule: str = "nearest", causes: dict[str, int] | None = None,
                 history_padding: str = "repeat") -> SceneSource:
    """Reads one scene record's keyframes, ego poses, camera files, boxes and CAN values (picked by
    ``can_rule``, one of ``CAN_RULES``); ``causes``: the dataroot's keyframe cause labels, if any;
    ``history_padding`` (one of ``HISTORY_PADDINGS``) is recorded for the sample builder."""
    if can_rule not in CAN_RULES:
        raise ValueError(f"can_rule must be one of {CAN_RULES}, got {can_rule!r}")
    if history_padding not in HISTORY_PADDINGS:
        raise ValueError(f"history_padding must be one of {HISTORY_PADDINGS}, got {history_padding!r}")
    samples = []
    token = scene["first_sample_token"]
    while token:
        sample = nusc.get("sample", token)
        samples.append(sample)
        token = sample["next"]
    poses = [nusc.get("ego_pose", nusc.get("sample_data", _pose_channel_token(s))["ego_pose_token"]) for s in samples]
    timestamps = np.array([s["timestamp"] for s in samples], dtype=np.int64)
    return SceneSource(
        scene_token=scene["token"],
        scene_name=scene["name"],
        sample_tokens=[s["token"] for s in samples],
        timestamps_us=timestamps,
        ego_xy=np.array([p["translation"][:2] for p in poses], dtype=np.float64).reshape(-1, 2),
        ego_yaw=np.array([quaternion_yaw(p["rotation"]) for p in poses], dtype=np.float64),
        camera_paths=np.array([[_camera_file(nusc, s, cam) for cam in CAMERAS] for s in samples], dtype=str),
        boxes=[_agent_boxes(nusc, s) for s in samples],
        can_motion=_can_values(
            can_bus, scene["name"], "pose", lambda m: (m["vel"][0], m["accel"][0], m["accel"][1]), 3, timestamps,
            "nearest" if can_rule == "nearest" else "after",
        ),
        can_steering=_can_values(can_bus, scene["name"], "steeranglefeedback", lambda m: (m["value"],), 1, timestamps,
                                 "nearest" if can_rule == "nearest" else "at_or_after")[:, 0],
        lidar_mount=_lidar_mount(nusc, samples[0]),
        can_rule=can_rule,
        history_padding=history_padding,
        cause=np.array([(causes or {}).get(s["token"], UNKNOWN) for s in samples], dtype=np.uint8),
    )


def _lidar_mount(nusc, sample: dict) -> SensorMount | None:
    """LIDAR_TOP's calibrated pose on the ego, in the plane (constant within a scene's log)."""
    if "LIDAR_TOP" not in sample["data"]:
        return None
    calibration = nusc.get("calibrated_sensor", nusc.get("sample_data", sample["data"]["LIDAR_TOP"])["calibrated_sensor_token"])
    x, y = calibration["translation"][:2]
    return SensorMount(float(x), float(y), quaternion_yaw(calibration["rotation"]))


def _pose_channel_token(sample: dict) -> str:
    """The keyframe's ego pose comes from LIDAR_TOP (nuScenes' reference), else from CAM_FRONT."""
    data = sample["data"]
    return data["LIDAR_TOP"] if "LIDAR_TOP" in data else data["CAM_FRONT"]


def _camera_file(nusc, sample: dict, camera: str) -> str:
    if camera not in sample["data"]:
        raise KeyError(f"sample {sample['token']}: no {camera} image (expected all of {', '.join(CAMERAS)})")
    return nusc.get("sample_data", sample["data"][camera])["filename"]


def _agent_boxes(nusc, sample: dict) -> np.ndarray:
    rows = []
    for ann_token in sample["anns"]:
        ann = nusc.get("sample_annotation", ann_token)
        if ann["category_name"].startswith(OCCUPANCY_CATEGORY_PREFIXES):
            width, length = ann["size"][0], ann["size"][1]
            rows.append([ann["translation"][0], ann["translation"][1], quaternion_yaw(ann["rotation"]), length, width])
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def _can_messages(can_bus, scene_name: str, message: str) -> list[dict] | None:
    """The scene's CAN messages, or None where the expansion has none (no folder, blacklisted, no file)."""
    if can_bus is None or not _CAN_SCENE_NAME.match(scene_name):
        return None
    if int(scene_name[-4:]) in can_bus.can_blacklist:
        return None
    try:
        messages = can_bus.get_messages(scene_name, message, print_warnings=False)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return messages or None


def _nearest(utimes: np.ndarray, timestamps_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the message nearest each keyframe, and whether it is close enough to use."""
    right = np.clip(np.searchsorted(utimes, timestamps_us), 0, len(utimes) - 1)
    left = np.clip(right - 1, 0, len(utimes) - 1)
    pick = np.where(np.abs(utimes[left] - timestamps_us) <= np.abs(utimes[right] - timestamps_us), left, right)
    close = np.abs(utimes[pick] - timestamps_us) <= CAN_MAX_OFFSET_S * 1e6
    return pick, close


def _can_values(
    can_bus, scene_name: str, message: str, extract, width: int, timestamps_us: np.ndarray, pick_rule: str = "nearest"
) -> np.ndarray:
    """(N, width) values (via ``extract``) of each keyframe's CAN message; NaN where none.

    ``nearest``: the nearest message within ``CAN_MAX_OFFSET_S``. The authors' cached data (METHOD
    §5.3): ``after``, the first message later than the keyframe, else the last (BEVFormer's
    ``can_bus`` builder reads vel/accel from its loop variable after the break); ``at_or_after``,
    the first at or after it (their steering bisect), else the last."""
    messages = _can_messages(can_bus, scene_name, message)
    out = np.full((len(timestamps_us), width), math.nan)
    if messages is None:
        return out
    messages = sorted(messages, key=lambda m: m["utime"])
    utimes = np.array([m["utime"] for m in messages], dtype=np.int64)
    values = np.array([extract(m) for m in messages], dtype=np.float64)
    if pick_rule == "nearest":
        pick, close = _nearest(utimes, timestamps_us)
        out[close] = values[pick[close]]
        return out
    side = "right" if pick_rule == "after" else "left"
    return values[np.minimum(np.searchsorted(utimes, timestamps_us, side=side), len(utimes) - 1)]
