"""A model folder is verified whole before anything in it is used: every file's sha256, paths inside
the folder, the prompt version, the manifest's shape; each refusal is one line naming the cause."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import REPO
from evodrive_ros.runtime import load_planner

SHIPPED = REPO / "models" / "evodrive-tiny"


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(SHIPPED, folder)
    return folder


def _edit_manifest(folder: Path, change) -> None:
    data = json.loads((folder / "model.json").read_text())
    change(data)
    (folder / "model.json").write_text(json.dumps(data))


def test_a_tokenizer_with_two_tokens_swapped_is_refused(model_copy: Path) -> None:
    tokenizer = json.loads((model_copy / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    a, b = "1.0", "2.0"
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (model_copy / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(ValueError, match=r"tokenizer.json: sha256 does not match model.json"):
        load_planner(model_copy, "onnxruntime")


@pytest.mark.parametrize("path", ["/etc/hostname", "../tokenizer.json", "../../outside.json"])
def test_paths_outside_the_folder_are_refused(model_copy: Path, path: str) -> None:
    _edit_manifest(model_copy, lambda d: d.update(tokenizer=path))
    with pytest.raises(ValueError, match="is not a file inside the model directory"):
        load_planner(model_copy, "onnxruntime")


def test_a_graph_path_outside_the_folder_is_refused(model_copy: Path) -> None:
    shutil.copy(model_copy / "decoder.onnx", model_copy.parent / "decoder.onnx")
    _edit_manifest(model_copy, lambda d: d["graphs"]["decoder"].update(file=str(model_copy.parent / "decoder.onnx")))
    with pytest.raises(ValueError, match="is not a file inside the model directory"):
        load_planner(model_copy, "onnxruntime")


def test_another_prompt_version_is_refused(model_copy: Path) -> None:
    _edit_manifest(model_copy, lambda d: d.update(prompt_version="evodrive-prompt-0"))
    with pytest.raises(ValueError, match="trained with prompt 'evodrive-prompt-0', this runtime writes"):
        load_planner(model_copy, "onnxruntime")


def test_a_manifest_that_is_not_an_object_is_one_line(model_copy: Path) -> None:
    (model_copy / "model.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="invalid manifest .expected a JSON object, got list"):
        load_planner(model_copy, "onnxruntime")


def test_the_shipped_folder_carries_no_build_machine_paths() -> None:
    for file in SHIPPED.iterdir():
        if file.suffix in (".json", ".md"):
            text = file.read_text()
            assert "/tmp/" not in text and "/work/" not in text and "/home/" not in text, file


@pytest.mark.parametrize("change, message", [
    (lambda d: d["architecture"].update(num_layers=3), "num_layers 3, the decoder graph has 2"),
    (lambda d: d["architecture"].update(vocab_size=151936), "vocab_size 151936, the graph's logits have 2368"),
    (lambda d: d["image"].update(height=224), "the vision graph takes 672 patches"),
    (lambda d: d.update(cameras=d["cameras"][:5]), "5 cameras at 112x196"),
])
def test_an_architecture_that_is_not_the_graphs_is_refused_at_load(model_copy: Path, change, message: str) -> None:
    _edit_manifest(model_copy, change)
    with pytest.raises(ValueError, match=f"does not describe its graphs: .*{message}"):
        load_planner(model_copy, "onnxruntime")
