//! Configuration: the `savepoint.*` git config keys (any level), parsed and
//! validated once, with errors that name the offending key. Flags override
//! these in the command layer.

use std::time::Duration;

use git2::Config as GitConfig;

use crate::error::{Error, GitContext, Result};

/// Default `savepoint.maxFileSize`: 50 MiB.
pub(crate) const DEFAULT_MAX_FILE_SIZE: u64 = 50 * 1024 * 1024;

/// The remote `push` and `fetch` use when `savepoint.remote` is not set.
pub(crate) const DEFAULT_REMOTE: &str = "origin";

/// Effective savepoint settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `savepoint.debounce`: quiet time before a watcher snapshot.
    pub debounce: Duration,
    /// `savepoint.maxWait`: longest time between watcher snapshots under load.
    pub max_wait: Duration,
    /// `savepoint.maxFileSize`: untracked files larger than this are skipped.
    pub max_file_size: u64,
    /// `savepoint.exclude`: extra gitignore-style globs (multi-valued).
    pub exclude: Vec<String>,
    /// `savepoint.keepAll`: keep every snapshot younger than this.
    pub keep_all: Duration,
    /// `savepoint.keepHourly`: keep one snapshot per hour younger than this.
    pub keep_hourly: Duration,
    /// `savepoint.keepDaily`: keep one snapshot per day younger than this.
    pub keep_daily: Duration,
    /// `savepoint.remote`: remote for `push`/`fetch`.
    pub remote: Option<String>,
    /// `savepoint.pushInterval`: how often the watcher pushes (off when `None`).
    pub push_interval: Option<Duration>,
    /// `savepoint.autostart`: hooks start the watcher when it is not running.
    pub autostart: bool,
    /// `savepoint.statusUrl` and `savepoint.statusUrl.<provider>`: the status
    /// pages asked after a failed turn.
    pub status: StatusUrls,
}

/// The providers whose status page can be configured
/// (`savepoint.statusUrl.<provider>`).
pub(crate) const STATUS_PROVIDERS: &[&str] = &["anthropic", "google", "openai"];

/// Where the provider status check looks (see [`crate::integrations::provider_status`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusUrls {
    /// `savepoint.statusUrl none`: no status page is asked at all.
    pub off: bool,
    /// `savepoint.statusUrl.<provider>`: a URL, or `None` for `none`
    /// (that provider is not asked). Providers not listed use the default.
    pub overrides: Vec<(String, Option<String>)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            debounce: Duration::from_millis(1000),
            max_wait: Duration::from_millis(10_000),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            exclude: Vec::new(),
            keep_all: Duration::from_secs(86_400),
            keep_hourly: Duration::from_secs(7 * 86_400),
            keep_daily: Duration::from_secs(90 * 86_400),
            remote: None,
            push_interval: None,
            autostart: false,
            status: StatusUrls::default(),
        }
    }
}

/// A `savepoint.*` key as `savepoint config` lists it.
#[derive(Debug, Clone, Copy)]
pub struct KeyDoc {
    pub key: &'static str,
    /// It takes several values (`savepoint.exclude`), all of them in effect.
    pub multi: bool,
    /// Its value in a config, as `savepoint config` shows it (of
    /// [`Config::default`]: the default).
    pub show: fn(&Config) -> String,
}

