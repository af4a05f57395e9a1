//! Diagnose first: after a turn died on an API error, ask the model
//! provider's public status page whether it is down, so the user (and the
//! hand-off brief) can tell "wait, the provider has an incident" from "the
//! provider is fine: look at your network, key or quota".
//!
//! Sources (overridable per provider with `savepoint.statusUrl.<provider>`,
//! `none` turns one off; `savepoint.statusUrl none` turns the check off):
//! - **Anthropic** (agent `claude`) and **OpenAI** (`codex`): the
//!   Statuspage v2 summary, `…/api/v2/summary.json`: `status.indicator` /
//!   `description`, unresolved `incidents[]` (`name`, `impact`,
//!   `started_at`), `components[]` whose `status` is not `operational`.
//! - **Google** (`gemini`): the Google Cloud status dashboard's
//!   `incidents.json`, the only machine-readable Google source that covers
//!   Gemini (the AI Studio status page has no public JSON). It lists every
//!   incident, newest first; only the first `GOOGLE_MAX_BYTES` are read
//!   (streamed, an incomplete tail is ignored) and only ongoing incidents
//!   (no `end`) whose product or service names Gemini, Vertex AI, AI
//!   Studio or Generative AI count.
//!
//! The check never blocks or fails its caller: the request runs on its own
//! thread and the caller waits at most `budget` for it (connect, TLS,
//! read); no answer in time, a network error, a non-200 status or a body
//! that is not what was expected all give `None`. Nothing here panics on
//! any body: every field is optional and every kept string is clipped.

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::text::escape_controls;
use crate::workspace::config::Config;

/// The default budget for a status check (connect + read).
pub(crate) const DEFAULT_BUDGET: Duration = Duration::from_millis(1000);
/// Largest Statuspage summary read.
const STATUSPAGE_MAX_BYTES: u64 = 2 << 20;
/// How much of Google's incident history is read.
pub(crate) const GOOGLE_MAX_BYTES: u64 = 1 << 20;
/// Characters kept of a name or description.
const MAX_CHARS: usize = 200;
/// Incident names kept in a verdict.
const MAX_INCIDENTS: usize = 3;

/// A status source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    /// `anthropic`, `google`, `openai`: the config key's last part.
    pub key: &'static str,
    /// For people: `Anthropic`.
    pub name: &'static str,
    /// The page a person would open.
    pub page: &'static str,
    /// The machine-readable default.
    pub default_url: &'static str,
    format: SourceFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceFormat {
    Statuspage,
    GoogleCloud,
}

/// Every provider savepoint knows.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        key: "anthropic",
        name: "Anthropic",
        page: "https://status.anthropic.com",
        default_url: "https://status.anthropic.com/api/v2/summary.json",
        format: SourceFormat::Statuspage,
    },
    Provider {
        key: "google",
        name: "Google",
        page: "https://status.cloud.google.com",
        default_url: "https://status.cloud.google.com/incidents.json",
        format: SourceFormat::GoogleCloud,
    },
    Provider {
        key: "openai",
        name: "OpenAI",
        page: "https://status.openai.com",
        default_url: "https://status.openai.com/api/v2/summary.json",
        format: SourceFormat::Statuspage,
    },
];

/// The provider behind an agent: `claude` → Anthropic, `gemini` → Google,
/// `codex` → OpenAI; none for others (Cursor runs many providers' models).
pub(crate) fn provider_for(agent: &str) -> Option<&'static Provider> {
    provider(crate::integrations::agents::by_name(agent)?.status_provider()?)
}

/// A provider by its key.
pub(crate) fn provider(key: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.key == key)
}

/// Where to ask for `provider` under `cfg`; `None` when turned off.
pub fn url_for(cfg: &Config, provider: &Provider) -> Option<String> {
    cfg.status_url(provider.key, provider.default_url)
        .map(str::to_owned)
}

