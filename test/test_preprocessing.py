"""Parity of the numpy/OpenCV preprocessing with transformers' Qwen2VLImageProcessor.

Tolerance: identical up to float rounding (≤ 1e-5 in normalised units) when the image is already at
the target size; after a resize (OpenCV INTER_AREA vs PIL anti-aliased bicubic) the mean absolute
difference is ≤ 0.01 on a smooth image (≈ 0.7 grey levels) and max ≤ 0.05.
"""

import cv2
import numpy as np
import pytest
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from evodrive_ros.core.preprocessing import ImageSpec, decode_image, decode_scale, jpeg_size, load_rgb, preprocess_images

SPEC = ImageSpec(112, 196)


def _hf(images):
    proc = Qwen2VLImageProcessorPil(min_pixels=SPEC.height * SPEC.width, max_pixels=SPEC.height * SPEC.width)
    out = proc(images=images, return_tensors="np")
    return out["pixel_values"], out["image_grid_thw"]


def test_matches_hf_exactly_at_target_size():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (112, 196, 3), dtype=np.uint8) for _ in range(3)]
    pixels, grid = preprocess_images(images, SPEC)
    hf_pixels, hf_grid = _hf(images)
    assert pixels.shape == (3 * 8 * 14, 1176) and pixels.dtype == np.float32
    np.testing.assert_array_equal(grid, hf_grid)
    np.testing.assert_allclose(pixels, hf_pixels, atol=1e-5)


def test_close_to_hf_after_downscaling():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 40, (448, 784, 3))
    ramp = np.add.outer(np.arange(448), np.arange(784))[..., None] * np.array([0.2, 0.1, 0.15])
    image = np.clip(cv2.GaussianBlur(ramp + noise, (0, 0), 3), 0, 255).astype(np.uint8)
    pixels, grid = preprocess_images([image], SPEC)
    hf_pixels, hf_grid = _hf([image])
    np.testing.assert_array_equal(grid, hf_grid)
    diff = np.abs(pixels - hf_pixels)
    assert diff.mean() <= 0.01 and diff.max() <= 0.05


def test_spec_geometry_and_validation():
    assert SPEC.grid_thw == (1, 8, 14) and SPEC.tokens_per_image == 28 and SPEC.patch_dim == 1176
    with pytest.raises(ValueError, match="multiples of 28"):
        ImageSpec(100, 196)


def test_load_rgb_reports_corrupt_file(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="bad.jpg"):
        load_rgb(bad)
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.full((4, 4, 3), (255, 0, 0), dtype=np.uint8))  # BGR blue
    assert tuple(load_rgb(good)[0, 0]) == (0, 0, 255)


def _camera_jpeg(height: int, width: int) -> bytes:
    rng = np.random.default_rng(2)
    ramp = np.add.outer(np.arange(height), np.arange(width))[..., None] * np.array([0.1, 0.05, 0.08])
    image = np.clip(cv2.GaussianBlur(ramp + rng.normal(0, 40, (height, width, 3)), (0, 0), 2), 0, 255)
    ok, data = cv2.imencode(".jpg", image.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def test_jpeg_size_and_decode_scale():
    data = _camera_jpeg(900, 1600)
    assert jpeg_size(data) == (900, 1600)
    assert jpeg_size(b"\x89PNG\r\n\x1a\n") is None and jpeg_size(b"\xff\xd8\xff") is None
    assert decode_scale(900, 1600, SPEC) == 4  # 400x225 >= 2 x 196x112
    assert decode_scale(450, 800, SPEC) == 2
    assert decode_scale(112, 196, SPEC) == 1


@pytest.mark.parametrize("size", [(900, 1600), (450, 800)])
def test_reduced_jpeg_decode_matches_full_decode_and_resize(size):
    """Decoding at a reduced scale changes the model's input by a fraction of a grey level."""
    data = _camera_jpeg(*size)
    fast = decode_image(data, SPEC)
    full = cv2.resize(cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB),
                      (SPEC.width, SPEC.height), interpolation=cv2.INTER_AREA)
    assert fast.shape == (112, 196, 3) and fast.dtype == np.uint8
    diff = np.abs(fast.astype(int) - full.astype(int))
    assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 3


def test_decode_image_rejects_garbage_and_reads_png():
    with pytest.raises(ValueError):
        decode_image(b"\xff\xd8\xff\xe0 truncated", SPEC)
    with pytest.raises(ValueError):
        decode_image(b"", SPEC)
    ok, png = cv2.imencode(".png", np.zeros((224, 392, 3), np.uint8))
    assert decode_image(png.tobytes(), SPEC).shape == (112, 196, 3)
