"""Peer for `sslp check` / `sslp plan` of a 10,000-arm sweep: Hydra expanding the same sweep.

The sweep of benches/data/sweep_10k.sslp written as Hydra overrides:
8 methods x 10 policies x 5 learning rates x 25 label fractions = 10,000 jobs.
Times, in one process started by this script:
  - `import hydra` and the config store set-up,
  - the sweep expansion Hydra's BasicSweeper does before launching
    (override parsing + cartesian product into per-job override lists),
  - composing every job's config (what Hydra does for each job at launch:
    the analogue of lowering each arm to resolved parameters).
Nothing is launched or written. Composing all 10,000 configs takes minutes
(540.9 s on the CI machine kind, 2026-12-07), so by default the first 200 are
composed and the total is extrapolated (and said so); `--all` composes every one.
Usage: python benches/peers/hydra_sweep.py [--all] (needs hydra-core; tested with 1.3.8).
"""

import sys
import time

t0 = time.perf_counter()
from dataclasses import dataclass, field  # noqa: E402

from hydra import compose, initialize  # noqa: E402
from hydra.core.config_store import ConfigStore  # noqa: E402
from hydra.core.override_parser.overrides_parser import OverridesParser  # noqa: E402
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper  # noqa: E402

t_import = time.perf_counter() - t0


@dataclass
class Method:
    name: str = "simclr"
    temperature: float = 0.5
    queue: int = 0


@dataclass
class Optimizer:
    name: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4


@dataclass
class Config:
    method: Method = field(default_factory=Method)
    optimizer: Optimizer = field(default_factory=Optimizer)
    policy: str = "p0"
    epochs: int = 100
    backbone: str = "resnet18"
    label_fraction: float = 1.0
    seed: int = 7


ConfigStore.instance().store(name="config", node=Config)

methods = "simclr,moco,byol,simsiam,barlow_twins,swav,dino,simclr_t02"
policies = ",".join(f"p{i}" for i in range(10))
lrs = "0.01,0.03,0.1,0.3,1.0"
fractions = ",".join(f"{0.04 * (i + 1):.2f}" for i in range(25))
overrides = [
    f"method.name={methods}",
    f"policy={policies}",
    f"optimizer.lr={lrs}",
    f"label_fraction={fractions}",
]

t1 = time.perf_counter()
parsed = OverridesParser.create().parse_overrides(overrides)
jobs = BasicSweeper.split_arguments(parsed, max_batch_size=None)[0]
t_expand = time.perf_counter() - t1
assert len(jobs) == 10_000, len(jobs)

sample = jobs if "--all" in sys.argv else jobs[:200]
t2 = time.perf_counter()
with initialize(version_base=None, config_path=None):
    for job in sample:
        compose(config_name="config", overrides=list(job))
t_compose = time.perf_counter() - t2

print(f"import: {t_import * 1e3:.0f} ms")
print(f"expand 10,000 jobs: {t_expand * 1e3:.0f} ms")
per_job = t_compose / len(sample)
if len(sample) == len(jobs):
    print(f"compose 10,000 job configs: {t_compose:.2f} s")
else:
    print(
        f"compose: {per_job * 1e3:.1f} ms per job over {len(sample)} jobs;"
        f" 10,000 jobs extrapolated: {per_job * len(jobs):.0f} s"
    )
