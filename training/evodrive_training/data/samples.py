"""Builds one scene's driving samples (format: ``evodrive_ros.core.driving_samples``) from its source.

Rules at the scene edges, which never drop a sample:
* history before the scene start: pose and dynamics repeat the scene's first keyframe
  (``history_valid`` False); with ``history_padding="authors"`` a keyframe with at most 2 previous
  keyframes gets the authors' estimate from its history path instead (``authors_padding_dynamics``);
* GT waypoints past the scene end: 0 with ``future_valid`` False (the UniAD/VAD convention); the
  command uses the last valid waypoint (FORWARD if none);
* teacher inputs past the scene end (future dynamics, CAM_FRONT at +1/+2/+3 s): repeat the scene's
  last keyframe, flagged in ``future_dynamics_padded`` / ``teacher_front_padded``;
* occupancy past the scene end: empty grids;
* the drivable area: empty grids with ``drivable_known`` False where the dataroot has no map mask.

Waypoints and boxes are in the split's trajectory frame (``frames.TrajectoryFrame``): the ego pose's
path in the ego frame, or the LIDAR_TOP sensor's path in its own frame as the community files have it.
Dynamics (speed, accelerations, steering) are the vehicle's in both.
"""

from __future__ import annotations

import numpy as np

from evodrive_ros.core.conventions import COMMANDS, FUTURE_STEPS, HISTORY_STEPS, KEYFRAME_HZ, command_from_future
from evodrive_ros.core.driving_samples import SOURCE_KINEMATIC, TEACHER_FRONT_OFFSETS_S, pack_occupancy
from evodrive_ros.core.frames import TrajectoryFrame, rotation_2d, world_to_ego_xy
from evodrive_ros.core.keyframe_causes import UNKNOWN
from evodrive_ros.core.openloop_metrics import GRID_SIZE, cell_centres
from evodrive_training.data.dynamics import scene_dynamics
from evodrive_training.data.occupancy import rasterise_boxes
from evodrive_training.data.scene_source import SceneSource

BUILDER_VERSION = "samples-4"  # bump when the built values change: every cached scene is rebuilt
_AUTHORS_PADDING_MAX_PREVIOUS = 2  # keyframes with more previous ones repeat the oldest, as ours do
_TEACHER_FRONT_STEPS = np.array([round(s * KEYFRAME_HZ) for s in TEACHER_FRONT_OFFSETS_S])


def scene_frame(source: SceneSource, name: str) -> TrajectoryFrame:
    """The trajectory frame ``name`` for this scene (``lidar`` needs the scene's LIDAR_TOP calibration)."""
    if name == "lidar" and source.lidar_mount is None:
        raise ValueError(f"scene {source.scene_name}: no LIDAR_TOP calibration, cannot build the 'lidar' trajectory frame")
    return TrajectoryFrame(name, source.lidar_mount if name == "lidar" else None)


