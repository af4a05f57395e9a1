//! The timeline's state and how events change it. [`App::handle`] turns a
//! key, a mouse event or a resize into a state change (and runs the
//! library's restore, undo, squash and hand-off when a question is
//! answered yes); [`App::sync`] reads what the new state needs — the next
//! page of rows, the selected snapshot's files, their line counts, one
//! file's diff — so that [`super::render::render`] is a pure function of
//! this struct. Tests drive it without a terminal.

use anyhow::Result;
use chrono::Utc;
use git2::Oid;
use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Constraint, Layout, Position, Rect};
use savepoint::ops::restore::{self, Operation, RestoreRequest, UndoFound};
use savepoint::ops::squash::{self, Prepared, SquashRequest};
use savepoint::snapshot::{chain, current, revision};
use savepoint::workspace::Workspace;

use super::detail::{self, Base, Detail, FileEntry, FileText};
use super::filter::Filter;
pub use super::timeline::Group;
use super::timeline::{Row, Timeline, PAGE};

/// Rows read ahead of the screen's last one.
const READ_AHEAD: usize = PAGE / 2;
/// Rows checked against a filter per [`App::sync`] (the rest on the next
/// turn, so a filter over a long chain never freezes the screen).
const FILTER_BUDGET: usize = 2_000;
/// Plan lines a question shows.
const PLAN_LINES: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Timeline,
    Files,
    Diff,
}

impl Pane {
    fn next(self) -> Pane {
        match self {
            Pane::Timeline => Pane::Files,
            Pane::Files => Pane::Diff,
            Pane::Diff => Pane::Timeline,
        }
    }

    fn prev(self) -> Pane {
        self.next().next()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Jump,
}

/// A line being typed (filter, jump).
#[derive(Debug, Clone)]
pub struct Input {
    pub kind: InputKind,
    pub text: String,
    pub error: Option<String>,
}

/// What a question does when answered yes.
#[derive(Debug, Clone)]
pub enum Action {
    /// Restore `target` limited to `scopes[at]` (empty: everything).
    Restore {
        target: Oid,
        scopes: Vec<Vec<u8>>,
        at: usize,
    },
    Undo {
        request: RestoreRequest,
        what: String,
    },
    Squash {
        prepared: Box<Prepared>,
    },
}

/// A question with the plan it would carry out.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    /// The keys line (`y restore · n cancel`).
    pub keys: String,
    /// Nothing would change: any key closes it.
    pub empty: bool,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub enum Overlay {
    Help,
    Input(Input),
    Confirm(Confirm),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// The message line after an action.
#[derive(Debug, Clone)]
pub struct Status {
    pub text: String,
    pub level: Level,
}

/// Where each pane is on a `width` × `height` screen.
#[derive(Debug, Clone, Copy)]
pub struct Areas {
    pub title: Rect,
    pub timeline: Rect,
    pub files: Rect,
    pub diff: Rect,
    pub footer: Rect,
}

impl Areas {
    pub fn of(width: u16, height: u16) -> Areas {
        let screen = Rect::new(0, 0, width, height);
        let [title, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
        ])
        .areas(screen);
        let (timeline, right) = if width >= 90 {
            let [l, r] =
                Layout::horizontal([Constraint::Percentage(52), Constraint::Fill(1)]).areas(body);
            (l, r)
        } else {
            let [t, r] =
                Layout::vertical([Constraint::Percentage(40), Constraint::Fill(1)]).areas(body);
            (t, r)
        };
        let [files, diff] =
            Layout::vertical([Constraint::Percentage(35), Constraint::Fill(1)]).areas(right);
        Areas {
            title,
            timeline,
            files,
            diff,
            footer,
        }
    }
}

/// Inside a bordered pane.
pub fn inner(r: Rect) -> Rect {
    Rect::new(
        r.x.saturating_add(1),
        r.y.saturating_add(1),
        r.width.saturating_sub(2),
        r.height.saturating_sub(2),
    )
}

/// One line of the timeline pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TLine {
    /// A session begins (view position of its first row).
    Session(usize),
    /// A prompt's group begins.
    Prompt(usize),
    Row(usize),
    /// More rows are being read.
    More,
}

pub struct App {
    pub ws: Workspace,
    pub color: bool,
    pub timeline: Timeline,
    pub filter: Option<Filter>,
    /// With a filter: indices (into `timeline.rows`) of the rows it keeps.
    pub view: Vec<usize>,
    /// Rows checked against the filter so far.
    scanned: usize,
    /// Selected and first shown view positions.
    pub selected: usize,
    pub top: usize,
    pub focus: Pane,
    pub base: Base,
    pub detail: Option<Detail>,
    pub detail_error: Option<String>,
    pub file_sel: usize,
    pub file_top: usize,
    /// Show the selected file's content instead of its diff.
    pub content: bool,
    pub text: Option<FileText>,
    text_key: Option<(Oid, Base, usize, bool)>,
    /// The diff pane's first line.
    pub scroll: usize,
    pub overlay: Option<Overlay>,
    pub status: Option<Status>,
    /// Unix seconds, for ages (set by [`App::sync`]).
    pub now: i64,
    pub width: u16,
    pub height: u16,
    pub quit: bool,
    pub head: Option<Oid>,
    /// The work tree's tree for [`Base::WorkTree`] (scanned when needed).
    worktree: Option<Oid>,
    worktree_stale: bool,
    /// The detail must be computed again (a base changed under it).
    detail_stale: bool,
    pub watcher: Option<u32>,
    /// The filter is still scanning: come back without waiting.
    pub busy: bool,
}

