"""The model directory's manifest, ``model.json``: what a runtime needs to know before loading graphs.

A model directory holds the manifest, the tokenizer (``tokenizer.json``, readable by the
``tokenizers`` library alone) and the ONNX graphs, each with its sha256 so that a corrupted copy and a
stale TensorRT engine are both detected. The exporter writes it (``evodrive export``); every runtime
backend reads it through :func:`read_manifest`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evodrive_ros.core.preprocessing import ImageSpec
from evodrive_ros.core.trajectory_codec import CODECS, TrajectoryCodec

FORMAT_VERSION = 1
MANIFEST_FILE = "model.json"
VISION_GRAPH = "vision"
DECODER_GRAPH = "decoder"
VISION_INPUT = "pixel_values"
VISION_OUTPUT = "image_features"


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
    graphs: dict[str, GraphFile]
    architecture: Architecture
    max_sequence_length: int  # prompt + answer tokens the decoder graph is exported/profiled for
    provenance: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    prior: str | None = None  # the kinematic plan the codec's answers correct (must match the codec)

    @property
    def trajectory_codec(self) -> TrajectoryCodec:
        return CODECS[self.codec]

    def graph_path(self, model_dir: str | Path, name: str) -> Path:
        return Path(model_dir) / self.graphs[name].file

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(model_dir: str | Path, verify_hashes: bool = False) -> ModelManifest:
    """Parse ``model_dir/model.json``; a clear one-line error for anything missing or unknown."""
    path = Path(model_dir) / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} is not an evodrive model directory: no {MANIFEST_FILE}")
    try:
        data = json.loads(path.read_text())
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"format_version {version!r}, this runtime reads {FORMAT_VERSION}")
        manifest = ModelManifest(
            codec=data["codec"],
            cameras=tuple(data["cameras"]),
            image=ImageSpec(**data["image"]),
            prompt_version=data["prompt_version"],
            tokenizer=data["tokenizer"],
            graphs={name: GraphFile(**g) for name, g in data["graphs"].items()},
            architecture=Architecture(**{**data["architecture"], "vision_full_attention_blocks": tuple(data["architecture"]["vision_full_attention_blocks"])}),
            max_sequence_length=int(data["max_sequence_length"]),
            provenance=data.get("provenance", {}),
            prior=data.get("prior"),
        )
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: invalid manifest ({exc})") from exc
    if manifest.codec not in CODECS:
        raise ValueError(f"{path}: codec {manifest.codec!r} is not supported (expected one of {', '.join(CODECS)})")
    if manifest.prior != CODECS[manifest.codec].prior:
        raise ValueError(f"{path}: codec {manifest.codec!r} corrects the {CODECS[manifest.codec].prior} plan, "
                         f"the manifest says prior {manifest.prior!r}")
    for name in (VISION_GRAPH, DECODER_GRAPH):
        if name not in manifest.graphs:
            raise ValueError(f"{path}: no {name!r} graph listed")
        graph = manifest.graph_path(model_dir, name)
        if not graph.is_file():
            raise FileNotFoundError(f"{graph}: graph listed in {MANIFEST_FILE} is missing")
        if verify_hashes and sha256_file(graph) != manifest.graphs[name].sha256:
            raise ValueError(f"{graph}: sha256 does not match {MANIFEST_FILE} (corrupt or replaced file)")
    if not (Path(model_dir) / manifest.tokenizer).is_file():
        raise FileNotFoundError(f"{Path(model_dir) / manifest.tokenizer}: tokenizer listed in {MANIFEST_FILE} is missing")
    return manifest


def decoder_io_names(num_layers: int) -> tuple[list[str], list[str]]:
    """(input names, output names) of the decoder graph; the exporter and every backend use these."""
    past = [f"past_{kind}_{i}" for i in range(num_layers) for kind in ("key", "value")]
    present = [f"present_{kind}_{i}" for i in range(num_layers) for kind in ("key", "value")]
    return ["input_ids", "image_embeds", "position_ids", *past], ["logits", *present]
