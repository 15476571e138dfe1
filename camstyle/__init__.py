"""CamStyle: real-time neural style transfer published as a virtual camera."""

__version__ = "0.1.0"
