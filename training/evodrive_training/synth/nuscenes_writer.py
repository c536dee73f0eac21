"""Writes the 13 nuScenes v1.0 tables, keyframe images and map masks of synthetic scenes.

Layout of the dataroot: ``<version>/*.json``, ``samples/<CHANNEL>/*.jpg``, ``maps/<token>.png``
(drivable area, 0.1 m/px), ``can_bus/`` (see ``can_bus.py``). Keyframes only (2 Hz); every keyframe
has the six cameras and a LIDAR_TOP record (an empty point cloud: calibration and ego pose only).
Tokens are md5 hashes of (seed, what, key), so the same seed gives the same tokens.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from evodrive_ros.core.keyframe_causes import KEYFRAME_CAUSES_FILE, write_keyframe_causes

from .camera_rig import LIDAR_TOP, Camera, yaw_quaternion
from .ground import GroundMap
from .render import LabelBuffers
from .world import PEDESTRIAN, TRUCK, Agents

# Per-pixel ground truth beside the keyframe images (``SynthConfig.write_instance_masks`` /
# ``write_dense_labels``): instance ids (uint16), ``render.DENSE_LABELS`` classes (uint8), and the
# distance from the camera to the object drawn at each pixel in centimetres (uint16; 0 where none).
DENSE_DIRS = {"instance": "instance_masks", "label": "dense_labels", "depth": "dense_depth"}

TABLES = ("category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor", "ego_pose", "log",
          "scene", "sample", "sample_data", "sample_annotation", "map")
CATEGORIES = {"vehicle.car": "Passenger car.", "vehicle.truck": "Truck.", "human.pedestrian.adult": "Adult pedestrian."}
ATTRIBUTES = ("vehicle.moving", "vehicle.stopped", "vehicle.parked", "pedestrian.moving", "pedestrian.standing")
MOVING_MPS = 0.2


@dataclass
class _SceneRecords:
    """Tokens of one scene being written, to link prev/next at the end."""

    token: str
    name: str
    calibration: dict[str, str]
    samples: list[str] = field(default_factory=list)
    sample_data: dict[str, list[dict]] = field(default_factory=dict)
    annotations: dict[int, list[dict]] = field(default_factory=dict)  # agent index -> records in time order


class NuScenesWriter:
    def __init__(self, root: Path, version: str, seed: int, cameras: list[Camera], location: str):
        self.root, self.version, self.seed, self.cameras, self.location = root, version, seed, cameras, location
        self.tables: dict[str, list[dict]] = {name: [] for name in TABLES}
        self.channels = [cam.channel for cam in cameras] + [LIDAR_TOP[0]]
        for channel in self.channels:
            (root / "samples" / channel).mkdir(parents=True, exist_ok=True)
            modality = "lidar" if channel == LIDAR_TOP[0] else "camera"
            self.tables["sensor"].append({"token": self.token("sensor", channel), "channel": channel, "modality": modality})
        for name, description in CATEGORIES.items():
            self.tables["category"].append({"token": self.token("category", name), "name": name, "description": description})
        for name in ATTRIBUTES:
            self.tables["attribute"].append({"token": self.token("attribute", name), "name": name, "description": name})
        self.tables["visibility"].append({"token": "4", "level": "v80-100", "description": "visibility of whole object is between 80 and 100%"})
        (root / "maps").mkdir(exist_ok=True)
        (root / version).mkdir(exist_ok=True)
        self.instance_index: list[str] = []  # instance token per id in the instance-mask PNGs (id - 1)
        self.keyframe_causes: dict[str, str] = {}  # sample token -> why the expert's future departs from steady driving
        self._instance_ids: dict[str, int] = {}

    def token(self, *key: object) -> str:
        return hashlib.md5("/".join(map(str, (self.seed, *key))).encode()).hexdigest()

    def begin_scene(self, name: str, description: str, ground: GroundMap, date: str) -> _SceneRecords:
        scene_token = self.token("scene", name)
        log_token = self.token("log", name)
        self.tables["log"].append({"token": log_token, "logfile": f"synth-{name}", "vehicle": "synth-ego",
                                   "date_captured": date, "location": self.location})
        map_token = self.token("map", name)
        mask_file = f"maps/{map_token}.png"
        cv2.imwrite(str(self.root / mask_file), ground.drivable_mask())
        self.tables["map"].append({"token": map_token, "log_tokens": [log_token], "category": "semantic_prior", "filename": mask_file})
        calibration = {}
        for cam in self.cameras:
            calibration[cam.channel] = self._calibrated_sensor(name, cam.channel, cam.translation, cam.quaternion,
                                                               cam.intrinsic.tolist())
        lidar_rotation = yaw_quaternion(np.deg2rad(LIDAR_TOP[2]))
        calibration[LIDAR_TOP[0]] = self._calibrated_sensor(name, LIDAR_TOP[0], LIDAR_TOP[1], lidar_rotation, [])
        self.tables["scene"].append({"token": scene_token, "log_token": log_token, "name": name, "description": description})
        return _SceneRecords(scene_token, name, calibration, sample_data={c: [] for c in self.channels})

    def _calibrated_sensor(self, scene: str, channel: str, translation, rotation, intrinsic) -> str:
        token = self.token("calibrated_sensor", scene, channel)
        self.tables["calibrated_sensor"].append({
            "token": token, "sensor_token": self.token("sensor", channel), "translation": [float(v) for v in translation],
            "rotation": [float(v) for v in rotation], "camera_intrinsic": intrinsic})
        return token

    def add_keyframe(self, scene: _SceneRecords, utime: int, ego_pose: np.ndarray, images: list[bytes],
                     buffers: list[LabelBuffers] | None, agents: Agents, agent_pose: np.ndarray,
                     annotated: np.ndarray, cause: str) -> None:
        """One 2 Hz sample: images (in camera order), their label buffers (the instance masks and
        dense labels that were drawn), ego pose (x, y, yaw), boxes of ``annotated`` agents and the
        keyframe's ``cause`` label."""
        index = len(scene.samples)
        sample_token = self.token("sample", scene.name, index)
        scene.samples.append(sample_token)
        self.keyframe_causes[sample_token] = cause
        self.tables["sample"].append({"token": sample_token, "timestamp": utime, "scene_token": scene.token})
        rotation = yaw_quaternion(float(ego_pose[2]))
        for channel, data in zip(self.channels, [*images, None]):
            sd_token = self.token("sample_data", scene.name, channel, index)
            stem = f"n000-synth-{scene.name}__{channel}__{utime}"
            if data is None:  # LIDAR_TOP: no points
                filename, fileformat, width, height = f"samples/{channel}/{stem}.pcd.bin", "pcd", 0, 0
                (self.root / filename).write_bytes(b"")
            else:
                cam = self.cameras[self.channels.index(channel)]
                filename, fileformat, width, height = f"samples/{channel}/{stem}.jpg", "jpg", cam.width, cam.height
                (self.root / filename).write_bytes(data)
                drawn = buffers[self.channels.index(channel)] if buffers is not None else None
                if drawn is not None and drawn.instance is not None:
                    self._write_png(DENSE_DIRS["instance"], filename, self._global_ids(scene, drawn.instance))
                if drawn is not None and drawn.label is not None:
                    self._write_png(DENSE_DIRS["label"], filename, drawn.label)
                    self._write_png(DENSE_DIRS["depth"], filename, np.clip(np.round(drawn.depth * 100), 0, 65535).astype(np.uint16))
            self.tables["ego_pose"].append({"token": sd_token, "timestamp": utime, "rotation": rotation,
                                            "translation": [float(ego_pose[0]), float(ego_pose[1]), 0.0]})
            scene.sample_data[channel].append({
                "token": sd_token, "sample_token": sample_token, "ego_pose_token": sd_token,
                "calibrated_sensor_token": scene.calibration[channel], "timestamp": utime, "fileformat": fileformat,
                "is_key_frame": True, "height": height, "width": width, "filename": filename})
        for i in np.flatnonzero(annotated):
            self._annotate(scene, sample_token, index, int(i), agents, agent_pose[i], ego_pose)

    def _write_png(self, folder: str, image_file: str, array: np.ndarray) -> None:
        path = self.root / dense_path(image_file, folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), array)

    def _global_ids(self, scene: _SceneRecords, mask: np.ndarray) -> np.ndarray:
        """Scene-local ids (agent index + 1) -> dataset-wide ids (position in ``instance_index`` + 1)."""
        lookup = np.zeros(int(mask.max()) + 1, dtype=np.uint16)
        for local in np.unique(mask[mask > 0]):
            token = self.token("instance", scene.name, int(local) - 1)
            if token not in self._instance_ids:
                self.instance_index.append(token)
                self._instance_ids[token] = len(self.instance_index)
            lookup[local] = self._instance_ids[token]
        return lookup[mask]

    def _annotate(self, scene: _SceneRecords, sample_token: str, index: int, agent: int, agents: Agents,
                  pose: np.ndarray, ego_pose: np.ndarray) -> None:
        length, width, height = agents.size[agent]
        kind = agents.kind[agent]
        moving = pose[3] > MOVING_MPS
        if kind == PEDESTRIAN:
            category, attribute = "human.pedestrian.adult", "pedestrian.moving" if moving else "pedestrian.standing"
        else:
            category = "vehicle.truck" if kind == TRUCK else "vehicle.car"
            attribute = "vehicle.parked" if agents.parked[agent] else "vehicle.moving" if moving else "vehicle.stopped"
        distance = float(np.hypot(pose[0] - ego_pose[0], pose[1] - ego_pose[1]))
        scene.annotations.setdefault(agent, []).append({
            "token": self.token("sample_annotation", scene.name, agent, index), "sample_token": sample_token,
            "instance_token": self.token("instance", scene.name, agent), "visibility_token": "4",
            "attribute_tokens": [self.token("attribute", attribute)],
            "translation": [float(pose[0]), float(pose[1]), float(height / 2)], "size": [float(width), float(length), float(height)],
            "rotation": yaw_quaternion(float(pose[2])),
            # No lidar is simulated; a plausible positive count keeps the devkit's filters from dropping boxes.
            "num_lidar_pts": max(1, int(3000.0 / max(distance, 1.0))), "num_radar_pts": 0,
            "category_name": category,
        })

    def end_scene(self, scene: _SceneRecords) -> None:
        """Link the prev/next chains and write the scene's sample, instance and annotation records."""
        record = next(r for r in self.tables["scene"] if r["token"] == scene.token)
        record.update(nbr_samples=len(scene.samples), first_sample_token=scene.samples[0], last_sample_token=scene.samples[-1])
        samples = self.tables["sample"][-len(scene.samples):]
        _link(samples)
        for chain in scene.sample_data.values():
            _link(chain)
            self.tables["sample_data"].extend(chain)
        for agent, chain in scene.annotations.items():
            _link(chain)
            category = chain[0].pop("category_name")
            for r in chain[1:]:
                r.pop("category_name")
            self.tables["sample_annotation"].extend(chain)
            self.tables["instance"].append({
                "token": chain[0]["instance_token"], "category_token": self.token("category", category),
                "nbr_annotations": len(chain), "first_annotation_token": chain[0]["token"],
                "last_annotation_token": chain[-1]["token"]})

    def finish(self) -> None:
        for name, records in self.tables.items():
            (self.root / self.version / f"{name}.json").write_text(json.dumps(records, indent=0))
        if self.instance_index:
            (self.root / "instance_masks" / "index.json").write_text(json.dumps(self.instance_index))
        write_keyframe_causes(self.root / self.version / KEYFRAME_CAUSES_FILE, self.keyframe_causes)


def dense_path(image_file: str, folder: str) -> str:
    """``samples/CAM/stem.jpg`` -> ``<folder>/CAM/stem.png``: where a keyframe image's label PNG lies."""
    parts = Path(image_file).parts
    return str(Path(folder, *parts[1:-1], Path(parts[-1]).with_suffix(".png").name))


def _link(records: list[dict]) -> None:
    for i, r in enumerate(records):
        r["prev"] = records[i - 1]["token"] if i else ""
        r["next"] = records[i + 1]["token"] if i + 1 < len(records) else ""
