"""`evodrive ablation --quick --world vision` end to end over two seeds: every method scored under
both protocols and on the vision-dependent split, mean ± std over the seeds with the per-seed values
kept, trainings in parallel processes, resumable; the draft reads the road ahead (the default plan)."""

import json
import math

import pytest

from evodrive_ros.cli import main
from evodrive_ros.core.ego_draft import DRAFT_FILE, EgoDraft
from evodrive_training.ablation import CURVE_KEYS, METHODS, PRETRAINED, WARMUP
from evodrive_training.models.presets import ROAD_DRAFT_CELLS, ROAD_PERCEPTION_FILE


def _finite(values) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def test_quick_ablation_writes_every_method_and_resumes(tmp_path):
    out, reports = tmp_path / "work", tmp_path / "reports"
    argv = ["ablation", "--quick", "--world", "vision", "--out", str(out), "--report-dir", str(reports), "--seeds", "0", "1", "--jobs", "2"]
    assert main(argv) == 0

    result = json.loads((reports / "ablation_vision.json").read_text())
    split = result["config"]["vision_split"]
    assert result["config"]["world"] == "vision" and split["n_samples"] == sum(split["causes"].values())
    assert result["config"]["road_pretraining"] and result["config"]["road_draft"]  # pretrained on the map mask, the draft reads it
    assert EgoDraft.load(out / "models" / PRETRAINED / DRAFT_FILE).road_cells == ROAD_DRAFT_CELLS
    for model in ("models/teacher", "seed-0/models/evodrive", "seed-1/models/sft_text"):  # the draft's perception travels with it
        assert (out / model / ROAD_PERCEPTION_FILE).is_file() and (out / model / DRAFT_FILE).is_file()
    assert set(result["methods"]) == {m.key for m in METHODS} and result["config"]["seeds"] == [0, 1]
    for method in METHODS:
        entry = result["methods"][method.key]
        per_seed = [seed["methods"][method.key] for seed in result["per_seed"]]
        for protocol in ("stp3", "uniad"):
            for metric in ("L2", "collision"):
                stat, values = entry[protocol][metric], [e[protocol][metric] for e in per_seed]
                assert len(stat["mean"]) == 4 and _finite(stat["mean"]) and _finite(stat["std"])
                assert math.isclose(stat["mean"][3], (values[0][3] + values[1][3]) / 2, abs_tol=1e-3)
                assert math.isclose(stat["std"][3], abs(values[0][3] - values[1][3]) / 2, abs_tol=1e-3)
        assert entry["n_samples"] > 0 and all(0 <= n <= entry["n_samples"] for n in entry["n_unparsed"])
        assert all(seed["vision"]["n_samples"] == split["n_samples"] for seed in per_seed)
        if split["n_samples"]:
            assert _finite(entry["vision"]["uniad"]["L2"]["mean"]) and _finite(entry["vision"]["stp3"]["collision"]["std"])
        if method.kind in ("baseline", "draft"):
            assert entry["probe_ap"] is None
        else:
            for seed in per_seed:
                probed = seed["perception_probe"]
                assert 0.0 <= probed["iou"] <= 1.0 and 0.0 < probed["positive_rate"] < 1.0
                assert probed["ap_ci95"][0] <= probed["ap"] <= probed["ap_ci95"][1]
    assert result["methods"]["cv"]["n_unparsed"] == [0, 0]  # baselines always produce a plan
    assert set(result["config"]["probe_references"]) == {"pretrained", "untrained", "location prior"}
    assert 0.0 < result["config"]["probe_references"]["location prior"]["mean"] <= 1.0
    for key in ("sft", "evodrive", "teacher"):  # each seed's probes against its own references
        assert result["methods"][key]["probe_kept"]["of_pretrained"]["mean"] > 0.0
    assert all((out / f"seed-{seed}" / "probe" / "pretrained.json").is_file() for seed in (0, 1))
    assert result["config"]["train_scenes"] >= 1 and all(m > 0 for m in result["config"]["minutes_per_seed"])
    report_md = (reports / "ablation_vision.md").read_text()
    assert "| + visual anchoring (full EvoDriveVLA) |" in report_md and "| SFT, cameras blanked at test time |" in report_md
    assert "## Perception kept" in report_md
    for seed in result["per_seed"]:  # the blanked row reuses the SFT model and its probe; the text-only one is its own
        assert seed["methods"]["sft_blank"]["perception_probe"] == seed["methods"]["sft"]["perception_probe"]
    assert json.loads((out / "seed-0" / "models" / "sft_text" / "training.json").read_text())["text_only"]
    curves = result["config"]["probe_curves"]  # the encoder at the start and 2 points of each curve student, probed
    assert set(curves) == set(CURVE_KEYS) and all(c["steps"][0] == 0 and len(c["steps"]) == 3 for c in curves.values())
    for key, curve in curves.items():
        assert _finite(curve["ap"]["mean"]) and curve["steps"] == sorted(curve["steps"])
        final = [seed["methods"][key]["perception_probe"]["ap"] for seed in result["per_seed"]]
        assert math.isclose(curve["ap"]["mean"][-1], sum(final) / 2, abs_tol=1e-3)  # the last snapshot is the trained encoder
    assert (reports / "ablation_vision_probe_curves.png").stat().st_size > 1000 and "Perception over training" in report_md
    assert not (out / "seed-0" / "models" / "sft_blank").exists()
    for seed in ("seed-0", "seed-1"):  # one teacher pass per seed for the four distilled rungs, its file removed after
        distilled = [m.key for m in METHODS if m.kind == "student" and m.mode == "student"]
        computed = [key for key in distilled if "teacher targets:" in (out / seed / "models" / f"{key}.log").read_text()]
        assert len(distilled) == 4 and len(computed) == 1, computed
        assert not (out / seed / "teacher_targets.safetensors").exists()
    for seed in (0, 1):
        models = out / f"seed-{seed}" / "models"
        assert (models / "evodrive" / "config.json").is_file() and (models / "sft.log").is_file()  # trained in a child process
        assert not (models / PRETRAINED).exists() and not (models / "teacher").exists()
    for shared in (PRETRAINED, WARMUP, "teacher"):  # built once, for every seed
        assert (out / "models" / shared / "config.json").is_file()
    warmup = json.loads((out / "models" / WARMUP / "training.json").read_text())
    assert warmup["text_only"] and warmup["init"].endswith(PRETRAINED)
    for key in ("teacher", "seed-0/models/sft", "seed-1/models/evodrive"):  # every trained model starts from the warm-up
        model = out / key if key.startswith("seed") else out / "models" / key
        assert json.loads((model / "training.json").read_text())["init"].endswith(WARMUP)
    for shared in ("teacher", "draft"):  # one for every seed
        values = [seed["methods"][shared]["stp3"]["L2"] for seed in result["per_seed"]]
        assert values[0] == values[1] and result["methods"][shared]["stp3"]["L2"]["std"] == [0.0] * 4
    assert "The draft reads the road ahead" in report_md
    assert (out / "seed-0" / "models" / "evodrive" / "training.json").read_text() != (out / "seed-1" / "models" / "evodrive" / "training.json").read_text()

    stamp = (out / "seed-0" / "models" / "evodrive" / "training.json").stat().st_mtime_ns
    assert main(argv) == 0  # every stage skipped
    assert (out / "seed-0" / "models" / "evodrive" / "training.json").stat().st_mtime_ns == stamp


