// shopsearch web page: text, photo and voice search over the JSON API of this service.
(function () {
  "use strict";
  const { t } = window.I18N;
  const $ = (sel) => document.querySelector(sel);
  const K = Math.min(100, Math.max(1, Number(new URLSearchParams(location.search).get("k")) || 24));
  const MAX_RECORD_MS = 10000;
  const state = {
    text: "", image: null, imageUrl: null, audio: null, filters: {}, page: 1,
    similar: null, constraintsOff: false, lastResponse: null, lastKind: null,
    // In a ranked session the server remembers the query: the box's words are sent once (a new
    // turn such as "cheaper" or "不要黑色"); paging, facets and chip edits re-run the session's query.
    sendText: true, sessionOn: false,
  };
  const session = sessionStorage.getItem("shopsearch.session") ||
    (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2));
  sessionStorage.setItem("shopsearch.session", session);

  // -- errors and status ------------------------------------------------------------------
  function showError(message) {
    const box = $("#error");
    box.textContent = message;
    box.hidden = !message;
  }
  function setStatus(message) { $("#status").textContent = message || ""; }

  function explain(status, body) {
    const field = body && body.field;
    const reason = body && body.reason ? " (" + body.reason + ")" : "";
    if (status === 0) return t("err_network");
    if (status === 413) return t("err_413");
    if (status === 503 && field === "audio") return t("err_voice_off") + reason;
    if (field === "image") return t("err_image") + reason;
    if (field === "audio") return t("err_audio");
    if (field === "text" && status === 422) return t("err_query");
    if (status === 404 && field === "product_id") return t("err_notfound");
    return t("err_generic", { status }) + reason;
  }

  async function api(method, url, body) {
    const init = { method, headers: {} };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
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
  function hasQuery() { return Boolean(state.text.trim() || state.image || state.audio); }

  async function runSearch() {
    showError("");
    if (state.similar) return runSimilar();
    const rerun = state.sessionOn && !state.sendText && !state.image && !state.audio;
    if (!hasQuery() && !rerun) { showError(t("err_query")); return; }
    setStatus(state.audio ? t("transcribing") : t("searching"));
    const fields = { k: K, page: state.page, session_id: session, explain: false };
    if (state.text.trim() && !rerun) fields.text = state.text.trim();
    if (Object.keys(state.filters).length) fields.filters = state.filters;
    if (state.constraintsOff) fields.constraints = "off";
    let body;
    if (state.image || state.audio) {
      body = new FormData();
      for (const [key, v] of Object.entries(fields)) body.append(key, typeof v === "object" ? JSON.stringify(v) : String(v));
      if (state.image) body.append("image", state.image, state.image.name || "photo.jpg");
      if (state.audio) {
        body.append("audio", state.audio, "voice." + (state.audio.type.includes("ogg") ? "ogg" : "webm"));
        body.append("language", $("#voice-lang").value);
      }
    } else body = fields;
    try {
      const data = await api("POST", "/v1/search", body);
      if (state.audio) {
        state.audio = null;
        if (data.transcript && data.transcript.text) {
          state.text = data.transcript.text;
          $("#q").value = state.text;
        }
      }
      state.sessionOn = Boolean(data.session);
      state.sendText = !state.sessionOn;
      render(data, "search");
    } catch (err) {
      state.audio = null;
      setStatus("");
      showError(err.message);
    }
  }

  async function runSimilar() {
    setStatus(t("searching"));
    const params = new URLSearchParams({ k: K, page: state.page });
    try {
      const data = await api("GET", "/v1/products/" + encodeURIComponent(state.similar.id) + "/similar?" + params);
      render(data, "similar");
    } catch (err) { setStatus(""); showError(err.message); }
  }

  function newSearch() { state.page = 1; state.similar = null; runSearch(); }

  // -- rendering --------------------------------------------------------------------------
  function render(data, kind) {
    state.lastResponse = data;
    state.lastKind = kind;
    setStatus(data.total ? t("results", { total: data.total, ms: Math.round(data.server_ms) }) : "");
    const tr = $("#transcript");
    if (data.transcript && data.transcript.text) {
      tr.textContent = t("heard", { lang: data.transcript.language, text: data.transcript.text });
      tr.hidden = false;
    } else if (kind === "search" && !state.image) tr.hidden = true;
    const corrected = $("#corrected");
    const fixed = data.parsed && data.parsed.corrected;
    corrected.textContent = fixed ? t("showingFor", { text: fixed }) : "";
    corrected.hidden = !fixed;
    renderChips(data, kind);
    renderFacets(data.facets || {});
    renderResults(data.hits || []);
    const pager = $("#pager");
    pager.hidden = !(data.pages > 1);
    $("#page-info").textContent = t("pageInfo", { page: data.page, pages: data.pages });
    $("#prev").disabled = data.page <= 1;
    $("#next").disabled = data.page >= data.pages;
  }

  function chip(label, onRemove, cls) {
    const el = document.createElement("span");
    el.className = "chip " + (cls || "");
    el.textContent = label;
    const x = document.createElement("button");
    x.type = "button";
    x.className = "chip-x";
    x.title = t("remove");
    x.setAttribute("aria-label", t("remove") + " " + label);
    x.textContent = "×";
    x.addEventListener("click", onRemove);
    el.appendChild(x);
    return el;
  }

  function parsedChips(parsed) {
    if (!parsed) return [];
    if (Array.isArray(parsed)) return parsed;
    for (const key of ["constraints", "chips"]) if (Array.isArray(parsed[key])) return parsed[key];
    return [];
  }

  function constraintLabel(c) {
    const name = c.field ? facetLabel(c.field) + ": " : "";
    const v = c.value;
    if (c.op === "ne") return name + "≠ " + v;
    if (c.op === "le") return name + "≤ " + v;
    if (c.op === "ge") return name + "≥ " + v;
    if (c.op === "range" && Array.isArray(v)) return name + v[0] + "–" + v[1];
    return name + (v === undefined ? c.text : v);
  }

  function facetLabel(field) { const key = "facet_" + field; return window.I18N.has(key) ? t(key) : field.replace(/_/g, " "); }

  function filterLabel(field, value) {
    if (value && typeof value === "object") {
      const lo = value.gte !== undefined ? value.gte : 0;
      return facetLabel(field) + ": " + lo + (value.lt !== undefined ? "–" + value.lt : "+");
    }
    return facetLabel(field) + ": " + value;
  }

  async function removeSessionChip(c) {
    try {
      await api("DELETE", "/v1/sessions/" + encodeURIComponent(session) + "/chips/" + c.kind + "/" + (c.index || 0));
      state.page = 1;
      state.sendText = false;
      runSearch();
    } catch (err) { showError(err.message); }
  }

  async function startOver() {
    try { await api("POST", "/v1/sessions/" + encodeURIComponent(session) + "/reset"); } catch (err) { showError(err.message); return; }
    state.text = "";
    $("#q").value = "";
    clearImage();
    state.filters = {};
    state.sendText = true;
    clearResults();
  }

  function renderChips(data, kind) {
    const box = $("#chips");
    box.replaceChildren();
    if (state.similar) {
      box.appendChild(chip(t("similarTo", { title: state.similar.title }), () => { state.similar = null; state.page = 1; if (hasQuery()) runSearch(); else clearResults(); }, "similar"));
    }
    if (state.image) box.appendChild(chip(t("photo"), () => { clearImage(); if (hasQuery()) newSearch(); else clearResults(); }, "photo"));
    if (data.session && kind !== "similar") {
      for (const c of data.session.chips || []) {
        const label = c.kind === "anchor" ? t("likeProduct", { id: c.product_id })
          : c.kind === "hidden" ? t("hiddenProducts", { count: c.count }) : constraintLabel(c);
        box.appendChild(chip(label, () => removeSessionChip(c), c.kind === "constraint" || c.kind === "required" ? "parsed" : c.kind));
      }
      if ((data.session.turns || []).length > 1 || (data.session.chips || []).length) {
        const reset = document.createElement("button");
        reset.type = "button";
        reset.className = "chip reset";
        reset.textContent = t("startOver");
        reset.addEventListener("click", startOver);
        box.appendChild(reset);
      }
    } else if (state.constraintsOff) {
      box.appendChild(chip(t("understandingOff"), () => { state.constraintsOff = false; state.page = 1; runSearch(); }, "off"));
    } else {
      for (const c of parsedChips(data.parsed)) box.appendChild(chip(constraintLabel(c), () => removeParsedChip(c), "parsed"));
    }
    for (const [field, value] of Object.entries(state.filters)) {
      box.appendChild(chip(filterLabel(field, value), () => { delete state.filters[field]; state.page = 1; runSearch(); }, "filter"));
    }
  }

  function removeParsedChip(c) {
    // The chip came from words in the query: take those words out and search again. When the
    // words cannot be found (a Chinese query is understood through its English translation),
    // turn query understanding off for this query instead.
    const words = String(c.text || "");
    const at = words ? state.text.toLowerCase().indexOf(words.toLowerCase()) : -1;
    if (at >= 0) state.text = (state.text.slice(0, at) + " " + state.text.slice(at + words.length)).replace(/\s+/g, " ").trim();
    else state.constraintsOff = true;
    $("#q").value = state.text;
    state.page = 1;
    if (hasQuery()) runSearch(); else clearResults();
  }

  function priceFilter(label) {
    const m = /^([\d.]+)(?:-([\d.]+)|\+)$/.exec(label);
    if (!m) return label;
    const f = { gte: Number(m[1]) };
    if (m[2] !== undefined) f.lt = Number(m[2]);
    return f;
  }

  function renderFacets(facets) {
    const box = $("#facets");
    box.replaceChildren();
    const fields = Object.keys(facets);
    if (!fields.length) return;
    const h = document.createElement("h2");
    h.textContent = t("filters");
    box.appendChild(h);
    for (const field of fields) {
      const group = document.createElement("section");
      group.className = "facet";
      group.dataset.field = field;
      const title = document.createElement("h3");
      title.textContent = facetLabel(field);
      group.appendChild(title);
      for (const { value, count } of facets[field]) {
        const btn = document.createElement("button");
        btn.type = "button";
        btn.className = "facet-value";
        btn.dataset.field = field;
        btn.dataset.value = value;
        const active = JSON.stringify(state.filters[field]) === JSON.stringify(field === "price" ? priceFilter(value) : value);
        btn.setAttribute("aria-pressed", String(active));
        const name = document.createElement("span");
        name.textContent = value;
        const n = document.createElement("span");
        n.className = "count";
        n.textContent = count;
        btn.append(name, n);
        btn.addEventListener("click", () => {
          if (active) delete state.filters[field];
          else state.filters[field] = field === "price" ? priceFilter(value) : value;
          state.page = 1;
          runSearch();
        });
        group.appendChild(btn);
      }
      box.appendChild(group);
    }
  }

  function formatPrice(p) {
    if (p.price === null || p.price === undefined) return "";
    const cur = p.currency || "";
    return (cur === "CNY" ? "¥" : cur === "USD" ? "$" : cur === "EUR" ? "€" : cur ? cur + " " : "") + p.price.toFixed(2);
  }

  function feedback(event, hit, extra) {
    const body = { event, product_id: hit.product_id, position: hit.rank, session_id: session };
    if (state.text) body.query = state.text.slice(0, 500);
    return api("POST", "/v1/feedback", Object.assign(body, extra || {}));
  }

  function renderResults(hits) {
    const grid = $("#results");
    grid.replaceChildren();
    if (!hits.length) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = t("noResults");
      grid.appendChild(p);
      return;
    }
    const tpl = $("#card-tpl");
    for (const hit of hits) {
      const p = hit.product;
      const card = tpl.content.firstElementChild.cloneNode(true);
      card.dataset.productId = hit.product_id;
      const img = card.querySelector("img");
      if (p.images.length) { img.src = p.images[0]; img.alt = p.title; } else img.remove();
      card.querySelector(".title").textContent = p.title || p.id;
      const attrs = Object.values(p.attributes || {}).filter((v) => typeof v === "string");
      if (p.brand) attrs.unshift(p.brand);
      card.querySelector(".attrs").textContent = attrs.join(" · ");
      card.querySelector(".price").textContent = formatPrice(p);
      window.I18N.apply(card);
      card.querySelector(".thumb").addEventListener("click", (e) => { e.preventDefault(); feedback("click", hit).catch(() => {}); });
      card.querySelector(".more-like-this").addEventListener("click", () => {
        state.similar = { id: hit.product_id, title: p.title || p.id };
        state.page = 1;
        window.scrollTo(0, 0);
        runSearch();
      });
      for (const kind of ["like", "dislike"]) {
        const btn = card.querySelector("." + kind);
        btn.addEventListener("click", async () => {
          try {
            await feedback(kind, hit);
            card.querySelectorAll(".like, .dislike").forEach((b) => b.setAttribute("aria-pressed", "false"));
            btn.setAttribute("aria-pressed", "true");
            setStatus(t("thanks"));
            if (kind === "dislike" && state.sessionOn && !state.similar) { state.sendText = false; runSearch(); }
          } catch (err) { showError(err.message); }
        });
      }
      grid.appendChild(card);
    }
    // impressions are logged by the server with each search in a session
  }

  function clearResults() {
    for (const sel of ["#results", "#facets", "#chips"]) $(sel).replaceChildren();
    $("#pager").hidden = true;
    setStatus("");
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
    prev.hidden = false;
    $("#image-clear").hidden = false;
    newSearch();
  }
  function clearImage() {
    if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
    state.image = null;
    state.imageUrl = null;
    $("#image-preview").hidden = true;
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
      btn.title = t("record");
      state.audio = new Blob(parts, { type: recorder.mimeType || "audio/webm" });
      recorder = null;
      state.page = 1;
      state.similar = null;
      runSearch();
    });
    recorder.start();
    btn.classList.add("recording");
    btn.setAttribute("aria-pressed", "true");
    btn.title = t("stopRecording");
    setStatus(t("recording"));
    stopTimer = setTimeout(() => { if (recorder && recorder.state === "recording") recorder.stop(); }, MAX_RECORD_MS);
  }

  // -- autocomplete -----------------------------------------------------------------------
  let suggestTimer = null;
  let suggestSeq = 0;
  let active = -1;
  function closeSuggestions() {
    const list = $("#suggestions");
    list.hidden = true;
    list.replaceChildren();
    $("#q").setAttribute("aria-expanded", "false");
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
    for (const s of data.suggestions) {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.textContent = s;
      li.addEventListener("mousedown", (e) => { e.preventDefault(); pick(s); });
      list.appendChild(li);
    }
    list.hidden = !data.suggestions.length;
    $("#q").setAttribute("aria-expanded", String(!list.hidden));
  }
  function pick(s) {
    $("#q").value = s;
    state.text = s;
    state.constraintsOff = false;
    closeSuggestions();
    newSearch();
  }
  function moveActive(delta) {
    const items = [...$("#suggestions").children];
    if (!items.length) return;
    active = (active + delta + items.length) % items.length;
    items.forEach((li, i) => li.setAttribute("aria-selected", String(i === active)));
  }

  // -- wiring -----------------------------------------------------------------------------
  function init() {
    window.I18N.apply();
    if (window.I18N.lang === "zh") $("#voice-lang").value = "zh";
    $("#ui-lang").textContent = window.I18N.lang === "zh" ? "English" : "中文";
    $("#ui-lang").addEventListener("click", () => {
      window.I18N.setLang(window.I18N.lang === "zh" ? "en" : "zh");
      $("#ui-lang").textContent = window.I18N.lang === "zh" ? "English" : "中文";
      if (state.lastResponse) render(state.lastResponse, state.lastKind);
    });
    const q = $("#q");
    $("#search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const items = [...$("#suggestions").children];
      if (active >= 0 && items[active]) { pick(items[active].textContent); return; }
      state.text = q.value;
      state.constraintsOff = false;
      state.sendText = true;
      closeSuggestions();
      newSearch();
    });
    q.addEventListener("input", () => {
      clearTimeout(suggestTimer);
      suggestTimer = setTimeout(() => suggest(q.value), 120);
    });
    q.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown") { e.preventDefault(); moveActive(1); }
      else if (e.key === "ArrowUp") { e.preventDefault(); moveActive(-1); }
      else if (e.key === "Escape") closeSuggestions();
    });
    q.addEventListener("blur", () => setTimeout(closeSuggestions, 100));
    $("#image-btn").addEventListener("click", () => $("#image-input").click());
    $("#image-input").addEventListener("change", (e) => setImage(e.target.files[0]));
    $("#image-preview").addEventListener("error", () => { $("#image-preview").hidden = true; });
    $("#image-clear").addEventListener("click", () => { clearImage(); if (hasQuery()) newSearch(); else clearResults(); });
    $("#mic-btn").addEventListener("click", toggleRecording);
    $("#prev").addEventListener("click", () => { state.page = Math.max(1, state.page - 1); runSearch(); window.scrollTo(0, 0); });
    $("#next").addEventListener("click", () => { state.page += 1; runSearch(); window.scrollTo(0, 0); });
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
    document.body.dataset.ready = "true";
  }
  init();
})();
