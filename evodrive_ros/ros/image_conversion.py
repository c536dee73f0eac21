"""ROS image messages -> RGB arrays through cv_bridge, with clear reasons for what we reject.

cv_bridge is the distro's package on a ROS install and the PyPI ``cv-bridge`` port in our venv;
the port misreads 16-bit images, so only 8-bit colour/mono encodings are accepted. When the model's
input size is given, compressed images go through the project's own decoder instead
(``core.preprocessing.decode_image``, what training reads its images with): it decodes JPEGs
straight at a reduced scale, which cv_bridge cannot, and keeps train and serve pixels identical.
"""

from __future__ import annotations

import cv2
import numpy as np
from cv_bridge import CvBridge, CvBridgeError
from sensor_msgs.msg import CompressedImage, Image

from evodrive_ros.core.preprocessing import ImageSpec, decode_image, resize_rgb
from evodrive_ros.core.skip_reasons import SkipReason

SUPPORTED_ENCODINGS = ("rgb8", "bgr8", "mono8")
SUPPORTED_FORMATS = ("jpeg", "jpg", "png")

_bridge = CvBridge()


class ImageDecodeError(ValueError):
    """An image message we cannot turn into an RGB frame; ``reason`` is the diagnostic key."""

    def __init__(self, reason: SkipReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason, self.detail = reason, detail


def _supported_compression(fmt: str) -> bool:
    """``format`` as drivers write it: empty, a codec (``jpeg``), or image_transport's
    ``"<encoding>; <codec> compressed <encoding>"`` (``compressedDepth`` and 16-bit sources refused)."""
    parts = [p.strip().lower() for p in fmt.split(";")]
    if len(parts) == 1:
        return parts[0] in ("", *SUPPORTED_FORMATS)
    source, transport = parts[0], parts[1].split()
    return source in SUPPORTED_ENCODINGS and bool(transport) and transport[0] in SUPPORTED_FORMATS


def message_to_rgb(msg: Image | CompressedImage, spec: ImageSpec | None = None) -> np.ndarray:
    """H x W x 3 uint8 RGB (at the model's size with ``spec``), or ``ImageDecodeError``."""
    if isinstance(msg, CompressedImage):
        if not _supported_compression(msg.format):
            raise ImageDecodeError(SkipReason.UNSUPPORTED_FORMAT, msg.format)
        try:
            if spec is not None:
                return decode_image(msg.data, spec)
            bgr = _bridge.compressed_imgmsg_to_cv2(msg, "bgr8")
            if bgr is None or bgr.ndim != 3 or bgr.size == 0:
                raise ImageDecodeError(SkipReason.CORRUPT_IMAGE)
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        except (cv2.error, CvBridgeError, ValueError, TypeError) as exc:
            raise ImageDecodeError(SkipReason.CORRUPT_IMAGE) from exc
    if msg.encoding not in SUPPORTED_ENCODINGS:
        raise ImageDecodeError(SkipReason.UNSUPPORTED_ENCODING, msg.encoding)
    if msg.height * msg.step != len(msg.data) or msg.width == 0:
        raise ImageDecodeError(SkipReason.CORRUPT_IMAGE)
    try:
        rgb = np.ascontiguousarray(_bridge.imgmsg_to_cv2(msg, "rgb8"))
        return rgb if spec is None else resize_rgb(rgb, spec)
    except (cv2.error, CvBridgeError, ValueError, TypeError) as exc:
        raise ImageDecodeError(SkipReason.CORRUPT_IMAGE) from exc
