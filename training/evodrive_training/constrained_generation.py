"""The runtime's trajectory grammar as a transformers ``LogitsProcessor``, for ``generate``; and the
same choices made along the true answer (``teacher_forced_choices``), a diagnostic.

``evodrive predict`` must decode like the vehicle does (``evodrive_ros.core.constrained_decoding``),
or open-loop numbers would describe a different decoder than the one deployed. Each row of the batch
walks the same compiled grammar and leaves only the token ``TrajectoryGrammar.choose`` picks (the
runtime's choice, also where it is not the most likely token); once a row's answer is complete only
end-of-turn is allowed.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

from evodrive_ros.core.constrained_decoding import DONE, START, DecodingError, State, TrajectoryGrammar


class GrammarLogitsProcessor(LogitsProcessor):
    def __init__(self, grammar: TrajectoryGrammar, prompt_length: int, eos_token_id: int) -> None:
        self.grammar, self.prompt_length, self.eos_token_id = grammar, prompt_length, eos_token_id
        self._states: list[State] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self.prompt_length :]
        if generated.shape[1] == 0:
            self._states = [START] * input_ids.shape[0]
        else:
            self._states = [self._advance(state, int(token)) for state, token in zip(self._states, generated[:, -1])]
        mask = torch.full_like(scores, float("-inf"))
        for row, state in enumerate(self._states):
            try:  # the runtime's choice, so that generate's greedy step can only take it
                allowed = self.eos_token_id if state == DONE else self.grammar.choose(state, scores[row].float().cpu().numpy())[0]
            except DecodingError:  # non-finite logits: end here, the answer counts as unparsed
                allowed = self.eos_token_id
            mask[row, allowed] = 0.0
        return scores + mask

    def _advance(self, state: State, token: int) -> State:
        return DONE if state == DONE else self.grammar.advance(state, token)


def teacher_forced_choices(grammar: TrajectoryGrammar, answer_ids: list[int], logits: torch.Tensor) -> list[int]:
    """What the decoder would choose at each step of the true answer, given the true answer before it.

    ``logits[i]`` are the model's logits for ``answer_ids[i]`` with ``answer_ids[:i]`` in its
    context. Where the grammar leaves a choice the runtime's choice is taken, elsewhere the forced
    token; the walk follows the true tokens and stops where the trajectory is complete. Decoding
    free-running feeds the model its own earlier numbers instead; the gap between the two scores is
    how much a model leans on copying the true earlier numbers it only sees in training (exposure
    bias)."""
    state, chosen = START, []
    for token, row in zip(answer_ids, logits):
        has_choice = grammar.transitions(state).token_ids.size > 1
        chosen.append(grammar.choose(state, row.float().cpu().numpy())[0] if has_choice else token)
        state = grammar.advance(state, token)  # the true answer always fits the grammar
        if state == DONE:
            return chosen
    raise DecodingError("the answer ended before the trajectory was complete")
