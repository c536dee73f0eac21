"""``evodrive bench``: per-stage statistics, FLOP counts and the Orin estimate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from evodrive_ros.core.preprocessing import ImageSpec
from evodrive_ros.runtime import bench
from evodrive_ros.runtime import latency_model as lm


def test_flop_and_parameter_counts_match_the_3b_checkpoint() -> None:
    spec = ImageSpec(308, 588)
    # METHOD.md §1.1: ~3.09 B language model (incl. the tied embedding), ~0.67 B vision tower.
    assert lm.language_parameters(lm.QWEN25_VL_3B) == pytest.approx(3.09e9, rel=0.02)
    assert lm.vision_parameters(lm.QWEN25_VL_3B, spec) == pytest.approx(0.67e9, rel=0.02)
    frame = lm.FrameShape(6, spec, prompt_tokens=1850, answer_tokens=70)
    flops = lm.frame_flops(lm.QWEN25_VL_3B, frame)
    assert flops["prefill"] == pytest.approx(2 * 3.09e9 * 1850, rel=0.1)  # ~2 FLOPs per weight per token
    orin = lm.orin_estimate_ms(lm.QWEN25_VL_3B, frame)
    assert 1500 < orin["total"] < 3000  # the paper-size student is ~2 s per frame on Orin
    assert orin["decode"] > orin["prefill"]  # decode is bandwidth bound
    assert lm.orin_estimate_ms(lm.DEPLOYABLE, lm.FrameShape(6, ImageSpec(224, 392), 1274, 90), typical=True)["total"] < 100


def test_cpu_peak_states_its_assumption() -> None:
    peak, assumption = lm.cpu_peak_flops(cores=2, ghz=2.5)
    assert peak == 2 * 2.5e9 * 32 and "FMA" in assumption


def test_bench_runs_on_an_exported_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("torch")
    from exported_tiny import export_tiny

    exported = export_tiny(tmp_path)
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args([str(exported.model_dir), "--frames", "3", "--torch-frames", "1", "--warmup", "1",
                              "--distinct-frames", "1", "--json", str(tmp_path / "b.json"), "--markdown", str(tmp_path / "b.md")])
    assert bench.run(args) == 0
    report = json.loads((tmp_path / "b.json").read_text())
    assert set(report["backends"]) == {"onnxruntime", "torch-eager"}
    stages = report["backends"]["onnxruntime"]["stages_ms"]
    assert set(stages) == set(bench.STAGES) and stages["total"]["p50"] > 0
    assert report["backends"]["onnxruntime"]["failures"] == 0
    assert report["onnxruntime_speedup_vs_torch"] > 0
    assert [row["preset"].split(" ")[0] for row in report["orin_estimate"]] == ["this", "deployable", "qwen2.5-0.5b", "qwen2.5-vl-3b"]
    assert "Orin AGX estimate" in (tmp_path / "b.md").read_text() and "p50/p90/p99" in capsys.readouterr().out
