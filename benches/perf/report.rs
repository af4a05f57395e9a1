//! Rows of results, printed as a Markdown table (stdout, or stderr with
//! `--json`) and as JSON (`--json`, stdout).

use std::time::Duration;

use crate::target::Target;
use crate::Opts;

#[derive(Clone, Debug)]
pub enum Val {
    None,
    Ms(f64),
    Mib(f64),
    Pct(f64),
    Text(String),
}

impl Val {
    pub fn ms(d: Duration) -> Val {
        Val::Ms(d.as_secs_f64() * 1000.0)
    }

    fn show(&self) -> String {
        match self {
            Val::None => "—".into(),
            Val::Ms(v) => format!("{v:.1} ms"),
            Val::Mib(v) => format!("{v:.1} MiB"),
            Val::Pct(v) => format!("{v:.2} %"),
            Val::Text(t) => t.clone(),
        }
    }

    fn json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Val::None => serde_json::Value::Null,
            Val::Ms(v) => json!({ "ms": v }),
            Val::Mib(v) => json!({ "mib": v }),
            Val::Pct(v) => json!({ "percent": v }),
            Val::Text(t) => json!({ "text": t }),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Val::Ms(v) | Val::Mib(v) => Some(*v),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Row {
    /// Stable key (`scenario.measure`) for `--json` and the docs.
    pub id: String,
    pub label: String,
    pub ours: Val,
    pub base: Val,
    pub target: String,
}

impl Row {
    pub fn new(id: &str, label: impl Into<String>, ours: Val, base: Val, target: &str) -> Row {
        Row {
            id: id.into(),
            label: label.into(),
            ours,
            base,
            target: target.into(),
        }
    }

    pub fn failed(id: &str, why: &str) -> Row {
        let short: String = why.chars().take(300).collect();
        Row::new(
            &format!("{id}.failed"),
            format!(
                "**{id} failed**: {}",
                short.replace('|', "\\|").replace('\n', " ")
            ),
            Val::Text("failed".into()),
            Val::None,
            "",
        )
    }

    fn ratio(&self) -> Option<f64> {
        match (&self.ours, &self.base) {
            (Val::Ms(_), Val::Ms(_)) | (Val::Mib(_), Val::Mib(_)) => {
                let (a, b) = (self.ours.number()?, self.base.number()?);
                (b > 0.0).then(|| a / b)
            }
            _ => None,
        }
    }
}

/// What a scenario hands back: the rows it measured, and the failure that
/// stopped it early, if one did.
#[derive(Default)]
pub struct Outcome {
    pub rows: Vec<Row>,
    pub failure: Option<String>,
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub fn print(o: &Opts, t: &Target, rows: &[Row], cleanup: Option<&String>) {
    let what = if t.repo_mode {
        format!("repository {}", t.name())
    } else {
        format!("generated {} tree: {}", o.shape.name(), t.name())
    };
    let mut md = format!(
        "## savepoint perf: {what}; {} rounds (medians); load average at the end {}\n\n\
         | scenario | savepoint | git baseline | ratio | target |\n|---|---|---|---|---|\n",
        o.runs,
        load()
    );
    for r in rows {
        let ratio = r.ratio().map_or("—".into(), |x| {
            if x < 0.1 {
                format!("{x:.3}×")
            } else {
                format!("{x:.2}×")
            }
        });
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.label,
            r.ours.show(),
            r.base.show(),
            ratio,
            if r.target.is_empty() {
                "—"
            } else {
                &r.target
            }
        ));
    }
    if let Some(e) = cleanup {
        md.push_str(&format!("\n**cleanup failed**: {e}\n"));
    }
    if !o.json {
        print!("{md}");
        return;
    }
    eprint!("{md}");
    let json = serde_json::json!({
        "target": {
            "kind": if t.repo_mode { "repository" } else { "generated" },
            "path": t.dir.display().to_string(),
            "shape": if t.repo_mode { None } else { Some(o.shape.name()) },
            "head": t.head,
            "files": t.files,
            "dirs": t.dirs,
        },
        "runs": o.runs,
        "load_average": load(),
        "cleanup_error": cleanup,
        "rows": rows.iter().map(|r| serde_json::json!({
            "id": r.id,
            "label": r.label,
            "savepoint": r.ours.json(),
            "baseline": r.base.json(),
            "ratio": r.ratio(),
            "target": r.target,
        })).collect::<Vec<_>>(),
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&json).unwrap_or_default()
    );
}
