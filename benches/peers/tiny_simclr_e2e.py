"""PyTorch end-to-end peer of benches/throughput/tiny_simclr.sslp: SimCLR on the 4,000 training
digits of MNIST-5k, tiny convnet (width 32, depth 3: conv3x3-BN-ReLU, stride 2 from the second
block, global average pool), projector 128 -> 256 -> BN -> ReLU -> 128, NT-Xent (T = 0.2),
SGD (lr 0.3, momentum 0.9, weight decay 5e-4), batch 256, 3 epochs. Augmentation as the .sslp
file's policy (random resized crop, scale 0.4-1.0; colour jitter brightness/contrast 0.4 with
p 0.8), made in 2 DataLoader worker processes while the step runs on 2 threads: the same two
cores sslp uses. Prints images/s per epoch (images = pairs of views).

    python benches/peers/tiny_simclr_e2e.py [MNIST-5k folder, default ../shared/data/mnist-5k]
"""
import gzip
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms.v2 as T
from torch.utils.data import DataLoader, Dataset


def idx_images(path):
    with gzip.open(path) as f:
        data = f.read()
    _, n, rows, cols = struct.unpack(">IIII", data[:16])
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, rows, cols)


class TwoViews(Dataset):
    def __init__(self, images):
        self.images = torch.from_numpy(images.copy())
        self.view = T.Compose([
            T.RandomResizedCrop(28, scale=(0.4, 1.0), antialias=True),
            T.RandomApply([T.ColorJitter(brightness=0.4, contrast=0.4)], p=0.8),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize([0.5], [0.5]),
        ])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        x = self.images[i]
        return self.view(x).expand(3, -1, -1), self.view(x).expand(3, -1, -1)


def block(i, o, s):
    return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


def nt_xent(z1, z2, t=0.2):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    s = z @ z.t() / t
    n = z1.shape[0]
    s.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(s, target)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/mnist-5k"
    torch.set_num_threads(2)
    torch.manual_seed(0)
    images = idx_images(f"{root}/train-images-idx3-ubyte.gz")
    loader = DataLoader(TwoViews(images), batch_size=256, shuffle=True, drop_last=True,
                        num_workers=2, persistent_workers=True)
    net = nn.Sequential(block(3, 32, 1), block(32, 64, 2), block(64, 128, 2),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(128, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 128))
    opt = torch.optim.SGD(net.parameters(), lr=0.3, momentum=0.9, weight_decay=5e-4)
    print(f"torch {torch.__version__}, {len(images)} images, batch 256, 2 threads, 2 workers")
    for epoch in range(1, 4):
        start, seen, total = time.time(), 0, 0.0
        for x1, x2 in loader:
            loss = nt_xent(net(x1), net(x2))
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += x1.shape[0]
            total += loss.item()
        dt = time.time() - start
        print(f"epoch {epoch}/3: loss {total / (seen // 256):.4f}, {seen / dt:.0f} img/s")


if __name__ == "__main__":
    main()