/// What a provider's status page said.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    /// `anthropic`, `google`, `openai`.
    pub provider: String,
    /// Statuspage's scale: `none`, `minor`, `major`, `critical`,
    /// `maintenance` (Google's impacts are mapped onto it).
    pub indicator: String,
    /// The page's own summary (`Partial System Outage`) or the incident's
    /// description.
    pub summary: String,
    /// When the headline incident started (RFC 3339).
    pub since: Option<String>,
    /// The most affected component or product (`Claude API`), if any.
    #[serde(default)]
    pub component: Option<String>,
    /// Its status (`partial_outage`, `major_outage`, …).
    #[serde(default)]
    pub component_status: Option<String>,
    /// Unresolved incidents, the headline first (at most three).
    #[serde(default)]
    pub incidents: Vec<String>,
    /// The page a person would open.
    #[serde(default)]
    pub page: String,
    /// When the page was asked (RFC 3339).
    #[serde(default)]
    pub checked_at: String,
}

impl Verdict {
    /// Does the provider report a problem?
    pub(crate) fn is_degraded(&self) -> bool {
        self.indicator != "none" || !self.incidents.is_empty() || self.component_status.is_some()
    }

    fn provider_name(&self) -> &str {
        provider(&self.provider).map_or(self.provider.as_str(), |p| p.name)
    }

    /// One line for a person: `Claude API: partial outage — Elevated
    /// errors on Opus, since 10:05` (local time), or `Anthropic status:
    /// all systems operational`. Control characters are escaped.
    pub(crate) fn line(&self) -> String {
        if !self.is_degraded() {
            let what = if self.summary.is_empty() {
                "all systems operational".to_owned()
            } else {
                self.summary.to_lowercase()
            };
            return escape_controls(&format!("{} status: {what}", self.provider_name()))
                .into_owned();
        }
        let label = self
            .component
            .clone()
            .unwrap_or_else(|| self.provider_name().to_owned());
        let state = match self.component_status.as_deref() {
            Some(s) => s.replace('_', " "),
            None => match self.indicator.as_str() {
                "minor" => "minor incident".to_owned(),
                "major" => "major outage".to_owned(),
                "critical" => "critical outage".to_owned(),
                "maintenance" => "maintenance".to_owned(),
                _ => "incident".to_owned(),
            },
        };
        let headline = self
            .incidents
            .first()
            .cloned()
            .unwrap_or_else(|| self.summary.clone());
        let mut line = format!("{label}: {state}");
        if !headline.is_empty() {
            line.push_str(" — ");
            line.push_str(&headline);
        }
        if let Some(since) = self.since.as_deref().and_then(local_time) {
            line.push_str(", since ");
            line.push_str(&since);
        }
        escape_controls(&line).into_owned()
    }

    /// What to do next, for the user of the tool that failed.
    pub(crate) fn advice(&self) -> String {
        let other_model = match self.provider.as_str() {
            "anthropic" => "another Claude model (`/model`)",
            "openai" => "another model (`codex -m <model>`)",
            "google" => "another Gemini model (`gemini -m <model>`)",
            _ => "another model",
        };
        let page = if self.page.is_empty() {
            String::new()
        } else {
            format!(" ({})", escape_controls(&self.page))
        };
        if !self.is_degraded() {
            return format!(
                "{} reports no incident: the error may be a rate limit, your network, \
                 your API key or quota, or an outage not posted yet. Retry the turn; if \
                 it fails again, try {other_model} or continue in another tool with the \
                 hand-off brief (`savepoint handoff`).",
                self.provider_name()
            );
        }
        match self.indicator.as_str() {
            "maintenance" => format!(
                "{} is in scheduled maintenance{page}: wait for it to end, or continue \
                 in another tool with the hand-off brief (`savepoint handoff`).",
                self.provider_name()
            ),
            "major" | "critical" => format!(
                "{} reports an outage{page}: retrying soon is unlikely to help. Continue \
                 in another tool (another provider) with the hand-off brief \
                 (`savepoint handoff`), or wait for the incident to be resolved.",
                self.provider_name()
            ),
            _ => format!(
                "{} reports a partial problem{page}: retry in a few minutes, try \
                 {other_model}, or continue in another tool with the hand-off brief \
                 (`savepoint handoff`).",
                self.provider_name()
            ),
        }
    }
}

/// `HH:MM` in local time (with the date when it is not today).
fn local_time(rfc3339: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    let local = t.with_timezone(&chrono::Local);
    if local.date_naive() == chrono::Local::now().date_naive() {
        Some(local.format("%H:%M").to_string())
    } else {
        Some(local.format("%b %-d %H:%M").to_string())
    }
}

