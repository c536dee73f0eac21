"""``evodrive ablation``: the tiny-preset ablation benchmark on synthetic data (METHOD §8, DESIGN §7).

One command, from nothing: synthetic train and val worlds (separate seeds, so val scenes are never
seen in training), sample caches, perception pretraining of the tiny vision encoder (the
"pre-fine-tuning" model and the frozen self-anchor's source), a language warm-up of that model
(text-only SFT on the student prompt: the cheap epochs that take the language model off the loss
plateau on which 2-epoch students stay, README "Why the students above learn nothing"; teacher and
students start from it), the oracle teacher, then the ablation ladder of METHOD §8 — SFT, + trajectory KD (coarse only), + refinement,
+ MC-dropout, + visual anchoring (= full EvoDriveVLA) — all with the same data, steps and seed.
Every model and the baselines are scored on val under both protocols; a linear occupancy probe on
each frozen vision encoder measures how much perception fine-tuning kept. Nothing is selected or
tuned on val: every setting is fixed in ``Plan`` before the run.

The draft the students correct reads the road ahead as well as the ego state (``Plan.road_draft``):
the encoder is pretrained on the drivable area ahead beside the other road users' occupancy, and its
road head's view of the cameras (8x8 cells) is read by the draft's MLPs; that frozen encoder and
head travel with every model as its road perception (``road.onnx`` in an exported one).

Several seeds in one command (``--seeds 0 1 2``): the worlds, sample caches, the pretrained encoder
(with a draft codec, the draft and its road perception in it), the warm-up and the oracle teacher are built once, with
the first seed; each seed has its own students and probes (``OUT/seed-N``; the shared encoders and
teacher are probed in every seed, with the same probe samples as its students). The report gives every
number as mean ± std over the seeds with the per-seed values kept. (Every seed's students refine the
first seed's draft: with each seed's own draft and the one warm-up, students of seeds 1 and 2 ended
worse than their drafts, 0.40 vs 0.38 m UniAD, README.) Trainings after the
teacher run ``--jobs`` at a time as separate processes with one thread each: on two cores two
one-thread trainings side by side finish 1.2x sooner than one after the other at two threads (a
text-only training: 38 samples/s on one thread, 64 on two; session 15). The distilled rungs of a
seed share one pass of the teacher over their samples (``train --teacher-targets``): the first to
start computes the targets of every rung, the others read them.

Two more rows measure what the cameras carry: the SFT student trained and tested without them
(text only), and the SFT student with every camera blanked at test time. ``--world vision`` runs it
all in the world where signals, walkers stepping out and braking lead cars shape the expert's future
(issue 15), and every row is also scored on the vision-dependent split (``evaluation.vision_split``).

Resumable: a stage whose output exists is skipped (``--fresh`` redoes everything). Results go to
``<report-dir>/ablation.json`` and ``ablation.md`` (``ablation_vision.*`` for the vision world,
``ablation_ego_draft.*`` for a draft that reads the ego state only).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from evodrive_ros.core.ego_draft import DRAFT_MEMBERS
from evodrive_ros.core.trajectory_codec import EGO_DRAFT, get_codec
from evodrive_training.synth.config import WORLDS

if TYPE_CHECKING:
    from evodrive_training.models.perception import OccupancyProbe

SYNTH_VERSION = "v1.0-synth"
PROTOCOLS = ("stp3", "uniad")


@dataclass(frozen=True)
class Plan:
    """Everything that defines a benchmark run (written into the report as its ``config``)."""

    # Measured (issue 11, session 8): on 40 scenes (1,360 samples) the language model memorised its
    # data (train 0.21 m UniAD, val 0.72); on 200 scenes (6,800) with the same compute train and val
    # agree (0.55 / 0.60) and val is 0.60 instead of 0.81; the ego-MLP gains too (0.53 -> 0.40).
    # A synthetic scene costs ~1.2 s to make, so the budgets below are in samples seen, not epochs.
    train_scenes: int = 200
    val_scenes: int = 10
    train_seed: int = 1
    val_seed: int = 2
    scene_duration_s: float = 20.0
    # "default": the world of every earlier run; "vision": signals, walkers stepping out and braking
    # lead cars (``synth.config.WORLDS``), with the vision-dependent split in every row.
    world: str = "default"
    camera_hw: tuple[int, int] = (112, 196)  # rendered size = model input size: 28 visual tokens per camera
    pretrain_epochs: int = 1
    pretrain_batch: int = 16
    # Perception pretraining also on the renderer's per-pixel classes and object depth (per visual
    # token), not only on the BEV occupancy grid (``models.perception``; issue 15).
    dense_pretraining: bool = False
    # Perception pretraining also on the drivable area ahead (the sample cache's map-mask grid,
    # ``models.perception.coarse_drivable``): what an ego-only planner cannot know (issue 15).
    road_pretraining: bool = True
    # The draft also reads the road ahead as the pretrained encoder sees it (its road head's 16x16
    # drivable shares averaged to 8x8; needs ``road_pretraining``). Measured (3 seeds, session 19):
    # the draft alone 0.299 m UniAD against 0.347 for the ego-only five MLPs; every row with a draft
    # sees the cameras through it, the text-only student's included; blanked cameras blank what the
    # draft sees too. ``evodrive ablation --ego-draft``: the plan before (session 18).
    road_draft: bool = True
    # >0: the students of ``CURVE_KEYS`` save their vision encoder at the start and at this many
    # evenly spaced steps, and each is probed: perception over training (the paper's degradation figure).
    probe_curve_points: int = 0
    # Text-only, no vision tower: ~3x the samples/s of training with images. With the CTRA codec the
    # warm-up needed 10 epochs (5 gave students of 0.61 instead of 0.49 m UniAD); with the learned
    # draft the model starts at its draft's plan and 3 epochs were piloted (session 14).
    warmup_epochs: float = 3.0
    warmup_batch: int = 32
    # Every model: a scaled residual codec, and the answer's numbers replaced by <unk> with this
    # probability in the model's input (never in its targets). Measured: without both, the warm-up
    # reaches a lower loss by copying the answer's earlier numbers and free-runs to its prior. Since
    # session 14 the answer corrects the ego-MLP's draft (fitted in the pretraining stage with this
    # plan's ``ego_mlp_epochs``, out-of-fold for the training samples), not the CTRA plan: with CTRA
    # no student came within 0.1 m UniAD of the ego-MLP (README). Since session 18 the draft averages
    # ``draft_members`` MLPs (``ego_draft.DRAFT_MEMBERS``: 0.350 m UniAD against 0.365-0.413 for one).
    codec: str = "draft-residual-t2"
    draft_members: int = DRAFT_MEMBERS
    answer_number_dropout: float = 0.5
    probe_train_samples: int = 384  # a fixed random subset of train fits the probe (scored on all of val)
    probe_steps: int = 400
    probe_batch: int = 32
    probe_cells: int = 16
    # 13,600 samples (on 40 scenes: 3 epochs gave 0.24 m ST-P3, 7 gave 0.07, an oracle). 1.4 epochs
    # were on the edge of leaving a loss plateau: 0.046 m in one run, 0.123 in a rerun whose encoder
    # differed by float rounding; 2.0 epochs gave 0.032 and 0.073 (session 17).
    teacher_epochs: float = 2.0
    student_epochs: float = 0.4  # 2,700 samples each, the same ones for every method of a seed (``train_cli.share_of``)
    batch_size: int = 8
    lr: float = 1e-3  # the tiny preset's rate (train_cli only defaults to it for --init tiny, not a directory)
    seed: int = 0
    predict_batch: int = 64
    max_new_tokens: int = 128
    ego_mlp_epochs: int = 300


# The vision world's plan (issue 15, measured on its 200 scenes, 3 epochs of pretraining; probe AP
# on val with 2,400 probe samples): untrained encoder 0.230, occupancy-pretrained 0.298, with the
# dense labels 0.332; with 384 probe samples every AP is lower and the probe's ceiling (per-token
# ground-truth labels as features) is 0.35 instead of 0.50, too close to tell encoders apart.
VISION_PLAN = Plan(world="vision", dense_pretraining=True, pretrain_epochs=3, probe_train_samples=2400, probe_curve_points=4,
                   codec="ctra-residual-t2", warmup_epochs=10.0, road_pretraining=False, road_draft=False)  # the codec and warm-up of its 3-seed tables (session 10)
QUICK_PLAN = Plan(train_scenes=2, val_scenes=1, scene_duration_s=6.0, camera_hw=(56, 84), pretrain_epochs=1, warmup_epochs=0.2, warmup_batch=2, probe_steps=5,
                  teacher_epochs=0.2, student_epochs=0.2, batch_size=2, max_new_tokens=4, ego_mlp_epochs=5)


@dataclass(frozen=True)
class Method:
    key: str
    label: str
    kind: str  # "student" (trained from the pretrained model), "teacher" or "baseline"
    overrides: tuple[str, ...] = ()  # DistillConfig --set items (students)
    mode: str = "student"  # ``evodrive train`` mode: sft, student (distilled) or teacher
    train_args: tuple[str, ...] = ()  # further ``evodrive train`` arguments
    predict_args: tuple[str, ...] = ()  # further ``evodrive predict`` arguments
    model_of: str | None = None  # predicts with this method's model instead of training its own

    @property
    def model_key(self) -> str:
        return self.model_of or self.key


STUDENTS = (
    Method("sft", "SFT (no distillation)", "student", mode="sft"),
    Method("kd_coarse", "+ trajectory KD (coarse only)", "student", ("use_refinement=false", "use_mc_dropout=false", "use_anchor=false")),
    Method("kd_refine", "+ coarse-to-fine refinement", "student", ("use_mc_dropout=false", "use_anchor=false")),
    Method("kd_mc_dropout", "+ MC-dropout candidates", "student", ("use_anchor=false",)),
    Method("evodrive", "+ visual anchoring (full EvoDriveVLA)", "student"),
    # How much the cameras carry (issue 15): the same SFT without them, trained and tested text-only,
    # and the SFT model with every camera blanked at test time.
    Method("sft_text", "SFT without cameras (text only)", "student", mode="sft", train_args=("--text-only",), predict_args=("--text-only",)),
    Method("sft_blank", "SFT, cameras blanked at test time", "student", mode="sft", predict_args=("--blank-cameras",), model_of="sft"),
)
TRAINED_STUDENTS = tuple(m for m in STUDENTS if m.model_of is None)
CURVE_KEYS = ("sft", "kd_mc_dropout", "evodrive")  # no distillation, distillation without and with the self-anchor
TEACHER = Method("teacher", "oracle teacher (ceiling: sees the future; one for all seeds)", "teacher", mode="teacher")
# The plans of the draft itself, with no language model: where every student and the teacher start.
DRAFT = Method("draft", "the draft alone (what every student refines; one for all seeds)", "draft", predict_args=("--draft-only",),
               model_of="pretrained")  # ``PRETRAINED``: the draft is fitted in the pretraining stage
# The ego-status MLP (one, the AD-MLP floor) and the ego-only draft's recipe (``Plan.draft_members``
# of them averaged; each seed its own): with ``Plan.road_draft`` what the road the cameras show adds
# is the difference between the second and ``DRAFT``; with an ego-only draft seed 0's is the draft.
BASELINES = (Method("cv", "constant velocity", "baseline"), Method("ctra", "constant turn rate + acceleration", "baseline"),
             Method("ego_mlp", "ego-status MLP", "baseline"), Method("ego_mlp_draft", "ego-status MLPs averaged (the ego-only draft's recipe)", "baseline"))
KINEMATIC_KEYS = ("cv", "ctra")  # instant: no process of their own
METHODS = (*BASELINES, DRAFT, *STUDENTS, TEACHER)
PRETRAINED = "pretrained"  # the perception-pretrained model (the self-anchor's source)
WARMUP = "warmup"  # PRETRAINED after the language warm-up: where the teacher and every student start
UNTRAINED = "untrained"  # the same tiny model freshly initialised: the perception probe's floor
LOCATION_PRIOR = "location prior"  # no encoder: each cell scored by its occupancy rate (``perception.location_prior_ap``)
# Built once, with the first seed, and shared by every seed (as the paper's students share one
# pretrained checkpoint and one teacher): seeds vary the students' data order, dropout and sampling.
SHARED_KEYS = (PRETRAINED, WARMUP, TEACHER.key, DRAFT.key)  # the untrained encoder has no files: it is built where probed
# The encoders every student's probe is compared with. Every probe, these and the shared teacher's
# included, is made in each seed with that seed's probe samples: the probe's AP moves by about
# 0.005 with its samples (session 20), a tenth of what pretraining adds to it.
REFERENCE_KEYS = (PRETRAINED, UNTRAINED)


@dataclass
class Workspace:
    """Paths of one seed's run and the seconds each stage took (kept across resumed runs); the
    synthetic worlds, their sample caches and the ``SHARED_KEYS`` models live in ``shared``."""

    root: Path
    plan: Plan
    shared: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def data_root(self) -> Path:
        return self.shared or self.root

    def data(self, split: str) -> Path:
        return self.data_root / "data" / split

    def split(self, split: str) -> Path:
        return self.data_root / "samples" / split / SYNTH_VERSION / "all"

    def _root_of(self, key: str) -> Path:
        return self.data_root if key in SHARED_KEYS else self.root

    def model(self, key: str) -> Path:
        return self._root_of(key) / "models" / key

    def predictions(self, key: str) -> Path:
        return self._root_of(key) / "predictions" / f"{key}.json"

    def metrics(self, key: str) -> Path:
        return self._root_of(key) / "eval" / f"{key}.json"

    def probe(self, key: str) -> Path:
        return self.root / "probe" / f"{key}.json"

    def curve_probe(self, key: str, step: int) -> Path:
        return self._root_of(key) / "probe" / "curve" / f"{key}-step{step}.json"

    @property
    def teacher_targets(self) -> Path:
        """The teacher's targets for this seed's sample share, computed by its first distilled rung
        for every rung (``train_cli --teacher-targets``); deleted once the seed's students are trained."""
        return self.root / "teacher_targets.safetensors"

    @property
    def timings_file(self) -> Path:
        return self.root / "stage_seconds.json"

    def load_timings(self) -> None:
        if self.timings_file.is_file():
            self.seconds = json.loads(self.timings_file.read_text())

    def stage(self, name: str, output: Path, work: Callable[[], None]) -> None:
        """Run ``work`` unless ``output`` exists; record its wall time under ``name``."""
        if output.exists():
            print(f"[ablation] {name}: done already ({output})")
            return
        print(f"[ablation] {name} ...", flush=True)
        started = time.perf_counter()
        work()
        with self._lock:
            self.seconds[name] = round(time.perf_counter() - started, 1)
            self.timings_file.parent.mkdir(parents=True, exist_ok=True)
            self.timings_file.write_text(json.dumps(self.seconds, indent=1))
        print(f"[ablation] {name}: {self.seconds[name]:.0f} s", flush=True)


