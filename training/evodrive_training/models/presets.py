"""Model presets: ``tiny`` (built in code, trains on a CPU) and ``qwen2.5-vl-3b`` (a local checkpoint).

Both are a stock ``Qwen2_5_VLForConditionalGeneration`` plus its tokenizer. The model input image
size and the trajectory codec travel in the model config (``evodrive_image_size``,
``evodrive_codec``) so that a saved directory carries everything training, prediction and export
need; nothing is ever downloaded. The tiny preset writes the ``ctra-residual`` codec (one token per
number, a kinematic prior to correct) and starts its number-token embeddings smooth in the value,
so that neighbouring values start out close (what the soft number labels then rely on); the 3B
preset keeps the paper's ``text`` codec.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from evodrive_ros.core import prompts
from evodrive_ros.core.ego_draft import DRAFT_FILE, DRAFT_MEMBERS, EgoDraft
from evodrive_ros.core.frames import SensorMount, TrajectoryFrame
from evodrive_ros.core.preprocessing import ImageSpec
from evodrive_ros.core.trajectory_codec import EGO_DRAFT, PAPER_CODEC, RESIDUAL_CODEC, TrajectoryCodec, get_codec
from evodrive_training.models.tokenizer import build_tiny_tokenizer, number_tokens

if TYPE_CHECKING:
    from evodrive_training.dataset import DrivingSample
    from evodrive_training.models.perception import RoadPerception

DRAFT_TRAIN_FILE = "ego_draft_train.npz"  # training only: never exported
ROAD_PERCEPTION_FILE = "road_perception.safetensors"  # what a road-reading draft sees (``perception.RoadPerception``)
ROAD_DRAFT_CELLS = 8  # a road-reading draft's cells ahead (8 x 8 of 5 m; ``ego_draft.coarse_road``)
PRESETS = ("tiny", "deployable", "qwen2.5-vl-3b-shallow", "qwen2.5-vl-3b")
DEFAULT_IMAGE_SIZE = {"tiny": (112, 196), "deployable": (224, 392), "qwen2.5-vl-3b-shallow": (308, 588), "qwen2.5-vl-3b": (308, 588)}  # (H, W); 3B: nuScenes 1600x900 smart-resized


@dataclass(frozen=True)
class TinySize:
    """Dimensions of the tiny preset (defaults: ~1 M parameters, 28 visual tokens per 112x196 camera)."""

    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 256
    vision_width: int = 64
    vision_depth: int = 2
    vision_heads: int = 4
    vision_intermediate_size: int | None = None  # None: twice the vision width
    vision_full_attention_blocks: tuple[int, ...] | None = None  # the rest use windowed attention; None: the last block
    vocab_size: int | None = None  # None: the tokenizer's, rounded up to a multiple of 64
    rope_theta: float = 10000.0
    mrope_section: tuple[int, int, int] | None = None  # rotary pairs on (time, height, width); None: half, a quarter, a quarter


# Presets built in code from a ``TinySize`` (random weights; train them here). ``deployable`` is
# sized for 10 Hz on Jetson Orin (issue 16): ~0.1 B parameters, the small tokenizer (decode reads
# every weight per token, and a 151 k-row output head would dominate), 224x392 cameras.
BUILT_PRESETS: dict[str, TinySize] = {
    "tiny": TinySize(),
    "deployable": TinySize(hidden_size=512, num_layers=12, num_heads=8, num_kv_heads=2, intermediate_size=1536, vision_width=512,
                           vision_depth=12, vision_heads=8, vision_intermediate_size=1536, vision_full_attention_blocks=(3, 7, 11)),
    # Qwen2.5-VL-3B's public configuration at full width (vocabulary, hidden 2048, heads, MLP, M-RoPE
    # sections, rope theta, the vision tower's width and windowed + full attention) and reduced depth
    # (1 decoder layer, 2 vision blocks): the export and the runtime at the paper's dimensions without
    # 15 GB of weights (issue 17). Its tokenizer is the project's small one inside the 151,936-row
    # vocabulary: Qwen's own cannot be downloaded here.
    "qwen2.5-vl-3b-shallow": TinySize(hidden_size=2048, num_layers=1, num_heads=16, num_kv_heads=2, intermediate_size=11008,
                                      vision_width=1280, vision_depth=2, vision_heads=16, vision_intermediate_size=3420,
                                      vision_full_attention_blocks=(1,), vocab_size=151936, rope_theta=1e6, mrope_section=(16, 24, 24)),
}


def build_tiny(
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE["tiny"], size: TinySize = TinySize(), seed: int = 0,
    codec: TrajectoryCodec = RESIDUAL_CODEC,
) -> tuple[Qwen2_5_VLForConditionalGeneration, PreTrainedTokenizerBase]:
    """A randomly initialised tiny Qwen2.5-VL and its tokenizer (deterministic for a seed); ``codec``
    must write one-decimal numbers (the tokenizer's number tokens)."""
    if codec.decimals != RESIDUAL_CODEC.decimals:
        raise ValueError(f"the tiny tokenizer has one token per {RESIDUAL_CODEC.decimals}-decimal number; codec {codec.name!r} writes {codec.decimals}")
    tokenizer = build_tiny_tokenizer()
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in [
        ("image_token_id", prompts.IMAGE_PAD), ("video_token_id", prompts.VIDEO_PAD),
        ("vision_start_token_id", prompts.VISION_START), ("vision_end_token_id", prompts.VISION_END)]}
    head_dim = size.hidden_size // size.num_heads
    section = head_dim // 2 // 4
    mrope_section = list(size.mrope_section or (head_dim // 2 - 2 * section, section, section))
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=size.vocab_size or 64 * -(-len(tokenizer) // 64),
            hidden_size=size.hidden_size,
            intermediate_size=size.intermediate_size,
            num_hidden_layers=size.num_layers,
            num_attention_heads=size.num_heads,
            num_key_value_heads=size.num_kv_heads,
            max_position_embeddings=4096,
            rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "default", "rope_theta": size.rope_theta, "mrope_section": mrope_section},
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=None,
        ),
        vision_config=dict(
            depth=size.vision_depth,
            hidden_size=size.vision_width,
            intermediate_size=size.vision_intermediate_size or 2 * size.vision_width,
            num_heads=size.vision_heads,
            out_hidden_size=size.hidden_size,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=112,
            fullatt_block_indexes=list(size.vision_full_attention_blocks or (size.vision_depth - 1,)),
        ),
        tie_word_embeddings=True,
        **ids,
    )
    config.evodrive_image_size = list(image_size)
    config.evodrive_preset = next((name for name, built in BUILT_PRESETS.items() if built == size), "tiny")  # travels with checkpoints (learning rate, provenance)
    config.evodrive_codec = codec.name
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    init_number_embeddings(model, *number_tokens(tokenizer))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer


