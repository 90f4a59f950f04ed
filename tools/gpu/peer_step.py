#!/usr/bin/env python3
"""PyTorch peer for the throughput stage of `sslp device-check`: SimCLR train steps.

Runs offline with only torch and torchvision (no weights are downloaded, no
other package is imported), on the GPU or the CPU; results go to stdout as
JSON, progress to stderr.

The work per step, as in sslp's SimCLR (and benches/peers/simclr_step.py,
which this follows):
  * torchvision ResNet (weights=None), fc = Identity. With the CIFAR stem
    (default for inputs of 64 px or less): conv1 = 3x3 stride 1 pad 1, no
    bias, maxpool = Identity; otherwise torchvision's 7x7/2 stem and max-pool.
  * two views of a batch of B images (random tensors, drawn once), each view
    through the backbone separately (per-view BatchNorm statistics);
    projector Linear(feat, 2048) + ReLU + Linear(2048, 128).
  * NT-Xent, temperature 0.5: z = L2-normalise(cat(z1, z2)), logits = z z^T /
    t with the diagonal masked, cross-entropy with target i <-> i+B.
  * backward, SGD (lr 0.1, momentum 0.9, weight decay 5e-4) step.
images/s counts the B source images of a step (2B crops go through the net).
Each step is timed to a device synchronisation; the figure is B / median step.
Peak memory on CUDA is torch.cuda.max_memory_reserved() (what the caching
allocator held, as sslp's figure is its pool's reservation), with
max_memory_allocated() beside it as `peak_allocated_bytes`; on the CPU it is
the process's peak resident set, which includes the interpreter and torch.
Views are uniform in [-1, 1), as the device check's. cuDNN's autotuner
(`cudnn.benchmark`) is on, as sslp autotunes its kernels too.

One run: `--net resnet18|resnet50 [--size PX] [--batch B]` (size and batch
default to the suite's for that net). Without `--net`, the suite of the GPU
check: ResNet-18 at 32x32, batch 256 (CIFAR stem), and ResNet-50 at 224x224,
batch 64 (ImageNet stem); `--case NET:SIZE:BATCH` (repeatable) replaces it.

Output: one JSON object per run, each on one line of stdout (the device check
reads the last line): the run's figures (`images_per_s`, `median_step_s`,
`peak_memory_bytes`, losses, ...) beside torch's version and the device.
`--json FILE` also writes the list of them to FILE.

  python3 peer_step.py --device cuda:0 --net resnet18 --batch 256 --size 32 --steps 10

Exit status: 0 on success; 3 when torch cannot run here (not importable, or
`--device cuda` without a usable GPU): the JSON then holds `"error"`.
"""
import argparse
import json
import platform
import resource
import statistics
import sys
import time

SUITE = [("resnet18", 32, 256), ("resnet50", 224, 64)]
NETS = dict((net, (size, batch)) for net, size, batch in SUITE)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def emit_lines(docs, out):
    """Each document on one line of stdout; the list of them in `out`, if given."""
    for doc in docs:
        print(json.dumps(doc), flush=True)
    if out:
        with open(out, "w") as fh:
            json.dump(docs, fh, indent=1)
            fh.write("\n")


