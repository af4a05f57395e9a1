//! Drawing the timeline: a pure function of [`App`] (no repository access,
//! no clock), so tests render it into ratatui's `TestBackend` and read
//! the screen. Without colour (`NO_COLOR`, `--color never`) nothing but
//! bold and reverse video is used; the selected row also carries a `>`.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{age, inner, App, Group, InputKind, Level, Overlay, Pane, TLine};
use super::detail::LineKind;
use super::keys;
use crate::cli::output::{path as quote_path, text as esc};

/// Styles, with or without colour.
#[derive(Debug, Clone, Copy)]
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }
    fn id(self) -> Style {
        self.fg(Color::Yellow)
    }
    fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }
    fn trigger(self) -> Style {
        self.fg(Color::Cyan)
    }
    fn agent(self) -> Style {
        self.fg(Color::Green)
    }
    fn session(self) -> Style {
        self.fg(Color::Magenta).add_modifier(Modifier::BOLD)
    }
    fn prompt(self) -> Style {
        self.fg(Color::LightBlue).add_modifier(Modifier::BOLD)
    }
    fn selected(self, focused: bool) -> Style {
        let s = Style::new().add_modifier(Modifier::REVERSED);
        if focused {
            s.add_modifier(Modifier::BOLD)
        } else {
            s
        }
    }
    fn added(self) -> Style {
        self.fg(Color::Green)
    }
    fn removed(self) -> Style {
        self.fg(Color::Red)
    }
    fn hunk(self) -> Style {
        self.fg(Color::Cyan)
    }
    fn note(self) -> Style {
        self.fg(Color::Yellow)
    }
    fn border(self, focused: bool) -> Style {
        match (focused, self.color) {
            (true, true) => Style::new()
                .fg(Color::LightCyan)
                .add_modifier(Modifier::BOLD),
            (true, false) => Style::new().add_modifier(Modifier::BOLD),
            (false, _) => self.dim(),
        }
    }
    fn bar(self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Cyan)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }
    fn error(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
}

/// `s` cut to `width` characters, `…` marking the cut.
fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// `s` cut from the left (paths: the file name matters most).
fn fit_left(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::from("…");
    out.extend(s.chars().skip(n - (width - 1)));
    out
}

pub fn render(app: &App, f: &mut Frame<'_>) {
    let t = Theme { color: app.color };
    let a = app.areas();
    title(app, t, f, a.title);
    timeline(app, t, f, a.timeline);
    files(app, t, f, a.files);
    diff(app, t, f, a.diff);
    footer(app, t, f, a.footer);
    match &app.overlay {
        Some(Overlay::Help) => help(t, f),
        Some(Overlay::Input(i)) => input(t, f, a.footer, i),
        Some(Overlay::Confirm(c)) => confirm(t, f, c),
        None => {}
    }
}

fn title(app: &App, t: Theme, f: &mut Frame<'_>, area: Rect) {
    let tl = &app.timeline;
    let chains = if tl.all {
        format!("all chains ({})", tl.chains.len())
    } else {
        tl.current.clone()
    };
    let count = match (app.filter.is_some(), app.complete()) {
        (false, true) => savepoint::plural(app.len() as u64, "snapshot"),
        (false, false) => format!("{}+ snapshots", app.len()),
        (true, true) => format!("{} matching", app.len()),
        (true, false) => format!("{}+ matching", app.len()),
    };
    let watcher = match app.watcher {
        Some(0) => "watcher running".to_owned(),
        Some(pid) => format!("watcher pid {pid}"),
        None => "no watcher".to_owned(),
    };
    let mut text = format!(" savepoint ui │ {} │ {count} │ {watcher}", esc(&chains));
    if let Some(filter) = &app.filter {
        text.push_str(&format!(" │ filter: {}", esc(&filter.text)));
    }
    text.push_str(&format!(" │ diff {}", app.base.label()));
    let line = Line::from(fit(&text, area.width as usize)).style(t.bar());
    f.render_widget(Paragraph::new(line).style(t.bar()), area);
}

fn pane_block(t: Theme, title: String, focused: bool) -> Block<'static> {
    Block::bordered()
        .title(Span::styled(title, t.border(focused)))
        .border_style(t.border(focused))
}