def call_cli(module: ModuleType, argv: list[str]) -> None:
    """Run another ``evodrive`` subcommand in-process (same parser, same defaults)."""
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    code = module.run(parser.parse_args([str(a) for a in argv]))
    if code:
        raise RuntimeError(f"{module.__name__} {' '.join(map(str, argv))}: exit code {code}")


# --- stages -------------------------------------------------------------------------------------


def make_world(ws: Workspace, split: str, workers: int) -> None:
    """Synthetic nuScenes dataroot and its sample cache (``all`` scenes of that world), ``workers``
    scenes rendered at once."""
    from evodrive_training.data.cache import build_split
    from evodrive_training.synth import SynthConfig, generate_dataset

    height, width = ws.plan.camera_hw
    config = SynthConfig.from_dict({"version": SYNTH_VERSION, "camera": {"width": width, "height": height},
                                    "scene": {"duration_s": ws.plan.scene_duration_s}, **WORLDS[ws.plan.world],
                                    "write_dense_labels": ws.plan.dense_pretraining and split == "train"})
    n_scenes, seed = (ws.plan.train_scenes, ws.plan.train_seed) if split == "train" else (ws.plan.val_scenes, ws.plan.val_seed)
    if not ws.data(split).exists():
        generate_dataset(ws.data(split), n_scenes, seed, config, workers=workers)
    build_split(ws.data(split), SYNTH_VERSION, "all", ws.data_root / "samples" / split, workers=workers)


