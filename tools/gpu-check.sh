#!/usr/bin/env bash
# gpu-check.sh: run sslp's device check from the GPU bundle, in one command.
#
# Put this script and gpu-bundle.tar.xz (made by tools/gpu-bundle.sh) in one
# folder, on a machine with an NVIDIA driver for CUDA 12.4 or newer, then:
#   ./gpu-check.sh [--device cuda|cuda:N|cpu] [--out DIR] [more device-check args]
# It unpacks the bundle beside itself (once per archive), points the binary
# at the bundle's libdevice (CUDA_PATH), falls back to the bundle's libstdc++
# if the system's is too old, notes the machine in DIR/gpu-check-environment.txt,
# then runs
#   sslp device-check --device DEV --inputs gpu-bundle/inputs --out DIR
# which writes one JSON file per stage into DIR as each stage finishes
# (`./gpu-bundle/sslp device-check --help` describes them). The exit status is
# the check's. Defaults: --device cuda, --out ./results.
# Needs bash, tar and xz; no network, no install. python3 with torch and
# torchvision, if present, lets the check time PyTorch beside sslp.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TARBALL="$HERE/gpu-bundle.tar.xz"
BUNDLE="$HERE/gpu-bundle"

usage() { sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
say() { echo "gpu-check: $*" >&2; }
die() { say "error: $*"; exit 2; }

device=cuda
out=results
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device=${2:?--device needs a value}; shift 2 ;;
        --device=*) device=${1#*=}; shift ;;
        --out) out=${2:?--out needs a value}; shift 2 ;;
        --out=*) out=${1#*=}; shift ;;
        -h | --help) usage; exit 0 ;;
        *) extra+=("$1"); shift ;;
    esac
done

# Unpack, unless this very archive was unpacked here before.
if [ -f "$TARBALL" ]; then
    stamp=$(stat -c '%s %Y' "$TARBALL")
    if [ "$(cat "$BUNDLE/.unpacked-from" 2>/dev/null)" != "$stamp" ]; then
        say "unpacking $(basename "$TARBALL")"
        rm -rf "$BUNDLE"
        tar -xJf "$TARBALL" -C "$HERE"
        echo "$stamp" >"$BUNDLE/.unpacked-from"
    fi
elif [ ! -x "$BUNDLE/sslp" ]; then
    die "no gpu-bundle.tar.xz (nor an unpacked gpu-bundle/) beside this script"
fi
SSLP="$BUNDLE/sslp"

# cubecl finds libdevice at $CUDA_PATH/nvvm/libdevice/libdevice.10.bc.
export CUDA_PATH="$BUNDLE"

# The binary needs GLIBCXX_3.4.30 (GCC 12's libstdc++): use the bundled one
# only when the system's cannot load it.
if ! loader_error=$("$SSLP" --version 2>&1 >/dev/null); then
    if LD_LIBRARY_PATH="$BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$SSLP" --version >/dev/null 2>&1; then
        say "using the bundled libstdc++ (without it: ${loader_error%%$'\n'*})"
        export LD_LIBRARY_PATH="$BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    else
        ldd "$SSLP" >&2 || true
        die "sslp does not start here: $loader_error"
    fi
fi

mkdir -p "$out"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(uname -srm)"
    echo "os: $( (. /etc/os-release && echo "$PRETTY_NAME") 2>/dev/null || echo unknown)"
    echo "glibc: $(ldd --version 2>/dev/null | head -n1 || echo unknown)"
    echo "cpus: $(nproc 2>/dev/null || echo unknown)"
    echo "sslp: $("$SSLP" --version)"
    echo "CUDA_PATH: $CUDA_PATH"
    echo "LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}"
    echo "python3: $(command -v python3 || echo none)"
    echo
    if command -v nvidia-smi >/dev/null; then
        timeout 30 nvidia-smi 2>&1 || echo "(nvidia-smi failed)"
    else
        echo "nvidia-smi: not found"
    fi
    echo
    echo "ldd:"
    ldd "$SSLP" 2>&1 || true
    echo
    sed -n '1,/^sha256:/p' "$BUNDLE/MANIFEST.txt"
} >"$out/gpu-check-environment.txt" 2>&1

say "sslp device-check --device $device --inputs $BUNDLE/inputs --out $out ${extra[*]}"
exec "$SSLP" device-check --device "$device" --inputs "$BUNDLE/inputs" --out "$out" "${extra[@]}"