fn timeline(app: &App, t: Theme, f: &mut Frame<'_>, area: Rect) {
    let focused = app.focus == Pane::Timeline && app.overlay.is_none();
    let title = if app.filter.is_some() {
        " Timeline (filtered) ".to_owned()
    } else {
        " Timeline ".to_owned()
    };
    let block = pane_block(t, title, focused);
    let inside = inner(area);
    let width = inside.width as usize;
    let mut lines: Vec<Line<'_>> = Vec::new();
    if app.len() == 0 {
        let msg = if app.filter.is_some() {
            if app.complete() {
                "no snapshot matches the filter (Esc clears it)".to_owned()
            } else {
                "searching…".to_owned()
            }
        } else {
            format!(
                "no snapshots on {} yet — the watcher (`savepoint watch --detach`) or `savepoint snap` records them",
                app.timeline.current
            )
        };
        lines.push(Line::styled(msg, t.dim()));
    }
    let shown = app.timeline_lines(app.top, inside.height as usize);
    let (trigger_w, agent_w) = column_widths(app, &shown);
    for tl in shown {
        lines.push(match tl {
            TLine::Session(pos) => session_line(app, t, pos, width),
            TLine::Prompt(pos) => prompt_line(app, t, pos, width),
            TLine::Row(pos) => row_line(app, t, pos, (width, trigger_w, agent_w), focused),
            TLine::More => Line::styled("  … reading", t.dim()),
        });
    }
    f.render_widget(Paragraph::new(lines).block(block), area);
}

fn session_line(app: &App, t: Theme, pos: usize, width: usize) -> Line<'static> {
    let i = app.index(pos).unwrap_or(0);
    let row = &app.timeline.rows[i];
    let text = match app.session_of(i) {
        Some(s) => {
            let s = &short_session(s);
            let agent = app.timeline.rows[i..]
                .iter()
                .take(50)
                .find(|r| r.session.as_deref() == Some(s))
                .and_then(|r| r.agent.clone())
                .or_else(|| row.agent.clone());
            match agent {
                Some(a) => format!("── session {} · {} ", esc(s), esc(&a)),
                None => format!("── session {} ", esc(s)),
            }
        }
        None => "── no session ".to_owned(),
    };
    let pad = width.saturating_sub(text.chars().count());
    Line::styled(
        fit(&format!("{text}{}", "─".repeat(pad)), width),
        t.session(),
    )
}

/// A session id as the header shows it: a UUID's first 8 characters (what
/// `session:<prefix>` filters by), other ids up to 24.
fn short_session(s: &str) -> String {
    let uuid_like = s.len() == 36 && s.chars().filter(|&c| c == '-').count() == 4;
    if uuid_like {
        format!("{}…", &s[..8])
    } else {
        fit(s, 24)
    }
}

fn prompt_line(app: &App, t: Theme, pos: usize, width: usize) -> Line<'static> {
    let i = app.index(pos).unwrap_or(0);
    let text = match app.group_of(i) {
        Group::Prompt(j) => {
            let prompts = &app.timeline.rows[j].prompts;
            let shown: Vec<String> = prompts.iter().map(|p| esc(p).into_owned()).collect();
            format!(" ❯ {}", shown.join(" ❯ "))
        }
        Group::Unknown => " ❯ …".to_owned(),
        Group::None => String::new(),
    };
    Line::styled(fit(&text, width), t.prompt())
}

/// A row's trigger without its agent's prefix (`claude:PostToolUse` by
/// `claude` → `PostToolUse`: the agent has its own column).
fn short_trigger(row: &super::timeline::Row) -> &str {
    match &row.agent {
        Some(a) => row
            .trigger
            .strip_prefix(a.as_str())
            .and_then(|t| t.strip_prefix(':'))
            .unwrap_or(&row.trigger),
        None => &row.trigger,
    }
}

/// Widths of the trigger and agent columns: as wide as the rows on screen
/// need (at most 16 and 7), so the summary gets the rest.
fn column_widths(app: &App, lines: &[TLine]) -> (usize, usize) {
    let (mut trigger, mut agent) = (0, 0);
    for line in lines {
        if let TLine::Row(p) = line {
            if let Some(r) = app.row(*p) {
                trigger = trigger.max(esc(short_trigger(r)).chars().count());
                agent = agent.max(r.agent.as_deref().map_or(0, |x| esc(x).chars().count()));
            }
        }
    }
    (trigger.min(16), agent.min(7))
}

