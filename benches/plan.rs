//! Check + plan of a generated pipeline declaring 10,000 arms.
//!
//! `cargo bench --bench plan` (target: well under 1 s per iteration on the
//! CI machine; figures in BENCHMARKS.md).

use criterion::{Criterion, criterion_group, criterion_main};
use sslp::lang::{self, NoImports};
use sslp::plan;
use std::fmt::Write;
use std::hint::black_box;

/// 5 methods x 10 policies x 4 batches = 200 pretraining arms, each evaluated
/// at 50 label fractions: 10,000 evaluation arms.
fn generated_pipeline() -> String {
    let mut s = String::from("use std::policies::ssl_default\nset seed = 7\n");
    s.push_str("dataset d = synthetic_shapes(count: 1000)\nsplit parts {\n  data = d\n  train = 0.8\n  test = 0.2\n}\n");
    for i in 0..10 {
        let _ = writeln!(
            s,
            "policy p{i} = [grayscale() @ 0.{i}, color_jitter(brightness: 0.{i}) @ 0.8] ++ ssl_default"
        );
    }
    let policies: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    let _ = write!(
        s,
        "pretrain ssl {{\n  data = parts.train\n  backbone = resnet18(cifar_stem: true)\n  method = sweep [simclr(), moco(queue: 4096), byol(), simsiam(), barlow_twins()]\n  policy = sweep [{}]\n  batch = sweep [16, 32, 64, 128]\n  epochs = 100\n}}\n",
        policies.join(", ")
    );
    s.push_str(
        "evaluate lin = linear_probe(backbone: ssl, train: parts.train, test: parts.test, label_fraction: sweep 0.02..1.0 step 0.02)\n",
    );
    s
}

fn check_and_plan(text: &str) -> usize {
    let checked = lang::check_source("gen.sslp", "gen.sslp", text, &mut NoImports);
    let program = checked.program.expect("the generated pipeline checks");
    let (plan, _) = plan::plan(&program);
    plan.expect("the generated pipeline plans").arms.len()
}

fn bench(c: &mut Criterion) {
    let text = generated_pipeline();
    assert_eq!(check_and_plan(&text), 10_000);
    let mut group = c.benchmark_group("plan");
    group.sample_size(10);
    group.bench_function("check_and_plan_10k_arms", |b| {
        b.iter(|| check_and_plan(black_box(&text)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
