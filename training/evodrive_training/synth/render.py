"""Camera images of the world: true perspective, vectorised numpy + OpenCV.

Per camera and frame: the sky is a precomputed gradient; the ground is the scene's colour texture
warped with the plane-to-image homography (exact for a flat world); then every object part (car
body and cabin, truck cargo and cab, pedestrian legs/torso/head, buildings) is drawn as a shaded
3-D box, far objects first (painter's algorithm), back faces culled, faces clipped at the near
plane. An optional 16-bit buffer receives the instance id of each drawn pixel (1 + agent index).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .camera_rig import Camera
from .config import CameraConfig
from .ground import Buildings, GroundMap
from .world import CAR, PEDESTRIAN, SIGNAL_HEAD_SIZE_M, SIGNAL_POLE_HEIGHT_M, TRUCK, Agents, TrafficLights

NEAR_M = 0.3
AMBIENT = 0.55
_SHIFT = 4  # fixed-point bits for sub-pixel polygon vertices
_SCALE = 1 << _SHIFT

# Unit-box corners (x forward, y left, z up; z from 0 to 1) and the five faces that can be seen
# from above ground (bottom omitted), with their outward normals in the box frame.
_CORNERS = np.array([[sx, sy, sz] for sx in (0.5, -0.5) for sy in (0.5, -0.5) for sz in (0.0, 1.0)])
_FACES = np.array([[0, 2, 3, 1], [4, 5, 7, 6], [0, 1, 5, 4], [2, 6, 7, 3], [1, 3, 7, 5]])
_NORMALS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]], dtype=float)

# Part templates per kind: x offset, length, width (fractions of the box), z from, z to (fractions
# of height), colour (None = the agent's own colour, else a fixed RGB mixed 70 % into it).
_PARTS = {
    CAR: [(0.0, 1.0, 1.0, 0.0, 0.55, None), (-0.08, 0.55, 0.92, 0.55, 1.0, (40, 50, 60))],
    TRUCK: [(-0.12, 0.76, 1.0, 0.05, 1.0, None), (0.38, 0.24, 1.0, 0.0, 0.8, (230, 230, 230))],
    PEDESTRIAN: [(0.0, 0.6, 0.7, 0.0, 0.47, (40, 40, 60)), (0.0, 0.7, 1.0, 0.47, 0.86, None),
                 (0.0, 0.5, 0.45, 0.86, 1.0, (210, 170, 140))],
}


# Per-pixel classes of the dense labels (``LabelBuffers.label``): what a planner must see.
DENSE_LABELS = ("background", "vehicle", "pedestrian", "signal_green", "signal_yellow", "signal_red")
BACKGROUND, VEHICLE_LABEL, PEDESTRIAN_LABEL = 0, 1, 2
SIGNAL_LABELS = np.array([DENSE_LABELS.index(f"signal_{c}") for c in ("green", "yellow", "red")])  # by state (GREEN, YELLOW, RED)


@dataclass
class Parts:
    """Boxes to draw: centre of the base (P, 3), size (P, 3: l, w, h), yaw, RGB colour, instance id, dense label."""

    base: np.ndarray
    size: np.ndarray
    yaw: np.ndarray
    colour: np.ndarray
    instance: np.ndarray  # 0 for scenery
    owner: np.ndarray  # parts of one object are drawn together, in template order
    label: np.ndarray  # ``DENSE_LABELS`` index

    @staticmethod
    def concat(items: list["Parts"]) -> "Parts":
        fields = ("base", "size", "yaw", "colour", "instance", "owner", "label")
        return Parts(*(np.concatenate([getattr(p, f) for p in items]) for f in fields))


@dataclass
class LabelBuffers:
    """Per-pixel ground truth of one camera image, drawn with the image (same visibility)."""

    instance: np.ndarray | None  # uint16: agent index + 1 (0: scenery)
    label: np.ndarray | None  # uint8: ``DENSE_LABELS`` index
    depth: np.ndarray | None  # float32: metres from the camera to the base of the object drawn there (0: none)


def agent_parts(agents: Agents, pose: np.ndarray, active: np.ndarray) -> Parts:
    """Split each active agent's box into its coloured parts. ``pose`` is (A, 4) x, y, yaw, speed."""
    items = []
    for kind, template in _PARTS.items():
        idx = np.flatnonzero(active & (agents.kind == kind))
        if not len(idx):
            continue
        size, yaw = agents.size[idx], pose[idx, 2]
        for dx, fl, fw, z0, z1, fixed in template:
            offset = dx * size[:, 0]
            base = np.stack([pose[idx, 0] + offset * np.cos(yaw), pose[idx, 1] + offset * np.sin(yaw), z0 * size[:, 2]], axis=1)
            part_size = np.stack([fl * size[:, 0], fw * size[:, 1], (z1 - z0) * size[:, 2]], axis=1)
            colour = agents.colour[idx].astype(float)
            if fixed is not None:
                colour = 0.3 * colour + 0.7 * np.array(fixed, dtype=float)
            label = np.full(len(idx), PEDESTRIAN_LABEL if kind == PEDESTRIAN else VEHICLE_LABEL, np.uint8)
            items.append(Parts(base, part_size, yaw, colour, idx + 1, idx, label))
    if not items:
        return Parts(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3)), np.zeros(0, int), np.zeros(0, int), np.zeros(0, np.uint8))
    return Parts.concat(items)


