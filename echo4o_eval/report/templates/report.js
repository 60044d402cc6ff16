(function () {
  "use strict";
  var errorBox = document.getElementById("js-errors");
  function reportError(message) {
    errorBox.hidden = false;
    errorBox.textContent += message + "\n";
  }
  window.addEventListener("error", function (event) { reportError("error: " + event.message); });
  window.addEventListener("unhandledrejection", function (event) { reportError("rejection: " + event.reason); });
  var originalConsoleError = console.error;
  console.error = function () {
    reportError("console.error: " + Array.prototype.join.call(arguments, " "));
    originalConsoleError.apply(console, arguments);
  };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // ---- sortable tables: first click puts the best first (numbers) or A..Z (text)
  function cellKey(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) return numeric ? null : "";
    if (numeric) {
      var raw = cell.getAttribute("data-value");
      return raw === null || raw === "" ? null : parseFloat(raw);
    }
    return cell.textContent.trim().toLowerCase();
  }
  function sortTable(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute("data-sort") === "num";
    var higher = th.getAttribute("data-higher") !== "false";
    var bestFirst = numeric ? (higher ? "desc" : "asc") : "asc";
    var current = th.classList.contains("sorted-asc") ? "asc" : th.classList.contains("sorted-desc") ? "desc" : null;
    var order = current === null ? bestFirst : (current === "asc" ? "desc" : "asc");
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
    th.classList.add(order === "asc" ? "sorted-asc" : "sorted-desc");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellKey(a, index, numeric), y = cellKey(b, index, numeric);
      if (x === null && y === null) return 0;
      if (x === null) return 1;  // missing values always last
      if (y === null) return -1;
      var c = x < y ? -1 : x > y ? 1 : 0;
      return order === "asc" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th[data-sort]").forEach(function (th) {
      th.addEventListener("click", function () { sortTable(table, th); });
    });
  });

  // ---- galleries: filtered, paginated, every string through textContent
  var SVG = "http://www.w3.org/2000/svg";
  function detectionsOverlay(item) {
    if (!item.dets || !item.dets.length || !item.size) return null;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + item.size[0] + " " + item.size[1]);
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    svg.setAttribute("class", "dets");
    var stroke = Math.max(1, item.size[0] / 150);
    item.dets.forEach(function (d) {
      var rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", d.b[0]); rect.setAttribute("y", d.b[1]);
      rect.setAttribute("width", Math.max(0, d.b[2] - d.b[0]));
      rect.setAttribute("height", Math.max(0, d.b[3] - d.b[1]));
      rect.setAttribute("fill", "none"); rect.setAttribute("stroke", "#ffde00");
      rect.setAttribute("stroke-width", stroke);
      var label = document.createElementNS(SVG, "text");
      label.setAttribute("x", d.b[0] + stroke); label.setAttribute("y", d.b[1] + item.size[0] / 18);
      label.setAttribute("fill", "#ffde00"); label.setAttribute("font-size", item.size[0] / 18);
      label.setAttribute("stroke", "#000"); label.setAttribute("stroke-width", stroke / 4);
      label.textContent = d.c + (d.col ? " (" + d.col + ")" : "") + " " + d.s;
      svg.appendChild(rect); svg.appendChild(label);
    });
    return svg;
  }
  function pre(label, text) {
    var wrap = el("div");
    wrap.appendChild(el("div", "small muted", label));
    wrap.appendChild(el("pre", null, text));
    return wrap;
  }
  function card(item, showBoxes) {
    var verdictClass = item.verdict === true ? "pass" : item.verdict === false ? "fail" : "none";
    var node = el("div", "card v-" + verdictClass);
    node.setAttribute("data-sid", item.sid);
    node.setAttribute("data-i", item.i);
    var fig = el("div", "fig");
    if (item.thumb) {
      var link = el("a");
      link.href = item.full || item.thumb;
      var img = el("img");
      img.loading = "lazy"; img.alt = "image " + item.i; img.src = item.thumb;
      link.appendChild(img);
      fig.appendChild(link);
      if (showBoxes) { var overlay = detectionsOverlay(item); if (overlay) fig.appendChild(overlay); }
    } else {
      fig.appendChild(el("div", "noimg", item.gen_error || "no image"));
    }
    node.appendChild(fig);
    var head = el("div", "head");
    head.appendChild(el("span", "sid", "#" + item.i));
    if (item.status !== "ok") head.appendChild(el("span", "badge st-" + item.status, item.status));
    if (item.verdict !== null) head.appendChild(el("span", "badge " + verdictClass, verdictClass));
    else if (item.main !== null && item.main !== undefined) head.appendChild(el("span", "badge score", "score " + formatCell(item.main)));
    (item.req || []).forEach(function (r) { head.appendChild(el("span", "badge req", r)); });
    node.appendChild(head);
    if (item.refs && item.refs.length) node.appendChild(referenceStrip(item.refs));
    if (item.reason) node.appendChild(el("div", "reason small", item.reason));
    (item.sections || []).forEach(function (section) { node.appendChild(detailTable(section)); });
    var more = el("details");
    var hidden = (item.n_judgements || 0) - (item.judges || []).length;
    more.appendChild(el("summary", "small", "checklist, judge replies" + (item.n_judgements ? " (" + item.n_judgements + ")" : "")));
    more.appendChild(pre("checklist / metadata", item.checklist));
    (item.judges || []).forEach(function (j) {
      var text = "status: " + j.status + (j.error ? "\nerror: " + j.error : "") +
        (j.parsed ? "\nparsed: " + j.parsed : "") + (j.replies.length ? "\nreply: " + j.replies.join("\n---\n") : "");
      more.appendChild(pre("judge " + j.key, text));
    });
    if (hidden > 0) more.appendChild(el("div", "small muted", hidden + " more judge replies (all answers are in the tables above; raw replies in the run's records)"));
    node.appendChild(more);
    return node;
  }
  // how good a prompt's images are: pass = 1, fail = 0, scores on 0..1, not scored = -1
  function goodness(list) {
    var total = 0;
    list.forEach(function (it) {
      total += it.status !== "ok" ? -1 : it.verdict !== null ? (it.verdict ? 1 : 0) : (it.main !== null && it.main !== undefined ? it.main / 10 : 0.5);
    });
    return list.length ? total / list.length : 0;
  }
  function groupNode(group, shown, showBoxes) {
    var node = el("div", "group g" + Math.min(4, group.items.length));
    node.setAttribute("data-sid", group.sid);
    var head = el("div", "group-head");
    head.appendChild(el("span", "sid", group.sid));
    head.appendChild(el("span", "badge tag", group.tag));
    var passed = group.items.filter(function (it) { return it.verdict === true; }).length;
    var judged = group.items.filter(function (it) { return it.verdict !== null; }).length;
    if (judged) head.appendChild(el("span", "badge " + (passed === judged ? "pass" : passed ? "some" : "fail"), passed + "/" + judged + " pass"));
    var scores = group.items.filter(function (it) { return it.verdict === null && it.status === "ok" && it.main !== null; });
    if (scores.length && !judged) head.appendChild(el("span", "badge score", "mean " + formatCell(scores.reduce(function (a, it) { return a + it.main; }, 0) / scores.length)));
    node.appendChild(head);
    node.appendChild(el("p", "prompt", group.prompt));
    var imgs = el("div", "imgs");
    shown.forEach(function (it) { imgs.appendChild(card(it, showBoxes)); });
    node.appendChild(imgs);
    return node;
  }
  function formatCell(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
    return String(value);
  }
  function detailTable(section) {
    var wrap = el("div", "details-table");
    wrap.appendChild(el("div", "small muted", section.title));
    var table = el("table", "dt");
    var headRow = el("tr");
    section.head.forEach(function (h) { headRow.appendChild(el("th", null, h)); });
    table.appendChild(el("thead")).appendChild(headRow);
    var body = el("tbody");
    section.rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (value) {
        var verdictWord = value === true || value === "yes" ? "yes" : value === false || value === "no" ? "no" : null;
        var td = el("td", verdictWord ? "ans-" + verdictWord : (typeof value === "number" ? "num" : null),
          value === true ? "yes ✓" : value === false ? "no ✗" : formatCell(value));
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    wrap.appendChild(table);
    return wrap;
  }
  function referenceStrip(refs) {
    var strip = el("div", "refs");
    strip.appendChild(el("span", "small muted", "references:"));
    refs.forEach(function (ref, k) {
      if (ref.thumb) {
        var link = el("a");
        link.href = ref.full || ref.thumb;
        link.title = ref.name;
        var img = el("img", "ref");
        img.loading = "lazy"; img.alt = "reference " + (k + 1); img.src = ref.thumb;
        link.appendChild(img);
        strip.appendChild(link);
      } else {
        strip.appendChild(el("span", "small warn", ref.name));
      }
    });
    return strip;
  }
  function initGallery(block) {
    var run = block.getAttribute("data-run");
    var pageSize = parseInt(block.getAttribute("data-page-size"), 10) || 48;
    var items = JSON.parse(document.getElementById("gallery-data-" + run).textContent);
    var q = function (cls) { return block.querySelector(cls); };
    var groups = [], byId = {};
    items.forEach(function (it) {
      var g = byId[it.sid];
      if (!g) { g = byId[it.sid] = { sid: it.sid, tag: it.tag, prompt: it.prompt, items: [], order: groups.length }; groups.push(g); }
      g.items.push(it);
    });
    var perGroup = Math.max(1, groups.reduce(function (m, g) { return Math.max(m, g.items.length); }, 1));
    var groupsPerPage = Math.max(1, Math.floor(pageSize / perGroup));
    groups.forEach(function (g) { g.goodness = goodness(g.items); });
    var state = { page: 0, matches: [] };
    function number(cls) { var input = q(cls); if (!input || input.value === "") return null; var v = parseFloat(input.value); return isNaN(v) ? null : v; }
    function matcher() {
      var tag = q(".f-tag").value, status = q(".f-status").value, verdict = q(".f-verdict").value;
      var req = q(".f-req") ? q(".f-req").value : "";
      var low = number(".f-min"), high = number(".f-max");
      var text = q(".f-text").value.trim().toLowerCase();
      return function (it) {
        if (tag && it.tag !== tag) return false;
        if (status && it.status !== status) return false;
        if (verdict === "pass" && it.verdict !== true) return false;
        if (verdict === "fail" && it.verdict !== false) return false;
        if (verdict === "none" && it.verdict !== null) return false;
        if (req && (it.req || []).indexOf(req) < 0) return false;
        if ((low !== null || high !== null) && (it.main === null || it.main === undefined || it.verdict !== null)) return false;
        if (low !== null && it.main < low) return false;
        if (high !== null && it.main > high) return false;
        if (text && (it.prompt + " " + it.sid + " " + (it.reason || "")).toLowerCase().indexOf(text) < 0) return false;
        return true;
      };
    }
    function filtered() {
      var match = matcher();
      var found = [];
      groups.forEach(function (g) {
        var shown = g.items.filter(match);
        if (shown.length) found.push({ group: g, shown: shown });
      });
      var worst = q(".f-sort").value === "worst";
      found.sort(function (a, b) {
        if (worst && a.group.goodness !== b.group.goodness) return a.group.goodness - b.group.goodness;
        return a.group.order - b.group.order;
      });
      return found;
    }
    function render() {
      var pages = Math.max(1, Math.ceil(state.matches.length / groupsPerPage));
      state.page = Math.min(Math.max(0, state.page), pages - 1);
      var cards = q(".cards");
      cards.textContent = "";
      var showBoxes = q(".f-boxes").checked;
      var fragment = document.createDocumentFragment();
      state.matches.slice(state.page * groupsPerPage, (state.page + 1) * groupsPerPage).forEach(function (m) {
        fragment.appendChild(groupNode(m.group, m.shown, showBoxes));
      });
      cards.appendChild(fragment);
      var images = state.matches.reduce(function (n, m) { return n + m.shown.length; }, 0);
      q(".count").textContent = images + " of " + items.length + " images · " + state.matches.length + " of " + groups.length + " prompts";
      q(".page").textContent = "page " + (state.page + 1) + " of " + pages;
      q(".prev").disabled = state.page === 0;
      q(".next").disabled = state.page >= pages - 1;
    }
    function refilter() { state.matches = filtered(); state.page = 0; render(); }
    if (!items.some(function (it) { return it.dets && it.dets.length; })) q(".f-boxes").parentNode.hidden = true;
    [".f-sort", ".f-tag", ".f-status", ".f-verdict", ".f-req", ".f-boxes"].forEach(function (cls) { if (q(cls)) q(cls).addEventListener("change", refilter); });
    [".f-text", ".f-min", ".f-max"].forEach(function (cls) { if (q(cls)) q(cls).addEventListener("input", refilter); });
    q(".prev").addEventListener("click", function () { state.page -= 1; render(); });
    q(".next").addEventListener("click", function () { state.page += 1; render(); });
    refilter();
  }
  var toggle = document.getElementById("toggle-tags");
  if (toggle) {
    var board = document.getElementById("leaderboard");
    if (!board.querySelector("th.tagcol")) toggle.hidden = true;
    toggle.addEventListener("click", function () {
      var hidden = board.classList.toggle("hide-tags");
      toggle.setAttribute("aria-pressed", hidden ? "false" : "true");
      toggle.textContent = hidden ? "show tag columns" : "hide tag columns";
    });
  }
  document.querySelectorAll(".gallery-block").forEach(function (block) {
    try { initGallery(block); } catch (e) { reportError("gallery " + block.getAttribute("data-run") + ": " + e); }
  });
})();
