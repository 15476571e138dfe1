#!/usr/bin/env bash
# Give Linux a virtual camera named "CamStyle" (/dev/video10) that Zoom, Meet, OBS and browsers list.
#
#   sudo bash install/linux/setup-virtual-camera.sh [--user NAME] [--skip-package] [--dry-run]
#
# Installs the v4l2loopback kernel module for Debian/Ubuntu, Fedora (RPM Fusion), Arch and
# openSUSE, installs CamStyle's modprobe options and boot-time load files, loads the module,
# and adds the user to the `video` group. Safe to run again: finished steps are skipped.
# If Secure Boot refuses the module, it says how to sign it (MOK enrollment).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODPROBE_CONF="$HERE/camstyle-v4l2loopback.conf"
MODULES_LOAD_CONF="$HERE/camstyle-modules-load.conf"
LABEL="CamStyle"
DEVICE="/dev/video10"

DRY_RUN=0
SKIP_PACKAGE=0
TARGET_USER="${SUDO_USER:-}"

if [[ -t 1 ]]; then B=$'\033[1m' G=$'\033[32m' Y=$'\033[33m' R=$'\033[31m' N=$'\033[0m'; else B="" G="" Y="" R="" N=""; fi
say()  { printf '%s==>%s %s\n' "$B" "$N" "$*"; }
ok()   { printf '  %sok%s  %s\n' "$G" "$N" "$*"; }
warn() { printf '  %s!!%s  %s\n' "$Y" "$N" "$*" >&2; }
die()  { printf '%scamstyle setup:%s %s\n' "$R" "$N" "$*" >&2; exit 1; }

run() {
    # Print, then execute unless --dry-run.
    printf '  $ %s\n' "$*"
    if [[ $DRY_RUN -eq 0 ]]; then
        "$@"
    fi
}

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --user) TARGET_USER="${2:?--user needs a name}"; shift 2 ;;
        --skip-package) SKIP_PACKAGE=1; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

if [[ "$(uname -s)" != "Linux" ]]; then
    die "this script is for Linux. On macOS and Windows CamStyle uses the OBS Studio virtual camera (see README.md)."
fi
if [[ $DRY_RUN -eq 0 && $EUID -ne 0 ]]; then
    say "Root rights are needed to install a kernel module; asking sudo."
    again=(--user "${TARGET_USER:-$(id -un)}")
    [[ $SKIP_PACKAGE -eq 1 ]] && again+=(--skip-package)
    exec sudo bash "${BASH_SOURCE[0]}" "${again[@]}"
fi
[[ -f "$MODPROBE_CONF" && -f "$MODULES_LOAD_CONF" ]] || die "missing $MODPROBE_CONF or $MODULES_LOAD_CONF; run this script from a complete CamStyle checkout."

KERNEL="$(uname -r)"
DISTRO_ID=""
DISTRO_LIKE=""
if [[ -r /etc/os-release ]]; then
    # shellcheck disable=SC1091
    DISTRO_ID="$(. /etc/os-release && echo "${ID:-}")"
    # shellcheck disable=SC1091
    DISTRO_LIKE="$(. /etc/os-release && echo "${ID_LIKE:-}")"
fi

family() {
    local ids=" $DISTRO_ID $DISTRO_LIKE "
    case "$ids" in
        *" debian "*|*" ubuntu "*) echo debian ;;
        *" fedora "*|*" rhel "*|*" centos "*) echo fedora ;;
        *" arch "*) echo arch ;;
        *" suse "*|*" opensuse "*|*" opensuse-tumbleweed "*|*" opensuse-leap "*) echo suse ;;
        *) echo unknown ;;
    esac
}

module_available() { modinfo v4l2loopback >/dev/null 2>&1; }

secure_boot_on() {
    if command -v mokutil >/dev/null 2>&1; then
        mokutil --sb-state 2>/dev/null | grep -qi "SecureBoot enabled"
    else
        local var
        for var in /sys/firmware/efi/efivars/SecureBoot-*; do
            [[ -r "$var" ]] || continue
            [[ "$(od -An -tu1 "$var" | awk '{print $NF}')" == "1" ]] && return 0
        done
        return 1
    fi
}

explain_secure_boot() {
    warn "Secure Boot is on, and it only loads kernel modules signed with a key your firmware trusts."
    cat >&2 <<EOF

  The v4l2loopback module was built on this machine (DKMS / akmods), so its signing key must be
  enrolled once as a Machine Owner Key (MOK):

EOF
    case "$(family)" in
        debian)
            cat >&2 <<'EOF'
    1. Find the key DKMS signs with:  /var/lib/shim-signed/mok/MOK.der (Ubuntu)
                                      or /var/lib/dkms/mok.pub (Debian 12 and newer)
    2. sudo mokutil --import /var/lib/shim-signed/mok/MOK.der     (or the Debian path)
       and choose a one-time password.
    3. Reboot. In the blue "MOK management" screen pick "Enroll MOK" > Continue > Yes,
       type the password, then reboot again.
    4. sudo dpkg-reconfigure v4l2loopback-dkms && sudo modprobe v4l2loopback
EOF
            ;;
        fedora)
            cat >&2 <<'EOF'
    1. sudo kmodgenca -a
    2. sudo mokutil --import /etc/pki/akmods/certs/public_key.der   (choose a one-time password)
    3. Reboot, pick "Enroll MOK" in the blue MOK management screen, type the password, reboot.
    4. sudo akmods --force --rebuild && sudo modprobe v4l2loopback
