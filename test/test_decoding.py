"""Constrained decoding: the grammar state machine on a toy vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from evodrive_ros.core.constrained_decoding import (
    DONE,
    START,
    DecodingError,
    TrajectoryGrammar,
    greedy_decode,
    max_answer_tokens,
    step_char,
)
from evodrive_ros.core.trajectory_codec import decode_text, encode_text

# Single characters, multi-character pieces (as BPE vocabularies have) and tokens that never fit.
TOY_VOCAB = [
    "<|im_end|>", "[", "(", ")", ",", " ", ".", "-", *"0123456789",
    "),", ", (", "[(", ")]", "12", ".5", "0.", "hello", "", " 1", "1)", ",-", "9999", "]x",
]


def accepts(text: str) -> bool:
    state = START
    for ch in text:
        state = step_char(state, ch) if state != DONE else None
        if state is None:
            return False
    return state == DONE


@pytest.mark.parametrize(
    "text",
    [
        encode_text(np.array([[0.5 * i, -0.1 * i] for i in range(1, 7)])),
        "[(0.00,0.00), (-1.25,3.50), (999.99,-999.99), (0.01,10.00), (1.00,2.00), (3.00,4.00)]",
    ],
)
def test_grammar_accepts_codec_text(text: str) -> None:
    assert accepts(text)
    assert decode_text(text).shape == (6, 2)


@pytest.mark.parametrize(
    "text",
    [
        "[(0.00,0.00)]",  # too few pairs
        "[(1.0,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00)]",  # 1 decimal
        "[(01.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00)]",  # leading zero
        "[(1000.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00)]",  # too large
        "[(1.00, 2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00)]",  # space in pair
        "[(nan,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00)]",
        "[(1.00,2.00),(1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00)]",  # no space
        "[(-.50,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00)]",
        "[(1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00), (1.00,2.00)]",
    ],
)
def test_grammar_rejects_malformed_text(text: str) -> None:
    assert not accepts(text)


def test_allowed_tokens_follow_the_grammar() -> None:
    grammar = TrajectoryGrammar(TOY_VOCAB)
    allowed = {TOY_VOCAB[i] for i in np.flatnonzero(grammar.allowed_mask(START))}
    assert allowed == {"[", "[("}
    after_open = grammar.transitions(START).next_states[list(grammar.transitions(START).token_ids).index(1)]
    allowed = {TOY_VOCAB[i] for i in np.flatnonzero(grammar.allowed_mask(after_open))}
    assert allowed == {"("}
    assert not grammar.allowed_mask(DONE).any()


def test_picks_the_argmax_among_allowed_tokens() -> None:
    grammar = TrajectoryGrammar(TOY_VOCAB)
    logits = np.zeros(len(TOY_VOCAB), dtype=np.float32)
    logits[TOY_VOCAB.index("hello")] = 100.0  # best overall, never allowed
    logits[TOY_VOCAB.index("[(")] = 5.0
    logits[TOY_VOCAB.index("[")] = 4.0
    token, _ = grammar.choose(START, logits)
    assert TOY_VOCAB[token] == "[("


@pytest.mark.parametrize("seed", range(20))
def test_random_logits_always_give_a_valid_plan(seed: int) -> None:
    rng = np.random.default_rng(seed)
    grammar = TrajectoryGrammar(TOY_VOCAB)
    vocab = len(TOY_VOCAB) + 7  # models pad their vocabulary beyond the tokenizer's
    tokens = greedy_decode(grammar, rng.normal(size=vocab) * 10, lambda _tokens: rng.normal(size=vocab) * 10)
    text = "".join(TOY_VOCAB[t] for t in tokens)
    assert accepts(text)
    assert np.all(np.isfinite(decode_text(text)))
    assert len(tokens) <= max_answer_tokens()


def test_decoding_reproduces_a_target_text() -> None:
    target = "[(1.25,-3.50), (12.00,0.50), (0.01,999.99), (-7.77,8.88), (2.00,3.00), (4.50,5.50)]"
    vocab = TOY_VOCAB
    grammar = TrajectoryGrammar(vocab)
    remaining = [target]

    def logits_for_next() -> np.ndarray:
        """A 'model' that prefers the single character continuing the target."""
        scores = np.zeros(len(vocab))
        scores[vocab.index(remaining[0][0])] = 1.0
        return scores

    def step(tokens: list[int]) -> np.ndarray:
        for token in tokens:
            remaining[0] = remaining[0][len(vocab[token]):]
        return logits_for_next()

    tokens = greedy_decode(grammar, logits_for_next(), step)
    assert "".join(vocab[t] for t in tokens) == target


@pytest.mark.parametrize("vocab", [TOY_VOCAB, ["[", "(", ")", ",", " ", ".", "-", *"0123456789", "]"]])
def test_forced_tokens_are_fed_together_with_the_same_answer(vocab: list[str]) -> None:
    """Batching the grammar-forced tokens into one model call changes the number of calls, not
    the answer: compare with a reference that runs the model after every token."""
    grammar = TrajectoryGrammar(vocab)

    def model(context: tuple[int, ...]) -> np.ndarray:  # deterministic logits per context
        return np.random.default_rng(abs(hash(context)) % 2**32).normal(size=len(vocab))

    reference_state, reference = START, []
    while reference_state != DONE:
        token, reference_state = grammar.choose(reference_state, model(tuple(reference)))
        reference.append(token)
    calls: list[list[int]] = []
    context: list[int] = []

    def feed(tokens: list[int]) -> np.ndarray:
        calls.append(tokens)
        context.extend(tokens)
        return model(tuple(context))

    assert greedy_decode(grammar, model(()), feed) == reference
    assert len(calls) < len(reference) - 1  # fewer calls than tokens: forced runs went in together
    assert max(len(c) for c in calls) > 1


def test_explicit_failures() -> None:
    grammar = TrajectoryGrammar(TOY_VOCAB)
    with pytest.raises(DecodingError, match="non-finite"):
        greedy_decode(grammar, np.full(len(TOY_VOCAB), np.nan), lambda _ts: np.zeros(len(TOY_VOCAB)))
    digits_missing = TrajectoryGrammar(["[", "(", ")", ",", " ", "."])
    with pytest.raises(DecodingError, match="no token"):
        greedy_decode(digits_missing, np.zeros(6), lambda _ts: np.zeros(6))


def test_tiny_tokenizer_numbers_are_single_tokens_and_any_logits_decode_to_a_residual_plan():
    from evodrive_ros.core.trajectory_codec import RESIDUAL_CODEC
    from evodrive_ros.runtime.pipeline import token_texts
    from evodrive_training.models.tokenizer import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    answer = RESIDUAL_CODEC.encode(np.array([[0.5 * i, -0.3 * i] for i in range(1, 7)]), np.zeros((6, 2)))
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(answer)["input_ids"])
    assert "-0.3" not in pieces and "0.3" in pieces and "3.0" in pieces and len(pieces) == 2 + 6 * 5 + 5 * 2
    assert tokenizer.convert_ids_to_tokens(tokenizer("12.34")["input_ids"]) == ["1", "2", ".", "3", "4"]  # other formats: characters

    grammar = TrajectoryGrammar(token_texts(tokenizer.backend_tokenizer), decimals=RESIDUAL_CODEC.decimals)
    rng = np.random.default_rng(0)
    for _ in range(3):
        tokens = greedy_decode(grammar, rng.normal(size=grammar.vocab_size), lambda feed: rng.normal(size=grammar.vocab_size))
        text = "".join(tokenizer.convert_ids_to_tokens(tokens))
        assert RESIDUAL_CODEC.decode(text, np.zeros((6, 2))).shape == (6, 2)
        assert all(len(part.split(".")[1]) == 1 for part in text.strip("[]()").replace("), (", ",").split(","))


def test_mean_number_estimate_picks_the_number_nearest_the_expected_value() -> None:
    """Where whole-number tokens hold most of the probability, ``mean`` picks the one nearest the
    expected value (least expected squared error); ``mode`` the most likely; characters stay greedy."""
    vocab = ["[", "]", "(", ")", ",", " ", ".", "-", *"0123456789", "0.0", "1.0", "2.0", "3.0"]
    state = ("sign", 0, 0, 0)  # a number starts here
    logits = np.full(len(vocab), -30.0)
    for text, p in (("0.0", 0.5), ("2.0", 0.25), ("3.0", 0.25)):
        logits[vocab.index(text)] = np.log(p)
    mode = TrajectoryGrammar(vocab, decimals=1, number_estimate="mode")
    mean = TrajectoryGrammar(vocab, decimals=1, number_estimate="mean")
    assert vocab[mode.choose(state, logits)[0]] == "0.0"
    token, next_state = mean.choose(state, logits)
    assert vocab[token] == "1.0" and next_state == ("frac", 0, 0, 1)  # 1.25 -> 1.0, the number complete
    logits[vocab.index("7")] = np.log(4.0)  # most mass on a character: the greedy choice stands
    assert vocab[mean.choose(state, logits)[0]] == "7"
    with pytest.raises(ValueError, match="number_estimate"):
        TrajectoryGrammar(vocab, number_estimate="median")


def test_teacher_forced_choices_follow_the_true_answer_and_take_the_models_numbers():
    """Each choice is made in the state the *true* answer reached: a model that always says 0.0 gets
    0.0 everywhere, while the walk keeps to the true tokens (the exposure-bias diagnostic)."""
    import torch

    from evodrive_ros.core.trajectory_codec import RESIDUAL_CODEC
    from evodrive_ros.runtime.pipeline import token_texts
    from evodrive_training.constrained_generation import teacher_forced_choices
    from evodrive_training.models.tokenizer import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    grammar = TrajectoryGrammar(token_texts(tokenizer.backend_tokenizer), decimals=1)
    truth = RESIDUAL_CODEC.encode(np.array([[0.5 * i, -0.3 * i] for i in range(1, 7)]), np.zeros((6, 2)))
    ids = tokenizer(truth + " These are", add_special_tokens=False)["input_ids"]  # text after the answer is ignored
    logits = torch.full((len(ids), grammar.vocab_size), -5.0)
    logits[:, tokenizer.convert_tokens_to_ids("0.0")] = 5.0
    chosen = teacher_forced_choices(grammar, ids, logits)
    assert "".join(tokenizer.convert_ids_to_tokens(chosen)) == "[" + ", ".join(["(0.0,0.0)"] * 6) + "]"
    with pytest.raises(DecodingError, match="ended"):
        teacher_forced_choices(grammar, ids[:5], logits[:5])
