"""Draws ``benchmarks/vision_world.png``: the vision world's front camera at a red light, beside the
dense labels and object depth the renderer draws with it (README, issue 15).

    .venv/bin/python scripts/vision_world_picture.py [OUT.png]
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

from evodrive_training.synth.config import VISION_TRAFFIC, SynthConfig
from evodrive_training.synth.dataset import build_scene
from evodrive_training.synth.render import DENSE_LABELS
from evodrive_training.synth.world import TRAFFIC_LIGHT

LABEL_BGR = np.array([[60, 60, 60], [200, 120, 40], [40, 40, 220], [90, 225, 40], [30, 200, 245], [35, 35, 235]], np.uint8)
assert len(LABEL_BGR) == len(DENSE_LABELS)


def main(out: str = "benchmarks/vision_world.png") -> None:
    config = SynthConfig.from_dict({"traffic": VISION_TRAFFIC, "camera": {"width": 400, "height": 225}})
    scene = build_scene(config, seed=1, index=4)  # waits at a red light from t ≈ 10 s
    waiting = np.flatnonzero(scene.log.ego_cause == TRAFFIC_LIGHT)
    image, buffers = scene.frame(float(scene.log.times[waiting[len(waiting) // 2]]), with_dense=True)[0]
    objects = buffers.depth > 0
    depth = cv2.applyColorMap(np.where(objects, 255 - np.clip(buffers.depth * 4, 0, 230), 0).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    strip = np.hstack([image, LABEL_BGR[buffers.label], depth * objects[..., None]])
    for i, text in enumerate(["CAM_FRONT (vision world, red light)", "dense labels: vehicle, pedestrian, signal", "object depth"]):
        cv2.putText(strip, text, (8 + image.shape[1] * i, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.imwrite(out, strip)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
