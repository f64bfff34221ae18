// shopsearch web page: text, photo and voice search over the JSON API of this service.
//
// Turns: typing a query, adding a photo or recording is a new turn ("new"); a page, a facet
// click, a sort or a dislike is a view of the turn already ranked ("same": the server answers
// from the stored ranking, so what was shown keeps its order); removing a session chip asks the
// server to rank the session's edited query again ("rerun"). Everything that shapes the results
// is a chip. The URL holds the query in words, the filters, the sort, the page and an open
// product, so a link can be shared and Back works; a page load always starts a fresh session.
// One file on purpose: the rendering reads and edits the same page state as the searching
// (a chip's x, a facet, a card's dislike all start a search); its sections are marked below.
(function () {
  "use strict";
  const { t } = window.I18N;
  const term = (v) => window.I18N.term(v);
  const $ = (sel) => document.querySelector(sel);
  const params = new URLSearchParams(location.search);
  const K = Math.min(100, Math.max(1, Number(params.get("k")) || 24));
  const MAX_RECORD_MS = 10000;
  const FACET_VALUES_SHOWN = 6;
  const state = {
    text: "", urlQuery: "", image: null, imageUrl: null, audio: null, filters: {}, sort: "relevance", page: 1,
    similar: null, loose: false, constraintsOff: false, last: null, lastKind: null, expanded: {}, product: null,
  };
  let session = newSessionId();

  function newSessionId() { return crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2); }

  // -- errors and status ------------------------------------------------------------------
  function showError(message) { const box = $("#error"); box.textContent = message || ""; box.hidden = !message; }
  function setStatus(message) { const h = $("#results-title"); h.textContent = message || ""; h.hidden = !message; }

  function explain(status, body) {
    const field = body && body.field;
    if (status === 0) return t("err_network");
    if (status === 413) return t("err_413");
    if (status === 503 && field === "audio") return t("err_voice_off");
    if (field === "image") return t("err_image");
    if (field === "audio") return t("err_audio");
    if (field === "text" && status === 422) return t("err_query");
    if (status === 404 && field === "product_id") return t("err_notfound");
    return t("err_generic", { status });
  }

  async function api(method, url, body) {
    const init = { method, headers: {} };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
    let resp;
    try { resp = await fetch(url, init); } catch (e) { const err = new Error(t("err_network")); err.status = 0; throw err; }
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      const err = new Error(explain(resp.status, data));
      err.status = resp.status;
      err.body = data;
      throw err;
    }
    return data;
  }

  // -- searching --------------------------------------------------------------------------
  let searchSeq = 0;
  async function runSearch(mode, opts) {
    opts = opts || {};
    showError("");
    if (state.similar) return runSimilar(opts);
    const text = state.text.trim();
    if (mode === "new" && !text && !state.image && !state.audio) { showError(t("err_query")); return; }
    setStatus(state.audio ? t("transcribing") : t("searching"));
    const fields = { k: K, page: state.page, session_id: session, sort: state.sort };
    if (mode === "new" && text) fields.text = text;
    if (mode === "same") fields.same_turn = true;
    if (Object.keys(state.filters).length) fields.filters = state.filters;
    if (state.loose) fields.loose = true;
    if (state.constraintsOff) fields.constraints = "off";
    let body = fields;
    if (state.image || state.audio) {
      body = new FormData();
      for (const [key, v] of Object.entries(fields)) body.append(key, typeof v === "object" ? JSON.stringify(v) : String(v));
      if (state.image) body.append("image", state.image, state.image.name || "photo.jpg");
      if (state.audio) {
        body.append("audio", state.audio, "voice." + (state.audio.type.includes("ogg") ? "ogg" : "webm"));
        body.append("language", $("#voice-lang").value);
      }
    }
    const seq = ++searchSeq;
    try {
      const data = await api("POST", "/v1/search", body);
      if (seq !== searchSeq) return;
      if (state.audio) {
        state.audio = null;
        if (data.transcript && data.transcript.text) { state.text = data.transcript.text; $("#q").value = state.text; }
      }
      render(data, "search");
      remember(data, opts);
    } catch (err) {
      if (seq !== searchSeq) return;
      state.audio = null;
      setStatus("");
      if (err.body && err.body.field === "image") clearImage(); // a bad photo never stays attached
      showError(err.message);
    }
  }

  async function runSimilar(opts) {
    setStatus(t("searching"));
    const q = new URLSearchParams({ k: K, page: state.page });
    try {
      const data = await api("GET", "/v1/products/" + encodeURIComponent(state.similar.id) + "/similar?" + q);
      render(data, "similar");
      remember(data, opts || {});
    } catch (err) { setStatus(""); showError(err.message); }
  }

  function newTurn() {
    state.page = 1; state.similar = null; state.loose = false; state.filters = {}; state.sort = "relevance";
    runSearch("new");
  }
  function sameTurn(changes, opts) { Object.assign(state, changes); runSearch("same", opts); }

  // -- the URL ------------------------------------------------------------------------------
  // The session's query in words: its chips' own words, then its free words; fresh searches of
  // it (a shared link, a reload) reach the same constraints.
  function queryWords(data) {
    const s = data && data.session;
    if (!s || state.image) return state.text.trim();
    const words = [];
    for (const c of s.chips || []) if ((c.kind === "constraint" || c.kind === "required") && c.text) words.push(c.text);
    if (s.base) words.push(s.base);
    return [...new Set(words)].join(" ").trim() || state.text.trim();
  }

  function urlFor() {
    const u = new URLSearchParams();
    if (state.urlQuery) u.set("q", state.urlQuery);
    for (const [field, v] of Object.entries(state.filters)) {
      if (Array.isArray(v)) for (const x of v) u.append("f", field + ":" + x);
      else u.append("f", field + ":" + priceLabel(v));
    }
    if (state.sort !== "relevance") u.set("sort", state.sort);
    if (state.page > 1) u.set("page", String(state.page));
    if (state.similar) { u.set("similar", state.similar.id); u.set("st", state.similar.title); }
    if (state.loose) u.set("loose", "1");
    if (params.get("k")) u.set("k", params.get("k"));
    const qs = u.toString();
    return location.pathname + (qs ? "?" + qs : "");
  }

  function remember(data, opts) {
    if (!state.similar) state.urlQuery = queryWords(data);
    const url = urlFor();
    if (opts.fromHistory) return;
    if (opts.replace || url === location.pathname + location.search) history.replaceState({ url }, "", url);
    else history.pushState({ url }, "", url);
  }

  function readUrl() {
    const u = new URLSearchParams(location.search);
    const filters = {};
    for (const item of u.getAll("f")) {
      const at = item.indexOf(":");
      if (at <= 0) continue;
      const field = item.slice(0, at);
      const value = item.slice(at + 1);
      if (field === "price") filters.price = priceFilter(value);
      else (filters[field] = filters[field] || []).push(value);
    }
    const similar = u.get("similar") ? { id: u.get("similar"), title: u.get("st") || u.get("similar") } : null;
    return { q: u.get("q") || "", filters, sort: u.get("sort") || "relevance", page: Math.max(1, Number(u.get("page")) || 1),
             similar, loose: u.get("loose") === "1", product: u.get("p") };
  }

  // Back and Forward, a reload and a shared link: the same turn is viewed again; another query
  // starts a fresh session with it.
  function restore(opts) {
    const want = readUrl();
    const u = new URLSearchParams(location.search);
    u.delete("p");
    const rest = location.pathname + (u.toString() ? "?" + u : "");
    if (state.last && rest === urlFor()) { // only the product view opened or closed
      if (want.product) openProduct(want.product, { fromHistory: true }); else closeProduct({ fromHistory: true });
      return;
    }
    const sameQuery = want.q === state.urlQuery && JSON.stringify(want.similar) === JSON.stringify(state.similar) &&
      state.last && want.loose === state.loose;
    Object.assign(state, { filters: want.filters, sort: want.sort, page: want.page, similar: want.similar, loose: want.loose });
    if (want.product) openProduct(want.product, { fromHistory: true }); else closeProduct({ fromHistory: true });
    if (sameQuery) { if (!want.product || !state.last) runSearch("same", opts); return; }
    session = newSessionId();
    clearImage();
    state.text = want.q; state.urlQuery = want.q; state.constraintsOff = false;
    $("#q").value = want.q;
    if (want.q || want.similar) runSearch("new", opts); else clearResults();
  }

  // -- rendering --------------------------------------------------------------------------
  function render(data, kind) {
    state.last = data;
    state.lastKind = kind;
    const text = state.similar ? "" : (state.text.trim() || queryWords(data)); // the shopper's own words; chips say the rest
    setStatus(data.total ? (text ? t("resultsFor", { total: data.total, text }) : t("results", { total: data.total })) : "");
    const tr = $("#transcript");
    if (data.transcript && data.transcript.text) {
      tr.textContent = t("heard", { lang: data.transcript.language, text: data.transcript.text });
      tr.hidden = false;
    } else tr.hidden = true;
    const corrected = $("#corrected");
    const fixed = data.parsed && data.parsed.corrected;
    corrected.textContent = fixed ? t("showingFor", { text: fixed }) : "";
    corrected.hidden = !fixed;
    let note = data.session && data.session.note ? noteText(data.session.note) : "";
    const priced = (data.sorts || []).includes("price_asc");
    const priceChip = [...((data.session && data.session.chips) || []), ...parsedChips(data.parsed)].find((c) => c.field === "price");
    if (!note && priceChip && kind !== "similar" && (data.hits || []).length && !priced) {
      note = t("note_priceChip", { label: constraintLabel(priceChip) }); // a budget on products without prices
    }
    $("#note").textContent = note;
    $("#note").hidden = !note;
    renderChips(data, kind);
    renderFacets(data.facets || {}, data.total);
    renderSort(data.sorts || ["relevance"], kind);
    renderResults(data.hits || []);
    renderEmpty(data, kind);
    $("#toolbar").hidden = false;
    const pager = $("#pager");
    pager.hidden = !(data.pages > 1);
    $("#page-info").textContent = t("pageInfo", { page: data.page, pages: data.pages });
    $("#prev").disabled = data.page <= 1;
    $("#next").disabled = data.page >= data.pages;
    if (document.activeElement && document.activeElement.disabled) $("#results-title").focus(); // the last page reached
  }

  function noteText(note) { // the server's notes, in the page's language
    if (note.startsWith("no prices")) return t("note_noPrices");
    if (note.startsWith("there is no result number")) return t("note_noOrdinal");
    return note;
  }

  function facetLabel(field) { const key = "facet_" + field; return window.I18N.has(key) ? t(key) : field.replace(/_/g, " "); }
  function priceLabel(v) { return (v.gte !== undefined ? v.gte : 0) + (v.lt !== undefined ? "-" + v.lt : "+"); }
  function priceFilter(label) {
    const m = /^([\d.]+)(?:-([\d.]+)|\+)$/.exec(label);
    if (!m) return label;
    const f = { gte: Number(m[1]) };
    if (m[2] !== undefined) f.lt = Number(m[2]);
    return f;
  }

  function constraintLabel(c) {
    const name = c.field ? facetLabel(c.field) + ": " : "";
    const v = Array.isArray(c.value) ? c.value.join("–") : term(c.value === undefined ? c.text : c.value);
    if (c.op === "ne") return name + t("not", { value: v });
    if (c.op === "le") return name + t("atMost", { value: v });
    if (c.op === "ge") return name + t("atLeast", { value: v });
    return name + v;
  }

  // A chip: its kind (filter, preference...) in words, its label, and buttons named after it.
  function chip(kind, cls, label, onRemove, extra) {
    const el = document.createElement("span");
    el.className = "chip " + cls;
    if (kind) {
      const k = document.createElement("span");
      k.className = "kind";
      k.textContent = kind;
      el.appendChild(k);
    }
    const text = document.createElement("span");
    text.className = "chip-text";
    text.textContent = label;
    el.appendChild(text);
    if (extra) el.appendChild(extra);
    const x = document.createElement("button");
    x.type = "button";
    x.className = "chip-btn x";
    x.setAttribute("aria-label", t("remove", { label: (kind ? kind + " " : "") + label }));
    x.textContent = "×";
    x.addEventListener("click", () => { $("#results-title").focus(); onRemove(); });
    el.appendChild(x);
    return el;
  }

  function parsedChips(parsed) { return (parsed && Array.isArray(parsed.constraints)) ? parsed.constraints : []; }

  function renderChips(data, kind) {
    const box = $("#chips");
    box.replaceChildren();
    if (state.similar) box.appendChild(chip(t("kindSimilar"), "similar", state.similar.title, () => { state.similar = null; state.page = 1; if (state.text.trim()) runSearch("new"); else { clearResults(); remember(null, {}); } }));
    if (state.image) box.appendChild(chip(t("kindPhoto"), "photo", t("photo"), removePhoto));
    const chips = (data.session && kind !== "similar") ? data.session.chips || [] : [];
    for (const c of chips) {
      if (c.kind === "constraint") {
        const make = document.createElement("button");
        make.type = "button";
        make.className = "chip-btn make-filter";
        make.textContent = t("makeFilter");
        make.setAttribute("aria-label", t("makeFilterNamed", { label: constraintLabel(c) }));
        make.addEventListener("click", () => requireChip(c));
        box.appendChild(chip(t("kindPref"), "pref parsed", constraintLabel(c), () => removeSessionChip(c), make));
      } else if (c.kind === "required") {
        box.appendChild(chip(t("kindFilter"), "required parsed", constraintLabel(c), () => removeSessionChip(c)));
      } else if (c.kind === "anchor") {
        box.appendChild(chip(t("kindSimilar"), "anchor", t("likeProduct", { id: c.product_id }), () => removeSessionChip(c)));
      } else if (c.kind === "hidden") {
        box.appendChild(chip(t("kindHidden"), "hidden", t("hiddenProducts", { count: c.count }), () => removeSessionChip(c)));
      }
    }
    if (!chips.some((c) => c.kind === "constraint" || c.kind === "required") && kind !== "similar") {
      // no session query (a photo turn's words, or no session): the understood words themselves
      if (state.constraintsOff) box.appendChild(chip("", "off", t("understandingOff"), () => { state.constraintsOff = false; newTurnKeep(); }));
      else for (const c of parsedChips(data.parsed)) box.appendChild(chip(t("kindPref"), "pref parsed", constraintLabel(c), () => removeParsedChip(c)));
    }
    for (const [field, value] of Object.entries(state.filters)) {
      const values = Array.isArray(value) ? value : [value];
      for (const v of values) {
        const label = facetLabel(field) + ": " + (typeof v === "object" ? priceLabel(v) : term(v));
        box.appendChild(chip(t("kindFilter"), "filter", label, () => { toggleFilter(field, v, false); }));
      }
    }
    if (box.children.length || (data.session && (data.session.turns || []).length > 1)) {
      const reset = document.createElement("button");
      reset.type = "button";
      reset.className = "reset";
      reset.textContent = t("startOver");
      reset.addEventListener("click", startOver);
      box.appendChild(reset);
    }
  }

  function newTurnKeep() { state.page = 1; runSearch("new"); }

  async function removeSessionChip(c) {
    try {
      await api("DELETE", "/v1/sessions/" + encodeURIComponent(session) + "/chips/" + c.kind + "/" + (c.index || 0));
      state.page = 1;
      runSearch(c.kind === "hidden" ? "same" : "rerun");
    } catch (err) { showError(err.message); }
  }

  async function requireChip(c) {
    try {
      await api("POST", "/v1/sessions/" + encodeURIComponent(session) + "/chips/constraint/" + c.index + "/require");
      state.page = 1;
      runSearch("rerun");
    } catch (err) { showError(err.message); }
  }

  function removeParsedChip(c) {
    // The chip came from words of the query: take those words out and search again. When they
    // cannot be found (a Chinese query is understood through its English reading), turn query
    // understanding off for this query instead.
    const words = String(c.text || "");
    const at = words ? state.text.toLowerCase().indexOf(words.toLowerCase()) : -1;
    if (at >= 0) state.text = (state.text.slice(0, at) + " " + state.text.slice(at + words.length)).replace(/\s+/g, " ").trim();
    else state.constraintsOff = true;
    $("#q").value = state.text;
    state.page = 1;
    if (state.text.trim() || state.image) runSearch("new"); else clearResults();
  }

  function removePhoto() {
    clearImage();
    state.text = $("#q").value;
    if (state.text.trim()) { session = newSessionId(); newTurn(); } else clearResults();
  }

  async function startOver() {
    try { await api("POST", "/v1/sessions/" + encodeURIComponent(session) + "/reset"); } catch (err) { showError(err.message); return; }
    session = newSessionId();
    state.text = ""; state.urlQuery = ""; state.filters = {}; state.sort = "relevance"; state.page = 1;
    state.similar = null; state.loose = false; state.constraintsOff = false;
    $("#q").value = "";
    clearImage();
    clearResults();
    remember(null, {});
    $("#q").focus();
  }

  function selected(field, value) {
    const f = state.filters[field];
    if (field === "price") return Boolean(f) && priceLabel(f) === value;
    return Array.isArray(f) && f.includes(value);
  }

  function toggleFilter(field, value, on) {
    if (field === "price") {
      if (on) state.filters.price = typeof value === "object" ? value : priceFilter(value); else delete state.filters.price;
    } else {
      const list = (state.filters[field] || []).filter((v) => v !== value);
      if (on) list.push(value);
      if (list.length) state.filters[field] = list; else delete state.filters[field];
    }
    sameTurn({ page: 1 });
  }

  function renderFacets(facets, total) {
    const aside = $("#facets");
    const box = $("#facet-groups");
    const focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".facet-value, .facet-more") : null;
    const focusKey = focused ? (focused.dataset.field + "\u0000" + (focused.dataset.value || "more")) : null;
    box.replaceChildren();
    const fields = Object.keys(facets);
    aside.hidden = !fields.length;
    const n = Object.values(state.filters).reduce((a, v) => a + (Array.isArray(v) ? v.length : 1), 0);
    $("#filters-count").textContent = n ? t("filtersCount", { n }) : "";
    $("#facets-done").textContent = t("showResults", { total: total || 0 });
    for (const field of fields) {
      const group = document.createElement("section");
      group.className = "facet";
      group.dataset.field = field;
      const title = document.createElement("h3");
      title.id = "facet-" + field;
      title.textContent = facetLabel(field);
      group.setAttribute("aria-labelledby", title.id);
      group.appendChild(title);
      const values = facets[field];
      const open = state.expanded[field];
      values.forEach(({ value, count }, i) => {
        const on = selected(field, value);
        if (!open && i >= FACET_VALUES_SHOWN && !on) return;
        const btn = document.createElement("button");
        btn.type = "button";
        btn.className = "facet-value";
        btn.dataset.field = field;
        btn.dataset.value = value;
        btn.setAttribute("aria-pressed", String(on));
        const name = document.createElement("span");
        name.className = "name";
        name.textContent = term(value);
        const c = document.createElement("span");
        c.className = "count";
        c.textContent = count;
        btn.append(name, c);
        btn.addEventListener("click", () => toggleFilter(field, value, !on));
        group.appendChild(btn);
      });
      if (values.length > FACET_VALUES_SHOWN) {
        const more = document.createElement("button");
        more.type = "button";
        more.className = "facet-more";
        more.dataset.field = field;
        more.setAttribute("aria-expanded", String(Boolean(open)));
        more.textContent = open ? t("showFewer") : t("showAll", { n: values.length });
        more.addEventListener("click", () => { state.expanded[field] = !open; renderFacets(state.last.facets || {}, state.last.total); });
        group.appendChild(more);
      }
      box.appendChild(group);
    }
    if (focusKey) { // keep focus on the control the shopper used
      const [field, value] = focusKey.split("\u0000");
      const sel = value === "more" ? `.facet-more[data-field="${CSS.escape(field)}"]`
        : `.facet-value[data-field="${CSS.escape(field)}"][data-value="${CSS.escape(value)}"]`;
      const again = box.querySelector(sel);
      if (again) again.focus();
    }
  }

  function renderSort(sorts, kind) {
    const sel = $("#sort");
    sel.replaceChildren();
    for (const s of sorts) {
      const o = document.createElement("option");
      o.value = s;
      o.textContent = t("sort_" + s);
      sel.appendChild(o);
    }
    if (!sorts.includes(state.sort)) state.sort = "relevance";
    sel.value = state.sort;
    sel.disabled = kind === "similar";
  }

  function formatPrice(p) {
    if (p.price === null || p.price === undefined) return "";
    const cur = p.currency || "";
    return (cur === "CNY" ? "¥" : cur === "USD" ? "$" : cur === "EUR" ? "€" : cur ? cur + " " : "") + p.price.toFixed(2);
  }

  function attributeText(p) {
    const attrs = Object.entries(p.attributes || {}).filter(([k, v]) => typeof v === "string" && k !== "title").map(([, v]) => term(v));
    if (p.brand) attrs.unshift(p.brand);
    return attrs.join(" · ");
  }

  function feedback(event, hit) {
    const body = { event, product_id: hit.product_id, session_id: session };
    if (hit.rank) body.position = hit.rank;
    if (state.text) body.query = state.text.slice(0, 500);
    return api("POST", "/v1/feedback", body);
  }

  function actionButtons(hit, root, onDone) {
    const p = hit.product;
    const title = p.title || p.id;
    const more = root.querySelector(".more-like-this");
    more.textContent = t("moreLikeThis");
    more.setAttribute("aria-label", t("moreLikeNamed", { title }));
    more.addEventListener("click", () => {
      closeProduct({ fromHistory: true }); // Back from the similar products returns to this view
      state.similar = { id: hit.product_id, title };
      state.page = 1;
      window.scrollTo(0, 0);
      $("#results-title").focus();
      runSimilar({});
    });
    for (const kind of ["like", "dislike"]) {
      const btn = root.querySelector("." + kind);
      btn.setAttribute("aria-label", t(kind + "Named", { title }));
      btn.addEventListener("click", async () => {
        try {
          await feedback(kind, hit);
          root.querySelectorAll(".like, .dislike").forEach((b) => b.setAttribute("aria-pressed", "false"));
          btn.setAttribute("aria-pressed", "true");
          if (onDone) onDone(kind);
        } catch (err) { showError(err.message); }
      });
    }
  }

  function renderResults(hits) {
    const grid = $("#results");
    grid.replaceChildren();
    const tpl = $("#card-tpl");
    for (const hit of hits) {
      const p = hit.product;
      const title = p.title || p.id;
      const card = tpl.content.firstElementChild.cloneNode(true);
      card.dataset.productId = hit.product_id;
      const img = card.querySelector("img");
      const thumb = card.querySelector(".thumb");
      const link = card.querySelector(".title-link");
      const href = "?" + new URLSearchParams({ p: hit.product_id });
      thumb.href = link.href = href;
      thumb.tabIndex = -1; // the title link is the one stop for keyboards and screen readers
      thumb.setAttribute("aria-hidden", "true");
      if (p.images.length) img.src = p.images[0]; else img.remove();
      link.textContent = title;
      card.querySelector(".attrs").textContent = attributeText(p);
      card.querySelector(".price").textContent = formatPrice(p);
      for (const a of [thumb, link]) a.addEventListener("click", (e) => { e.preventDefault(); openProduct(hit.product_id, {}, hit); });
      actionButtons(hit, card, (kind) => {
        setStatus(t("thanks"));
        if (kind === "dislike" && !state.similar && state.last && state.last.session) {
          $("#results-title").focus(); // the card goes away with the button
          runSearch("same");
        }
      });
      grid.appendChild(card);
    }
  }

  function renderEmpty(data, kind) {
    const box = $("#empty");
    box.replaceChildren();
    box.hidden = Boolean((data.hits || []).length);
    if (!box.hidden) {
      const msg = document.createElement("p");
      const tries = document.createElement("div");
      tries.className = "tries";
      const add = (label, onClick) => {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = label;
        b.addEventListener("click", onClick);
        tries.appendChild(b);
      };
      if (data.weak) {
        msg.textContent = state.text.trim() ? t("weak", { text: state.text.trim() }) : t("weakPhoto");
        for (const s of data.suggestions || []) add(t("trySuggestion") + " " + s, () => { $("#q").value = s; state.text = s; newTurn(); });
        add(t("showLoose"), () => { state.loose = true; state.page = 1; runSearch("new"); });
      } else if (kind !== "similar") {
        msg.textContent = t("noResults");
        // relax the least confident thing first: a preference or filter of the session, then a facet
        const chips = ((data.session && data.session.chips) || []).filter((c) => c.kind === "constraint" || c.kind === "required");
        chips.sort((a, b) => (a.confidence || 0) - (b.confidence || 0));
        if (chips.length) add(t("tryRemoving") + " " + constraintLabel(chips[0]), () => removeSessionChip(chips[0]));
        const fields = Object.keys(state.filters);
        if (fields.length) {
          const last = fields[fields.length - 1];
          add(t("tryRemoving") + " " + facetLabel(last), () => { delete state.filters[last]; sameTurn({ page: 1 }); });
          add(t("removeAllFilters"), () => sameTurn({ filters: {}, page: 1 }));
        }
        for (const s of data.suggestions || []) add(t("trySuggestion") + " " + s, () => { $("#q").value = s; state.text = s; newTurn(); });
      }
      box.append(msg, tries);
    }
  }

  function clearResults() {
    for (const sel of ["#results", "#facet-groups", "#chips", "#empty"]) $(sel).replaceChildren();
    $("#empty").hidden = true;
    $("#pager").hidden = true;
    $("#toolbar").hidden = true;
    $("#facets").hidden = true;
    $("#note").hidden = true;
    $("#corrected").hidden = true;
    state.last = null;
    setStatus("");
  }

  // -- the product view -------------------------------------------------------------------
  let viewOpener = null;
  async function openProduct(id, opts, hit) {
    const dlg = $("#product-view");
    let product = hit ? hit.product : null;
    if (!product) {
      try { product = await api("GET", "/v1/products/" + encodeURIComponent(id)); } catch (err) { showError(err.message); return; }
    }
    hit = hit || { product_id: id, product };
    state.product = id;
    if (!opts.fromHistory) {
      viewOpener = document.activeElement;
      const u = new URLSearchParams(location.search);
      u.set("p", id);
      history.pushState({ product: id }, "", location.pathname + "?" + u);
      feedback("click", hit).catch(() => {});
    }
    $("#pv-title").textContent = product.title || product.id;
    const photos = $("#pv-photos");
    photos.replaceChildren();
    product.images.forEach((src, i) => {
      const img = document.createElement("img");
      img.src = src;
      img.alt = (product.title || product.id) + (product.images.length > 1 ? " (" + (i + 1) + ")" : "");
      photos.appendChild(img);
    });
    $("#pv-price").textContent = formatPrice(product) || t("noPrice");
    const dl = $("#pv-attrs");
    dl.replaceChildren();
    const rows = [];
    if (product.brand) rows.push([facetLabel("brand"), product.brand]);
    if (product.category && product.category.length) rows.push([facetLabel("category"), product.category.map(term).join(" / ")]);
    for (const [k, v] of Object.entries(product.attributes || {})) rows.push([facetLabel(k), typeof v === "string" ? term(v) : String(v)]);
    for (const [k, v] of rows) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      dl.append(dt, dd);
    }
    $("#pv-description").textContent = product.description || "";
    const actions = $("#pv-actions");
    actions.replaceChildren(...$("#card-tpl").content.querySelector(".actions").cloneNode(true).childNodes);
    actionButtons(hit, actions, (kind) => { if (kind === "dislike" && state.last && state.last.session) runSearch("same"); });
    if (!dlg.open) dlg.showModal();
    $("#pv-close").focus();
  }

  function closeProduct(opts) {
    const dlg = $("#product-view");
    state.product = null;
    if (!dlg.open) return;
    dlg.close();
    if (!opts.fromHistory && new URLSearchParams(location.search).get("p")) history.back();
    if (viewOpener && viewOpener.isConnected) viewOpener.focus();
  }

  // -- the filter drawer (phones) ------------------------------------------------------------
  // While the drawer is open the rest of the page is inert: Tab and a screen reader stay in it.
  function setInert(on) { for (const sel of [".top", "#toolbar", ".content"]) $(sel).inert = on; }
  function openDrawer() {
    setInert(true);
    $("#facets").classList.add("open");
    $("#drawer-backdrop").hidden = false;
    $("#filters-btn").setAttribute("aria-expanded", "true");
    $("#facets-close").focus();
  }
  function closeDrawer() {
    if (!$("#facets").classList.contains("open")) return;
    setInert(false);
    $("#facets").classList.remove("open");
    $("#drawer-backdrop").hidden = true;
    $("#filters-btn").setAttribute("aria-expanded", "false");
    $("#filters-btn").focus();
  }

  // -- photo ------------------------------------------------------------------------------
  function setImage(file) {
    if (!file) return;
    if (!file.type.startsWith("image/")) { showError(t("err_image")); return; }
    if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
    state.image = file;
    state.imageUrl = URL.createObjectURL(file);
    const prev = $("#image-preview");
    prev.src = state.imageUrl;
    prev.alt = t("photo");
    prev.hidden = false;
    $("#image-clear").hidden = false;
    state.text = $("#q").value; // a new photo is a new turn, with the words in the box now
    newTurn();
  }
  function clearImage() {
    if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
    state.image = null;
    state.imageUrl = null;
    $("#image-preview").hidden = true;
    $("#image-preview").removeAttribute("src");
    $("#image-clear").hidden = true;
    $("#image-input").value = "";
  }

  // -- voice ------------------------------------------------------------------------------
  let recorder = null;
  let stopTimer = null;
  async function toggleRecording() {
    const btn = $("#mic-btn");
    if (recorder && recorder.state === "recording") { recorder.stop(); return; }
    showError("");
    if (!navigator.mediaDevices || !window.MediaRecorder) { showError(t("err_mic", { reason: "MediaRecorder" })); return; }
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); } catch (e) { showError(t("err_mic", { reason: e.message || e.name })); return; }
    const type = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm"].find((m) => MediaRecorder.isTypeSupported(m)) || "";
    recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
    const parts = [];
    recorder.addEventListener("dataavailable", (e) => { if (e.data.size) parts.push(e.data); });
    recorder.addEventListener("stop", () => {
      clearTimeout(stopTimer);
      stream.getTracks().forEach((tr) => tr.stop());
      btn.classList.remove("recording");
      btn.setAttribute("aria-pressed", "false");
      btn.setAttribute("aria-label", t("record"));
      state.audio = new Blob(parts, { type: recorder.mimeType || "audio/webm" });
      recorder = null;
      state.text = "";
      newTurn();
    });
    recorder.start();
    btn.classList.add("recording");
    btn.setAttribute("aria-pressed", "true");
    btn.setAttribute("aria-label", t("stopRecording"));
    setStatus(t("recording"));
    stopTimer = setTimeout(() => { if (recorder && recorder.state === "recording") recorder.stop(); }, MAX_RECORD_MS);
  }

  // -- autocomplete -----------------------------------------------------------------------
  let suggestTimer = null;
  let suggestSeq = 0;
  let active = -1;
  function closeSuggestions() {
    clearTimeout(suggestTimer);
    suggestSeq++; // an answer still on its way must not open the list again
    const list = $("#suggestions");
    list.hidden = true;
    list.replaceChildren();
    $("#q").setAttribute("aria-expanded", "false");
    $("#q").removeAttribute("aria-activedescendant");
    active = -1;
  }
  async function suggest(prefix) {
    const seq = ++suggestSeq;
    if (!prefix.trim()) { closeSuggestions(); return; }
    let data;
    try { data = await api("GET", "/v1/suggest?" + new URLSearchParams({ q: prefix, k: 8 })); } catch (e) { return; }
    if (seq !== suggestSeq) return;
    const list = $("#suggestions");
    list.replaceChildren();
    data.suggestions.forEach((s, i) => {
      const li = document.createElement("li");
      li.id = "suggestion-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.textContent = s;
      li.addEventListener("mousedown", (e) => { e.preventDefault(); pick(s); });
      list.appendChild(li);
    });
    list.hidden = !data.suggestions.length;
    $("#q").setAttribute("aria-expanded", String(!list.hidden));
  }
  function pick(s) {
    $("#q").value = s;
    state.text = s;
    state.constraintsOff = false;
    closeSuggestions();
    newTurn();
  }
  function moveActive(delta) {
    const items = [...$("#suggestions").children];
    if (!items.length) return;
    active = (active + delta + items.length) % items.length;
    items.forEach((li, i) => li.setAttribute("aria-selected", String(i === active)));
    $("#q").setAttribute("aria-activedescendant", items[active].id);
  }

  // -- wiring -----------------------------------------------------------------------------
  function applyLanguage() {
    window.I18N.apply();
    $("#ui-lang").textContent = window.I18N.lang === "zh" ? "English" : "中文";
    $("#ui-lang").lang = window.I18N.lang === "zh" ? "en" : "zh";
  }

  function init() {
    applyLanguage();
    if (window.I18N.lang === "zh") $("#voice-lang").value = "zh";
    $("#ui-lang").addEventListener("click", async () => {
      await window.I18N.setLang(window.I18N.lang === "zh" ? "en" : "zh");
      applyLanguage();
      if (state.last) render(state.last, state.lastKind);
    });
    const q = $("#q");
    $("#search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const items = [...$("#suggestions").children];
      if (active >= 0 && items[active]) { pick(items[active].textContent); return; }
      state.text = q.value;
      state.constraintsOff = false;
      closeSuggestions();
      q.blur(); // a phone's keyboard goes away so the results can be seen
      newTurn();
    });
    q.addEventListener("input", () => { clearTimeout(suggestTimer); suggestTimer = setTimeout(() => suggest(q.value), 120); });
    q.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown") { e.preventDefault(); moveActive(1); } else if (e.key === "ArrowUp") { e.preventDefault(); moveActive(-1); } else if (e.key === "Escape") { e.preventDefault(); closeSuggestions(); } // Escape closes the list; it never wipes the query
    });
    q.addEventListener("blur", () => setTimeout(closeSuggestions, 100));
    $("#image-btn").addEventListener("click", () => $("#image-input").click());
    $("#image-input").addEventListener("change", (e) => setImage(e.target.files[0]));
    $("#image-preview").addEventListener("error", () => { $("#image-preview").hidden = true; });
    $("#image-clear").addEventListener("click", () => { removePhoto(); q.focus(); });
    $("#mic-btn").addEventListener("click", toggleRecording);
    $("#prev").addEventListener("click", () => { sameTurn({ page: Math.max(1, state.page - 1) }); window.scrollTo(0, 0); });
    $("#next").addEventListener("click", () => { sameTurn({ page: state.page + 1 }); window.scrollTo(0, 0); });
    $("#sort").addEventListener("change", (e) => sameTurn({ sort: e.target.value, page: 1 }));
    $("#filters-btn").addEventListener("click", openDrawer);
    $("#facets-close").addEventListener("click", closeDrawer);
    $("#facets-done").addEventListener("click", closeDrawer);
    $("#drawer-backdrop").addEventListener("click", closeDrawer);
    matchMedia("(min-width: 760px)").addEventListener("change", (e) => { if (e.matches) closeDrawer(); });
    $("#pv-close").addEventListener("click", () => closeProduct({}));
    $("#product-view").addEventListener("cancel", (e) => { e.preventDefault(); closeProduct({}); });
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeDrawer(); });
    window.addEventListener("popstate", () => restore({ fromHistory: true }));
    const overlay = $("#drop-overlay");
    let depth = 0;
    const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
    document.addEventListener("dragenter", (e) => { if (!hasFiles(e)) return; depth++; overlay.hidden = false; });
    document.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (!depth) overlay.hidden = true; });
    document.addEventListener("dragover", (e) => { if (hasFiles(e)) e.preventDefault(); });
    document.addEventListener("drop", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      overlay.hidden = true;
      setImage(e.dataTransfer.files[0]);
    });
    document.addEventListener("paste", (e) => {
      const file = [...(e.clipboardData ? e.clipboardData.files : [])].find((f) => f.type.startsWith("image/"));
      if (file) { e.preventDefault(); setImage(file); }
    });
    window.I18N.loadTerms().then(() => {
      if (location.search) restore({ replace: true });
      document.body.dataset.ready = "true";
    });
  }
  init();
})();