fn row_line(
    app: &App,
    t: Theme,
    pos: usize,
    (width, trigger_w, agent_w): (usize, usize, usize),
    focused: bool,
) -> Line<'static> {
    let Some(row) = app.row(pos) else {
        return Line::default();
    };
    let selected = pos == app.selected;
    let marker = if selected { "> " } else { "  " };
    let mut spans = vec![
        Span::raw(marker),
        Span::styled(row.id.clone(), t.id()),
        Span::raw(" "),
        Span::styled(
            format!("{:>4}", age(app.now, row.time.timestamp())),
            t.dim(),
        ),
        Span::raw("  "),
    ];
    if app.timeline.all {
        let chain = row
            .refname
            .strip_prefix(savepoint::snapshot::chain::PREFIX)
            .unwrap_or(&row.refname);
        spans.push(Span::styled(
            format!("{:<14} ", fit(&esc(chain), 14)),
            t.dim(),
        ));
    }
    spans.push(Span::styled(
        format!("{:<trigger_w$}", fit(&esc(short_trigger(row)), trigger_w)),
        t.trigger(),
    ));
    if agent_w > 0 {
        spans.push(Span::raw(" "));
        let who = row
            .agent
            .as_deref()
            .map(|a| esc(a).into_owned())
            .unwrap_or_default();
        spans.push(Span::styled(
            format!("{:<agent_w$}", fit(&who, agent_w)),
            t.agent(),
        ));
    }
    spans.push(Span::raw("  "));
    // One file: its path says it all.
    let summary = row.summary.strip_prefix("1 file: ").unwrap_or(&row.summary);
    spans.push(Span::raw(esc(summary).into_owned()));
    let mut line = Line::from(spans);
    if selected {
        // Fill the row so the reverse video spans the pane.
        let used: usize = line.spans.iter().map(|s| s.content.chars().count()).sum();
        if used < width {
            line.spans.push(Span::raw(" ".repeat(width - used)));
        }
        line = line.style(t.selected(focused));
    }
    line
}

fn files(app: &App, t: Theme, f: &mut Frame<'_>, area: Rect) {
    let focused = app.focus == Pane::Files && app.overlay.is_none();
    let inside = inner(area);
    let width = inside.width as usize;
    let mut lines: Vec<Line<'_>> = Vec::new();
    let title = match &app.detail {
        Some(d) => format!(
            " Files · vs {} ({}{}) ",
            esc(&d.base_name),
            d.files.len(),
            if d.more_files > 0 { "+" } else { "" }
        ),
        None => " Files ".to_owned(),
    };
    if let Some(e) = &app.detail_error {
        lines.push(Line::styled(e.clone(), t.error()));
    } else if let Some(d) = &app.detail {
        if d.files.is_empty() {
            lines.push(Line::styled("no changes", t.dim()));
        }
        for (i, file) in d
            .files
            .iter()
            .enumerate()
            .skip(app.file_top)
            .take(inside.height as usize)
        {
            let selected = i == app.file_sel;
            let stat = file.stat.map(|s| s.text()).unwrap_or_default();
            let status_style = match file.status {
                'A' => t.added(),
                'D' => t.removed(),
                _ => t.trigger(),
            };
            let path_width = width.saturating_sub(4 + stat.chars().count() + 1);
            let p = fit_left(&quote_path(&file.path_lossy()), path_width);
            let mut line = Line::from(vec![
                Span::raw(if selected { "> " } else { "  " }),
                Span::styled(file.status.to_string(), status_style),
                Span::raw(" "),
                Span::raw(format!("{p:<path_width$}")),
                Span::raw(" "),
                Span::styled(stat, t.dim()),
            ]);
            if selected {
                line = line.style(t.selected(focused));
            }
            lines.push(line);
        }
        if d.more_files > 0 && lines.len() < inside.height as usize {
            lines.push(Line::styled(
                format!("… {} more not listed", d.more_files),
                t.dim(),
            ));
        }
    }
    f.render_widget(
        Paragraph::new(lines).block(pane_block(t, title, focused)),
        area,
    );
}

