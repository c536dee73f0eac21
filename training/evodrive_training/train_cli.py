"""``evodrive train {teacher,student,sft}``: train the oracle teacher, the distilled student or the SFT baseline.

Reads a split cached by ``evodrive samples``; writes checkpoints (each a loadable model directory),
TensorBoard logs (``<output-dir>/runs``) and the final model to ``--output-dir``. ``--init`` is the
starting model: ``tiny`` (fresh, CPU-trainable), a perception-pretrained tiny directory, or a local
Qwen2.5-VL checkpoint. For the student it must be the *pre-fine-tuning* model: its vision tower is
copied as the frozen self-anchor. Ablations: ``--set use_mc_dropout=false`` etc. (``DistillConfig``).
Multi-GPU: see ``evodrive_training.trainer``.
"""

from __future__ import annotations

import argparse
import json
import math
from functools import partial
from pathlib import Path

DEFAULT_LR = {"tiny": 1e-3, "deployable": 3e-4}  # small models (fresh or pretrained here) need a larger step than the paper's 2e-5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", choices=("teacher", "student", "sft"))
    parser.add_argument("--samples", type=Path, required=True, help="split directory written by 'evodrive samples'")
    parser.add_argument("--dataroot", type=Path, help="image root (default: the one recorded in the split)")
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--init", default="tiny", help="'tiny', 'deployable' (built here, random weights) or a local model directory (default: tiny)")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="model input size, multiples of 28")
    parser.add_argument("--text-only", action="store_true",
                        help="sft only: the student prompt without cameras, no vision tower (the ablation's language warm-up)")
    parser.add_argument("--codec", help="trajectory codec of a fresh tiny model (default ctra-residual; the ablation and the shipped model use ctra-residual-t2)")
    parser.add_argument("--teacher", type=Path, help="trained oracle teacher directory (student mode)")
    parser.add_argument("--distill-config", type=Path, help="DistillConfig JSON (default: the released code's settings)")
    parser.add_argument("--paper-variant", action="store_true", help="the paper's loss choices instead of the code's")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one DistillConfig field")
    parser.add_argument("--max-target-gib", type=float, default=16.0,
                        help="largest in-memory size of the cached teacher targets (default 16; the 3B preset on nuScenes needs --per-step-teacher)")
    parser.add_argument("--teacher-targets", type=Path, metavar="FILE",
                        help="student: read the teacher's precomputed targets from FILE, or compute them for every candidate set "
                             "(coarse, refine, mc, refine+mc) and write FILE first, so the rungs of an ablation share one teacher pass")
    parser.add_argument("--per-step-teacher", action="store_true",
                        help="run the teacher at every step (fresh MC-dropout draws each epoch) instead of once per sample before training")
    parser.add_argument("--epochs", type=float, default=5.0,
                        help="passes over the samples; below 1, one pass over a seeded random share of them")
    parser.add_argument("--max-steps", type=int, default=-1)
    parser.add_argument("--lr", type=float, help="learning rate (default 2e-5; 1e-3 for tiny-preset models)")
    parser.add_argument("--batch-size", type=int, default=1, help="per device")
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=0.03, help="warm-up ratio")
    parser.add_argument("--max-samples", type=int, help="use only the first N samples (quick runs)")
    parser.add_argument("--save-steps", type=int, help="checkpoint every N steps (default: every epoch)")
    parser.add_argument("--vision-snapshots", type=int, default=0, metavar="N",
                        help="save the vision encoder's weights at the start and at N evenly spaced steps "
                             "(OUT/vision_snapshots/): the perception-over-training curve")
    parser.add_argument("--logging-steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--deepspeed", type=Path, help="DeepSpeed config (e.g. ZeRO-2) for multi-GPU runs")
    parser.add_argument("--resume", nargs="?", const="latest", help="resume from the latest checkpoint in --output-dir, or from a path")


def _parse_value(text: str):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def distill_config(args: argparse.Namespace):
    from evodrive_training.distill.config import DistillConfig

    if args.mode == "sft":
        config = DistillConfig.sft()
    elif args.distill_config:
        config = DistillConfig.load(args.distill_config)
    else:
        config = DistillConfig.paper_variant() if args.paper_variant else DistillConfig()
    overrides = dict(item.split("=", 1) for item in args.set)
    return DistillConfig.from_dict({**config.to_dict(), **{k: _parse_value(v) for k, v in overrides.items()}})


def share_of(dataset, epochs: float, seed: int):
    """``dataset`` for ``epochs`` passes: itself from one pass up, else a seeded random share of
    ``epochs`` of its samples, seen once. Every method of a seed then trains on the same samples,
    and a frozen teacher's targets are computed only for the samples the student will see."""
    import torch

    if epochs >= 1.0:
        return dataset
    n = max(1, math.ceil(epochs * len(dataset)))
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    return torch.utils.data.Subset(dataset, sorted(order[:n].tolist()))