def perception_batches(ws: Workspace, split: str, spec, batch_size: int, shuffle: bool, limit: int | None = None, dense: bool = False,
                       road: bool = False):
    """Six cameras -> coarse occupancy at +0.5 s (with ``dense`` the per-token labels, with ``road``
    the drivable area ahead), as a DataLoader over (a seeded random subset of) a cached split."""
    import torch

    from evodrive_ros.core.driving_samples import load_split
    from evodrive_training.models.perception import PerceptionDataset, collate_views

    arrays = load_split(ws.split(split), fields=("camera_paths", "occupancy_bits", *(("drivable_bits", "drivable_known") if road else ()))).arrays
    if road and not arrays["drivable_known"].all():
        raise ValueError(f"{ws.split(split)}: samples without a map mask; road pretraining needs the drivable area of every sample")
    dataset = PerceptionDataset([tuple(p) for p in arrays["camera_paths"]], arrays["occupancy_bits"], ws.data(split), spec, ws.plan.probe_cells,
                                dense=dense, drivable_bits=arrays["drivable_bits"] if road else None)
    generator = torch.Generator().manual_seed(ws.plan.seed)
    if limit is not None and limit < len(dataset):
        dataset = torch.utils.data.Subset(dataset, torch.randperm(len(dataset), generator=generator)[:limit].tolist())
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate_views, generator=generator)


def occupancy_probe(ws: Workspace, model) -> OccupancyProbe:
    from evodrive_training.models.perception import OccupancyProbe
    from evodrive_training.models.presets import image_spec

    n_tokens = 6 * image_spec(model).tokens_per_image
    return OccupancyProbe(n_tokens, model.config.text_config.hidden_size, ws.plan.probe_cells)


