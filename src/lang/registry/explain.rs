//! The rendering of a kind's documentation for `sslp explain NAME`: its doc,
//! the facts its category adds (offline, views, metrics, deviations) and a
//! table of its parameters. It reads every category, so it lives apart from
//! all of them.

use super::{Default, Info, Kind, deviations};

/// Renders a kind's documentation (`sslp explain NAME`).
pub fn explain(k: &Kind) -> String {
    let mut out = format!("{} — {}\n  {}\n", k.name, k.category.noun(), k.doc);
    if let Info::Op { offline: true, .. } = k.info {
        out.push_str("  offline: computed once per image and cached by content hash; `render` is applied per draw\n");
    }
    if let Info::Method { multicrop } = k.info {
        out.push_str(if multicrop {
            "  views: two global views, plus local crops (multi-crop)\n"
        } else {
            "  views: exactly two global views\n"
        });
    }
    if let Info::FixedBackbone = k.info {
        out.push_str("  not a network: nothing to train, so only evaluations on frozen features (knn, linear_probe, kmeans, tsne) take it\n");
    }
    if let Info::Eval { metrics, .. } = k.info {
        out.push_str(&format!("  metrics: {}", metrics.join(", ")));
        if metrics.contains(&"top5") {
            out.push_str(" (top5 only with more than 5 classes)");
        }
        out.push('\n');
    }
    if let Some(example) = example(k) {
        out.push_str(&format!("  example: {example}\n"));
    }
    let differs = deviations(k.name);
    if !differs.is_empty() {
        out.push_str("  differs from the reference recipe:\n");
        for d in differs {
            out.push_str(&format!("    - {d}\n"));
        }
    }
    if let Info::Op {
        deterministic,
        model_input,
        ..
    } = k.info
    {
        if model_input {
            out.push_str("  applied to every image when a batch enters the network (not a policy step); `@ p` has no effect\n");
        } else {
            out.push_str("  probability: write `op(...) @ p` (default p = 1.0)\n");
        }
        if deterministic && !model_input {
            out.push_str("  deterministic: draws no randomness (with p = 1); offline ops after it are cached\n");
        }
    }
    if k.params.is_empty() {
        out.push_str("\n  (no parameters)\n");
        return out;
    }
    out.push('\n');
    let rows: Vec<[String; 4]> = k
        .params
        .iter()
        .map(|p| {
            let default = match p.default {
                Default::Required => "required".to_string(),
                Default::Optional => "optional".to_string(),
                Default::Src(s) => s.to_string(),
            };
            let range = if p.bound.is_any() {
                String::new()
            } else {
                p.bound.describe()
            };
            let mut doc = p.doc.to_string();
            if let Some(cond) = p.applies_when {
                doc.push_str(&format!(" ({})", cond.describe()));
            }
            if !p.in_key {
                doc.push_str(" (not part of the cache key)");
            }
            [
                p.name.to_string(),
                format!("{} = {}", p.ty.describe(), default),
                range,
                doc,
            ]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].chars().count()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r[2].chars().count()).max().unwrap_or(0);
    for r in rows {
        let line = format!(
            "  {:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = w0,
            w1 = w1,
            w2 = w2
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A line of `.sslp` that shows how a kind is written, for the kinds whose place is not obvious.
fn example(k: &Kind) -> Option<&'static str> {
    Some(match k.name {
        "slurm" => {
            "set executor = slurm(partition: \"gpu\", default: resources(time: \"2h\"), pretrain: resources(gpus: 1, cpus: 8, mem: \"32G\", time: \"12h\"))"
        }
        "local" => "set executor = local()",
        "resources" => {
            "resources = resources(gpus: 1, cpus: 8, mem: \"32G\", time: \"1d12h\")  (in a `pretrain` block), or `pretrain: resources(...)` in `slurm(...)`"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::kind_named;
    use super::*;

    #[test]
    fn explain_shows_conditions() {
        let text = explain(kind_named("linear_probe").unwrap());
        assert!(text.contains("(only when `solver` is sgd)"), "{text}");
        let text = explain(kind_named("knn").unwrap());
        assert!(text.contains("(only when `distance` is cosine)"), "{text}");
    }
}
