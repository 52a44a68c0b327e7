//! The import's report: a line per original row (what happened to it and why), then a
//! summary. It names rows by the original's ids and Fly.io resources by name, and never
//! holds a secret, a password hash or an email.

use std::fmt;

/// What happened to a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Written here.
    Imported,
    /// Written here, taking over running Fly.io resources.
    Adopted,
    /// Written by an earlier run: nothing to do.
    Unchanged,
    /// Left out by design (deleted in the original, say).
    Skipped(String),
    /// Left out because of a problem the operator must fix; the run ends with an error.
    Failed(String),
    /// Deleted (an app nothing records).
    Deleted,
}

/// One row's line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// `user`, `subscription` or `instance`.
    pub kind: &'static str,
    /// The original's id.
    pub legacy_id: String,
    /// What happened.
    pub outcome: Outcome,
    /// More about it (Fly.io app and machine, a recomputed limit).
    pub detail: Option<String>,
}

/// Every line of a run.
#[derive(Debug, Default)]
pub struct Report {
    /// Whether nothing is written.
    pub dry_run: bool,
    /// The lines, in the order the rows were taken.
    pub lines: Vec<Line>,
}

impl Report {
    /// A report for a run that writes, or (`dry_run`) only says what it would write.
    pub fn new(dry_run: bool) -> Self {
        Self {
            dry_run,
            lines: Vec::new(),
        }
    }

    /// Adds a line and prints it.
    pub fn add(&mut self, line: Line) {
        println!("{}", self.render(&line));
        self.lines.push(line);
    }

    /// A line as printed.
    pub fn render(&self, line: &Line) -> String {
        let would = if self.dry_run { "would be " } else { "" };
        let outcome = match &line.outcome {
            Outcome::Imported => format!("{would}imported"),
            Outcome::Adopted => format!("{would}imported, adopting"),
            Outcome::Unchanged => "already imported".to_owned(),
            Outcome::Skipped(why) => format!("skipped: {why}"),
            Outcome::Failed(why) => format!("NOT imported: {why}"),
            Outcome::Deleted => format!("{would}deleted"),
        };
        match &line.detail {
            Some(detail) => format!("{} {}: {outcome} {detail}", line.kind, line.legacy_id),
            None => format!("{} {}: {outcome}", line.kind, line.legacy_id),
        }
    }

    /// How many rows failed.
    pub fn failures(&self) -> usize {
        self.lines
            .iter()
            .filter(|l| matches!(l.outcome, Outcome::Failed(_)))
            .count()
    }

    /// Counts of one kind: (imported or adopted, unchanged, skipped, failed).
    fn counts(&self, kind: &str) -> (usize, usize, usize, usize) {
        let mut counts = (0, 0, 0, 0);
        for line in self.lines.iter().filter(|l| l.kind == kind) {
            match line.outcome {
                Outcome::Imported | Outcome::Adopted | Outcome::Deleted => counts.0 += 1,
                Outcome::Unchanged => counts.1 += 1,
                Outcome::Skipped(_) => counts.2 += 1,
                Outcome::Failed(_) => counts.3 += 1,
            }
        }
        counts
    }
}

impl fmt::Display for Report {
    /// The summary: per kind, how many rows went each way.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            f.write_str("dry run, nothing written: ")?;
        }
        let parts: Vec<String> = ["user", "subscription", "instance"]
            .iter()
            .map(|kind| {
                let (done, unchanged, skipped, failed) = self.counts(kind);
                let verb = if self.dry_run { "to import" } else { "imported" };
                format!(
                    "{kind}s {done} {verb}, {unchanged} already imported, {skipped} skipped, {failed} not imported"
                )
            })
            .collect();
        f.write_str(&parts.join("; "))?;
        let (deleted, _, left, _) = self.counts("app");
        if deleted + left > 0 {
            let verb = if self.dry_run { "to delete" } else { "deleted" };
            write!(
                f,
                "; unrecorded apps {deleted} {verb}, {left} left in place"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_summary_read_plainly() {
        let mut report = Report::new(false);
        report.lines.push(Line {
            kind: "instance",
            legacy_id: "c1".to_owned(),
            outcome: Outcome::Adopted,
            detail: Some("Fly.io app a, machine m (Running)".to_owned()),
        });
        report.lines.push(Line {
            kind: "user",
            legacy_id: "u1".to_owned(),
            outcome: Outcome::Failed("its email is taken".to_owned()),
            detail: None,
        });
        assert_eq!(
            report.render(&report.lines[0]),
            "instance c1: imported, adopting Fly.io app a, machine m (Running)"
        );
        assert_eq!(
            report.render(&report.lines[1]),
            "user u1: NOT imported: its email is taken"
        );
        assert_eq!(report.failures(), 1);
        assert_eq!(
            report.to_string(),
            "users 0 imported, 0 already imported, 0 skipped, 1 not imported; subscriptions 0 imported, 0 already imported, 0 skipped, 0 not imported; instances 1 imported, 0 already imported, 0 skipped, 0 not imported"
        );
        let dry = Report::new(true);
        assert_eq!(
            dry.render(&report.lines[0]),
            "instance c1: would be imported, adopting Fly.io app a, machine m (Running)"
        );
    }
}
