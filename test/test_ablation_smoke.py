"""`evodrive ablation --quick` end to end: every method scored under both protocols, resumable."""

import json
import math

from evodrive_ros.cli import main
from evodrive_training.ablation import METHODS, PRETRAINED


def _finite(values) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def test_quick_ablation_writes_every_method_and_resumes(tmp_path):
    out, reports = tmp_path / "work", tmp_path / "reports"
    assert main(["ablation", "--quick", "--out", str(out), "--report-dir", str(reports)]) == 0

    result = json.loads((reports / "ablation.json").read_text())
    assert set(result["methods"]) == {m.key for m in METHODS}
    for method in METHODS:
        entry = result["methods"][method.key]
        for protocol in ("stp3", "uniad"):
            assert len(entry[protocol]["L2"]) == 4 and len(entry[protocol]["collision"]) == 4
            assert _finite(entry[protocol]["L2"]) and _finite(entry[protocol]["collision"])
        assert entry["n_samples"] > 0 and 0 <= entry["n_unparsed"] <= entry["n_samples"]
        assert _finite([entry["train_minutes"]])
        if method.kind == "baseline":
            assert entry["perception_probe"] is None
        else:
            probed = entry["perception_probe"]
            assert 0.0 <= probed["iou"] <= 1.0 and 0.0 < probed["positive_rate"] < 1.0
            assert probed["ap_ci95"][0] <= probed["ap"] <= probed["ap_ci95"][1]
    assert result["methods"]["cv"]["n_unparsed"] == 0  # baselines always produce a plan
    assert set(result["config"]["probe_references"]) == {"pretrained", "untrained"}
    assert result["config"]["train_scenes"] >= 1 and "stage_seconds" in result["config"]
    assert "| + visual anchoring (full EvoDriveVLA) |" in (reports / "ablation.md").read_text()
    assert (out / "models" / "evodrive" / "config.json").is_file() and (out / "models" / PRETRAINED / "config.json").is_file()

    stamp = (out / "models" / "evodrive" / "training.json").stat().st_mtime_ns
    assert main(["ablation", "--quick", "--out", str(out), "--report-dir", str(reports)]) == 0  # every stage skipped
    assert (out / "models" / "evodrive" / "training.json").stat().st_mtime_ns == stamp
