#!/usr/bin/env bash
# Set up CamStyle in a virtual environment inside the repository (Linux and macOS).
#
#   bash install/setup.sh            install CamStyle into .venv
#   bash install/setup.sh --run      ... then start it (`camstyle run`; arguments after -- are passed on)
#   bash install/setup.sh --train    ... with the training extra (torch) to build styles from paintings
#   bash install/setup.sh --test     ... with the test and training extras, then run the test suite
#
# Safe to run again: an up-to-date environment is reused and nothing is reinstalled.
# PYTHON=/path/to/python3.12 chooses the interpreter (default: python3.13 down to python3.10, then python3).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
MIN_MINOR=10   # Python 3.10 or newer

WANT_TRAIN=0
WANT_TEST=0
WANT_RUN=0
RUN_ARGS=()

if [[ -t 1 ]]; then B=$'\033[1m' G=$'\033[32m' Y=$'\033[33m' R=$'\033[31m' N=$'\033[0m'; else B="" G="" Y="" R="" N=""; fi
say()  { printf '%s==>%s %s\n' "$B" "$N" "$*"; }
ok()   { printf '  %sok%s  %s\n' "$G" "$N" "$*"; }
warn() { printf '  %s!!%s  %s\n' "$Y" "$N" "$*" >&2; }
die()  { printf '%scamstyle setup:%s %s\n' "$R" "$N" "$*" >&2; exit 1; }

usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --train) WANT_TRAIN=1 ;;
        --test) WANT_TEST=1 ;;
        --run) WANT_RUN=1 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; RUN_ARGS=("$@"); break ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

if [[ "${CI:-}" == "true" ]]; then
    export PIP_PROGRESS_BAR=off
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1

python_ok() {
    "$1" -c "import sys; sys.exit(0 if sys.version_info >= (3, $MIN_MINOR) else 1)" >/dev/null 2>&1
}

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3.10 python3 python; do
        [[ -n "$candidate" ]] || continue
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

python_missing_help() {
    case "$(uname -s)" in
        Darwin) echo "Install Python 3.$MIN_MINOR+ with 'brew install python@3.12' or from https://www.python.org/downloads/macos/, then run this again." ;;
        Linux)
            if command -v apt-get >/dev/null 2>&1; then echo "Install it with: sudo apt install python3 python3-venv"
            elif command -v dnf >/dev/null 2>&1; then echo "Install it with: sudo dnf install python3"
            elif command -v pacman >/dev/null 2>&1; then echo "Install it with: sudo pacman -S python"
            else echo "Install Python 3.$MIN_MINOR or newer with your package manager."; fi ;;
        *) echo "Install Python 3.$MIN_MINOR or newer. On Windows use install/setup.ps1 instead." ;;
    esac
}

make_venv() {
    if [[ -x "$VENV/bin/python" ]] && python_ok "$VENV/bin/python" && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        ok "using the existing environment $VENV ($("$VENV/bin/python" -V))"
        return
    fi
    local python
    python="$(find_python)" || die "CamStyle needs Python 3.$MIN_MINOR or newer, and none was found. $(python_missing_help)"
    say "Creating $VENV with $python ($("$python" -V))"
    rm -rf "$VENV"
    if ! "$python" -m venv "$VENV"; then
        rm -rf "$VENV"
        local minor
        minor="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        die "could not create a virtual environment. On Debian/Ubuntu install the venv module: sudo apt install python3-venv (or python$minor-venv)."
    fi
    # Editable installs from pyproject.toml need pip 21.3 or newer.
    if ! "$VENV/bin/python" -c "import sys, pip; sys.exit(0 if tuple(map(int, pip.__version__.split('.')[:2])) >= (21, 3) else 1)"; then
        "$VENV/bin/python" -m pip install --upgrade pip || die "pip in the new environment is too old and could not be upgraded (no network?)."
    fi
}

install_camstyle() {
    local extras="" spec stamp wanted
    if [[ $WANT_TEST -eq 1 ]]; then extras="test,train"; elif [[ $WANT_TRAIN -eq 1 ]]; then extras="train"; fi
    spec="."
    [[ -n "$extras" ]] && spec=".[$extras]"
    stamp="$VENV/.camstyle-setup"
    wanted="$(cksum < "$REPO/pyproject.toml") extras=$extras"
    if [[ -f "$stamp" ]] && grep -qxF "$wanted" "$stamp" && "$VENV/bin/python" -c "import camstyle" >/dev/null 2>&1; then
        ok "CamStyle${extras:+ with [$extras]} is already installed and up to date"
        return
    fi
    say "Installing CamStyle${extras:+ with [$extras]} (pip install -e \"$spec\")"
    local pip_log
    pip_log="$(mktemp 2>/dev/null || echo "$VENV/.pip-log")"
    if ! (cd "$REPO" && "$VENV/bin/python" -m pip install -e "$spec" 2>&1 | tee "$pip_log"); then
        if grep -qE "No space left on device|Errno 28" "$pip_log" 2>/dev/null; then
            rm -f "$pip_log"
            die "the disk is full: pip ran out of space. Free a few GB (PyTorch, for --train and --test, takes several) on the disk of $VENV, in pip's cache (pip cache purge) and in the temporary folder (or point TMPDIR at a disk with room), then run this again."
        fi
        rm -f "$pip_log"
        die "pip could not install CamStyle. Read the pip error above; a network problem or a missing compiler is the usual cause. Then run this again."
    fi
    rm -f "$pip_log"
    # Installing [test,train] also satisfies a later plain or --train run.
    {
        echo "$wanted"
        [[ "$extras" == "test,train" ]] && echo "$(cksum < "$REPO/pyproject.toml") extras=train"
        [[ -n "$extras" ]] && echo "$(cksum < "$REPO/pyproject.toml") extras="
    } > "$stamp"
    local version
    version="$("$VENV/bin/python" -c 'import camstyle; print(camstyle.__version__)')" \
        || die "CamStyle was installed but does not import; see the error above."
    ok "installed CamStyle $version"
}

run_tests() {
    local pytest=("$VENV/bin/python" -m pytest)
    say "Running the tests"
    (cd "$REPO" && "${pytest[@]}") || die "tests failed (see above)."
    say "Running the slow tests (pytest -m slow)"
    local rc=0
    (cd "$REPO" && "${pytest[@]}" -m slow) || rc=$?
    if [[ $rc -eq 5 ]]; then
        ok "no slow tests to run"
    elif [[ $rc -ne 0 ]]; then
        die "slow tests failed (see above)."
    fi
    ok "all tests passed"
}

next_steps() {
    cat <<EOF

${B}CamStyle is installed.${N} Use it with:
  $VENV/bin/camstyle run          start the virtual camera (or: source .venv/bin/activate; camstyle run)
  $VENV/bin/camstyle doctor       check camera, virtual camera, styles and hotkeys, with fixes
EOF
    if [[ "$(uname -s)" == "Linux" && ! -d /sys/module/v4l2loopback ]]; then
        cat <<EOF
  $VENV/bin/camstyle setup virtual-camera
                                  once, so that Zoom, Meet and browsers see a "CamStyle" camera
EOF
    fi
}

make_venv
install_camstyle
if [[ $WANT_TEST -eq 1 ]]; then
    run_tests
fi
if [[ $WANT_RUN -eq 1 ]]; then
    say "Starting CamStyle (Ctrl+C stops it)"
    cd "$REPO"
    # ${A[@]+...} keeps an empty array safe under set -u on the bash 3.2 of macOS.
    exec "$VENV/bin/camstyle" run ${RUN_ARGS[@]+"${RUN_ARGS[@]}"}
fi
next_steps
