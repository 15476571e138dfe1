"""CamStyle: real-time neural style transfer published as a virtual camera."""

import os as _os

__version__ = "0.1.0"

# FFmpeg inside OpenCV prints its own lines ("moov atom not found", ...) straight to the
# terminal; CamStyle reports an unreadable video itself. Read when OpenCV first uses FFmpeg.
_os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