/// Whether [`check`] would ask a status page for `agent` (a provider
/// known, its URL not turned off with `none`).
pub fn applies(cfg: &Config, agent: &str) -> bool {
    provider_for(agent)
        .and_then(|p| url_for(cfg, p))
        .is_some_and(|u| is_http(&u))
}

fn is_http(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// Ask the status page of `agent`'s provider, waiting at most `budget`.
/// `None` for agents without a known provider, when the check is turned
/// off, and when no usable answer came in time.
pub fn check(cfg: &Config, agent: &str, budget: Duration) -> Option<Verdict> {
    let provider = provider_for(agent)?;
    let url = url_for(cfg, provider)?;
    check_url(provider, &url, budget)
}

/// [`check`] against an explicit URL.
pub(crate) fn check_url(
    provider: &'static Provider,
    url: &str,
    budget: Duration,
) -> Option<Verdict> {
    if !is_http(url) {
        return None;
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let url = url.to_owned();
    // The caller waits on the channel, not on the thread: a resolver or a
    // server that hangs past the budget costs the caller nothing (the
    // thread ends with its own timeout, or with the process).
    std::thread::Builder::new()
        .name("savepoint-status".into())
        .spawn(move || {
            let verdict = fetch(&url, budget, provider).and_then(|body| parse(provider, &body));
            let _ = tx.send(verdict);
        })
        .ok()?;
    rx.recv_timeout(budget).ok().flatten()
}

/// GET `url`: the body (at most the provider's limit) of a 200 answer.
fn fetch(url: &str, budget: Duration, provider: &Provider) -> Option<Vec<u8>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(budget))
        .http_status_as_error(false)
        .max_redirects(3)
        .user_agent(concat!("savepoint/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut response = agent
        .get(url)
        .header("Accept", "application/json")
        .call()
        .map_err(|e| tracing::debug!(error = %e, url, "status page unreachable"))
        .ok()?;
    if response.status() != 200 {
        tracing::debug!(status = %response.status(), url, "status page answered");
        return None;
    }
    let limit = match provider.format {
        SourceFormat::Statuspage => STATUSPAGE_MAX_BYTES,
        SourceFormat::GoogleCloud => GOOGLE_MAX_BYTES,
    };
    let mut body = Vec::new();
    let read = response
        .body_mut()
        .as_reader()
        .take(limit)
        .read_to_end(&mut body);
    // Google's history is cut on purpose; a cut Statuspage summary fails
    // to parse below.
    if let Err(e) = read {
        if body.is_empty() {
            tracing::debug!(error = %e, url, "status page body unreadable");
            return None;
        }
    }
    Some(body)
}

/// Parse a status body in `provider`'s format.
pub(crate) fn parse(provider: &Provider, body: &[u8]) -> Option<Verdict> {
    let mut v = match provider.format {
        SourceFormat::Statuspage => parse_statuspage(provider, body)?,
        SourceFormat::GoogleCloud => parse_google(provider, body)?,
    };
    v.checked_at = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    Some(v)
}

fn clip(s: &str) -> String {
    crate::integrations::agents::transcript::clip(s.trim(), MAX_CHARS)
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// Component statuses by severity (0: operational or unknown).
fn component_rank(status: &str) -> u8 {
    match status {
        "major_outage" => 4,
        "partial_outage" => 3,
        "degraded_performance" => 2,
        "under_maintenance" => 1,
        _ => 0,
    }
}

fn impact_rank(impact: &str) -> u8 {
    match impact {
        "critical" => 4,
        "major" => 3,
        "minor" => 2,
        "maintenance" => 1,
        _ => 0,
    }
}

/// Components that matter most for each provider's coding agent.
fn relevant_component(provider: &str, name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let keys: &[&str] = match provider {
        "anthropic" => &["api", "claude code"],
        "openai" => &["codex", "responses", "api"],
        _ => &[],
    };
    keys.iter().any(|k| n.contains(k))
}

/// A Statuspage v2 `summary.json`.
fn parse_statuspage(provider: &Provider, body: &[u8]) -> Option<Verdict> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let status = v.get("status")?;
    let indicator = clip(s(status, "indicator")?);
    let summary = clip(s(status, "description").unwrap_or(""));

    // The worst component, those that matter for the agent first.
    let component = v
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("group").and_then(Value::as_bool) != Some(true))
        .filter_map(|c| Some((s(c, "name")?, s(c, "status")?)))
        .filter(|(_, st)| component_rank(st) > 0)
        .max_by_key(|(name, st)| (relevant_component(provider.key, name), component_rank(st)));

    let mut incidents: Vec<(&Value, u8)> = v
        .get("incidents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| !matches!(s(i, "status"), Some("resolved" | "postmortem")))
        .map(|i| (i, impact_rank(s(i, "impact").unwrap_or(""))))
        .collect();
    // Worst first; among equals, the earliest started.
    incidents.sort_by(|(a, ra), (b, rb)| {
        rb.cmp(ra)
            .then_with(|| started(a).unwrap_or("").cmp(started(b).unwrap_or("")))
    });
    let mut names: Vec<String> = incidents
        .iter()
        .filter_map(|(i, _)| s(i, "name"))
        .map(clip)
        .filter(|n| !n.is_empty())
        .take(MAX_INCIDENTS)
        .collect();
    let mut since = incidents
        .first()
        .and_then(|(i, _)| started(i))
        .map(str::to_owned);
    // Maintenance in progress counts as an incident of its own.
    if names.is_empty() {
        if let Some(m) = v
            .get("scheduled_maintenances")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|m| matches!(s(m, "status"), Some("in_progress" | "verifying")))
        {
            if let Some(n) = s(m, "name") {
                names.push(clip(n));
            }
            since = s(m, "started_at")
                .or_else(|| s(m, "scheduled_for"))
                .map(str::to_owned);
        }
    }
    Some(Verdict {
        provider: provider.key.to_owned(),
        indicator,
        summary,
        since: since.filter(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
        component: component.map(|(n, _)| clip(n)),
        component_status: component.map(|(_, st)| clip(st)),
        incidents: names,
        page: provider.page.to_owned(),
        checked_at: String::new(),
    })
}

fn started(i: &Value) -> Option<&str> {
    s(i, "started_at").or_else(|| s(i, "created_at"))
}

/// One incident of Google Cloud's `incidents.json` (fields savepoint uses).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GoogleIncident {
    begin: Option<String>,
    end: Option<String>,
    external_desc: Option<String>,
    service_name: Option<String>,
    status_impact: Option<String>,
    severity: Option<String>,
    affected_products: Vec<GoogleProduct>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GoogleProduct {
    title: Option<String>,
}

const GOOGLE_AI_WORDS: &[&str] = &["gemini", "vertex ai", "ai studio", "generative ai"];

impl GoogleIncident {
    /// The first product (or the service) that is about Gemini.
    fn ai_product(&self) -> Option<&str> {
        let is_ai = |t: &str| {
            let t = t.to_ascii_lowercase();
            GOOGLE_AI_WORDS.iter().any(|w| t.contains(w))
        };
        self.affected_products
            .iter()
            .filter_map(|p| p.title.as_deref())
            .chain(self.service_name.as_deref())
            .find(|t| is_ai(t))
    }

    fn rank(&self) -> (u8, u8) {
        let impact = match self.status_impact.as_deref() {
            Some("SERVICE_OUTAGE") => 3,
            Some("SERVICE_DISRUPTION") => 2,
            Some("SERVICE_INFORMATION") => 1,
            _ => 0,
        };
        let severity = match self.severity.as_deref() {
            Some("high") => 3,
            Some("medium") => 2,
            Some("low") => 1,
            _ => 0,
        };
        (impact, severity)
    }
}

/// Collects the ongoing Gemini incidents of a (possibly cut) array.
struct Ongoing<'a>(&'a mut Vec<GoogleIncident>);

impl<'de> DeserializeSeed<'de> for Ongoing<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Ongoing<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of incidents")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(i) = seq.next_element::<GoogleIncident>()? {
            if i.end.is_none() && i.ai_product().is_some() && self.0.len() < 100 {
                self.0.push(i);
            }
        }
        Ok(())
    }
}

