"""The local control channel: how `camstyle ctl` drives a running CamStyle.

Each request ends in controller.dispatch(action, value). `camstyle ctl` talks to the daemon over a channel only the same user can reach and never a network
port: a Unix domain socket (0600, in a 0700 folder) on POSIX, a named pipe on Windows.
The protocol is one line of JSON each way, one request per connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import stat
import struct
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from camstyle import paths
from camstyle.errors import CamStyleError, DeviceError

log = logging.getLogger(__name__)

NOT_RUNNING = "CamStyle is not running - start it with `camstyle run`"
NOT_RUNNING_HINT = "To have it start at login, see `camstyle autostart --help`."
MAX_MESSAGE_BYTES = 1 << 20
SERVER_READ_TIMEOUT = 2.0


class SupportsDispatch(Protocol):
    def dispatch(self, action: str, value: str | None = None) -> dict: ...


# --------------------------------------------------------------------------- global hotkeys


# --------------------------------------------------------------------------- control channel: protocol

def encode(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"


def handle_request(controller: SupportsDispatch, raw: bytes) -> dict:
    """Run one request line against the controller; always returns a response, never raises."""
    try:
        request = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {"ok": False, "error": f"Malformed request: {exc}."}
    if not isinstance(request, dict) or not isinstance(request.get("action"), str):
        return {"ok": False, "error": 'Malformed request: expected {"action": "...", "value": ...}.'}
    action, value = request["action"], request.get("value")
    if value is not None and not isinstance(value, str):
        return {"ok": False, "error": f"Malformed request: the value of {action!r} must be a string."}
    try:
        status = controller.dispatch(action, value)
    except CamStyleError as exc:
        return {"ok": False, "error": exc.message, "hint": exc.hint}
    except Exception as exc:
        log.exception("Control request %r failed", action)
        return {"ok": False, "error": f"CamStyle failed to run {action!r}: {type(exc).__name__}: {exc}",
                "hint": "This is a bug in CamStyle; its log has the details."}
    return {"ok": True, "status": _jsonable(status)}


def _jsonable(status: Any) -> Any:
    """The status dict as plain JSON types (tuples, numpy scalars, paths become lists, numbers, strings)."""
    return json.loads(json.dumps(status, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


# --------------------------------------------------------------------------- control channel: transports

def control_address() -> str:
    """Where the daemon listens: a socket path on POSIX, a per-user named pipe on Windows."""
    if os.name == "nt":
        user = "".join(c for c in os.environ.get("USERNAME", "user") if c.isalnum()) or "user"
        return rf"\\.\pipe\camstyle-{user}"
    return str(paths.control_socket_path())


class _UnixListener:
    """A Unix domain socket only this user can reach; one daemon per socket, stale sockets replaced."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._sock: socket.socket | None = None
        self._lock_fd: int | None = None
        self._inode: int | None = None

    def open(self) -> None:
        self._private_folder()
        if _socket_answers(self.path):
            raise _already_running(self.path)
        self._lock()
        try:
            self._remove_stale()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(str(self.path))
                os.chmod(self.path, 0o600)
                sock.listen(8)
                sock.settimeout(0.25)
            except OSError as exc:
                sock.close()
                raise DeviceError(f"Cannot open the control channel {self.path}: {exc.strerror or exc}.",
                                  "Check that the folder is writable and its path is short (Unix sockets allow about 100 characters).") from None
            self._sock, self._inode = sock, self.path.stat().st_ino
        except BaseException:
            self._unlock()
            raise

    def _private_folder(self) -> None:
        """Create the folder (0700) or check the one that is there, without following a symlink.

        In a shared temporary folder another user can plant a symlink or a folder of their own
        under our name: then refuse, never chmod or write into it."""
        folder = self.path.parent
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:
                pass
            check_private_folder(folder)
        except OSError as exc:
            raise DeviceError(f"Cannot prepare the control folder {folder}: {exc.strerror or exc}.",
                              "Set XDG_RUNTIME_DIR to a folder you own.") from None

    def _lock(self) -> None:
        import fcntl

        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise DeviceError(f"Cannot create the control lock {self.lock_path}: {exc.strerror or exc}.",
                              "Remove that file, or set XDG_RUNTIME_DIR to a private folder.") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise _already_running(self.path) from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the lock; the file stays to avoid races
            self._lock_fd = None

    def _remove_stale(self) -> None:
        """We hold the lock, so a socket file left here belongs to a daemon that died."""
        try:
            mode = self.path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise DeviceError(f"{self.path} exists and is not a CamStyle control socket.", "Move that file away and start CamStyle again.")
        log.info("Replacing the stale control socket %s of a CamStyle that did not exit cleanly", self.path)
        self.path.unlink()

    def accept(self) -> "_SocketChannel | None":
        try:
            conn, _ = self._sock.accept()
        except (socket.timeout, BlockingIOError, InterruptedError):
            return None
        if not _same_user(conn):
            conn.close()
            return None
        return _SocketChannel(conn)

    def wake(self) -> None:
        """Unblock accept() at once when stopping (instead of waiting for its timeout)."""
        _socket_answers(self.path)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            with contextlib.suppress(OSError):  # only remove the socket if it is still ours
                if self.path.stat().st_ino == self._inode:
                    self.path.unlink()
        self._unlock()