def build_scene_samples(source: SceneSource, frame: TrajectoryFrame = TrajectoryFrame()) -> dict[str, np.ndarray]:
    """Per-sample arrays for every keyframe of the scene (see ``driving_samples`` for the fields)."""
    n = len(source.sample_tokens)
    track_xy, frame_yaw = frame.world_pose(source.ego_xy, source.ego_yaw)
    keyframes = np.arange(n)
    dynamics, dynamics_source = scene_dynamics(
        source.timestamps_us, source.ego_xy, source.ego_yaw, source.can_motion, source.can_steering,
        "zero" if source.can_rule == "authors" else "kinematic",
    )
    history_idx = keyframes[:, None] + np.arange(-(HISTORY_STEPS - 1), 1)[None, :]
    future_idx = keyframes[:, None] + np.arange(1, FUTURE_STEPS + 1)[None, :]
    front_idx = keyframes[:, None] + _TEACHER_FRONT_STEPS[None, :]
    history_valid, future_valid = history_idx >= 0, future_idx < n
    history_clamped, future_clamped = np.maximum(history_idx, 0), np.minimum(future_idx, n - 1)

    history_xy = np.zeros((n, HISTORY_STEPS, 2))
    future_xy = np.zeros((n, FUTURE_STEPS, 2))
    occupancy = np.zeros((n, FUTURE_STEPS, 200, 200), dtype=bool)
    commands = np.zeros(n, dtype=np.uint8)
    for k in keyframes:
        history_xy[k] = world_to_ego_xy(track_xy[history_clamped[k]], track_xy[k], frame_yaw[k])
        # Past the scene end the last keyframe stands in; used for the command only.
        future_for_command = world_to_ego_xy(track_xy[future_clamped[k]], track_xy[k], frame_yaw[k])
        future_xy[k] = np.where(future_valid[k][:, None], future_for_command, 0.0)
        commands[k] = COMMANDS.index(command_from_future(future_for_command))
        for step in np.flatnonzero(future_valid[k]):
            occupancy[k, step] = rasterise_boxes(_boxes_to_frame(source.boxes[future_idx[k, step]], track_xy[k], frame_yaw[k]))
    drivable = np.zeros((n, GRID_SIZE, GRID_SIZE), dtype=bool)
    if source.map_window is not None:
        cells = np.stack(np.meshgrid(cell_centres(), cell_centres(), indexing="ij"), axis=-1).reshape(-1, 2)  # rows x, columns y
        for k in keyframes:
            drivable[k] = source.map_window.contains(track_xy[k] + cells @ rotation_2d(frame_yaw[k]).T).reshape(GRID_SIZE, GRID_SIZE)
    history_dynamics, history_sources = dynamics[history_clamped], dynamics_source[history_clamped]
    if source.history_padding == "authors":
        padded = ~history_valid & (keyframes <= _AUTHORS_PADDING_MAX_PREVIOUS)[:, None]
        history_dynamics = np.where(padded[..., None], authors_padding_dynamics(history_xy)[:, None, :], history_dynamics)
        history_sources = np.where(padded[..., None], SOURCE_KINEMATIC, history_sources).astype(np.uint8)
    return {
        "sample_token": np.array(source.sample_tokens, dtype=str),
        "timestamp_us": np.asarray(source.timestamps_us, dtype=np.int64),
        "camera_paths": np.asarray(source.camera_paths, dtype=str),
        "history_xy": history_xy.astype(np.float32),
        "history_valid": history_valid,
        "history_dynamics": history_dynamics.astype(np.float32),
        "history_dynamics_source": history_sources,
        "command": commands,
        "future_xy": future_xy.astype(np.float32),
        "future_valid": future_valid,
        "future_dynamics": dynamics[future_clamped].astype(np.float32),
        "future_dynamics_source": dynamics_source[future_clamped],
        "future_dynamics_padded": ~future_valid,
        "teacher_front_paths": source.camera_paths[np.minimum(front_idx, n - 1), 0].astype(str),
        "teacher_front_padded": front_idx >= n,
        "occupancy_bits": pack_occupancy(occupancy),
        "drivable_bits": pack_occupancy(drivable),
        "drivable_known": np.full(n, source.map_window is not None),
        "cause": source.cause if source.cause is not None else np.full(n, UNKNOWN, dtype=np.uint8),
    }


def authors_padding_dynamics(history_xy: np.ndarray) -> np.ndarray:
    """(N, 4) dynamics the authors' data builder puts before the scene start (METHOD §5.3), from
    each sample's (H, 2) history path (-2.0 ... 0.0 s; before the scene start it repeats the
    first pose, so the estimate is small or zero near the start, as theirs must be).

    Our reading of an ambiguous description, stated so it can be checked against their cached data:
    speed = distance between the -2.0 s and -0.5 s points / 1.5 s; the longitudinal-acceleration
    slot = the second difference of the *lateral* prompt coordinate (x, to the right) over the last
    three points (-1.0, -0.5, 0.0 s) / 0.5 s, the lateral slot the same of the forward coordinate
    (y), both as the prompt prints them (their CAN-convention mismatch kept); steering 0.
    """
    xy = np.asarray(history_xy, dtype=np.float64)
    step_s = 1.0 / KEYFRAME_HZ
    speed = np.linalg.norm(xy[:, -2] - xy[:, 0], axis=-1) / (3 * step_s)
    second = (xy[:, -1] - 2 * xy[:, -2] + xy[:, -3]) / step_s  # ego frame: x forward, y left
    prompt_x, prompt_y = -second[:, 1], second[:, 0]  # the prompt's x right, y forward
    # The prompt prints the stored lateral value negated (``prompts.format_dynamics``).
    return np.stack([speed, prompt_x, -prompt_y, np.zeros_like(speed)], axis=1)


def _boxes_to_frame(boxes_world: np.ndarray, origin_xy: np.ndarray, yaw: float) -> np.ndarray:
    """World boxes (M, 5) -> the trajectory frame at ``origin_xy`` with heading ``yaw``."""
    boxes = np.array(boxes_world, dtype=np.float64).reshape(-1, 5)
    boxes[:, :2] = world_to_ego_xy(boxes[:, :2], origin_xy, yaw)
    boxes[:, 2] = boxes[:, 2] - yaw
    return boxes