impl App {
    pub fn open(ws: Workspace, all: bool, color: bool) -> Result<App> {
        let timeline = Timeline::open(&ws, all)?;
        let head = ws.head()?.commit();
        let watcher = savepoint::watch::running_pid(&ws).ok().flatten();
        Ok(App {
            ws,
            color,
            timeline,
            filter: None,
            view: Vec::new(),
            scanned: 0,
            selected: 0,
            top: 0,
            focus: Pane::Timeline,
            base: Base::Previous,
            detail: None,
            detail_error: None,
            file_sel: 0,
            file_top: 0,
            content: false,
            text: None,
            text_key: None,
            scroll: 0,
            overlay: None,
            status: None,
            now: Utc::now().timestamp(),
            width: 80,
            height: 24,
            quit: false,
            head,
            worktree: None,
            worktree_stale: true,
            detail_stale: false,
            watcher,
            busy: false,
        })
    }

    // ---- the view -------------------------------------------------------

    /// Rows in the view (read so far).
    pub fn len(&self) -> usize {
        match self.filter {
            Some(_) => self.view.len(),
            None => self.timeline.rows.len(),
        }
    }

    /// The row at view position `pos`.
    pub fn row(&self, pos: usize) -> Option<&Row> {
        self.index(pos).map(|i| &self.timeline.rows[i])
    }

    /// The `timeline.rows` index of view position `pos`.
    pub fn index(&self, pos: usize) -> Option<usize> {
        match self.filter {
            Some(_) => self.view.get(pos).copied(),
            None => (pos < self.timeline.rows.len()).then_some(pos),
        }
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.row(self.selected)
    }

    /// Has every row of the chain(s) been read (and filtered)?
    pub fn complete(&self) -> bool {
        self.timeline.exhausted()
            && (self.filter.is_none() || self.scanned >= self.timeline.rows.len())
    }

    pub fn areas(&self) -> Areas {
        Areas::of(self.width, self.height)
    }

    fn timeline_height(&self) -> usize {
        inner(self.areas().timeline).height as usize
    }

    fn files_height(&self) -> usize {
        inner(self.areas().files).height as usize
    }

    fn diff_height(&self) -> usize {
        inner(self.areas().diff).height as usize
    }

    /// The session row `i` (an index into `timeline.rows`) counts in.
    pub fn session_of(&self, i: usize) -> Option<&str> {
        self.timeline.session_of(i)
    }

    /// The prompt group of row `i`.
    pub fn group_of(&self, i: usize) -> Group {
        self.timeline.group_of(i)
    }

    /// The prompts of row `i`'s group (empty when it has none).
    pub fn group_prompts(&self, i: usize) -> &[String] {
        match self.group_of(i) {
            Group::Prompt(j) => &self.timeline.rows[j].prompts,
            _ => &[],
        }
    }

    /// The timeline pane's lines from view position `top`, at most
    /// `height`: a session header where the session changes, a prompt
    /// header where a prompt's group begins, one line per row.
    pub fn timeline_lines(&self, top: usize, height: usize) -> Vec<TLine> {
        let mut out = Vec::with_capacity(height);
        let mut pos = top;
        let mut prev: Option<usize> = None;
        while out.len() < height {
            let Some(i) = self.index(pos) else {
                if !self.complete() {
                    out.push(TLine::More);
                }
                break;
            };
            let session = self.session_of(i);
            let group = self.group_of(i);
            let (new_session, new_group) = match prev {
                None => (true, true),
                Some(p) => {
                    let s = self.session_of(p) != session;
                    (s, s || self.group_of(p) != group)
                }
            };
            if new_session {
                out.push(TLine::Session(pos));
            }
            if new_group && matches!(group, Group::Prompt(_) | Group::Unknown) && out.len() < height
            {
                out.push(TLine::Prompt(pos));
            }
            if out.len() < height {
                out.push(TLine::Row(pos));
            }
            prev = Some(i);
            pos += 1;
        }
        out.truncate(height);
        out
    }

    /// Scroll the timeline so the selected row is on screen.
    fn follow(&mut self) {
        let h = self.timeline_height().max(1);
        if self.selected < self.top {
            self.top = self.selected;
        }
        if self.selected > self.top + h {
            self.top = self.selected + 1 - h;
        }
        while self.top < self.selected
            && !self
                .timeline_lines(self.top, h)
                .contains(&TLine::Row(self.selected))
        {
            self.top += 1;
        }
    }