def check_private_folder(folder: Path) -> None:
    """Raise DeviceError unless `folder` is a real folder (not a symlink) owned by this user
    that no one else can enter (mode 0700 or stricter)."""
    hint = f"Remove it (rm -r {folder}) if it is not yours to keep, or set XDG_RUNTIME_DIR to a private folder."
    info = os.lstat(folder)
    if stat.S_ISLNK(info.st_mode):
        raise DeviceError(f"The control folder {folder} is a symbolic link; CamStyle does not follow it.", hint)
    if not stat.S_ISDIR(info.st_mode):
        raise DeviceError(f"The control folder {folder} is not a folder.", hint)
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise DeviceError(f"The control folder {folder} belongs to another user (uid {info.st_uid}).", hint)
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise DeviceError(f"The control folder {folder} is open to other users (mode {mode:04o}, it must be 0700).",
                          f"Make it private with `chmod 700 {folder}`, or remove it.")


def _same_user(conn: socket.socket) -> bool:
    """Linux tells who connected; the 0600 socket in a 0700 folder already keeps others out elsewhere."""
    if not hasattr(socket, "SO_PEERCRED"):
        return True
    try:
        _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    except OSError:
        return False
    return uid in (os.getuid(), 0)


def _socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _already_running(address: Any) -> DeviceError:
    return DeviceError(f"CamStyle is already running (control channel {address}).",
                       "Control it with `camstyle ctl ...`, or stop it with `camstyle ctl quit` first.")


class _SocketChannel:
    def __init__(self, conn: socket.socket):
        self.conn = conn
        conn.settimeout(SERVER_READ_TIMEOUT)

    def receive(self) -> bytes:
        return _read_line(self.conn)

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def close(self) -> None:
        self.conn.close()


def _read_line(conn: socket.socket) -> bytes:
    """One newline-terminated message (or up to EOF); the socket's timeout bounds the wait."""
    chunks, size = [], 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        newline = chunk.find(b"\n")
        if newline >= 0:
            chunks.append(chunk[:newline])
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_MESSAGE_BYTES:
            raise ValueError("message too long")
    return b"".join(chunks)


class _PipeListener:
    """multiprocessing.connection listener: a named pipe on Windows (AF_UNIX where tested on POSIX).

    Windows refuses a second pipe of the same name (FILE_FLAG_FIRST_PIPE_INSTANCE) and its
    default pipe security lets only the owner write, so only this user can send commands.
    """

    def __init__(self, address: str, family: str = "AF_PIPE"):
        self.address, self.family = address, family
        self._listener = None

    def open(self) -> None:
        from multiprocessing.connection import Listener

        try:
            self._listener = Listener(self.address, family=self.family)
        except OSError as exc:
            if _pipe_answers(self.address, self.family):
                raise _already_running(self.address) from None
            raise DeviceError(f"Cannot open the control channel {self.address}: {exc}.", "Is another CamStyle starting?") from None

    def accept(self) -> "_PipeChannel | None":
        try:
            return _PipeChannel(self._listener.accept())
        except OSError:
            return None

    def wake(self) -> None:
        """accept() has no timeout: a throwaway connection unblocks it when stopping."""
        with contextlib.suppress(OSError):
            from multiprocessing.connection import Client

            Client(self.address, family=self.family).close()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


def _pipe_answers(address: str, family: str) -> bool:
    from multiprocessing.connection import Client

    try:
        Client(address, family=family).close()
    except OSError:
        return False
    return True


class _PipeChannel:
    def __init__(self, conn):
        self.conn = conn

    def receive(self) -> bytes:
        if not self.conn.poll(SERVER_READ_TIMEOUT):
            raise TimeoutError("no request")
        return self.conn.recv_bytes(MAX_MESSAGE_BYTES).rstrip(b"\n")

    def send(self, data: bytes) -> None:
        self.conn.send_bytes(data)

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------- control channel: server and client

