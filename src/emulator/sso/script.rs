//! QR scripts: what happens to each QR session and when.
//!
//! A script is phases separated by `;`; phase k applies to the k-th QR session created (the
//! last phase repeats). A phase is comma-separated `ACTION@MS`, MS counted from the session's
//! creation, e.g. `scan@800,confirm@1600;scan@100,expire@300`.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Scan,
    Confirm,
    Expire,
    Expire202,
    Invalid,
}

impl Action {
    /// The `/connect/state` code reporting it.
    pub(crate) fn code(self) -> i64 {
        match self {
            Action::Scan => 2,
            Action::Confirm => 1,
            Action::Expire => 3,
            Action::Expire202 => 202,
            Action::Invalid => 102,
        }
    }

    /// Everything but a scan ends the session.
    pub(crate) fn is_final(self) -> bool {
        self != Action::Scan
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Script {
    phases: Vec<Vec<(Action, Duration)>>,
}

impl Script {
    pub(crate) fn parse(text: &str) -> Result<Script, String> {
        let fail = |why: String| Err(format!("bad QR script `{text}`: {why}"));
        let mut phases = Vec::new();
        for (i, phase) in text.split(';').enumerate() {
            let mut steps = Vec::new();
            for item in phase.split(',').map(str::trim) {
                match parse_step(item) {
                    Ok(step) => steps.push(step),
                    Err(why) => return fail(format!("phase {}: `{item}`: {why}", i + 1)),
                }
            }
            // Stable: steps at the same time keep their written order.
            steps.sort_by_key(|&(_, at)| at);
            phases.push(steps);
        }
        Ok(Script { phases })
    }

    /// The steps for the `k`-th session (0-based), in time order.
    pub(crate) fn phase(&self, k: usize) -> &[(Action, Duration)] {
        &self.phases[k.min(self.phases.len() - 1)]
    }
}

fn parse_step(item: &str) -> Result<(Action, Duration), String> {
    let Some((name, ms)) = item.split_once('@') else {
        return Err("expected ACTION@MS (e.g. scan@800)".into());
    };
    let action = match name.trim() {
        "scan" => Action::Scan,
        "confirm" => Action::Confirm,
        "expire" => Action::Expire,
        "expire202" => Action::Expire202,
        "invalid" => Action::Invalid,
        other => return Err(format!("unknown action `{other}` (scan, confirm, expire, expire202 or invalid)")),
    };
    let ms: u64 = ms.trim().parse().map_err(|_| format!("`{}` is not a number of milliseconds", ms.trim()))?;
    Ok((action, Duration::from_millis(ms)))
}
