#!/usr/bin/env bash
# tools/cuda-build.sh: build sslp with the `cuda` feature on a machine with no
# access to GitHub, from Debian's archive and crates.io only.
#
# Why: burn 0.22's CUDA backend (burn-cuda -> cubecl-cuda -> cubecl-llvm) has
# `tracel-llvm-bundler` as a build dependency, and its build script downloads a
# prebuilt LLVM 23.1 from GitHub unless a marker file already exists in
#   $XDG_DATA_HOME/tracel/tracel-llvm-<bundler version>/.tracel-llvm-installed
# after which it only runs `<that folder>/bin/llvm-config --link-static ...` to
# link LLVM statically. No cargo feature avoids it. This script puts a stand-in
# there, made from Debian bookworm's LLVM 22 packages (bookworm-security), and
# points the build at it. The reasoning, and the risks of LLVM 22 standing in
# for 23 (one enum that cubecl does not use differs), are in the README's
# "GPU" section.
#
# What it does. Everything stays under target/cuda-llvm/ (git-ignored): nothing
# is installed, no system file changes, root is not needed.
#   1. Downloads llvm-22, llvm-22-dev, libllvm22, llvm-22-tools and
#      libpolly-22-dev with `apt-get download` (about 100 MB), using its own
#      package lists under target/cuda-llvm/apt/ (so a stale or missing system
#      list does not matter), and unpacks them with `dpkg -x`.
#   2. Makes the bundler's folder: the marker file, and a bin/llvm-config that
#      runs Debian's but answers `--system-libs` with `-lrt -ldl -lm -lz
#      -lzstd` (Debian's answer names libz3.so by path, which the bundler turns
#      into an unlinkable `-llibz3`; neither z3 nor libxml2 is needed).
#   3. Gives the linker `libzstd.so` / `libz.so` links when the system has only
#      the runtime `.so.1` (bookworm ships libzstd.so.1 without the dev link).
#   4. Builds: XDG_DATA_HOME=target/cuda-llvm/data, CUDARC_CUDA_VERSION=12040
#      (cudarc then asks the driver for the CUDA 12.4 API, which every driver
#      from 550 on provides), and runs `cargo build --release --features cuda`
#      with any extra arguments. The CUDA binary is then hard-linked to
#      target/release/sslp-cuda, where it stays.
# Steps 1-3 run once: a second run finds target/cuda-llvm/ready and neither
# downloads nor unpacks anything.
#
# The build shares target/ with the CPU build: the `cuda` feature gives burn
# and the crates whose features it changes artefacts of their own, beside the
# CPU ones, so neither build invalidates the other and the crates they share
# are compiled once. Cargo puts the last-built binary at target/release/sslp:
# after this script, that is the CUDA build (which runs on the CPU just the
# same) until the next plain `cargo build --release`, which only links it
# again; target/release/sslp-cuda stays the CUDA one.
#
# Usage:
#   tools/cuda-build.sh [cargo build args...]   prepare if needed, then build
#   tools/cuda-build.sh --env                   prepare if needed, then print
#       the environment as `export` lines, for other cargo commands:
#       eval "$(tools/cuda-build.sh --env)"; cargo clippy --release --features cuda
# Run it under `nice -n 19` on a shared machine: a cold build takes a while.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

STANDIN="$ROOT/target/cuda-llvm"
LLVM_MAJOR=22
LLVM_PACKAGES=("llvm-$LLVM_MAJOR" "llvm-$LLVM_MAJOR-dev" "libllvm$LLVM_MAJOR"
    "llvm-$LLVM_MAJOR-tools" "libpolly-$LLVM_MAJOR-dev")
LLVM="$STANDIN/root/usr/lib/llvm-$LLVM_MAJOR"
DATA_HOME="$STANDIN/data"
CUDA_API=12040

say() { echo "cuda-build: $*" >&2; }
die() { say "error: $*"; exit 1; }

# The bundler's folder name carries its version; read it from Cargo.lock so a
# dependency update does not silently send the build back to the download.
bundler_version() {
    awk '$0 == "name = \"tracel-llvm-bundler\"" { getline; gsub(/version = |"/, ""); print; exit }' \
        "$ROOT/Cargo.lock"
}

