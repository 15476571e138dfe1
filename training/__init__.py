"""CamStyle training: fast feed-forward style networks with video stability losses (PyTorch).

Only this package and the train/export/eval commands import torch; the runtime never does.
"""