impl Config {
    /// Every key with a single setting, in the order `savepoint config`
    /// lists them (`savepoint.statusUrl.<provider>` keys come after, one
    /// per provider).
    pub const KEYS: &'static [KeyDoc] = &[
        KeyDoc {
            key: "savepoint.debounce",
            multi: false,
            show: |c| format!("{} (ms)", c.debounce.as_millis()),
        },
        KeyDoc {
            key: "savepoint.maxWait",
            multi: false,
            show: |c| format!("{} (ms)", c.max_wait.as_millis()),
        },
        KeyDoc {
            key: "savepoint.maxFileSize",
            multi: false,
            show: |c| show_size(c.max_file_size),
        },
        KeyDoc {
            key: "savepoint.exclude",
            multi: true,
            show: |c| match c.exclude.is_empty() {
                true => "(none)".to_owned(),
                false => c.exclude.join(", "),
            },
        },
        KeyDoc {
            key: "savepoint.keepAll",
            multi: false,
            show: |c| show_duration(c.keep_all),
        },
        KeyDoc {
            key: "savepoint.keepHourly",
            multi: false,
            show: |c| show_duration(c.keep_hourly),
        },
        KeyDoc {
            key: "savepoint.keepDaily",
            multi: false,
            show: |c| show_duration(c.keep_daily),
        },
        KeyDoc {
            key: "savepoint.remote",
            multi: false,
            show: |c| c.remote.as_deref().unwrap_or(DEFAULT_REMOTE).to_owned(),
        },
        KeyDoc {
            key: "savepoint.pushInterval",
            multi: false,
            show: |c| {
                c.push_interval
                    .map_or_else(|| "off".to_owned(), show_duration)
            },
        },
        KeyDoc {
            key: "savepoint.autostart",
            multi: false,
            show: |c| c.autostart.to_string(),
        },
        KeyDoc {
            key: "savepoint.statusUrl",
            multi: false,
            show: |c| match c.status.off {
                true => "none".to_owned(),
                false => "auto".to_owned(),
            },
        },
    ];

    /// Load from a repository's effective git config.
    pub fn load(repo: &git2::Repository) -> Result<Self> {
        let cfg = repo
            .config()
            .git_context(|| "read git config".to_owned())?
            .snapshot()
            .git_context(|| "snapshot git config".to_owned())?;
        Self::from_git_config(&cfg)
    }

    /// Parse from a git config object.
    pub(crate) fn from_git_config(cfg: &GitConfig) -> Result<Self> {
        let d = Config::default();
        let exclude = multi(cfg, "savepoint.exclude")?;
        Ok(Config {
            debounce: millis(cfg, "savepoint.debounce")?.unwrap_or(d.debounce),
            max_wait: millis(cfg, "savepoint.maxWait")?.unwrap_or(d.max_wait),
            max_file_size: size(cfg, "savepoint.maxFileSize")?.unwrap_or(d.max_file_size),
            exclude,
            keep_all: duration(cfg, "savepoint.keepAll")?.unwrap_or(d.keep_all),
            keep_hourly: duration(cfg, "savepoint.keepHourly")?.unwrap_or(d.keep_hourly),
            keep_daily: duration(cfg, "savepoint.keepDaily")?.unwrap_or(d.keep_daily),
            remote: match string(cfg, "savepoint.remote")?.filter(|s| !s.is_empty()) {
                Some(v) if v.starts_with('-') => return Err(bad(
                    "savepoint.remote",
                    &v,
                    "a remote name or URL cannot start with `-` (git would read it as an option)"
                        .into(),
                )),
                v => v,
            },
            push_interval: match string(cfg, "savepoint.pushInterval")? {
                None => None,
                Some(v) if is_off(&v) => None,
                Some(v) => Some(
                    parse_duration(&v)
                        .map_err(|reason| bad("savepoint.pushInterval", &v, reason))?,
                ),
            },
            autostart: match string(cfg, "savepoint.autostart")? {
                None => false,
                Some(v) => parse_bool(&v).ok_or_else(|| {
                    bad("savepoint.autostart", &v, "expected true or false".into())
                })?,
            },
            status: status_urls(cfg)?,
        })
    }

    /// The status page to ask for `provider` (`default` unless configured);
    /// `None` when the check is turned off for it or for all.
    pub fn status_url<'a>(&'a self, provider: &str, default: &'a str) -> Option<&'a str> {
        if self.status.off {
            return None;
        }
        match self
            .status
            .overrides
            .iter()
            .rev()
            .find(|(p, _)| p == provider)
        {
            Some((_, url)) => url.as_deref(),
            None => Some(default),
        }
    }
}