def init_number_embeddings(model: Qwen2_5_VLForConditionalGeneration, ids: np.ndarray, values: np.ndarray, n_frequencies: int = 16) -> None:
    """Each number token's (tied) embedding: sin/cos features of its value (wavelengths 0.4 m ...
    300 m) in the first 2·n_frequencies channels, the value itself (linear, one scale unit per 5 m)
    in the next, zero elsewhere. Measured on a one-number problem (the 3 s lateral correction from
    the text prompt, 400 steps): random other channels drown the value signal (correlation 0.33,
    ~2.5x the steps to reach 0.63); sin/cos alone 0.65; with the linear channel, which lets attention
    and the MLP do the linear regression that explains most of the correction, 0.79."""
    frequencies = np.geomspace(2 * np.pi / 300.0, 2 * np.pi / 0.4, n_frequencies)
    phase = values[:, None] * frequencies[None]
    features = np.concatenate([np.sin(phase), np.cos(phase), values[:, None] / 5.0], axis=1)
    with torch.no_grad():
        weight = model.get_input_embeddings().weight
        scale = float(weight.std()) * 10.0
        rows = torch.zeros(len(ids), weight.shape[1], dtype=weight.dtype)
        rows[:, : features.shape[1]] = torch.from_numpy(features * scale)
        weight[torch.from_numpy(ids)] = rows


