"""Camera image -> Qwen2.5-VL ``pixel_values`` / ``image_grid_thw`` (numpy + OpenCV, no torch).

Identical to ``transformers.Qwen2VLImageProcessor`` for a fixed target size: resize to H×W
(multiples of patch·merge = 28), rescale to [0, 1], normalise with the CLIP mean/std, repeat the
frame ``temporal_patch_size`` times and cut it into 14×14 patches in Qwen's order (2×2 merge
windows contiguous, each patch flattened as channel, time, row, column). Training and the runtime
both call this, so the model never sees a differently prepared image.

Resizing uses OpenCV: ``INTER_AREA`` when shrinking (close to PIL's anti-aliased bicubic) and
``INTER_CUBIC`` when enlarging; HF resizes with PIL, so after a resize the two differ slightly
(parity bounds in ``test/test_preprocessing.py``); without a resize they are identical.

JPEG files and messages are decoded by :func:`decode_image`, which lets libjpeg decode straight to
a 1/2, 1/4 or 1/8 scale while the result stays at least twice the model's size (so the final
``INTER_AREA`` still averages away aliasing). A 1600×900 camera for a 196×112 model decodes at
400×225: a fraction of the work of a full decode and resize, with a mean difference of ~0.2 grey
levels. Training (``load_rgb``) and the vehicle (the node's image conversion) both use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


@dataclass(frozen=True)
class ImageSpec:
    """Fixed model input size and Qwen's patch geometry."""

    height: int
    width: int
    patch_size: int = 14
    merge_size: int = 2
    temporal_patch_size: int = 2

    def __post_init__(self) -> None:
        factor = self.patch_size * self.merge_size
        if self.height % factor or self.width % factor or self.height <= 0 or self.width <= 0:
            raise ValueError(f"image size {self.height}x{self.width} must be positive multiples of {factor}")

    @property
    def grid_thw(self) -> tuple[int, int, int]:
        return (1, self.height // self.patch_size, self.width // self.patch_size)

    @property
    def tokens_per_image(self) -> int:
        """Visual tokens the LLM sees per image, after the merger."""
        _, gh, gw = self.grid_thw
        return gh * gw // (self.merge_size**2)

    @property
    def patch_dim(self) -> int:
        return 3 * self.temporal_patch_size * self.patch_size**2


Buffer = Any  # an object exposing the buffer protocol (typing.Buffer needs Python 3.12)
_REDUCED_READ = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers


def jpeg_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """(height, width) from a JPEG's frame header, or None when ``data`` is not a readable JPEG."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_FRAME_MARKERS:
            return int.from_bytes(data[i + 5 : i + 7], "big"), int.from_bytes(data[i + 7 : i + 9], "big")
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def decode_scale(height: int, width: int, spec: ImageSpec) -> int:
    """The largest JPEG decode scale divisor keeping the image at least twice the model's size."""
    fits = [f for f in _REDUCED_READ if height // f >= 2 * spec.height and width // f >= 2 * spec.width]
    return max(fits, default=1)


def decode_image(data: Buffer, spec: ImageSpec | None = None) -> np.ndarray:
    """Encoded image bytes (JPEG, PNG, ...; any buffer: bytes, a message's array, a uint8 array) ->
    RGB uint8; with ``spec``, at the model's size. Raises ``ValueError`` for data that does not decode.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    flag = cv2.IMREAD_COLOR
    if spec is not None and (size := jpeg_size(memoryview(buffer))) is not None:
        flag = _REDUCED_READ[decode_scale(*size, spec)]
    image = cv2.imdecode(buffer, flag) if buffer.size else None
    if image is None:
        raise ValueError("data is not a decodable image")
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return rgb if spec is None else resize_rgb(rgb, spec)


def load_rgb(path: str | Path, spec: ImageSpec | None = None) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3), at the model's size with ``spec``
    (see :func:`decode_image`); a clear error for a missing or corrupt file."""
    try:
        return decode_image(np.fromfile(str(path), dtype=np.uint8), spec)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read image {path}: missing, unreadable or not an image") from exc


def blank_rgb(spec: ImageSpec) -> np.ndarray:
    """A uniform mid-grey frame at the model's size: a camera that shows nothing (the ablation rows
    with the cameras blanked at test time)."""
    return np.full((spec.height, spec.width, 3), 128, np.uint8)


# A camera frame whose pixels vary less than this (8-bit levels, standard deviation over a sparse
# grid of pixels) shows nothing: a covered lens, a dead sensor, the ablation's blanked camera.
UNIFORM_FRAME_STD = 2.0


def uniform_frames(images: Mapping[str, np.ndarray]) -> list[str]:
    """The cameras of ``images`` whose frame is uniform (``UNIFORM_FRAME_STD``)."""
    return [name for name, rgb in images.items() if float(np.asarray(rgb)[::8, ::8].std()) < UNIFORM_FRAME_STD]


def resize_rgb(rgb: np.ndarray, spec: ImageSpec) -> np.ndarray:
    h, w = rgb.shape[:2]
    if (h, w) == (spec.height, spec.width):
        return rgb
    shrinking = h * w > spec.height * spec.width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(rgb, (spec.width, spec.height), interpolation=interpolation)


# uint8 -> normalised float per channel, the same float32 operations as Qwen's rescale + normalise.
_NORMALISED = ((np.arange(256, dtype=np.float32)[:, None] * np.float32(1 / 255) - CLIP_MEAN) / CLIP_STD).T.copy()  # (C, 256)


def patchify(rgb: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """RGB uint8 (H, W, 3) at the target size -> normalised patches [grid_h·grid_w, patch_dim].

    The uint8 image is rearranged into Qwen's patch order first and normalised by table lookup
    while it is written out once per time step: half the time of normalising the float image, then
    rearranging it (bitwise the same values)."""
    p, m, t = spec.patch_size, spec.merge_size, spec.temporal_patch_size
    gh, gw = spec.height // p, spec.width // p
    u = rgb.transpose(2, 0, 1).reshape(3, gh // m, m, p, gw // m, m, p).transpose(1, 4, 2, 5, 0, 3, 6)  # (gh/m, gw/m, m, m, C, p, p)
    out = np.empty((gh // m, gw // m, m, m, 3, t, p, p), dtype=np.float32)
    for c in range(3):
        out[:, :, :, :, c] = _NORMALISED[c][u[:, :, :, :, c]][:, :, :, :, None]  # repeat the still frame in time
    return out.reshape(gh * gw, spec.patch_dim)


def preprocess_images(
    images: Sequence[np.ndarray], spec: ImageSpec, map_fn: Callable = map
) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 images (any size) -> (``pixel_values`` float32 [n·gh·gw, patch_dim], ``image_grid_thw`` int64 [n, 3]).

    ``map_fn`` may be a thread pool's ``map``: OpenCV and numpy release the GIL, so the runtime
    prepares its cameras in parallel.
    """
    if not images:
        raise ValueError("preprocess_images needs at least one image")
    patches = list(map_fn(lambda img: patchify(resize_rgb(_check_rgb(img), spec), spec), images))
    grid = np.array([spec.grid_thw] * len(images), dtype=np.int64)
    return np.concatenate(patches, axis=0), grid


def _check_rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    return image