/// `savepoint.statusUrl` (only `none`, or `auto` for the defaults) and
/// `savepoint.statusUrl.<provider>` (a URL or `none`). The subsection is
/// matched without regard to case (`statusUrl`, `statusurl`); an unknown
/// provider or a value that is not a URL is an error naming the key.
fn status_urls(cfg: &GitConfig) -> Result<StatusUrls> {
    let mut out = StatusUrls::default();
    let mut entries = cfg
        .entries(Some(r"^savepoint\."))
        .git_context(|| "read config keys `savepoint.*`".to_owned())?;
    while let Some(entry) = entries.next() {
        let entry = entry.git_context(|| "read config keys `savepoint.*`".to_owned())?;
        let Some(name) = entry.name() else { continue };
        let value = entry.value().unwrap_or("").trim().to_owned();
        let Some(rest) = name.get("savepoint.".len()..) else {
            continue;
        };
        if rest.eq_ignore_ascii_case("statusUrl") {
            // Later (more local) values win.
            out.off = match value.to_ascii_lowercase().as_str() {
                "none" | "off" | "false" | "no" | "0" | "never" => true,
                "auto" | "default" | "on" | "true" | "yes" | "1" => false,
                _ => {
                    return Err(bad(
                        "savepoint.statusUrl",
                        &value,
                        "expected `none` (no status check) or `auto`; a provider's page is \
                         set with savepoint.statusUrl.<provider>"
                            .into(),
                    ))
                }
            };
            continue;
        }
        let Some((sub, provider)) = rest.rsplit_once('.') else {
            continue;
        };
        if !sub.eq_ignore_ascii_case("statusUrl") {
            continue;
        }
        let provider = provider.to_ascii_lowercase();
        let key = format!("savepoint.statusUrl.{provider}");
        if !STATUS_PROVIDERS.contains(&provider.as_str()) {
            return Err(bad(
                &key,
                &value,
                format!(
                    "unknown provider `{provider}` (known: {})",
                    STATUS_PROVIDERS.join(", ")
                ),
            ));
        }
        let url = if value.eq_ignore_ascii_case("none") || is_off(&value) {
            None
        } else if value.starts_with("https://") || value.starts_with("http://") {
            Some(value)
        } else {
            return Err(bad(
                &key,
                &value,
                "expected an http:// or https:// URL, or `none`".into(),
            ));
        };
        out.overrides.push((provider, url));
    }
    Ok(out)
}

fn bad(key: &str, value: &str, reason: String) -> Error {
    Error::Config {
        key: key.to_owned(),
        value: value.to_owned(),
        reason,
    }
}

fn string(cfg: &GitConfig, key: &str) -> Result<Option<String>> {
    match cfg.get_string(key) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e).git_context(|| format!("read config key `{key}`")),
    }
}

fn multi(cfg: &GitConfig, key: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut entries = cfg
        .multivar(key, None)
        .git_context(|| format!("read config key `{key}`"))?;
    while let Some(entry) = entries.next() {
        let entry = entry.git_context(|| format!("read config key `{key}`"))?;
        if let Some(v) = entry.value() {
            out.push(v.to_owned());
        }
    }
    Ok(out)
}

fn millis(cfg: &GitConfig, key: &str) -> Result<Option<Duration>> {
    let Some(v) = string(cfg, key)? else {
        return Ok(None);
    };
    let t = v.trim();
    // A bare number is milliseconds; a unit suffix (`2s`, `500ms`) also works.
    if let Ok(ms) = t.parse::<u64>() {
        return Ok(Some(Duration::from_millis(ms)));
    }
    parse_duration(t)
        .map(Some)
        .map_err(|_| bad(key, &v, "expected milliseconds, e.g. 1000 or 2s".into()))
}

fn size(cfg: &GitConfig, key: &str) -> Result<Option<u64>> {
    let Some(v) = string(cfg, key)? else {
        return Ok(None);
    };
    parse_size(&v).map(Some).ok_or_else(|| {
        bad(
            key,
            &v,
            "expected a size in bytes, e.g. 52428800, 50m or 1g".into(),
        )
    })
}

fn duration(cfg: &GitConfig, key: &str) -> Result<Option<Duration>> {
    let Some(v) = string(cfg, key)? else {
        return Ok(None);
    };
    parse_duration(&v)
        .map(Some)
        .map_err(|reason| bad(key, &v, reason))
}

fn is_off(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "" | "off" | "false" | "no" | "0" | "never"
    )
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" | "" => Some(false),
        _ => None,
    }
}

/// A size as git spells it: `50m`, `1g`, `512k`, `1000`.
fn show_size(n: u64) -> String {
    match n {
        0 => "0".to_owned(),
        n if n.is_multiple_of(1 << 30) => format!("{}g", n >> 30),
        n if n.is_multiple_of(1 << 20) => format!("{}m", n >> 20),
        n if n.is_multiple_of(1 << 10) => format!("{}k", n >> 10),
        n => n.to_string(),
    }
}

/// A duration in its largest whole unit: `90d`, `2h`, `30s`, `500ms`.
fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ]
    .iter()
    .find(|(unit, _)| ms > 0 && ms.is_multiple_of(*unit))
    .map_or_else(
        || format!("{ms}ms"),
        |(unit, s)| format!("{}{s}", ms / unit),
    )
}