def codec_of(model: Qwen2_5_VLForConditionalGeneration, model_dir: str | Path | None) -> TrajectoryCodec:
    """The trajectory codec a model was built for (the paper's where the config names none), with
    the learned ego draft of ``model_dir`` where the codec corrects one."""
    codec = get_codec(getattr(model.config, "evodrive_codec", PAPER_CODEC.name))
    if codec.prior != EGO_DRAFT:
        return codec
    path = None if model_dir is None else Path(model_dir) / DRAFT_FILE
    if path is None or not path.is_file():
        raise ValueError(f"codec {codec.name!r} corrects a learned ego draft, but {model_dir} has no {DRAFT_FILE} "
                         f"(a fresh model fits one: evodrive train --init tiny --codec {codec.name})")
    return codec.with_draft(EgoDraft.load(path))


def fit_ego_draft_into(model_dir: str | Path, train: dict[str, np.ndarray], epochs: int, seed: int, members: int = DRAFT_MEMBERS,
                       road_cells: int = 0) -> None:
    """Fits the learned ego draft (``members`` MLPs averaged) on ``train`` (the ``EGO_FIELDS`` of a
    training split, with ``road_cells``: also its ``ego_draft.ROAD_KEY`` features) into ``model_dir``:
    the draft on all of it (``DRAFT_FILE``, shipped with the model) and its out-of-fold plans for
    those samples (``DRAFT_TRAIN_FILE``, read by every later training on them)."""
    from evodrive_training.baselines.ego_mlp import EgoMLPConfig, fit_ego_draft

    draft, plans = fit_ego_draft(train, EgoMLPConfig(epochs=epochs, seed=seed, members=members, road_cells=road_cells))
    Path(model_dir).mkdir(parents=True, exist_ok=True)
    draft.save(Path(model_dir) / DRAFT_FILE)
    np.savez(Path(model_dir) / DRAFT_TRAIN_FILE, tokens=np.asarray(train["sample_token"], dtype=str), plans=plans)


def road_perception(model_dir: str | Path, model: Qwen2_5_VLForConditionalGeneration) -> RoadPerception:
    """The ``perception.RoadPerception`` of ``model_dir`` (its tower built as a copy of ``model``'s)."""
    from evodrive_training.models.perception import RoadPerception

    path = Path(model_dir) / ROAD_PERCEPTION_FILE
    if not path.is_file():
        raise ValueError(f"{model_dir}: its draft reads the road ahead, but it has no {ROAD_PERCEPTION_FILE}")
    return RoadPerception.load(path, model.model.visual)


def road_features(model_dir: str | Path, model: Qwen2_5_VLForConditionalGeneration, camera_paths: Sequence[Sequence[str]],
                  dataroot: str | Path, cells: int, blank: bool = False) -> np.ndarray:
    """(N, cells²) road features (``ego_draft.coarse_road``) of samples' cameras, as the road
    perception of ``model_dir`` sees them."""
    from evodrive_ros.core.ego_draft import coarse_road
    from evodrive_training.models.perception import road_grids

    return coarse_road(road_grids(road_perception(model_dir, model), camera_paths, dataroot, image_spec(model), blank), cells)


def drafts_seen(model_dir: str | Path, model: Qwen2_5_VLForConditionalGeneration, codec: TrajectoryCodec, samples: Sequence[DrivingSample],
                dataroot: str | Path, blank: bool = False) -> dict[str, np.ndarray]:
    """Sample token -> the codec's draft plan for ``samples`` whose draft reads the road (as its
    perception sees their cameras; ``blank``: cameras blanked); empty for any other codec, whose
    prior needs nothing but the sample."""
    if codec.draft is None or not codec.draft.reads_road or not samples:
        return {}
    road = road_features(model_dir, model, [s.camera_paths for s in samples], dataroot, codec.draft.road_cells, blank)
    return {s.token: codec.prior_plan(s.history_xy, s.history_valid, s.dynamics, s.command, r) for s, r in zip(samples, road)}


