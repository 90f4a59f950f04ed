//! `sslp run --executor slurm` against a real Slurm: the single-node cluster
//! of `tests/slurm/cluster.sh`, which `.ci/run` starts (and exports
//! `SLURM_CONF` for). Without a cluster these tests say so and pass, unless
//! `SSLP_REQUIRE_SLURM=1` (as in CI), where a missing cluster is a failure.
//!
//! The tests share the cluster's two CPUs, so they run one at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static CLUSTER: Mutex<()> = Mutex::new(());

/// Whether a cluster is there to test against (panics when one is required and absent).
fn cluster() -> bool {
    let conf = std::env::var_os("SLURM_CONF").map(PathBuf::from);
    let up = conf.as_deref().is_some_and(Path::is_file)
        && Command::new("sinfo")
            .args(["-h", "-o", "%t"])
            .output()
            .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        assert!(
            std::env::var_os("SSLP_REQUIRE_SLURM").is_none(),
            "SSLP_REQUIRE_SLURM is set but no Slurm cluster answers (SLURM_CONF={conf:?}); start one with `eval \"$(tests/slurm/cluster.sh start)\"`"
        );
        eprintln!(
            "no Slurm cluster (SLURM_CONF unset or sinfo fails): skipping; `eval \"$(tests/slurm/cluster.sh start)\"` starts one"
        );
    }
    up
}

const TINY: &str = include_str!("slurm/tiny.sslp");

