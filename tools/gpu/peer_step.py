#!/usr/bin/env python3
"""PyTorch peer of `sslp device-check`'s throughput stage (stage 4): the same SimCLR train step.

  * torchvision ResNet-18/50 without its classifier; for images of 64 pixels or less the CIFAR
    stem (conv1 = 3x3 stride 1 pad 1, no max-pool), as sslp builds it (`cifar_stem`)
  * SimCLR: two views of `batch` images, each view through the backbone separately (its own
    BatchNorm statistics); projector Linear(feat, 2048) + ReLU + Linear(2048, 128)
  * NT-Xent, tau 0.5 (diagonal masked with -1e9, target i <-> i + batch)
  * backward, SGD(lr 0.1, momentum 0.9, weight_decay 5e-4) step, loss read every step
  * fixed random views already on the device (no data loading), f32
images/s counts the `batch` source images of a step, from the median of the timed steps after
the warm-up ones.

Usage: python3 peer_step.py --device cuda|cuda:N|cpu --net resnet18|resnet50 --batch B --size S
       --steps N [--warmup W]
Prints one JSON line: {"img_per_s": ..., "median_step_s": ..., "peak_memory_bytes": ..., ...}.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def backbone(net, size):
    m = getattr(torchvision.models, net)(weights=None)
    if size <= 64:
        m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(m.conv1.weight, mode="fan_out", nonlinearity="relu")
        m.maxpool = nn.Identity()
    feat = m.fc.in_features
    m.fc = nn.Identity()
    return m, feat


class SimClr(nn.Module):
    def __init__(self, net, size):
        super().__init__()
        self.backbone, feat = backbone(net, size)
        self.proj = nn.Sequential(nn.Linear(feat, 2048), nn.ReLU(inplace=True), nn.Linear(2048, 128))

    def forward(self, x):
        return self.proj(self.backbone(x))


def nt_xent(z1, z2, tau=0.5):
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / tau
    eye = torch.eye(2 * b, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, -1e9)
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(logits, target)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--net", choices=["resnet18", "resnet50"], default="resnet18")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()

    device = torch.device(a.device)
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = SimClr(a.net, a.size).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x1 = torch.rand(a.batch, 3, a.size, a.size, device=device) * 2 - 1
    x2 = torch.rand(a.batch, 3, a.size, a.size, device=device) * 2 - 1
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for i in range(a.warmup + a.steps):
        if cuda:
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = nt_xent(model(x1), model(x2))
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))  # reads the loss back: waits for the step
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    out = {
        "img_per_s": a.batch / med,
        "median_step_s": med,
        "step_s": times,
        "losses": losses,
        "net": a.net,
        "batch": a.batch,
        "size": a.size,
        "device": str(device),
        "torch": torch.__version__,
        "peak_memory_bytes": torch.cuda.max_memory_reserved(device) if cuda else None,
        "peak_allocated_bytes": torch.cuda.max_memory_allocated(device) if cuda else None,
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
