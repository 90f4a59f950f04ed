//! `sslp export`: the torchvision/timm file's tensors are exactly those of the PyTorch
//! models (tests/fixtures/torchvision, written by its make_keys.py from the real
//! libraries), and the command exports a pretraining run by key.
//!
//! `pytorch_parity_dump` (ignored; run by hand) writes exported files, the Python lines
//! that load them, a fixed input and our features on it, for
//! tests/fixtures/torchvision/check_forward.py to compare with PyTorch's forward pass.

mod common;
use common::*;
use sslp::exec::store::{Output, Store};
use sslp::train::backbone::BackboneSpec;
use sslp::train::export::torchvision::backbone_to_torch;
use std::collections::BTreeMap;
use std::path::Path;

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

const PIPELINE: &str = r#"
set seed = 3
dataset shapes = synthetic_shapes(count: 16, size: 32, classes: 4)
pretrain ssl {
  data = shapes
  backbone = resnet18(cifar_stem: true)
  method = simclr(proj_hidden: 32, proj_dim: 16)
  policy = [horizontal_flip() @ 0.5]
  epochs = 1
  batch = 8
  optimizer = sgd(lr: 0.05)
  lr_scaling = "none"
}
"#;

/// The short key of the step `decl` in the store at `dir`.
fn key_of(dir: &Path, decl: &str) -> String {
    let store = Store::open_read(dir).unwrap();
    let records = store.records().unwrap();
    let (k, _) = records
        .iter()
        .find(|(_, r)| r.decl == decl)
        .unwrap_or_else(|| panic!("no step {decl}"));
    k.short()
}