/// Google Cloud's `incidents.json`: ongoing incidents about Gemini. The
/// body may be cut (read up to [`GOOGLE_MAX_BYTES`]): what was read whole
/// counts. Not an array at all: `None`.
fn parse_google(provider: &Provider, body: &[u8]) -> Option<Verdict> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    if body[start] != b'[' {
        return None;
    }
    let mut ongoing = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    // An error (a cut body, an odd element) ends the scan: keep what came
    // before it.
    let _ = Ongoing(&mut ongoing).deserialize(&mut de);
    ongoing.sort_by(|a, b| b.rank().cmp(&a.rank()).then_with(|| a.begin.cmp(&b.begin)));
    let Some(head) = ongoing.first() else {
        return Some(Verdict {
            provider: provider.key.to_owned(),
            indicator: "none".into(),
            summary: "No ongoing Gemini or Vertex AI incident".into(),
            since: None,
            component: None,
            component_status: None,
            incidents: Vec::new(),
            page: provider.page.to_owned(),
            checked_at: String::new(),
        });
    };
    let (indicator, component_status) = match head.rank().0 {
        3 => ("major", "major_outage"),
        2 => ("minor", "partial_outage"),
        _ => ("minor", "degraded_performance"),
    };
    let incidents = ongoing
        .iter()
        .filter_map(|i| i.external_desc.as_deref())
        .map(clip)
        .filter(|d| !d.is_empty())
        .take(MAX_INCIDENTS)
        .collect::<Vec<_>>();
    Some(Verdict {
        provider: provider.key.to_owned(),
        indicator: indicator.into(),
        summary: incidents.first().cloned().unwrap_or_default(),
        since: head
            .begin
            .clone()
            .filter(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
        component: head.ai_product().map(clip),
        component_status: Some(component_status.into()),
        incidents,
        page: provider.page.to_owned(),
        checked_at: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    const OPERATIONAL: &str = r#"{"page":{"id":"tymt9n04zgry","name":"Anthropic","url":"https://status.anthropic.com","time_zone":"Etc/UTC","updated_at":"2026-11-27T10:00:00.000Z"},
        "components":[{"id":"a","name":"claude.ai","status":"operational","group":false},
                      {"id":"b","name":"Claude API (api.anthropic.com)","status":"operational","group":false}],
        "incidents":[],"scheduled_maintenances":[],
        "status":{"indicator":"none","description":"All Systems Operational"}}"#;

    fn outage(started: &str) -> String {
        format!(
            r#"{{"page":{{"id":"tymt9n04zgry","name":"Anthropic"}},
            "components":[
              {{"id":"g","name":"Group","status":"major_outage","group":true}},
              {{"id":"a","name":"claude.ai","status":"degraded_performance","group":false}},
              {{"id":"b","name":"Claude API","status":"partial_outage","group":false}},
              {{"id":"c","name":"Console","status":"operational"}}],
            "incidents":[
              {{"id":"i0","name":"Old one","status":"resolved","impact":"critical","started_at":"2026-11-01T00:00:00Z"}},
              {{"id":"i1","name":"Slow console","status":"monitoring","impact":"minor","started_at":"2026-11-27T09:00:00Z"}},
              {{"id":"i2","name":"Elevated errors on Opus\u001b[2J","status":"investigating","impact":"major","started_at":"{started}"}}],
            "scheduled_maintenances":[],
            "status":{{"indicator":"major","description":"Partial System Outage"}}}}"#
        )
    }

    /// A one-request-at-a-time HTTP server on 127.0.0.1 serving canned
    /// answers (status, body, delay before answering), then exiting.
    fn serve(answers: Vec<(u16, String, Duration)>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for (status, body, delay) in answers {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                std::thread::sleep(delay);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        format!("http://{addr}/api/v2/summary.json")
    }

    fn anthropic() -> &'static Provider {
        provider("anthropic").unwrap()
    }

    #[test]
    fn agents_map_to_providers() {
        assert_eq!(provider_for("claude").unwrap().key, "anthropic");
        assert_eq!(provider_for("gemini").unwrap().key, "google");
        assert_eq!(provider_for("codex").unwrap().key, "openai");
        assert_eq!(provider_for("cursor"), None);
        assert_eq!(check(&Config::default(), "cursor", DEFAULT_BUDGET), None);
        // The config keys `savepoint.statusUrl.<provider>` accepts are these
        // providers, and every agent's provider is one of them.
        let keys: Vec<&str> = PROVIDERS.iter().map(|p| p.key).collect();
        assert_eq!(keys, crate::workspace::config::STATUS_PROVIDERS);
        for a in crate::integrations::agents::all() {
            assert!(a.status_provider().is_none_or(|p| provider(p).is_some()));
        }
    }

    #[test]
    fn operational_page() {
        let url = serve(vec![(200, OPERATIONAL.into(), Duration::ZERO)]);
        let v = check_url(anthropic(), &url, Duration::from_secs(5)).unwrap();
        assert_eq!(v.indicator, "none");
        assert!(!v.is_degraded());
        assert_eq!(v.line(), "Anthropic status: all systems operational");
        assert!(v.advice().contains("reports no incident"), "{}", v.advice());
        assert!(!v.checked_at.is_empty());
    }

    #[test]
    fn partial_outage_with_an_incident() {
        let started = chrono::Utc::now() - chrono::Duration::minutes(20);
        let started = started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let url = serve(vec![(200, outage(&started), Duration::ZERO)]);
        let v = check_url(anthropic(), &url, Duration::from_secs(5)).unwrap();
        assert_eq!(v.indicator, "major");
        assert_eq!(v.summary, "Partial System Outage");
        assert_eq!(v.component.as_deref(), Some("Claude API"));
        assert_eq!(v.component_status.as_deref(), Some("partial_outage"));
        assert_eq!(v.incidents.len(), 2, "resolved ones do not count");
        assert_eq!(v.since.as_deref(), Some(started.as_str()));
        let hhmm = chrono::DateTime::parse_from_rfc3339(&started)
            .unwrap()
            .with_timezone(&chrono::Local)
            .format("%H:%M")
            .to_string();
        let expected_since = local_time(&started).unwrap();
        assert!(expected_since.ends_with(&hhmm));
        assert_eq!(
            v.line(),
            format!(
                "Claude API: partial outage — Elevated errors on Opus\\033[2J, since {expected_since}"
            )
        );
        assert!(v.advice().contains("reports an outage"), "{}", v.advice());
        // The verdict goes into the saved failure: it round-trips.
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), v);
    }

    #[test]
    fn malformed_bodies_and_errors_give_none() {
        let cut = &OPERATIONAL[..OPERATIONAL.len() / 2];
        let url = serve(vec![
            (200, "{not json".into(), Duration::ZERO),
            (200, cut.into(), Duration::ZERO),
            (200, "[1,2,3]".into(), Duration::ZERO),
            (200, r#"{"status":{"indicator":7}}"#.into(), Duration::ZERO),
            (404, "<html>not found</html>".into(), Duration::ZERO),
            (500, OPERATIONAL.into(), Duration::ZERO),
        ]);
        for _ in 0..6 {
            assert_eq!(check_url(anthropic(), &url, Duration::from_secs(5)), None);
        }
        // Nobody listening, or not a URL at all.
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let url = format!("http://{closed}/x");
        assert_eq!(check_url(anthropic(), &url, Duration::from_secs(5)), None);
        assert_eq!(
            check_url(anthropic(), "file:///etc/passwd", DEFAULT_BUDGET),
            None
        );
    }

    #[test]
    fn a_slow_server_costs_at_most_the_budget() {
        let url = serve(vec![(200, OPERATIONAL.into(), Duration::from_secs(3))]);
        let budget = Duration::from_millis(300);
        let started = Instant::now();
        assert_eq!(check_url(anthropic(), &url, budget), None);
        let took = started.elapsed();
        assert!(took < budget + Duration::from_millis(200), "{took:?}");
    }

    #[test]
    fn config_urls_and_switches() {
        let url = serve(vec![(200, OPERATIONAL.into(), Duration::ZERO)]);
        let mut cfg = Config::default();
        cfg.status.overrides = vec![("anthropic".into(), Some(url))];
        assert!(check(&cfg, "claude", Duration::from_secs(5)).is_some());
        cfg.status.overrides = vec![("anthropic".into(), None)];
        assert_eq!(url_for(&cfg, anthropic()), None);
        assert_eq!(check(&cfg, "claude", DEFAULT_BUDGET), None);
        let mut cfg = Config::default();
        assert_eq!(
            url_for(&cfg, anthropic()).as_deref(),
            Some("https://status.anthropic.com/api/v2/summary.json")
        );
        cfg.status.off = true;
        assert_eq!(url_for(&cfg, anthropic()), None);
    }

    #[test]
    fn statuspage_parsing_is_defensive() {
        let p = anthropic();
        for body in [
            &b""[..],
            b"null",
            b"{}",
            b"{\"status\":null}",
            b"{\"status\":{\"indicator\":\"minor\"},\"components\":7,\"incidents\":{\"a\":1}}",
            b"\xff\xfe",
        ] {
            let _ = parse(p, body);
        }
        let v = parse(
            p,
            b"{\"status\":{\"indicator\":\"minor\"},\"components\":7,\"incidents\":[{\"name\":5},{\"name\":\"x\",\"started_at\":\"not a time\"}]}",
        )
        .unwrap();
        assert_eq!(v.incidents, ["x"]);
        assert_eq!(v.since, None);
        assert_eq!(v.line(), "Anthropic: minor incident — x");
        // Maintenance.
        let v = parse(p, br#"{"status":{"indicator":"maintenance","description":"Service Under Maintenance"},
            "scheduled_maintenances":[{"name":"DB upgrade","status":"in_progress","started_at":"2026-11-27T10:00:00Z"}]}"#).unwrap();
        assert_eq!(v.incidents, ["DB upgrade"]);
        assert!(v.advice().contains("maintenance"));
        // Long names are clipped.
        let long = "n".repeat(10_000);
        let body = format!(
            r#"{{"status":{{"indicator":"minor"}},"incidents":[{{"name":"{long}","impact":"minor"}}]}}"#
        );
        let v = parse(p, body.as_bytes()).unwrap();
        assert!(v.incidents[0].chars().count() <= MAX_CHARS + 1);
    }

    #[test]
    fn google_incidents_filtered_to_gemini_and_cut_bodies() {
        let g = provider("google").unwrap();
        let body = r#"[
          {"id":"a","begin":"2026-11-27T09:30:00+00:00","external_desc":"Gemini API elevated 503s","status_impact":"SERVICE_DISRUPTION","severity":"medium",
           "service_name":"Vertex Gemini API","affected_products":[{"title":"Vertex Gemini API","id":"x"}],"most_recent_update":{"text":"…"}},
          {"id":"b","begin":"2026-11-27T08:00:00+00:00","external_desc":"BigQuery slow","status_impact":"SERVICE_OUTAGE","severity":"high",
           "service_name":"BigQuery","affected_products":[{"title":"BigQuery"}]},
          {"id":"c","begin":"2026-11-20T08:00:00+00:00","end":"2026-11-20T09:00:00+00:00","external_desc":"Old Vertex AI issue",
           "status_impact":"SERVICE_OUTAGE","affected_products":[{"title":"Vertex AI Online Prediction"}]},
          {"id":"d","begin":"2026-11-19T08:00:00+00:00","external_desc":"cut off here"#;
        let v = parse(g, body.as_bytes()).unwrap();
        assert_eq!(v.indicator, "minor");
        assert_eq!(v.component.as_deref(), Some("Vertex Gemini API"));
        assert_eq!(v.incidents, ["Gemini API elevated 503s"]);
        assert_eq!(v.since.as_deref(), Some("2026-11-27T09:30:00+00:00"));
        assert!(v
            .line()
            .starts_with("Vertex Gemini API: partial outage — Gemini API elevated 503s"));
        // Nothing ongoing for Gemini.
        let v = parse(
            g,
            br#"[{"begin":"2026-11-27T08:00:00+00:00","service_name":"BigQuery"}]"#,
        )
        .unwrap();
        assert!(!v.is_degraded());
        assert_eq!(
            v.line(),
            "Google status: no ongoing gemini or vertex ai incident"
        );
        // Not an array; odd elements.
        assert_eq!(parse(g, b"{\"a\":1}"), None);
        assert_eq!(parse(g, b""), None);
        let v = parse(g, b"[7, {\"service_name\":\"Gemini\"}]").unwrap();
        assert!(!v.is_degraded());
    }
}