    // ---- reading what the state needs ----------------------------------

    /// Read what the screen needs: rows down to the screen's bottom plus
    /// some, the selected snapshot's files (against the base), line counts
    /// of the files on screen, the selected file's diff or content.
    /// Failures become the status line, never an exit.
    pub fn sync(&mut self) {
        self.now = Utc::now().timestamp();
        if let Err(e) = self.load_view() {
            self.error(format!("reading the chain: {e:#}"));
        }
        let len = self.len();
        if self.selected >= len && len > 0 {
            self.selected = len - 1;
        }
        self.follow();
        if let Err(e) = self.load_detail() {
            self.detail = None;
            self.detail_error = Some(format!("{e:#}"));
        }
    }

    fn load_view(&mut self) -> Result<()> {
        let want = self.top.max(self.selected) + self.timeline_height() + READ_AHEAD;
        self.busy = false;
        if self.filter.is_none() {
            while self.timeline.rows.len() < want && !self.timeline.exhausted() {
                self.timeline.load_more(self.ws.repo(), PAGE)?;
            }
            return Ok(());
        }
        let mut budget = FILTER_BUDGET;
        while self.view.len() < want {
            if self.scanned >= self.timeline.rows.len() {
                if self.timeline.exhausted() {
                    break;
                }
                self.timeline.load_more(self.ws.repo(), PAGE)?;
                continue;
            }
            if budget == 0 {
                self.busy = true;
                break;
            }
            budget -= 1;
            // The row's group may need the rows below it.
            if self.group_of(self.scanned) == Group::Unknown && !self.timeline.exhausted() {
                self.timeline.load_more(self.ws.repo(), PAGE)?;
                continue;
            }
            self.scan_next()?;
        }
        Ok(())
    }

    /// Check the next row not checked yet against the filter (a match
    /// joins the view); nothing without a filter.
    fn scan_next(&mut self) -> Result<()> {
        let Some(filter) = &self.filter else {
            return Ok(());
        };
        let i = self.scanned;
        if filter.matches(
            self.ws.repo(),
            &self.timeline.rows[i],
            self.group_prompts(i),
        )? {
            self.view.push(i);
        }
        self.scanned += 1;
        Ok(())
    }

    fn load_detail(&mut self) -> Result<()> {
        let Some(oid) = self.selected_row().map(|r| r.oid) else {
            self.detail = None;
            self.text = None;
            self.text_key = None;
            return Ok(());
        };
        let repo = self.ws.repo();
        let current = self.detail.as_ref().map(|d| (d.oid, d.base));
        if current != Some((oid, self.base)) || self.detail_stale {
            if self.base == Base::WorkTree && (self.worktree_stale || self.worktree.is_none()) {
                self.worktree = Some(current::tree(&self.ws)?);
                self.worktree_stale = false;
            }
            // The same file stays selected where it is still listed (another
            // base, another snapshot that changed it too).
            let path = self
                .detail
                .as_ref()
                .and_then(|d| d.files.get(self.file_sel))
                .map(|f| f.path.clone());
            let d = detail::detail(repo, oid, self.base, self.head, self.worktree)?;
            let kept = path.and_then(|p| d.files.iter().position(|f| f.path == p));
            if kept != Some(self.file_sel) {
                self.file_sel = kept.unwrap_or(0);
                self.file_top = 0;
            }
            self.detail = Some(d);
            self.detail_error = None;
            self.detail_stale = false;
            self.text_key = None;
        }
        let fh = self.files_height().max(1);
        let Some(d) = self.detail.as_mut() else {
            return Ok(());
        };
        if self.file_sel < self.file_top {
            self.file_top = self.file_sel;
        } else if self.file_sel >= self.file_top + fh {
            self.file_top = self.file_sel + 1 - fh;
        }
        let end = (self.file_top + fh).min(d.files.len());
        for f in &mut d.files[self.file_top..end] {
            if f.stat.is_none() {
                f.stat = Some(detail::stat(repo, f));
            }
        }
        let key = (oid, self.base, self.file_sel, self.content);
        if self.text_key != Some(key) {
            self.text = d.files.get(self.file_sel).map(|f| {
                if self.content {
                    detail::file_content(repo, f, &chain::short_id(oid))
                } else {
                    detail::file_diff(repo, f)
                }
            });
            self.text_key = Some(key);
            self.scroll = 0;
        }
        Ok(())
    }

    /// Every half second: new snapshots on top (the selection stays on
    /// its snapshot — or on the newest, when it was there), HEAD and the
    /// watcher looked at again.
    pub fn tick(&mut self) {
        if let Err(e) = self.refresh() {
            self.error(format!("reading the chain: {e:#}"));
        }
    }

