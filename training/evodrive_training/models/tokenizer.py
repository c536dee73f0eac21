"""The tiny preset's tokenizer: word-level for the prompt vocabulary, one token per digit/symbol.

Like Qwen2 it splits numbers digit by digit, folds a leading space into the word that follows it
(" word" is one token, which halves the prompt: sequence length is the cost of both training and
inference), keeps other whitespace as tokens (so decoding reproduces the text exactly and the
trajectory parser sees ``(1.23,-4.56)`` unchanged) and has Qwen's special tokens. The vocabulary is
every word of the prompt templates, with and without a leading space, plus printable ASCII
characters; a word outside it becomes ``<unk>``.
"""

from __future__ import annotations

import re
import string

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from evodrive_ros.core import prompts
from evodrive_ros.core.conventions import CAMERAS, COMMANDS

UNK = "<unk>"
_PIECE = r" ?[A-Za-z]+|\d|\s|[^A-Za-z\d\s]"


def _template_corpus() -> str:
    """Every fixed string the prompts can contain (numbers are covered by single-digit tokens)."""
    zeros5, zeros6 = np.zeros((5, 2)), np.zeros((6, 2))
    texts = [prompts.SYSTEM_PROMPT, prompts.REFINE_HINT, prompts.answer_text(zeros6), " ".join(CAMERAS)]
    for command in COMMANDS:
        texts.append(prompts.student_user_prompt(zeros5, np.zeros((5, 4)), command))
        texts.append(prompts.teacher_user_prompt(zeros5, np.zeros((5, 4)), command, np.zeros((6, 4))))
    texts.append("user assistant system")
    return "\n".join(texts)


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    words = sorted(set(re.findall(r"[A-Za-z]+", _template_corpus())))
    chars = sorted(set(string.printable))
    vocab: dict[str, int] = {}
    for token in [*prompts.SPECIAL_TOKENS, UNK, *chars, *words, *(" " + w for w in words)]:
        vocab.setdefault(token, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(_PIECE), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(list(prompts.SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=UNK,
        pad_token=prompts.PAD,
        eos_token=prompts.IM_END,
        clean_up_tokenization_spaces=False,
    )