def epochs_of(loader, epochs: int, desc: str):
    """``epochs`` passes over ``loader`` as one iterable, with a progress bar."""
    from tqdm import tqdm

    return tqdm(itertools.chain.from_iterable(loader for _ in range(epochs)), total=epochs * len(loader), desc=desc, unit="batch")


def pretrain_perception(ws: Workspace) -> None:
    """Teach a fresh tiny vision encoder to see (occupancy from six cameras); save the whole model."""
    import torch

    import numpy as np

    from evodrive_training.models.perception import DenseHead, class_weights, coarse_occupancy, train_occupancy
    from evodrive_training.models.presets import build_tiny, image_spec

    model, tokenizer = build_tiny(ws.plan.camera_hw, seed=ws.plan.seed, codec=get_codec(ws.plan.codec))
    torch.manual_seed(ws.plan.seed)
    loader = perception_batches(ws, "train", image_spec(model), ws.plan.pretrain_batch, shuffle=True, dense=ws.plan.dense_pretraining,
                                road=ws.plan.road_pretraining)
    positive_rate = float(np.mean([coarse_occupancy(bits, ws.plan.probe_cells).mean() for bits in loader.dataset.occupancy_bits]))
    dense = None
    if ws.plan.dense_pretraining:  # class weights from the label shares of 200 samples
        shares = [loader.dataset[i]["shares"].numpy() for i in np.linspace(0, len(loader.dataset) - 1, 200).astype(int)]
        dense = (DenseHead(model.config.text_config.hidden_size), class_weights(np.concatenate(shares)))
    road = occupancy_probe(ws, model) if ws.plan.road_pretraining else None
    losses = train_occupancy(model.model.visual, occupancy_probe(ws, model), epochs_of(loader, ws.plan.pretrain_epochs, "pretrain encoder"),
                             positive_rate=positive_rate, dense=dense, road=road)
    print(f"[ablation] occupancy BCE {losses[0]:.3f} -> {losses[-1]:.3f}")
    if get_codec(ws.plan.codec).prior == EGO_DRAFT:
        fit_draft(ws, model, road if ws.plan.road_draft else None)
    model.save_pretrained(ws.model(PRETRAINED))  # last: the stage's output
    tokenizer.save_pretrained(ws.model(PRETRAINED))


def fit_draft(ws: Workspace, model, road: OccupancyProbe | None) -> None:
    """The learned ego draft of a ``draft-residual`` plan, fitted on train as the ego-MLP rows are,
    into the pretrained model (every model trained from it carries it). With ``road`` (the road head
    of ``model``'s just-pretrained encoder; ``Plan.road_draft``) the draft also reads the road ahead
    that they see, and the two are saved beside it as its perception."""
    import copy

    from evodrive_ros.core.driving_samples import load_split
    from evodrive_ros.core.ego_draft import EGO_FIELDS, ROAD_KEY
    from evodrive_training.models.perception import RoadPerception
    from evodrive_training.models.presets import ROAD_DRAFT_CELLS, ROAD_PERCEPTION_FILE, fit_ego_draft_into, road_features

    arrays = load_split(ws.split("train"), (*EGO_FIELDS, "camera_paths")).arrays
    if road is not None:
        ws.model(PRETRAINED).mkdir(parents=True, exist_ok=True)
        RoadPerception(copy.deepcopy(model.model.visual), copy.deepcopy(road)).save(ws.model(PRETRAINED) / ROAD_PERCEPTION_FILE)
        arrays[ROAD_KEY] = road_features(ws.model(PRETRAINED), model, [tuple(p) for p in arrays["camera_paths"]], ws.data("train"), ROAD_DRAFT_CELLS)
    fit_ego_draft_into(ws.model(PRETRAINED), arrays, ws.plan.ego_mlp_epochs, ws.plan.seed, ws.plan.draft_members,
                       ROAD_DRAFT_CELLS if road is not None else 0)


def train_argv(ws: Workspace, mode: str, key: str, init: Path, epochs: float, batch_size: int) -> list:
    return [mode, "--samples", ws.split("train"), "--output-dir", ws.model(key), "--init", init, "--epochs", epochs,
            "--batch-size", batch_size, "--lr", ws.plan.lr, "--seed", ws.plan.seed, "--save-steps", 10**9, "--logging-steps", 50,
            "--set", f"answer_number_dropout={ws.plan.answer_number_dropout}"]


def warm_up(ws: Workspace) -> None:
    """Text-only SFT of the pretrained model's language model on the student prompt (cameras left out)."""
    run_training(ws, WARMUP, [*train_argv(ws, "sft", WARMUP, ws.model(PRETRAINED), ws.plan.warmup_epochs, ws.plan.warmup_batch), "--text-only"])


def train(ws: Workspace, method: Method, threads: int | None = None) -> None:
    """``evodrive train`` for ``method``, from the warmed-up model."""
    mode = method.mode
    epochs = ws.plan.teacher_epochs if mode == "teacher" else ws.plan.student_epochs
    argv = train_argv(ws, mode, method.key, ws.model(WARMUP), epochs, ws.plan.batch_size)
    if mode == "student":
        argv += ["--teacher", ws.model(TEACHER.key), "--teacher-targets", ws.teacher_targets]
    for item in method.overrides:
        argv += ["--set", item]
    if ws.plan.probe_curve_points and method.key in CURVE_KEYS:
        argv += ["--vision-snapshots", ws.plan.probe_curve_points]
    run_training(ws, method.key, [*argv, *method.train_args], threads)


def run_cli(command: str, argv: list, log: Path, threads: int | None = None) -> None:
    """``evodrive COMMAND ARGV`` (train, predict or baseline): in this process, or (``threads``) in a
    child process limited to that many threads, its output in ``log``."""
    if threads is None:
        from evodrive_training import predict_cli, train_cli
        from evodrive_training.baselines import cli as baseline_cli

        call_cli({"train": train_cli, "predict": predict_cli, "baseline": baseline_cli}[command], argv)
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with open(log, "w") as handle:
        code = subprocess.run([sys.executable, "-m", "evodrive_ros.cli", command, *map(str, argv)], env=env,
                              stdout=handle, stderr=subprocess.STDOUT).returncode
    if code:
        raise RuntimeError(f"evodrive {command} failed (exit {code}); see {log}")


