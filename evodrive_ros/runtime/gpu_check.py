"""``python -m evodrive_ros.runtime.gpu_check MODEL_DIR...``: the GPU backends against the CPU one.

For a machine with an NVIDIA GPU (``scripts/gpu_check.sh`` installs the CUDA build of onnxruntime
first). For each model folder: every GPU backend this machine has (``onnxruntime-cuda``, and
``tensorrt`` where TensorRT is installed: its engine build runs here) plans the same frames as the
CPU backend; the answers must be the same text, or, where fp16/TF32 arithmetic flips a close
token, waypoints within ``--tolerance-m``; then per-stage latency (p50/p90/p99) for every backend.
Exit 0 when all agree, 1 when a GPU backend disagrees or fails, and 0 with a one-line "skipped"
when there is no NVIDIA GPU (so CI and laptops can run it). Never run on a GPU by us: the check
is written against the backends' CPU behaviour and its GPU half is unverified.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass

import numpy as np

from evodrive_ros.runtime.bench import measure, synthetic_frames
from evodrive_ros.runtime.interface import PlannerInput
from evodrive_ros.runtime.loader import available_backends, load_planner

GPU_BACKENDS = ("onnxruntime-cuda", "tensorrt")


def nvidia_gpu() -> str | None:
    """The first GPU's name per ``nvidia-smi``, or None without a working NVIDIA driver."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = out.stdout.strip().splitlines()
    return names[0] if out.returncode == 0 and names else None


@dataclass
class Parity:
    backend: str
    frames: int
    same_text: int  # frames whose answer text equals the reference's
    max_waypoint_diff_m: float  # over all frames (inf where one side failed)
    failures: int

    def agrees(self, tolerance_m: float) -> bool:
        return self.failures == 0 and self.max_waypoint_diff_m <= tolerance_m


def compare(reference, candidate, backend: str, frames: list[PlannerInput]) -> Parity:
    """Plan every frame with both planners and compare answers and waypoints."""
    same, worst, failures = 0, 0.0, 0
    for frame in frames:
        a, b = reference.plan(frame), candidate.plan(frame)
        if not (a.ok and b.ok):
            failures += 1
            worst = float("inf")
            continue
        same += a.text == b.text
        worst = max(worst, float(np.abs(a.waypoints - b.waypoints).max()))
    return Parity(backend, len(frames), same, worst, failures)


def check_model(model_dir: str, backends: list[str], args: argparse.Namespace) -> bool:
    frames = synthetic_frames(args.frames, seed=args.seed)
    reference = load_planner(model_dir, "onnxruntime", threads=args.threads)
    planners = {"onnxruntime": reference}
    ok = True
    print(f"{model_dir}:")
    for backend in backends:
        try:
            planners[backend] = load_planner(model_dir, backend, threads=args.threads)
        except Exception as exc:  # noqa: BLE001 - a backend that cannot load is a failed check, reported in one line
            print(f"  {backend}: FAILED to load: {exc}")
            ok = False
            continue
        parity = compare(reference, planners[backend], backend, frames)
        verdict = "agrees" if parity.agrees(args.tolerance_m) else "DISAGREES"
        print(f"  {backend} vs onnxruntime (CPU): {verdict}: {parity.same_text}/{parity.frames} identical answers, "
              f"max waypoint difference {parity.max_waypoint_diff_m:.4f} m, {parity.failures} failed plans")
        ok &= parity.agrees(args.tolerance_m)
    for name, planner in planners.items():
        stages = measure(planner, frames, args.runs, warmup=3)["stages_ms"]
        row = ", ".join(f"{s} {v['p50']:.1f}/{v['p90']:.1f}/{v['p99']:.1f}" for s, v in stages.items())
        print(f"  {name} latency ms p50/p90/p99: {row}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dirs", nargs="+", help="exported model folders (e.g. models/evodrive-tiny and a deployable build)")
    parser.add_argument("--frames", type=int, default=8, help="distinct synthetic frames compared")
    parser.add_argument("--runs", type=int, default=50, help="plans timed per backend")
    parser.add_argument("--threads", type=int, default=1, help="CPU backend intra-op threads")
    parser.add_argument("--tolerance-m", type=float, default=0.05, help="largest waypoint difference accepted")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    gpu = nvidia_gpu()
    if gpu is None:
        print("gpu_check: skipped: no NVIDIA GPU (nvidia-smi absent or failing)")
        return 0
    backends = [b for b in available_backends() if b in GPU_BACKENDS]
    print(f"gpu_check on {gpu}: GPU backends available: {', '.join(backends) or 'none'}")
    if not backends:
        print("gpu_check: no GPU backend could load: install the CUDA build of onnxruntime (scripts/gpu_check.sh does)")
        return 1
    results = [check_model(model_dir, backends, args) for model_dir in args.model_dirs]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
