"""The model directory's manifest, ``model.json``: what a runtime needs to know before loading graphs.

A model directory holds the manifest, the tokenizer (``tokenizer.json``, readable by the
``tokenizers`` library alone) and the ONNX graphs, each file with its sha256 so that a corrupted or
swapped copy and a stale TensorRT engine are all detected; every path is confined to the directory.
The exporter writes it (``evodrive export``); every runtime backend reads it through
:func:`read_manifest`, which also refuses a prompt version this runtime does not write.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evodrive_ros.core.ego_draft import EgoDraft
from evodrive_ros.core.frames import SensorMount, TrajectoryFrame
from evodrive_ros.core.preprocessing import ImageSpec
from evodrive_ros.core.safe_output import sha256_file
from evodrive_ros.core.trajectory_codec import CODECS, EGO_DRAFT, TrajectoryCodec

FORMAT_VERSION = 1
MANIFEST_FILE = "model.json"
VISION_GRAPH = "vision"
DECODER_GRAPH = "decoder"
VISION_INPUT = "pixel_values"
VISION_OUTPUT = "image_features"
# A draft that reads the road ahead (``ego_draft.EgoDraft.road_cells``) sees it through this graph:
# the vision graph's input, the drivable share of each cell ahead [1, cells, cells] out.
ROAD_GRAPH = "road"
ROAD_OUTPUT = "road_ahead"


@dataclass(frozen=True)
class Architecture:
    """The dimensions the runtime needs: KV-cache shapes, FLOP estimates, the image token."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    image_token_id: int
    vision_depth: int
    vision_width: int
    vision_heads: int
    vision_intermediate_size: int
    vision_full_attention_blocks: tuple[int, ...]
    vision_window_size: int  # pixels


@dataclass(frozen=True)
class GraphFile:
    file: str
    sha256: str


@dataclass(frozen=True)
class ModelManifest:
    codec: str
    cameras: tuple[str, ...]
    image: ImageSpec
    prompt_version: str
    tokenizer: str
    tokenizer_sha256: str
    graphs: dict[str, GraphFile]
    architecture: Architecture
    max_sequence_length: int  # prompt + answer tokens the decoder graph is exported/profiled for
    provenance: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    prior: str | None = None  # the kinematic plan the codec's answers correct (must match the codec)
    # Whose path the model reads and writes (``frames.TrajectoryFrame``): "ego", or "lidar" with the
    # sensor's mount from training's calibration (a vehicle may state its own to the node).
    trajectory_frame: str = "ego"
    sensor_mount: SensorMount | None = None
    draft: GraphFile | None = None  # the fitted ``EgoDraft`` of a codec whose prior is a learned draft

    def __post_init__(self) -> None:
        TrajectoryFrame(self.trajectory_frame, self.sensor_mount)  # refuses an unknown frame or a missing mount

    def trajectory_codec(self, model_dir: str | Path) -> TrajectoryCodec:
        """The model's codec, with its learned draft (read from ``model_dir``) where it has one."""
        codec = CODECS[self.codec]
        if codec.prior != EGO_DRAFT:
            return codec
        draft = EgoDraft.load(confined(model_dir, self.draft.file))
        if draft.reads_road and ROAD_GRAPH not in self.graphs:
            raise ValueError(f"{Path(model_dir) / MANIFEST_FILE}: its draft reads the road ahead, but no {ROAD_GRAPH!r} graph is listed")
        return codec.with_draft(draft)

    @property
    def frame(self) -> TrajectoryFrame:
        return TrajectoryFrame(self.trajectory_frame, self.sensor_mount)

    def graph_path(self, model_dir: str | Path, name: str) -> Path:
        return confined(model_dir, self.graphs[name].file)

    def tokenizer_path(self, model_dir: str | Path) -> Path:
        return confined(model_dir, self.tokenizer)

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def confined(model_dir: str | Path, relative: str) -> Path:
    """``model_dir/relative``, refused when it is absolute or leads out of the directory."""
    root = Path(model_dir).resolve()
    path = (root / relative).resolve()
    if Path(relative).is_absolute() or root not in path.parents:
        raise ValueError(f"{Path(model_dir) / MANIFEST_FILE}: {relative!r} is not a file inside the model directory")
    return path


