"""Bundled CamStyle styles: one ONNX model, metadata JSON and sample image per style."""
