"""PyTorch peer of `cargo bench --bench trainer -- --net tiny --method supervised`.

The tiny convnet (width 32, depth 3: conv3x3-BN-ReLU blocks, stride 2 from the second,
global average pool) with a linear head to 10 classes, cross-entropy, SGD (lr 0.3,
momentum 0.9, weight decay 5e-4), batch 256 of 28x28 RGB noise, 2 threads. Times the
training step alone (no augmentation), 3 warm-up steps then 20 timed.
Usage: ../peers/venv/bin/python benches/peers/tiny_supervised_step.py
"""

import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)


def block(i, o, s):
    return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


net = nn.Sequential(
    block(3, 32, 1), block(32, 64, 2), block(64, 128, 2),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10),
)
opt = torch.optim.SGD(net.parameters(), lr=0.3, momentum=0.9, weight_decay=5e-4)
B = 256
x = torch.rand(B, 3, 28, 28) * 2 - 1
y = torch.arange(B) % 10


def step():
    loss = F.cross_entropy(net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


for _ in range(3):
    step()
n = 20
t = time.perf_counter()
for _ in range(n):
    step()
dt = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"pytorch tiny_convnet(32,3) supervised bs{B} 28x28: {n * B / dt:.0f} img/s (step only), peak RSS {rss:.0f} MB")