/// Parse a size like git does: a number with an optional `k`, `m` or `g`
/// suffix (powers of 1024).
pub(crate) fn parse_size(v: &str) -> Option<u64> {
    let t = v.trim().to_ascii_lowercase();
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        _ => (&t[..], 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// Parse a duration such as `90s`, `10m`, `2h`, `1d`, `2w`, `500ms`, also
/// spelled out (`10 minutes`, `2 hours`). A bare number means seconds.
pub(crate) fn parse_duration(v: &str) -> std::result::Result<Duration, String> {
    let t = v.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("expected a duration like 30s, 10m, 2h, 1d or 2w (got {v:?})"))?;
    let unit = unit.trim();
    let secs = match unit {
        "ms" | "msec" | "millis" | "milliseconds" => n / 1000.0,
        "" | "s" | "sec" | "secs" | "second" | "seconds" => n,
        "m" | "min" | "mins" | "minute" | "minutes" => n * 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => n * 3600.0,
        "d" | "day" | "days" => n * 86_400.0,
        "w" | "wk" | "week" | "weeks" => n * 7.0 * 86_400.0,
        _ => {
            return Err(format!(
                "unknown time unit {unit:?} (use ms, s, m, h, d or w)"
            ))
        }
    };
    if !secs.is_finite() || !(0.0..=1e11).contains(&secs) {
        return Err(format!("duration out of range: {v:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(
            parse_duration("2 hours").unwrap(),
            Duration::from_secs(7200)
        );
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn status_urls_parse_and_validate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "[savepoint \"statusUrl\"]\n\tanthropic = http://127.0.0.1:9/s.json\n\topenai = none\n",
        )
        .unwrap();
        let cfg = Config::from_git_config(&GitConfig::open(&path).unwrap()).unwrap();
        let d = "https://default";
        assert_eq!(
            cfg.status_url("anthropic", d),
            Some("http://127.0.0.1:9/s.json")
        );
        assert_eq!(cfg.status_url("openai", d), None);
        assert_eq!(cfg.status_url("google", d), Some(d));
        std::fs::write(
            &path,
            "[savepoint]\n\tstatusUrl = none\n[savepoint \"statusUrl\"]\n\tgoogle = https://x\n",
        )
        .unwrap();
        let cfg = Config::from_git_config(&GitConfig::open(&path).unwrap()).unwrap();
        assert_eq!(cfg.status_url("google", d), None);
        for bad in [
            "[savepoint \"statusUrl\"]\n\tgogle = https://x\n",
            "[savepoint \"statusUrl\"]\n\tgoogle = ftp://x\n",
            "[savepoint]\n\tstatusUrl = https://x\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = Config::from_git_config(&GitConfig::open(&path).unwrap()).unwrap_err();
            assert!(err.to_string().contains("statusUrl"), "{err}");
        }
    }

    /// `savepoint config`'s defaults are [`Config::default`]'s, and every
    /// key it lists is one the parser reads.
    #[test]
    fn keys_show_the_defaults_and_are_read() {
        let d = Config::default();
        let shown: Vec<(&str, String)> =
            Config::KEYS.iter().map(|k| (k.key, (k.show)(&d))).collect();
        let want = [
            ("savepoint.debounce", "1000 (ms)"),
            ("savepoint.maxWait", "10000 (ms)"),
            ("savepoint.maxFileSize", "50m"),
            ("savepoint.exclude", "(none)"),
            ("savepoint.keepAll", "1d"),
            ("savepoint.keepHourly", "7d"),
            ("savepoint.keepDaily", "90d"),
            ("savepoint.remote", "origin"),
            ("savepoint.pushInterval", "off"),
            ("savepoint.autostart", "false"),
            ("savepoint.statusUrl", "auto"),
        ];
        assert_eq!(shown, want.map(|(k, v)| (k, v.to_owned())));
        // A value the parser rejects is an error naming the key: the key is read.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        for k in Config::KEYS
            .iter()
            .filter(|k| !k.multi && k.key != "savepoint.remote")
        {
            let (section, name) = k.key.split_once('.').unwrap();
            std::fs::write(&path, format!("[{section}]\n\t{name} = 1x2y\n")).unwrap();
            let err = Config::from_git_config(&GitConfig::open(&path).unwrap()).unwrap_err();
            assert!(err.to_string().contains(k.key), "{}: {err}", k.key);
        }
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(show_size(1536), "1536");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("50m"), Some(50 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("x"), None);
    }
}
