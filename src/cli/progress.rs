//! Rendering a run's progress events: for people, a bar on a terminal and one
//! line per step otherwise; for tools, one JSON object per line on stdout.

use crate::exec::events::{Epoch, Event, Progress};
use crate::exec::{Outcome, memory};
use crate::plan::Step;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;

/// Prints step progress to stderr.
pub struct Printer {
    bar: Option<ProgressBar>,
    counter: Mutex<(usize, usize)>,
}

impl Printer {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} steps {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        });
        Printer {
            bar,
            counter: Mutex::new((0, 0)),
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Default for Printer {
    fn default() -> Self {
        Self::new()
    }
}

fn describe(step: &Step) -> String {
    format!("{} {} {}", step.key.short(), step.kind, step.decl)
}

impl Printer {
    fn begin(&self, total: usize, cached: usize) {
        if let Ok(mut c) = self.counter.lock() {
            *c = (0, total);
        }
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
        }
        self.line(&format!(
            "{total} steps needed, {cached} already in the store"
        ));
    }

    fn ended(&self, step: &Step, outcome: &Outcome) {
        let (n, total) = match self.counter.lock() {
            Ok(mut c) => {
                c.0 += 1;
                *c
            }
            Err(_) => (0, 0),
        };
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        let text = match outcome {
            Outcome::Cached => return,
            Outcome::Ran { seconds, peak_rss } => {
                let peak =
                    peak_rss.map_or(String::new(), |b| format!(", peak {}", memory::human(b)));
                format!(
                    "[{n}/{total}] ran     {} ({seconds:.2} s{peak})",
                    describe(step)
                )
            }
            Outcome::Failed(m) => format!("[{n}/{total}] FAILED  {}: {m}", describe(step)),
            Outcome::Skipped => {
                format!("[{n}/{total}] skipped {} (an input failed)", describe(step))
            }
        };
        self.line(&text);
    }
}

/// An epoch as one line: `ssl epoch 3/5: loss 1.9675, lr 1.520e-2, std ..., 817 img/s, ...`.
pub fn epoch_line(e: &Epoch) -> String {
    let mut line = format!(
        "{} epoch {}/{}: loss {:.4}",
        e.stage, e.epoch, e.epochs, e.loss
    );
    if let Some(lr) = e.lr {
        line.push_str(&format!(", lr {lr:.3e}"));
    }
    if let Some(h) = &e.health {
        line.push_str(&format!(
            ", std {:.4} (1/√d {:.4}), align {:.3}, uniform {:.3}",
            h.embedding_std,
            1.0 / (h.dim.max(1) as f64).sqrt(),
            h.alignment,
            h.uniformity
        ));
        if h.collapsing {
            line.push_str(" COLLAPSING");
        }
    }
    if let Some(t) = e.monitor_top1 {
        line.push_str(&format!(", knn {:.1}%", 100.0 * t));
    }
    if let Some(s) = &e.speed {
        line.push_str(&format!(
            ", {:.0} img/s, {:.0}% waiting for data",
            s.images_per_sec,
            100.0 * s.data_wait_fraction
        ));
    }
    line
}

impl Progress for Printer {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::Begin { total, cached } => self.begin(*total, *cached),
            Event::Started { step } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("running {}", describe(step)));
                }
            }
            Event::Epoch { step, epoch } => {
                self.line(&format!(
                    "        {} {}",
                    step.key.short(),
                    epoch_line(epoch)
                ));
            }
            Event::Notes { step, notes } => {
                for n in *notes {
                    self.line(&format!(
                        "        {} note[{}]: {}",
                        step.key.short(),
                        n.code,
                        n.message
                    ));
                }
            }
            Event::Ended { step, outcome } => self.ended(step, outcome),
        }
    }
}

/// Streams every event as one JSON object per line on stdout (`sslp run --format json`).
pub struct JsonLines {
    out: Mutex<std::io::Stdout>,
}

impl JsonLines {
    /// Events to stdout.
    pub fn new() -> Self {
        JsonLines {
            out: Mutex::new(std::io::stdout()),
        }
    }
}

impl Default for JsonLines {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for JsonLines {
    fn event(&self, event: &Event<'_>) {
        use std::io::Write;
        let Ok(line) = serde_json::to_string(event) else {
            return;
        };
        if let Ok(out) = self.out.lock() {
            let mut out = out.lock();
            // A closed pipe ends the stream; the run goes on.
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::events::{EpochHealth, EpochSpeed};

    #[test]
    fn epoch_lines_read_as_before() {
        let mut e = Epoch::loss_only("autoencoder", 2, 5, 0.12345, None);
        assert_eq!(epoch_line(&e), "autoencoder epoch 2/5: loss 0.1235");
        e.stage = "ssl".into();
        e.lr = Some(0.0152);
        e.health = Some(EpochHealth {
            dim: 256,
            embedding_std: 0.0276,
            alignment: 0.093,
            uniformity: -0.723,
            collapsing: false,
        });
        e.monitor_top1 = Some(0.8);
        e.speed = Some(EpochSpeed {
            images_per_sec: 817.2,
            data_wait_fraction: 0.001,
        });
        assert_eq!(
            epoch_line(&e),
            "ssl epoch 2/5: loss 0.1235, lr 1.520e-2, std 0.0276 (1/√d 0.0625), align 0.093, \
             uniform -0.723, knn 80.0%, 817 img/s, 0% waiting for data"
        );
    }
}