SIGNAL_RGB = np.array([(40, 225, 90), (245, 200, 30), (235, 35, 35)], dtype=float)  # GREEN, YELLOW, RED: the lit head
_POLE_RGB = (70, 70, 75)


def light_parts(lights: TrafficLights, t: float, first_owner: int) -> Parts:
    """Each signal at time ``t``: a pole and a head lit in its state's colour (scenery, instance 0)."""
    n, state = len(lights), lights.state(t)
    along, across, height = SIGNAL_HEAD_SIZE_M
    pole = np.concatenate([lights.head_xy, np.zeros((n, 1))], axis=1)
    head = np.concatenate([lights.head_xy, np.full((n, 1), SIGNAL_POLE_HEIGHT_M)], axis=1)
    return Parts(
        base=np.concatenate([pole, head]),
        size=np.concatenate([np.tile([0.2, 0.2, SIGNAL_POLE_HEIGHT_M], (n, 1)), np.tile([along, across, height], (n, 1))]),
        yaw=np.concatenate([lights.yaw, lights.yaw]),
        colour=np.concatenate([np.tile(_POLE_RGB, (n, 1)).astype(float), SIGNAL_RGB[state]]),
        instance=np.zeros(2 * n, int),
        owner=first_owner + np.concatenate([np.arange(n), np.arange(n)]),
        label=np.concatenate([np.full(n, BACKGROUND, np.uint8), SIGNAL_LABELS[state].astype(np.uint8)]),
    )


def frame_parts(agents: Agents, pose: np.ndarray, active: np.ndarray, scenery: Parts, lights: TrafficLights, t: float) -> Parts:
    """Everything drawn in one frame: the agents at ``pose``, the static scenery, the signals at ``t``."""
    first_owner = int(max(scenery.owner.max(initial=-1), len(agents) - 1)) + 1
    return Parts.concat([agent_parts(agents, pose, active), scenery, light_parts(lights, t, first_owner)])


def building_parts(buildings: Buildings, first_owner: int) -> Parts:
    base = buildings.center.copy()
    base[:, 2] = 0.0
    return Parts(base, buildings.size, buildings.yaw, buildings.colour.astype(float), np.zeros(len(buildings), int),
                 first_owner + np.arange(len(buildings)), np.full(len(buildings), BACKGROUND, np.uint8))