    fn refresh(&mut self) -> Result<()> {
        let selected = self.selected_row().map(|r| r.oid);
        let refreshed = self.timeline.refresh(&self.ws)?;
        let head = self.ws.head()?.commit();
        if head != self.head {
            self.head = head;
            if self.base == Base::Head {
                self.detail_stale = true;
            }
        }
        self.watcher = savepoint::watch::running_pid(&self.ws).ok().flatten();
        if refreshed.reloaded {
            self.view.clear();
            self.scanned = 0;
            self.top = 0;
            self.selected = 0;
            self.worktree_stale = true;
            self.detail_stale = true;
            if let Some(oid) = selected {
                self.select_oid(oid)?;
            }
            return Ok(());
        }
        if refreshed.added == 0 {
            return Ok(());
        }
        let added = refreshed.added;
        self.worktree_stale = true;
        if self.base == Base::WorkTree {
            self.detail_stale = true;
        }
        let new_in_view = match &self.filter {
            None => added,
            Some(filter) => {
                let repo = self.ws.repo();
                let mut front = Vec::new();
                for i in 0..added {
                    if filter.matches(repo, &self.timeline.rows[i], self.group_prompts(i))? {
                        front.push(i);
                    }
                }
                let n = front.len();
                front.extend(self.view.iter().map(|i| i + added));
                self.view = front;
                self.scanned += added;
                n
            }
        };
        // On the newest row, the selection follows new snapshots; anywhere
        // else it stays on its snapshot (and the view scrolls only as far
        // as keeping it on screen needs).
        if self.selected > 0 || self.top > 0 {
            self.selected += new_in_view;
            self.follow();
        }
        Ok(())
    }

    /// Select the row of `oid`, reading on (and dropping a filter that
    /// hides it) as needed. False when it is not on the chain(s).
    fn select_oid(&mut self, oid: Oid) -> Result<bool> {
        let Some(i) = self.timeline.find(self.ws.repo(), oid, usize::MAX)? else {
            return Ok(false);
        };
        if self.filter.is_some() {
            self.scan_to(i)?;
            match self.view.iter().position(|&v| v == i) {
                Some(p) => {
                    self.selected = p;
                    return Ok(true);
                }
                None => self.clear_filter(),
            }
        }
        self.selected = i;
        Ok(true)
    }

    /// Filter every row up to index `i`.
    fn scan_to(&mut self, i: usize) -> Result<()> {
        if self.filter.is_some() {
            while self.scanned <= i && self.scanned < self.timeline.rows.len() {
                self.scan_next()?;
            }
        }
        Ok(())
    }

    fn clear_filter(&mut self) {
        let keep = self.selected_row().map(|r| r.oid);
        let index = self.index(self.selected);
        self.filter = None;
        self.view.clear();
        self.scanned = 0;
        if let (Some(_), Some(i)) = (keep, index) {
            self.selected = i;
        }
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        if filter.is_none() {
            self.clear_filter();
            return;
        }
        self.filter = filter;
        self.view.clear();
        self.scanned = 0;
        self.selected = 0;
        self.top = 0;
    }

    fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            level: Level::Info,
        });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            level: Level::Error,
        });
    }

    // ---- events ---------------------------------------------------------

    pub fn handle(&mut self, event: Event) {
        match event {
            Event::Key(k) if k.kind != KeyEventKind::Release => self.key(k),
            Event::Mouse(m) => self.mouse(m),
            Event::Resize(w, h) => self.resize(w, h),
            _ => {}
        }
    }

    pub fn resize(&mut self, width: u16, height: u16) {
        self.width = width;
        self.height = height;
        self.follow();
    }

    pub fn key(&mut self, k: KeyEvent) {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && k.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        match self.overlay.take() {
            Some(Overlay::Help) => {
                if k.code == KeyCode::Char('q') {
                    self.quit = true;
                }
                return; // any other key closes it
            }
            Some(Overlay::Input(input)) => return self.input_key(input, k),
            Some(Overlay::Confirm(c)) => return self.confirm_key(c, k),
            None => {}
        }
        self.status = None;
        match k.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') => self.overlay = Some(Overlay::Help),
            KeyCode::Esc if self.filter.is_some() => {
                self.clear_filter();
                self.info("filter cleared");
            }
            KeyCode::Tab | KeyCode::Right | KeyCode::Char('l') => self.focus = self.focus.next(),
            KeyCode::BackTab | KeyCode::Left | KeyCode::Char('h') => self.focus = self.focus.prev(),
            KeyCode::Enter if self.focus != Pane::Diff => self.focus = self.focus.next(),
            KeyCode::Up | KeyCode::Char('k') => self.step(-1),
            KeyCode::Down | KeyCode::Char('j') => self.step(1),
            KeyCode::PageUp => self.page(-1),
            KeyCode::PageDown => self.page(1),
            KeyCode::Char('u') if ctrl => self.page(-1),
            KeyCode::Char('d') if ctrl => self.page(1),
            KeyCode::Home | KeyCode::Char('g') => self.step(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.end(),
            KeyCode::Char('d') => {
                self.base = self.base.next();
                if self.base == Base::WorkTree {
                    self.worktree_stale = true;
                }
                self.info(format!("diff {}", self.base.label()));
            }
            KeyCode::Char('c') => self.content = !self.content,
            KeyCode::Char('/') => {
                self.overlay = Some(Overlay::Input(Input {
                    kind: InputKind::Filter,
                    text: self
                        .filter
                        .as_ref()
                        .map(|f| f.text.clone())
                        .unwrap_or_default(),
                    error: None,
                }))
            }
            KeyCode::Char('@') => {
                self.overlay = Some(Overlay::Input(Input {
                    kind: InputKind::Jump,
                    text: String::new(),
                    error: None,
                }))
            }
            KeyCode::Char('r') => self.ask_restore(false),
            KeyCode::Char('R') => self.ask_restore(true),
            KeyCode::Char('u') => self.ask_undo(),
            KeyCode::Char('s') => self.ask_squash(),
            KeyCode::Char('w') => self.write_brief(),
            _ => {}
        }
    }

    /// Move within the focused pane by `delta` rows.
    fn step(&mut self, delta: isize) {
        let shift = |v: usize, len: usize| -> usize {
            let max = len.saturating_sub(1) as isize;
            (v as isize).saturating_add(delta).clamp(0, max.max(0)) as usize
        };
        match self.focus {
            Pane::Timeline => {
                // Moving down reads on when the end of what is read is near.
                if delta > 0 {
                    let want = self.selected.saturating_add(delta as usize);
                    while want >= self.len() && !self.complete() {
                        let before = self.len();
                        self.sync_rows_to(want + 1);
                        if self.len() == before {
                            break;
                        }
                    }
                }
                self.selected = shift(self.selected, self.len());
                self.follow();
            }
            Pane::Files => {
                let n = self.detail.as_ref().map_or(0, |d| d.files.len());
                self.file_sel = shift(self.file_sel, n);
            }
            Pane::Diff => {
                let n = self.text.as_ref().map_or(0, |t| t.lines.len());
                let max = n.saturating_sub(self.diff_height());
                self.scroll = shift(self.scroll, max + 1);
            }
        }
    }

    fn page(&mut self, dir: isize) {
        let h = match self.focus {
            Pane::Timeline => self.timeline_height(),
            Pane::Files => self.files_height(),
            Pane::Diff => self.diff_height(),
        };
        self.step(dir * h.saturating_sub(1).max(1) as isize);
    }

    /// The last row: the whole chain is read.
    fn end(&mut self) {
        if self.focus == Pane::Timeline {
            self.sync_rows_to(usize::MAX);
        }
        self.step(isize::MAX / 2);
    }

    /// Read (and filter) rows until the view has `n` or everything is read.
    fn sync_rows_to(&mut self, n: usize) {
        if let Err(e) = self.try_sync_rows_to(n) {
            self.error(format!("reading the chain: {e:#}"));
        }
    }

    fn try_sync_rows_to(&mut self, n: usize) -> Result<()> {
        while self.len() < n && !self.complete() {
            if self.filter.is_some() && self.scanned < self.timeline.rows.len() {
                let upto = self.timeline.rows.len() - 1;
                self.scan_to(upto)?;
            } else {
                self.timeline
                    .load_more(self.ws.repo(), PAGE.max(n.min(100_000)))?;
            }
        }
        Ok(())
    }

    fn mouse(&mut self, m: MouseEvent) {
        if self.overlay.is_some() {
            return;
        }
        let at = Position::new(m.column, m.row);
        let a = self.areas();
        let pane = if a.timeline.contains(at) {
            Pane::Timeline
        } else if a.files.contains(at) {
            Pane::Files
        } else if a.diff.contains(at) {
            Pane::Diff
        } else {
            return;
        };
        match m.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let focus = self.focus;
                self.focus = pane;
                self.step(if m.kind == MouseEventKind::ScrollDown {
                    3
                } else {
                    -3
                });
                self.focus = focus;
            }
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                let inside = inner(match pane {
                    Pane::Timeline => a.timeline,
                    Pane::Files => a.files,
                    Pane::Diff => a.diff,
                });
                if !inside.contains(at) {
                    return;
                }
                let line = (m.row - inside.y) as usize;
                match pane {
                    Pane::Timeline => {
                        let lines = self.timeline_lines(self.top, inside.height as usize);
                        if let Some(TLine::Row(p) | TLine::Prompt(p) | TLine::Session(p)) =
                            lines.get(line)
                        {
                            self.selected = *p;
                        }
                    }
                    Pane::Files => {
                        let n = self.detail.as_ref().map_or(0, |d| d.files.len());
                        if self.file_top + line < n {
                            self.file_sel = self.file_top + line;
                        }
                    }
                    Pane::Diff => {}
                }
            }
            _ => {}
        }
    }

    fn input_key(&mut self, mut input: Input, k: KeyEvent) {
        match k.code {
            KeyCode::Esc => {}
            KeyCode::Enter => {
                let result = match input.kind {
                    InputKind::Filter => Filter::parse(&input.text).map(|f| {
                        let text = f.as_ref().map(|f| f.text.clone());
                        self.set_filter(f);
                        match text {
                            Some(t) => self.info(format!("filter: {t} (Esc clears)")),
                            None => self.info("filter cleared"),
                        }
                    }),
                    InputKind::Jump => self.jump(&input.text),
                };
                if let Err(e) = result {
                    input.error = Some(format!("{e:#}"));
                    self.overlay = Some(Overlay::Input(input));
                }
            }
            KeyCode::Backspace => {
                input.text.pop();
                input.error = None;
                self.overlay = Some(Overlay::Input(input));
            }
            KeyCode::Char(c) => {
                input.text.push(c);
                input.error = None;
                self.overlay = Some(Overlay::Input(input));
            }
            _ => self.overlay = Some(Overlay::Input(input)),
        }
    }

    /// `@` answered: a time (`15m`, `@{2h}`, `yesterday`), or any `<snap>`.
    fn jump(&mut self, text: &str) -> Result<()> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let now = chrono::Local::now();
        let spec = if text.starts_with('@') {
            revision::parse(text, now).map_err(anyhow::Error::msg)?
        } else if let Ok(t) = revision::parse_time(text, now) {
            revision::Spec::At(t)
        } else {
            revision::parse(text, now).map_err(anyhow::Error::msg)?
        };
        match spec {
            revision::Spec::At(when) => {
                let when = when.timestamp();
                self.focus = Pane::Timeline;
                loop {
                    if let Some(p) = (0..self.len())
                        .find(|&p| self.row(p).is_some_and(|r| r.time.timestamp() <= when))
                    {
                        self.selected = p;
                        self.info(format!(
                            "{text}: the latest snapshot at or before {}",
                            chrono::DateTime::from_timestamp(when, 0)
                                .map(|t| t
                                    .with_timezone(&chrono::Local)
                                    .format("%Y-%m-%d %H:%M:%S")
                                    .to_string())
                                .unwrap_or_default()
                        ));
                        break;
                    }
                    if self.complete() {
                        self.selected = self.len().saturating_sub(1);
                        self.info(format!(
                            "{text} is before the first snapshot: showing the oldest"
                        ));
                        break;
                    }
                    let want = self.len() + PAGE;
                    self.sync_rows_to(want);
                }
                self.follow();
                Ok(())
            }
            _ => {
                let oid = revision::resolve(&self.ws, text)?;
                if !self.select_oid(oid)? {
                    anyhow::bail!(
                        "{} is not a snapshot on {}",
                        chain::short_id(oid),
                        if self.timeline.all {
                            "any chain".to_owned()
                        } else {
                            self.timeline.current.clone()
                        }
                    );
                }
                self.focus = Pane::Timeline;
                self.follow();
                Ok(())
            }
        }
    }

    // ---- actions --------------------------------------------------------

    fn selected_file(&self) -> Option<&FileEntry> {
        self.detail.as_ref()?.files.get(self.file_sel)
    }

    /// `r` (the selected file, widened with ← →) or `R` (everything).
    fn ask_restore(&mut self, whole: bool) {
        let Some(target) = self.selected_row().map(|r| r.oid) else {
            return self.error("no snapshot selected");
        };
        let mut scopes: Vec<Vec<u8>> = Vec::new();
        if let Some(f) = self.selected_file() {
            let mut p = f.path.clone();
            scopes.push(p.clone());
            while let Some(slash) = p.iter().rposition(|&b| b == b'/') {
                p.truncate(slash);
                scopes.push(p.clone());
            }
        }
        scopes.push(Vec::new());
        let at = if whole { scopes.len() - 1 } else { 0 };
        self.show_restore(target, scopes, at);
    }

    fn show_restore(&mut self, target: Oid, scopes: Vec<Vec<u8>>, at: usize) {
        let scope = &scopes[at];
        let req = RestoreRequest {
            dry_run: true,
            ..restore_request(target, scope)
        };
        let what = if scope.is_empty() {
            "the whole work tree".to_owned()
        } else {
            let p = String::from_utf8_lossy(scope);
            let kind = if at == 0 && self.selected_file().is_some() {
                "file"
            } else {
                "directory"
            };
            format!("{kind} {}", crate::cli::output::path(&p))
        };
        let id = chain::short_id(target);
        let age = self
            .selected_row()
            .map(|r| age(self.now, r.time.timestamp()))
            .unwrap_or_default();
        let plan = match restore::restore(&self.ws, &req) {
            Ok(o) => o,
            Err(e) => return self.error(format!("cannot restore: {e:#}")),
        };
        let mut lines = vec![format!("as in snapshot {id} ({age} ago)")];
        let widen = if scopes.len() > 1 {
            "   ← → : file · directory · whole snapshot"
        } else {
            ""
        };
        lines.push(format!("scope: {what}{widen}"));
        lines.push(String::new());
        let empty = plan.plan.is_empty();
        if empty {
            lines.push(format!("nothing to restore: {what} already matches {id}"));
        } else {
            lines.extend(self.plan_lines(&plan.plan));
            lines.push(String::new());
            lines.push(
                "The current state is saved first as a restore-safety snapshot; u undoes.".into(),
            );
        }
        for s in &plan.submodules {
            lines.push(format!("note: submodule {s} differs; it is not moved"));
        }
        let keys = if empty {
            "any key closes".to_owned()
        } else {
            format!(
                "y restore {} · n cancel{}",
                savepoint::plural(plan.plan.steps.len() as u64, "path"),
                if scopes.len() > 1 {
                    " · ← → scope"
                } else {
                    ""
                }
            )
        };
        self.overlay = Some(Overlay::Confirm(Confirm {
            title: format!("Restore {what}?"),
            lines,
            keys,
            empty: empty && scopes.len() == 1,
            action: Action::Restore { target, scopes, at },
        }));
    }

    /// `  modify  src/a.rs  +1 -1`, at most [`PLAN_LINES`].
    fn plan_lines(&self, plan: &restore::Plan) -> Vec<String> {
        let repo = self.ws.repo();
        let width = plan
            .steps
            .iter()
            .take(PLAN_LINES)
            .map(|s| s.change.path.len())
            .max()
            .unwrap_or(0)
            .min(50);
        let mut out: Vec<String> = plan
            .steps
            .iter()
            .take(PLAN_LINES)
            .map(|s| {
                let entry = FileEntry {
                    path: s.change.path.clone(),
                    status: 'M',
                    old: s.change.old,
                    new: s.change.new,
                    stat: None,
                };
                let path = crate::cli::output::path(&s.change.path_lossy()).into_owned();
                format!(
                    "  {:<6}  {path:<width$}  {}",
                    s.action.label(),
                    detail::stat(repo, &entry).text()
                )
            })
            .collect();
        if plan.steps.len() > PLAN_LINES {
            out.push(format!("  … and {} more", plan.steps.len() - PLAN_LINES));
        }
        out
    }

    fn ask_undo(&mut self) {
        let undo = match restore::find_undo(&self.ws) {
            Ok(UndoFound::Nothing { reason }) => {
                return self.info(format!("nothing to undo: {reason}"))
            }
            Ok(UndoFound::Undo(u)) => u,
            Err(e) => return self.error(format!("cannot undo: {e:#}")),
        };
        let what = match &undo.last {
            Some(last) => format!(
                "the {} of {} ago (from {})",
                last.kind.name(),
                age(self.now, last.timestamp().timestamp()),
                last.target_short()
            ),
            None => "the last restore or recover".to_owned(),
        };
        let request = RestoreRequest {
            only: undo.only.clone(),
            ..RestoreRequest::new(Operation::Undo, undo.target)
        };
        let preview = match restore::restore(
            &self.ws,
            &RestoreRequest {
                dry_run: true,
                ..request.clone()
            },
        ) {
            Ok(p) => p,
            Err(e) => return self.error(format!("cannot undo: {e:#}")),
        };
        if preview.plan.is_empty() {
            return self.info(format!(
                "nothing to undo: the work tree is as it was before {what}"
            ));
        }
        let mut lines = Vec::new();
        if undo.last.is_none() {
            lines.push(format!(
                "no record of the last restore: the whole work tree goes back to safety snapshot {}",
                undo.safety.as_deref().unwrap_or("?")
            ));
        }
        lines.push(format!(
            "{} back as before it{}",
            savepoint::plural(preview.plan.steps.len() as u64, "path"),
            match &undo.safety {
                Some(id) => format!(" (snapshot {id})"),
                None => " (HEAD's state)".to_owned(),
            }
        ));
        lines.push(String::new());
        lines.extend(self.plan_lines(&preview.plan));
        lines.push(String::new());
        lines.push("The current state is saved first; u again redoes.".into());
        self.overlay = Some(Overlay::Confirm(Confirm {
            title: format!("Undo {what}?"),
            lines,
            keys: "y undo · n cancel".into(),
            empty: false,
            action: Action::Undo { request, what },
        }));
    }

    fn ask_squash(&mut self) {
        let Some(row) = self.selected_row() else {
            return self.error("no snapshot selected");
        };
        let (oid, id) = (row.oid, row.id.clone());
        let prepared = match squash::prepare_at(&self.ws, &SquashRequest::default(), oid) {
            Ok(p) => p,
            Err(e) => return self.error(format!("{e:#}")),
        };
        let branch = prepared.branch.clone().unwrap_or_default();
        let mut lines = vec![
            format!(
                "{} and {} since HEAD become one commit on {branch}; later snapshots and later changes stay (unstaged).",
                savepoint::plural(prepared.snapshots.len() as u64, "snapshot"),
                savepoint::plural(prepared.files.len() as u64, "file"),
            ),
            String::new(),
        ];
        for l in prepared.default_message.lines().take(8) {
            lines.push(format!("  │ {}", crate::cli::output::text(l)));
        }
        lines.push(String::new());
        for (letter, path) in prepared.files.iter().take(PLAN_LINES) {
            lines.push(format!("  {letter} {}", crate::cli::output::path(path)));
        }
        if prepared.files.len() > PLAN_LINES {
            lines.push(format!(
                "  … and {} more",
                prepared.files.len() - PLAN_LINES
            ));
        }
        self.overlay = Some(Overlay::Confirm(Confirm {
            title: format!("Squash up to {id} into a commit on {branch}?"),
            lines,
            keys: "y commit · n cancel".into(),
            empty: false,
            action: Action::Squash {
                prepared: Box::new(prepared),
            },
        }));
    }

    fn write_brief(&mut self) {
        match savepoint::ops::handoff::write(&self.ws) {
            Ok(path) => {
                let shown = path
                    .strip_prefix(self.ws.workdir())
                    .map(|p| p.to_path_buf())
                    .unwrap_or(path);
                self.info(format!("hand-off brief written to {}", shown.display()))
            }
            Err(e) => self.error(format!("cannot write the brief: {e:#}")),
        }
    }

    fn confirm_key(&mut self, c: Confirm, k: KeyEvent) {
        if let Action::Restore { target, scopes, at } = &c.action {
            let n = scopes.len();
            let moved = match k.code {
                KeyCode::Right | KeyCode::Char('l') | KeyCode::Tab if at + 1 < n => Some(at + 1),
                KeyCode::Left | KeyCode::Char('h') | KeyCode::BackTab if *at > 0 => Some(at - 1),
                _ => None,
            };
            if let Some(at) = moved {
                return self.show_restore(*target, scopes.clone(), at);
            }
        }
        if c.empty {
            return;
        }
        match k.code {
            KeyCode::Char('y') | KeyCode::Enter => self.carry_out(c.action),
            KeyCode::Char('n') | KeyCode::Esc | KeyCode::Char('q') => {
                self.info("cancelled: nothing changed")
            }
            _ => self.overlay = Some(Overlay::Confirm(c)),
        }
    }

    fn carry_out(&mut self, action: Action) {
        match action {
            Action::Restore { target, scopes, at } => {
                match restore::restore(&self.ws, &restore_request(target, &scopes[at])) {
                    Ok(o) => {
                        let safety = match &o.safety {
                            Some(s) => format!("the state before is snapshot {s}"),
                            None => "the state before was HEAD's".into(),
                        };
                        let failed = if o.failed.is_empty() {
                            String::new()
                        } else {
                            format!("; {} failed: {}", o.failed.len(), o.failed.join(", "))
                        };
                        let text = if o.plan.is_empty() {
                            format!("nothing to restore: already as in {}", o.target)
                        } else {
                            format!(
                                "restored {} from {}; {safety} — u undoes{failed}",
                                savepoint::plural(o.plan.steps.len() as u64, "path"),
                                o.target
                            )
                        };
                        if o.failed.is_empty() {
                            self.info(text)
                        } else {
                            self.error(text)
                        }
                    }
                    Err(e) => self.error(format!("restore failed: {e:#}")),
                }
            }
            Action::Undo { request, what } => match restore::restore(&self.ws, &request) {
                Ok(o) => self.info(format!(
                    "undone: {} back as before {what} — u again redoes",
                    savepoint::plural(o.plan.steps.len() as u64, "path")
                )),
                Err(e) => self.error(format!("undo failed: {e:#}")),
            },
            Action::Squash { prepared } => {
                match squash::commit(&self.ws, &prepared, &prepared.default_message) {
                    Ok(done) => {
                        let branch = done.refname.trim_start_matches("refs/heads/");
                        let subject = prepared
                            .default_message
                            .lines()
                            .next()
                            .unwrap_or("")
                            .to_owned();
                        let warn = done
                            .index_warning
                            .map(|w| format!(" (index not updated: {w}; `git reset -q` fixes it)"))
                            .unwrap_or_default();
                        self.info(format!(
                            "[{branch} {}] {} — squashed {}{warn}",
                            done.commit,
                            crate::cli::output::text(&subject),
                            savepoint::plural(done.snapshots as u64, "snapshot")
                        ));
                    }
                    Err(e) => self.error(format!("squash failed: {e:#}")),
                }
            }
        }
        self.worktree_stale = true;
        self.detail_stale = true;
        self.tick();
    }
}

/// Restore `target`'s `scope` (a path; empty: the whole snapshot).
fn restore_request(target: Oid, scope: &[u8]) -> RestoreRequest {
    RestoreRequest {
        scope: if scope.is_empty() {
            Vec::new()
        } else {
            vec![scope.to_vec()]
        },
        ..RestoreRequest::new(Operation::Restore, target)
    }
}

/// `12s`, `3m`, `2h`, `5d`, `3mo`, `2y`.
pub fn age(now: i64, then: i64) -> String {
    let s = (now - then).max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m", s / 60),
        3_600..=86_399 => format!("{}h", s / 3_600),
        86_400..=2_591_999 => format!("{}d", s / 86_400),
        2_592_000..=31_535_999 => format!("{}mo", s / 2_592_000),
        _ => format!("{}y", s / 31_536_000),
    }
}
