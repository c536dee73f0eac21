"""Why a keyframe's future departs from steady driving: labels the synthetic world records.

The synthetic expert reacts to things only the cameras show (signals, pedestrians stepping out,
lead cars braking, the road bending ahead); every keyframe it writes names the one that shaped its
next 3 s (``CAUSES``, highest priority first in ``synth.world.SceneLog.keyframe_cause``). A sample
cache keeps the label per sample (``UNKNOWN`` where the dataroot has none, as real nuScenes), and
the evaluation's vision-dependent split is built from it (``evaluation.vision_split``).
"""

from __future__ import annotations

import json
from pathlib import Path

CAUSES: tuple[str, ...] = ("none", "curve", "lead_vehicle", "pedestrian", "traffic_light")
UNKNOWN = 255  # the code of a sample whose dataroot records no cause
KEYFRAME_CAUSES_FILE = "evodrive_keyframe_causes.json"  # beside the nuScenes tables; the devkit ignores it


def write_keyframe_causes(path: Path, causes: dict[str, str]) -> None:
    """``{sample token: cause}`` as JSON at ``path``."""
    unknown = sorted(set(causes.values()) - set(CAUSES))
    if unknown:
        raise ValueError(f"unknown keyframe causes {unknown} (known: {', '.join(CAUSES)})")
    Path(path).write_text(json.dumps({"causes": list(CAUSES), "samples": causes}, indent=0))


def read_keyframe_causes(version_dir: Path) -> dict[str, int]:
    """``{sample token: code}`` from a dataroot's version folder; empty where it has no such file."""
    path = Path(version_dir) / KEYFRAME_CAUSES_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {token: CAUSES.index(name) for token, name in data["samples"].items()}

