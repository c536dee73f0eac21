"""The planner every backend shares: prompt, preprocessing, positions, constrained decoding.

A backend only provides a :class:`ModelEngine` (three model calls); everything that decides what the
model sees and how its answer is read lives here once, so ONNX Runtime, TensorRT and the PyTorch
reference can only differ in arithmetic.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Protocol

import numpy as np
from tokenizers import Tokenizer

from evodrive_ros.core import prompts
from evodrive_ros.core.constrained_decoding import DecodingError, TrajectoryGrammar, greedy_decode
from evodrive_ros.core.ego_draft import coarse_road
from evodrive_ros.core.frames import TrajectoryFrame
from evodrive_ros.core.model_manifest import ModelManifest, decoder_io_names
from evodrive_ros.core.preprocessing import ImageSpec, preprocess_images, uniform_frames
from evodrive_ros.core.trajectory_codec import PAPER_CODEC, TrajectoryCodec, TrajectoryParseError
from evodrive_ros.runtime.interface import PlannerInput, PlanResult
from evodrive_ros.runtime.mrope import mrope_positions


RoadView = Callable[[np.ndarray], np.ndarray]  # a frame's pixel_values -> [cells, cells] drivable shares ahead


class ModelEngine(Protocol):
    """The model, split where a runtime can cache: vision once, prefill once, then a few tokens a call."""

    def encode_images(self, pixel_values: np.ndarray) -> np.ndarray:
        """float32 [patches, patch_dim] -> image features [visual tokens, hidden]."""

    def prefill(self, input_ids: np.ndarray, image_embeds: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Run the prompt ([1, L] ids, [1, L, hidden] features at image tokens, [3, 1, L] positions),
        keep its KV cache, return the next-token logits [vocab]."""

    def decode(self, token_ids: Sequence[int], position: int) -> np.ndarray:
        """Append text tokens at consecutive positions from ``position`` (same on all M-RoPE axes);
        return the logits after the last."""