fn diff(app: &App, t: Theme, f: &mut Frame<'_>, area: Rect) {
    let focused = app.focus == Pane::Diff && app.overlay.is_none();
    let inside = inner(area);
    let (title, lines): (String, Vec<Line<'_>>) = match &app.text {
        Some(text) => {
            let at = app.selected_row().map(|r| r.id.clone()).unwrap_or_default();
            let title = if text.content {
                format!(" Content · {} @ {at} ", esc(&text.path))
            } else {
                format!(" Diff · {} ", esc(&text.path))
            };
            let lines = text
                .lines
                .iter()
                .skip(app.scroll)
                .take(inside.height as usize)
                .map(|(kind, s)| {
                    let style = match kind {
                        LineKind::Added => t.added(),
                        LineKind::Removed => t.removed(),
                        LineKind::Hunk => t.hunk(),
                        LineKind::Note => t.note(),
                        LineKind::Context => Style::new(),
                    };
                    Line::styled(s.clone(), style)
                })
                .collect();
            (title, lines)
        }
        None => (
            " Diff ".to_owned(),
            vec![Line::styled("no file selected", t.dim())],
        ),
    };
    f.render_widget(
        Paragraph::new(lines).block(pane_block(t, title, focused)),
        area,
    );
}

fn footer(app: &App, t: Theme, f: &mut Frame<'_>, area: Rect) {
    let width = area.width as usize;
    let line = match &app.status {
        Some(s) => Line::styled(
            fit(&format!(" {}", s.text), width),
            match s.level {
                Level::Error => t.error(),
                Level::Info => Style::new().add_modifier(Modifier::BOLD),
            },
        ),
        None => Line::styled(fit(&format!(" {}", keys::FOOTER), width), t.dim()),
    };
    f.render_widget(Paragraph::new(line), area);
}

/// A box of `width` × `height` in the middle of `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

fn help(t: Theme, f: &mut Frame<'_>) {
    let mut lines: Vec<Line<'_>> = Vec::new();
    for (keys, what) in keys::KEYS {
        if keys.is_empty() {
            if !lines.is_empty() {
                lines.push(Line::default());
            }
            lines.push(Line::styled(
                *what,
                Style::new().add_modifier(Modifier::BOLD),
            ));
        } else {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<26}"), t.id()),
                Span::raw(*what),
            ]));
        }
    }
    lines.push(Line::default());
    lines.push(Line::styled(
        "Rows are grouped by session and by prompt; the list updates as snapshots are recorded.",
        t.dim(),
    ));
    lines.push(Line::styled("any key closes this help", t.dim()));
    let area = centered(f.area(), 118, lines.len() as u16 + 2);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(" Keys ")
                .border_style(t.border(true)),
        ),
        area,
    );
}

fn input(t: Theme, f: &mut Frame<'_>, footer: Rect, i: &super::app::Input) {
    let (label, hint) = match i.kind {
        InputKind::Filter => (
            "filter",
            "words in the prompt/summary · path:<dir> · agent:<name> · session:<id> — Enter applies, empty clears, Esc cancels",
        ),
        InputKind::Jump => (
            "jump to",
            "15m · @{2h} · yesterday · 2026-11-24 14:00 · @~3 · an id — Enter jumps, Esc cancels",
        ),
    };
    let height = 4;
    let area = Rect::new(
        footer.x,
        footer.y.saturating_sub(height - 1),
        footer.width,
        height.min(footer.y + 1),
    );
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{label}: "),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(esc(&i.text).into_owned()),
        Span::styled("█", t.dim()),
    ])];
    match &i.error {
        Some(e) => lines.push(Line::styled(e.clone(), t.error())),
        None => lines.push(Line::styled(hint, t.dim())),
    }
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().border_style(t.border(true))),
        area,
    );
}

fn confirm(t: Theme, f: &mut Frame<'_>, c: &super::app::Confirm) {
    let screen = f.area();
    let longest = c
        .lines
        .iter()
        .chain([&c.title, &c.keys])
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(20) as u16;
    let max = screen.width.saturating_sub(2).max(1);
    let width = (longest + 4).min(max).max(40.min(max));
    let height = c.lines.len() as u16 + 4;
    let area = centered(screen, width, height);
    let mut lines: Vec<Line<'_>> = c
        .lines
        .iter()
        .map(|l| {
            let style = if l.starts_with("  create") {
                t.added()
            } else if l.starts_with("  delete") {
                t.removed()
            } else if l.starts_with("  modify") {
                t.trigger()
            } else {
                Style::new()
            };
            Line::styled(l.clone(), style)
        })
        .collect();
    lines.push(Line::default());
    lines.push(Line::styled(
        c.keys.clone(),
        Style::new().add_modifier(Modifier::BOLD),
    ));
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Span::styled(
                    format!(" {} ", c.title),
                    Style::new().add_modifier(Modifier::BOLD),
                ))
                .border_style(t.border(true)),
        ),
        area,
    );
}
