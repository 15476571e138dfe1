"""Warm start (recipe `init`): a run starts from an installed style's network."""

from __future__ import annotations

import io
import json
import warnings

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from camstyle import paths  # noqa: E402
from camstyle.errors import CamStyleError  # noqa: E402
from camstyle.stylize import styles  # noqa: E402
from camstyle.training import data, export, losses as L, train, warm_start  # noqa: E402
from camstyle.training.vgg import VGGFeatures, vgg16_layers  # noqa: E402

from trained_like import random_network  # noqa: E402

torch.set_num_threads(1)


def install(name: str, net, half_resolution_head: bool = True) -> styles.StyleInfo:
    """`net` installed as user style `name`, exported as `camstyle export` does or, with
    half_resolution_head=False, in its training form (as styles exported before that form were)."""
    if half_resolution_head:
        model = export.onnx_bytes(net)
    else:
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (torch.rand(1, 3, 64, 64),), buffer, input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {2: "h", 3: "w"}, "output": {2: "h", 3: "w"}}, opset_version=17,
                              dynamo=False)
        model = buffer.getvalue()
    arch = "sharp_fine" if net.config.get("head_mix") else "sharp"
    return styles.write_style(paths.user_styles_dir(), name, model, {"name": name, "architecture": arch})


@pytest.mark.parametrize("architecture", ["sharp", "sharp_fine"])
@pytest.mark.parametrize("half_resolution_head", [True, False])
def test_the_trained_weights_come_back_from_an_installed_style(architecture, half_resolution_head):
    net = random_network(architecture, seed=1)
    style = install("source", net, half_resolution_head)
    back = warm_start.network_from_style(style, architecture, "linear")
    for key, value in net.state_dict().items():
        assert torch.allclose(back.state_dict()[key], value, atol=1e-5), key


def test_a_style_of_another_network_or_a_broken_file_is_refused(tmp_path):
    style = install("fine", random_network("sharp_fine", seed=2))
    with pytest.raises(CamStyleError, match="is a sharp_fine network; this run trains sharp"):
        warm_start.network_from_style(style, "sharp", "linear")
    style.model_path.write_bytes(b"not a model")
    with pytest.raises(CamStyleError, match="cannot be read"):
        warm_start.network_from_style(style, "sharp_fine", "linear")
    with pytest.raises(CamStyleError, match="no installed style 'nowhere'"):
        warm_start.starting_network("nowhere", "sharp", "linear", None, {}, {}, torch.zeros(1, 3, 16, 16))
    # said before the run reads its data
    with pytest.raises(CamStyleError, match="is a sharp_fine network; this run trains sharp"):
        warm_start.check_init("fine", "sharp")
    with pytest.raises(CamStyleError, match="No installed style is a stabilized reference network"):
        warm_start.check_init("auto", "reference")
    warm_start.check_init("", "reference")


def test_auto_starts_from_the_style_nearest_the_painting():
    torch.manual_seed(0)
    vgg = VGGFeatures(vgg16_layers((8, 16, 32, 64)), "imagenet", "random")
    photos = torch.from_numpy(np.stack([data.synthetic_photo(64, 48, seed=i) for i in range(2)])).permute(0, 3, 1, 2).float() / 255
    near, far = random_network("sharp", seed=3), random_network("sharp", seed=4)
    install("near", near)
    install("far", far)
    baseline = install("copy_baseline", near)  # the same pictures, but never trained to hold still
    styles.write_style(paths.user_styles_dir(), "copy_baseline", baseline.model_path.read_bytes(),
                       {"name": "copy_baseline", "architecture": "sharp", "stabilized": False})
    layer_weights = dict(zip(L.STYLE_LAYERS, (1.0, 1.0, 1.0, 1.0)))
    with torch.no_grad():  # a "painting" whose style is exactly what `near` paints
        grams = {k: L.gram(v) for k, v in vgg(near(photos).clamp(0, 1)).items()}
    net, source, scores = warm_start.starting_network("auto", "sharp", "linear", vgg, grams, layer_weights, photos)
    assert source == "near" and set(scores) == {"near", "far"} and scores["near"] < scores["far"]
    assert all(torch.equal(net.state_dict()[k], v) for k, v in warm_start.network_from_style(
        styles.find_style("near"), "sharp", "linear").state_dict().items())


def test_a_run_with_init_starts_from_that_style_and_records_it(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        cv2.imwrite(str(photos / f"p{i}.jpg"), cv2.cvtColor(data.synthetic_photo(80, 60, seed=i), cv2.COLOR_RGB2BGR))
    painting = tmp_path / "painting.png"
    cv2.imwrite(str(painting), cv2.cvtColor(data.synthetic_photo(64, 64, seed=9), cv2.COLOR_RGB2BGR))
    source = random_network("sharp", seed=5)
    install("source", source)
    torch.manual_seed(0)
    vgg = VGGFeatures(vgg16_layers((8, 16, 32, 64)), "imagenet", "random")
    from rich.console import Console

    out = io.StringIO()
    job = train.Job(name="warm", style_image=painting, data=[photos], log_every=1, threads=1, install=False)
    tiny = {"architecture": "sharp", "size": 32, "batch": 1, "style_size": 64, "temporal_steps": 0, "lr": 1e-9}
    state = train.train(job, {**tiny, "steps": 1, "init": "auto"}, vgg=vgg, console=Console(file=out, width=200))
    assert "Starting from style source's network (the nearest to the painting of 1 installed)" in out.getvalue()
    assert state["recipe"]["init"] == "source"  # by name, so the recipe trains it again
    for key, value in source.state_dict().items():  # one step at a vanishing learning rate
        assert torch.allclose(state["model"][key], value, atol=1e-4), key
    json.dumps(state["recipe"])
