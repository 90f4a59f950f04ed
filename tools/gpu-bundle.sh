#!/usr/bin/env bash
# tools/gpu-bundle.sh: pack what a GPU machine with no network needs to run
# `sslp device-check` into target/gpu-bundle.tar.xz (under 55 MiB).
#
# Why: the GPU machines this project is lent have no network and no build
# tools, and take few files (64 MiB in all, the project's tracked files
# included), so the check must arrive as one small, self-contained archive.
# The CUDA build links LLVM statically and loads the driver (libcuda.so.1) at
# run time; the only other file the GPU side needs is NVIDIA's libdevice, the
# bitcode of the math functions (exp, log, tanh...) that kernels call.
#
# The archive holds one folder, gpu-bundle/:
#   sslp                            the `cuda` build (tools/cuda-build.sh) without its
#                                   debug information (symbols kept: a panic's
#                                   backtrace names functions; 5 MiB of the archive)
#   nvvm/libdevice/libdevice.10.bc  from the nvidia-cuda-nvcc-cu12 wheel; cubecl
#                                   looks for $CUDA_PATH/nvvm/libdevice/, and
#                                   gpu-check.sh sets CUDA_PATH to this folder
#   LICENSE-libdevice.txt           NVIDIA's licence (Attachment A lists
#                                   libdevice.10.bc as redistributable)
#   lib/libstdc++.so.6              this machine's (GCC 12), used by gpu-check.sh
#                                   only if the GPU machine's is too old to run sslp
#   inputs/                         what `sslp device-check --inputs` reads: the
#                                   loss vectors (tests/vectors/ssl_losses.json),
#                                   the quickstart pipeline (its data set,
#                                   synthetic_shapes, is generated: no data file),
#                                   and the PyTorch peer (tools/gpu/peer_step.py)
#   gpu-check.sh                    a copy of the one-command runner
#   MANIFEST.txt                    versions, checksums, the binary's library needs
#
# Nothing downloaded is committed: the wheel is cached in target/gpu-bundle-cache/,
# so a second run downloads nothing. The binary is built (or found up to date)
# by tools/cuda-build.sh first.
#
# Usage: tools/gpu-bundle.sh        (run under `nice -n 19` on a shared machine)
# Then copy target/gpu-bundle.tar.xz and tools/gpu-check.sh into one folder on
# the GPU machine and run `./gpu-check.sh --device cuda --out results`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

NVCC_WHEEL_VERSION=12.4.131   # CUDA 12.4, the API level the build targets (CUDARC_CUDA_VERSION)
LIBDEVICE_SHA256=8c593e48547f85458b6bfbed93a2e6b05484644ccc6b429bb0d8424e06a68b6c
LIBDEVICE_IN_WHEEL=nvidia/cuda_nvcc/nvvm/libdevice/libdevice.10.bc
MAX_BYTES=$((55 * 1024 * 1024))

CACHE="$ROOT/target/gpu-bundle-cache"
STAGE="$ROOT/target/gpu-bundle-stage"
OUT="$ROOT/target/gpu-bundle.tar.xz"

say() { echo "gpu-bundle: $*" >&2; }
die() { say "error: $*"; exit 1; }

# 1. The binary: build it, or find it up to date.
tools/cuda-build.sh
eval "$(tools/cuda-build.sh --env)"
BIN=$(cat target/cuda-llvm/last-binary)-cuda
[ -x "$BIN" ] || die "no binary at $BIN"

# 2. libdevice, from the cached wheel.
mkdir -p "$CACHE"
WHEEL=$(ls "$CACHE"/nvidia_cuda_nvcc_cu12-"$NVCC_WHEEL_VERSION"-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$WHEEL" ]; then
    say "downloading nvidia-cuda-nvcc-cu12==$NVCC_WHEEL_VERSION (22 MB, once)"
    python3 -m pip download --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
        --quiet -d "$CACHE" "nvidia-cuda-nvcc-cu12==$NVCC_WHEEL_VERSION" >&2
    WHEEL=$(ls "$CACHE"/nvidia_cuda_nvcc_cu12-"$NVCC_WHEEL_VERSION"-*.whl | head -n1)
fi

rm -rf "$STAGE"
B="$STAGE/gpu-bundle"
mkdir -p "$B/nvvm/libdevice" "$B/lib" "$B/inputs"
python3 - "$WHEEL" "$LIBDEVICE_IN_WHEEL" "$B" <<'EOF'
import sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    with open(f"{dest}/nvvm/libdevice/libdevice.10.bc", "wb") as fh:
        fh.write(z.read(member))
    lic = [n for n in z.namelist() if n.endswith(".dist-info/License.txt")]
    with open(f"{dest}/LICENSE-libdevice.txt", "wb") as fh:
        fh.write(z.read(lic[0]))
EOF
echo "$LIBDEVICE_SHA256  $B/nvvm/libdevice/libdevice.10.bc" | sha256sum -c --quiet ||
    die "libdevice.10.bc is not the expected file"

# 3. The binary without debug information, and the fallback libstdc++.
strip --strip-debug -o "$B/sslp" "$BIN"
cp -L "$(gcc -print-file-name=libstdc++.so.6)" "$B/lib/libstdc++.so.6"

# 4. The device check's inputs, and the runner.
cp tests/vectors/ssl_losses.json tests/vectors/README.md "$B/inputs/"
mv "$B/inputs/README.md" "$B/inputs/ssl_losses.README.md"
cp examples/quickstart.sslp "$B/inputs/"
cp tools/gpu/peer_step.py "$B/inputs/"
cp tools/gpu-check.sh "$B/"

# 5. The manifest: what was built from what, and what the binary needs.
{
    echo "sslp GPU bundle"
    echo "commit: $(git rev-parse HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' (with uncommitted changes)')"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), $(ldd --version | head -n1)"
    echo "sslp --version: $("$B/sslp" --version)"
    echo "CUDA API level: $CUDARC_CUDA_VERSION (driver must support CUDA 12.4 or newer)"
    echo "LLVM stand-in: $(paste -sd';' "$ROOT/target/cuda-llvm/ready")"
    echo "libdevice: nvidia-cuda-nvcc-cu12 $NVCC_WHEEL_VERSION, sha256 $LIBDEVICE_SHA256"
    echo
    echo "needed libraries (readelf -d):"
    readelf -d "$B/sslp" | awk '/NEEDED/ { gsub(/[][]/, "", $NF); print "  " $NF }'
    echo "highest symbol versions:"
    objdump -T "$B/sslp" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n1 | sed 's/^/  /'
    objdump -T "$B/sslp" | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -n1 | sed 's/^/  /'
    objdump -T "$B/sslp" | grep -o 'CXXABI_[0-9.]*' | sort -uV | tail -n1 | sed 's/^/  /'
    echo
    echo "sha256:"
    (cd "$B" && find . -type f ! -name MANIFEST.txt | sort | xargs sha256sum | sed 's/^/  /')
} >"$B/MANIFEST.txt"

# 6. The archive: reproducible order and owners; xz at its strongest setting.
mtime=$(git log -1 --format=%ct)
rm -f "$OUT"
tar -C "$STAGE" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
    -cf - gpu-bundle | xz -9e -T2 >"$OUT"
size=$(stat -c %s "$OUT")
say "$OUT: $((size / 1024)) KiB ($(du -sh "$B" | cut -f1) unpacked)"
[ "$size" -le "$MAX_BYTES" ] || die "the bundle is over 55 MiB"