class SceneRenderer:
    """Renders one scene's cameras; built once per scene (ground texture, lighting, fog rows)."""

    def __init__(self, rig: list[Camera], ground: GroundMap, palette_bgr: np.ndarray, buildings: Buildings,
                 camera_config: CameraConfig, sky_rgb, horizon_rgb, brightness: float, sun: np.ndarray):
        self.rig, self.ground, self.buildings = rig, ground, buildings
        self.texture = ground.colour_texture(palette_bgr)
        # Once per scene, not per camera image: a 3x3 LAPACK inverse costs ~3 us alone but ms when
        # OpenBLAS's threads contend with a training beside it (measured).
        self.world_from_texture = np.linalg.inv(ground.texture_from_world)
        self.border = tuple(int(c) for c in palette_bgr[0])
        self.horizon_bgr = np.clip(np.array(horizon_rgb[::-1], dtype=float) * brightness, 0, 255)
        sky_bgr = np.clip(np.array(sky_rgb[::-1], dtype=float) * brightness, 0, 255)
        self.sun = sun / np.linalg.norm(sun)
        self.brightness = brightness
        self.fog = (camera_config.fog_start_m, camera_config.fog_end_m)
        self.jpeg_quality = camera_config.jpeg_quality
        self.sky: list[np.ndarray] = []
        self.fog_rows: list[tuple[int, np.ndarray]] = []
        for cam in rig:
            horizon = int(np.floor(cam.intrinsic[1, 2])) + 1  # first row that sees the ground
            f = np.linspace(0.0, 1.0, horizon)[:, None] ** 0.6
            self.sky.append(np.repeat(((1 - f) * sky_bgr + f * self.horizon_bgr)[:, None, :], cam.width, axis=1).astype(np.uint8))
            rows = np.arange(horizon, cam.height)
            distance = cam.intrinsic[1, 1] * cam.translation[2] / (rows - cam.intrinsic[1, 2])
            weight = np.clip((distance - self.fog[0]) / (self.fog[1] - self.fog[0]), 0.0, 1.0)
            self.fog_rows.append((horizon, weight[weight > 0][:, None, None].astype(np.float32)))

    def render(self, ego_pose: np.ndarray, parts: Parts, with_ids: bool = False,
               with_dense: bool = False) -> list[tuple[np.ndarray, LabelBuffers | None]]:
        """(BGR image, label buffers or None) per camera, for the ego at ``ego_pose`` (x, y, yaw):
        the instance ids with ``with_ids``, the dense labels and object depth with ``with_dense``."""
        x, y, yaw = ego_pose[:3]
        c, s = np.cos(yaw), np.sin(yaw)
        world_from_ego = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        corners, centres, normals, shade = _box_geometry(parts, self.sun, self.brightness)
        out = []
        for k, cam in enumerate(self.rig):
            rotation = world_from_ego @ cam.rotation  # world_from_camera
            origin = world_from_ego @ cam.translation + np.array([x, y, 0.0])
            image = np.empty((cam.height, cam.width, 3), dtype=np.uint8)
            shape = (cam.height, cam.width)
            buffers = LabelBuffers(np.zeros(shape, np.uint16) if with_ids else None, np.zeros(shape, np.uint8) if with_dense else None,
                                   np.zeros(shape, np.float32) if with_dense else None)
            self._draw_sky_and_ground(image, k, cam, rotation, origin)
            self._draw_boxes(image, buffers, cam, rotation, origin, parts, corners, centres, normals, shade)
            out.append((image, buffers if with_ids or with_dense else None))
        return out

    def encode(self, image: np.ndarray) -> bytes:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        assert ok
        return data.tobytes()

    def _draw_sky_and_ground(self, image: np.ndarray, k: int, cam: Camera, rotation: np.ndarray, origin: np.ndarray) -> None:
        horizon, fog_weight = self.fog_rows[k]
        image[:horizon] = self.sky[k]
        plane = np.array([[1.0, 0.0, -origin[0]], [0.0, 1.0, -origin[1]], [0.0, 0.0, -origin[2]]])
        band_from_image = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -horizon], [0.0, 0.0, 1.0]])
        homography = band_from_image @ cam.intrinsic @ rotation.T @ plane @ self.world_from_texture
        cv2.warpPerspective(self.texture, homography, (cam.width, cam.height - horizon), dst=image[horizon:],
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=self.border)
        if len(fog_weight):
            band = image[horizon:horizon + len(fog_weight)].astype(np.float32)
            image[horizon:horizon + len(fog_weight)] = band * (1 - fog_weight) + self.horizon_bgr * fog_weight

    def _draw_boxes(self, image, buffers: LabelBuffers, cam: Camera, rotation, origin, parts: Parts, corners, centres, normals, shade) -> None:
        if not len(parts.yaw):
            return
        cam_pts = (corners - origin) @ rotation  # (P, 8, 3) in the camera frame
        z = cam_pts[..., 2]
        depth = np.linalg.norm(parts.base[:, :2] - origin[:2], axis=1)
        u = cam.intrinsic[0, 0] * cam_pts[..., 0] / np.maximum(z, NEAR_M) + cam.intrinsic[0, 2]
        v = cam.intrinsic[1, 1] * cam_pts[..., 1] / np.maximum(z, NEAR_M) + cam.intrinsic[1, 2]
        in_front = z > NEAR_M
        keep = in_front.any(axis=1) & (depth < self.fog[1] + 20.0)
        all_front = in_front.all(axis=1)
        off_screen = all_front & ((u < 0).all(1) | (u >= cam.width).all(1) | (v < 0).all(1) | (v >= cam.height).all(1))
        keep &= ~off_screen
        facing = np.einsum("pfc,pfc->pf", origin - centres, normals) > 0  # (P, 5)
        owner_depth = np.zeros(parts.owner.max() + 1)
        np.maximum.at(owner_depth, parts.owner, depth)
        order = np.lexsort((np.arange(len(depth)), -owner_depth[parts.owner]))
        fog_w = np.clip((depth - self.fog[0]) / (self.fog[1] - self.fog[0]), 0.0, 1.0)
        pixels = np.stack([u, v], axis=-1) * _SCALE
        for p in order[keep[order]]:
            colours = shade[p] * (1 - fog_w[p]) + self.horizon_bgr * fog_w[p]
            for f in np.flatnonzero(facing[p]):
                face = _FACES[f]
                if all_front[p]:
                    polygon = np.round(pixels[p, face]).astype(np.int32)
                else:
                    clipped = _clip_near(cam_pts[p, face])
                    if len(clipped) < 3:
                        continue
                    polygon = np.round(_project(cam, clipped) * _SCALE).astype(np.int32)
                colour = tuple(float(c) for c in colours[f])
                cv2.fillConvexPoly(image, polygon, colour, cv2.LINE_8, _SHIFT)
                if buffers.instance is not None:
                    cv2.fillConvexPoly(buffers.instance, polygon, int(parts.instance[p]), cv2.LINE_8, _SHIFT)
                if buffers.label is not None:
                    cv2.fillConvexPoly(buffers.label, polygon, int(parts.label[p]), cv2.LINE_8, _SHIFT)
                    cv2.fillConvexPoly(buffers.depth, polygon, float(depth[p]) if parts.label[p] else 0.0, cv2.LINE_8, _SHIFT)