class ControlServer:
    """Serves `camstyle ctl` requests from a background thread for as long as the daemon runs.

    start() raises DeviceError when another CamStyle already owns the channel. A bad or
    failing request gets an error reply and is logged; the daemon carries on.
    """

    def __init__(self, controller: SupportsDispatch, path: str | os.PathLike | None = None, *, transport: str | None = None):
        self.controller = controller
        self.address = str(path) if path is not None else control_address()
        self.transport = transport or ("pipe" if os.name == "nt" else "unix")
        self._listener: _UnixListener | _PipeListener | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> "ControlServer":
        if self._thread is not None:
            return self
        if self.transport == "unix":
            listener = _UnixListener(self.address)
        else:
            listener = _PipeListener(self.address, family="AF_PIPE" if os.name == "nt" else "AF_UNIX")
        listener.open()
        self._listener = listener
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="camstyle-control", daemon=True)
        self._thread.start()
        log.info("Control channel listening on %s", self.address)
        return self

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                channel = self._listener.accept()
            except Exception:
                log.exception("Control channel accept failed")
                time.sleep(0.2)
                continue
            if channel is None:
                continue
            if self._stopping.is_set():
                channel.close()
                break
            self._answer(channel)

    def _answer(self, channel) -> None:
        try:
            try:
                raw = channel.receive()
            except (OSError, EOFError, ValueError) as exc:
                response = {"ok": False, "error": f"Request not received: {exc or type(exc).__name__}."}
            else:
                response = handle_request(self.controller, raw)
            channel.send(encode(response))
        except Exception as exc:  # the client went away, or something unexpected: keep serving
            log.debug("Control connection ended early: %s", exc)
        finally:
            with contextlib.suppress(Exception):
                channel.close()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._listener.wake()
        if thread is not threading.current_thread():
            thread.join(SERVER_READ_TIMEOUT + 1.0)
        self._listener.close()
        self._listener = None

    def __enter__(self) -> "ControlServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def send_command(action: str, value: Any = None, timeout: float = 2.0, path: str | os.PathLike | None = None) -> dict:
    """Send one action to the running daemon and return its status dict.

    Raises DeviceError when no CamStyle is running or it does not answer in time, and
    CamStyleError with the daemon's own message when it rejects the action.
    """
    address = str(path) if path is not None else control_address()
    request = encode({"action": action, "value": None if value is None else str(value)})
    if os.name == "nt":
        raw = _exchange_pipe(address, request, timeout)
    else:
        raw = _exchange_unix(address, request, timeout)
    try:
        response = json.loads(raw.decode("utf-8"))
        ok = response["ok"]
    except (UnicodeDecodeError, ValueError, TypeError, KeyError):
        raise DeviceError(f"CamStyle sent an unreadable reply on {address}.",
                          "Is an older or different version running? Restart it with `camstyle run`.") from None
    if not ok:
        raise CamStyleError(str(response.get("error") or "CamStyle refused the request."), response.get("hint"))
    return response["status"]


def _exchange_unix(address: str, request: bytes, timeout: float) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except (FileNotFoundError, ConnectionRefusedError):
            raise DeviceError(NOT_RUNNING, NOT_RUNNING_HINT) from None
        except PermissionError:
            raise DeviceError(f"No permission to reach the control channel {address}.",
                              "CamStyle only accepts commands from the user who started it.") from None
        except OSError as exc:
            raise DeviceError(f"Cannot reach CamStyle on {address}: {exc.strerror or exc}.", "Restart it with `camstyle run`.") from None
        try:
            sock.sendall(request)
            raw = _read_line(sock)
        except socket.timeout:
            raise _no_answer(timeout) from None
        except (OSError, ValueError) as exc:
            raise DeviceError(f"The connection to CamStyle broke: {exc}.", "Try again; restart it with `camstyle run` if this repeats.") from None
    if not raw:
        raise DeviceError("CamStyle closed the connection without answering.", "It may be shutting down; try again.")
    return raw


def _exchange_pipe(address: str, request: bytes, timeout: float, family: str = "AF_PIPE") -> bytes:
    from multiprocessing.connection import Client

    try:
        conn = Client(address, family=family)
    except (FileNotFoundError, ConnectionRefusedError):
        raise DeviceError(NOT_RUNNING, NOT_RUNNING_HINT) from None
    except OSError as exc:
        raise DeviceError(f"Cannot reach CamStyle on {address}: {exc}.", "Restart it with `camstyle run`.") from None
    with conn:
        try:
            conn.send_bytes(request)
            if not conn.poll(timeout):
                raise _no_answer(timeout)
            return conn.recv_bytes(MAX_MESSAGE_BYTES)
        except (OSError, EOFError) as exc:
            raise DeviceError(f"The connection to CamStyle broke: {exc}.", "Try again; restart it with `camstyle run` if this repeats.") from None


def _no_answer(timeout: float) -> DeviceError:
    return DeviceError(f"CamStyle did not answer within {timeout:g} s.",
                       "It may be busy loading a style; try again, or use a longer --timeout.")
