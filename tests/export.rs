//! Exports for PyTorch: the torchvision/timm file's tensors are exactly those of the
//! PyTorch models (tests/fixtures/torchvision, written by its make_keys.py from the real
//! libraries).

mod common;
use common::*;
use sslp::train::backbone::BackboneSpec;
use sslp::train::export::torchvision::backbone_to_torch;
use std::collections::BTreeMap;

/// A safetensors file's header.
fn header(bytes: &[u8]) -> serde_json::Map<String, serde_json::Value> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    match serde_json::from_slice(&bytes[8..8 + n]).unwrap() {
        serde_json::Value::Object(m) => m,
        other => panic!("not a header: {other}"),
    }
}

/// `KEY DTYPE SHAPE` lines of a header's tensors, sorted.
fn tensor_lines(bytes: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = header(bytes)
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| {
            let shape: Vec<String> = v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.to_string())
                .collect();
            format!("{k} {} {}", v["dtype"].as_str().unwrap(), shape.join(","))
                .trim_end()
                .to_string()
        })
        .collect();
    lines.sort();
    lines
}

/// The committed lines of a fixture, sorted (comments dropped).
fn fixture(name: &str) -> Vec<String> {
    let path = root().join(format!("tests/fixtures/torchvision/{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn exported_tensors_are_torchvisions_and_timms() {
    let dev = burn::tensor::Device::flex();
    let resnet = |depth, cifar_stem| BackboneSpec::ResNet {
        depth,
        cifar_stem,
        zero_init_residual: false,
    };
    for (spec, name) in [
        (resnet(18, false), "resnet18"),
        (resnet(18, true), "resnet18_cifar"),
        (resnet(34, false), "resnet34"),
        (resnet(50, false), "resnet50"),
        (
            BackboneSpec::Vit {
                patch: 4,
                depth: 2,
                width: 32,
                heads: 4,
                mlp_ratio: 2.0,
                image_size: 32,
            },
            "vit_p4_d2_w32_h4_m2_i32",
        ),
    ] {
        let net = spec.init(&dev);
        let out = backbone_to_torch(&net, &BTreeMap::new()).unwrap();
        let expected = fixture(name);
        let got = tensor_lines(&out.bytes);
        let missing: Vec<&String> = expected.iter().filter(|l| !got.contains(l)).collect();
        let extra: Vec<&String> = got.iter().filter(|l| !expected.contains(l)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{name}: missing {missing:#?}\nextra {extra:#?}"
        );
        assert_eq!(got.len(), expected.len(), "{name}");
        // Deterministic bytes: the same weights give the same file.
        assert_eq!(
            out.bytes,
            backbone_to_torch(&net, &BTreeMap::new()).unwrap().bytes
        );
    }
}