class KvCacheEngine:
    """The :class:`ModelEngine` bookkeeping every backend shares: decoder feeds by name and the KV
    cache kept as host arrays between steps. A backend supplies its two graph runners.

    The prompt's text before the first image (system message, the start of the user turn) is the
    same every frame, and so are its positions, hence its keys and values: they are computed once
    and each prefill runs only the rest of the prompt on top of them.
    """

    def __init__(self, manifest: ModelManifest) -> None:
        arch = manifest.architecture
        self.input_names, self.output_names = decoder_io_names(arch.num_layers)
        self.hidden_size = arch.hidden_size
        self.image_token_id = arch.image_token_id
        self._empty_past = [np.zeros((1, arch.num_kv_heads, 0, arch.head_dim), dtype=np.float32)] * (len(self.input_names) - 3)
        self._past: list[np.ndarray] = []
        self._prefix_ids: np.ndarray | None = None
        self._prefix_past: list[np.ndarray] = []

    def run_vision(self, pixel_values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def run_decoder(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def encode_images(self, pixel_values: np.ndarray) -> np.ndarray:
        return self.run_vision(pixel_values.astype(np.float32, copy=False))

    def prefill(self, input_ids: np.ndarray, image_embeds: np.ndarray, positions: np.ndarray) -> np.ndarray:
        n = self._constant_prefix_length(input_ids, positions)
        if n == 0:
            return self._step(input_ids, image_embeds, positions, self._empty_past)
        if self._prefix_ids is None or not np.array_equal(self._prefix_ids, input_ids[0, :n]):
            self._step(input_ids[:, :n], image_embeds[:, :n], positions[..., :n], self._empty_past)
            self._prefix_ids, self._prefix_past = input_ids[0, :n].copy(), self._past
        return self._step(input_ids[:, n:], image_embeds[:, n:], positions[..., n:], self._prefix_past)

    def _constant_prefix_length(self, input_ids: np.ndarray, positions: np.ndarray) -> int:
        """Tokens before the first image whose positions are plain text positions (0, 1, ...), at
        least one short of the whole prompt so the last position's logits are always computed."""
        images = np.flatnonzero(input_ids[0] == self.image_token_id)
        n = int(images[0]) if images.size else input_ids.shape[1] - 1
        n = min(n, input_ids.shape[1] - 1)
        return n if np.all(positions[..., :n] == np.arange(n)) else 0

    def decode(self, token_ids: Sequence[int], position: int) -> np.ndarray:
        ids = np.array([token_ids], dtype=np.int64)
        embeds = np.zeros((1, ids.shape[1], self.hidden_size), dtype=np.float32)
        positions = np.broadcast_to(np.arange(position, position + ids.shape[1]), (3, 1, ids.shape[1]))
        return self._step(ids, embeds, np.ascontiguousarray(positions, dtype=np.int64), self._past)

    def _step(self, ids: np.ndarray, embeds: np.ndarray, positions: np.ndarray, past: list[np.ndarray]) -> np.ndarray:
        outputs = self.run_decoder(dict(zip(self.input_names, [ids, embeds, positions, *past])))
        self._past = [outputs[name] for name in self.output_names[1:]]
        return outputs[self.output_names[0]][0]


def token_texts(tokenizer: Tokenizer) -> list[str]:
    """The text each token id decodes to on its own (special tokens kept as their literal text)."""
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    return tokenizer.decode_batch([[i] for i in range(size)], skip_special_tokens=False)


def prior_plan(inputs: PlannerInput, codec: TrajectoryCodec, road: np.ndarray | None = None) -> np.ndarray:
    """The codec's prior plan (its kinematic or learned draft) for this frame's ego history (and the
    road ahead its cameras show, for a draft that reads it)."""
    return codec.prior_plan(inputs.history_xy, inputs.history_valid, inputs.dynamics, inputs.command, road)


def prompt_ids(tokenizer: Tokenizer, spec: ImageSpec, n_cameras: int, inputs: PlannerInput, codec: TrajectoryCodec = PAPER_CODEC,
               prior_xy: np.ndarray | None = None) -> np.ndarray:
    """Token ids [1, L] of the inference prompt, images expanded to their visual tokens (``prior_xy``:
    this frame's ``prior_plan``, where the caller has it; computed here when the prompt shows it)."""
    if codec.shows_draft and prior_xy is None:
        prior_xy = prior_plan(inputs, codec)
    user = prompts.student_user_prompt(inputs.history_xy, inputs.dynamics, inputs.command, codec,
                                       prior_xy=prior_xy if codec.shows_draft else None)
    text = prompts.inference_prompt(prompts.expand_images(user, [spec.tokens_per_image] * n_cameras))
    return np.array([tokenizer.encode(text).ids], dtype=np.int64)


class VlaPlanner:
    """Implements :class:`~evodrive_ros.runtime.interface.Planner` over any :class:`ModelEngine`.

    The model's codec decides the prompt's number format, the answer grammar and how the answer
    becomes waypoints (added to the prior plan of this frame's history for a prior codec). Its
    trajectory frame decides whose path the model reads and writes: inputs and plans are the base's
    path (``base_link``) here, converted to and from the lidar's for a model trained in that frame.
    A learned draft that reads the road ahead sees it through ``road`` (the model's road graph).
    """

    def __init__(
        self,
        engine: ModelEngine,
        tokenizer: Tokenizer,
        spec: ImageSpec,
        cameras: Sequence[str],
        image_token_id: int,
        hidden_size: int,
        model_id: str,
        codec: TrajectoryCodec = PAPER_CODEC,
        frame: TrajectoryFrame = TrajectoryFrame(),
        road: RoadView | None = None,
    ) -> None:
        if codec.draft is not None and codec.draft.reads_road and road is None:
            raise ValueError("the model's draft reads the road ahead: the planner needs its road graph")
        self.road = road if codec.draft is not None and codec.draft.reads_road else None
        self.engine = engine
        self.codec = codec
        self.frame = frame
        self.tokenizer = tokenizer
        self.image_spec = spec
        self.cameras = tuple(cameras)
        self.image_token_id = image_token_id
        self.hidden_size = hidden_size
        self.model_id = model_id
        self._texts = token_texts(tokenizer)
        self.grammar = TrajectoryGrammar(self._texts, decimals=codec.decimals, number_estimate=codec.number_estimate)
        self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="evodrive_preprocess")
        self._merged_grid = (spec.grid_thw[1] // spec.merge_size, spec.grid_thw[2] // spec.merge_size)

    def prompt_ids(self, inputs: PlannerInput) -> np.ndarray:
        inputs = self._in_model_frame(inputs)
        if not self.codec.shows_draft:
            return prompt_ids(self.tokenizer, self.image_spec, len(self.cameras), inputs, self.codec)
        pixel_values = None if self.road is None else self._pixel_values(inputs)  # only a draft that reads the road looks
        return prompt_ids(self.tokenizer, self.image_spec, len(self.cameras), inputs, self.codec, self._prior(inputs, pixel_values))

    def _pixel_values(self, inputs: PlannerInput) -> np.ndarray:
        missing = [c for c in self.cameras if c not in inputs.images]
        if missing:
            raise ValueError(f"missing camera image(s) {missing}; the model needs {list(self.cameras)}")
        return preprocess_images([inputs.images[c] for c in self.cameras], self.image_spec, self._pool.map)[0]

    def _prior(self, inputs: PlannerInput, pixel_values: np.ndarray | None) -> np.ndarray:
        """The codec's prior plan for ``inputs`` (in the model's frame), its draft seeing the road in
        ``pixel_values`` where it reads it (None: it does not). Such a draft refuses a frame in which a camera shows
        nothing: measured (session 19), with every camera blanked it plans 5.2 m off on average
        (UniAD), confidently (its five MLPs agree), where the language model alone stayed put."""
        if self.road is None:
            return prior_plan(inputs, self.codec)
        blind = uniform_frames({c: inputs.images[c] for c in self.cameras})
        if blind:
            raise ValueError(f"camera(s) {blind} show a uniform frame (covered or failed): the draft cannot see the road ahead")
        return prior_plan(inputs, self.codec, coarse_road(self.road(pixel_values)[None], self.codec.draft.road_cells)[0])

    def _in_model_frame(self, inputs: PlannerInput) -> PlannerInput:
        """The history as the path of the point the model was trained on (the base's, or the lidar's)."""
        if self.frame.mount is None:
            return inputs
        return replace(inputs, history_xy=self.frame.from_base(inputs.history_xy, inputs.history_yaw))

    def plan(self, inputs: PlannerInput) -> PlanResult:
        timings: dict[str, float] = {}
        start = clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = (now - clock) * 1e3
            clock = now

        try:
            pixel_values = self._pixel_values(inputs)
            inputs = self._in_model_frame(inputs)  # from here on, the model's trajectory frame
            prior = self._prior(inputs, pixel_values)  # once: the prompt shows a learned draft, the answer corrects it
            input_ids = prompt_ids(self.tokenizer, self.image_spec, len(self.cameras), inputs, self.codec, prior)
            positions, next_position = mrope_positions(input_ids, self.image_token_id, [self._merged_grid] * len(self.cameras))
            lap("preprocess")
            features = self.engine.encode_images(pixel_values)
            lap("vision")
            image_embeds = np.zeros((1, input_ids.shape[1], self.hidden_size), dtype=np.float32)
            image_embeds[0, input_ids[0] == self.image_token_id] = features
            logits = self.engine.prefill(input_ids, image_embeds, positions[:, None, :])
            lap("prefill")
            position = next_position

            def feed(token_ids: list[int]) -> np.ndarray:
                nonlocal position
                logits = self.engine.decode(token_ids, position)
                position += len(token_ids)
                return logits

            tokens = greedy_decode(self.grammar, logits, feed)
            lap("decode")
            text = "".join(self._texts[t] for t in tokens)
            waypoints = self.frame.to_base(self.codec.decode(text, prior))
        except (ValueError, DecodingError, TrajectoryParseError) as exc:
            timings["total"] = (time.perf_counter() - start) * 1e3
            return PlanResult(waypoints=None, error=f"{type(exc).__name__}: {exc}", timings_ms=timings)
        timings["total"] = (time.perf_counter() - start) * 1e3
        return PlanResult(waypoints=waypoints, text=text, timings_ms=timings)