def test_the_plan_reads_the_road_unless_asked_for_the_ego_only_draft():
    import argparse

    from evodrive_training.ablation import add_arguments, plan_of, report_stem

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    plan = lambda *argv: plan_of(parser.parse_args(list(argv)))  # noqa: E731
    default, ego, ego_road, vision = plan(), plan("--ego-draft"), plan("--ego-draft", "--road-pretraining"), plan("--world", "vision")
    assert default.road_draft and default.road_pretraining and report_stem(default) == "ablation"
    assert not ego.road_draft and not ego.road_pretraining and report_stem(ego) == "ablation_ego_draft"
    assert ego_road.road_pretraining and not ego_road.road_draft
    assert not vision.road_draft and report_stem(vision) == "ablation_vision"  # its tables' CTRA codec has no draft
    assert plan("--quick", "--world", "vision").road_draft  # the smoke run above covers the road draft


def test_perception_kept_is_measured_against_the_pretrained_encoder_and_the_location_prior():
    from evodrive_training.ablation import perception_kept

    references = {"pretrained": {"ap": 0.2}, "untrained": {"ap": 0.11}, "location prior": {"ap": 0.1}}
    assert perception_kept(0.15, references) == pytest.approx({"of_pretrained": 0.75, "of_pretrained_above_prior": 0.5})
    no_gain = {**references, "pretrained": {"ap": 0.1}}  # pretraining added nothing over the prior: no share to keep
    assert math.isnan(perception_kept(0.15, no_gain)["of_pretrained_above_prior"])
