"""Predictions files: a JSON list of ``{"id": sample_token, "predict": "<text with [(x,y), ...]>"}``.

This is the community format (Agent-Driver / EvoDriveVLA inference output; x to the right, y forward)
and also ours: our writers use ``trajectory_codec.encode_text``. Text is decoded with
``trajectory_codec.decode_text`` (the first 6 ``(x,y)`` pairs). A sample whose prediction is missing
or unparsable is scored as **zero motion** (all 6 waypoints at the origin) and counted as unparsed;
it is never dropped from the denominator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from evodrive_ros.core.conventions import FUTURE_STEPS
from evodrive_ros.core.safe_output import write_json
from evodrive_ros.core.trajectory_codec import TrajectoryParseError, decode_text, encode_text


@dataclass(frozen=True)
class ResolvedPredictions:
    """Ego-frame trajectories (N, 6, 2) aligned with the GT tokens, and the tokens that fell back."""

    trajectories: np.ndarray
    unparsed: list[str]


def read_predictions(path: Path) -> dict[str, str]:
    """``{sample_token: text}`` from a predictions JSON file (the last entry wins on duplicates)."""
    entries = json.loads(Path(path).read_text())
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "id" in e and "predict" in e for e in entries):
        raise ValueError(f"{path}: expected a JSON list of {{'id': ..., 'predict': ...}} objects")
    return {str(e["id"]): str(e["predict"]) for e in entries}


def write_predictions(path: Path, tokens: Sequence[str], trajectories_ego: np.ndarray) -> None:
    """Writes ego-frame trajectories (N, 6, 2) as a predictions file in the community format."""
    entries = [{"id": str(t), "predict": encode_text(xy)} for t, xy in zip(tokens, trajectories_ego, strict=True)]
    write_json(path, entries, indent=0)


def resolve_predictions(texts: dict[str, str], tokens: Sequence[str]) -> ResolvedPredictions:
    """Decodes the prediction of every GT token; missing/unparsable ones become zero motion."""
    trajectories = np.zeros((len(tokens), FUTURE_STEPS, 2))
    unparsed: list[str] = []
    for i, token in enumerate(tokens):
        text = texts.get(token)
        try:
            if text is None:
                raise TrajectoryParseError("missing")
            trajectories[i] = decode_text(text, FUTURE_STEPS)
        except TrajectoryParseError:
            unparsed.append(token)
    return ResolvedPredictions(trajectories=trajectories, unparsed=unparsed)
