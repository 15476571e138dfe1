"""Linux camera discovery without opening the camera: V4L2 ioctls for a device's name, its
capture capability and the sizes and frame rates it offers (so a virtual camera, or one busy
in another application, is recognised before OpenCV grabs it)."""

from __future__ import annotations

import errno
import os
import struct
from typing import Callable, Iterator


def _iowr(nr: int, size: int, read_only: bool = False) -> int:
    direction = 2 if read_only else 3  # _IOR = 2, _IOWR = 3
    return (direction << 30) | (size << 16) | (ord("V") << 8) | nr


VIDIOC_QUERYCAP = _iowr(0, 104, read_only=True)
VIDIOC_ENUM_FMT = _iowr(2, 64)
VIDIOC_ENUM_FRAMESIZES = _iowr(74, 44)
VIDIOC_ENUM_FRAMEINTERVALS = _iowr(75, 52)
V4L2_CAP_VIDEO_CAPTURE = 0x00000001
V4L2_CAP_VIDEO_CAPTURE_MPLANE = 0x00001000
V4L2_CAP_DEVICE_CAPS = 0x80000000
V4L2_BUF_TYPE_VIDEO_CAPTURE = 1
V4L2_FRMSIZE_TYPE_DISCRETE = 1
V4L2_FRMIVAL_TYPE_DISCRETE = 1


def _ioctl_entries(fd: int, request: int, template: Callable[[int], bytearray], limit: int = 64) -> Iterator[bytearray]:
    """Buffers filled by an enumerating ioctl for index 0, 1, ... until the driver says EINVAL."""
    import fcntl

    for index in range(limit):
        buf = template(index)
        try:
            fcntl.ioctl(fd, request, buf)
        except OSError:
            return
        yield buf


def _fourcc_text(code: int) -> str:
    return "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).strip()


def v4l2_modes(fd: int) -> list[dict]:
    """[{format, width, height, fps: [...]}] a V4L2 capture device offers."""
    modes = []
    for fmt in _ioctl_entries(fd, VIDIOC_ENUM_FMT, lambda i: bytearray(struct.pack("<II", i, V4L2_BUF_TYPE_VIDEO_CAPTURE) + bytes(56))):
        pixfmt = struct.unpack_from("<I", fmt, 44)[0]
        for size in _ioctl_entries(fd, VIDIOC_ENUM_FRAMESIZES, lambda i: bytearray(struct.pack("<II", i, pixfmt) + bytes(36))):
            kind, width, height = struct.unpack_from("<III", size, 8)
            if kind != V4L2_FRMSIZE_TYPE_DISCRETE:  # stepwise/continuous: report the largest
                _, max_w, _, _, max_h = struct.unpack_from("<IIIII", size, 12)
                width, height = max_w, max_h
            rates = []
            for ival in _ioctl_entries(fd, VIDIOC_ENUM_FRAMEINTERVALS,
                                       lambda i: bytearray(struct.pack("<IIII", i, pixfmt, width, height) + bytes(36))):
                ikind, num, den = struct.unpack_from("<III", ival, 16)
                if ikind == V4L2_FRMIVAL_TYPE_DISCRETE and num:
                    rates.append(round(den / num, 2))
            modes.append({"format": _fourcc_text(pixfmt), "width": width, "height": height, "fps": sorted(set(rates), reverse=True)})
            if kind != V4L2_FRMSIZE_TYPE_DISCRETE:
                break
    return modes


def describe_device(path: str) -> dict | None:
    """Name, driver, capture capability and modes of one /dev/video node; None if unreadable."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return {"capture": True, "driver": "", "card": "", "modes": [], "readable": False}
        return None
    try:
        buf = bytearray(104)
        fcntl.ioctl(fd, VIDIOC_QUERYCAP, buf)
        driver = bytes(buf[0:16]).split(b"\0")[0].decode(errors="replace")
        card = bytes(buf[16:48]).split(b"\0")[0].decode(errors="replace")
        capabilities, device_caps = struct.unpack_from("<II", buf, 84)
        caps = device_caps if capabilities & V4L2_CAP_DEVICE_CAPS else capabilities
        capture = bool(caps & (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE))
        return {"capture": capture, "driver": driver, "card": card,
                "modes": v4l2_modes(fd) if capture else [], "readable": True}
    except OSError:
        return None
    finally:
        os.close(fd)
