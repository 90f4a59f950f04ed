"""MNIST at full size (60,000 train / 10,000 test, 28x28) for the memory benchmark.

Tiles the 4,000 / 1,000 real MNIST sample beside the repository (../shared/data/mnist-5k)
up to MNIST's own sizes, in MNIST's idx format, so `mnist(root: ...)` reads it as it would
the real thing. Only the sizes matter to the memory figures.

    python3 benches/memory/make_mnist70k.py [SOURCE_DIR] [OUT_DIR]

Defaults: ../shared/data/mnist-5k and target/mnist70k (the ignored build area).
"""

import gzip
import os
import struct
import sys

SOURCE = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/mnist-5k"
OUT = sys.argv[2] if len(sys.argv) > 2 else "target/mnist70k"


def tiled(payload: bytes, size: int) -> bytes:
    return (payload * (size // len(payload) + 1))[:size]


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    for prefix, count in [("train", 60000), ("t10k", 10000)]:
        images = gzip.open(os.path.join(SOURCE, f"{prefix}-images-idx3-ubyte.gz")).read()
        _, _, rows, cols = struct.unpack(">IIII", images[:16])
        pixels = tiled(images[16:], count * rows * cols)
        labels = gzip.open(os.path.join(SOURCE, f"{prefix}-labels-idx1-ubyte.gz")).read()
        with gzip.open(os.path.join(OUT, f"{prefix}-images-idx3-ubyte.gz"), "wb", 1) as f:
            f.write(struct.pack(">IIII", 2051, count, rows, cols) + pixels)
        with gzip.open(os.path.join(OUT, f"{prefix}-labels-idx1-ubyte.gz"), "wb", 1) as f:
            f.write(struct.pack(">II", 2049, count) + tiled(labels[8:], count))
    print(f"wrote {OUT}: 60000 train, 10000 test")


if __name__ == "__main__":
    main()
