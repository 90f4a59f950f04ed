//! Property: checking and planning never panic. Programs are generated from the registry —
//! every dataset, op, view, method, backbone, optimiser, schedule, evaluation, report and executor kind,
//! with parameter values drawn around their bounds (small batches and counts included, and now
//! and then a value outside its range), sweeps of methods and batches — then checked and, when
//! the checker accepts them, planned. A panic anywhere fails the test; the fuzz target's body
//! (`fuzz/check_plan_body.rs`) is run on the example corpus and on mutations of it.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sslp::lang::registry::{self, Category, Kind, Param, Ty};
use sslp::lang::{self, NoImports};

include!("../fuzz/check_plan_body.rs");

/// Builds one random program from the registry.
struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.rng.random_range(0..xs.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn kinds(category: Category) -> Vec<&'static Kind> {
        registry::all_kinds()
            .filter(|k| k.category == category)
            .collect()
    }

    /// A number near the bound's low end (integers start at small values such as 1 and 2),
    /// and one time in twenty just outside the bound.
    fn number(&mut self, p: &Param, int: bool) -> String {
        let b = p.bound;
        let lo = if b.lo.is_finite() { b.lo } else { -3.0 };
        let hi = if b.hi.is_finite() {
            b.hi
        } else {
            lo.max(0.0) + 64.0
        };
        if self.chance(0.05) && b.lo.is_finite() {
            return if int {
                format!("{}", (b.lo - 1.0).floor() as i64)
            } else {
                format!("{:?}", b.lo - 0.5)
            };
        }
        if int {
            let lo = lo.ceil() as i64 + i64::from(!b.lo_incl && lo.fract() == 0.0);
            let hi = (hi.floor() as i64).min(lo + 40).max(lo);
            let v = if self.chance(0.5) {
                lo + self.rng.random_range(0..=2).min(hi - lo)
            } else {
                self.rng.random_range(lo..=hi)
            };
            v.to_string()
        } else {
            let hi = hi.min(lo + 4.0);
            let v = lo + (hi - lo) * self.rng.random_range(0.02..0.98);
            format!("{v:?}")
        }
    }

    /// A value of `p`'s type, or `None` when the type needs context the generator lacks.
    fn value(&mut self, p: &Param, depth: usize, ctx: &Ctx) -> Option<String> {
        Some(match p.ty {
            Ty::Int => self.number(p, true),
            Ty::Float => self.number(p, false),
            Ty::Bool => self.pick(&["true", "false"]).to_string(),
            Ty::Str => format!("\"data/{}\"", p.name),
            Ty::Range => {
                let a: f64 = self.number(p, false).parse().ok()?;
                let b: f64 = self.number(p, false).parse().ok()?;
                let (a, b) = if self.chance(0.9) && a > b {
                    (b, a)
                } else {
                    (a, b)
                };
                format!("{a:?}..{b:?}")
            }
            Ty::Enum(words) => self.pick(words).to_string(),
            Ty::Amount => {
                if self.chance(0.5) {
                    format!("{:?}", self.rng.random_range(0.05..1.0f64))
                } else {
                    self.rng.random_range(1..40).to_string()
                }
            }
            Ty::List(inner) => {
                let n = self.rng.random_range(0..4);
                let one = Param { ty: *inner, ..*p };
                let items: Option<Vec<String>> =
                    (0..n).map(|_| self.value(&one, depth, ctx)).collect();
                format!("[{}]", items?.join(", "))
            }
            Ty::Kind(cat) if depth < 3 => self.call(cat, depth + 1, ctx)?,
            Ty::Policy => ctx.policy.clone()?,
            Ty::Data => self.pick(&ctx.data).clone(),
            Ty::Encoder => {
                if !ctx.encoders.is_empty() && self.chance(0.8) {
                    self.pick(&ctx.encoders).clone()
                } else {
                    self.call(Category::Backbone, depth + 1, ctx)?
                }
            }
            Ty::Device => "cpu".to_string(),
            Ty::Memory => self.pick(&["\"512M\"", "\"4G\"", "\"1T\""]).to_string(),
            Ty::Duration => self
                .pick(&["\"30m\"", "\"1d12h\"", "\"2-00:30:00\""])
                .to_string(),
            _ => return None,
        })
    }

    /// The arguments of a call of `k` (required ones always, optional ones sometimes).
    fn args(&mut self, k: &Kind, depth: usize, ctx: &Ctx, keep: f64) -> Option<Vec<String>> {
        let mut out = vec![];
        for p in k.params {
            let required = p.default == registry::Default::Required;
            if !required && !self.chance(keep) {
                continue;
            }
            match self.value(p, depth, ctx) {
                Some(v) => out.push(format!("{}: {v}", p.name)),
                None if required => return None,
                None => {}
            }
        }
        Some(out)
    }

    fn call(&mut self, cat: Category, depth: usize, ctx: &Ctx) -> Option<String> {
        let kinds = Self::kinds(cat);
        for _ in 0..8 {
            let k = *self.pick(&kinds);
            if let Some(args) = self.args(k, depth, ctx, 0.35) {
                return Some(format!("{}({})", k.name, args.join(", ")));
            }
        }
        None
    }

    fn program(&mut self) -> String {
        let mut ctx = Ctx::default();
        let mut src = format!("set seed = {}\n", self.rng.random_range(0..5));
        // Sometimes an executor (`slurm(...)` with resources, or `local()`).
        if self.chance(0.3)
            && let Some(e) = self.call(Category::Executor, 1, &ctx)
        {
            src += &format!("set executor = {e}\n");
        }
        // Data: a synthetic set (sizes known to the planner), sometimes a file-backed one (the
        // planner never reads it), and sometimes a split.
        let count = *self.pick(&[1, 2, 3, 4, 8, 16, 64, 300]);
        src += &format!(
            "dataset d = synthetic_shapes(count: {count}, size: {}, classes: {})\n",
            self.pick(&[8, 16, 32]),
            self.rng.random_range(2..=8)
        );
        ctx.data.push("d".into());
        if self.chance(0.3)
            && let Some(c) = self.call(Category::Dataset, 1, &ctx)
        {
            src += &format!("dataset other = {c}\n");
            ctx.data.push("other".into());
        }
        if self.chance(0.6) {
            let train = if self.chance(0.5) {
                format!("{:?}", self.rng.random_range(0.1..0.9f64))
            } else {
                self.rng.random_range(1..=count.max(1) + 1).to_string()
            };
            src += &format!("split parts {{\n  data = d\n  train = {train}\n}}\n");
            ctx.data
                .extend(["parts.train".to_string(), "parts.test".to_string()]);
        }
        // A policy of random ops.
        let ops = Self::kinds(Category::Op);
        let mut items = vec![];
        for _ in 0..self.rng.random_range(1..5) {
            let k = *self.pick(&ops);
            if let Some(args) = self.args(k, 1, &ctx, 0.3) {
                let p = self.pick(&["1.0", "0.5", "0.8", "0.0"]).to_string();
                items.push(format!("{}({}) @ {p}", k.name, args.join(", ")));
            }
        }
        if !items.is_empty() {
            src += &format!("policy p = [{}]\n", items.join(", "));
            ctx.policy = Some("p".into());
        }
        // Pretraining runs.
        for r in 0..self.rng.random_range(0..3) {
            let pretrain = registry::pretrain();
            let mut lines = vec![];
            for p in pretrain.params {
                let line = match p.name {
                    "method" if self.chance(0.3) => {
                        let a = self.call(Category::Method, 1, &ctx);
                        let b = self.call(Category::Method, 1, &ctx);
                        a.zip(b).map(|(a, b)| format!("sweep [{a}, {b}]"))
                    }
                    "batch" if self.chance(0.3) => {
                        let a = self.number(p, true);
                        let b = self.number(p, true);
                        Some(format!("sweep [{a}, {b}]"))
                    }
                    "views" if self.chance(0.5) => {
                        let n = self.rng.random_range(1..3);
                        let calls: Option<Vec<String>> =
                            (0..n).map(|_| self.call(Category::View, 1, &ctx)).collect();
                        calls.map(|c| format!("[{}]", c.join(", ")))
                    }
                    "epochs" => Some(self.rng.random_range(1..3).to_string()),
                    "views" => None,
                    _ => {
                        let required = p.default == registry::Default::Required;
                        if required || self.chance(0.4) {
                            self.value(p, 1, &ctx)
                        } else {
                            None
                        }
                    }
                };
                if let Some(v) = line {
                    lines.push(format!("  {} = {v}", p.name));
                }
            }
            src += &format!("pretrain r{r} {{\n{}\n}}\n", lines.join("\n"));
            ctx.encoders.push(format!("r{r}"));
        }
        // Evaluations and reports.
        let mut metrics = vec![];
        for e in 0..self.rng.random_range(0..4) {
            let k = *self.pick(&Self::kinds(Category::Eval));
            if let Some(args) = self.args(k, 1, &ctx, 0.4) {
                src += &format!("evaluate e{e} = {}({})\n", k.name, args.join(", "));
                if let Some(m) = k.metrics().first() {
                    metrics.push(format!("e{e}.{m}"));
                }
            }
        }
        if !metrics.is_empty() {
            src += &format!("report t = table(metrics: [{}])\n", metrics.join(", "));
        }
        src
    }
}