def run(args: argparse.Namespace) -> int:
    import torch
    from transformers import TrainingArguments, set_seed

    from evodrive_ros.core import prompts
    from evodrive_ros.core.driving_samples import load_split, split_trajectory_frame
    from evodrive_ros.core.ego_draft import DRAFT_MEMBERS, EGO_FIELDS
    from evodrive_ros.core.trajectory_codec import EGO_DRAFT, get_codec
    from evodrive_training.baselines.ego_mlp import EgoMLPConfig
    from evodrive_training.dataset import SAMPLE_FIELDS_USED, DrivingDataset, collate, samples_from_split, with_drafts
    from evodrive_training.distill.student import DistilledStudent
    from evodrive_training.distill.teacher import OracleTeacher
    from evodrive_training.distill.teacher_targets import (CANDIDATE_SETS, WithTeacherTargets, cached_teacher_targets, candidate_set,
                                                          precompute_teacher_targets, targets_identity)
    from evodrive_training.models.fast_vision import speed_up_vision
    from evodrive_training.models.forward import AnswerNumberDropout, NumberLabels
    from evodrive_training.models.presets import (BUILT_PRESETS, carry_ego_draft, codec_of, drafts_seen, fit_ego_draft_into, image_spec, load_model,
                                                  set_trajectory_frame, training_drafts)
    from evodrive_training.models.tokenizer import number_tokens
    from evodrive_training.trainer import EvoDriveTrainer, VisionSnapshots

    if args.text_only and args.mode != "sft":
        print(f"evodrive train {args.mode}: --text-only is a warm-up of the language model with sft")
        return 2
    set_seed(args.seed)
    config = distill_config(args)
    dtype = torch.bfloat16 if args.bf16 else None
    split = load_split(args.samples, fields=SAMPLE_FIELDS_USED)
    samples = samples_from_split(split)[: args.max_samples]
    dataroot = args.dataroot or Path(split.index["dataroot"])
    try:
        model, tokenizer = load_model(args.init, tuple(args.image_size) if args.image_size else None, args.seed, dtype, args.codec)
        speed_up_vision(model.model.visual)
        set_trajectory_frame(model, split_trajectory_frame(split.index))
        fresh = str(args.init) in BUILT_PRESETS
        draft_dir = args.output_dir if fresh else args.init  # a trained model's draft travels with it
        if fresh and get_codec(model.config.evodrive_codec).prior == EGO_DRAFT:
            print(f"evodrive train: fitting the ego draft on {len(split.arrays['sample_token'])} samples (5 folds + all, {DRAFT_MEMBERS} MLPs each) ...")
            fit_ego_draft_into(args.output_dir, {name: split.arrays[name] for name in EGO_FIELDS}, EgoMLPConfig.epochs, args.seed)
        codec, spec = codec_of(model, draft_dir), image_spec(model)
        drafts = training_drafts(draft_dir)  # out of fold where the draft was fitted on these samples; else as its road perception sees them
        samples = with_drafts(samples, {**drafts_seen(draft_dir, model, codec, [s for s in samples if s.token not in drafts], dataroot), **drafts})
    except ValueError as exc:
        print(f"evodrive train {args.mode}: {exc}")
        return 2
    hint_ids = torch.tensor(tokenizer(prompts.REFINE_HINT + "\n", add_special_tokens=False)["input_ids"])
    number_labels = NumberLabels(*number_tokens(tokenizer), model.config.text_config.vocab_size, config.number_label_sigma,
                                 config.number_value_weight)
    number_dropout = None
    if config.answer_number_dropout > 0:
        number_ids, _ = number_tokens(tokenizer)
        if not len(number_ids):
            print(f"evodrive train {args.mode}: answer_number_dropout needs a tokenizer with number tokens (the tiny preset's)")
            return 2
        number_dropout = AnswerNumberDropout(number_ids, tokenizer.unk_token_id, config.answer_number_dropout)

    lr = args.lr or DEFAULT_LR.get(getattr(model.config, "evodrive_preset", None), 2e-5)
    training_args = TrainingArguments(
        output_dir=str(args.output_dir),
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        num_train_epochs=max(args.epochs, 1.0),
        max_steps=args.max_steps,
        learning_rate=lr,
        lr_scheduler_type="cosine",
        warmup_steps=args.warmup,
        weight_decay=0.0,
        max_grad_norm=1.0,
        logging_steps=args.logging_steps,
        save_strategy="steps" if args.save_steps else "epoch",
        save_steps=args.save_steps or 500,
        save_total_limit=2,
        report_to=["tensorboard"],
        seed=args.seed,
        bf16=args.bf16,
        remove_unused_columns=False,
        dataloader_num_workers=args.num_workers,
        deepspeed=str(args.deepspeed) if args.deepspeed else None,
        use_cpu=not torch.cuda.is_available(),
    )
    if args.mode == "teacher":
        wrapper = OracleTeacher(model, hint_ids, tokenizer.pad_token_id, config.refine_probability, number_labels, number_dropout)
        full = DrivingDataset(samples, dataroot, tokenizer, spec, "teacher", codec)
        dataset = share_of(full, args.epochs, args.seed)
    else:
        teacher = None
        if config.uses_teacher:
            if args.teacher is None:
                print("evodrive train student: --teacher is required (or disable trajectory KD with --set use_logit_kd=false --set use_hidden_kd=false)")
                return 2
            teacher, _ = load_model(str(args.teacher), dtype=dtype)
            speed_up_vision(teacher.model.visual)
        per_step = config.uses_teacher and args.per_step_teacher
        if per_step and args.teacher_targets is not None:
            print("evodrive train student: --teacher-targets and --per-step-teacher exclude each other")
            return 2
        wrapper = DistilledStudent(model, config, teacher if per_step else None, hint_ids, tokenizer.pad_token_id, number_labels,
                                   teacher.config.text_config.hidden_size if teacher is not None else None, number_dropout)
        kind = "text" if args.text_only else "distill" if per_step else "student"
        full = DrivingDataset(samples, dataroot, tokenizer, spec, kind, codec)
        dataset = share_of(full, args.epochs, args.seed)
        if teacher is not None and not per_step:
            rows = int((dataset[0]["labels"] != -100).sum()) if len(dataset) else 0
            n_sets = len(CANDIDATE_SETS) if args.teacher_targets is not None and not args.teacher_targets.exists() else 1
            gib = n_sets * len(dataset) * rows * (teacher.config.text_config.vocab_size + teacher.config.text_config.hidden_size) * 2 / 2**30
            if gib > args.max_target_gib:
                print(f"evodrive train student: the cached teacher targets would take {gib:.0f} GiB in memory ({len(dataset)} samples x "
                      f"{rows} answer rows x a {teacher.config.text_config.vocab_size}-word vocabulary, float16); use --per-step-teacher "
                      f"(or raise --max-target-gib)")
                return 2
            teacher_inputs = share_of(DrivingDataset(samples, dataroot, tokenizer, spec, "distill", codec), args.epochs, args.seed)
            student_head = model.lm_head if config.mc_dropout_head == "student" else None  # the student as distillation starts
            compute = partial(precompute_teacher_targets, teacher, teacher_inputs, hint_ids, tokenizer.pad_token_id, config, args.seed,
                              training_args.process_index, training_args.world_size, student_head)
            if args.teacher_targets is None:
                targets = compute()[candidate_set(config)]
            elif training_args.world_size > 1:
                print("evodrive train student: --teacher-targets is for one process; distributed runs share the teacher's work across ranks")
                return 2
            else:
                tokens = [teacher_inputs.dataset.samples[i].token for i in teacher_inputs.indices] \
                    if isinstance(teacher_inputs, torch.utils.data.Subset) else [s.token for s in teacher_inputs.samples]
                identity = targets_identity(args.teacher, args.init, tokens, args.seed, config)
                try:
                    targets = cached_teacher_targets(args.teacher_targets, candidate_set(config), identity, partial(compute, sets=CANDIDATE_SETS))
                except ValueError as exc:
                    print(f"evodrive train student: {exc}")
                    return 2
            dataset = WithTeacherTargets(dataset, targets)
            del teacher
    share = f" (a {args.epochs:g} share of one pass)" if len(dataset) < len(full) else ""
    print(f"evodrive train {args.mode}: {len(dataset)} samples{share} ({len(samples) - len(full)} without a full 3 s future skipped), "
          f"{sum(p.numel() for p in wrapper.parameters() if p.requires_grad) / 1e6:.2f} M trainable parameters")

    trainer = EvoDriveTrainer(
        model=wrapper,
        args=training_args,
        train_dataset=dataset,
        data_collator=partial(collate, pad_token_id=tokenizer.pad_token_id),
        processing_class=tokenizer,
    )
    if args.vision_snapshots:
        trainer.add_callback(VisionSnapshots(model.model.visual, args.output_dir, args.vision_snapshots))
    resume = args.resume
    if resume == "latest":
        resume = any(args.output_dir.glob("checkpoint-*")) or None
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(args.output_dir))
    if trainer.args.should_save:
        carry_ego_draft(draft_dir, args.output_dir)
        config.save(args.output_dir)
        provenance = {"mode": args.mode, "text_only": args.text_only, "init": args.init, "teacher": str(args.teacher) if args.teacher else None,
                      "samples": str(args.samples), "n_samples": len(dataset), "prompt_version": prompts.PROMPT_VERSION, "codec": codec.name,
                      "learning_rate": lr, "seed": args.seed, "global_step": trainer.state.global_step}
        (args.output_dir / "training.json").write_text(json.dumps(provenance, indent=2) + "\n")
    _leave_process_group()
    return 0


def _leave_process_group() -> None:
    """Under torchrun, every rank waits for the others and closes its gloo/NCCL group before it exits:
    a rank that left with the group's threads still running was aborted by ``std::terminate``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
