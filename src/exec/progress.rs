//! Progress for people: a bar on a terminal, one line per step otherwise.

use super::executor::{Outcome, Progress, StepNote};
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

impl Progress for Printer {
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

    fn started(&self, step: &Step) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("running {}", describe(step)));
        }
    }

    fn note(&self, step: &Step, text: &str) {
        self.line(&format!("        {} {text}", step.key.short()));
    }

    fn notes(&self, step: &Step, notes: &[StepNote]) {
        for n in notes {
            self.line(&format!(
                "        {} note[{}]: {}",
                step.key.short(),
                n.code,
                n.message
            ));
        }
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
                let peak = peak_rss.map_or(String::new(), |b| {
                    format!(", peak {}", super::memory::human(b))
                });
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
