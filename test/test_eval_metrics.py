"""Hand-computed cases for the open-loop metrics (METHOD.md §6.1-6.2)."""

import numpy as np
import pytest

from evodrive_ros.core.openloop_metrics import (
    OpenLoopAccumulator,
    box_collisions,
    ego_footprint_cells,
    l2_per_step,
    protocol_summary,
    protocol_values,
)


def _grid(*cells, steps=6):
    occ = np.zeros((steps, 200, 200), dtype=bool)
    for step, row, col in cells:
        occ[step, row, col] = True
    return occ


def test_footprint_is_rows_97_to_104_and_cols_98_to_101():
    # 4.084 m long, 0.5 m ahead: forward [-1.542, 2.542] -> centres -1.25..2.25 -> rows 97..104;
    # 1.85 m wide: [-0.925, 0.925] -> centres -0.75..0.75 -> cols 98..101.
    rows, cols = ego_footprint_cells()
    assert sorted(set(rows.tolist())) == list(range(97, 105))
    assert sorted(set(cols.tolist())) == list(range(98, 102))
    assert len(rows) == 32


@pytest.mark.parametrize(
    "forward, hit",
    [(10.0, True), (10.3, True), (10.5, False)],  # rows 117..124; 10.3 -> trunc(20.6 + r) still 117..124
)
def test_forward_translation_truncates(forward, hit):
    occ = _grid((0, 117, 100), steps=1)
    assert box_collisions(np.array([[forward, 0.0]]), occ)[0] == hit


def test_lateral_axis_direction_depends_on_columns():
    traj = np.array([[0.0, 1.0]])  # 1 m to the left
    left_grid = _grid((0, 100, 103), steps=1)  # left columns: 98 + 2 .. 101 + 2
    right_grid = _grid((0, 100, 96), steps=1)  # right columns: 98 - 2 .. 101 - 2
    assert box_collisions(traj, left_grid, "left")[0]
    assert not box_collisions(traj, left_grid, "right")[0]
    assert box_collisions(traj, right_grid, "right")[0]
    assert not box_collisions(traj, right_grid, "left")[0]


def test_far_waypoint_is_clipped_to_the_border_like_the_original():
    occ = _grid((0, 199, 100), steps=1)
    assert box_collisions(np.array([[500.0, 0.0]]), occ)[0]
    assert not box_collisions(np.array([[-500.0, 0.0]]), occ)[0]


def test_each_step_uses_its_own_grid():
    occ = _grid((2, 100, 100))
    assert box_collisions(np.zeros((6, 2)), occ).tolist() == [False, False, True, False, False, False]


def test_l2_with_mask_adds_zero_but_sample_counts():
    gt = np.zeros((6, 2))
    pred = np.tile([[3.0, 4.0]], (6, 1))
    mask = np.array([1, 1, 1, 1, 0, 0])
    assert l2_per_step(pred, gt, mask).tolist() == [5, 5, 5, 5, 0, 0]
    acc = OpenLoopAccumulator()
    empty = np.zeros((6, 200, 200), dtype=bool)
    acc.add(pred, gt, empty, mask=mask)
    acc.add(gt, gt, empty, mask=np.ones(6))
    l2, _ = acc.per_step()
    assert l2.tolist() == [2.5, 2.5, 2.5, 2.5, 0, 0]


def test_gt_collision_steps_are_not_counted():
    gt = np.zeros((6, 2))
    pred = np.zeros((6, 2))
    pred[3] = [20.0, 0.0]
    # Step 1: obstacle under both GT and prediction -> excluded. Step 3: under the prediction only.
    occ = _grid((1, 100, 100), (3, 140, 100))
    acc = OpenLoopAccumulator()
    counted = acc.add(pred, gt, occ)
    assert counted.tolist() == [False, False, False, True, False, False]
    acc.add(gt, gt, np.zeros_like(occ))
    _, col = acc.per_step()
    assert col.tolist() == [0, 0, 0, 0.5, 0, 0]


def test_protocol_aggregation():
    per_step = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert protocol_values(per_step, "stp3") == [1.5, 2.5, 3.5, 2.5]
    assert protocol_values(per_step, "uniad") == [2.0, 4.0, 6.0, 4.0]
    summary = protocol_summary(per_step, np.array([0, 0.01, 0, 0, 0, 0.03]), "uniad")
    assert summary["collision"] == pytest.approx([1.0, 0.0, 3.0, 4.0 / 3.0])
    with pytest.raises(ValueError):
        protocol_values(per_step, "vad")