# Step 1: the Debian packages, downloaded and unpacked once.
fetch_llvm() {
    local apt="$STANDIN/apt"
    local opts=(-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
        -o "Dir::State::status=/var/lib/dpkg/status")
    # As root, apt would hand downloads to its `_apt` user, who cannot write here.
    [ "$(id -u)" = 0 ] && opts+=(-o APT::Sandbox::User=root)
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$STANDIN/debs"
    say "updating private package lists in $apt"
    apt-get -q "${opts[@]}" update >"$apt/update.log" 2>&1 ||
        { cat "$apt/update.log" >&2; die "apt-get update (private lists) failed"; }
    say "downloading ${LLVM_PACKAGES[*]}"
    (cd "$STANDIN/debs" && rm -f ./*.deb && apt-get -q "${opts[@]}" download "${LLVM_PACKAGES[@]}" >&2) ||
        die "apt-get download failed"
    rm -rf "$STANDIN/root"
    local deb
    for deb in "$STANDIN"/debs/*.deb; do
        say "unpacking $(basename "$deb")"
        dpkg -x "$deb" "$STANDIN/root"
    done
    [ -x "$LLVM/bin/llvm-config" ] || die "no llvm-config in $LLVM after unpacking"
}

# Step 3: dev links for the system libraries LLVM needs, when missing.
link_system_libs() {
    local cache lib so1
    cache=$(PATH="$PATH:/sbin:/usr/sbin" ldconfig -p)
    for lib in z zstd; do
        if ! awk -v n="lib$lib.so" '$1 == n { found = 1 } END { exit !found }' <<<"$cache"; then
            so1=$(awk -v n="lib$lib.so.1" '$1 == n { print $NF; exit }' <<<"$cache")
            [ -n "$so1" ] || die "lib$lib.so.1 is not on this system: the link needs it"
            ln -sfn "$so1" "$LLVM/lib/lib$lib.so"
        fi
    done
}

# Step 2: the bundler's folder. Files are only written when they differ: the
# bundler's build script reruns (and cubecl recompiles) when the marker changes.
make_bundler_dir() {
    local dir="$DATA_HOME/tracel/tracel-llvm-$1"
    mkdir -p "$dir/bin"
    local wrapper
    wrapper=$(cat <<EOS
#!/bin/sh
# Written by tools/cuda-build.sh: Debian's LLVM $LLVM_MAJOR stands in for the
# LLVM bundle of tracel-llvm-bundler. Its --system-libs answer names libz3.so by
# path (the bundler would turn it into -llibz3) and libxml2; neither is needed.
for a in "\$@"; do
    if [ "\$a" = "--system-libs" ]; then echo "-lrt -ldl -lm -lz -lzstd"; exit 0; fi
done
exec "$LLVM/bin/llvm-config" "\$@"
EOS
)
    if [ "$(cat "$dir/bin/llvm-config" 2>/dev/null)" != "$wrapper" ]; then
        printf '%s\n' "$wrapper" >"$dir/bin/llvm-config"
        chmod +x "$dir/bin/llvm-config"
    fi
    [ -e "$dir/.tracel-llvm-installed" ] || touch "$dir/.tracel-llvm-installed"
    # Every static library llvm-config names must be there, or the link fails late.
    local l
    for l in $("$dir/bin/llvm-config" --link-static --libs); do
        [ -f "$LLVM/lib/lib${l#-l}.a" ] || die "missing $LLVM/lib/lib${l#-l}.a"
    done
}

prepare() {
    local version
    version=$(bundler_version)
    [ -n "$version" ] || die "tracel-llvm-bundler is not in Cargo.lock"
    if [ -f "$STANDIN/ready" ] && [ -x "$LLVM/bin/llvm-config" ]; then
        make_bundler_dir "$version"   # cheap: writes nothing when up to date
        return
    fi
    command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
        die "needs apt-get and dpkg (Debian or Ubuntu)"
    local start=$SECONDS
    fetch_llvm
    local got
    got=$("$LLVM/bin/llvm-config" --version)
    [ "${got%%.*}" = "$LLVM_MAJOR" ] || die "unpacked LLVM is $got, expected $LLVM_MAJOR.x"
    link_system_libs
    make_bundler_dir "$version"
    {
        echo "llvm $got"
        dpkg-deb -f "$STANDIN"/debs/"libllvm$LLVM_MAJOR"_*.deb Package Version | paste -sd' '
        echo "tracel-llvm-bundler $version"
    } >"$STANDIN/ready"
    rm -rf "$STANDIN/debs" "$STANDIN/apt"   # unpacked: the downloads are no longer needed
    say "LLVM $got stand-in ready in $((SECONDS - start)) s ($(du -sh "$STANDIN" | cut -f1) in target/cuda-llvm)"
}

prepare
export XDG_DATA_HOME="$DATA_HOME"
export CUDARC_CUDA_VERSION="$CUDA_API"

if [ "${1:-}" = "--env" ]; then
    printf 'export %s=%q\n' XDG_DATA_HOME "$XDG_DATA_HOME" CUDARC_CUDA_VERSION "$CUDARC_CUDA_VERSION"
    exit 0
fi
say "cargo build --release --features cuda $*"
# The JSON messages name the binary cargo made (wherever the target folder is).
cargo build --release --features cuda --message-format=json-render-diagnostics "$@" |
    python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    t = m.get("target", {})
    if m.get("reason") == "compiler-artifact" and t.get("name") == "sslp" and "bin" in t.get("kind", []):
        print(m["executable"])
' >"$STANDIN/last-binary"
bin=$(cat "$STANDIN/last-binary")
if [ -n "$bin" ]; then
    ln -f "$bin" "$bin-cuda"
    say "CUDA binary: $bin-cuda"
fi
