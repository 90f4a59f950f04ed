#!/usr/bin/env python3
"""PyTorch peer of sslp's `benches/train_step.rs`: ResNet18 (CIFAR stem) SimCLR step on CPU.

Exactly the same work as the Rust bench:
  * torchvision resnet18, conv1 = 3x3 stride 1 pad 1 (no bias), maxpool = Identity, fc = Identity
  * SimCLR: batch B=64 of 3x32x32, two views, each view through the backbone separately
    (per-view BN statistics, as lightly / solo-learn do), projector Linear(512,2048)+ReLU+Linear(2048,128)
  * NT-Xent tau=0.5: z = L2-normalise(cat(z1, z2)), logits = z z^T / tau, diagonal -> -1e9,
    cross-entropy with target i <-> i+B
  * backward, SGD(lr 0.1, momentum 0.9, weight_decay 5e-4) step
  * supervised comparison: one view, fc Linear(512,10), cross-entropy (= peer_bench.py --only train)
  * torch.set_num_threads(2); W warm-up steps then N timed steps, loss read every step
images/s counts the B=64 *source* images per step (SimCLR pushes 2B=128 crops through the net).

Run: /work/peers/venv/bin/python benches/peers/simclr_step.py [--warmup 2] [--steps 5] [--json out.json]
     (--profile: per-op conv/BN/ReLU forward+backward times at ResNet18-CIFAR shapes, same table as the bench)
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def busy_s():
    """System-wide busy CPU seconds (all cores) from /proc/stat."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def own_s():
    t = os.times()
    return t.user + t.system


def resnet18_cifar(num_classes=None):
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(m.conv1.weight, mode="fan_out", nonlinearity="relu")
    m.maxpool = nn.Identity()
    if num_classes is None:
        m.fc = nn.Identity()
    return m


class SimClr(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = resnet18_cifar()
        self.proj = nn.Sequential(nn.Linear(512, 2048), nn.ReLU(inplace=True), nn.Linear(2048, 128))

    def forward(self, x):
        return self.proj(self.backbone(x))


def nt_xent(z1, z2, tau=0.5):
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / tau
    eye = torch.eye(2 * b, dtype=torch.bool)
    logits = logits.masked_fill(eye, -1e9)
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)])
    return F.cross_entropy(logits, target)


def run(kind, warmup, steps, batch):
    torch.manual_seed(0)
    if kind == "simclr":
        model = SimClr()
        x1, x2 = torch.randn(batch, 3, 32, 32), torch.randn(batch, 3, 32, 32)

        def loss_fn():
            return nt_xent(model(x1), model(x2))
    else:
        model = resnet18_cifar(num_classes=10)
        x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))

        def loss_fn():
            return F.cross_entropy(model(x), y)

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    times, losses = [], []
    b0, o0, w0 = busy_s(), own_s(), time.time()
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
    wall = time.time() - w0
    other = max(0.0, ((busy_s() - b0) - (own_s() - o0)) / wall)
    med, mean = statistics.median(times), statistics.mean(times)
    return {"kind": kind, "batch": batch, "median_step_s": med, "mean_step_s": mean,
            "images_per_s_median": batch / med, "step_s_all": times, "losses": losses,
            "other_load_cores": other}


R18_CONVS = [  # (cin, cout, kernel, stride, input side, uses per view) -- same table as the Rust bench
    (3, 64, 3, 1, 32, 1), (64, 64, 3, 1, 32, 4), (64, 128, 3, 2, 32, 1), (128, 128, 3, 1, 16, 3),
    (64, 128, 1, 2, 32, 1), (128, 256, 3, 2, 16, 1), (256, 256, 3, 1, 8, 3), (128, 256, 1, 2, 16, 1),
    (256, 512, 3, 2, 8, 1), (512, 512, 3, 1, 4, 3), (256, 512, 1, 2, 8, 1),
]


def profile(batch, reps=3):
    """Per-op forward / backward(of (y*r).sum()) medians at ResNet18-CIFAR shapes, like the Rust bench."""
    torch.manual_seed(0)

    def timeit(f):
        f()
        fs, bs = zip(*[f() for _ in range(reps)])
        return statistics.median(fs), statistics.median(bs)

    print(f"per-op profile, batch {batch}, median of {reps} (ms)")
    tot = dict(cf=0.0, cb=0.0, bf=0.0, bb=0.0, rf=0.0, rb=0.0)
    for cin, cout, k, st, side, n in R18_CONVS:
        conv = nn.Conv2d(cin, cout, k, st, k // 2, bias=False)
        x = torch.randn(batch, cin, side, side, requires_grad=cin != 3)
        out = side // st
        r = torch.randn(batch, cout, out, out)

        def run(mod, inp):
            def f():
                t0 = time.perf_counter()
                y = mod(inp)
                t1 = time.perf_counter()
                (y * r).sum().backward()
                return t1 - t0, time.perf_counter() - t1
            return f

        f, b = timeit(run(conv, x))
        tot["cf"] += f * n
        tot["cb"] += b * n
        print(f"conv{k}x{k}/{st} {cin}->{cout} @{side}".ljust(34), f"{n:4d} {f*1e3:9.1f} {b*1e3:9.1f} {f*1e3*n:10.1f} {b*1e3*n:10.1f}")
        h = torch.randn(batch, cout, out, out, requires_grad=True)
        bn = nn.BatchNorm2d(cout).train()
        f, b = timeit(run(bn, h))
        rf, rb = timeit(run(nn.ReLU(), h))
        tot["bf"] += f * n
        tot["bb"] += b * n
        tot["rf"] += rf * n
        tot["rb"] += rb * n
        print(f"  bn / relu {cout}@{out} (relu {rf*1e3:.1f}/{rb*1e3:.1f})".ljust(34), f"{n:4d} {f*1e3:9.1f} {b*1e3:9.1f} {f*1e3*n:10.1f} {b*1e3*n:10.1f}")
    print("TOTAL per view (ms): conv fwd {cf:.0f} bwd {cb:.0f} | bn fwd {bf:.0f} bwd {bb:.0f} | relu fwd {rf:.0f} bwd {rb:.0f}".format(
        **{k: v * 1e3 for k, v in tot.items()}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["simclr", "supervised"])
    ap.add_argument("--json")
    ap.add_argument("--profile", action="store_true", help="per-op timings instead of the step benchmark")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__} threads {torch.get_num_threads()} "
          f"mkldnn {torch.backends.mkldnn.is_available()}", flush=True)
    if a.profile:
        profile(a.batch)
        return
    res = []
    for kind in ("simclr", "supervised"):
        if a.only and a.only != kind:
            continue
        r = run(kind, a.warmup, a.steps, a.batch)
        res.append(r)
        print(f"torch {kind:10s} batch {a.batch}: median {r['median_step_s']:.3f} s/step "
              f"mean {r['mean_step_s']:.3f}  -> {r['images_per_s_median']:.1f} source img/s  "
              f"(other load {r['other_load_cores']:.2f} cores; loss {r['losses'][0]:.4f} -> {r['losses'][-1]:.4f})",
              flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
