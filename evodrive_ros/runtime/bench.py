"""``evodrive bench MODEL_DIR``: per-stage latency on every backend available here, FLOPs, Orin estimate.

Each backend plans the same synthetic frames (six cameras at nuScenes resolution, random pixels,
a plausible ego history); stages are the planner's own timings (preprocess, vision, prefill,
decode, total), reported as p50/p90/p99. PyTorch eager (the training package's reference planner)
runs when the training package is installed and the checkpoint is found, for the ONNX Runtime
speed-up. Output: a Markdown table on stdout, and JSON/Markdown files with ``--json``/``--markdown``.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from evodrive_ros.core.conventions import CAMERAS
from evodrive_ros.core.model_manifest import Architecture, ModelManifest, read_manifest
from evodrive_ros.core.preprocessing import ImageSpec
from evodrive_ros.core.safe_output import write_json
from evodrive_ros.runtime import latency_model as lm
from evodrive_ros.runtime.interface import PlannerInput
from evodrive_ros.runtime.loader import available_backends, load_planner
from evodrive_ros.runtime.pipeline import VlaPlanner

STAGES = ("preprocess", "vision", "prefill", "decode", "total")
PERCENTILES = (50, 90, 99)
# Reference presets for the Orin estimate: architecture, model image size, prompt and answer tokens
# (Qwen tokenizer: ~450 text tokens and ~70 answer tokens; the deployable preset's folder with the
# ctra-residual-t2 codec, one token per number: 363 and 42).
ORIN_PRESETS = {
    "deployable preset (0.08 B, small vocabulary)": (lm.DEPLOYABLE, ImageSpec(224, 392), 6 * 114 + 363, 42),
    "qwen2.5-0.5b LLM + deployable vision": (lm.QWEN25_05B, ImageSpec(224, 392), 6 * 114 + 450, 70),
    "qwen2.5-vl-3b (paper)": (lm.QWEN25_VL_3B, ImageSpec(308, 588), 6 * 233 + 450, 70),
}


def synthetic_frames(count: int, seed: int = 0, height: int = 900, width: int = 1600) -> list[PlannerInput]:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        images = {c: rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for c in CAMERAS}
        history = np.stack([np.linspace(-10, 0, 5), rng.normal(0, 0.2, 5)], axis=1)
        frames.append(PlannerInput(images, history, rng.normal(0, 1, (5, 4)), ("FORWARD", "LEFT", "RIGHT")[i % 3]))
    return frames


def measure(planner: VlaPlanner, frames: list[PlannerInput], runs: int, warmup: int) -> dict:
    """Per-stage percentiles (ms) over ``runs`` plans, cycling through ``frames``."""
    for i in range(warmup):
        planner.plan(frames[i % len(frames)])
    timings, failures, answer_tokens = [], 0, []
    for i in range(runs):
        result = planner.plan(frames[i % len(frames)])
        failures += not result.ok
        timings.append(result.timings_ms)
        answer_tokens.append(len(planner.tokenizer.encode(result.text, add_special_tokens=False).ids))
    stats = {s: {f"p{q}": float(np.percentile([t.get(s, np.nan) for t in timings], q)) for q in PERCENTILES} for s in STAGES}
    return {"runs": runs, "failures": failures, "answer_tokens": float(np.mean(answer_tokens)), "stages_ms": stats}


def model_frame_shape(planner: VlaPlanner, frame: PlannerInput) -> lm.FrameShape:
    """The prompt length ``planner`` gives ``frame`` (its draft's plan included, seen through the road
    graph where the draft reads one) and the token count of a typical answer."""
    prompt = planner.prompt_ids(frame).shape[1]
    typical = planner.codec.encode(np.stack([np.arange(1, 7) * 4.0, np.arange(1, 7) * -0.25], axis=1), np.zeros((6, 2)))
    answer = len(planner.tokenizer.encode(typical, add_special_tokens=False).ids)
    return lm.FrameShape(len(planner.cameras), planner.image_spec, prompt, answer)


def orin_row(name: str, arch: Architecture, frame: lm.FrameShape) -> dict:
    params = lm.language_parameters(arch) + lm.vision_parameters(arch, frame.image)
    return {
        "preset": name,
        "parameters_m": params / 1e6,
        "gflops": lm.frame_flops(arch, frame)["total"] / 1e9,
        "ideal_ms": lm.orin_estimate_ms(arch, frame),
        "typical_ms": lm.orin_estimate_ms(arch, frame, typical=True),
    }


def planner_factories(args: argparse.Namespace, manifest: ModelManifest) -> dict[str, Callable[[], VlaPlanner]]:
    """The requested backends that this machine can run."""
    factories: dict[str, Callable[[], VlaPlanner]] = {
        name: partial(load_planner, args.model_dir, name, threads=args.threads)
        for name in available_backends() if name in args.backends
    }
    source = manifest.provenance.get("source_checkpoint")  # a folder name (no build paths are shipped)
    checkpoint = args.checkpoint or (source and str(Path(args.model_dir).parent / source))
    if "torch" in args.backends and importlib.util.find_spec("evodrive_training") and checkpoint and Path(checkpoint).is_dir():
        factories["torch-eager"] = partial(_torch_planner, checkpoint, args.threads)
    return factories


def run_bench(args: argparse.Namespace) -> dict:
    manifest = read_manifest(args.model_dir)
    frames = synthetic_frames(args.distinct_frames)
    peak, assumption = lm.cpu_peak_flops(args.threads)
    shape = model_frame_shape(load_planner(args.model_dir, "onnxruntime", threads=args.threads), frames[0])
    flops = lm.frame_flops(manifest.architecture, shape)
    report: dict = {
        "model_dir": str(args.model_dir), "threads": args.threads, "prompt_tokens": shape.prompt_tokens,
        "cpu_peak_gflops": peak / 1e9, "cpu_peak_assumption": assumption,
        "gflops_per_frame": {k: v / 1e9 for k, v in flops.items()}, "backends": {},
    }
    for name, make in planner_factories(args, manifest).items():
        runs = args.torch_frames if name == "torch-eager" else args.frames
        result = measure(make(), frames, runs, args.warmup)
        model_s = sum(result["stages_ms"][s]["p50"] for s in ("vision", "prefill", "decode")) / 1e3
        result["peak_fraction"] = flops["total"] / model_s / peak
        report["backends"][name] = result
        print(f"  {name}: total p50 {result['stages_ms']['total']['p50']:.1f} ms over {runs} frames", flush=True)
    totals = {name: r["stages_ms"]["total"]["p50"] for name, r in report["backends"].items()}
    if "onnxruntime" in totals and "torch-eager" in totals:
        report["onnxruntime_speedup_vs_torch"] = totals["torch-eager"] / totals["onnxruntime"]
    this_model = f"this model ({manifest.provenance.get('preset', 'unknown')})"
    report["orin_estimate"] = [orin_row(this_model, manifest.architecture, shape)] + [
        orin_row(name, arch, lm.FrameShape(6, spec, prompt, answer)) for name, (arch, spec, prompt, answer) in ORIN_PRESETS.items()
    ]
    return report


def _torch_planner(checkpoint: str, threads: int) -> VlaPlanner:
    from evodrive_training.export.torch_planner import load_torch_planner

    return load_torch_planner(checkpoint, threads=threads)


def markdown(report: dict) -> str:
    flops = report["gflops_per_frame"]
    lines = [f"# evodrive bench: {report['model_dir']}", "",
             f"CPU peak assumed {report['cpu_peak_gflops']:.0f} GFLOP/s ({report['cpu_peak_assumption']}); "
             f"{report['threads']} thread(s). Prompt {report['prompt_tokens']} tokens; GFLOP per frame: "
             + ", ".join(f"{k} {v:.3f}" for k, v in flops.items()) + ".", "",
             "| backend | frames | " + " | ".join(f"{s} p50/p90/p99 ms" for s in STAGES) + " | % of peak |",
             "|---|---|" + "---|" * len(STAGES) + "---|"]
    for name, r in report["backends"].items():
        cells = [f"{r['stages_ms'][s]['p50']:.1f} / {r['stages_ms'][s]['p90']:.1f} / {r['stages_ms'][s]['p99']:.1f}" for s in STAGES]
        lines.append(f"| {name} | {r['runs']} ({r['failures']} failed) | " + " | ".join(cells)
                     + f" | {100 * r['peak_fraction']:.1f} |")
    if "onnxruntime_speedup_vs_torch" in report:
        lines += ["", f"ONNX Runtime vs PyTorch eager (total p50): **{report['onnxruntime_speedup_vs_torch']:.2f}x**"]
    lines += ["", "## Orin AGX estimate (FP16; vision/prefill FLOP bound at "
              f"{lm.ORIN_FP16_DENSE_FLOPS / 1e12:.1f} TFLOPS, decode bandwidth bound at {lm.ORIN_BANDWIDTH_BPS / 1e9:.1f} GB/s)", "",
              "| preset | params (M) | GFLOP/frame | vision ms | prefill ms | decode ms | total ms ideal | total ms typical |",
              "|---|---|---|---|---|---|---|---|"]
    for row in report["orin_estimate"]:
        ideal = row["ideal_ms"]
        lines.append(f"| {row['preset']} | {row['parameters_m']:.0f} | {row['gflops']:.1f} | {ideal['vision']:.1f} | "
                     f"{ideal['prefill']:.1f} | {ideal['decode']:.1f} | {ideal['total']:.1f} | {row['typical_ms']['total']:.1f} |")
    lines += ["", "typical = 40 % of peak compute, 70 % of peak bandwidth."]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", help="exported model directory (model.json)")
    parser.add_argument("--frames", type=int, default=100, help="measured frames per backend")
    parser.add_argument("--torch-frames", type=int, default=20, help="measured frames for PyTorch eager (slow)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--distinct-frames", type=int, default=4, help="different synthetic inputs, cycled")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for every backend")
    parser.add_argument("--backends", default="onnxruntime,onnxruntime-cuda,tensorrt,torch",
                        type=lambda s: s.split(","), help="comma-separated subset to run where available")
    parser.add_argument("--checkpoint", default=None, help="checkpoint for PyTorch eager (default: the manifest's source checkpoint, "
                        "if a folder of that name lies beside the model directory)")
    parser.add_argument("--json", default=None, help="write the full report as JSON")
    parser.add_argument("--markdown", default=None, help="write the Markdown table")
    parser.add_argument("--orin-estimate", action="store_true", help="only print the Orin estimate (no measurement)")


def run(args: argparse.Namespace) -> int:
    if args.orin_estimate:
        args.backends = []  # the estimate and FLOPs only
    started = time.perf_counter()
    report = run_bench(args)
    report["wall_s"] = time.perf_counter() - started
    text = markdown(report)
    print(text)
    if args.json:
        write_json(args.json, report, indent=2)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0
