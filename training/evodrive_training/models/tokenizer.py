"""The tiny preset's tokenizer: word-level for the prompt vocabulary, one token per number.

Every number the ``ctra-residual`` codec writes (one decimal, |value| < 100) is a single token, so
a waypoint coordinate is one prediction with one value rather than a string of digits whose loss is
dominated by unpredictable last places; numbers in other formats fall back to one token per
character, like Qwen2's digit-by-digit splitting. A leading space is folded into the word that
follows it (" word" is one token, which halves the prompt: sequence length is the cost of both
training and inference); other whitespace stays as tokens, so decoding reproduces the text exactly
and the trajectory parser sees ``(1.2,-4.5)`` unchanged. Qwen's special tokens are kept. The
vocabulary is every word of the prompt templates, with and without a leading space, the number
tokens, and printable ASCII characters; a word outside it becomes ``<unk>``.
"""

from __future__ import annotations

import re
import string

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from evodrive_ros.core import prompts
from evodrive_ros.core.conventions import CAMERAS, COMMANDS
from evodrive_ros.core.trajectory_codec import RESIDUAL_CODEC

UNK = "<unk>"
NUMBER_TOKEN_LIMIT = 100.0  # |value| of the largest number token (exclusive)
# A whole one-decimal number not glued to other digits or points, else a word, a digit, a character.
_PIECE = r"(?<![\d.])-?\d{1,2}\.\d(?![\d.])| ?[A-Za-z]+|\d|\s|[^A-Za-z\d\s]"
_NUMBER_TEXT = re.compile(r"-?\d+\.\d+")


def number_token_texts() -> list[str]:
    """Every value the codec can write below the limit, each spelled as the codec spells it."""
    step = 10**RESIDUAL_CODEC.decimals
    limit = int(round(NUMBER_TOKEN_LIMIT * step))
    return [RESIDUAL_CODEC.format_number(i / step) for i in range(-limit + 1, limit)]


def _template_corpus() -> str:
    """Every fixed string the prompts can contain (numbers are covered by number and digit tokens)."""
    zeros5, zeros6 = np.zeros((5, 2)), np.zeros((6, 2))
    texts = [prompts.SYSTEM_PROMPT, prompts.REFINE_HINT, prompts.DRAFT_LINE, prompts.answer_text(zeros6), " ".join(CAMERAS)]
    for command in COMMANDS:
        texts.append(prompts.student_user_prompt(zeros5, np.zeros((5, 4)), command))
        texts.append(prompts.teacher_user_prompt(zeros5, np.zeros((5, 4)), command, np.zeros((6, 4)), RESIDUAL_CODEC, zeros6))
    texts.append("user assistant system")
    return "\n".join(texts)


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    words = sorted(set(re.findall(r"[A-Za-z]+", _template_corpus())))
    chars = sorted(set(string.printable))
    vocab: dict[str, int] = {}
    for token in [*prompts.SPECIAL_TOKENS, UNK, *chars, *words, *(" " + w for w in words), *number_token_texts()]:
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


def number_tokens(tokenizer: PreTrainedTokenizerBase) -> tuple[np.ndarray, np.ndarray]:
    """(ids, values) of the tokens that each spell a whole decimal number; empty for Qwen's tokenizer,
    which has none (it splits numbers into digits)."""
    pairs = [(i, float(text)) for text, i in tokenizer.get_vocab().items() if _NUMBER_TEXT.fullmatch(text)]
    pairs.sort()
    return np.array([i for i, _ in pairs], dtype=np.int64), np.array([v for _, v in pairs], dtype=np.float64)
