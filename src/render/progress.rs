//! Apply progress for people. On a terminal: one live line per running
//! resource (indicatif) with its current step, elapsed time and, for image
//! loads, the bytes moved; finished resources print a line above. Not on a
//! terminal: plain lines stamped with the time since the run began. Quiet:
//! nothing but failures. Errors are always shown.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kindform_api::printable::printable_styled;

use crate::event::Event;

/// How much to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Failures only.
    Quiet,
    /// Progress.
    Normal,
    /// Progress and the output of builds and tools.
    Verbose,
}

enum Mode {
    Terminal {
        multi: MultiProgress,
        bars: HashMap<String, ProgressBar>,
    },
    Plain {
        bytes_shown: HashMap<String, u64>,
    },
}

/// Shows apply events as they come.
pub struct ProgressView {
    mode: Mode,
    verbosity: Verbosity,
    started: Instant,
}

fn megabytes(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{:.1} kB", bytes as f64 / 1_000.0)
    } else {
        format!("{:.1} MB", bytes as f64 / 1_000_000.0)
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                l.to_owned()
            } else {
                format!("    {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl ProgressView {
    /// A view drawing live lines when `terminal`, plain lines otherwise.
    pub fn new(verbosity: Verbosity, terminal: bool) -> Self {
        let mode = if terminal && verbosity != Verbosity::Quiet {
            Mode::Terminal {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: HashMap::new(),
            }
        } else {
            Mode::Plain {
                bytes_shown: HashMap::new(),
            }
        };
        ProgressView {
            mode,
            verbosity,
            started: Instant::now(),
        }
    }

    fn stamp(&self) -> String {
        format!("[{:>6.1}s]", self.started.elapsed().as_secs_f64())
    }

    fn line(&self, text: String) {
        let text = printable_styled(&text).into_owned();
        match &self.mode {
            Mode::Terminal { multi, .. } => {
                let _ = multi.println(text);
            }
            Mode::Plain { .. } => eprintln!("{} {text}", self.stamp()),
        }
    }

    /// Shows one event.
    pub fn handle(&mut self, event: &Event) {
        let quiet = self.verbosity == Verbosity::Quiet;
        match event {
            Event::Failed {
                address,
                action,
                seconds,
                error,
            } => {
                self.clear(address);
                self.line(format!(
                    "{address}: {} failed after {seconds:.1}s: {}",
                    action.word(),
                    indent(error)
                ));
            }
            _ if quiet => {}
            Event::Started { address, action } => match &mut self.mode {
                Mode::Terminal { multi, bars } => {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} {prefix:.bold} {wide_msg} {elapsed}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(address.clone());
                    bar.set_message(action.word());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bars.insert(address.clone(), bar);
                }
                Mode::Plain { .. } => eprintln!("{} {address}: {}", self.stamp(), action.word()),
            },
            Event::Step { address, text } => match &self.mode {
                Mode::Terminal { bars, .. } => {
                    if let Some(bar) = bars.get(address) {
                        bar.set_message(printable_styled(text).into_owned());
                    }
                }
                Mode::Plain { .. } => {
                    eprintln!("{} {address}: {}", self.stamp(), printable_styled(text))
                }
            },
            Event::Output { address, line } => {
                if self.verbosity == Verbosity::Verbose {
                    self.line(format!("{address}: | {line}"));
                }
            }
            Event::Bytes {
                address,
                moved,
                total,
            } => {
                let shown = match total {
                    Some(total) if *total > 0 => {
                        format!("{} of {}", megabytes(*moved), megabytes(*total))
                    }
                    _ => megabytes(*moved),
                };
                let stamp = self.stamp();
                match &mut self.mode {
                    Mode::Terminal { bars, .. } => {
                        if let Some(bar) = bars.get(address) {
                            bar.set_message(format!("loading: {shown}"));
                        }
                    }
                    Mode::Plain { bytes_shown } => {
                        // A line per 25% (or per 100 MB when the size is unknown).
                        let step = total.map(|t| (t / 4).max(1)).unwrap_or(100_000_000);
                        let last = bytes_shown.entry(address.clone()).or_insert(0);
                        if *moved >= *last + step {
                            *last = *moved;
                            eprintln!("{stamp} {address}: loaded {shown}");
                        }
                    }
                }
            }
            Event::Finished {
                address,
                action,
                seconds,
            } => {
                self.clear(address);
                self.line(format!(
                    "{address}: {} done in {seconds:.1}s",
                    action.word()
                ));
            }
            Event::Skipped {
                address,
                action,
                because,
            } => self.line(format!("{address}: {} skipped: {because}", action.word())),
            Event::Note { text } => self.line(text.clone()),
        }
    }

    fn clear(&mut self, address: &str) {
        if let Mode::Terminal { bars, .. } = &mut self.mode {
            if let Some(bar) = bars.remove(address) {
                bar.finish_and_clear();
            }
        }
    }
}