#[test]
fn export_writes_a_pretraining_runs_backbone_for_torchvision() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.sslp");
    std::fs::write(&file, PIPELINE).unwrap();
    let out = sslp(&["run", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let store = dir.path().join(".sslp");
    let store_arg = store.display().to_string();
    let key = key_of(&store, "ssl");

    let f = dir.path().join("r18.safetensors");
    let f_arg = f.display().to_string();
    let out = sslp(&[
        "export",
        &key,
        "--format",
        "torchvision",
        "-o",
        &f_arg,
        "--store",
        &store_arg,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bytes = std::fs::read(&f).unwrap();
    assert_eq!(tensor_lines(&bytes), fixture("resnet18_cifar"));
    let meta = &header(&bytes)["__metadata__"];
    assert_eq!(meta["format"], "torchvision");
    assert_eq!(meta["architecture"], "resnet18");
    assert!(
        meta["differences"].as_str().unwrap().contains("cifar_stem"),
        "{meta}"
    );
    assert!(meta["sslp_key"].as_str().unwrap().starts_with(&key));
    // The Python lines, for this file; the CIFAR stem is said on stderr too.
    let text = stdout(&out);
    for line in [
        "model = torchvision.models.resnet18()",
        "model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)",
        "model.maxpool = torch.nn.Identity()",
        "model.fc = torch.nn.Identity()",
        &format!("model.load_state_dict(load_file({f_arg:?}), strict=True)"),
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(
        stderr(&out).contains("note: cifar_stem"),
        "{}",
        stderr(&out)
    );

    // burn's names: the file the step stored, as it is.
    let g = dir.path().join("burn.safetensors");
    let out = sslp(&[
        "export",
        &key,
        "--format",
        "safetensors",
        "-o",
        &g.display().to_string(),
        "--store",
        &store_arg,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = Store::open_read(&store).unwrap();
    let record = s
        .records()
        .unwrap()
        .into_iter()
        .find(|(_, r)| r.decl == "ssl")
        .unwrap()
        .1;
    let Some(Output::Blob { blob }) = record.outputs.get("backbone.safetensors") else {
        panic!("no stored safetensors")
    };
    assert_eq!(std::fs::read(&g).unwrap(), s.get_blob(blob).unwrap());

    // A step without a backbone, or no step at all: an error naming the runs there are.
    let data_key = key_of(&store, "shapes");
    for run in [data_key.as_str(), "ffffffff", "nosuchname"] {
        let out = sslp(&["export", run, "--store", &store_arg]);
        assert_eq!(out.status.code(), Some(1), "{run}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("{key}  pretrain ssl")), "{err}");
    }
    // A store that is not there is not made.
    let missing = dir.path().join("no-store");
    let out = sslp(&["export", &key, "--store", &missing.display().to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no store at"), "{}", stderr(&out));
    assert!(!missing.exists());
}

/// Writes, for each network, the exported file, the Python lines `sslp export` printed,
/// a fixed input and our features on it into `$SSLP_EXPORT_DUMP` (by hand: see
/// tests/fixtures/torchvision/check_forward.py).
#[test]
#[ignore = "run by hand, with SSLP_EXPORT_DUMP set, before check_forward.py"]
fn pytorch_parity_dump() {
    let Some(out_dir) = std::env::var_os("SSLP_EXPORT_DUMP") else {
        panic!("set SSLP_EXPORT_DUMP to a folder")
    };
    let out_dir = Path::new(&out_dir);
    std::fs::create_dir_all(out_dir).unwrap();
    let runs = [
        ("r18_cifar", "resnet18(cifar_stem: true)", 32),
        ("r50", "resnet50()", 64),
        (
            "vit",
            "vit_tiny(patch: 4, depth: 2, width: 32, heads: 4, mlp_ratio: 2.0)",
            32,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("set seed = 3\n");
    for (name, backbone, side) in runs {
        text.push_str(&format!(
            "dataset d_{name} = synthetic_shapes(count: 32, size: {side}, classes: 4)\npretrain {name} {{\n  data = d_{name}\n  backbone = {backbone}\n  method = simclr(proj_hidden: 32, proj_dim: 16)\n  policy = [horizontal_flip() @ 0.5, color_jitter() @ 0.8]\n  epochs = 2\n  batch = 8\n  optimizer = sgd(lr: 0.05)\n  lr_scaling = \"none\"\n}}\n"
        ));
    }
    let file = dir.path().join("p.sslp");
    std::fs::write(&file, text).unwrap();
    let out = sslp(&["run", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let store_dir = dir.path().join(".sslp");
    let store = Store::open_read(&store_dir).unwrap();
    for (name, _, side) in runs {
        let key = key_of(&store_dir, name);
        let weights = out_dir.join(format!("{name}.safetensors"));
        let out = sslp(&[
            "export",
            &key,
            "-o",
            &weights.display().to_string(),
            "--store",
            &store_dir.display().to_string(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        std::fs::write(out_dir.join(format!("{name}.py")), stdout(&out)).unwrap();
        // Our features, from the stored burn record, on a fixed input.
        let run = sslp::exec::export::find_run(&store, &key).unwrap();
        let net = sslp::exec::export::load_run_backbone(&store, &run.0, &run.1).unwrap();
        let dev = burn::tensor::Device::flex();
        let shape = [4, 3, side, side];
        let n: usize = shape.iter().product();
        // A fixed, sign-changing input with the scale of normalised pixels.
        let x: Vec<f32> = (0..n)
            .map(|i| ((i as f64 * 0.7311).sin() * 1.7) as f32)
            .collect();
        let input = burn::tensor::Tensor::<4>::from_data(
            burn::tensor::TensorData::new(x.clone(), shape.to_vec()),
            &dev,
        );
        let f = net.forward(input);
        let dims = f.dims().to_vec();
        let feats = f.try_into_vec_as::<f32>().unwrap();
        let raw = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        std::fs::write(out_dir.join(format!("{name}.input.f32")), raw(&x)).unwrap();
        std::fs::write(out_dir.join(format!("{name}.features.f32")), raw(&feats)).unwrap();
        std::fs::write(
            out_dir.join(format!("{name}.json")),
            serde_json::json!({"input": shape, "features": dims}).to_string(),
        )
        .unwrap();
    }
}
