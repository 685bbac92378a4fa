"""Checkpoints: safetensors + JSON sidecar round trip, strict checking, and never unpickling user files."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from smoothcert.errors import CheckpointError, InvalidArgumentError
from smoothcert.models import (
    ARCHITECTURES,
    CheckpointInfo,
    build_model,
    checkpoint_paths,
    load_checkpoint,
    load_user_model,
    read_info,
    save_checkpoint,
)
from tests import user_models
from tests.user_models import DIGITS_SHAPE, write_pickle_bomb

pytestmark = pytest.mark.usefixtures("torch_single_thread")

SHAPE = [1, 8, 8]


def make_info(**changes) -> CheckpointInfo:
    info = CheckpointInfo(
        architecture="lenet", input_shape=SHAPE, num_classes=10, mean=[0.3], std=[0.4],
        arch_args={"channels": [4, 8], "hidden": 16}, class_names=[str(i) for i in range(10)], dataset="digits",
        split_note="a note", train_sigma=0.25, seed=3, test_accuracy=0.5, training={"epochs": 2, "lr": 0.01},
    )
    return dataclasses.replace(info, **changes)


@pytest.fixture
def saved(tmp_path: Path):
    """A small LeNet with random weights saved as tmp/model.{safetensors,json}."""
    info = make_info()
    torch.manual_seed(0)
    model = info.build().eval()
    weights, sidecar = save_checkpoint(model, tmp_path / "model", info)
    return model, info, weights, sidecar


def edit_sidecar(sidecar: Path, **changes) -> None:
    doc = json.loads(sidecar.read_text())
    doc.update(changes)
    sidecar.write_text(json.dumps(doc))


def inputs(n: int = 5) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(1))


# --- round trip -------------------------------------------------------------------------------------------

def test_round_trip_gives_identical_outputs_and_info(saved):
    model, info, weights, sidecar = saved
    assert (weights.name, sidecar.name) == ("model.safetensors", "model.json")
    loaded, loaded_info = load_checkpoint(weights.with_suffix(""))
    assert loaded_info == info
    assert not loaded.training
    x = inputs()
    assert torch.equal(loaded(x), model(x))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


@pytest.mark.parametrize("name", ["model", "model.safetensors", "model.json"])
def test_checkpoint_can_be_named_by_stem_or_either_file(saved, name):
    _, info, weights, sidecar = saved
    assert checkpoint_paths(weights.parent / name) == (weights, sidecar)
    assert load_checkpoint(weights.parent / name)[1] == info
    assert read_info(weights.parent / name) == info


def test_sidecar_records_format_and_tensor_shapes(saved):
    model, _, _, sidecar = saved
    doc = json.loads(sidecar.read_text())
    assert doc["format"] == "smoothcert-checkpoint"
    assert doc["tensors"] == {k: list(v.shape) for k, v in model.state_dict().items()}


# --- never unpickle ---------------------------------------------------------------------------------------

def test_pickle_bomb_is_live(tmp_path):
    """The bomb the next tests use really does fire when unpickled (so their 'not fired' checks mean something)."""
    marker = tmp_path / "fired"
    path = write_pickle_bomb(tmp_path / "w.pt", marker)
    pickle.loads(path.read_bytes())  # the test's own file: shows what any unpickling loader would do
    assert marker.exists()


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".pkl"])
def test_user_model_refuses_pickled_weights(tmp_path, suffix):
    marker = tmp_path / "fired"
    path = write_pickle_bomb(tmp_path / f"weights{suffix}", marker)
    with pytest.raises(CheckpointError, match="safetensors"):
        load_user_model("tests.user_models:factory", path)
    assert not marker.exists()


def test_user_model_refuses_pickle_named_safetensors(tmp_path):
    marker = tmp_path / "fired"
    path = write_pickle_bomb(tmp_path / "weights.safetensors", marker)
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_user_model("tests.user_models:factory", path)
    assert not marker.exists()


def test_checkpoint_with_pickle_as_weights_is_refused(saved, tmp_path):
    _, _, weights, _ = saved
    marker = tmp_path / "fired"
    write_pickle_bomb(weights, marker)
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_checkpoint(weights)
    assert not marker.exists()


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 7, b"not a safetensors file at all, just bytes" * 20,
                                     b"\xff\xff\xff\xff\xff\xff\xff\x7f{}"])
def test_garbage_weights_are_a_checkpoint_error(saved, garbage):
    _, _, weights, _ = saved
    weights.write_bytes(garbage)
    with pytest.raises(CheckpointError):
        load_checkpoint(weights)


# --- missing or mismatched files --------------------------------------------------------------------------

def test_missing_weights(saved):
    _, _, weights, _ = saved
    weights.unlink()
    with pytest.raises(CheckpointError, match="weights not found"):
        load_checkpoint(weights)


def test_missing_sidecar(saved):
    _, _, weights, sidecar = saved
    sidecar.unlink()
    with pytest.raises(CheckpointError, match="sidecar not found"):
        load_checkpoint(weights)


def test_missing_user_weights(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_user_model("tests.user_models:factory", tmp_path / "absent.safetensors")


def _differing_keys(info: CheckpointInfo, other: CheckpointInfo) -> list[str]:
    a, b = info.build().state_dict(), other.build().state_dict()
    return sorted(k for k in a if a[k].shape != b[k].shape)


@pytest.mark.parametrize("changes", [
    {"arch_args": {"channels": [4, 8], "hidden": 24}},
    {"arch_args": {"channels": [4, 6], "hidden": 16}},
    {"num_classes": 7},
])
def test_sidecar_not_matching_weights_names_the_mismatch(saved, changes):
    _, info, weights, sidecar = saved
    edit_sidecar(sidecar, **changes)
    differing = _differing_keys(info, dataclasses.replace(info, **changes))
    assert differing  # the edit really changes some tensor shapes
    with pytest.raises(CheckpointError, match="wrong shape") as err:
        load_checkpoint(weights)
    for key in differing[:3]:
        assert key in str(err.value)


def test_sidecar_of_another_architecture_names_missing_and_unexpected(saved):
    _, _, weights, sidecar = saved
    edit_sidecar(sidecar, architecture="mlp", arch_args={"hidden": [16]})
    with pytest.raises(CheckpointError, match="do not match") as err:
        load_checkpoint(weights)
    assert "missing" in str(err.value) and "unexpected" in str(err.value)


def test_weights_with_an_extra_tensor(saved):
    model, _, weights, _ = saved
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file({**state, "extra.weight": torch.zeros(2)}, str(weights))
    with pytest.raises(CheckpointError, match=r"unexpected: extra\.weight"):
        load_checkpoint(weights)


@pytest.mark.parametrize("changes", [
    {"architecture": "resnet9000"},
    {"arch_args": {"depth": 3}},
    {"input_shape": [64]},  # a CNN cannot take vectors
])
def test_sidecar_describing_an_unbuildable_model(saved, changes):
    _, _, weights, sidecar = saved
    edit_sidecar(sidecar, **changes)
    with pytest.raises(CheckpointError, match="cannot be built"):
        load_checkpoint(weights)


@pytest.mark.parametrize("text", ["{not json", "\udcff", "[1, 2, 3]", '"model"', '{"architecture": "lenet"}',
                                  '{"format": "other-tool", "architecture": "lenet"}'])
def test_sidecar_not_json_or_not_ours(saved, text):
    _, _, weights, sidecar = saved
    sidecar.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(CheckpointError, match=str(sidecar.name)):
        load_checkpoint(weights)


def test_sidecar_missing_a_required_field(saved):
    _, _, weights, sidecar = saved
    doc = json.loads(sidecar.read_text())
    del doc["num_classes"]
    sidecar.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="incomplete"):
        load_checkpoint(weights)


# --- build_model ------------------------------------------------------------------------------------------

def test_build_model_unknown_architecture():
    with pytest.raises(InvalidArgumentError, match="transformer"):
        build_model("transformer", SHAPE, 10)


@pytest.mark.parametrize(("arch", "shape", "args"), [
    ("lenet", SHAPE, {"depth": 3}),
    ("mlp", [2], {"width": 3}),
    ("lenet", [64], {}),
    ("cnn", [1, 4, 4], {}),
])
def test_build_model_bad_arguments(arch, shape, args):
    with pytest.raises(InvalidArgumentError):
        build_model(arch, shape, 10, **args)


@pytest.mark.parametrize(("arch", "shape"), [("mlp", [2]), ("mlp", SHAPE), ("lenet", SHAPE), ("cnn", SHAPE),
                                             ("lenet", [1, 28, 28]), ("cnn", [3, 28, 28])])
def test_every_architecture_maps_inputs_to_logits(arch, shape):
    assert arch in ARCHITECTURES
    model = build_model(arch, shape, 7).eval()
    assert model(torch.rand(3, *shape)).shape == (3, 7)


# --- users' own models ------------------------------------------------------------------------------------

def test_user_model_with_weights(tmp_path):
    torch.manual_seed(5)
    reference = user_models.factory().eval()
    path = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    torch.manual_seed(6)  # the factory's own initialization differs; the weights must replace it
    loaded = load_user_model("tests.user_models:factory", path)
    x = torch.rand(4, *DIGITS_SHAPE)
    assert not loaded.training
    assert torch.equal(loaded(x), reference(x))


def test_user_model_without_weights():
    model = load_user_model("tests.user_models:factory")
    assert model(torch.rand(2, *DIGITS_SHAPE)).shape == (2, 10)


def test_user_weights_of_another_model_are_refused(tmp_path):
    other = user_models.three_classes()
    path = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(path))
    with pytest.raises(CheckpointError, match="do not match"):
        load_user_model("tests.user_models:factory", path)


@pytest.mark.parametrize("spec", ["tests.user_models", "tests.user_models:", ":factory", "",
                                  "tests.user_models:absent", "tests.no_such_module:factory",
                                  "tests.user_models:not_a_module"])
def test_user_model_bad_spec(spec):
    with pytest.raises(InvalidArgumentError):
        load_user_model(spec)
