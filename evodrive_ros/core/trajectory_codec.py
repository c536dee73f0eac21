"""Trajectory codecs: how a plan is written as model text, and read back.

A codec fixes the answer's grammar (``[(x,y), ..., (x6,y6)]``), how many decimals every number the
model reads or writes has, and an optional kinematic *prior*: a plan computed from the ego history
that the answer corrects (answer = waypoints − prior), so a small model learns a residual instead
of the whole motion. Three exist:

* ``text``: the paper's — absolute waypoints, 2 decimals, no prior (digit-by-digit numbers in
  Qwen's tokenizer). The 3B preset's default, and the format of every prediction file.
* ``ctra-residual``: the tiny preset's — the correction to the constant-turn-rate-and-acceleration
  plan, 1 decimal (0.1 m), so that every number is one token of the tiny tokenizer, decoded as the
  expected value of the model's distribution over those tokens (``number_estimate``).
* ``ctra-residual-t2``: the same correction scaled by (3 s / t)² per waypoint (``horizon_power``), so
  the first waypoint's small correction is not rounded away: the codec of the ablation and of the
  shipped tiny student (with ``answer_number_dropout``, it keeps the model from copying its earlier
  numbers; README, issue 11).
* ``draft-residual-t2``: the same scaled correction, to the plan of a learned ego-state draft
  (``ego_draft``: an MLP fitted on the training samples, shipped in the model folder) instead of
  CTRA; the prompt shows the draft. The model refines what an ego-only planner gets right and
  needs the cameras only for the rest (README, issue 11).

Text uses the paper's prompt convention (x to the right, y forward, metres); arrays inside the
project use the ego frame (x forward, y left). This module is the only place that maps between the
two for model text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from evodrive_ros.core.conventions import FUTURE_STEPS
from evodrive_ros.core.ego_draft import EgoDraft
from evodrive_ros.core.kinematic_prediction import predict_kinematic

EGO_DRAFT = "ego-draft"  # the prior of a learned ``EgoDraft``; every other prior is a ``kinematic_prediction`` model

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


def parse_points(text: str) -> np.ndarray:
    """All ``(x,y)`` pairs in ``text`` as an (N, 2) array in the text's own convention."""
    pairs = _PAIR.findall(text)
    return np.array([[float(a), float(b)] for a, b in pairs], dtype=np.float64).reshape(-1, 2)