EOF
            ;;
        *)
            cat >&2 <<'EOF'
    Sign the module with your own key (see your distribution's "DKMS module signing" guide),
    import the key with  sudo mokutil --import KEY.der , reboot and enroll it in the MOK
    management screen, then  sudo modprobe v4l2loopback .
EOF
            ;;
    esac
    cat >&2 <<'EOF'

  Check the state with:  mokutil --sb-state
  (Turning Secure Boot off in the firmware settings also works, but enrolling the key keeps it on.)
  Then run this script again.
EOF
}

install_package() {
    if module_available; then
        ok "v4l2loopback module is installed for kernel $KERNEL"
        return
    fi
    if [[ $SKIP_PACKAGE -eq 1 ]]; then
        warn "v4l2loopback is not installed for kernel $KERNEL and --skip-package was given."
        return
    fi
    say "Installing the v4l2loopback kernel module ($(family))"
    case "$(family)" in
        debian)
            run apt-get update
            run apt-get install -y v4l2loopback-dkms v4l2loopback-utils
            # DKMS builds against the running kernel's headers; most installs have them already.
            if ! run apt-get install -y "linux-headers-$KERNEL"; then
                warn "linux-headers-$KERNEL is not available; DKMS may not build the module for this kernel."
            fi
            ;;
        fedora)
            if ! dnf -q list --available akmod-v4l2loopback >/dev/null 2>&1 && ! rpm -q akmod-v4l2loopback >/dev/null 2>&1; then
                warn "akmod-v4l2loopback comes from RPM Fusion (free), which is not enabled. Enable it with:"
                warn "  sudo dnf install https://mirrors.rpmfusion.org/free/fedora/rpmfusion-free-release-\$(rpm -E %fedora).noarch.rpm"
                die "then run this script again."
            fi
            run dnf install -y akmod-v4l2loopback v4l2loopback
            run akmods --force --kernels "$KERNEL"
            ;;
        arch)
            local kernel_pkg
            kernel_pkg="$(pacman -Qqo "/usr/lib/modules/$KERNEL" 2>/dev/null | head -n1 || true)"
            run pacman -S --needed --noconfirm v4l2loopback-dkms v4l2loopback-utils "${kernel_pkg:-linux}-headers"
            ;;
        suse)
            run zypper --non-interactive install v4l2loopback-kmp-default v4l2loopback-utils
            ;;
        *)
            die "unknown distribution '$DISTRO_ID'. Install your distribution's v4l2loopback (DKMS) package, then run this script with --skip-package."
            ;;
    esac
}

install_config() {
    say "Installing module options (exclusive_caps=1 so Chrome and Meet list the camera)"
    run install -D -m 0644 "$MODPROBE_CONF" /etc/modprobe.d/camstyle-v4l2loopback.conf
    run install -D -m 0644 "$MODULES_LOAD_CONF" /etc/modules-load.d/camstyle-modules-load.conf
}

camstyle_device_present() {
    local dev
    for dev in /sys/devices/virtual/video4linux/video*; do
        [[ -r "$dev/name" ]] && [[ "$(cat "$dev/name")" == "$LABEL" ]] && return 0
    done
    return 1
}

load_module() {
    say "Loading v4l2loopback"
    if camstyle_device_present; then
        ok "the '$LABEL' camera already exists"
        return
    fi
    if [[ -d /sys/module/v4l2loopback ]]; then
        warn "v4l2loopback is loaded with other options (another app's camera?); reloading it with CamStyle's."
        if ! run modprobe -r v4l2loopback; then
            warn "it is in use. Close apps using a virtual camera (OBS, browsers, meeting apps) and run this script again,"
            warn "or reboot: the options installed above apply at the next boot."
            return
        fi
    fi
    local err=""
    if [[ $DRY_RUN -eq 1 ]]; then
        run modprobe v4l2loopback
        return
    fi
    printf '  $ modprobe v4l2loopback\n'
    if ! err="$(modprobe v4l2loopback 2>&1)"; then
        warn "modprobe failed: $err"
        if [[ "$err" == *"Key was rejected"* || "$err" == *"Operation not permitted"* || "$err" == *"Required key not available"* ]] || secure_boot_on; then
            explain_secure_boot
        elif [[ "$err" == *"not found"* ]]; then
            warn "the module is not built for kernel $KERNEL. Install the headers for this kernel and reinstall the v4l2loopback package, or reboot into the kernel it was built for."
        fi
        exit 1
    fi
    if camstyle_device_present; then
        ok "virtual camera '$LABEL' is $DEVICE"
    else
        warn "the module loaded but no '$LABEL' device appeared; check 'cat /sys/devices/virtual/video4linux/*/name'."
    fi
}

add_video_group() {
    if [[ -z "$TARGET_USER" || "$TARGET_USER" == "root" ]]; then
        warn "no regular user given; add yours to the video group with: sudo usermod -aG video USERNAME"
        return
    fi
    if id -nG "$TARGET_USER" 2>/dev/null | tr ' ' '\n' | grep -qx video; then
        ok "$TARGET_USER is in the video group"
        return
    fi
    say "Adding $TARGET_USER to the video group (access to $DEVICE)"
    run usermod -aG video "$TARGET_USER"
    warn "log out and back in (or reboot) so that the new group takes effect."
}

install_package
install_config
load_module
add_video_group

say "Done. Check everything with:  camstyle doctor"
cat <<'EOF'
  Tips: start CamStyle before opening the meeting, and restart the meeting app or browser the
  first time so that it lists the new "CamStyle" camera. Your own self-view may look mirrored:
  that is the meeting app's preview only, the others see you the right way round.
EOF