def run_training(ws: Workspace, key: str, argv: list, threads: int | None = None) -> None:
    """``evodrive train ARGV`` (``run_cli``, output in ``<model>.log``); intermediate checkpoints are dropped."""
    run_cli("train", argv, ws.model(key).with_suffix(".log"), threads)
    for checkpoint in ws.model(key).glob("checkpoint-*"):
        shutil.rmtree(checkpoint)


def predict(ws: Workspace, method: Method, threads: int | None = None) -> None:
    """``method``'s plans for val (``run_cli``, output in ``<predictions>.log``)."""
    out = ws.predictions(method.key)
    if method.kind == "baseline":
        model = {"cv": "cv", "ctra": "ctra", "ego_mlp": "ego-mlp", "ego_mlp_draft": "ego-mlp"}[method.key]
        run_cli("baseline", [model, "--samples", ws.split("val"), "--out", out, "--train-samples", ws.split("train"),
                             "--epochs", ws.plan.ego_mlp_epochs, "--seed", ws.plan.seed,
                             "--members", ws.plan.draft_members if method.key == "ego_mlp_draft" else 1], out.with_suffix(".log"), threads)
        return
    run_cli("predict", ["--model", ws.model(method.model_key), "--samples", ws.split("val"), "--output", out,
                        "--role", "teacher" if method.kind == "teacher" else "student",
                        "--batch-size", ws.plan.predict_batch, "--max-new-tokens", ws.plan.max_new_tokens, *method.predict_args],
            out.with_suffix(".log"), threads)


def evaluate(ws: Workspace, method: Method) -> None:
    from evodrive_ros.evaluation import cli as eval_cli

    call_cli(eval_cli, ["--pred", ws.predictions(method.key), "--gt", ws.split("val"), "--out", ws.metrics(method.key), "--name", method.key])


def probe(ws: Workspace, key: str, step: int | None = None) -> None:
    """Linear occupancy probe on the frozen vision encoder of ``key`` (at training ``step`` of its
    vision snapshots, if given): fitted on a train subset, scored on val."""
    import safetensors.torch
    from tqdm import tqdm

    from evodrive_training.models.perception import encode_views, fit_linear_probe, location_prior_ap, probe_metrics
    from evodrive_training.models.presets import build_tiny, image_spec, load_pretrained
    from evodrive_training.trainer import vision_snapshot_path

    model, _ = build_tiny(ws.plan.camera_hw, seed=ws.plan.seed) if key == UNTRAINED else load_pretrained(ws.model(key))
    if step is not None:
        model.model.visual.load_state_dict(safetensors.torch.load_file(str(vision_snapshot_path(ws.model(key), step))))
    out = ws.probe(key) if step is None else ws.curve_probe(key, step)
    spec = image_spec(model)
    encode = lambda split, limit=None: encode_views(model.model.visual, tqdm(  # noqa: E731
        perception_batches(ws, split, spec, ws.plan.probe_batch, shuffle=False, limit=limit), desc=f"probe {key} ({split})", unit="batch"))
    train_tokens, train_targets = encode("train", ws.plan.probe_train_samples)
    n_fit = len(train_tokens) * 5 // 6  # the rest calibrates the IoU threshold
    head = fit_linear_probe(train_tokens[:n_fit], train_targets[:n_fit], steps=ws.plan.probe_steps, seed=ws.plan.seed)
    val = encode("val")
    metrics = probe_metrics(head, (train_tokens[n_fit:], train_targets[n_fit:]), val)
    metrics["location_prior_ap"] = location_prior_ap(train_targets[:n_fit], val[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metrics) + "\n")


def snapshot_steps(ws: Workspace, key: str) -> list[int]:
    """Training steps at which ``key`` saved its vision encoder, in order."""
    from evodrive_training.trainer import vision_snapshot_steps

    return vision_snapshot_steps(ws.model(key))


# --- report -------------------------------------------------------------------------------------


def probe_references(ws: Workspace) -> dict[str, dict]:
    """The probes every student's is compared with: the pretrained and untrained encoders, and the
    location prior of the untrained one's fitting samples (no camera at all)."""
    references = {key: json.loads(ws.probe(key).read_text()) for key in REFERENCE_KEYS}
    return {**references, LOCATION_PRIOR: {"ap": references[UNTRAINED]["location_prior_ap"]}}


def perception_kept(ap: float, references: dict[str, dict]) -> dict[str, float]:
    """The share of the pretrained encoder's probe AP an encoder keeps, and of its AP above the
    location prior (what pretraining added: the untrained encoder scores about the prior)."""
    pretrained, prior = references[PRETRAINED]["ap"], references[LOCATION_PRIOR]["ap"]
    above = (ap - prior) / (pretrained - prior) if pretrained > prior else math.nan  # NaN: pretraining added nothing
    return {"of_pretrained": ap / pretrained, "of_pretrained_above_prior": above}


