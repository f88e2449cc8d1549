/* call-risk review page: vanilla JS, no framework, nothing loaded from elsewhere.
 *
 * Three views behind the URL hash: #/calls?filters (the audit log), #/call/<id> (one call's
 * explanation) and #/model (the champion's report card). Every text from the server is inserted
 * with textContent, never as HTML: call records are user input.
 */
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const FILTERS = ["since", "until", "district", "call_type", "tier", "decision", "sort", "limit"];
  // Tier, decision and warning words come from the server (api/vocab, risk_model/vocab.py).
  const words = { tier: {}, decision: {}, warning: {} };
  const state = { facets: null, lastCallsHash: "#/calls", model: null, vocab: false };

  // ------------------------------------------------------------------ small helpers
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) node.setAttribute(k, String(v));
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function pct(p) {
    if (p === null || p === undefined || !isFinite(p)) return "n/a";
    const v = 100 * p;
    if (v === 0) return "0%";
    if (v >= 10) return v.toFixed(0) + "%";
    if (v >= 1) return v.toFixed(1) + "%";
    if (v >= 0.1) return v.toFixed(2) + "%";
    return v.toFixed(3) + "%";
  }

  function num(x, digits) {
    if (x === null || x === undefined || !isFinite(x)) return "n/a";
    return Number(x).toFixed(digits === undefined ? 2 : digits);
  }

  function int(x) {
    return x === null || x === undefined ? "n/a" : Number(x).toLocaleString("en-US");
  }

  function signed(x, digits) {
    const d = digits === undefined ? 2 : digits;
    const v = Number(x);
    // A real minus sign reads better than a hyphen; the sign is text, not only colour.
    return (v >= 0 ? "+" : "\u2212") + Math.abs(v).toFixed(d);
  }

  function ratio(x) {
    return x === null || x === undefined ? "n/a" : Number(x).toFixed(2) + "\u00d7";
  }

  function badge(kind, value) {
    return el("span", { class: `badge ${kind}-${value}`, text: words[kind][value] || value });
  }

  function setStatus(message, isError) {
    const s = document.getElementById("status");
    s.textContent = message || "";
    s.classList.toggle("error", Boolean(isError));
  }

  async function getJSON(url) {
    const resp = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      body = null;
    }
    if (!resp.ok) {
      const msg = body && body.error ? body.error : `the server answered ${resp.status}`;
      throw new Error(msg);
    }
    return body;
  }

  async function loadVocab() {
    if (state.vocab) return;
    const v = await getJSON("api/vocab");
    for (const t of v.tiers || []) words.tier[t.value] = t.label;
    for (const d of v.decisions || []) words.decision[d.value] = d.label;
    for (const w of v.warnings || []) words.warning[w.code] = w.label;
    state.vocab = true;
  }

  function showView(name) {
    for (const v of ["calls", "call", "model", "live"]) {
      document.getElementById(`view-${v}`).hidden = v !== name;
    }
    const active = name === "model" ? "nav-model" : name === "live" ? "nav-live" : "nav-calls";
    for (const id of ["nav-calls", "nav-model", "nav-live"]) {
      const a = document.getElementById(id);
      if (id === active) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  function wrapText(text, maxChars) {
    const words = String(text).split(/\s+/);
    const lines = [];
    let line = "";
    for (const w of words) {
      if (line && (line + " " + w).length > maxChars) {
        lines.push(line);
        line = w;
      } else {
        line = line ? line + " " + w : w;
      }
    }
    if (line) lines.push(line);
    return lines;
  }

  function niceTicks(lo, hi, count) {
    const span = hi - lo || 1;
    const raw = span / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= count) || raw;
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) {
      ticks.push(Math.round(t / step) * step);
    }
    return ticks;
  }

  // ------------------------------------------------------------------ routing
  function parseHash() {
    const h = location.hash || "#/calls";
    if (h.startsWith("#/call/")) {
      return { view: "call", id: decodeURIComponent(h.slice("#/call/".length)) };
    }
    if (h.startsWith("#/model")) return { view: "model" };
    if (h.startsWith("#/live")) return { view: "live" };
    const q = h.indexOf("?");
    return { view: "calls", params: new URLSearchParams(q >= 0 ? h.slice(q + 1) : "") };
  }

  async function route() {
    const r = parseHash();
    setStatus("");
    try {
      await loadVocab();
      if (r.view === "call") {
        showView("call");
        await renderCall(r.id);
      } else if (r.view === "model") {
        showView("model");
        await renderModel();
      } else if (r.view === "live") {
        showView("live");
        await renderLive();
      } else {
        showView("calls");
        state.lastCallsHash = location.hash || "#/calls";
        await renderCalls(r.params);
      }
    } catch (err) {
      setStatus(`Could not load this view: ${err.message}`, true);
    }
  }

  // ------------------------------------------------------------------ calls list
  function fillSelect(select, values, words) {
    const keep = select.value;
    while (select.options.length > 1) select.remove(1);
    for (const v of values) {
      select.append(el("option", { value: v, text: words && words[v] ? words[v] : v }));
    }
    select.value = keep;
  }

  async function loadFacets() {
    if (state.facets) return state.facets;
    const f = await getJSON("api/facets");
    state.facets = f;
    fillSelect(document.getElementById("f-district"), f.district || []);
    fillSelect(document.getElementById("f-call_type"), f.call_type || []);
    fillSelect(document.getElementById("f-tier"), f.risk_tier || [], words.tier);
    fillSelect(document.getElementById("f-decision"), f.decision || [], words.decision);
    return f;
  }

  function formToHash() {
    const form = document.getElementById("filters");
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const v = form.elements[name].value;
      if (v && !(name === "sort" && v === "time") && !(name === "limit" && v === "200")) {
        params.set(name, v);
      }
    }
    const qs = params.toString();
    return "#/calls" + (qs ? "?" + qs : "");
  }

  function applyFilters(event) {
    if (event) event.preventDefault();
    const target = formToHash();
    if (location.hash === target) route();
    else location.hash = target;
  }

  async function renderCalls(params) {
    await loadFacets();
    const form = document.getElementById("filters");
    for (const name of FILTERS) {
      const v = params.get(name);
      form.elements[name].value = v || (name === "sort" ? "time" : name === "limit" ? "200" : "");
    }
    const sort = form.elements.sort.value;
    const api = new URLSearchParams();
    for (const name of FILTERS) {
      const v = form.elements[name].value;
      if (v) api.set(name, v);
    }
    const data = await getJSON("api/calls?" + api.toString());
    document.getElementById("th-score").setAttribute(
      "aria-sort",
      sort === "score" ? "descending" : sort === "score_asc" ? "ascending" : "none",
    );
    document.getElementById("th-received").setAttribute(
      "aria-sort",
      sort === "time" ? "descending" : "none",
    );
    const sortButton = document.getElementById("sort-score");
    sortButton.textContent =
      sort === "score" ? "Probability \u25BC" : sort === "score_asc" ? "Probability \u25B2" : "Probability";
    sortButton.setAttribute(
      "aria-label",
      sort === "score" ? "Probability, highest first; sort lowest first" : "Probability; sort highest first",
    );

    const tbody = document.querySelector("#calls-table tbody");
    tbody.replaceChildren();
    for (const row of data.calls) {
      const href = "#/call/" + encodeURIComponent(row.call_id);
      const tr = el(
        "tr",
        { "data-call-id": row.call_id, "data-district": row.district || "" },
        el("td", { text: row.received }),
        el("td", {}, el("a", { href, class: "call-link", text: row.call_id })),
        el("td", { text: row.call_type || "not recorded" }),
        el("td", { text: row.district || "not recorded" }),
        el(
          "td",
          { class: "num" },
          el("strong", { text: row.percent }),
          row.times_base !== null ? el("div", { class: "note", text: `${num(row.times_base, 1)}\u00d7 base rate` }) : null,
        ),
        el("td", {}, badge("tier", row.risk_tier)),
        el("td", {}, badge("decision", row.decision)),
      );
      tr.addEventListener("click", (e) => {
        if (e.target.closest("a")) return;
        location.hash = href;
      });
      tbody.append(tr);
    }
    const order =
      sort === "score" ? "highest probability first" : sort === "score_asc" ? "lowest probability first" : "newest first";
    let text = `${int(data.count)} call${data.count === 1 ? "" : "s"}, ${order}.`;
    if (data.count === 0) text = "No scored calls match these filters.";
    if (data.count >= data.limit) {
      text += ` Only the first ${int(data.limit)} matching calls in this order are shown;` +
        " narrow the filters or show more to see others.";
    }
    text += ` Base rate: ${pct(data.base_rate)} of calls (model version ${data.model.version}).`;
    document.getElementById("calls-summary").textContent = text;
  }

  // ------------------------------------------------------------------ one call
  function section(title, ...children) {
    return el("section", { class: "block" }, el("h3", { text: title }), ...children);
  }

  function waterfallChart(wf, probabilityText) {
    const rows = [];
    rows.push({ kind: "start", text: "Starting point: the model's average call", value: wf.base });
    for (const s of wf.steps) rows.push({ kind: "step", ...s });
    if (wf.other) rows.push({ kind: "step", other: true, ...wf.other });
    rows.push({ kind: "end", text: "This call's raw score", value: wf.total });

    const W = 980;
    const labelW = 470;
    const valueW = 110;
    const left = labelW + 16;
    const right = W - valueW;
    const lineH = 16;
    const levels = [wf.base, wf.total];
    for (const r of rows) if (r.kind === "step") levels.push(r.start, r.end);
    let lo = Math.min(...levels);
    let hi = Math.max(...levels);
    const pad = Math.max((hi - lo) * 0.06, 0.1);
    lo -= pad;
    hi += pad;
    const x = (v) => left + ((v - lo) / (hi - lo)) * (right - left);

    const layout = [];
    let y = 10;
    for (const r of rows) {
      const lines = wrapText(r.text, 58);
      const h = Math.max(30, lines.length * lineH + 12);
      layout.push({ r, lines, y, h });
      y += h;
    }
    const axisY = y + 6;
    const H = axisY + 46;
    const root = svg("svg", {
      viewBox: `0 0 ${W} ${H}`,
      role: "img",
      "aria-labelledby": "wf-title wf-desc",
      class: "waterfall",
    });
    root.append(svg("title", { id: "wf-title" }, "How each factor pushed this call's score"));
    root.append(
      svg(
        "desc",
        { id: "wf-desc" },
        rows
          .map((r) => (r.kind === "step" ? `${r.text}: ${signed(r.contribution)}` : `${r.text}: ${num(r.value)}`))
          .join("; "),
      ),
    );
    const ticks = niceTicks(lo, hi, 6);
    const axis = svg("g", { class: "axis" });
    for (const t of ticks) {
      axis.append(svg("line", { x1: x(t), x2: x(t), y1: 4, y2: axisY, class: "grid" }));
      axis.append(svg("text", { x: x(t), y: axisY + 16, "text-anchor": "middle", class: "axis-label" }, num(t, 1)));
    }
    axis.append(svg("line", { x1: left, x2: right, y1: axisY, y2: axisY }));
    axis.append(
      svg(
        "text",
        { x: (left + right) / 2, y: axisY + 36, "text-anchor": "middle", class: "axis-label" },
        "Model's raw score (log-odds): further right = higher risk",
      ),
    );
    root.append(axis);

    let prevX = null;
    for (const { r, lines, y: top, h } of layout) {
      const g = svg("g", { class: `row row-${r.kind}` });
      const mid = top + h / 2;
      const textTop = mid - ((lines.length - 1) * lineH) / 2 + 4;
      const label = svg("text", { x: labelW, y: textTop, "text-anchor": "end", class: "label" });
      lines.forEach((line, i) => {
        label.append(svg("tspan", { x: labelW, dy: i === 0 ? 0 : lineH }, line));
      });
      g.append(label);
      if (r.kind === "step") {
        const up = r.contribution >= 0;
        const x1 = x(Math.min(r.start, r.end));
        const x2 = x(Math.max(r.start, r.end));
        const bar = svg("rect", {
          x: x1,
          y: top + 6,
          width: Math.max(x2 - x1, 2),
          height: h - 12,
          class: r.other ? "bar-neutral" : up ? "bar-up" : "bar-down",
        });
        bar.append(svg("title", {}, `${r.text}: ${signed(r.contribution)} (odds \u00d7${num(r.odds_multiplier)})`));
        g.append(bar);
        if (prevX !== null) {
          g.append(svg("line", { x1: prevX, x2: prevX, y1: top - 6, y2: top + 6, class: "connector" }));
        }
        const endX = x(r.end);
        const valueText = `${up ? "\u25B2" : "\u25BC"} ${signed(r.contribution)}`;
        // Value label beside the bar's far end, inside the chart (flipped when near the edge).
        const atRight = up ? x2 + 6 : x1 - 6;
        const anchor = up ? "start" : "end";
        g.append(
          svg(
            "text",
            {
              x: Math.min(Math.max(atRight, left + 2), W - 4),
              y: mid + 4,
              "text-anchor": atRight > W - valueW + 90 ? "end" : anchor,
              class: `value ${up ? "up" : "down"}`,
            },
            valueText,
          ),
        );
        prevX = endX;
      } else {
        const vx = x(r.value);
        g.append(svg("line", { x1: vx, x2: vx, y1: top + 4, y2: top + h - 4, class: "marker-line" }));
        g.append(
          svg("text", { x: vx + 8, y: mid + 4, "text-anchor": "start", class: "value" }, num(r.value)),
        );
        if (r.kind === "end" && prevX !== null) {
          g.append(svg("line", { x1: prevX, x2: prevX, y1: top - 6, y2: top + 4, class: "connector" }));
        }
        prevX = vx;
      }
      root.append(g);
    }

    const table = el(
      "table",
      { class: "data" },
      el("caption", { class: "visually-hidden", text: "The chart as a table" }),
      el(
        "thead",
        {},
        el("tr", {}, el("th", { scope: "col", text: "Factor" }), el("th", { scope: "col", class: "num", text: "Push (log-odds)" }), el("th", { scope: "col", class: "num", text: "Odds multiplied by" })),
      ),
      el(
        "tbody",
        {},
        el("tr", {}, el("td", { text: "Starting point: the model's average call" }), el("td", { class: "num", text: num(wf.base) }), el("td", { class: "num", text: "" })),
        [...wf.steps, ...(wf.other ? [wf.other] : [])].map((s) =>
          el("tr", {}, el("td", { text: s.text }), el("td", { class: "num", text: signed(s.contribution) }), el("td", { class: "num", text: "\u00d7" + num(s.odds_multiplier) })),
        ),
        el("tr", {}, el("td", { text: "This call's raw score" }), el("td", { class: "num", text: num(wf.total) }), el("td", { class: "num", text: "" })),
      ),
    );
    return el(
      "figure",
      { class: "chart", id: "waterfall" },
      root,
      el(
        "figcaption",
        {},
        "Each bar is one fact about the call and how far it pushed the model's raw score: " +
          "\u25B2 and a + sign raise the risk, \u25BC and a \u2212 sign lower it. A push of +0.69 " +
          "doubles the odds; \u22120.69 halves them. The bars add up to the raw score, which " +
          `calibration then turns into the probability shown above (${probabilityText}).`,
      ),
      el("details", {}, el("summary", { text: "The chart as a table" }), table),
    );
  }

  async function renderCall(id) {
    const view = document.getElementById("view-call");
    view.replaceChildren(el("p", { text: "Loading the call\u2026" }));
    const c = await getJSON("api/calls/" + encodeURIComponent(id));
    const a = c.assessment;
    const callType = (c.facts.find((f) => f.key === "call_type") || {}).value;
    const received = (c.facts.find((f) => f.key === "received_at") || {}).value;

    const head = el(
      "div",
      { class: "call-head" },
      el("h2", { id: "call-title", tabindex: "-1", text: `Call ${c.call_id}: ${callType}` }),
      el("button", { type: "button", id: "print", class: "no-print", onclick: () => window.print() }, "Print this call"),
    );
    const back = el("a", { href: state.lastCallsHash, class: "backlink no-print" }, "\u2190 Back to the list of calls");

    const verdict = el(
      "div",
      { class: "verdict" },
      el(
        "div",
        { class: "card", id: "score-card" },
        el("h3", { text: "Probability an officer is harmed" }),
        el("p", { class: "big", id: "score-percent", text: c.score.percent }),
        el("p", { text: c.score.one_in ? `${c.score.one_in} like this one` : "" }),
        el("p", { id: "score-times", text: `${c.score.times_base_words} (${c.score.base_rate_percent} of calls)` }),
      ),
      el(
        "div",
        { class: "card", id: "tier-card" },
        el("h3", { text: "Risk tier" }),
        el("p", {}, badge("tier", c.tier.value)),
        el("p", { text: c.tier.meaning }),
      ),
      el(
        "div",
        { class: "card", id: "decision-card" },
        el("h3", { text: "Decision" }),
        el("p", {}, badge("decision", c.decision.value)),
        el("p", { text: c.decision.meaning }),
      ),
    );

    // "Can't tell" is explained by the decision card; every other warning is listed with the
    // server's label for its code and the model's own words for this call.
    const warnings = (c.warning_items || []).filter((w) => w.code !== "cant_tell");
    const warnBox = warnings.length
      ? el(
          "div",
          { class: "warnings", role: "note", id: "call-warnings" },
          el("strong", { text: "Notes on this score" }),
          el(
            "ul",
            {},
            warnings.map((w) =>
              el(
                "li",
                { "data-code": w.code },
                el("strong", { text: words.warning[w.code] || w.label || w.code }),
                w.text ? `: ${w.text}` : "",
              ),
            ),
          ),
        )
      : null;

    const facts = el(
      "dl",
      { class: "facts", id: "call-facts" },
      c.facts.map((f) => [el("dt", { text: f.label }), el("dd", { "data-key": f.key, text: f.value })]),
    );
    const flags = el(
      "table",
      { class: "data", id: "call-flags" },
      el("caption", { class: "visually-hidden", text: "What the caller reported" }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Caller reported" }), el("th", { scope: "col", text: "Answer" }))),
      el(
        "tbody",
        {},
        c.flags.map((f) =>
          el("tr", {}, el("th", { scope: "row", text: f.label }), el("td", { "data-key": f.key, text: f.value === "unknown" ? "unknown (not recorded)" : f.value })),
        ),
      ),
    );
    const factsBlock = section(
      "The call as taken",
      el("div", { class: "two-col" }, facts, flags),
      c.narrative
        ? el("details", {}, el("summary", { text: "Call-taker notes (as received)" }), el("p", { class: "narrative", text: c.narrative }))
        : el("p", { class: "note", text: "No call-taker notes." }),
    );

    const reasons = el(
      "ol",
      { class: "reasons", id: "reasons" },
      c.reasons.map((r) =>
        el(
          "li",
          { "data-feature": r.feature },
          el("span", { class: "reason-text", text: r.text }),
          " ",
          el("span", { class: `signed ${r.contribution >= 0 ? "up" : "down"}`, text: `(${r.contribution >= 0 ? "raises" : "lowers"} the risk: ${signed(r.contribution)})` }),
        ),
      ),
    );
    const whyBlock = section(
      "Why: the reasons",
      el("p", { class: "note", text: "The reasons dispatch was given, largest first:" }),
      reasons,
      waterfallChart(c.waterfall, c.score.percent),
    );

    const precautions = c.precautions.length
      ? el(
          "ul",
          { class: "precautions", id: "precautions" },
          c.precautions.map((p) =>
            el(
              "li",
              { "data-id": p.id },
              el("strong", { class: "precaution-text", text: p.text }),
              el("p", { class: "program", text: "Triggered by:" }),
              el("ul", { class: "because" }, p.because.map((b) => el("li", { "data-feature": b.feature, text: b.text }))),
              p.program ? el("p", { class: "program", text: `From: ${p.program}` }) : null,
            ),
          ),
        )
      : el("p", { id: "precautions", text: "No precautions were suggested for this call." });
    const precautionBlock = section(
      "Suggested precautions",
      el("p", { class: "note", text: "Tactics suggested by the agency's precaution rules, each with the reasons that triggered it and the officer-safety program it comes from." }),
      precautions,
    );

    const history = c.premise_history.length
      ? el(
          "div",
          { class: "table-wrap" },
          el(
            "table",
            { class: "data", id: "premise-history" },
            el("caption", { class: "visually-hidden", text: "Earlier incidents at this address" }),
            el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Date and time" }), el("th", { scope: "col", text: "Call type" }), el("th", { scope: "col", text: "What happened" }))),
            el("tbody", {}, c.premise_history.map((h) => el("tr", {}, el("td", { text: h.time }), el("td", { text: h.call_type }), el("td", { text: h.what })))),
          ),
        )
      : el("p", { id: "premise-history", text: "No dated incidents at this address in the history store before this call." });
    const historyBlock = section(
      "Premise history used",
      el("p", { class: "note", text: "Earlier violent, weapon, assault-on-officer and officer-injury calls at this address, before this call was received." }),
      history,
      c.premise_history_may_be_cut
        ? el("p", { class: "note", id: "premise-history-cut", text: `The ${c.premise_history.length} most recent are listed; the counts in the reasons and precautions cover the address's whole history on record.` })
        : null,
    );

    const m = c.model || {};
    const modelBlock = section(
      "Model",
      el(
        "p",
        { id: "call-model" },
        `Scored by ${m.name} version ${m.version}` +
          (c.scored_by_current_model ? "." : " (not the version running now: the report under \u201cThe model\u201d describes the current one)."),
      ),
      el("p", { class: "note", text: `Received ${received}. Call id ${c.call_id}.` }),
      el("p", { class: "print-only", text: `Printed ${new Date().toLocaleString("en-CA", { hour12: false })} for after-action review. Advisory only: a person decides.` }),
    );

    view.replaceChildren(back, head, verdict, warnBox || "", factsBlock, whyBlock, precautionBlock, historyBlock, modelBlock);
    document.title = `Call ${c.call_id} \u2013 call risk review`;
    document.getElementById("call-title").focus({ preventScroll: false });
  }

  // ------------------------------------------------------------------ the model
  function calibrationChart(curves) {
    const W = 640;
    const H = 420;
    const m = { l: 78, r: 20, t: 16, b: 58 };
    const values = [];
    for (const c of curves) for (const p of c.points) values.push(p.mean_predicted, p.observed_rate);
    const positive = values.filter((v) => v > 0);
    const ceilExp = Math.ceil(Math.log10(Math.max(...positive)));
    // At most four decades: lower values (and zero) sit on the bottom edge, labelled as such.
    const floorExp = Math.max(Math.floor(Math.log10(Math.min(...positive))), ceilExp - 4);
    const lo = Math.pow(10, floorExp);
    const hi = Math.pow(10, ceilExp);
    const scale = (v, a, b) => a + ((Math.log10(Math.max(v, lo)) - floorExp) / (ceilExp - floorExp)) * (b - a);
    const x = (v) => scale(v, m.l, W - m.r);
    const y = (v) => scale(v, H - m.b, m.t);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "cal-title cal-desc" });
    root.append(svg("title", { id: "cal-title" }, "Calibration: predicted probability against what happened"));
    root.append(
      svg(
        "desc",
        { id: "cal-desc" },
        curves
          .map((c) => `${c.label}: ` + c.points.map((p) => `decile ${p.decile} predicted ${pct(p.mean_predicted)}, observed ${pct(p.observed_rate)}`).join(", "))
          .join(". "),
      ),
    );
    const axis = svg("g", { class: "axis" });
    for (let e = floorExp; e <= ceilExp; e++) {
      const v = Math.pow(10, e);
      axis.append(svg("line", { x1: x(v), x2: x(v), y1: m.t, y2: H - m.b, class: "grid" }));
      axis.append(svg("line", { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), class: "grid" }));
      axis.append(svg("text", { x: x(v), y: H - m.b + 18, "text-anchor": "middle", class: "axis-label" }, e === floorExp ? `\u2264${pct(v)}` : pct(v)));
      axis.append(svg("text", { x: m.l - 8, y: y(v) + 4, "text-anchor": "end", class: "axis-label" }, e === floorExp ? `\u2264${pct(v)}` : pct(v)));
    }
    axis.append(svg("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }));
    axis.append(svg("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b }));
    axis.append(svg("text", { x: (m.l + W - m.r) / 2, y: H - 12, "text-anchor": "middle", class: "axis-label" }, "Predicted probability (average in each tenth of test calls)"));
    axis.append(svg("text", { x: 16, y: (m.t + H - m.b) / 2, "text-anchor": "middle", class: "axis-label", transform: `rotate(-90 16 ${(m.t + H - m.b) / 2})` }, "Observed rate of harm"));
    root.append(axis);
    root.append(svg("line", { x1: x(lo), y1: y(lo), x2: x(hi), y2: y(hi), class: "diagonal" }));
    const styles = [
      { shape: "circle", color: "#0b4f8a", dash: null },
      { shape: "square", color: "#8a5300", dash: "6 3" },
      { shape: "triangle", color: "#2f6b35", dash: "2 3" },
      { shape: "diamond", color: "#6b2f8a", dash: "10 3 2 3" },
    ];
    const marker = (shape, cx, cy, color, hollow) => {
      const fill = hollow ? "#fff" : color;
      const common = { fill, stroke: color, "stroke-width": 2 };
      if (shape === "circle") return svg("circle", { cx, cy, r: 5, ...common });
      if (shape === "square") return svg("rect", { x: cx - 5, y: cy - 5, width: 10, height: 10, ...common });
      if (shape === "triangle") return svg("path", { d: `M${cx},${cy - 6}L${cx + 6},${cy + 5}L${cx - 6},${cy + 5}Z`, ...common });
      return svg("path", { d: `M${cx},${cy - 6}L${cx + 6},${cy}L${cx},${cy + 6}L${cx - 6},${cy}Z`, ...common });
    };
    const legend = el("ul", { class: "legend" });
    curves.forEach((c, i) => {
      const st = styles[i % styles.length];
      const g = svg("g", { "data-model": c.model });
      const d = c.points.map((p, j) => `${j ? "L" : "M"}${x(p.mean_predicted)},${y(p.observed_rate)}`).join("");
      g.append(svg("path", { d, fill: "none", stroke: st.color, "stroke-width": 2, "stroke-dasharray": st.dash }));
      for (const p of c.points) {
        const mk = marker(st.shape, x(p.mean_predicted), y(p.observed_rate), st.color, p.observed_rate <= 0);
        mk.append(svg("title", {}, `${c.label}, decile ${p.decile}: predicted ${pct(p.mean_predicted)}, observed ${pct(p.observed_rate)}`));
        g.append(mk);
      }
      root.append(g);
      const sw = svg("svg", { width: 34, height: 14, viewBox: "0 0 34 14", "aria-hidden": "true" });
      sw.append(svg("line", { x1: 1, x2: 33, y1: 7, y2: 7, stroke: st.color, "stroke-width": 2, "stroke-dasharray": st.dash }));
      sw.append(marker(st.shape, 17, 7, st.color, false));
      legend.append(el("li", {}, sw, ` ${c.label}`));
    });
    const lgSw = svg("svg", { width: 34, height: 14, viewBox: "0 0 34 14", "aria-hidden": "true" });
    lgSw.append(svg("line", { x1: 1, x2: 33, y1: 7, y2: 7, class: "diagonal" }));
    legend.append(el("li", {}, lgSw, " Perfect calibration (predicted = observed)"));
    return { root, legend };
  }

  function importanceChart(bars) {
    const W = 900;
    const labelW = 430;
    const left = labelW + 14;
    const right = W - 70;
    const lineH = 15;
    const max = Math.max(...bars.map((b) => b.mean_abs_shap)) || 1;
    const x = (v) => left + (v / max) * (right - left);
    const rows = [];
    let y = 6;
    for (const b of bars) {
      const lines = wrapText(b.label, 60);
      const h = Math.max(26, lines.length * lineH + 10);
      rows.push({ b, lines, top: y, h });
      y += h;
    }
    const H = y + 44;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "imp-title imp-desc" });
    root.append(svg("title", { id: "imp-title" }, "What drives the score across all calls"));
    root.append(svg("desc", { id: "imp-desc" }, bars.map((b) => `${b.label}: ${num(b.mean_abs_shap)}`).join("; ")));
    for (const { b, lines, top, h } of rows) {
      const mid = top + h / 2;
      const t = svg("text", { x: labelW, y: mid - ((lines.length - 1) * lineH) / 2 + 4, "text-anchor": "end", class: "label" });
      lines.forEach((line, i) => t.append(svg("tspan", { x: labelW, dy: i === 0 ? 0 : lineH }, line)));
      root.append(t);
      root.append(svg("rect", { x: left, y: mid - 9, width: Math.max(x(b.mean_abs_shap) - left, 1), height: 18, class: "bar-neutral" }));
      root.append(svg("text", { x: x(b.mean_abs_shap) + 6, y: mid + 4, class: "value" }, num(b.mean_abs_shap)));
    }
    const axisY = y + 4;
    root.append(svg("line", { x1: left, x2: right, y1: axisY, y2: axisY, stroke: "#6b7380" }));
    root.append(svg("text", { x: (left + right) / 2, y: axisY + 28, "text-anchor": "middle", class: "axis-label" }, "Average size of the push on a call's raw score (log-odds), either direction"));
    return root;
  }

  function auditTable(audit, id) {
    return el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        { class: "data", id },
        el("caption", { class: "visually-hidden", text: "Audit at the top-5% operating point" }),
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", { scope: "col", text: audit.grouping === "district" ? "District" : "Type of call" }),
            el("th", { scope: "col", class: "num", text: "Test calls" }),
            el("th", { scope: "col", class: "num", text: "Officer harmed" }),
            el("th", { scope: "col", class: "num", text: "Observed rate" }),
            el("th", { scope: "col", class: "num", text: "Average predicted" }),
            el("th", { scope: "col", class: "num", text: "Calibration ratio" }),
            el("th", { scope: "col", class: "num", text: "Share in top 5%" }),
            el("th", { scope: "col", class: "num", text: "False-alarm ratio (FPR)" }),
            el("th", { scope: "col", class: "num", text: "Missed-harm ratio (FNR)" }),
            el("th", { scope: "col", text: "Note" }),
          ),
        ),
        el(
          "tbody",
          {},
          audit.rows.map((r) =>
            el(
              "tr",
              { class: r.enough_calls ? "" : "few" },
              el("th", { scope: "row", text: r.group }),
              el("td", { class: "num", text: int(r.calls) }),
              el("td", { class: "num", text: int(r.positives) }),
              el("td", { class: "num", text: pct(r.observed_rate) }),
              el("td", { class: "num", text: pct(r.mean_score) }),
              el("td", { class: "num", text: ratio(r.calibration_ratio) }),
              el("td", { class: "num", text: pct(r.flagged_share) }),
              el("td", { class: "num", text: ratio(r.fpr_ratio) }),
              el("td", { class: "num", text: ratio(r.fnr_ratio) }),
              el("td", { text: r.marker ? `\u26A0 ${r.marker}: ratios unreliable` : "" }),
            ),
          ),
        ),
      ),
    );
  }

  async function renderModel() {
    const view = document.getElementById("view-model");
    if (!state.model) {
      view.replaceChildren(el("p", { text: "Loading the model report\u2026" }));
      state.model = await getJSON("api/model");
    }
    const r = state.model;
    const parts = [el("h2", { id: "model-title", tabindex: "-1", text: `The model: ${r.name} version ${r.version}` })];
    parts.push(
      el(
        "dl",
        { class: "kv", id: "model-facts" },
        el("dt", { text: "Version in service" }), el("dd", { text: `${r.name} version ${r.version}` }),
        el("dt", { text: "Trained" }), el("dd", { text: r.trained_at ? r.trained_at.replace("T", " ") : "not recorded" }),
        el("dt", { text: "Data up to" }), el("dd", { text: r.history_until || "not recorded" }),
        el("dt", { text: "Predicts" }), el("dd", { text: r.target === "harmed" || !r.target ? "an officer assaulted or injured on the call" : `officer ${r.target}` }),
        el("dt", { text: "Base rate" }), el("dd", { text: r.base_rate_percent ? `${r.base_rate_percent} of training calls` : "not recorded" }),
        el("dt", { text: "Tiers" }), el("dd", { text: r.tiers.elevated_at ? `elevated from ${pct(r.tiers.elevated_at)}, high from ${pct(r.tiers.high_at)}` : "not recorded" }),
        el("dt", { text: "Champion gate" }), el("dd", { id: "model-champion", text: r.champion ? `${r.champion.verdict}: ${r.champion.reason}` : "not recorded (the model was not registered)" }),
        el("dt", { text: "MLflow run" }), el("dd", { text: r.run_id || "not found" }),
        el("dt", { text: "Feature definitions" }), el("dd", { text: r.feature_hash || "not recorded" }),
      ),
    );
    if (r.champion && r.champion.warning) {
      // A model that did not earn the alias is in service only by choice: say so at the top.
      parts.push(el("p", { class: "warnings", id: "model-gate-warning", text: r.champion.warning }));
    }
    if (r.missing && r.missing.length) {
      parts.push(el("p", { class: "warnings", text: `Missing from the model's MLflow run: ${r.missing.join(", ")}. Those sections are left out.` }));
    }
    if (r.windows && r.windows.length) {
      parts.push(
        el("h3", { text: "Training window" }),
        el("p", { class: "note", text: "The model learned from earlier calls and was tested on later ones it never saw, the way it is used." }),
        el(
          "table",
          { class: "data", id: "windows" },
          el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Window" }), el("th", { scope: "col", text: "From" }), el("th", { scope: "col", text: "To" }), el("th", { scope: "col", class: "num", text: "Calls" }), el("th", { scope: "col", class: "num", text: "Officer harmed" }))),
          el("tbody", {}, r.windows.map((w) => el("tr", {}, el("th", { scope: "row", text: w.label }), el("td", { text: w.from || "" }), el("td", { text: w.to || "" }), el("td", { class: "num", text: int(w.calls) }), el("td", { class: "num", text: int(w.positives) })))),
        ),
      );
    }
    if (r.metrics) {
      const cols = r.metrics.columns;
      parts.push(
        el("h3", { text: "Test results beside the baselines" }),
        el("p", { class: "note", text: "Measured on the test window. \u201cBest\u201d marks the best of the model and the baselines (the oracle is a ceiling, not a competitor)." }),
        el(
          "div",
          { class: "table-wrap" },
          el(
            "table",
            { class: "data", id: "metrics" },
            el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Measure" }), cols.map((c) => el("th", { scope: "col", class: "num", text: c.label })), el("th", { scope: "col", text: "What it means" }))),
            el(
              "tbody",
              {},
              r.metrics.rows.map((row) =>
                el(
                  "tr",
                  { "data-metric": row.key },
                  el("th", { scope: "row", text: row.label }),
                  cols.map((c) => {
                    const v = row.values[c.key];
                    const digits = row.key === "brier" || row.key === "ece" ? 5 : 3;
                    const isBest = row.best === c.key;
                    return el(
                      "td",
                      { class: `num${isBest ? " best" : ""}` },
                      v === null ? "n/a" : Number(v).toFixed(digits),
                      isBest ? el("span", { class: "note", text: " (best)" }) : null,
                      c.key === "model" && row.model_ci ? el("div", { class: "note", text: `95%: ${row.model_ci.map((x) => Number(x).toFixed(digits)).join(" to ")}` }) : null,
                    );
                  }),
                  el("td", { class: "note", text: row.help }),
                ),
              ),
            ),
          ),
        ),
      );
    }
    if (r.decisions && r.decisions.rows.length) {
      const d = r.decisions;
      parts.push(
        el("h3", { text: "How often the model says high, low or can't tell" }),
        el(
          "table",
          { class: "data", id: "decisions" },
          el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Decision" }), el("th", { scope: "col", class: "num", text: "Share of test calls" }), el("th", { scope: "col", class: "num", text: "Observed rate of harm" }))),
          el("tbody", {}, d.rows.map((x) => el("tr", {}, el("th", { scope: "row" }, badge("decision", x.decision)), el("td", { class: "num", text: pct(x.share) }), el("td", { class: "num", text: pct(x.observed_rate) })))),
        ),
        d.alpha !== null
          ? el("p", { class: "note", text: `Checked at a ${pct(d.alpha)} error rate per class: of test calls where an officer was harmed, ${pct(d.coverage_high)} were not marked low; of calls without harm, ${pct(d.coverage_low)} were not marked high.` })
          : null,
      );
    }
    if (r.calibration && r.calibration.length) {
      const chart = calibrationChart(r.calibration);
      parts.push(
        el("h3", { text: "Calibration: do the probabilities mean what they say?" }),
        el(
          "figure",
          { class: "chart", id: "calibration" },
          chart.root,
          el(
            "figcaption",
            {},
            "Test calls are split into ten equal groups by predicted probability. Each point is one group: " +
              "its average predicted probability (across) against the share where an officer was harmed (up). " +
              "Points on the dashed line mean the probabilities can be taken at face value. Both axes are logarithmic; " +
              "hollow markers at the bottom edge are groups where no harm was observed.",
            chart.legend,
          ),
          el(
            "details",
            {},
            el("summary", { text: "The calibration data as a table" }),
            el(
              "table",
              { class: "data" },
              el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Model" }), el("th", { scope: "col", class: "num", text: "Tenth" }), el("th", { scope: "col", class: "num", text: "Calls" }), el("th", { scope: "col", class: "num", text: "Harmed" }), el("th", { scope: "col", class: "num", text: "Predicted" }), el("th", { scope: "col", class: "num", text: "Observed" }))),
              el("tbody", {}, r.calibration.flatMap((c) => c.points.map((p) => el("tr", {}, el("td", { text: c.label }), el("td", { class: "num", text: p.decile }), el("td", { class: "num", text: int(p.calls) }), el("td", { class: "num", text: int(p.positives) }), el("td", { class: "num", text: pct(p.mean_predicted) }), el("td", { class: "num", text: pct(p.observed_rate) }))))),
            ),
          ),
        ),
      );
    }
    if (r.importance && r.importance.length) {
      parts.push(
        el("h3", { text: "What drives the score across all calls" }),
        el(
          "figure",
          { class: "chart", id: "importance" },
          importanceChart(r.importance),
          el("figcaption", { text: "The facts the model leans on most, measured on a sample of test calls: the average size of each fact's push on a call's score, up or down. A large bar does not say which way it pushes; open a call to see that." }),
        ),
      );
    }
    if (r.audit_district) {
      const few = r.audit_district.min_calls ? `fewer than ${int(r.audit_district.min_calls)} test calls` : "too few test calls";
      parts.push(
        el("h3", { text: "District audit at the operating point" }),
        el(
          "p",
          { class: "note" },
          "Premise and area history reflect where police were sent before, so the model is checked district by district. " +
            "At the operating point (the 5% of calls scored highest are flagged): a calibration ratio of 1.00\u00d7 means the average " +
            "prediction matches what happened (above 1 = over-predicts); the false-alarm ratio compares the share of calls without harm " +
            "that were flagged to the city-wide share (above 1 = more false alarms here); the missed-harm ratio does the same for calls " +
            `with harm that were not flagged. \u26A0 few calls: ${few}; read those rows with care.`,
        ),
        auditTable(r.audit_district, "audit-district"),
      );
    }
    if (r.audit_call_family) {
      parts.push(el("details", {}, el("summary", { text: "The same audit by type of call" }), auditTable(r.audit_call_family, "audit-family")));
    }
    view.replaceChildren(...parts);
    document.title = `The model \u2013 call risk review`;
  }

  // ------------------------------------------------------------------ live (latest monitor report)
  function trendChart(daily) {
    const W = 640;
    const H = 300;
    const m = { l: 64, r: 16, t: 16, b: 48 };
    const pts = daily.filter((d) => d.outcomes_known > 0);
    const vals = pts.flatMap((d) => [d.observed_rate, d.predicted_rate]).filter((v) => v !== null && isFinite(v));
    const hi = Math.max(...vals, 1e-6) * 1.1;
    const n = Math.max(pts.length - 1, 1);
    const x = (i) => m.l + (i / n) * (W - m.l - m.r);
    const y = (v) => H - m.b - (v / hi) * (H - m.t - m.b);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "trend-title trend-desc", id: "live-trend" });
    root.append(svg("title", { id: "trend-title" }, "Daily observed harm rate against the mean predicted rate"));
    root.append(svg("desc", { id: "trend-desc" }, pts.map((d) => `${d.day}: observed ${pct(d.observed_rate)}, predicted ${pct(d.predicted_rate)}`).join("; ")));
    const axis = svg("g", { class: "axis" });
    for (const t of niceTicks(0, hi, 4)) {
      axis.append(svg("line", { x1: m.l, x2: W - m.r, y1: y(t), y2: y(t), class: "grid" }));
      axis.append(svg("text", { x: m.l - 8, y: y(t) + 4, "text-anchor": "end", class: "axis-label" }, pct(t)));
    }
    if (pts.length) {
      axis.append(svg("text", { x: m.l, y: H - m.b + 18, "text-anchor": "start", class: "axis-label" }, pts[0].day));
      axis.append(svg("text", { x: W - m.r, y: H - m.b + 18, "text-anchor": "end", class: "axis-label" }, pts[pts.length - 1].day));
    }
    axis.append(svg("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }));
    root.append(axis);
    const line = (key, color, dash) => {
      const d = pts.map((p, i) => `${i ? "L" : "M"}${x(i)},${y(p[key] || 0)}`).join("");
      return svg("path", { d, fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": dash });
    };
    root.append(line("observed_rate", "#0b4f8a", null), line("predicted_rate", "#8a5300", "6 3"));
    const legend = el("ul", { class: "legend" }, el("li", { text: "Solid: observed harm rate (calls with a known outcome)" }), el("li", { text: "Dashed: mean predicted harm rate of the same calls" }));
    return { root, legend };
  }

  async function renderLive() {
    const view = document.getElementById("view-live");
    view.replaceChildren(el("p", { text: "Loading the latest monitor report\u2026" }));
    const body = await getJSON("api/monitor");
    const parts = [el("h2", { id: "live-title", tabindex: "-1", text: "Live: is the served model still right?" })];
    if (!body.available) {
      parts.push(el("p", { id: "live-none", text: body.why || "No monitor report yet." }));
      view.replaceChildren(...parts);
      return;
    }
    const r = body.report;
    const head = (r.versions || {})[r.model] || {};
    const when = r.file_modified ? new Date(r.file_modified * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "unknown";
    parts.push(
      el("p", { id: "live-verdict", class: `verdict verdict-${r.verdict}` }, "Verdict: ", el("strong", { text: r.verdict })),
      el("ul", { id: "live-reasons" }, (r.reasons || []).map((t) => el("li", { text: t }))),
      el(
        "dl",
        { class: "kv", id: "live-facts" },
        el("dt", { text: "Report written" }), el("dd", { text: when }),
        el("dt", { text: "Model" }), el("dd", { text: r.model || "n/a" }),
        el("dt", { text: "Window" }), el("dd", { text: r.window ? `${r.window.since || r.window.from || ""} to ${r.window.until || r.window.to || ""}` : "n/a" }),
        el("dt", { text: "Calls scored" }), el("dd", { text: int(r.calls_scored) }),
        el("dt", { text: "Outcomes known" }), el("dd", { text: int(r.outcomes_known) }),
        el("dt", { text: "Observed harm rate" }), el("dd", { text: pct(r.observed_rate) }),
        el("dt", { text: "Mean predicted harm rate" }), el("dd", { text: pct(r.predicted_rate) }),
      ),
    );
    if (r.daily && r.daily.length) {
      const chart = trendChart(r.daily);
      parts.push(el("h3", { text: "Daily trend" }), chart.root, chart.legend);
    }
    const feats = ((head.psi || {}).features) || {};
    const drifted = Object.entries(feats).filter(([, v]) => v !== null).sort((a, b) => b[1] - a[1]).slice(0, 10);
    parts.push(el("h3", { text: "Drift against training (PSI)" }));
    if ((head.psi || {}).skipped) {
      parts.push(el("p", { text: `Not computed: ${head.psi.skipped}` }));
    } else {
      parts.push(
        el("p", { class: "note", text: `Score PSI ${num((head.psi || {}).score, 3)}. Below 0.1 little change, 0.1\u20130.25 some, above 0.25 a shift worth a look.` }),
        el(
          "table",
          { class: "data", id: "live-psi" },
          el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Feature" }), el("th", { scope: "col", class: "num", text: "PSI" }))),
          el("tbody", {}, drifted.map(([k, v]) => el("tr", {}, el("th", { scope: "row", text: k }), el("td", { class: "num", text: num(v, 3) })))),
        ),
      );
    }
    const fb = r.feedback_loop || {};
    parts.push(el("h3", { text: "Feedback loop" }));
    if (fb.skipped || fb.premises === undefined) {
      parts.push(el("p", { id: "live-feedback", text: `Not measured: ${fb.skipped || "no flagged premise matched yet"}` }));
    } else {
      parts.push(
        el(
          "dl",
          { class: "kv", id: "live-feedback" },
          el("dt", { text: "Flagged premises (matched)" }), el("dd", { text: int(fb.premises) }),
          el("dt", { text: "Unflagged premises compared" }), el("dd", { text: int(fb.control_premises) }),
          el("dt", { text: `Mean calls in ${fb.window_days} days before the first flag` }), el("dd", { text: num(fb.mean_calls_before) }),
          el("dt", { text: `Mean calls in ${fb.window_days} days after` }), el("dd", { text: num(fb.mean_calls_after) }),
          el("dt", { text: "Expected after, from matched unflagged premises" }), el("dd", { text: num(fb.matched_expected_after) }),
          el("dt", { text: "Excess calls per flagged premise" }), el("dd", { text: signed(fb.excess) }),
        ),
      );
    }
    if (fb.what_it_means) parts.push(el("p", { class: "note", text: `What it means: ${fb.what_it_means}` }));
    if (fb.what_it_does_not) parts.push(el("p", { class: "note", text: `What it does not mean: ${fb.what_it_does_not}` }));
    view.replaceChildren(...parts);
    document.title = `Live \u2013 call risk review`;
  }

  // ------------------------------------------------------------------ start
  function start() {
    document.getElementById("filters").addEventListener("submit", applyFilters);
    for (const name of ["district", "call_type", "tier", "decision", "sort", "limit"]) {
      document.getElementById(`f-${name}`).addEventListener("change", applyFilters);
    }
    document.getElementById("f-clear").addEventListener("click", () => {
      location.hash = "#/calls";
    });
    document.getElementById("sort-score").addEventListener("click", () => {
      const sort = document.getElementById("f-sort");
      sort.value = sort.value === "score" ? "score_asc" : "score";
      applyFilters();
    });
    // Printing opens the collapsed details so the paper copy holds everything.
    let opened = [];
    window.addEventListener("beforeprint", () => {
      opened = [...document.querySelectorAll("#view-call details:not([open])")];
      opened.forEach((d) => d.setAttribute("open", ""));
    });
    window.addEventListener("afterprint", () => {
      opened.forEach((d) => d.removeAttribute("open"));
      opened = [];
    });
    window.addEventListener("hashchange", route);
    route();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