def read_manifest(model_dir: str | Path, verify_hashes: bool = False) -> ModelManifest:
    """Parse ``model_dir/model.json``; a clear one-line error for anything missing or unknown."""
    from evodrive_ros.core.prompts import PROMPT_VERSION

    path = Path(model_dir) / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} is not an evodrive model directory: no {MANIFEST_FILE}")
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"format_version {version!r}, this runtime reads {FORMAT_VERSION}")
        manifest = ModelManifest(
            codec=data["codec"],
            cameras=tuple(data["cameras"]),
            image=ImageSpec(**data["image"]),
            prompt_version=data["prompt_version"],
            tokenizer=data["tokenizer"],
            tokenizer_sha256=data["tokenizer_sha256"],
            graphs={name: GraphFile(**g) for name, g in data["graphs"].items()},
            architecture=Architecture(**{**data["architecture"], "vision_full_attention_blocks": tuple(data["architecture"]["vision_full_attention_blocks"])}),
            max_sequence_length=int(data["max_sequence_length"]),
            provenance=data.get("provenance", {}),
            prior=data.get("prior"),
            trajectory_frame=data.get("trajectory_frame", "ego"),
            sensor_mount=SensorMount(**data["sensor_mount"]) if data.get("sensor_mount") else None,
            draft=GraphFile(**data["draft"]) if data.get("draft") else None,
        )
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: invalid manifest ({exc})") from exc
    if manifest.codec not in CODECS:
        raise ValueError(f"{path}: codec {manifest.codec!r} is not supported (expected one of {', '.join(CODECS)})")
    if manifest.prior != CODECS[manifest.codec].prior:
        raise ValueError(f"{path}: codec {manifest.codec!r} corrects the {CODECS[manifest.codec].prior} plan, "
                         f"the manifest says prior {manifest.prior!r}")
    if manifest.prompt_version != PROMPT_VERSION:
        raise ValueError(f"{path}: the model was trained with prompt {manifest.prompt_version!r}, this runtime writes {PROMPT_VERSION!r}")
    files = [(f"{name!r} graph", manifest.graph_path(model_dir, name), manifest.graphs[name].sha256)
             for name in (VISION_GRAPH, DECODER_GRAPH) if name in manifest.graphs]
    if len(files) < 2:
        raise ValueError(f"{path}: expected a {VISION_GRAPH!r} and a {DECODER_GRAPH!r} graph, got {sorted(manifest.graphs)}")
    if ROAD_GRAPH in manifest.graphs:
        files.append((f"{ROAD_GRAPH!r} graph", manifest.graph_path(model_dir, ROAD_GRAPH), manifest.graphs[ROAD_GRAPH].sha256))
    files.append(("tokenizer", manifest.tokenizer_path(model_dir), manifest.tokenizer_sha256))
    if manifest.prior == EGO_DRAFT:
        if manifest.draft is None:
            raise ValueError(f"{path}: codec {manifest.codec!r} corrects a learned ego draft, but no 'draft' file is listed")
        files.append(("ego draft", confined(model_dir, manifest.draft.file), manifest.draft.sha256))
    for what, file, sha256 in files:
        if not file.is_file():
            raise FileNotFoundError(f"{file}: {what} listed in {MANIFEST_FILE} is missing")
        if verify_hashes and sha256_file(file) != sha256:
            raise ValueError(f"{file}: sha256 does not match {MANIFEST_FILE} (corrupt or replaced file)")
    return manifest


def decoder_io_names(num_layers: int) -> tuple[list[str], list[str]]:
    """(input names, output names) of the decoder graph; the exporter and every backend use these."""
    past = [f"past_{kind}_{i}" for i in range(num_layers) for kind in ("key", "value")]
    present = [f"present_{kind}_{i}" for i in range(num_layers) for kind in ("key", "value")]
    return ["input_ids", "image_embeds", "position_ids", *past], ["logits", *present]
