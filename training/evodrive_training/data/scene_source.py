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
# The map window reaches this far past the scene's keyframe poses: the BEV grid's half-diagonal
# (50 m x sqrt 2) plus room for a sensor mount's offset.
MAP_MARGIN_M = 75.0
HISTORY_PADDINGS = ("repeat", "authors")  # dynamics before the scene start (``samples.build_scene_samples``)
_CAN_SCENE_NAME = re.compile(r"^scene-\d{4}$")


@dataclass(frozen=True)
class MapWindow:
    """The part of a scene's map mask around its keyframes: nuScenes' semantic prior, the surface a
    car may drive on. Pixels are addressed as the devkit's ``MapMask`` does (its transform matrix,
    rounded), so ``contains`` equals ``MapMask.is_on_mask`` inside the window (a test checks it)."""

    on_mask: np.ndarray  # (h, w) bool: pixel rows row0 .. row0 + h - 1, columns col0 .. col0 + w - 1 of the mask
    row0: int
    col0: int
    transform: np.ndarray  # (4, 4) the devkit's world -> pixel matrix

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) world points -> (...) bool: on the mask (False outside the window)."""
        points = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        homogeneous = np.stack([points[:, 0], points[:, 1], np.zeros(len(points)), np.ones(len(points))])
        col, row = np.round(np.dot(self.transform, homogeneous)).astype(np.int32)[:2]
        row, col = row - self.row0, col - self.col0
        inside = (row >= 0) & (row < self.on_mask.shape[0]) & (col >= 0) & (col < self.on_mask.shape[1])
        out = np.zeros(len(points), dtype=bool)
        out[inside] = self.on_mask[row[inside], col[inside]]
        return out.reshape(np.shape(xy)[:-1])


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
    map_window: MapWindow | None = None  # the map mask around the scene; None where the dataroot has no map

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
        if self.map_window is not None:
            window = self.map_window
            h.update(repr((window.row0, window.col0, window.on_mask.shape, window.transform.tolist())).encode())
            h.update(np.packbits(window.on_mask).tobytes())
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
    ego_xy = np.array([p["translation"][:2] for p in poses], dtype=np.float64).reshape(-1, 2)
    return SceneSource(
        scene_token=scene["token"],
        scene_name=scene["name"],
        sample_tokens=[s["token"] for s in samples],
        timestamps_us=timestamps,
        ego_xy=ego_xy,
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
        map_window=_map_window(nusc, scene, ego_xy),
    )


def _map_window(nusc, scene: dict, ego_xy: np.ndarray) -> MapWindow | None:
    """The scene's map mask (through its log, as the devkit links them) within ``MAP_MARGIN_M`` of
    its keyframe poses; None where the dataroot has no map for the log."""
    map_token = nusc.get("log", scene["log_token"]).get("map_token")
    if map_token is None:
        return None
    mask = nusc.get("map", map_token)["mask"]
    image = mask.mask()  # uint8, foreground 255 (the devkit loads and caches the whole mask per map)
    low, high = ego_xy.min(axis=0) - MAP_MARGIN_M, ego_xy.max(axis=0) + MAP_MARGIN_M
    cols, rows = mask.to_pixel_coords(np.array([low[0], high[0]]), np.array([low[1], high[1]]))
    row0, row1 = max(int(rows.min()), 0), min(int(rows.max()) + 1, image.shape[0])
    col0, col1 = max(int(cols.min()), 0), min(int(cols.max()) + 1, image.shape[1])
    window = image[row0:max(row1, row0), col0:max(col1, col0)] == mask.foreground
    return MapWindow(on_mask=window, row0=row0, col0=col0, transform=np.array(mask.transform_matrix, dtype=np.float64))


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
