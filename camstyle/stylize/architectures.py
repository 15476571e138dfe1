"""The transform-network presets, kept free of torch so the runtime's benchmark can build the
same network as an ONNX graph (camstyle.stylize.onnx_graphs) without importing training's PyTorch code.

  reference  Johnson's net: 32-64-128 channels, 5 residual blocks at 1/4 resolution, 9x9 edges.
  fast       the first real-time net: a stride-2 stem puts 3 residual blocks at 1/8 resolution,
             16-32-64 channels, 5x5 edges, U-Net skips, nearest-neighbour upsampling.
  sharp      cheap enough per pixel to paint at 640x360 on 2 CPU cores
             (docs/research/sharp-network.md): a 4x4 stride-2 stem, inverted-residual
             (depthwise) blocks at 1/8, bilinear upsampling with U-Net skips, and few channels
             at full resolution, where the memory-bound layers (upsampling, padding copies,
             norms) cost more than the convolutions.
  sharp_fine the default: sharp with a non-linearity at full resolution in the head, for strokes at the
             output's own scale, at about the same cost (docs/research/sharp-fine-head.md).
"""

ARCHITECTURES = {
    "reference": {"widths": (32, 64, 128), "res_blocks": 5, "edge_kernel": 9, "stem_stride": 1},
    "fast": {"widths": (16, 32, 64), "res_blocks": 3, "edge_kernel": 5, "stem_stride": 2, "skips": True},
    "sharp": {"family": "sharp", "widths": (16, 32, 64), "blocks": 4, "expand": 2},
    "sharp_fine": {"family": "sharp", "widths": (16, 32, 64), "blocks": 4, "expand": 2, "head_mix": 8},
}
DEFAULT_ARCHITECTURE = "sharp_fine"

# What the losses see of the last convolution's output (Recipe.output, `camstyle train --output`):
#   linear  the bare convolution; the runtime clips it to 0..1 afterwards. The default.
#   clip    clipped to 0..1, exactly as the camera shows it. While training, a clipped pixel gets
#           the gradients that pull it back into range and none that push it further out
#           (networks.ClipInward): a sigmoid there collapsed whole runs to one colour, and a
#           pass-through gradient let the losses drift whole areas far past white.
#           The trade (docs/research/earlier-findings.md): fewer blown-out highlights, a lower style
#           loss and steadier video, but less facial detail; so it is an option, not the default.
OUTPUTS = ("linear", "clip")
DEFAULT_OUTPUT = "linear"
