"""A closed-loop rollout as an animated GIF: a bird's-eye view that turns with the car, the plan in
force drawn over time, and the expert's path of the same scenario, beside the front camera."""

from __future__ import annotations

from pathlib import Path
import cv2
import numpy as np
from PIL import Image

from evodrive_ros.closedloop.pdm_metrics import box_corners
from evodrive_ros.core.conventions import CAMERAS
from evodrive_ros.core.frames import world_to_ego_xy
from evodrive_training.closedloop import Rollout, Scenario, ego_boxes
from evodrive_training.synth.ground import MAP_RESOLUTION_M
from evodrive_training.synth.render import SIGNAL_RGB, frame_parts


BEV_PIXELS = 320
BEV_METRES_PER_PIXEL = 0.2
EGO_ROW = int(BEV_PIXELS * 0.7)  # the ego sits low in the view: more road ahead than behind
FRAME_PERIOD_S = 0.2
COLOURS_BGR = {"agent": (200, 120, 40), "static": (120, 120, 120), "pedestrian": (40, 40, 220), "ego": (30, 170, 30),
               "plan": (0, 215, 255), "expert": (255, 0, 255)}


def to_bev(points_xy: np.ndarray, ego: np.ndarray) -> np.ndarray:
    """World points (N, 2) -> BEV pixels (col, row): the ego at (centre, EGO_ROW), heading up."""
    local = world_to_ego_xy(points_xy, ego[:2], float(ego[2]))
    return np.stack([BEV_PIXELS / 2 - local[:, 1] / BEV_METRES_PER_PIXEL, EGO_ROW - local[:, 0] / BEV_METRES_PER_PIXEL], axis=1)


def _ground(scenario: Scenario, ego: np.ndarray) -> np.ndarray:
    rows = scenario.renderer.ground.rows
    texture_px = np.array([[0.0, 0.0], [1000.0, 0.0], [0.0, 1000.0]])
    world = np.stack([texture_px[:, 0] * MAP_RESOLUTION_M, (rows - texture_px[:, 1]) * MAP_RESOLUTION_M], axis=1)
    affine = cv2.getAffineTransform(texture_px.astype(np.float32), to_bev(world, ego).astype(np.float32))
    return cv2.warpAffine(scenario.renderer.texture, affine, (BEV_PIXELS, BEV_PIXELS), flags=cv2.INTER_AREA,
                          borderValue=tuple(int(c) for c in scenario.renderer.texture[0, 0]))


def bev_frame(scenario: Scenario, run: Rollout, k: int) -> np.ndarray:
    ego = np.asarray(run.ego[k])
    image = _ground(scenario, ego)
    pose, active = run.agent_pose[k], run.agent_active[k]
    for m in np.flatnonzero(active):
        box = np.array([*pose[m, :3], *scenario.agents.size[m, :2]])
        kind = {0: "agent", 1: "pedestrian", 2: "static"}[int(scenario.agent_kinds[m])]
        cv2.fillConvexPoly(image, np.round(to_bev(box_corners(box), ego)).astype(np.int32), COLOURS_BGR[kind], cv2.LINE_AA)
    cv2.fillConvexPoly(image, np.round(to_bev(box_corners(ego_boxes(ego[None])[0]), ego)).astype(np.int32), COLOURS_BGR["ego"], cv2.LINE_AA)
    _draw_stop_lines(image, scenario, ego, float(run.times[k]))
    expert = np.asarray(scenario.reference.ego)[k:, :2]
    cv2.polylines(image, [np.round(to_bev(expert, ego)).astype(np.int32)], False, COLOURS_BGR["expert"], 1, cv2.LINE_AA)
    plan = [p for t, p in run.plans if t <= run.times[k] + 1e-9]
    if plan:
        points = np.round(to_bev(np.vstack([ego[None, :2], plan[-1]]), ego)).astype(np.int32)
        cv2.polylines(image, [points], False, COLOURS_BGR["plan"], 2, cv2.LINE_AA)
        for point in points[1:]:
            cv2.circle(image, tuple(int(c) for c in point), 3, COLOURS_BGR["plan"], -1, cv2.LINE_AA)
    label = f"t={run.times[k]:4.1f}s  {ego[3]:4.1f} m/s"
    cv2.putText(image, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def _draw_stop_lines(image: np.ndarray, scenario: Scenario, ego: np.ndarray, t: float) -> None:
    """Each signal's stop line across the ego's lane, in the colour the signal shows at ``t``."""
    lights = scenario.lights
    for stop_s, yaw, state in zip(lights.stop_s, lights.yaw, lights.state(t)):
        centre = scenario.route.point_at(float(stop_s))
        across = np.array([-np.sin(yaw), np.cos(yaw)]) * 1.8
        ends = np.round(to_bev(np.stack([centre - across, centre + across]), ego)).astype(np.int32)
        colour = tuple(int(c) for c in SIGNAL_RGB[int(state)][::-1])  # the head's own colour, BGR
        cv2.line(image, tuple(int(v) for v in ends[0]), tuple(int(v) for v in ends[1]), colour, 3, cv2.LINE_AA)


def front_camera(scenario: Scenario, run: Rollout, k: int) -> np.ndarray:
    """The front camera at step ``k`` (BGR), scaled to the BEV's height."""
    parts = frame_parts(scenario.agents, run.agent_pose[k], run.agent_active[k], scenario.scenery, scenario.lights, float(run.times[k]))
    image = scenario.renderer.render(np.asarray(run.ego[k][:3]), parts)[CAMERAS.index("CAM_FRONT")][0]
    height, width = image.shape[:2]
    return cv2.resize(image, (int(round(width * BEV_PIXELS / height)), BEV_PIXELS), interpolation=cv2.INTER_LINEAR)


def write_gif(scenario: Scenario, run: Rollout, path: Path, title: str) -> Path:
    """Every ``FRAME_PERIOD_S`` of ``run``: BEV (plan in yellow, the expert's path in magenta) | front camera."""
    stride = max(1, int(round(FRAME_PERIOD_S / scenario.dt)))
    frames = []
    for k in range(0, len(run.times), stride):
        frame = np.hstack([bev_frame(scenario, run, k), front_camera(scenario, run, k)])
        cv2.putText(frame, title, (BEV_PIXELS + 6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        frames.append(Image.fromarray(frame[..., ::-1]))
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=int(FRAME_PERIOD_S * 1000), loop=0, optimize=True)
    return path