def fail(msg, out):
    emit_lines([{"error": msg, "python": platform.python_version()}], out)
    sys.exit(3)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def parse_case(text):
    try:
        net, size, batch = text.split(":")
        if net not in NETS:
            raise ValueError
        return net, int(size), int(batch)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}`: write NET:SIZE:BATCH, NET resnet18 or resnet50")


def parse_device(text):
    if text == "cpu" or text == "cuda" or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"`{text}`: write cpu, cuda or cuda:N")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", type=parse_device, default="cuda", help="cpu, cuda or cuda:N")
    ap.add_argument("--net", choices=sorted(NETS), help="one run of this backbone")
    ap.add_argument("--size", type=int, help="image side for --net (default: 32 / 224)")
    ap.add_argument("--batch", type=int, help="batch for --net (default: 256 / 64)")
    ap.add_argument("--case", type=parse_case, action="append",
                    help="NET:SIZE:BATCH, repeatable (default: the GPU check's suite)")
    ap.add_argument("--warmup", type=int, help="untimed steps first (cuDNN autotuning); "
                    "default 3 on CUDA, 1 on the CPU")
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--cifar-stem", choices=["auto", "on", "off"], default="auto",
                    help="3x3/1 stem without max-pool; auto: for inputs of 64 px or less")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    ap.add_argument("--json", help="also write the list of results to this file")
    a = ap.parse_args()
    on_cuda = a.device != "cpu"
    if a.warmup is None:
        a.warmup = 3 if on_cuda else 1
    if a.net:
        size, batch = NETS[a.net]
        cases = [(a.net, a.size or size, a.batch or batch)]
    else:
        cases = a.case or SUITE

    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import torchvision
    except Exception as e:  # ImportError, or a broken CUDA install raising at import
        fail(f"torch/torchvision not importable: {e}", a.json)

    if on_cuda and not torch.cuda.is_available():
        fail("torch sees no CUDA device (torch.cuda.is_available() is False)", a.json)
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if on_cuda:
        torch.backends.cudnn.benchmark = True

    def backbone(model, size):
        m = getattr(torchvision.models, model)(weights=None)
        cifar = a.cifar_stem == "on" or (a.cifar_stem == "auto" and size <= 64)
        if cifar:
            m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
            nn.init.kaiming_normal_(m.conv1.weight, mode="fan_out", nonlinearity="relu")
            m.maxpool = nn.Identity()
        feat = m.fc.in_features
        m.fc = nn.Identity()
        return m, feat, cifar

    def nt_xent(z1, z2, tau=0.5):
        b = z1.shape[0]
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        logits = z @ z.t() / tau
        eye = torch.eye(2 * b, dtype=torch.bool, device=z.device)
        logits = logits.masked_fill(eye, -1e9)
        target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
        return F.cross_entropy(logits, target)

    def sync():
        if on_cuda:
            torch.cuda.synchronize(dev)

    def run(model, size, batch):
        torch.manual_seed(0)
        net, feat, cifar = backbone(model, size)
        proj = nn.Sequential(nn.Linear(feat, 2048), nn.ReLU(inplace=True), nn.Linear(2048, 128))
        full = nn.Sequential(net, proj).to(dev).train()
        opt = torch.optim.SGD(full.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        x1 = torch.rand(batch, 3, size, size, device=dev) * 2 - 1
        x2 = torch.rand(batch, 3, size, size, device=dev) * 2 - 1
        if on_cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
        times, losses = [], []
        first_start = time.perf_counter()
        for i in range(a.warmup + a.steps):
            sync()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = nt_xent(full(x1), full(x2))
            loss.backward()
            opt.step()
            sync()
            dt = time.perf_counter() - t0
            losses.append(float(loss.detach()))
            if i >= a.warmup:
                times.append(dt)
        wall = time.perf_counter() - first_start
        med = statistics.median(times)
        r = dict(meta)
        r.update({
            "net": model, "size": size, "batch": batch, "cifar_stem": cifar,
            "warmup_steps": a.warmup, "timed_steps": len(times),
            "median_step_s": med, "mean_step_s": statistics.mean(times), "step_s": times,
            "images_per_s": batch / med, "wall_s": wall,
            "losses": losses,
        })
        if on_cuda:
            r["peak_memory_bytes"] = torch.cuda.max_memory_reserved(dev)
            r["peak_allocated_bytes"] = torch.cuda.max_memory_allocated(dev)
        else:
            r["peak_memory_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        del full, opt, x1, x2
        return r

    meta = {
        "peer": "pytorch",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "device": a.device,
        "device_name": torch.cuda.get_device_name(dev) if on_cuda else cpu_name(),
        "device_memory_bytes": torch.cuda.get_device_properties(dev).total_memory if on_cuda else None,
        "threads": torch.get_num_threads(),
        "precision": "f32",
        "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32,
                 "cudnn": torch.backends.cudnn.allow_tf32} if on_cuda else None,
        "cudnn_benchmark": on_cuda,
        "torch_cuda": torch.version.cuda,
    }
    results = []
    for model, size, batch in cases:
        log(f"peer: {model} {size}x{size} batch {batch} on {a.device}: "
            f"{a.warmup} warm-up + {a.steps} timed steps")
        r = run(model, size, batch)
        log(f"peer: {model}: {r['images_per_s']:.1f} img/s, "
            f"peak {r['peak_memory_bytes'] / 2**20:.0f} MiB, {r['wall_s']:.1f} s")
        results.append(r)
    emit_lines(results, a.json)


if __name__ == "__main__":
    main()
