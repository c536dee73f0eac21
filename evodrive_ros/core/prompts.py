"""Prompt text shared by training and inference (METHOD.md §1.3, §2.1, §2.3).

One implementation of every string the model sees: the system turn, the student and oracle-teacher
user turns, the refinement hint, the assistant answer, the chat template and the inference prompt.
All numbers go through a ``TrajectoryCodec`` so that prompt and answer use the paper's convention
(x to the right, y forward, metres) and the codec's number format (the paper's: 2 decimals). Bump
``PROMPT_VERSION`` whenever a string changes: a model only understands the prompt version it was
trained with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evodrive_ros.core.conventions import CAMERAS, COMMANDS, FUTURE_STEPS, HISTORY_STEPS
from evodrive_ros.core.frames import TrajectoryFrame
from evodrive_ros.core.kinematic_prediction import integrate_dynamics
from evodrive_ros.core.trajectory_codec import PAPER_CODEC, TrajectoryCodec, ego_to_prompt

PROMPT_VERSION = "evodrive-prompt-1"  # the paper codec's text is unchanged; the ctra-residual codec is named apart

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
PAD = "<|endoftext|>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, IM_START, IM_END, VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)
IMAGE_PLACEHOLDER = "<image>"  # one per image in a user turn; expanded to vision tokens by ``expand_images``

TEACHER_IMAGE_LABELS: tuple[str, ...] = ("now", "+1 s", "+2 s", "+3 s")  # CAM_FRONT only (METHOD §2.1)

SYSTEM_PROMPT = (
    "You are the planning module of a self-driving car. Coordinates are in metres in the car's own "
    "frame: the car is at (0,0), X points to the right of the car and Y points straight ahead. "
    f"Plan {FUTURE_STEPS} waypoints, one every 0.5 seconds, covering the next 3 seconds."
)

TRAFFIC_RULES = (
    "Traffic rules: 1. do not collide with anything; 2. keep to the drivable road; "
    "3. never enter a region another road user occupies."
)

INSTRUCTION = (
    f"Now plan the route: give {FUTURE_STEPS} waypoints (x,y), 0.5 seconds apart, for the next 3 seconds."
)

REFINE_HINT = (
    "Here is a draft of the trajectory from the student model. "
    "Check it against the scene and refine it if needed:"
)

ANSWER_SUFFIX = " These are the future waypoints."

DRAFT_LINE = "Here is a draft plan from the ego state model: "  # ``draft-residual-t2`` only; the answer corrects it

_COMMAND_TEXT = {"RIGHT": "turn RIGHT", "LEFT": "turn LEFT", "FORWARD": "go FORWARD"}


def format_dynamics(dynamics: np.ndarray, codec: TrajectoryCodec = PAPER_CODEC) -> str:
    """(N, 4) rows of (speed, longitudinal acc, lateral acc, steer), project convention -> text.

    The project's lateral acceleration is positive to the left (REP-103); the prompt, like the
    paper's, prints it positive to the right, matching the x-right coordinate convention.
    """
    rows = np.asarray(dynamics, dtype=np.float64).reshape(-1, 4).copy()
    rows[:, 2] = -rows[:, 2]
    return "[" + ", ".join("(" + ",".join(codec.format_number(v) for v in row) + ")" for row in rows) + "]"


def _context_lines(history_xy: np.ndarray, dynamics: np.ndarray, command: str, codec: TrajectoryCodec,
                   prior_xy: np.ndarray | None) -> list[str]:
    """The text both student and teacher receive: history, ego dynamics, goal, rules (and the
    draft, for a codec whose prior is a learned draft the model cannot compute from the text)."""
    history_xy = np.asarray(history_xy, dtype=np.float64).reshape(HISTORY_STEPS, 2)
    if command not in COMMANDS:
        raise ValueError(f"command must be one of {COMMANDS}, got {command!r}")
    draft = []
    if codec.shows_draft:
        if prior_xy is None:
            raise ValueError(f"codec {codec.name!r} shows its draft in the prompt: give prior_xy")
        draft = [DRAFT_LINE + codec.format_points(ego_to_prompt(np.asarray(prior_xy, dtype=np.float64).reshape(FUTURE_STEPS, 2)))]
    return [
        "Here is what you need to know about the drive.",
        "Past trajectory (positions at -2.0, -1.5, -1.0, -0.5, 0.0 s): " + codec.format_points(ego_to_prompt(history_xy)),
        "Past ego state (speed m/s, longitudinal acc m/s^2, lateral acc m/s^2, steering) at the same times: "
        + format_dynamics(np.asarray(dynamics).reshape(HISTORY_STEPS, 4), codec),
        f"Mission goal: {_COMMAND_TEXT[command]}.",
        TRAFFIC_RULES,
        *draft,
    ]


def student_user_prompt(
    history_xy: np.ndarray, dynamics: np.ndarray, command: str, codec: TrajectoryCodec = PAPER_CODEC, with_cameras: bool = True,
    prior_xy: np.ndarray | None = None,
) -> str:
    """User turn of the student: six current cameras + history text (METHOD §1.3). Without cameras:
    the text alone (the language warm-up's prompt, never the vehicle's)."""
    cameras = ["Camera views of the current moment:", *(f"{name}: {IMAGE_PLACEHOLDER}" for name in CAMERAS)] if with_cameras else []
    return "\n".join([*cameras, *_context_lines(history_xy, dynamics, command, codec, prior_xy), INSTRUCTION])


def teacher_user_prompt(
    history_xy: np.ndarray,
    dynamics: np.ndarray,
    command: str,
    future_dynamics: np.ndarray,
    codec: TrajectoryCodec = PAPER_CODEC,
    prior_xy: np.ndarray | None = None,
    frame: TrajectoryFrame = TrajectoryFrame(),
) -> str:
    """User turn of the oracle teacher: front camera now and +1/+2/+3 s, history, future ego (§2.1).

    With a prior codec the future ego state is also given integrated into a path, written as the
    codec writes answers (the correction to ``prior_xy``): the privileged future in the form the
    answer takes, which a tiny model can use where it cannot learn to integrate numbers. The path
    is the vehicle's, turned into the samples' trajectory ``frame``.
    """
    cameras = [f"CAM_FRONT {label}: {IMAGE_PLACEHOLDER}" for label in TEACHER_IMAGE_LABELS]
    future = np.asarray(future_dynamics, dtype=np.float64).reshape(FUTURE_STEPS, 4)
    lines = [
        "Front camera views, now and in the future:",
        *cameras,
        *_context_lines(history_xy, dynamics, command, codec, prior_xy),
        "Future ego state (speed, longitudinal acc, lateral acc, steering) at +0.5 ... +3.0 s: " + format_dynamics(future, codec),
    ]
    if codec.prior is not None:
        path = frame.path_from_base(integrate_dynamics(np.asarray(dynamics, dtype=np.float64).reshape(HISTORY_STEPS, 4)[-1][None], future[None])[0])
        lines.append("Future path from the future ego state, as a correction to the draft: " + codec.encode(path, prior_xy))
    return "\n".join([*lines, INSTRUCTION])


def answer_text(future_xy: np.ndarray, codec: TrajectoryCodec = PAPER_CODEC, prior_xy: np.ndarray | None = None) -> str:
    """Assistant target: the trajectory text (in the codec's form) and a fixed sentence."""
    return codec.encode(np.asarray(future_xy, dtype=np.float64).reshape(FUTURE_STEPS, 2), prior_xy) + ANSWER_SUFFIX


def render_turn(role: str, content: str) -> str:
    return f"{IM_START}{role}\n{content}{IM_END}\n"


def assistant_header() -> str:
    return f"{IM_START}assistant\n"


def inference_prompt(user: str, system: str = SYSTEM_PROMPT) -> str:
    """Everything before the answer. Training text = this + answer + ``<|im_end|>\\n`` exactly
    (unlike the authors' inference template, which inserted an extra empty assistant turn)."""
    return render_turn("system", system) + render_turn("user", user) + assistant_header()


def answer_turn_tail(answer: str) -> str:
    """The supervised part of a training sequence: answer, end-of-turn token and newline."""
    return f"{answer}{IM_END}\n"


def expand_images(text: str, tokens_per_image: Sequence[int]) -> str:
    """Replace each ``<image>`` with ``<|vision_start|>`` + n × ``<|image_pad|>`` + ``<|vision_end|>``."""
    parts = text.split(IMAGE_PLACEHOLDER)
    if len(parts) - 1 != len(tokens_per_image):
        raise ValueError(f"prompt has {len(parts) - 1} image placeholders but {len(tokens_per_image)} images were given")
    out = [parts[0]]
    for n, rest in zip(tokens_per_image, parts[1:]):
        out.append(VISION_START + IMAGE_PAD * int(n) + VISION_END + rest)
    return "".join(out)
