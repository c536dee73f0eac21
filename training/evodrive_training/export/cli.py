"""``evodrive export CHECKPOINT --out MODEL_DIR``: a saved checkpoint -> an ONNX model directory."""

from __future__ import annotations

import argparse
import sys

from evodrive_training.export.onnx_export import export_model_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="model directory saved with save_pretrained (model + tokenizer)")
    parser.add_argument("--out", required=True, help="model directory to write (model.json, tokenizer.json, *.onnx)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--preset", default=None, help="preset name recorded in the manifest's provenance")


def run(args: argparse.Namespace) -> int:
    try:
        manifest = export_model_dir(args.checkpoint, args.out, overwrite=args.overwrite, preset=args.preset)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"evodrive export: {exc}", file=sys.stderr)
        return 1
    graphs = ", ".join(f"{g.file} ({g.sha256[:12]})" for g in manifest.graphs.values())
    print(f"wrote {args.out}: {graphs}; max sequence {manifest.max_sequence_length} tokens")
    return 0
