use crate::lang::Code;
use crate::lang::diagnostic::render;

use super::relevance_tests::{BASE, check};

/// (code, line) of every error.
fn errors(rest: &str) -> Vec<(Code, usize)> {
    let c = check(rest);
    c.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            let text = format!("{BASE}{rest}");
            let line = text[..d.primary.span.start as usize].lines().count();
            (d.code, line)
        })
        .collect()
}

const DATA: &str = "train: parts.train, test: parts.test";

#[test]
fn raw_pixels_is_a_baseline_for_frozen_features() {
    for eval in [
        format!("knn(backbone: raw_pixels(), {DATA})"),
        format!("linear_probe(backbone: raw_pixels(), {DATA})"),
        "kmeans(backbone: raw_pixels(), data: parts.test, clusters: 4)".to_string(),
        "tsne(backbone: raw_pixels(), data: parts.test)".to_string(),
        format!("knn(backbone: sweep [tiny_convnet(), raw_pixels()], {DATA})"),
    ] {
        assert_eq!(errors(&format!("evaluate e = {eval}\n")), [], "{eval}");
    }
}

#[test]
fn raw_pixels_where_a_network_is_trained_is_an_error() {
    let pretrain = |backbone: &str| {
        format!(
            "pretrain ssl {{\n  data = parts.train\n  backbone = {backbone}\n  method = simclr()\n  policy = [horizontal_flip()]\n}}\n"
        )
    };
    let e = Code::UntrainableBackbone;
    // Line 7 is the first line after BASE.
    assert_eq!(errors(&pretrain("raw_pixels()")), [(e, 9)]);
    assert_eq!(
        errors(&pretrain("sweep [tiny_convnet(), raw_pixels()]")),
        [(e, 9)]
    );
    assert_eq!(
        errors(&format!("let b = raw_pixels()\n{}", pretrain("b"))),
        [(e, 10)]
    );
    assert_eq!(
        errors(&format!(
            "evaluate s = segmentation(backbone: raw_pixels(), {DATA})\n"
        )),
        [(e, 7)]
    );
    assert_eq!(
        errors(&format!(
            "evaluate f = finetune(backbone: raw_pixels(), {DATA})\n"
        )),
        [(e, 7)]
    );
    // G-SimCLR is a pretraining run like any other.
    let g = pretrain("raw_pixels()").replace("simclr()", "g_simclr()");
    assert_eq!(errors(&g), [(e, 9)]);
}

#[test]
fn untrainable_backbone_snapshot() {
    let rest = format!("backbone px = raw_pixels()\nevaluate f = finetune(backbone: px, {DATA})\n");
    let c = check(&rest);
    insta::assert_snapshot!(render::graphical_all(&c.diagnostics, &c.sources, false));
}
