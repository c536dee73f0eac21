"""Split membership: official nuScenes scene lists, and the stable hash split for other versions."""

import pytest

from evodrive_training.data.cache import split_scene_names

pytest.importorskip("nuscenes")


def test_official_mini_split():
    names = ["scene-0061", "scene-0103", "scene-0553", "scene-0916", "scene-1077"]
    assert split_scene_names(names, "v1.0-mini", "val") == ["scene-0103", "scene-0916"]
    assert split_scene_names(names, "v1.0-mini", "train") == ["scene-0061", "scene-0553", "scene-1077"]
    assert split_scene_names(names, "v1.0-trainval", "val") == ["scene-0103", "scene-0553", "scene-0916"]
    with pytest.raises(ValueError):
        split_scene_names(names, "v1.0-trainval", "holdout")


def test_hash_split_is_stable_and_roughly_the_fraction():
    names = [f"scene-{i:04d}" for i in range(1, 501)]
    val = split_scene_names(names, "v1.0-synth", "val")
    train = split_scene_names(names, "v1.0-synth", "train")
    assert sorted(val + train) == names and not set(val) & set(train)
    assert 0.15 < len(val) / len(names) < 0.25
    more = split_scene_names(names + ["scene-0501"], "v1.0-synth", "val")
    assert [n for n in more if n != "scene-0501"] == val  # adding a scene moves no other scene
    assert len(split_scene_names(names, "v1.0-synth", "val", val_fraction=0.5)) > len(val)
