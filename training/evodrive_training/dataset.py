"""Driving samples -> Qwen2.5-VL training tensors (student, oracle teacher, or both for KD).

A sequence is ``inference_prompt(user) + answer + <|im_end|>\\n``, tokenised as prompt ids then
answer ids, so the prompt part is exactly what ``predict`` feeds the model. Labels are −100 on the
prompt (system, user and the ``<|im_start|>assistant\\n`` header) and the token ids on the answer,
its suffix sentence, ``<|im_end|>`` and the final newline (METHOD §1.3). Numbers and the answer are
written by the model's trajectory codec; with a prior codec the answer is the correction to the
sample's prior plan (kinematic, or a learned draft the prompt also shows). ``collate`` right-pads a batch of any size; for KD the teacher tensors
travel beside the student's with a ``teacher_`` prefix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from evodrive_ros.core import prompts
from evodrive_ros.core.conventions import COMMANDS
from evodrive_ros.core.driving_samples import SampleSplit, split_trajectory_frame
from evodrive_ros.core.frames import TrajectoryFrame
from evodrive_ros.core.preprocessing import ImageSpec, blank_rgb, load_rgb, preprocess_images
from evodrive_ros.core.trajectory_codec import PAPER_CODEC, TrajectoryCodec

KINDS = ("student", "teacher", "distill", "text")  # student prompt / teacher prompt / student + teacher_ prompt / student text, no images
TEACHER_PREFIX = "teacher_"  # the teacher's tensors beside the student's in a ``distill`` batch
# Precomputed teacher outputs at a sample's answer rows (``distill.teacher_targets``), concatenated over a batch.
TEACHER_TARGET_KEYS = ("teacher_target_logits", "teacher_target_hidden")


@dataclass(frozen=True)
class DrivingSample:
    """One keyframe as the sample builder caches it (its split's trajectory frame, x forward, y left)."""

    token: str
    camera_paths: tuple[str, ...]  # six cameras, paper order, relative to the dataroot
    history_xy: np.ndarray  # (5, 2) at -2.0 ... 0.0 s
    dynamics: np.ndarray  # (5, 4): speed, longitudinal acc, lateral acc (left +), steer
    command: str  # RIGHT / LEFT / FORWARD
    future_xy: np.ndarray  # (6, 2) at +0.5 ... +3.0 s
    future_mask: np.ndarray  # (6,) bool
    teacher_front_paths: tuple[str, ...] = ()  # CAM_FRONT at +1, +2, +3 s
    future_dynamics: np.ndarray | None = None  # (6, 4), teacher only
    history_valid: np.ndarray | None = None  # (5,) False where padded before the scene start (None: all valid)
    frame: TrajectoryFrame = TrajectoryFrame()  # the split's trajectory frame (whose path the waypoints are)
    # The learned draft's out-of-fold plan of a training sample (``presets.training_drafts``); None:
    # the codec's draft computes it (samples it was not fitted on).
    draft_xy: np.ndarray | None = None

    @property
    def teacher_image_paths(self) -> tuple[str, ...]:
        return (self.camera_paths[0], *self.teacher_front_paths)

    @property
    def has_full_future(self) -> bool:
        return bool(np.all(self.future_mask))

    def prior_xy(self, codec: TrajectoryCodec) -> np.ndarray:
        """The codec's prior plan from this sample's history (zeros for a codec without prior)."""
        if codec.shows_draft and self.draft_xy is not None:
            return self.draft_xy
        return codec.prior_plan(self.history_xy, self.history_valid, self.dynamics, self.command)

    def answer(self, codec: TrajectoryCodec) -> str:
        return prompts.answer_text(self.future_xy, codec, self.prior_xy(codec))


def samples_from_split(split: SampleSplit) -> list[DrivingSample]:
    """The cached split of ``evodrive samples`` (``driving_samples`` format) as ``DrivingSample``s."""
    a = split.arrays
    frame = split_trajectory_frame(split.index)
    return [
        DrivingSample(
            token=str(a["sample_token"][i]),
            camera_paths=tuple(str(p) for p in a["camera_paths"][i]),
            history_xy=a["history_xy"][i],
            dynamics=a["history_dynamics"][i],
            command=COMMANDS[int(a["command"][i])],
            future_xy=a["future_xy"][i],
            future_mask=a["future_valid"][i],
            teacher_front_paths=tuple(str(p) for p in a["teacher_front_paths"][i]),
            future_dynamics=a["future_dynamics"][i],
            history_valid=a["history_valid"][i],
            frame=frame,
        )
        for i in range(len(a["sample_token"]))
    ]


SAMPLE_FIELDS_USED = ("sample_token", "camera_paths", "history_xy", "history_valid", "history_dynamics", "command", "future_xy",
                      "future_valid", "teacher_front_paths", "future_dynamics")


def encode_prompt(tokenizer: PreTrainedTokenizerBase, user: str, n_images: int, spec: ImageSpec) -> list[int]:
    """Token ids of the inference prompt with every image expanded to its visual tokens."""
    text = prompts.inference_prompt(prompts.expand_images(user, [spec.tokens_per_image] * n_images))
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_example(
    tokenizer: PreTrainedTokenizerBase, user: str, image_paths: Sequence[Path], spec: ImageSpec, answer: str | None = None,
    blank_images: bool = False,
) -> dict[str, np.ndarray]:
    """One model input: ids, labels (when ``answer`` is given), image tensors and ``mm_token_type_ids``.
    ``blank_images``: every camera a uniform mid-grey frame (the images-blanked ablation)."""
    ids = encode_prompt(tokenizer, user, len(image_paths), spec)
    labels = [-100] * len(ids)
    if answer is not None:
        answer_ids = tokenizer(prompts.answer_turn_tail(answer), add_special_tokens=False)["input_ids"]
        ids, labels = ids + answer_ids, labels + answer_ids
    if image_paths:
        rgb = [blank_rgb(spec) if blank_images else load_rgb(p, spec) for p in image_paths]
        pixel_values, grid = preprocess_images(rgb, spec)
    else:  # a text-only example
        pixel_values, grid = np.zeros((0, spec.patch_dim), np.float32), np.zeros((0, 3), np.int64)
    input_ids = np.asarray(ids, dtype=np.int64)
    image_token_id = tokenizer.convert_tokens_to_ids(prompts.IMAGE_PAD)
    return {
        "input_ids": input_ids,
        "labels": np.asarray(labels, dtype=np.int64),
        "mm_token_type_ids": (input_ids == image_token_id).astype(np.int64),
        "pixel_values": pixel_values,
        "image_grid_thw": grid,
    }


def with_drafts(samples: Sequence[DrivingSample], drafts: Mapping[str, np.ndarray]) -> list[DrivingSample]:
    """``samples`` with the out-of-fold draft plans of those in ``drafts`` (by token)."""
    return [replace(s, draft_xy=drafts[s.token]) if s.token in drafts else s for s in samples]


def student_user(sample: DrivingSample, codec: TrajectoryCodec = PAPER_CODEC, with_cameras: bool = True) -> str:
    return prompts.student_user_prompt(sample.history_xy, sample.dynamics, sample.command, codec, with_cameras,
                                       sample.prior_xy(codec) if codec.shows_draft else None)


def teacher_user(sample: DrivingSample, codec: TrajectoryCodec = PAPER_CODEC) -> str:
    if sample.future_dynamics is None or len(sample.teacher_front_paths) != 3:
        raise ValueError(f"sample {sample.token}: the teacher needs 3 future front images and future dynamics")
    return prompts.teacher_user_prompt(sample.history_xy, sample.dynamics, sample.command, sample.future_dynamics, codec,
                                       sample.prior_xy(codec), sample.frame)


class DrivingDataset(torch.utils.data.Dataset):
    """Samples with a complete 3 s future (an answer needs all six waypoints)."""

    def __init__(
        self,
        samples: Sequence[DrivingSample],
        dataroot: str | Path,
        tokenizer: PreTrainedTokenizerBase,
        spec: ImageSpec,
        kind: str = "student",
        codec: TrajectoryCodec = PAPER_CODEC,
    ):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.samples = [s for s in samples if s.has_full_future]
        self.dropped = len(samples) - len(self.samples)
        self.dataroot, self.tokenizer, self.spec, self.kind, self.codec = Path(dataroot), tokenizer, spec, kind, codec

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        sample = self.samples[index]
        answer = sample.answer(self.codec)
        paths = lambda rel: [self.dataroot / p for p in rel]  # noqa: E731
        if self.kind == "text":
            return encode_example(self.tokenizer, student_user(sample, self.codec, with_cameras=False), [], self.spec, answer)
        if self.kind == "teacher":
            return encode_example(self.tokenizer, teacher_user(sample, self.codec), paths(sample.teacher_image_paths), self.spec, answer)
        item = encode_example(self.tokenizer, student_user(sample, self.codec), paths(sample.camera_paths), self.spec, answer)
        if self.kind == "distill":
            teacher = encode_example(self.tokenizer, teacher_user(sample, self.codec), paths(sample.teacher_image_paths), self.spec, answer)
            item.update({f"teacher_{k}": v for k, v in teacher.items()})
        return item


_PADDED = {"input_ids": None, "labels": -100, "mm_token_type_ids": 0}  # None: the tokenizer's pad id


def collate(features: Sequence[Mapping[str, np.ndarray]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad sequences (adds ``attention_mask``), concatenate image tensors across the batch."""
    batch: dict[str, torch.Tensor] = {}
    for prefix in ("", TEACHER_PREFIX):
        if f"{prefix}input_ids" not in features[0]:
            continue
        width = max(len(f[f"{prefix}input_ids"]) for f in features)
        for name, pad in _PADDED.items():
            rows = [np.pad(f[prefix + name], (0, width - len(f[prefix + name])), constant_values=pad_token_id if pad is None else pad) for f in features]
            batch[prefix + name] = torch.from_numpy(np.stack(rows))
        batch[f"{prefix}attention_mask"] = torch.from_numpy(
            np.stack([np.arange(width) < len(f[f"{prefix}input_ids"]) for f in features]).astype(np.int64)
        )
        batch[f"{prefix}pixel_values"] = torch.from_numpy(np.concatenate([f[f"{prefix}pixel_values"] for f in features]))
        batch[f"{prefix}image_grid_thw"] = torch.from_numpy(np.concatenate([f[f"{prefix}image_grid_thw"] for f in features]))
    for name in TEACHER_TARGET_KEYS:
        if name in features[0]:
            batch[name] = torch.from_numpy(np.concatenate([f[name] for f in features]))
    return batch