def _box_geometry(parts: Parts, sun: np.ndarray, brightness: float):
    """World corners (P, 8, 3), face centres and normals (P, 5, 3), shaded BGR face colours (P, 5, 3)."""
    c, s = np.cos(parts.yaw), np.sin(parts.yaw)
    rot = np.zeros((len(c), 3, 3))
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1], rot[:, 2, 2] = c, -s, s, c, 1.0
    local = _CORNERS[None] * parts.size[:, None, :]
    corners = np.einsum("pij,pkj->pki", rot, local) + parts.base[:, None, :]
    centres = corners[:, _FACES].mean(axis=2)
    normals = np.einsum("pij,fj->pfi", rot, _NORMALS)
    light = AMBIENT + (1 - AMBIENT) * np.clip(normals @ sun, 0.0, 1.0)
    shade = np.clip(parts.colour[:, None, ::-1] * light[..., None] * brightness, 0, 255)
    return corners, centres, normals, shade


def _clip_near(polygon: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman clip of a camera-frame polygon (K, 3) to z >= NEAR_M."""
    out = []
    for a, b in zip(polygon, np.roll(polygon, -1, axis=0)):
        a_in, b_in = a[2] >= NEAR_M, b[2] >= NEAR_M
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (NEAR_M - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out)


def _project(cam: Camera, points: np.ndarray) -> np.ndarray:
    uvw = points @ cam.intrinsic.T
    return uvw[:, :2] / uvw[:, 2:3]
