"use strict";
// seqscore's page script: token tooltips and paging. Nothing is fetched;
// every value shown comes from the element's data-* attributes.
(function () {
  var tip = document.getElementById("tip");
  var pinned = null;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function logprobOf(text) {
    return text === "-inf" ? -Infinity : parseFloat(text);
  }
  function probability(lp) {
    if (lp === -Infinity) return "0";
    var p = Math.exp(lp);
    return p >= 0.001 ? (100 * p).toPrecision(3) + "%" : p.toExponential(2);
  }
  function row(table, name, value) {
    var tr = table.insertRow();
    tr.appendChild(el("th", "", name));
    tr.appendChild(el("td", "", value));
  }
  function fill(token) {
    var data = token.dataset, lp = logprobOf(data.logprob);
    tip.textContent = "";
    tip.appendChild(el("span", "tip-token", token.textContent));
    var facts = el("table");
    row(facts, "log-prob", data.logprob);
    row(facts, "probability", probability(lp));
    row(facts, "surprisal", lp === -Infinity ? "∞ nats" : (-lp).toFixed(3) + " nats");
    row(facts, "rank", data.rank ? data.rank : "not in the input");
    if (token.parentNode.dataset.candidate !== undefined) {  // its place in the candidate
      row(facts, "position", String(Array.prototype.indexOf.call(token.parentNode.children, token)));
    }
    tip.appendChild(facts);
    if (data.top !== undefined) {
      tip.appendChild(el("div", "hint", "Top alternatives listed at this step:"));
      var alts = el("table", "alts"), parts = data.top.split("\t");
      for (var i = 0; i + 1 < parts.length; i += 2) {
        var value = logprobOf(parts[i + 1]);
        var tr = alts.insertRow();
        if (parts[i] === token.textContent) tr.className = "this";  // the token itself
        tr.appendChild(el("td", "", parts[i]));
        tr.appendChild(el("td", "", value === -Infinity ? "-inf" : value.toFixed(4)));
        tr.appendChild(el("td", "", probability(value)));
      }
      tip.appendChild(alts);
    } else if (data.alt !== undefined) {
      var most = el("div", "hint", "Most probable token at this step: ");
      most.appendChild(el("span", "tip-token", data.alt));
      tip.appendChild(most);
    } else {
      tip.appendChild(el("div", "hint",
        "The input lists no alternatives at this step."));
    }
  }
  function place(token) {
    var box = token.getBoundingClientRect();
    tip.hidden = false;
    var left = Math.min(box.left + window.scrollX,
      window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8);
    tip.style.left = Math.max(4, left) + "px";
    tip.style.top = (box.bottom + window.scrollY + 6) + "px";
  }
  function show(token) { fill(token); place(token); }
  function hide() { if (!pinned) tip.hidden = true; }

  document.addEventListener("mouseover", function (event) {
    var token = event.target.closest && event.target.closest(".t[data-logprob]");
    if (token && !pinned) show(token);
  });
  document.addEventListener("mouseout", function (event) {
    var token = event.target.closest && event.target.closest(".t[data-logprob]");
    if (token) hide();
  });
  document.addEventListener("click", function (event) {
    var token = event.target.closest && event.target.closest(".t[data-logprob]");
    if (pinned) pinned.classList.remove("pinned");
    if (token && token !== pinned) {
      pinned = token;
      token.classList.add("pinned");
      show(token);
    } else {
      pinned = null;
      tip.hidden = true;
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && pinned) {
      pinned.classList.remove("pinned");
      pinned = null;
      tip.hidden = true;
    }
  });

  // Paging: the items of a [data-pages] container, N to a page, with a
  // search box and, where items say data-disagree, a filter for them.
  var pagers = [];
  function paginate(box) {
    var items = Array.prototype.filter.call(box.children, function (node) {
      return node.classList.contains("item");
    });
    var size = parseInt(box.dataset.pages, 10), page = 0, shown = items;
    if (items.length <= size) {
      items.forEach(function (node) { node.classList.add("on"); });
      return;
    }
    var nav = el("nav", "pager");
    var first = el("button", "", "« first"), prev = el("button", "", "‹ previous");
    var next = el("button", "", "next ›"), last = el("button", "", "last »");
    var count = el("span", "count");
    var search = el("input");
    search.type = "search";
    search.placeholder = "search " + (box.dataset.noun || "items");
    var choose = el("select");
    [size, 50, 100, 500].filter(function (n, i, all) {
      return all.indexOf(n) === i;
    }).sort(function (a, b) { return a - b; }).forEach(function (n) {
      var option = el("option", "", n + " a page");
      option.value = n;
      option.selected = n === size;
      choose.appendChild(option);
    });
    [first, prev, count, next, last, choose, search].forEach(function (node) {
      nav.appendChild(node);
    });
    var only = null;
    if (items.some(function (node) { return node.dataset.disagree === "1"; })) {
      var label = el("label");
      only = el("input");
      only.type = "checkbox";
      label.appendChild(only);
      label.appendChild(document.createTextNode(" only where normalisations disagree"));
      nav.appendChild(label);
      only.addEventListener("change", function () { page = 0; apply(); });
    }
    var anchor = box.closest("table") || box;
    anchor.parentNode.insertBefore(nav, anchor);
    var texts = null;
    function matches(node, i) {
      if (only && only.checked && node.dataset.disagree !== "1") return false;
      var query = search.value.trim().toLowerCase();
      if (!query) return true;
      if (!texts) texts = items.map(function (n) { return n.textContent.toLowerCase(); });
      return texts[i].indexOf(query) >= 0;
    }
    function apply() {
      shown = items.filter(matches);
      var pages = Math.max(1, Math.ceil(shown.length / size));
      page = Math.min(Math.max(page, 0), pages - 1);
      items.forEach(function (node) { node.classList.remove("on"); });
      var start = page * size, end = Math.min(shown.length, start + size);
      for (var i = start; i < end; i++) shown[i].classList.add("on");
      count.textContent = shown.length
        ? (start + 1).toLocaleString("en") + "–" + end.toLocaleString("en") + " of "
          + shown.length.toLocaleString("en") + " " + (box.dataset.noun || "items")
          + " (page " + (page + 1).toLocaleString("en") + " of "
          + pages.toLocaleString("en") + ")"
        : "nothing matches";
      first.disabled = prev.disabled = page === 0;
      next.disabled = last.disabled = page >= pages - 1;
    }
    first.onclick = function () { page = 0; apply(); };
    prev.onclick = function () { page -= 1; apply(); };
    next.onclick = function () { page += 1; apply(); };
    last.onclick = function () { page = 1e9; apply(); };
    choose.onchange = function () { size = parseInt(choose.value, 10); page = 0; apply(); };
    search.oninput = function () { page = 0; apply(); };
    pagers.push({
      reveal: function (node) {
        var i = items.indexOf(node);
        if (i < 0) return;
        search.value = "";
        if (only) only.checked = false;
        page = Math.floor(i / size);
        apply();
      }
    });
    apply();
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-pages]"), paginate);

  // The counts of a page of prompts (the file is written as it is read, so
  // they are known only once it is all there).
  var summary = document.getElementById("summary");
  if (summary) {
    var prompts = document.querySelectorAll("#prompts > .item");
    var candidates = document.querySelectorAll("#prompts td.tokens").length;
    var disagree = document.querySelectorAll('#prompts > .item[data-disagree="1"]').length;
    summary.textContent = prompts.length.toLocaleString("en") + " prompt"
      + (prompts.length === 1 ? "" : "s") + " · " + candidates.toLocaleString("en")
      + " candidate" + (candidates === 1 ? "" : "s")
      + " · the normalisations disagree on the winner of " + disagree.toLocaleString("en");
  }

  // A link to #an-id shows the page that holds it.
  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (!target) return;
    var item = target.closest(".item");
    if (item && !item.classList.contains("on")) {
      pagers.forEach(function (pager) { pager.reveal(item); });
      target.scrollIntoView();
    }
  }
  window.addEventListener("hashchange", reveal);
  reveal();
})();