def training_drafts(model_dir: str | Path) -> dict[str, np.ndarray]:
    """Sample token -> out-of-fold draft plan (empty where ``model_dir`` has none)."""
    path = Path(model_dir) / DRAFT_TRAIN_FILE
    if not path.is_file():
        return {}
    with np.load(path) as data:
        return dict(zip(data["tokens"].tolist(), data["plans"]))


def carry_ego_draft(source_dir: str | Path, model_dir: str | Path) -> None:
    """Copies the draft files of ``source_dir`` (if any) into a model trained from it."""
    for name in (DRAFT_FILE, DRAFT_TRAIN_FILE, ROAD_PERCEPTION_FILE):
        if (Path(source_dir) / name).is_file() and Path(source_dir).resolve() != Path(model_dir).resolve():
            shutil.copyfile(Path(source_dir) / name, Path(model_dir) / name)


def trajectory_frame_of(model: Qwen2_5_VLForConditionalGeneration) -> TrajectoryFrame:
    """The trajectory frame a model was trained in (``ego`` where the config names none)."""
    recorded = getattr(model.config, "evodrive_trajectory_frame", None)
    if recorded is None:
        return TrajectoryFrame()
    return TrajectoryFrame(recorded["name"], SensorMount(**recorded["mount"]) if recorded.get("mount") else None)


def set_trajectory_frame(model: Qwen2_5_VLForConditionalGeneration, frame: TrajectoryFrame) -> None:
    """Records the frame of the samples a model trains on; a model trained in another frame is refused
    (its numbers would mean another point's path)."""
    recorded = getattr(model.config, "evodrive_trajectory_frame", None)
    if recorded is not None and trajectory_frame_of(model).name != frame.name:
        raise ValueError(f"the model was trained in the {recorded['name']!r} trajectory frame, the samples are in {frame.name!r}")
    model.config.evodrive_trajectory_frame = {"name": frame.name, "mount": asdict(frame.mount) if frame.mount else None}


def load_pretrained(
    path: str | Path, image_size: tuple[int, int] | None = None, dtype: torch.dtype | None = None
) -> tuple[Qwen2_5_VLForConditionalGeneration, PreTrainedTokenizerBase]:
    """A local checkpoint directory (ours or the public Qwen2.5-VL-3B-Instruct); offline only."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a model directory (no config.json)")
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, local_files_only=True, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if image_size is not None or not hasattr(model.config, "evodrive_image_size"):
        model.config.evodrive_image_size = list(image_size or DEFAULT_IMAGE_SIZE["qwen2.5-vl-3b"])
    return model, tokenizer


def load_model(
    preset_or_path: str, image_size: tuple[int, int] | None = None, seed: int = 0, dtype: torch.dtype | None = None,
    codec: str | None = None,
) -> tuple[Qwen2_5_VLForConditionalGeneration, PreTrainedTokenizerBase]:
    """``tiny`` or ``deployable`` builds a fresh model (with ``codec``, default ``ctra-residual``);
    anything else is a local checkpoint directory, whose codec is the one it was built with."""
    if preset_or_path in BUILT_PRESETS:
        return build_tiny(image_size or DEFAULT_IMAGE_SIZE[preset_or_path], BUILT_PRESETS[preset_or_path], seed=seed,
                          codec=get_codec(codec or RESIDUAL_CODEC.name))
    if codec is not None:
        raise ValueError(f"--codec applies to a fresh tiny model; {preset_or_path} keeps the codec it was trained with")
    return load_pretrained(preset_or_path, image_size, dtype)


def image_spec(model: Qwen2_5_VLForConditionalGeneration) -> ImageSpec:
    """The fixed input size the model was trained for, with its own patch geometry."""
    h, w = model.config.evodrive_image_size
    vision = model.config.vision_config
    return ImageSpec(h, w, vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size)