def seed_report(ws: Workspace, shared_seconds: dict[str, float]) -> dict:
    """One seed's config and per-method metrics (also written to ``<seed dir>/report.json``)."""
    read = lambda path: json.loads(path.read_text())  # noqa: E731
    seconds = {**shared_seconds, **ws.seconds}
    methods = {}
    for method in METHODS:
        entry = {"label": method.label, **read(ws.metrics(method.key))}
        entry["perception_probe"] = None if method.kind in ("baseline", "draft") else read(ws.probe(method.model_key))
        train_stage = {"baseline": f"predict {method.key}", "draft": "pretrain encoder"}.get(method.kind, f"train {method.model_key}")
        entry["train_minutes"] = round(seconds.get(train_stage, math.nan) / 60, 2)
        methods[method.key] = entry
    curves = {key: [[step, read(ws.curve_probe(key, step))["ap"]] for step in snapshot_steps(ws, key)]
              for key in (CURVE_KEYS if ws.plan.probe_curve_points else ())}
    result = {
        "seed": ws.plan.seed,
        "probe_references": probe_references(ws),
        "probe_curves": curves,
        "stage_seconds": ws.seconds,
        "total_minutes": round(sum(ws.seconds.values()) / 60, 1),
        "methods": methods,
    }
    (ws.root / "report.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def _mean_std(values: list) -> dict:
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    return {"mean": array.mean(axis=0).round(4).tolist(), "std": array.std(axis=0).round(4).tolist()}


def aggregate(plan: Plan, seeds: list[dict], shared_seconds: dict[str, float], work_dir: Path, wall_minutes: float) -> dict:
    """Mean ± std (population std over seeds) of every metric; the per-seed reports kept whole."""
    methods = {}
    for key, first in seeds[0]["methods"].items():
        entries = [s["methods"][key] for s in seeds]
        entry = {"label": first["label"], "n_samples": first["n_samples"], "n_unparsed": [e["n_unparsed"] for e in entries],
                 "train_minutes": _mean_std([e["train_minutes"] for e in entries])["mean"]}
        for protocol in PROTOCOLS:
            entry[protocol] = {metric: _mean_std([e[protocol][metric] for e in entries]) for metric in ("L2", "collision")}
        if first.get("vision", {}).get("n_samples"):
            entry["vision"] = {protocol: {metric: _mean_std([e["vision"][protocol][metric] for e in entries]) for metric in ("L2", "collision")}
                               for protocol in PROTOCOLS}
        probes = [e["perception_probe"] for e in entries]
        entry["probe_ap"] = None if probes[0] is None else _mean_std([p["ap"] for p in probes])
        if probes[0] is not None:  # against the seed's own references
            kept = [perception_kept(p["ap"], s["probe_references"]) for p, s in zip(probes, seeds)]
            entry["probe_kept"] = {name: _mean_std([k[name] for k in kept]) for name in kept[0]}
        methods[key] = entry
    vision = next(iter(seeds[0]["methods"].values())).get("vision")
    curves = {key: {"steps": [step for step, _ in points], "ap": _mean_std([[ap for _, ap in s["probe_curves"][key]] for s in seeds])}
              for key, points in seeds[0].get("probe_curves", {}).items()}
    return {
        "config": {**asdict(plan), "seeds": [s["seed"] for s in seeds], "preset": "tiny", "synthetic_version": SYNTH_VERSION,
                   "val": "separate synthetic world (val_seed)", "shared_stage_seconds": shared_seconds,
                   "minutes_per_seed": [s["total_minutes"] for s in seeds],
                   "shared_minutes": round(sum(shared_seconds.values()) / 60, 1),
                   "total_minutes": round((sum(shared_seconds.values()) / 60) + sum(s["total_minutes"] for s in seeds), 1),
                   "wall_minutes_this_run": wall_minutes,
                   "probe_references": {key: _mean_std([s["probe_references"][key]["ap"] for s in seeds]) for key in seeds[0]["probe_references"]},
                   "vision_split": None if vision is None else {k: vision[k] for k in ("n_samples", "margin_m", "causes")},
                   "probe_curves": curves,
                   "work_dir": str(work_dir)},
        "methods": methods,
        "per_seed": seeds,
    }


def markdown(result: dict) -> str:
    config = result["config"]
    pm = lambda stat, i: f"{stat['mean'][i]:.2f} ± {stat['std'][i]:.2f}"  # noqa: E731
    lines = [
        "# Tiny-preset ablation on synthetic data",
        "",
        f"`evodrive ablation --world {config['world']}`: {config['train_scenes']} train scenes (seed {config['train_seed']}), "
        f"{config['val_scenes']} val scenes (seed {config['val_seed']}), cameras {config['camera_hw'][0]}x{config['camera_hw'][1]}; "
        f"codec {config['codec']} (its draft: {config['draft_members']} ego-status MLPs averaged), answer-number dropout {config['answer_number_dropout']}; language warm-up "
        f"{config['warmup_epochs']} epochs text-only at batch {config['warmup_batch']} (teacher and students start from it); "
        f"teacher {config['teacher_epochs']} epochs, every student {config['student_epochs']} epochs, batch {config['batch_size']}; "
        f"seeds {config['seeds']} (mean ± population std over seeds; the pretrained model, the warm-up and the oracle teacher are built once and shared); "
        f"stage minutes: shared {config['shared_minutes']}, per seed {config['minutes_per_seed']} (students two at a time, one thread each); "
        f"wall {config['wall_minutes_this_run']} min for the run that finished it. "
        "L2 in m, collision in %; unparsed predictions count as zero motion (total over seeds); "
        "train min of a baseline = fit + predict.",
        "",
    ]
    if config.get("road_draft"):
        lines += ["**The draft reads the road ahead**: the pretrained encoder's road head sees the drivable area in the "
                  "cameras, 8x8 cells, beside the ego features. Every row built on the draft sees the cameras through it, the text-only "
                  "student's included; blanked cameras blank what the draft sees too. The ego-status MLP rows read the ego state only.", ""]
    for protocol in PROTOCOLS:
        lines += [f"## {protocol.upper()} protocol", "",
                  "| method | L2 1s | L2 2s | L2 3s | L2 avg | col avg % | unparsed | probe AP | train min |", "|---|" + "---|" * 8]
        for entry in result["methods"].values():
            stats = entry[protocol]
            probe_ap = "–" if entry["probe_ap"] is None else f"{entry['probe_ap']['mean']:.3f} ± {entry['probe_ap']['std']:.3f}"
            lines.append(f"| {entry['label']} | " + " | ".join(pm(stats["L2"], i) for i in range(4))
                         + f" | {pm(stats['collision'], 3)} | {sum(entry['n_unparsed'])}/{entry['n_samples'] * len(entry['n_unparsed'])}"
                         + f" | {probe_ap} | {entry['train_minutes']:.1f} |")
        lines.append("")
    split = config.get("vision_split")
    if split and split["n_samples"]:
        causes = ", ".join(f"{name} {n}" for name, n in split["causes"].items())
        lines += [f"## Vision-dependent split ({split['n_samples']} of the val samples: {causes})", "",
                  f"Samples whose keyframe has a visible cause and whose 3 s waypoint lies more than {split['margin_m']} m from "
                  "the CTRA extrapolation (`evaluation.vision_split`).", "",
                  "| method | ST-P3 L2 avg | ST-P3 col avg % | UniAD L2 3s | UniAD L2 avg | UniAD col avg % |", "|---|" + "---|" * 5]
        for entry in result["methods"].values():
            stp3, uniad = entry["vision"]["stp3"], entry["vision"]["uniad"]
            lines.append(f"| {entry['label']} | {pm(stp3['L2'], 3)} | {pm(stp3['collision'], 3)} | {pm(uniad['L2'], 2)} | "
                         f"{pm(uniad['L2'], 3)} | {pm(uniad['collision'], 3)} |")
        lines.append("")
    lines += ["## Perception kept: probe AP against each seed's references", "",
              "| method | probe AP | share of the pretrained encoder's AP | share of its AP above the location prior |", "|---|---|---|---|"]
    for entry in result["methods"].values():
        if entry["probe_ap"] is not None:
            kept = entry["probe_kept"]
            lines.append(f"| {entry['label']} | {entry['probe_ap']['mean']:.3f} ± {entry['probe_ap']['std']:.3f} | "
                         + " | ".join(f"{100 * kept[k]['mean']:.0f} ± {100 * kept[k]['std']:.0f} %" for k in ("of_pretrained", "of_pretrained_above_prior")) + " |")
    lines.append("")
    if config.get("probe_curves"):
        labels = {m.key: m.label for m in STUDENTS}
        steps = next(iter(config["probe_curves"].values()))["steps"]
        lines += ["## Perception over training: probe AP of the students' vision encoders", "",
                  "| student | " + " | ".join(f"step {s}" for s in steps) + " |", "|---|" + "---|" * len(steps)]
        for key, curve in config["probe_curves"].items():
            lines.append(f"| {labels[key]} | " + " | ".join(f"{m:.3f} ± {d:.3f}" for m, d in zip(curve["ap"]["mean"], curve["ap"]["std"])) + " |")
        lines.append("")
    references = config["probe_references"]
    lines.append(
        "Perception probe: a linear occupancy head on the frozen visual tokens (fitted on a train subset, scored on val; "
        f"{config['probe_cells']}x{config['probe_cells']} BEV cells at +0.5 s), average precision over cells; every seed probes "
        "every encoder with its own subset. References: the "
        f"perception-pretrained encoder every model starts from AP {references[PRETRAINED]['mean']:.3f} ± {references[PRETRAINED]['std']:.3f}, "
        f"the same encoder untrained {references[UNTRAINED]['mean']:.3f} ± {references[UNTRAINED]['std']:.3f}, "
        f"the location prior alone (each cell scored by its occupancy rate in the probe's fitting samples, no camera) "
        f"{references[LOCATION_PRIOR]['mean']:.3f} ± {references[LOCATION_PRIOR]['std']:.3f}. "
        "Per-seed numbers, IoU and bootstrap intervals: `per_seed` in ablation.json."
    )
    return "\n".join(lines) + "\n"


def plot_probe_curves(result: dict, path: Path) -> None:
    """Probe AP over training steps (mean ± std over seeds) of ``CURVE_KEYS``, with the pretrained
    and untrained encoders and the location prior as references: the paper's perception-degradation
    figure, on our data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = {m.key: m.label for m in STUDENTS}
    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    for key, curve in result["config"]["probe_curves"].items():
        mean, std = np.array(curve["ap"]["mean"]), np.array(curve["ap"]["std"])
        axes.plot(curve["steps"], mean, marker="o", label=labels[key])
        axes.fill_between(curve["steps"], mean - std, mean + std, alpha=0.2)
    for key, style, label in ((PRETRAINED, "--", "pretrained encoder"), (UNTRAINED, ":", "untrained encoder"),
                              (LOCATION_PRIOR, "-.", "location prior (no camera)")):
        axes.axhline(result["config"]["probe_references"][key]["mean"], color="grey", linestyle=style, label=label)
    axes.set_xlabel("student training step")
    axes.set_ylabel("occupancy probe AP (val)")
    axes.set_title("Perception kept while the students train")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# --- command ------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out/ablation"), help="work directory (default out/ablation)")
    parser.add_argument("--report-dir", type=Path, help="where ablation.json/.md go (default: benchmarks; with --quick: OUT/report)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke version (a few samples and steps; numbers meaningless)")
    parser.add_argument("--fresh", action="store_true", help="delete the work directory first and redo every stage")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds of the model initialisation, data order and dropout, one full ladder each (default 0 1 2; "
                             "the synthetic worlds keep their own seeds)")
    parser.add_argument("--jobs", type=int, default=2, help="trainings run at once after the teacher, one thread each (default 2; 1: in-process)")
    parser.add_argument("--world", choices=sorted(WORLDS), default="default",
                        help="synthetic world: default, or vision (signals, walkers stepping out, braking lead cars; adds the "
                             "vision-dependent split; report ablation_vision.*)")
    parser.add_argument("--ego-draft", action="store_true",
                        help="the draft reads the ego state only, not the road ahead (the plan before session 19; no road "
                             "pretraining unless --road-pretraining); report ablation_ego_draft.*")
    parser.add_argument("--road-pretraining", action="store_true",
                        help="perception pretraining also on the drivable area ahead (the dataroot's map mask through the sample "
                             "cache) where the plan has none: with --ego-draft or --world vision (the default plan has it)")


def run_shared(ws: Workspace) -> None:
    """The stages every seed shares: the pretrained encoder, the language warm-up, the oracle teacher and its scores."""
    ws.stage("pretrain encoder", ws.model(PRETRAINED) / "config.json", lambda: pretrain_perception(ws))
    ws.stage(f"train {WARMUP}", ws.model(WARMUP) / "training.json", lambda: warm_up(ws))
    ws.stage(f"train {TEACHER.key}", ws.model(TEACHER.key) / "training.json", lambda: train(ws, TEACHER))
    ws.stage(f"predict {TEACHER.key}", ws.predictions(TEACHER.key), lambda: predict(ws, TEACHER))
    ws.stage(f"eval {TEACHER.key}", ws.metrics(TEACHER.key), lambda: evaluate(ws, TEACHER))
    ws.stage(f"predict {DRAFT.key}", ws.predictions(DRAFT.key), lambda: predict(ws, DRAFT))
    ws.stage(f"eval {DRAFT.key}", ws.metrics(DRAFT.key), lambda: evaluate(ws, DRAFT))


def in_lanes(jobs: int, stages: list[Callable[[int | None], None]]) -> None:
    """Runs ``stages`` ``jobs`` at a time, each given its thread limit (one thread each; with one
    job: None, in this process at full width); raises the first failure."""
    threads = 1 if jobs > 1 else None
    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        for future in [pool.submit(stage, threads) for stage in stages]:
            future.result()


def train_students(workspaces: list[Workspace], jobs: int) -> None:
    """Every student of every seed, ``jobs`` at a time, each followed in its lane by the predictions
    made with its model, and each seed's ego-MLP rows: no lane waits for the other's last training
    before predictions start. Then the seeds' shared teacher targets are removed."""
    from evodrive_training.distill.teacher_targets import lock_file

    def student(threads: int | None, ws: Workspace, trained: Method) -> None:
        ws.stage(f"train {trained.key}", ws.model(trained.key) / "training.json", lambda: train(ws, trained, threads))
        for m in (m for m in STUDENTS if m.model_key == trained.key):
            ws.stage(f"predict {m.key}", ws.predictions(m.key), lambda m=m: predict(ws, m, threads))

    fitted = [m for m in BASELINES if m.key not in KINEMATIC_KEYS]
    in_lanes(jobs, [*(partial(student, ws=ws, trained=m) for ws in workspaces for m in TRAINED_STUDENTS),
                    *(lambda threads, ws=ws, m=m: ws.stage(f"predict {m.key}", ws.predictions(m.key), lambda: predict(ws, m, threads))
                      for ws in workspaces for m in fitted)])
    for ws in workspaces:
        for path in (ws.teacher_targets, lock_file(ws.teacher_targets)):
            path.unlink(missing_ok=True)


def evaluate_seed(ws: Workspace, jobs: int) -> None:
    """Predictions (those ``train_students`` has not made already: ``jobs`` at a time, one thread
    each), metrics and perception probes of one seed's baselines and students."""
    kinematic = [m for m in BASELINES if m.key in KINEMATIC_KEYS]
    for method in kinematic:
        ws.stage(f"predict {method.key}", ws.predictions(method.key), lambda m=method: predict(ws, m))
    in_lanes(jobs, [lambda threads, m=m: ws.stage(f"predict {m.key}", ws.predictions(m.key), lambda: predict(ws, m, threads))
                    for m in (*BASELINES, *STUDENTS) if m not in kinematic])
    for method in (*BASELINES, *STUDENTS):
        ws.stage(f"eval {method.key}", ws.metrics(method.key), lambda m=method: evaluate(ws, m))
    for key in (*REFERENCE_KEYS, TEACHER.key, *(m.key for m in TRAINED_STUDENTS)):  # the warm-up never touches the vision tower
        ws.stage(f"probe {key}", ws.probe(key), lambda key=key: probe(ws, key))
    for key in CURVE_KEYS if ws.plan.probe_curve_points else ():
        for step in snapshot_steps(ws, key):
            ws.stage(f"probe {key}@{step}", ws.curve_probe(key, step), lambda key=key, step=step: probe(ws, key, step))


def plan_of(args: argparse.Namespace) -> Plan:
    """The plan the command line asks for (every seed's, but for ``seed``)."""
    vision = args.world == "vision"
    quick = replace(QUICK_PLAN, world=args.world, dense_pretraining=vision, probe_curve_points=2 if vision else 0)
    base = quick if args.quick else VISION_PLAN if vision else Plan()
    if args.ego_draft:
        return replace(base, road_draft=False, road_pretraining=args.road_pretraining)
    return replace(base, road_pretraining=True) if args.road_pretraining else base


def report_stem(plan: Plan) -> str:
    """``ablation``, ``_vision`` for the vision world, ``_ego_draft`` for a draft that reads the ego state only."""
    ego_draft_only = get_codec(plan.codec).prior == EGO_DRAFT and not plan.road_draft
    return "_".join(["ablation", *([] if plan.world == "default" else [plan.world]), *(["ego_draft"] if ego_draft_only else [])])


def run(args: argparse.Namespace) -> int:
    base = plan_of(args)
    if args.fresh and args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    plan_file = args.out / "plan.json"
    as_json = lambda plan: json.loads(json.dumps({k: v for k, v in asdict(plan).items() if k != "seed"}))  # noqa: E731
    shared_plan = as_json(base)
    # A field added to ``Plan`` after a run was made had its default value in that run.
    if plan_file.is_file() and {**as_json(Plan()), **json.loads(plan_file.read_text())} != shared_plan:
        print(f"evodrive ablation: {args.out} was made with another plan; use --fresh or another --out")
        return 2
    plan_file.write_text(json.dumps(shared_plan, indent=1) + "\n")

    started = time.perf_counter()
    shared = Workspace(args.out, replace(base, seed=args.seeds[0]))
    shared.load_timings()
    for split in ("train", "val"):
        shared.stage(f"data {split}", shared.split(split) / "split.json", lambda split=split: make_world(shared, split, args.jobs))
    run_shared(shared)
    workspaces = [Workspace(args.out / f"seed-{seed}", replace(base, seed=seed), shared=args.out) for seed in args.seeds]
    for ws in workspaces:
        ws.load_timings()
    train_students(workspaces, args.jobs)
    reports = []
    for ws in workspaces:
        evaluate_seed(ws, args.jobs)
        reports.append(seed_report(ws, shared.seconds))

    report_dir = args.report_dir or (args.out / "report" if args.quick else Path("benchmarks"))
    report_dir.mkdir(parents=True, exist_ok=True)
    result = aggregate(base, reports, shared.seconds, args.out, round((time.perf_counter() - started) / 60, 1))
    stem = report_stem(base)
    (report_dir / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (report_dir / f"{stem}.md").write_text(markdown(result))
    if result["config"]["probe_curves"]:
        plot_probe_curves(result, report_dir / f"{stem}_probe_curves.png")
    print((report_dir / f"{stem}.md").read_text())
    print(f"evodrive ablation: {report_dir / f'{stem}.json'}; full EvoDriveVLA students: {args.out}/seed-*/models/evodrive")
    return 0
