"""Every distillation choice as one serialisable config (defaults = the released code, METHOD §3–§4).

Each component has a switch for ablations; the paper's variants are settings:
``DistillConfig.paper_variant()`` swaps the logit/hidden weights, uses MSE for the hidden term,
initialises the AnchorLayer from the last decoder layer and normalises the anchor loss by the token
count (METHOD §9 items 1–4).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

CONFIG_NAME = "distill_config.json"


@dataclass
class DistillConfig:
    # Oracle-guided trajectory distillation (§3.3)
    use_logit_kd: bool = True
    use_hidden_kd: bool = True
    use_refinement: bool = True  # add the teacher's refined (fine) prediction as a candidate
    use_mc_dropout: bool = True  # add MC-dropout versions of coarse and fine as candidates
    logit_weight: float = 0.1
    hidden_weight: float = 0.2
    temperature: float = 5.0
    scale_kl_by_tau_squared: bool = True
    hidden_loss: str = "smooth_l1"  # or "mse" (paper Eq. 10a)
    mc_dropout_p: float = 0.1
    mc_dropout_samples: int = 10
    # Whose lm_head turns the dropped-out teacher hidden states into candidate logits: "student" as
    # the released code does (its dropout sits in the student wrapper, before the student's tied
    # head; with cached targets: the student's head when distillation starts), or "teacher".
    mc_dropout_head: str = "student"
    # Self-anchored visual distillation (§3.4, §3.5)
    use_anchor: bool = True
    use_anchor_former: bool = True  # False: uniform token weights
    anchor_weight: float = 0.05
    anchor_temperature: float = 2.0
    anchor_layer_index: int = 0  # decoder layer copied into the AnchorLayer; -1 = last (paper)
    anchor_normalisation: str = "weights"  # "weights": Σw·m/Σw (code); "tokens": Σw·‖·‖²/N_v (paper Eq. 5)
    # Oracle teacher training (§2.2)
    refine_probability: float = 0.5
    # The answer's cross entropy (teacher and student): Gaussian soft labels of this width over the
    # number tokens of a tokenizer that has them (the tiny preset's; 0: one-hot, the paper's).
    number_label_sigma: float = 0.15
    number_value_weight: float = 0.0  # + this × |expected value − target| on number tokens (``NumberLabels``)
    # Training-time dropout of earlier answer numbers in the input (``AnswerNumberDropout``); needs a
    # tokenizer with number tokens. Under evaluation (issue 11).
    answer_number_dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.hidden_loss not in ("smooth_l1", "mse"):
            raise ValueError(f"hidden_loss must be 'smooth_l1' or 'mse', got {self.hidden_loss!r}")
        if self.mc_dropout_head not in ("student", "teacher"):
            raise ValueError(f"mc_dropout_head must be 'student' or 'teacher', got {self.mc_dropout_head!r}")
        if self.anchor_normalisation not in ("weights", "tokens"):
            raise ValueError(f"anchor_normalisation must be 'weights' or 'tokens', got {self.anchor_normalisation!r}")
        if not 0.0 <= self.mc_dropout_p < 1.0 or not 0.0 <= self.refine_probability <= 1.0:
            raise ValueError("mc_dropout_p must be in [0, 1) and refine_probability in [0, 1]")
        if not 0.0 <= self.answer_number_dropout < 1.0:
            raise ValueError("answer_number_dropout must be in [0, 1)")
        if self.number_label_sigma < 0:
            raise ValueError("number_label_sigma must be >= 0")

    @property
    def uses_teacher(self) -> bool:
        return self.use_logit_kd or self.use_hidden_kd

    @classmethod
    def sft(cls) -> DistillConfig:
        """The plain SFT baseline: cross entropy only."""
        return cls(use_logit_kd=False, use_hidden_kd=False, use_anchor=False)

    @classmethod
    def paper_variant(cls) -> DistillConfig:
        return cls(logit_weight=0.2, hidden_weight=0.1, hidden_loss="mse", anchor_layer_index=-1, anchor_normalisation="tokens")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> DistillConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown distillation settings: {sorted(unknown)}")
        return cls(**values)

    def save(self, directory: str | Path) -> None:
        (Path(directory) / CONFIG_NAME).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> DistillConfig:
        path = Path(path)
        return cls.from_dict(json.loads((path / CONFIG_NAME if path.is_dir() else path).read_text()))

    def updated(self, **changes) -> DistillConfig:
        return replace(self, **changes)
