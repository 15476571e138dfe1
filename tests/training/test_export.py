"""ONNX export: matches PyTorch, follows the runtime's style convention, installs atomically."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from camstyle import paths  # noqa: E402
from camstyle.stylize import styles  # noqa: E402
from camstyle.stylize.stylizer import mend_border  # noqa: E402
from camstyle.errors import CamStyleError, ModelError  # noqa: E402
from camstyle.training import checkpoint, data, export, recipe  # noqa: E402
from camstyle.training.data import synthetic_photo  # noqa: E402
from trained_like import random_network  # noqa: E402

torch.set_num_threads(1)


def fake_checkpoint(architecture: str = "fast") -> dict:
    """What `camstyle train` saves, without the training."""
    images = torch.from_numpy(np.stack([synthetic_photo(320, 184, seed=i) for i in range(2)])).permute(0, 3, 1, 2)
    return {"name": "mine", "recipe": dataclasses.asdict(dataclasses.replace(recipe.RECIPE, architecture=architecture)),
            "model": random_network(architecture).state_dict(), "step": 40, "total_steps": 40, "finished": True,
            "meta": {"title": "Mine", "artist": "An Artist", "year": 1889, "style_image": "painting.jpg", "loss_network": "random"},
            "style": {"sha256": "ab" * 32}, "fixed_images": images.contiguous(), "training_time_s": 12.5,
            "final_losses": {"style": 1.5, "content": 0.7}, "training_size": 32}


def test_onnx_model_has_the_runtime_signature_and_matches_torch():
    net = random_network()
    model = export.onnx_bytes(net)
    graph = onnx.load_from_string(model)
    assert max(op.version for op in graph.opset_import if op.domain in ("", "ai.onnx")) >= 17
    (inp,), (out,) = graph.graph.input, graph.graph.output
    assert (inp.name, out.name) == ("input", "output")
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims[:2] == [1, 3] and all(isinstance(d, str) and d for d in dims[2:])  # dynamic height and width
    images = [synthetic_photo(320, 184, seed=1), synthetic_photo(136, 96, seed=2), synthetic_photo(64, 200, seed=3)]
    diff = export.max_abs_diff(net, model, images)
    assert diff < 1e-4


@pytest.mark.parametrize("architecture", ["sharp", "sharp_fine"])
def test_the_sharp_network_exports_at_any_multiple_of_8_and_the_runtime_runs_it(architecture):
    from camstyle.stylize.stylizer import StyleModel

    net = random_network(architecture)
    model = export.onnx_bytes(net)
    images = [synthetic_photo(640, 360, seed=1), synthetic_photo(136, 96, seed=2), synthetic_photo(64, 200, seed=3)]
    assert export.max_abs_diff(net, model, images) < 1e-4
    assert net.size_multiple == 8 and net.config["family"] == "sharp"
    # what is trained has no transposed or sub-pixel layer (a head that can print a 2-pixel pattern);
    # the export writes the same head at half resolution, with one
    assert not any(isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.PixelShuffle)) for m in net.modules())
    ops = [node.op_type for node in onnx.load_from_string(model).graph.node]
    assert ops.count("ConvTranspose") == 1 and "Resize" in ops
    frame = StyleModel(model, "sharp").run(synthetic_photo(320, 184, seed=5))
    assert frame.shape == (184, 320, 3) and frame.dtype == np.uint8


@pytest.mark.parametrize("architecture", ["sharp", "sharp_fine"])
def test_the_half_resolution_head_paints_what_the_trained_head_paints(architecture):
    net = random_network(architecture, seed=3)
    with torch.no_grad():
        for module in net.head.modules():  # a head far from its initial weights
            if isinstance(module, torch.nn.Conv2d):
                module.weight.normal_(0, 0.5)
                module.bias.normal_(0, 0.5)
        fast = net.for_inference()
        for height, width in [(96, 136), (200, 64), (16, 24)]:
            x = torch.rand(1, 3, height, width)
            trained, inferred = net(x), fast(x)
            assert trained.shape == inferred.shape
            inner = (trained - inferred)[..., 1:-1, 1:-1].abs().max().item()
            assert inner < 1e-4 * trained.abs().max().item()
            # the outermost ring may differ (zero padding there before); the runtime repeats its neighbour
    assert isinstance(net.head, torch.nn.Sequential)  # the network itself is left as it was trained


def test_reference_architecture_exports_too():
    net = random_network("reference")
    diff = export.max_abs_diff(net, export.onnx_bytes(net), [synthetic_photo(96, 64, seed=4)])
    assert diff < 1e-4


def test_export_installs_a_style_the_runtime_finds_and_runs():
    result = export.export_checkpoint(fake_checkpoint(), "mine")
    assert result.max_abs_diff < 1e-4
    (style,) = [s for s in styles.discover_styles() if s.name == "mine"]
    assert style.origin == "user" and style.model_path.parent == paths.user_styles_dir()
    meta = style.meta
    assert style.inference_size == data.INFERENCE_SIZE and meta["onnx_max_abs_diff"] == result.max_abs_diff
    assert (meta["title"], meta["artist"], meta["year"]) == ("Mine", "An Artist", 1889)
    assert meta["architecture"] == "fast" and meta["architecture_config"]["size_multiple"] == 8
    assert meta["recipe"]["noise_share"] == recipe.RECIPE.noise_share and meta["steps"] == 40
    assert meta["style_image_sha256"] == "ab" * 32 and meta["loss_network"] == "random" and meta["stabilized"]
    sample = cv2.imread(str(style.sample_path))
    assert sample is not None and sample.shape == (data.INFERENCE_SIZE[1], data.INFERENCE_SIZE[0], 3)

    from camstyle.stylize.stylizer import StyleModel

    frame_rgb = synthetic_photo(320, 184, seed=9)
    runtime = StyleModel(style.model_path, style.name).run(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))
    net = export.network_from_checkpoint(fake_checkpoint())
    with torch.no_grad():
        expected = net(torch.from_numpy(frame_rgb).permute(2, 0, 1)[None].float() / 255)[0].clamp(0, 1)
    expected = mend_border((expected.permute(1, 2, 0).numpy() * 255).round())  # the runtime repeats the ring's neighbour
    assert np.abs(cv2.cvtColor(runtime, cv2.COLOR_BGR2RGB).astype(np.float32) - expected).max() <= 1


def test_a_model_that_does_not_match_is_not_installed(monkeypatch):
    monkeypatch.setattr(export, "max_abs_diff", lambda *args: 0.02)
    with pytest.raises(ModelError, match="differs from PyTorch"):
        export.export_checkpoint(fake_checkpoint(), "broken")
    assert not (paths.user_styles_dir() / "broken.onnx").exists()


def camstyle(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "camstyle", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_export_command_installs_a_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    checkpoint.save(path, fake_checkpoint())
    result = camstyle("export", path, "--name", "from-cli", "--title", "Renamed")
    assert result.returncode == 0, result.stderr
    assert "Installed style from-cli" in result.stdout
    assert styles.find_style("from-cli").title == "Renamed"


@pytest.mark.parametrize("case", ["missing", "corrupt", "not_a_checkpoint"])
def test_export_command_bad_checkpoint_gets_one_clear_message(case, tmp_path):
    path = tmp_path / "checkpoint.pt"
    if case == "corrupt":
        checkpoint.save(path, fake_checkpoint())
        path.write_bytes(path.read_bytes()[:5000])
    elif case == "not_a_checkpoint":
        torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CamStyleError) as err:
        checkpoint.load(path)
    assert err.value.hint
    if case == "not_a_checkpoint":
        return  # the same path through the command as "corrupt"; spare a process start
    result = camstyle("export", path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert {"missing": "does not exist", "corrupt": "not a readable checkpoint",
            "not_a_checkpoint": "not a CamStyle training checkpoint"}[case] in result.stderr
