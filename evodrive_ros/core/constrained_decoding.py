"""Greedy decoding constrained to the ``text`` codec's grammar, shared by every backend.

The grammar is ``[(x,y), (x,y), ...]`` with exactly ``FUTURE_STEPS`` pairs, each number
``-?D{1,3}.D…D`` with the codec's number of decimals (no leading zeros, |value| < 1000 m), then the
end. Tokens may hold a whole number (the tiny tokenizer's number tokens) or single characters. A character-level state machine
decides which characters may come next; a token is allowed in a state when every character of its
text is accepted from that state, it does not run past the end, and the state it leads to can still
be completed with this vocabulary (no dead ends). Per state, the allowed token ids and the state each
one leads to are computed once over the vocabulary and cached, so a decode step costs one ``argmax``
over the allowed logits. Whatever the logits, the output always parses
into finite waypoints, or decoding reports an explicit failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from evodrive_ros.core.conventions import FUTURE_STEPS
from evodrive_ros.core.trajectory_codec import PAPER_CODEC

MAX_INT_DIGITS = 3
DECIMALS = PAPER_CODEC.decimals  # default: the paper's codec
_GRAMMAR_CHARS = frozenset("0123456789.-,()[] ")

# A state is (phase, pair index, coordinate index, digits so far in the current part).
State = tuple[str, int, int, int]
START: State = ("start", 0, 0, 0)
DONE: State = ("done", FUTURE_STEPS, 0, 0)


class DecodingError(RuntimeError):
    """Constrained decoding could not finish (no allowed token, non-finite logits, step limit)."""


def step_char(state: State, ch: str, n_pairs: int = FUTURE_STEPS, decimals: int = DECIMALS) -> State | None:
    """The state after ``ch``, or None when the grammar does not allow ``ch`` here."""
    phase, pair, coord, n = state
    digit = ch.isdigit() and ch.isascii()
    if phase == "start":
        return ("open", 0, 0, 0) if ch == "[" else None
    if phase == "open":
        return ("sign", pair, 0, 0) if ch == "(" else None
    if phase == "sign":  # first character of a number
        if ch == "-":
            return ("int", pair, coord, 0)
        return ("int0" if ch == "0" else "int", pair, coord, 1) if digit else None
    if phase == "int":  # n integer digits so far (a leading '-' only: n == 0)
        if digit and n == 0:
            return ("int0" if ch == "0" else "int", pair, coord, 1)
        if digit and n < MAX_INT_DIGITS:
            return ("int", pair, coord, n + 1)
        return ("frac", pair, coord, 0) if ch == "." and n > 0 else None
    if phase == "int0":  # a leading zero must be followed by the decimal point
        return ("frac", pair, coord, 0) if ch == "." else None
    if phase == "frac":
        if n < decimals:
            return ("frac", pair, coord, n + 1) if digit else None
        if coord == 0:
            return ("sign", pair, 1, 0) if ch == "," else None
        return ("close", pair, 0, 0) if ch == ")" else None
    if phase == "close":  # after ')'
        if pair + 1 < n_pairs:
            return ("space", pair + 1, 0, 0) if ch == "," else None
        return DONE if ch == "]" else None
    if phase == "space":
        return ("open", pair, 0, 0) if ch == " " else None
    return None  # DONE accepts nothing more


@dataclass(frozen=True)
class Transitions:
    """Allowed token ids in one state and the state each leads to."""

    token_ids: np.ndarray  # int64 [k]
    next_states: tuple[State, ...]


class TrajectoryGrammar:
    """The codec grammar compiled against one tokenizer's vocabulary.

    ``token_texts[i]`` is the text token ``i`` decodes to on its own (special tokens included, as
    their literal text; they never match the grammar).
    """

    def __init__(
        self, token_texts: Sequence[str], n_pairs: int = FUTURE_STEPS, decimals: int = DECIMALS, number_estimate: str = "mode"
    ) -> None:
        if number_estimate not in ("mode", "mean"):
            raise ValueError(f"number_estimate must be 'mode' or 'mean', got {number_estimate!r}")
        self.n_pairs = n_pairs
        self.decimals = decimals
        self.number_estimate = number_estimate
        self.vocab_size = len(token_texts)
        # Only tokens made of grammar characters can ever be allowed; scanning just those keeps a
        # 150 k vocabulary cheap.
        self._candidates = [(i, t) for i, t in enumerate(token_texts) if t and set(t) <= _GRAMMAR_CHARS]
        self._cache: dict[State, Transitions] = {}
        # The value of each token that is a whole number in the grammar's format (NaN elsewhere).
        whole = re.compile(rf"-?\d{{1,{MAX_INT_DIGITS}}}\.\d{{{decimals}}}")
        self._values = np.full(self.vocab_size, np.nan)
        for i, text in self._candidates:
            if whole.fullmatch(text):
                self._values[i] = float(text)

    def transitions(self, state: State) -> Transitions:
        """Tokens allowed in ``state``: those that keep the answer completable (states form a DAG:
        every character moves forward in the answer, so the recursion ends)."""
        cached = self._cache.get(state)
        if cached is None:
            ids, nexts = [], []
            for token_id, text in self._candidates:
                end = self._walk(state, text)
                if end is not None and (end == DONE or self.transitions(end).token_ids.size):
                    ids.append(token_id)
                    nexts.append(end)
            cached = Transitions(np.array(ids, dtype=np.int64), tuple(nexts))
            self._cache[state] = cached
        return cached

    def _walk(self, state: State, text: str) -> State | None:
        for ch in text:
            if state == DONE:
                return None
            state = step_char(state, ch, self.n_pairs, self.decimals)
            if state is None:
                return None
        return state

    def advance(self, state: State, token_id: int) -> State:
        """The state after ``token_id``, which must be allowed in ``state``."""
        options = self.transitions(state)
        return options.next_states[options.token_ids.tolist().index(token_id)]

    def allowed_mask(self, state: State) -> np.ndarray:
        """Boolean [vocab] mask of the tokens allowed in ``state`` (for tests and logit processors)."""
        mask = np.zeros(self.vocab_size, dtype=bool)
        mask[self.transitions(state).token_ids] = True
        return mask

    def choose(self, state: State, logits: np.ndarray) -> tuple[int, State]:
        """The next token and the state it leads to: the allowed token with the highest logit, or,
        with ``number_estimate="mean"`` where whole-number tokens are allowed and hold most of the
        probability, the number token nearest the expected value. A model trained with soft number
        labels spreads its probability over neighbouring values; where it is unsure, the most likely
        single value is the most common one in training (a zero correction), the mean is not."""
        options = self.transitions(state)
        if options.token_ids.size == 0:
            raise DecodingError(f"no token of the vocabulary is allowed in grammar state {state}")
        scores = np.asarray(logits, dtype=np.float32).reshape(-1)[options.token_ids]
        if not np.all(np.isfinite(scores)):
            raise DecodingError("model produced non-finite logits")
        best = int(np.argmax(scores))
        if self.number_estimate == "mean":
            values = self._values[options.token_ids]
            numbers = np.flatnonzero(~np.isnan(values))
            if numbers.size > 1:
                p = np.exp(scores - scores[best])
                p_numbers = p[numbers]
                if p_numbers.sum() >= 0.5 * p.sum():
                    mean = float(p_numbers @ values[numbers] / p_numbers.sum())
                    best = int(numbers[np.argmin(np.abs(values[numbers] - mean))])
        return int(options.token_ids[best]), options.next_states[best]

    @property
    def max_tokens(self) -> int:
        return max_answer_tokens(self.n_pairs, self.decimals)


def max_answer_tokens(n_pairs: int = FUTURE_STEPS, decimals: int = DECIMALS) -> int:
    """Upper bound on the tokens of a complete answer: its longest text, as every token adds >= 1 character."""
    number = 1 + MAX_INT_DIGITS + 1 + decimals
    return 2 + n_pairs * (2 * number + 3) + 2 * (n_pairs - 1)


def greedy_decode(grammar: TrajectoryGrammar, first_logits: np.ndarray, next_logits: Callable[[list[int]], np.ndarray]) -> list[int]:
    """Token ids of the constrained greedy answer.

    ``first_logits`` are the logits after the prompt; ``next_logits(token_ids)`` appends tokens to
    the model's context and returns the logits for the position after the last. A chosen token is
    fed together with the tokens the grammar then forces (the only allowed token in their state,
    such as ``), (`` between pairs), so a model call is spent only where the model has a choice; the
    answer is the same as one token per call (the logits at forced positions are not computed, so
    they are not checked for NaN either). The model is not run after the token that completes the
    grammar. Raises ``DecodingError`` when no valid answer can be made.
    """
    state, logits, tokens = START, first_logits, []
    while len(tokens) < grammar.max_tokens:
        token, state = grammar.choose(state, logits)
        feed = [token]
        while state != DONE and (forced := grammar.transitions(state)).token_ids.size == 1:
            feed.append(int(forced.token_ids[0]))
            state = forced.next_states[0]
        tokens += feed
        if state == DONE:
            return tokens
        logits = next_logits(feed)
    raise DecodingError(f"answer not complete after {grammar.max_tokens} tokens")
