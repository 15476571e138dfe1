"""Errors the user can act on.

Anything raised as a CamStyleError reaches the user as one short message plus a hint
saying what to do, never as a traceback. Exit codes follow sysexits loosely.
"""

from __future__ import annotations

EXIT_USAGE = 2        # bad argument, config value or input file
EXIT_UNAVAILABLE = 3  # a device or resource is missing or busy (camera, virtual camera)
EXIT_IO = 4           # cannot read or write a file (permissions, full disk)
EXIT_MODEL = 5        # a style model is missing, corrupt or of the wrong shape


class CamStyleError(Exception):
    """A failure with a message for the user and a hint that says how to fix it."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  {self.hint}"


class ConfigError(CamStyleError):
    exit_code = EXIT_USAGE


class DeviceError(CamStyleError):
    exit_code = EXIT_UNAVAILABLE


class StorageError(CamStyleError):
    exit_code = EXIT_IO


class ModelError(CamStyleError):
    exit_code = EXIT_MODEL
