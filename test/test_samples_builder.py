"""The sample builder on a hand-made scene source: frames, edges of the scene, dynamics, occupancy."""

import math

import numpy as np

from evodrive_ros.core.conventions import COMMANDS
from evodrive_ros.core.driving_samples import SOURCE_CAN, SOURCE_KINEMATIC, unpack_occupancy
from evodrive_training.data.occupancy import rasterise_boxes
from evodrive_training.data.samples import build_scene_samples
from evodrive_training.data.scene_source import MapWindow, SceneSource

N = 8


def _source(can_gap=3):
    # Ego drives along world +y (yaw 90 deg) at 5 m/s; a static 4 m x 2 m car sits at world (-3, 20), yaw 0.
    ego_xy = np.stack([np.zeros(N), 2.5 * np.arange(N)], axis=1)
    can = np.tile([5.0, 0.1, -0.2], (N, 1))
    can[can_gap] = math.nan
    return SceneSource(
        scene_token="scene-tok",
        scene_name="scene-0001",
        sample_tokens=[f"s{i}" for i in range(N)],
        timestamps_us=np.arange(N, dtype=np.int64) * 500_000,
        ego_xy=ego_xy,
        ego_yaw=np.full(N, math.pi / 2),
        camera_paths=np.array([[f"samples/CAM_{c}/{i}.jpg" for c in range(6)] for i in range(N)]),
        boxes=[np.array([[-3.0, 20.0, 0.0, 4.0, 2.0]])] * N,
        can_motion=can,
        can_steering=np.full(N, math.nan),
    )


def test_history_and_future_in_the_current_ego_frame():
    s = build_scene_samples(_source())
    # keyframe 5: history at -2..0 s is 10, 7.5, 5, 2.5, 0 m behind; future 2.5 m per step ahead, 2 valid.
    assert np.allclose(s["history_xy"][5], [[-10, 0], [-7.5, 0], [-5, 0], [-2.5, 0], [0, 0]], atol=1e-6)
    assert s["history_valid"][5].all()
    assert np.allclose(s["future_xy"][5], [[2.5, 0], [5, 0], [0, 0], [0, 0], [0, 0], [0, 0]], atol=1e-6)
    assert s["future_valid"][5].tolist() == [True, True, False, False, False, False]


def test_scene_start_pads_history_with_the_first_keyframe():
    s = build_scene_samples(_source())
    assert s["history_valid"][1].tolist() == [False, False, False, True, True]
    assert np.allclose(s["history_xy"][1], [[-2.5, 0]] * 4 + [[0, 0]], atol=1e-6)
    assert np.allclose(s["history_dynamics"][1][0], s["history_dynamics"][0][-1])


def test_end_of_scene_teacher_inputs_are_padded_not_dropped():
    s = build_scene_samples(_source())
    assert len(s["sample_token"]) == N
    # keyframe 5 of 8: +1 s is keyframe 7 (exists); +2 s and +3 s repeat keyframe 7.
    assert s["teacher_front_paths"][5].tolist() == ["samples/CAM_0/7.jpg"] * 3
    assert s["teacher_front_padded"][5].tolist() == [False, True, True]
    assert s["future_dynamics_padded"][5].tolist() == [False, False, True, True, True, True]
    assert s["teacher_front_paths"][0].tolist() == ["samples/CAM_0/2.jpg", "samples/CAM_0/4.jpg", "samples/CAM_0/6.jpg"]


def test_dynamics_sources_record_the_fallbacks():
    s = build_scene_samples(_source(can_gap=3))
    src = s["history_dynamics_source"][3]  # keyframes -1..3 -> last one is the CAN gap
    assert src[-1].tolist() == [SOURCE_KINEMATIC] * 4
    assert src[-2].tolist() == [SOURCE_CAN] * 3 + [SOURCE_KINEMATIC]  # steering never on CAN here
    assert np.allclose(s["history_dynamics"][3][-2], [5.0, 0.1, -0.2, 0.0])
    assert np.allclose(s["history_dynamics"][3][-1], [5.0, 0.0, 0.0, 0.0], atol=1e-6)  # kinematic: 5 m/s straight


