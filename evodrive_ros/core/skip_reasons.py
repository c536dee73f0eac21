"""Why a planning cycle published nothing: one enumeration, counted on /diagnostics by value.

Every place that skips a cycle names one of these, with a free-text ``detail`` (which camera, which
format) kept apart from the key, so diagnostics never parse strings and every count names the real
cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class SkipReason(str, Enum):
    # configuration and scheduling
    NO_MODEL = "no_model"
    BUSY = "busy"
    CLOCK_JUMP = "clock_jump"
    # inputs
    MISSING_CAMERA = "missing_camera"
    NO_NEW_FRAME = "no_new_frame"
    STALE_CAMERA = "stale_camera"
    CAMERA_SKEW = "camera_skew"
    MISSING_ODOMETRY = "missing_odometry"
    STALE_ODOMETRY = "stale_odometry"
    INVALID_ODOMETRY = "invalid_odometry"
    INVALID_COMMAND_MESSAGE = "invalid_command_message"
    UNSUPPORTED_FORMAT = "unsupported_format"
    UNSUPPORTED_ENCODING = "unsupported_encoding"
    CORRUPT_IMAGE = "corrupt_image"
    IMAGE_DECODE_ERROR = "image_decode_error"  # decoding failed otherwise (e.g. cancelled under overload)
    # the planner
    INFERENCE_ERROR = "inference_error"  # the backend raised
    PLANNER_REFUSED = "planner_refused"  # the planner returned an explicit failure (its error is the detail)
    # the plan (``core.plan_validation``)
    PLAN_NON_FINITE = "invalid_plan_non_finite"
    PLAN_WRONG_SHAPE = "invalid_plan_wrong_shape"
    PLAN_FIRST_WAYPOINT_FAR = "invalid_plan_first_waypoint_far"
    PLAN_JUMP = "invalid_plan_jump"


@dataclass(frozen=True)
class Skip:
    """A skipped cycle: the counted reason and what exactly (free text, for logs)."""

    reason: SkipReason
    detail: str = ""