fn sslp(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sslp"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("SSLP_STORE")
        .output()
        .expect("sslp runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every completion record of a store: key -> (status, output blobs, the metrics that are
/// not timings).
fn records(store: &Path) -> BTreeMap<String, (String, String, String)> {
    let mut out = BTreeMap::new();
    for a in std::fs::read_dir(store.join("records")).unwrap().flatten() {
        for b in std::fs::read_dir(a.path()).unwrap().flatten() {
            let r: serde_json::Value =
                serde_json::from_slice(&std::fs::read(b.path()).unwrap()).unwrap();
            let mut metrics = r["metrics"].as_object().cloned().unwrap_or_default();
            metrics.retain(|k, _| !k.contains("per_sec") && !k.contains("seconds"));
            let blobs: BTreeMap<String, String> = r["outputs"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, o)| o["as"] == "blob")
                .map(|(n, o)| (n.clone(), o["blob"]["hash"].to_string()))
                .collect();
            out.insert(
                format!(
                    "{}{}",
                    a.file_name().to_string_lossy(),
                    b.file_name().to_string_lossy()
                ),
                (
                    r["status"].to_string(),
                    format!("{blobs:?}"),
                    serde_json::Value::Object(metrics).to_string(),
                ),
            );
        }
    }
    out
}

/// The job ids the store holds, one per submitted step.
fn job_ids(store: &Path) -> Vec<String> {
    // Before the coordinator made the store there is none; entries are written atomically.
    let Ok(entries) = std::fs::read_dir(store.join("jobs")) else {
        return vec![];
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            v["job_id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids
}

fn squeue_state(job: &str) -> String {
    let o = Command::new("squeue")
        .args(["-h", "-t", "all", "-o", "%T", "-j", job])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn workdir(pipeline: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.sslp"), pipeline).unwrap();
    dir
}

#[test]
fn slurm_runs_what_local_runs_byte_for_byte_and_a_second_run_submits_nothing() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster() {
        return;
    }
    let dir = workdir(TINY);
    let o = sslp(
        dir.path(),
        &["run", "p.sslp", "--executor", "slurm", "--wait"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("submitted 10 jobs"), "{}", text(&o));
    let o = sslp(
        dir.path(),
        &["run", "p.sslp", "--store", "local", "--executor", "local"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let slurm = records(&dir.path().join(".sslp"));
    let local = records(&dir.path().join("local"));
    assert_eq!(slurm.len(), 10);
    assert_eq!(slurm, local, "the executors' outputs differ");
    // Everything is in the store: nothing is submitted again.
    let o = sslp(dir.path(), &["run", "p.sslp", "--executor", "slurm"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("submitted 0 jobs (10 cached"),
        "{}",
        text(&o)
    );
    assert_eq!(job_ids(&dir.path().join(".sslp")).len(), 10);
    let o = sslp(dir.path(), &["status", "p.sslp"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("2 arms: 2 done"), "{}", text(&o));
}

#[test]
fn a_failing_arm_fails_alone_with_its_reason() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster() {
        return;
    }
    let diverging = TINY.replace(
        "  seed = sweep [1, 2]\n",
        "  optimizer = sgd(lr: sweep [0.01, 1e30])\n",
    );
    let dir = workdir(&diverging);
    let o = sslp(
        dir.path(),
        &["run", "p.sslp", "--executor", "slurm", "--wait"],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("1 failed"), "{out}");
    assert!(out.contains("the loss became NaN"), "{out}");
    let o = sslp(dir.path(), &["status", "p.sslp"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let line = |arm: &str| {
        out.lines()
            .find(|l| l.starts_with(arm))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("nn[optimizer.lr=0.01]").contains("done"), "{out}");
    let failed = line("nn[optimizer.lr=1e30]");
    assert!(
        failed.contains("failed") || failed.contains("cancelled"),
        "{out}"
    );
}

#[test]
fn a_killed_coordinator_reattaches_without_duplicates_and_cancelled_jobs_are_resubmitted() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster() {
        return;
    }
    let dir = workdir(TINY);
    let store = dir.path().join(".sslp");
    // A coordinator that follows its jobs, killed as soon as they are queued.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sslp"))
        .args(["run", "p.sslp", "--executor", "slurm", "--wait"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while job_ids(&store).len() < 10 && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let first = job_ids(&store);
    assert_eq!(first.len(), 10);
    // Cancel the last job (a kNN that waits on its features) while it is still queued.
    let last = first
        .iter()
        .max_by_key(|id| id.parse::<u64>().unwrap_or(0))
        .unwrap()
        .clone();
    let _ = Command::new("scancel").arg(&last).status();
    // A new coordinator re-attaches: it submits only the cancelled job again.
    let o = sslp(
        dir.path(),
        &["run", "p.sslp", "--executor", "slurm", "--wait"],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let ids = job_ids(&store);
    assert_eq!(ids.len(), 10, "{out}");
    let new: Vec<&String> = ids.iter().filter(|id| !first.contains(id)).collect();
    assert!(
        new.len() <= 1,
        "only the cancelled job is submitted again: {new:?}\n{out}"
    );
    if new.is_empty() {
        // It had finished before scancel reached it.
        assert_eq!(squeue_state(&last), "COMPLETED");
    } else {
        assert_eq!(squeue_state(&last), "CANCELLED");
    }
    assert!(out.contains("10 done"), "{out}");
}

#[test]
fn a_cancelled_job_is_reported_as_cancelled() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster() {
        return;
    }
    let dir = workdir(TINY);
    let store = dir.path().join(".sslp");
    let o = sslp(dir.path(), &["run", "p.sslp", "--executor", "slurm"]);
    assert!(o.status.success(), "{}", text(&o));
    // A local run does not compute what the jobs are computing.
    let o = sslp(dir.path(), &["run", "p.sslp", "--executor", "local"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("queued or running as Slurm jobs"),
        "{}",
        text(&o)
    );
    // The first job (the dataset) is cancelled: everything waits on it.
    let first = job_ids(&store)
        .into_iter()
        .min_by_key(|id| id.parse::<u64>().unwrap_or(0))
        .unwrap();
    let _ = Command::new("scancel").arg(&first).status();
    let t = Instant::now();
    let out = loop {
        let o = sslp(dir.path(), &["status", "p.sslp"]);
        let out = text(&o);
        if !out.contains("queued") && !out.contains("running") {
            break out;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "{out}");
        std::thread::sleep(Duration::from_millis(300));
    };
    if squeue_state(&first) == "CANCELLED" {
        assert!(out.contains("cancelled"), "{out}");
        assert!(
            out.lines()
                .filter(|l| l.starts_with("nn["))
                .all(|l| l.contains("cancelled")),
            "{out}"
        );
    }
    // `run` again resubmits what is missing, and finishes.
    let o = sslp(
        dir.path(),
        &["run", "p.sslp", "--executor", "slurm", "--wait"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = sslp(dir.path(), &["status", "p.sslp"]);
    assert!(text(&o).contains("2 arms: 2 done"), "{}", text(&o));
}

#[test]
fn dry_run_prints_the_job_scripts_and_submits_nothing() {
    // Needs no cluster: nothing is submitted.
    let dir = workdir(TINY);
    let o = sslp(
        dir.path(),
        &[
            "run",
            "p.sslp",
            "--executor",
            "slurm",
            "--dry-run",
            "--partition",
            "gpu",
            "--account",
            "lab",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_eq!(out.matches("#!/bin/bash").count(), 10, "{out}");
    assert!(out.contains("#SBATCH --partition=gpu"), "{out}");
    assert!(out.contains("#SBATCH --account=lab"), "{out}");
    assert!(out.contains("#SBATCH --kill-on-invalid-dep=yes"), "{out}");
    assert!(out.contains("--dependency=afterok:"), "{out}");
    assert!(out.contains(" worker "), "{out}");
    assert!(out.contains("would submit 10 jobs"), "{out}");
    // The file's `set executor = slurm(...)` is what runs without `--executor`.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/slurm_sweep.sslp");
    let o = sslp(
        dir.path(),
        &[
            "run",
            example.to_str().unwrap(),
            "--dry-run",
            "--store",
            "example-store",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("#SBATCH --partition=cpu"), "{out}");
    assert!(out.contains("#SBATCH --qos=normal"), "{out}");
    assert!(
        out.contains("#SBATCH --cpus-per-task=4\n#SBATCH --mem=4G\n#SBATCH --time=01:00:00"),
        "{out}"
    );
    assert!(
        std::fs::read_dir(dir.path().join(".sslp/jobs"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0
    );
}

#[test]
fn a_requeued_job_resumes_from_its_checkpoint_with_the_weights_of_an_uninterrupted_run() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster() {
        return;
    }
    // One pretraining long enough (ten epochs of a second or so) to be caught running.
    let long = TINY
        .replace("count: 64", "count: 1200")
        .replace(
            "tiny_convnet(width: 4, depth: 2)",
            "tiny_convnet(width: 8, depth: 2)",
        )
        .replace("  epochs = 1\n", "  epochs = 10\n")
        .replace("  seed = sweep [1, 2]\n", "");
    let dir = workdir(&long);
    let store = dir.path().join(".sslp");
    let o = sslp(dir.path(), &["run", "p.sslp", "--executor", "slurm"]);
    assert!(o.status.success(), "{}", text(&o));
    let hex = std::fs::read_dir(store.join("jobs"))
        .unwrap()
        .flatten()
        .find(|e| {
            e.path().extension().is_some_and(|x| x == "sh")
                && std::fs::read_to_string(e.path())
                    .unwrap()
                    .contains("sslp-pretrain-")
        })
        .map(|e| e.path().file_stem().unwrap().to_string_lossy().into_owned())
        .expect("a pretraining job");
    let entry: serde_json::Value = serde_json::from_slice(
        &std::fs::read(store.join("jobs").join(format!("{hex}.json"))).unwrap(),
    )
    .unwrap();
    let job = entry["job_id"].as_str().unwrap().to_string();
    // Pre-empt it once it has checkpointed an epoch.
    let t = Instant::now();
    while !(store.join("checkpoints").join(&hex).is_file() && squeue_state(&job) == "RUNNING") {
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "no checkpoint: {}",
            squeue_state(&job)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let requeue = Command::new("scontrol")
        .args(["requeue", &job])
        .output()
        .unwrap();
    assert!(requeue.status.success(), "{requeue:?}");
    // Slurm holds a requeued job for a while (Reason=BeginTime); let it start in a few
    // seconds instead. (Not at once: a restart within the second its old run's job
    // credential was revoked is refused, "Job credential revoked", and the job fails.)
    let t = Instant::now();
    while squeue_state(&job) != "PENDING" && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("scontrol")
        .args(["update", &format!("JobId={job}"), "StartTime=now+3"])
        .output();
    let state_before = squeue_state(&job);
    let o = sslp(
        dir.path(),
        &["run", "p.sslp", "--executor", "slurm", "--wait"],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("submitted 0 jobs"),
        "the requeued job is followed, not resubmitted (it was {state_before}, now {}): {out}\nits log:\n{}",
        squeue_state(&job),
        std::fs::read_to_string(store.join("jobs").join(format!("{hex}.out"))).unwrap_or_default()
    );
    let log = std::fs::read_to_string(store.join("jobs").join(format!("{hex}.out"))).unwrap();
    assert!(log.contains("(restart 1)"), "{log}");
    // The resumed run ends with exactly the weights of an uninterrupted one.
    let o = sslp(
        dir.path(),
        &["run", "p.sslp", "--store", "local", "--executor", "local"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let resumed = records(&store);
    let local = records(&dir.path().join("local"));
    assert_eq!(resumed[&hex].1, local[&hex].1, "the weights differ");
}