def test_commands_follow_the_lateral_rule():
    src = _source()
    src.ego_xy[6:, 0] = [-1.0, -6.0]  # ego swerves to world -x = its left (heading +y) near the end
    s = build_scene_samples(src)
    assert COMMANDS[s["command"][2]] == "LEFT"  # 3 s waypoint (keyframe 8 absent -> last valid, keyframe 7)
    assert COMMANDS[s["command"][0]] == "FORWARD"  # its 3 s waypoint (keyframe 6) is 1 m left


def test_occupancy_places_the_box_in_the_ego_frame():
    s = build_scene_samples(_source())
    grids = unpack_occupancy(s["occupancy_bits"][0])
    # Box centre in ego frame of keyframe 0: 20 m ahead, 3 m left, long side across: x 19..21, y 1..5.
    rows, cols = np.nonzero(grids[0])
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (138, 141, 102, 109)
    assert grids.sum(axis=(1, 2)).tolist() == [32] * 6
    last = unpack_occupancy(s["occupancy_bits"][N - 1])
    assert not last.any()  # no future keyframes -> empty


def test_drivable_grid_follows_the_ego_frame():
    """A 10 m-wide road along world +y (the ego's heading) in a 1 m map: in the ego frame it runs
    along x (rows), 10 m across in y (columns); no map gives an empty, unknown grid."""
    transform = np.array([[1.0, 0, 0, 100], [0, -1.0, 0, 200], [0, 0, 1, 0], [0, 0, 0, 1]])  # pixel = (x + 100, 200 - y)
    mask = np.zeros((400, 200), bool)
    mask[:, 95:105] = True  # world x in [-5, 5)
    source = _source()
    source.map_window = MapWindow(on_mask=mask, row0=0, col0=0, transform=transform)
    s = build_scene_samples(source)
    grid = unpack_occupancy(s["drivable_bits"][3])
    assert s["drivable_known"].all()
    road_columns = np.flatnonzero(grid[100])  # y (left +) = -world x: cells whose centre rounds into [-5, 5)
    assert grid[:, road_columns].all() and len(road_columns) == 20 and abs(road_columns.mean() - 99.5) <= 1
    assert grid.sum() == 200 * len(road_columns)
    empty = build_scene_samples(_source())
    assert not empty["drivable_known"].any() and not empty["drivable_bits"].any()


def test_small_box_between_cell_centres_is_kept():
    grid = rasterise_boxes(np.array([[0.1, 0.1, 0.0, 0.2, 0.2]]))
    assert grid.sum() == 1 and grid[100, 100]


def test_rotated_box_cells():
    grid = rasterise_boxes(np.array([[10.0, 0.0, math.pi / 4, 4.0, 2.0]]))
    cell = lambda x, y: grid[int((x + 50) / 0.5), int((y + 50) / 0.5)]  # noqa: E731
    assert cell(10.1, 0.1) and cell(11.3, 1.3)  # along the 45 deg diagonal, 1.77 m from the centre
    assert not cell(11.3, -1.2)  # across it, 1.77 m > half width


def test_kinematic_steering_fallback_is_the_nodes_vehicle_model():
    """Without CAN steering, training must compute what the node computes from odometry (it used a
    14:1 ratio against the node's 15:1). Turning left at 5 m/s, forwards and in reverse."""
    from evodrive_ros.core.conventions import steering_wheel_angle
    from evodrive_training.data.dynamics import kinematic_dynamics

    t_us = np.arange(N, dtype=np.int64) * 500_000
    for speed in (5.0, -5.0):  # reversing, the car turns clockwise for the same left wheel
        yaw_rate = 0.2 * np.sign(speed)
        yaw = yaw_rate * t_us * 1e-6
        radius = speed / yaw_rate
        xy = np.stack([radius * np.sin(yaw), radius * (1 - np.cos(yaw))], axis=1)
        dynamics = kinematic_dynamics(t_us, xy, yaw)
        np.testing.assert_allclose(dynamics[1:-1, 3], steering_wheel_angle(dynamics[1:-1, 0], yaw_rate), atol=1e-9)
        assert np.all(dynamics[1:-1, 3] > 0.1)  # left +, in both directions
