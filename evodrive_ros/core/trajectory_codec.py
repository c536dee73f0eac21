"""The ``text`` trajectory codec: the paper's ``[(x1,y1), ..., (x6,y6)]`` answer string.

The text uses the paper's prompt convention (x to the right, y forward, metres, 2 decimals); arrays
inside the project use the ego frame (x forward, y left). This module is the only place that maps
between the two for model text.
"""

from __future__ import annotations

import re

import numpy as np

from evodrive_ros.core.conventions import FUTURE_STEPS

_NUMBER = r"-?\d+(?:\.\d+)?"
_PAIR = re.compile(rf"\(\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\)")


class TrajectoryParseError(ValueError):
    """Model text that does not contain exactly the expected number of finite waypoints."""


def ego_to_prompt(xy_ego: np.ndarray) -> np.ndarray:
    """(x forward, y left) -> (x right, y forward)."""
    xy = np.asarray(xy_ego, dtype=np.float64)
    return np.stack([-xy[..., 1], xy[..., 0]], axis=-1)


def prompt_to_ego(xy_prompt: np.ndarray) -> np.ndarray:
    """(x right, y forward) -> (x forward, y left)."""
    xy = np.asarray(xy_prompt, dtype=np.float64)
    return np.stack([xy[..., 1], -xy[..., 0]], axis=-1)


def format_points(xy_prompt: np.ndarray) -> str:
    """Points already in prompt convention -> ``[(x,y), (x,y), ...]`` with 2 decimals."""
    pts = np.asarray(xy_prompt, dtype=np.float64).reshape(-1, 2)
    return "[" + ", ".join(f"({format_number(x)},{format_number(y)})" for x, y in pts) + "]"


def encode_text(xy_ego: np.ndarray) -> str:
    """Ego-frame waypoints (N, 2) -> answer text in the paper's convention."""
    return format_points(ego_to_prompt(xy_ego))


def parse_points(text: str) -> np.ndarray:
    """All ``(x,y)`` pairs in ``text`` as an (N, 2) array in the text's own convention."""
    pairs = _PAIR.findall(text)
    return np.array([[float(a), float(b)] for a, b in pairs], dtype=np.float64).reshape(-1, 2)


def decode_text(text: str, n_points: int = FUTURE_STEPS) -> np.ndarray:
    """Answer text -> ego-frame waypoints (n_points, 2); raises ``TrajectoryParseError``.

    Only the first ``n_points`` pairs are used (a model may continue after the answer); fewer pairs,
    or non-finite values, are an error: a plan is always complete or an explicit failure.
    """
    pts = parse_points(text)
    if len(pts) < n_points:
        raise TrajectoryParseError(f"expected {n_points} (x,y) waypoints, found {len(pts)} in {text[:80]!r}")
    pts = pts[:n_points]
    if not np.all(np.isfinite(pts)):
        raise TrajectoryParseError(f"non-finite waypoint in {text[:80]!r}")
    return prompt_to_ego(pts)


def format_number(value: float) -> str:
    """2 decimals, never '-0.00' (the answer grammar has one spelling per number)."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text
