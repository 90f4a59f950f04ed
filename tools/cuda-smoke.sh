#!/usr/bin/env bash
# tools/cuda-smoke.sh: what can be checked of a linked `cuda` build of sslp on
# a machine without a GPU (CI's, a developer's).
#
#   - its dynamic needs: only libc, libm, libz, libzstd, libstdc++, libgcc_s
#     (the driver's libcuda.so.1 is loaded at run time, not linked); glibc
#     symbol versions no newer than GLIBC_2.35 (src/cuda_shim.rs says why) and
#     libstdc++ no newer than GLIBCXX_3.4.30 (GCC 12);
#   - it starts, and runs a small pipeline on the CPU;
#   - where libcuda.so.1 cannot be loaded, asking for CUDA is the clear
#     "no NVIDIA driver" error, by `--device cuda` (before any work: exit 2, a
#     usage error) and by `set device = "cuda"` (the pretrain step fails, the
#     run exits 1), and never a panic (exit 101).
#
# Usage: tools/cuda-smoke.sh [path/to/sslp]  (default: target/release/sslp-cuda)
set -euo pipefail
[ -n "${1:-}" ] && SSLP=$(realpath -m "$1")
cd "$(dirname "$0")/.."
SSLP=${SSLP:-$(realpath -m "${CARGO_TARGET_DIR:-target}/release/sslp-cuda")}
[ -x "$SSLP" ] || { echo "cuda-smoke: no binary at $SSLP (tools/cuda-build.sh builds it)" >&2; exit 2; }

fails=0
ok() { echo "cuda-smoke: ok: $*"; }
bad() { echo "cuda-smoke: FAIL: $*" >&2; fails=$((fails + 1)); }

# Link-time needs.
needed=$(readelf -d "$SSLP" | awk '/NEEDED/ { gsub(/[][]/, "", $NF); print $NF }' | sort | paste -sd' ')
extra=$(tr ' ' '\n' <<<"$needed" | grep -Ev '^(libc|libm|libz|libzstd|libstdc\+\+|libgcc_s|ld-linux-x86-64)\.so\.[0-9]+$' || true)
[ -z "$extra" ] && ok "needs $needed" || bad "unexpected libraries: $extra"
symbols=$(objdump -T "$SSLP")
at_most() { # prefix, limit: the binary's highest version of the prefix is at most the limit
    local top
    top=$(grep -o "$1[0-9.]*" <<<"$symbols" | sed "s/^$1//" | sort -uV | tail -n1 || true)
    if [ -z "$top" ]; then ok "no $1 symbols"
    elif [ "$(printf '%s\n' "$top" "$2" | sort -V | tail -n1)" = "$2" ]; then ok "symbols up to $1$top"
    else bad "needs $1$top (more than $1$2)"
    fi
}
at_most GLIBC_ 2.35
at_most GLIBCXX_ 3.4.30

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$SSLP" --version >/dev/null && ok "$("$SSLP" --version) starts" || bad "--version failed"

# A small pipeline: the CPU path of this binary, and a CUDA request from the file.
cat >"$tmp/tiny.sslp" <<'EOF'
set seed = 0
dataset shapes = synthetic_shapes(count: 96, size: 32, classes: 4)
split parts {
  data = shapes
  train = 64
  test = 32
}
policy p = [random_resized_crop(scale: 0.5..1.0) @ 1.0, horizontal_flip() @ 0.5]
backbone net = tiny_convnet(width: 8, depth: 2)
pretrain ssl {
  data = parts.train
  backbone = net
  method = simclr(temperature: 0.5, proj_hidden: 32, proj_dim: 16)
  policy = p
  epochs = 1
  batch = 32
  optimizer = sgd(lr: 0.1)
  lr_scaling = "none"
}
evaluate nn = knn(backbone: ssl, train: parts.train, test: parts.test, k: 5)
EOF
if "$SSLP" run "$tmp/tiny.sslp" --device cpu --store "$tmp/store-cpu" >"$tmp/cpu.log" 2>&1; then
    ok "a small pipeline runs on the CPU"
else
    bad "the CPU run failed:"; cat "$tmp/cpu.log" >&2
fi

expect_no_driver() { # name, log, status, expected status
    if [ "$3" -ne "$4" ]; then bad "$1: exit status $3, expected $4"; cat "$2" >&2
    elif grep -qi "panick" "$2"; then bad "$1 panicked"; cat "$2" >&2
    elif ! grep -q "no NVIDIA driver found" "$2"; then bad "$1: not the driver error"; cat "$2" >&2
    else ok "$1: $(grep -m1 -o 'no NVIDIA driver found[^;]*' "$2"), exit $3"
    fi
}
if PATH="$PATH:/sbin:/usr/sbin" ldconfig -p | grep -q 'libcuda\.so\.1 '; then
    echo "cuda-smoke: libcuda.so.1 is present here: the no-driver checks are skipped"
else
    status=0
    "$SSLP" run "$tmp/tiny.sslp" --device cuda --store "$tmp/store-a" >"$tmp/a.log" 2>&1 || status=$?
    expect_no_driver "run --device cuda" "$tmp/a.log" "$status" 2
    sed 's/^set seed = 0$/set seed = 0\nset device = "cuda"/' "$tmp/tiny.sslp" >"$tmp/tiny-cuda.sslp"
    status=0
    "$SSLP" run "$tmp/tiny-cuda.sslp" --store "$tmp/store-b" >"$tmp/b.log" 2>&1 || status=$?
    expect_no_driver 'set device = "cuda"' "$tmp/b.log" "$status" 1
fi

[ "$fails" -eq 0 ] || { echo "cuda-smoke: $fails check(s) failed" >&2; exit 1; }
echo "cuda-smoke: all checks passed"