@dataclass(frozen=True)
class TrajectoryCodec:
    """One way of writing plans and prompt numbers; ``name`` is what a model manifest records."""

    name: str
    decimals: int
    prior: str | None = None  # a ``kinematic_prediction`` model, or ``EGO_DRAFT``, whose plan the answer corrects
    # How a decoder picks a number that is one token: "mode" (the most likely token) or "mean" (the
    # token nearest the expected value of the model's distribution over number tokens: the choice
    # with least expected squared error, which L2 scores; see ``TrajectoryGrammar.choose``).
    number_estimate: str = "mode"
    # With a prior: each answer number is the correction times (3 s / t)^horizon_power, clipped to
    # ±max_abs. Power 2 puts a correction that grows like t² (a wrong acceleration or turn rate) on
    # one scale at every waypoint, so the first number carries as much as the last instead of
    # rounding to 0.0, and the near waypoints get a finer resolution.
    horizon_power: int = 0
    max_abs: float | None = None
    # The fitted draft of an ``EGO_DRAFT`` codec (``with_draft``); the registry's codecs carry none.
    draft: EgoDraft | None = field(default=None, compare=False, repr=False)

    @property
    def shows_draft(self) -> bool:
        """Whether the prompt shows the prior's plan (a learned draft is not computable from the text)."""
        return self.prior == EGO_DRAFT

    def with_draft(self, draft: EgoDraft) -> TrajectoryCodec:
        if self.prior != EGO_DRAFT:
            raise ValueError(f"codec {self.name!r} corrects the {self.prior} plan, not a learned ego draft")
        return replace(self, draft=draft)

    def format_number(self, value: float) -> str:
        """``decimals`` places, never a negative zero (the grammar has one spelling per number)."""
        text = f"{value:.{self.decimals}f}"
        return text[1:] if text.startswith("-") and float(text) == 0.0 else text

    def format_points(self, xy_prompt: np.ndarray) -> str:
        """Points already in prompt convention -> ``[(x,y), (x,y), ...]``."""
        pts = np.asarray(xy_prompt, dtype=np.float64).reshape(-1, 2)
        return "[" + ", ".join(f"({self.format_number(x)},{self.format_number(y)})" for x, y in pts) + "]"

    def prior_plan(self, history_xy: np.ndarray, history_valid: np.ndarray | None, dynamics: np.ndarray, command: str,
                   road: np.ndarray | None = None) -> np.ndarray:
        """The (6, 2) ego-frame plan the answer is relative to (zeros without a prior); ``road``: the
        road features of a learned draft that reads them (``EgoDraft.road_cells``)."""
        if self.prior is None:
            return np.zeros((FUTURE_STEPS, 2))
        if self.prior == EGO_DRAFT:
            if self.draft is None:
                raise ValueError(f"codec {self.name!r} corrects a learned ego draft: load it with the model (with_draft)")
            return self.draft.plan(history_xy, history_valid, dynamics, command, road)
        history_xy = np.asarray(history_xy, dtype=np.float64)
        valid = np.ones(len(history_xy), dtype=bool) if history_valid is None else np.asarray(history_valid, dtype=bool)
        return predict_kinematic(self.prior, history_xy[None], valid[None], np.asarray(dynamics, dtype=np.float64)[None])[0]

    def encode(self, future_xy: np.ndarray, prior_xy: np.ndarray | None = None) -> str:
        """Ego-frame waypoints (6, 2) -> answer text (relative to ``prior_xy`` when the codec has a prior)."""
        numbers = ego_to_prompt(self._relative(future_xy, prior_xy, -1.0)) * self._horizon_scale(len(future_xy))
        if self.max_abs is not None:
            numbers = np.clip(numbers, -self.max_abs, self.max_abs)
        return self.format_points(numbers)

    def decode(self, text: str, prior_xy: np.ndarray | None = None, n_points: int = FUTURE_STEPS) -> np.ndarray:
        """Answer text -> ego-frame waypoints (n_points, 2); raises ``TrajectoryParseError``.

        Only the first ``n_points`` pairs are used (a model may continue after the answer); fewer
        pairs, or non-finite values, are an error: a plan is always complete or an explicit failure.
        """
        pts = parse_points(text)
        if len(pts) < n_points:
            raise TrajectoryParseError(f"expected {n_points} (x,y) waypoints, found {len(pts)} in {text[:80]!r}")
        pts = pts[:n_points]
        if not np.all(np.isfinite(pts)):
            raise TrajectoryParseError(f"non-finite waypoint in {text[:80]!r}")
        return self._relative(prompt_to_ego(pts / self._horizon_scale(n_points)), prior_xy, 1.0)

    def _horizon_scale(self, n_points: int) -> np.ndarray:
        """(n, 1) factor from metres to answer numbers (ones without ``horizon_power``)."""
        steps = np.arange(1, n_points + 1, dtype=np.float64)
        return ((FUTURE_STEPS / steps) ** self.horizon_power)[:, None]

    def _relative(self, xy: np.ndarray, prior_xy: np.ndarray | None, sign: float) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64)
        if self.prior is None:
            return xy
        if prior_xy is None:
            raise ValueError(f"codec {self.name!r} writes corrections to the {self.prior} plan: give prior_xy")
        return xy + sign * np.asarray(prior_xy, dtype=np.float64).reshape(xy.shape)


PAPER_CODEC = TrajectoryCodec("text", decimals=2)
RESIDUAL_CODEC = TrajectoryCodec("ctra-residual", decimals=1, prior="ctra", number_estimate="mean")
SCALED_RESIDUAL_CODEC = TrajectoryCodec("ctra-residual-t2", decimals=1, prior="ctra", number_estimate="mean", horizon_power=2,
                                        max_abs=99.9)  # one number token each
DRAFT_RESIDUAL_CODEC = replace(SCALED_RESIDUAL_CODEC, name="draft-residual-t2", prior=EGO_DRAFT)
CODECS: dict[str, TrajectoryCodec] = {c.name: c for c in (PAPER_CODEC, RESIDUAL_CODEC, SCALED_RESIDUAL_CODEC, DRAFT_RESIDUAL_CODEC)}


def get_codec(name: str) -> TrajectoryCodec:
    if name not in CODECS:
        raise ValueError(f"unknown trajectory codec {name!r} (known: {', '.join(CODECS)})")
    return CODECS[name]


# The paper's format: prediction files, the evaluation and every writer of absolute waypoints.
format_number = PAPER_CODEC.format_number
format_points = PAPER_CODEC.format_points


def encode_text(xy_ego: np.ndarray) -> str:
    """Ego-frame waypoints (N, 2) -> text in the paper's convention and format."""
    return PAPER_CODEC.format_points(ego_to_prompt(xy_ego))


def decode_text(text: str, n_points: int = FUTURE_STEPS) -> np.ndarray:
    """Paper-format text -> ego-frame waypoints (n_points, 2); raises ``TrajectoryParseError``."""
    return PAPER_CODEC.decode(text, n_points=n_points)
