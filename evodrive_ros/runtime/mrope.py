"""Qwen2.5-VL multimodal rotary positions (M-RoPE) in numpy, for the runtime.

Reproduces ``Qwen2_5_VLModel.get_rope_index`` for still images: text tokens count up by one on all
three axes; an image's tokens share the temporal position and get row/column positions on the
merged grid, offset by the position where the image starts; the text after an image continues at
``start + max(rows, cols)``. Decoded tokens continue from the largest position + 1.
Checked against transformers in ``test/test_export_onnx.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mrope_positions(
    input_ids: np.ndarray, image_token_id: int, merged_grids: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, int]:
    """(positions int64 [3, L], next position for the first generated token).

    ``merged_grids[i]`` is (rows, cols) of image ``i`` after the 2x2 merger; each run of
    consecutive image tokens in ``input_ids`` is one image, in order.
    """
    ids = np.asarray(input_ids).reshape(-1)
    is_image = ids == image_token_id
    positions = np.zeros((3, ids.size), dtype=np.int64)
    grids = iter(merged_grids)
    pos, i = 0, 0
    while i < ids.size:
        j = i
        while j < ids.size and is_image[j] == is_image[i]:
            j += 1
        if is_image[i]:
            rows, cols = next(grids)
            if j - i != rows * cols:
                raise ValueError(f"image at token {i} has {j - i} tokens, expected {rows}x{cols}")
            r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
            positions[0, i:j] = pos
            positions[1, i:j] = pos + r.reshape(-1)
            positions[2, i:j] = pos + c.reshape(-1)
            pos += max(rows, cols)
        else:
            positions[:, i:j] = pos + np.arange(j - i)
            pos += j - i
        i = j
    return positions, int(positions.max(initial=-1)) + 1
