"""``evodrive predict``: greedy decoding of a trained model over a cached split.

Decoding is constrained to the trajectory grammar exactly as on the vehicle (``--unconstrained``
shows what the raw model writes, e.g. to measure how often it would be unparsable).

``--teacher-forced`` makes the same grammar choices with the true answer in context instead (one
forward pass per batch): a diagnostic of how much a model copies the earlier answer numbers.

Writes ``[{"id": sample_token, "predict": text}, ...]`` (the authors' format) for ``evodrive eval``:
absolute waypoints in the paper's text whatever the model's codec (a correction to a kinematic prior
is added back to it here, as the runtime does); text that does not parse is written as the model
wrote it, and the evaluation counts it as unparsed.
The prompt is exactly the training prompt up to ``<|im_start|>assistant\\n``; every sample of the
split is predicted (none is skipped), batches are left-padded for generation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="trained model directory")
    parser.add_argument("--samples", type=Path, required=True, help="split directory written by 'evodrive samples'")
    parser.add_argument("--dataroot", type=Path, help="image root (default: the one recorded in the split)")
    parser.add_argument("--output", type=Path, required=True, help="predictions JSON")
    parser.add_argument("--role", choices=("student", "teacher"), default="student", help="prompt to use (teacher: oracle inputs)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--max-samples", type=int)
    parser.add_argument("--unconstrained", action="store_true", help="plain greedy decoding, no grammar")
    parser.add_argument("--text-only", action="store_true", help="student prompt without cameras (a model after 'train sft --text-only')")
    parser.add_argument("--blank-cameras", action="store_true",
                        help="student: every camera a uniform grey frame (how much the plans depend on what is seen)")
    parser.add_argument("--draft-only", action="store_true",
                        help="the plans of the model's draft (its codec's prior) alone, no decoding: where the model starts from")
    parser.add_argument("--teacher-forced", action="store_true",
                        help="diagnostic: each choice made with the true answer before it in context (not a plan the "
                             "vehicle could make; the gap to free-running decoding measures exposure bias)")


def left_pad(features: list[dict], pad_token_id: int) -> dict:
    """Batch prompt-only examples for ``generate`` (left padding, image tensors concatenated)."""
    import numpy as np
    import torch

    width = max(len(f["input_ids"]) for f in features)
    pad = lambda a, value: np.pad(a, (width - len(a), 0), constant_values=value)  # noqa: E731
    return {
        "input_ids": torch.from_numpy(np.stack([pad(f["input_ids"], pad_token_id) for f in features])),
        "mm_token_type_ids": torch.from_numpy(np.stack([pad(f["mm_token_type_ids"], 0) for f in features])),
        "attention_mask": torch.from_numpy(np.stack([pad(np.ones(len(f["input_ids"]), np.int64), 0) for f in features])),
        "pixel_values": torch.from_numpy(np.concatenate([f["pixel_values"] for f in features])),
        "image_grid_thw": torch.from_numpy(np.concatenate([f["image_grid_thw"] for f in features])),
    }


def model_inputs(batch: dict, device: str) -> dict:
    """``batch`` on ``device`` as the stock model's forward/generate takes it: a text-only batch
    (no image rows) passes no image tensors, which the model would otherwise try to encode."""
    if batch["image_grid_thw"].shape[0] == 0:
        batch = {k: v for k, v in batch.items() if k not in ("pixel_values", "image_grid_thw")}
    return {k: v.to(device) for k, v in batch.items()}


def free_running_texts(model, tokenizer, grammar, features: list[dict], device: str, max_new_tokens: int) -> list[str]:
    """Greedy answers, grammar-constrained as on the vehicle (``grammar`` None: unconstrained)."""
    import torch
    from transformers import LogitsProcessorList

    from evodrive_training.constrained_generation import GrammarLogitsProcessor

    batch = model_inputs(left_pad(features, tokenizer.pad_token_id), device)
    prompt_length = batch["input_ids"].shape[1]
    processors = [GrammarLogitsProcessor(grammar, prompt_length, tokenizer.eos_token_id)] if grammar else []
    with torch.no_grad():
        out = model.generate(**batch, do_sample=False, num_beams=1, max_new_tokens=max_new_tokens,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                             logits_processor=LogitsProcessorList(processors))
    return tokenizer.batch_decode(out[:, prompt_length:], skip_special_tokens=True)


def teacher_forced_texts(model, tokenizer, grammar, features: list[dict], device: str) -> list[str]:
    """The grammar's choices along each true answer (``teacher_forced_choices``), one forward pass."""
    import torch

    from evodrive_training.constrained_generation import teacher_forced_choices
    from evodrive_training.dataset import collate

    batch = model_inputs(collate(features, tokenizer.pad_token_id), device)
    labels = batch.pop("labels")
    with torch.no_grad():
        logits = model(**batch).logits
    texts = []
    for row in range(labels.shape[0]):
        positions = torch.nonzero(labels[row] != -100)[:, 0]
        chosen = teacher_forced_choices(grammar, labels[row, positions].tolist(), logits[row, positions - 1])
        texts.append(tokenizer.decode(chosen, skip_special_tokens=True))
    return texts


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from evodrive_ros.core.constrained_decoding import TrajectoryGrammar
    from evodrive_ros.core.driving_samples import load_split
    from evodrive_ros.core.safe_output import atomic_write
    from evodrive_ros.core.trajectory_codec import TrajectoryParseError, encode_text
    from evodrive_ros.runtime.pipeline import token_texts
    from evodrive_training.dataset import SAMPLE_FIELDS_USED, encode_example, samples_from_split, student_user, teacher_user, with_drafts
    from evodrive_training.models.fast_vision import speed_up_vision
    from evodrive_training.models.presets import codec_of, drafts_seen, image_spec, load_pretrained

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, tokenizer = load_pretrained(args.model)
    speed_up_vision(model.model.visual)
    model.to(device).eval()
    try:
        spec, codec = image_spec(model), codec_of(model, args.model)
    except ValueError as exc:
        print(f"evodrive predict: {exc}")
        return 2
    grammar = None if args.unconstrained else TrajectoryGrammar(token_texts(tokenizer.backend_tokenizer), decimals=codec.decimals,
                                                                 number_estimate=codec.number_estimate)
    split = load_split(args.samples, fields=SAMPLE_FIELDS_USED)
    samples = samples_from_split(split)[: args.max_samples]
    dataroot = args.dataroot or Path(split.index["dataroot"])
    predictions = []
    if (args.text_only or args.blank_cameras) and args.role != "student":
        print("evodrive predict: --text-only and --blank-cameras change the student's prompt")
        return 2
    if args.teacher_forced and grammar is None:
        print("evodrive predict: --teacher-forced needs the grammar (drop --unconstrained)")
        return 2
    try:  # a draft that reads the road sees it in each sample's cameras (blanked with the rest)
        samples = with_drafts(samples, drafts_seen(args.model, model, codec, samples, dataroot, args.blank_cameras))
    except ValueError as exc:
        print(f"evodrive predict: {exc}")
        return 2
    if args.draft_only:
        predictions = [{"id": s.token, "predict": encode_text(s.prior_xy(codec))} for s in samples]
        atomic_write(args.output, json.dumps(predictions, indent=1))
        print(f"evodrive predict: {len(predictions)} draft plans -> {args.output}")
        return 0
    for start in tqdm(range(0, len(samples), args.batch_size), desc="predict", unit="batch"):
        chunk = samples[start : start + args.batch_size]
        answers = [s.answer(codec) if args.teacher_forced else None for s in chunk]
        features = [
            encode_example(tokenizer, student_user(s, codec, not args.text_only),
                           [] if args.text_only else [dataroot / p for p in s.camera_paths], spec, answer, args.blank_cameras)
            if args.role == "student"
            else encode_example(tokenizer, teacher_user(s, codec), [dataroot / p for p in s.teacher_image_paths], spec, answer)
            for s, answer in zip(chunk, answers)
        ]
        if args.teacher_forced:
            texts = teacher_forced_texts(model, tokenizer, grammar, features, device)
        else:
            texts = free_running_texts(model, tokenizer, grammar, features, device, args.max_new_tokens)
        for sample, text in zip(chunk, texts):
            try:
                text = encode_text(codec.decode(text, sample.prior_xy(codec)))
            except TrajectoryParseError:
                pass  # written as the model wrote it: the evaluation counts it as unparsed
            predictions.append({"id": sample.token, "predict": text})
    atomic_write(args.output, json.dumps(predictions, indent=1))
    print(f"evodrive predict: {len(predictions)} predictions -> {args.output}")
    return 0