/// What generated declarations can refer to.
#[derive(Default)]
struct Ctx {
    data: Vec<String>,
    policy: Option<String>,
    encoders: Vec<String>,
}

fn generate(seed: u64) -> String {
    Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
    }
    .program()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Checking a generated program never panics, and planning a checked one never panics.
    #[test]
    fn checked_programs_plan_without_panicking(seed in any::<u64>()) {
        let src = generate(seed);
        check_and_plan(&src);
    }
}

/// The generator is not vacuous: a good share of its programs pass the checker and reach
/// the planner with pretraining runs and evaluations in them.
#[test]
fn the_generator_reaches_the_planner() {
    let mut clean = 0;
    let mut with_training = 0;
    for seed in 0..300 {
        let src = generate(seed);
        let checked = lang::check_source("gen.sslp", "gen.sslp", &src, &mut NoImports);
        if checked.diagnostics.iter().all(|d| !d.is_error()) {
            clean += 1;
            if src.contains("pretrain ") && src.contains("evaluate ") {
                with_training += 1;
            }
        }
        check_and_plan(&src);
    }
    println!("{clean} of 300 generated programs check, {with_training} of them train and evaluate");
    if std::env::var_os("SSLP_SHOW_GENERATED").is_some() {
        let mut codes = std::collections::BTreeMap::new();
        for seed in 0..300 {
            let src = generate(seed);
            let checked = lang::check_source("gen.sslp", "gen.sslp", &src, &mut NoImports);
            for d in checked.diagnostics.iter().filter(|d| d.is_error()) {
                *codes.entry(d.code.as_str()).or_insert(0) += 1;
            }
        }
        println!("errors by code: {codes:#?}");
    }
    assert!(clean >= 60, "only {clean} of 300 generated programs check");
    assert!(
        with_training >= 20,
        "only {with_training} clean programs train and evaluate"
    );
}

/// The fuzz target's body on every bundled program, and on each of them cut at every line.
#[test]
fn the_fuzz_body_holds_on_the_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![];
    let mut stack = vec![
        root.join("examples"),
        root.join("pipelines"),
        root.join("stdlib"),
        root.join("tests/data"),
    ];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "sslp") {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 5, "corpus: {files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        check_and_plan(&text);
        let mut cut = 0;
        for line in text.split_inclusive('\n') {
            cut += line.len();
            check_and_plan(&text[..cut]);
            // A line dropped from the middle.
            check_and_plan(&format!("{}{}", &text[..cut - line.len()], &text[cut..]));
        }
    }
}
