// labelloop review console: keyboard-first decisions.
//
// Keys build a decision in the page (the picked label(s), spans, per-turn labels, a reject
// reason) and send it as one JSON command through the hidden #ll-command box and #ll-go
// button; the server checks everything again. Item text is only ever read from the DOM
// as text and written back with textContent, never as HTML.
//
// Judging tasks (pairwise, rating, ranking) show their replies as cards "Reply 1", "Reply 2",
// ... in an order of the reviewer's own; the page knows positions only and sends them, and
// the server turns them into reply ids.
(() => {
  "use strict";
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const S = {
    item: null, kind: "single", unit: "text", suggested: null, shownAt: 0,
    pick: null, picks: new Set(), spans: [], sel: -1, turns: {}, turn: -1,
    busy: false, busySince: 0, keyAt: null, rejecting: false, reason: null,
    judge: false, n: 0, tie: false, ratings: {}, ranking: [], focus: 1,
  };
  const JUDGE = new Set(["pairwise", "rating", "ranking"]);
  const replyName = (pos) => `Reply ${pos}`;
  // keypress -> next item on screen, in ms (read by benchmarks/bench_console.py)
  window.llLatency = [];

  const typing = (el) => el && (el.isContentEditable ||
    ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  const itemEl = () => $("#ll-item .ll-item");
  const visibleOpts = () => $$("#ll-labels .ll-opt").filter((li) => !li.hidden);
  const sameValue = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  // --- sending ----------------------------------------------------------------------------
  function send(cmd) {
    const box = $("#ll-command textarea, #ll-command input");
    const go = $("#ll-go");
    // one command at a time; a lost answer (an error) frees the keys after 5 s
    if ((S.busy && performance.now() - S.busySince < 5000) || !box || !go) return;
    cmd.item = S.item;
    cmd.ms = Math.round(performance.now() - S.shownAt);
    box.value = JSON.stringify(cmd);
    box.dispatchEvent(new Event("input", { bubbles: true }));
    S.busy = true;
    S.busySince = performance.now();
    S.keyAt = S.keyAt ?? performance.now();
    setTimeout(() => go.click(), 0);
    // no answer soon: perhaps the session ended (Gradio answers 401 and nothing more)
    setTimeout(() => { if (S.busy) checkSession(); }, 1500);
  }

  function checkSession() {
    fetch("/session", { credentials: "same-origin", cache: "no-store" }).then((r) => {
      if (r.status === 401) window.location.assign("/login?expired=1");
    }).catch(() => {});
  }
  setInterval(checkSession, 60_000);

  function current() {
    if (S.kind === "pairwise") return S.pick ? { label: S.pick } : null;
    if (S.kind === "rating") return Object.keys(S.ratings).length ? { ratings: { ...S.ratings } } : null;
    if (S.kind === "ranking") return S.ranking.length ? { ranking: [...S.ranking] } : null;
    if (S.unit === "turn") return Object.keys(S.turns).length ? { turns: S.turns } : null;
    if (S.kind === "spans") return { spans: S.spans.map(({ start, end, label }) => ({ start, end, label })) };
    if (S.kind === "multi") return S.picks.size ? { labels: Array.from(S.picks) } : null;
    return S.pick ? { label: S.pick } : null;
  }

  function submit() {
    if (!S.item) return;
    const value = current();
    if (S.judge && judgeMissing()) return;
    if (value === null) return flash("Pick a label first (1-9 or / to search)");
    if (S.unit === "turn") {
      const missing = userTurns().filter((t) => !(t in S.turns));
      if (missing.length) {
        S.turn = missing[0];
        renderTurns();
        renderPick();
        return flash(`Label every user turn first: #${missing.join(", #")} still have none (j/k move)`);
      }
    }
    const edited = S.suggested === null || !sameValue(normal(value), normal(S.suggested));
    send(edited ? { action: "fix", value } : { action: "accept" });
  }

  function accept() {
    if (!S.item) return;
    if (S.suggested === null) return submit();
    send({ action: "accept" });
  }

  // canonical form for "did the reviewer change the suggestion?"
  function normal(v) {
    if (!v) return v;
    if (v.ratings) return { ratings: Object.entries(v.ratings).map(([k, x]) => [String(k), String(x)]).sort() };
    if (v.ranking) return { ranking: v.ranking.map(String) };
    if (v.labels) return { labels: [...v.labels].sort() };
    if (v.spans) return { spans: v.spans.map((s) => [s.start, s.end, s.label]).sort() };
    if (v.turns) return { turns: Object.entries(v.turns).map(([k, l]) => [String(k), l]).sort() };
    return { label: v.label };
  }

  // --- a new item on screen -----------------------------------------------------------------
  function onItem() {
    const el = itemEl();
    const id = el ? el.dataset.item || null : null;
    if (S.keyAt !== null) {
      const t0 = S.keyAt;
      requestAnimationFrame(() => window.llLatency.push(performance.now() - t0));
    }
    S.keyAt = null;
    S.busy = false;
    const fresh = id !== S.item;
    S.item = id;
    dropNotes((m) => m.dataset.item !== id);
    S.shownAt = performance.now();
    S.rejecting = false;
    S.reason = null;
    closeReject();
    clearFlash();
    // with no item on screen there is nothing to decide: the panel of labels and keys goes
    $(".ll-picker")?.classList.toggle("ll-idle", !id);
    if (!el || !id) return renderPick();
    S.kind = el.dataset.kind || "single";
    S.unit = el.dataset.unit || "text";
    try { S.suggested = JSON.parse(el.dataset.suggested || "null"); } catch { S.suggested = null; }
    const v = S.suggested || {};
    S.judge = JUDGE.has(S.kind);
    S.n = $$(".ll-reply", el).length;
    S.tie = $(".ll-picker")?.dataset.tie === "1";
    S.ratings = Object.fromEntries(Object.entries(v.ratings || {}).map(([k, x]) => [String(k), String(x)]));
    S.ranking = (v.ranking || []).map(String);
    S.focus = 1;
    S.pick = v.label || null;
    S.picks = new Set(v.labels || []);
    S.spans = (v.spans || []).map((s) => ({ start: s.start, end: s.end, label: s.label }));
    S.sel = S.spans.length ? 0 : -1;
    S.turns = Object.assign({}, v.turns || {});
    const turns = userTurns();
    const target = $$(".ll-turn.ll-target", el)[0];
    S.turn = target ? Number(target.dataset.turn) : (turns.length ? turns[0] : -1);
    clearSearch();
    renderSpans();
    renderTurns();
    renderPick();
    renderButtons();
    if (fresh) showItem();
  }

  // a warning or error from the server names the item it is about: it goes when that item
  // leaves the screen, or once the reviewer acts on it
  function dropNotes(stale) {
    $$("#ll-status-box .ll-msg[data-item]").forEach((m) => { if (stale(m)) m.hidden = true; });
  }

  // nothing to accept (a blind item, or no suggestion): Save pick is the button to press
  function renderButtons() {
    const none = S.item !== null && S.suggested === null;
    const acceptBtn = $('.ll-buttons [data-ll-action="accept"]');
    const save = $('.ll-buttons [data-ll-action="submit"]');
    if (acceptBtn) acceptBtn.hidden = none;
    $$('#ll-keys [data-ll-key="accept"]').forEach((li) => { li.hidden = none; });
    if (save) save.classList.toggle("ll-primary", none);
  }

  // a new item starts at its top, wherever the page was scrolled before
  function showItem() {
    const box = $("#ll-item");
    if (!box || !reviewTabShown()) return;
    const focused = document.activeElement;
    if (focused && focused !== document.body && focused.offsetParent === null) focused.blur();
    const top = box.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight / 2) window.scrollTo(0, 0);
  }

  // the turns a per-turn guideline labels, as the server marked them
  function userTurns() {
    return $$("#ll-item .ll-turn").filter((li) => li.dataset.labelable === "1")
      .map((li) => Number(li.dataset.turn));
  }

  // --- the label list ------------------------------------------------------------------------
  function chooseLabel(name) {
    if (!name || !S.item) return;
    if (S.unit === "turn") {
      if (S.turn < 0) return;
      S.turns[S.turn] = name;
      // on to the next turn still without a label (turn numbers, not steps in the list)
      const rest = userTurns().filter((t) => t > S.turn && !(t in S.turns));
      if (rest.length) S.turn = rest[0];
      renderTurns();
    } else if (S.kind === "spans") {
      S.pick = name;
      if (S.sel >= 0) { S.spans[S.sel].label = name; renderSpans(); }
    } else if (S.kind === "multi") {
      if (S.picks.has(name)) S.picks.delete(name); else S.picks.add(name);
    } else {
      S.pick = name;
    }
    dropNotes((m) => !m.classList.contains("ll-info"));
    renderPick();
  }

  function renderPick() {
    if (S.judge) return renderJudge();
    const on = S.kind === "multi" ? S.picks : new Set(S.pick ? [S.pick] : []);
    if (S.unit === "turn" && S.turn >= 0 && S.turns[S.turn]) on.add(S.turns[S.turn]);
    $$("#ll-labels .ll-opt").forEach((li) => li.classList.toggle("ll-on", on.has(li.dataset.label)));
    const shown = $("#ll-pick");
    if (!shown) return;
    const value = current();
    shown.textContent = value === null ? "—" : describe(value);
  }

  function describe(v) {
    if (v.ratings) {
      return Object.entries(v.ratings).sort((a, b) => a[0] - b[0])
        .map(([k, x]) => `${replyName(k)}: ${x}`).join(" · ");
    }
    if (v.ranking) return v.ranking.map(replyName).join(" > ");
    if (S.judge && v.label) return v.label === "tie" ? "Tie" : replyName(v.label);
    if (v.turns) return Object.entries(v.turns).map(([k, l]) => `#${k} ${l}`).join("; ");
    if (v.spans) return v.spans.map((s) => `${s.label}[${s.start}:${s.end}]`).join("; ") || "(no spans)";
    if (v.labels) return v.labels.join(", ");
    return v.label;
  }

  // --- judging: replies by position ----------------------------------------------------------
  function judgeMissing() {
    if (S.kind === "pairwise" && !S.pick) {
      flash(`Pick the better reply first: 1 or 2${S.tie ? ", t for a tie" : ""}`);
      return true;
    }
    if (S.kind === "rating") {
      const missing = positions().filter((p) => !(p in S.ratings));
      if (missing.length) {
        S.focus = Number(missing[0]);
        renderJudge();
        flash(`Rate every reply first: ${missing.map(replyName).join(", ")} (Tab moves)`);
        return true;
      }
    }
    if (S.kind === "ranking" && S.ranking.length < S.n) {
      flash("Rank every reply first: press their numbers best first (r starts again)");
      return true;
    }
    return false;
  }

  const positions = () => Array.from({ length: S.n }, (_, i) => String(i + 1));

  function pickReply(pos) {
    if (Number(pos) > S.n) return flash(`There is no ${replyName(pos)}: press 1 to ${S.n}`);
    S.pick = String(pos);
    renderJudge();
  }

  function pickTie() {
    if (!S.tie) return flash("This task has no tie: pick the better reply (1 or 2)");
    S.pick = "tie";
    renderJudge();
  }

  function scaleValue(card, key) {
    const button = $$(".ll-rate", card)[key - 1];
    return button ? button.dataset.value : null;
  }

  function rate(pos, value) {
    if (value === null || value === undefined) {
      const n = $$(`#ll-item .ll-reply[data-pos="${pos}"] .ll-rate`).length;
      return flash(`The scale has ${n} values: press 1 to ${Math.min(n, 9)}`);
    }
    S.ratings[String(pos)] = String(value);
    // on to the next reply without a rating, else simply the next reply
    const rest = positions().filter((p) => !(p in S.ratings));
    const next = rest.find((p) => Number(p) > Number(pos)) || rest[0];
    if (next) S.focus = Number(next);
    else if (Number(pos) < S.n) S.focus = Number(pos) + 1;
    renderJudge();
  }

  function moveFocus(step) {
    if (!S.n) return;
    S.focus = ((S.focus - 1 + step + S.n) % S.n) + 1;
    renderJudge();
  }

  function rankNext(pos) {
    pos = String(pos);
    if (Number(pos) > S.n) return flash(`There is no ${replyName(pos)}: press 1 to ${S.n}`);
    if (S.ranking.length >= S.n) S.ranking = [];  // a full order: typing starts a new one
    if (S.ranking.includes(pos)) return flash(`${replyName(pos)} is ranked already (r starts again)`);
    S.ranking.push(pos);
    const rest = positions().filter((p) => !S.ranking.includes(p));
    if (rest.length === 1) S.ranking.push(rest[0]);  // the last one is last
    renderJudge();
  }

  function resetRanking() {
    S.ranking = [];
    renderJudge();
  }

  function renderJudge() {
    $$("#ll-item .ll-reply").forEach((card) => {
      const pos = card.dataset.pos;
      let mark = "";
      card.classList.remove("ll-on", "ll-tie", "ll-focus");
      if (S.kind === "pairwise") {
        if (S.pick === pos) { card.classList.add("ll-on"); mark = "better"; }
        else if (S.pick === "tie") { card.classList.add("ll-tie"); mark = "tie"; }
      } else if (S.kind === "rating") {
        const r = S.ratings[pos];
        if (r !== undefined) mark = `rated ${r}`;
        card.classList.toggle("ll-focus", Number(pos) === S.focus);
        $$(".ll-rate", card).forEach((b) => b.classList.toggle("ll-on", b.dataset.value === r));
      } else if (S.kind === "ranking") {
        const i = S.ranking.indexOf(pos);
        if (i >= 0) mark = `#${i + 1}`;
        card.classList.toggle("ll-on", i === 0);
      }
      const slot = card.querySelector(".ll-reply-mark");
      if (slot) slot.textContent = mark;
    });
    $$("[data-ll-pick]").forEach((b) => b.classList.toggle("ll-on", b.dataset.llPick === S.pick));
    const shown = $("#ll-pick");
    if (!shown) return;
    const value = current();
    let text = value === null ? "—" : describe(value);
    if (S.kind === "ranking" && S.ranking.length && S.ranking.length < S.n) text += " > …";
    if (S.kind === "rating" && S.n) text = positions().map((p) => `${replyName(p)}: ${S.ratings[p] ?? "—"}`).join(" · ");
    shown.textContent = text;
  }

  function judgeKey(e) {
    const key = e.key;
    const digit = /^[1-9]$/.test(key);
    if (S.kind === "pairwise") {
      if (digit) pickReply(key);
      else if (key === "t" || key === "0") pickTie();
      else return false;
    } else if (S.kind === "rating") {
      if (digit) rate(S.focus, scaleValue($(`#ll-item .ll-reply[data-pos="${S.focus}"]`), Number(key)));
      else if (key === "Tab") moveFocus(e.shiftKey ? -1 : 1);
      else if (key === "ArrowRight" || key === "ArrowLeft") moveFocus(key === "ArrowLeft" ? -1 : 1);
      else return false;
    } else if (S.kind === "ranking") {
      if (digit) rankNext(key);
      else if (key === "r") resetRanking();
      else return false;
    } else {
      return false;
    }
    e.preventDefault();
    return true;
  }

  function filterLabels(q) {
    const query = q.trim().toLowerCase();
    const words = query.split(/\s+/).filter(Boolean);
    let n = 0;
    $$("#ll-labels .ll-opt").forEach((li) => {
      const name = li.dataset.label.toLowerCase();
      const ok = words.every((w) => name.includes(w));
      li.hidden = !ok;
      li.classList.remove("ll-hi");
      const kbd = li.querySelector("kbd");
      kbd.textContent = ok && n < 9 ? String(++n) : "";
    });
    const first = visibleOpts()[0];
    if (first && query) first.classList.add("ll-hi");
  }

  function clearSearch() {
    const box = $("#ll-search");
    if (box) box.value = "";
    filterLabels("");
  }

  function moveHighlight(step) {
    const opts = visibleOpts();
    if (!opts.length) return;
    let i = opts.findIndex((li) => li.classList.contains("ll-hi"));
    opts.forEach((li) => li.classList.remove("ll-hi"));
    i = Math.max(0, Math.min(opts.length - 1, i + step));
    opts[i].classList.add("ll-hi");
    opts[i].scrollIntoView({ block: "nearest" });
  }

  // --- transcripts: one label per user turn -------------------------------------------------
  function moveTurn(step) {
    const turns = userTurns();
    if (!turns.length) return;
    const i = turns.indexOf(S.turn);
    S.turn = turns[Math.max(0, Math.min(turns.length - 1, (i < 0 ? 0 : i) + step))];
    renderTurns();
    renderPick();
  }

  function renderTurns() {
    $$("#ll-item .ll-turn").forEach((li) => {
      const t = Number(li.dataset.turn);
      const active = S.unit === "turn" && t === S.turn;
      li.classList.toggle("ll-active", active);
      const slot = li.querySelector(".ll-turn-label");
      if (slot) slot.textContent = S.unit === "turn" && S.turns[t] ? S.turns[t] : "";
      // the keys move the active turn: in a long transcript it may be off screen
      if (active) li.scrollIntoView({ block: "nearest" });
    });
  }

  // --- spans: offsets count code points, as Python does -------------------------------------
  function textBox() { return $("#ll-item .ll-text"); }
  function chars() { const el = textBox(); return el ? Array.from(el.dataset.text || "") : []; }

  function renderSpans() {
    const el = textBox();
    if (!el || S.kind !== "spans") return;
    const text = chars();
    const order = S.spans.map((s, i) => ({ ...s, i })).sort((a, b) => a.start - b.start || a.end - b.end);
    el.textContent = "";
    let at = 0;
    for (const s of order) {
      if (s.start < at || s.end > text.length || s.start >= s.end) continue;
      el.append(document.createTextNode(text.slice(at, s.start).join("")));
      const mark = document.createElement("mark");
      mark.className = "ll-span" + (s.i === S.sel ? " ll-sel" : "");
      mark.dataset.i = String(s.i);
      mark.dataset.start = String(s.start);
      mark.dataset.end = String(s.end);
      mark.dataset.label = s.label;
      mark.textContent = text.slice(s.start, s.end).join("");
      el.append(mark);
      at = s.end;
    }
    el.append(document.createTextNode(text.slice(at).join("")));
    renderPick();
  }

  function selectionOffsets() {
    const el = textBox();
    const sel = window.getSelection();
    if (!el || !sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
    const range = sel.getRangeAt(0);
    if (!el.contains(range.startContainer) || !el.contains(range.endContainer)) return null;
    const before = document.createRange();
    before.selectNodeContents(el);
    before.setEnd(range.startContainer, range.startOffset);
    const start = Array.from(before.toString()).length;
    const end = start + Array.from(range.toString()).length;
    return start < end ? { start, end } : null;
  }

  function newSpan() {
    const where = selectionOffsets();
    const label = S.pick || (visibleOpts()[0] || {}).dataset?.label;
    if (!where) return flash("Select some text first, then press n");
    S.spans.push({ ...where, label });
    S.sel = S.spans.length - 1;
    window.getSelection().removeAllRanges();
    renderSpans();
  }

  function adjustSpan(edge, step) {
    if (S.sel < 0) return;
    const s = S.spans[S.sel];
    const n = chars().length;
    if (edge === "end") s.end = Math.max(s.start + 1, Math.min(n, s.end + step));
    else s.start = Math.max(0, Math.min(s.end - 1, s.start + step));
    renderSpans();
  }

  function removeSpan() {
    if (S.sel < 0) return;
    S.spans.splice(S.sel, 1);
    S.sel = Math.min(S.sel, S.spans.length - 1);
    renderSpans();
  }

  function cycleSpan(step) {
    if (!S.spans.length) return;
    S.sel = (S.sel + step + S.spans.length) % S.spans.length;
    renderSpans();
  }

  // --- reject --------------------------------------------------------------------------------
  function openReject() {
    const box = $("#ll-reject");
    if (!box || !S.item) return;
    S.rejecting = true;
    S.reason = null;
    box.hidden = false;
    $$("#ll-reject li").forEach((li) => li.classList.remove("ll-on"));
  }

  function closeReject() {
    const box = $("#ll-reject");
    if (box) box.hidden = true;
    const comment = $("#ll-comment");
    if (comment) comment.value = "";
    S.rejecting = false;
  }

  function pickReason(n) {
    const li = $$("#ll-reject li")[n - 1];
    if (!li) return;
    S.reason = li.dataset.reason;
    $$("#ll-reject li").forEach((x) => x.classList.toggle("ll-on", x === li));
    if (S.reason === "other") $("#ll-comment").focus();
    else sendReject();
  }

  function sendReject() {
    if (!S.reason) return flash("Pick a reason (1-5)");
    const comment = ($("#ll-comment") || {}).value || "";
    if (S.reason === "other" && !comment.trim()) return flash("Say why in the comment");
    const value = current();
    send({ action: "reject", reason: S.reason, comment, value });
    closeReject();
  }

  // --- small things --------------------------------------------------------------------------
  function toggleGuideline(force) {
    const g = $("#ll-guideline");
    if (g) g.classList.toggle("ll-closed", force === undefined ? undefined : !force);
  }

  // a note on the key just pressed, fixed at the bottom of the window so that it is seen
  // wherever the page is scrolled; the next key, click or answer from the server takes it
  function flash(text) {
    let note = $("#ll-flash");
    if (!note) {
      note = document.createElement("div");
      note.id = "ll-flash";
      note.className = "ll-msg ll-warn ll-flash";
      note.setAttribute("role", "status");
      document.body.append(note);
    }
    note.textContent = text;
  }

  function clearFlash() { $("#ll-flash")?.remove(); }

  function reviewTabShown() {
    const item = $("#ll-item");
    return item && item.offsetParent !== null;
  }

  // --- keys ----------------------------------------------------------------------------------
  function onSearchKey(e) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      moveHighlight(e.key === "ArrowDown" ? 1 : -1);
    } else if (e.key === "Enter") {
      e.preventDefault();
      const li = $("#ll-labels .ll-opt.ll-hi") || visibleOpts()[0];
      if (li) chooseLabel(li.dataset.label);
      clearSearch();
      e.target.blur();
    } else if (e.key === "Escape") {
      clearSearch();
      e.target.blur();
    }
  }

  function onCommentKey(e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); sendReject(); }
    else if (e.key === "Escape") { e.preventDefault(); closeReject(); e.target.blur(); }
  }

  const SPAN_KEYS = {
    n: newSpan, "[": () => cycleSpan(-1), "]": () => cycleSpan(1),
    ",": () => adjustSpan("end", -1), ".": () => adjustSpan("end", 1),
    "<": () => adjustSpan("start", -1), ">": () => adjustSpan("start", 1),
    Delete: removeSpan,
  };

  document.addEventListener("keydown", (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey || e.isComposing) return;
    clearFlash();
    if (e.target.id === "ll-search") return onSearchKey(e);
    if (e.target.id === "ll-comment") return onCommentKey(e);
    if (typing(e.target) || !reviewTabShown()) return;
    const key = e.key;
    if (key === "g") { toggleGuideline(); return e.preventDefault(); }
    if (key === "Escape") { toggleGuideline(false); closeReject(); clearSearch(); return; }
    if (e.repeat) return;
    if (S.rejecting) {
      if (/^[1-9]$/.test(key)) { e.preventDefault(); pickReason(Number(key)); }
      else if (key === "Enter") { e.preventDefault(); sendReject(); }
      return;
    }
    if (S.judge && judgeKey(e)) return;
    if (key === "/") { e.preventDefault(); $("#ll-search")?.focus(); return; }
    if (/^[1-9]$/.test(key)) {
      e.preventDefault();
      const li = visibleOpts()[Number(key) - 1];
      if (li) chooseLabel(li.dataset.label);
      return;
    }
    if (S.kind === "spans" && SPAN_KEYS[key]) { e.preventDefault(); SPAN_KEYS[key](); return; }
    if (S.unit === "turn" && (key === "j" || key === "k")) {
      e.preventDefault();
      moveTurn(key === "j" ? 1 : -1);
      return;
    }
    // Enter/Space on a focused control presses it; not on one left focused in a hidden tab
    // (the browser's "Edit in the review tab" button keeps the focus when its tab goes).
    // The other keys act on the item wherever the focus is.
    const pressing = key === "Enter" || key === " ";
    if (pressing && e.target.closest?.("button, a") && e.target.offsetParent !== null) return;
    const actions = {
      a: accept, Enter: submit, " ": () => send({ action: "skip" }),
      Backspace: () => send({ action: "undo" }), x: openReject,
    };
    if (actions[key]) {
      e.preventDefault();
      if (!S.busy) S.keyAt = performance.now();
      actions[key]();
    }
  });

  // clicks: labels, reasons, the buttons, and rows of the item browser
  document.addEventListener("click", (e) => {
    const t = e.target;
    clearFlash();
    // a clicked tab keeps the focus, where Enter and Space would press it again: back on
    // the review tab, they go to the item
    const tab = t.closest?.('[role="tab"]');
    if (tab) return void setTimeout(() => { if (reviewTabShown()) tab.blur(); }, 0);
    const opt = t.closest?.("#ll-labels .ll-opt");
    if (opt) return chooseLabel(opt.dataset.label);
    const reason = t.closest?.("#ll-reject li");
    if (reason) return pickReason($$("#ll-reject li").indexOf(reason) + 1);
    if (S.judge && S.item && judgeClick(t)) return;
    const btn = t.closest?.("[data-ll-action]");
    if (btn) {
      const act = btn.dataset.llAction;
      const map = { accept, submit, reject: openReject, skip: () => send({ action: "skip" }),
        undo: () => send({ action: "undo" }), guideline: () => toggleGuideline(),
        reset: resetRanking };
      S.keyAt = performance.now();
      return map[act] && map[act]();
    }
    const row = t.closest?.("#ll-browse .ll-row");
    if (row) {
      const box = $("#ll-open-id textarea, #ll-open-id input");
      if (!box) return;
      box.value = row.dataset.item;
      box.dispatchEvent(new Event("input", { bubbles: true }));
      setTimeout(() => $("#ll-open")?.click(), 0);
    }
  });

  // clicks on the replies: a card's title picks it (pairwise), focuses it (rating) or ranks
  // it next (ranking); a scale button rates its reply; the pick buttons pick
  function judgeClick(t) {
    const pick = t.closest?.("[data-ll-pick]");
    const rateBtn = t.closest?.("#ll-item .ll-rate");
    const head = t.closest?.("#ll-item .ll-reply-head");
    if (pick) {
      if (pick.dataset.llPick === "tie") pickTie(); else pickReply(pick.dataset.llPick);
      pick.blur();  // Enter saves, and does not press the button again
    } else if (rateBtn) {
      S.focus = Number(rateBtn.dataset.pos);
      rate(rateBtn.dataset.pos, rateBtn.dataset.value);
      rateBtn.blur();
    } else if (head) {
      const pos = head.closest(".ll-reply").dataset.pos;
      if (S.kind === "pairwise") pickReply(pos);
      else if (S.kind === "rating") { S.focus = Number(pos); renderJudge(); }
      else rankNext(pos);
    } else {
      return false;
    }
    return true;
  }

  document.addEventListener("input", (e) => {
    if (e.target.id === "ll-search") filterLabels(e.target.value);
  });

  // a note answering a button far down the page (Save change, Decide) is brought into view
  // when it appears
  const NOTES = "#ll-change-note, #ll-browse-note, #ll-adj-note";
  new MutationObserver((changes) => {
    for (const m of changes) {
      for (const n of m.addedNodes) {
        if (n.nodeType !== 1) continue;
        const msg = n.matches(".ll-msg") ? n : n.querySelector(".ll-msg");
        if (msg && msg.closest(NOTES) && msg.offsetParent !== null) {
          return msg.scrollIntoView({ block: "nearest" });
        }
      }
    }
  }).observe(document.body, { childList: true, subtree: true });

  // the server's answer: every one carries a new stamp on the item (errors included)
  const watch = () => {
    const item = $("#ll-item");
    if (!item) return setTimeout(watch, 50);
    let last = null;
    new MutationObserver(() => {
      // every answer from the server carries a new stamp; edits made here keep it
      const el = itemEl();
      const now = el ? el.dataset.v || "" : null;
      if (now !== last) { last = now; onItem(); }
    }).observe(item, { childList: true, subtree: true, characterData: true });
    onItem();
  };
  // the browser would open the page where it was scrolled last time: the item first
  if ("scrollRestoration" in history) history.scrollRestoration = "manual";
  watch();
})();
