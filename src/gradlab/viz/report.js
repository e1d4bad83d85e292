/* gradlab report: the interactive parts, drawn from data embedded in the page.
 *
 * Plain JavaScript, inlined in the report by gradlab.viz.report: no module, no library,
 * no network request. Without it the page still shows every static figure; with it,
 * widgets (hidden until this script draws them) and hover read-outs appear.
 *
 *   [data-widget="descent-rate"]  a learning-rate slider over precomputed descents on f(x)
 *   [data-widget="linreg-rate"]   a learning-rate slider over linear-regression fits
 *   .readout-wrap[data-readout]   hover read-outs on a PNG figure whose axes are described
 */
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";
  var clipCount = 0;

  function svgEl(tag, attrs, parent) {
    var node = document.createElementNS(SVGNS, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function htmlEl(tag, attrs, parent, text) {
    var node = document.createElement(tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function niceTicks(lo, hi, count) {
    if (!(isFinite(lo) && isFinite(hi)) || hi <= lo) { return [lo]; }
    var raw = (hi - lo) / count;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = mag;
    var mults = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < mults.length; i++) {
      step = mults[i] * mag;
      if (step >= raw) { break; }
    }
    var out = [];
    for (var k = Math.ceil(lo / step - 1e-9); k <= Math.floor(hi / step + 1e-9); k++) {
      out.push(+(k * step).toPrecision(12));
    }
    return out;
  }

  function fmt(v) {
    if (v === 0) { return "0"; }
    var a = Math.abs(v);
    if (a >= 1e5 || a < 1e-3) { return v.toExponential(1).replace("e+", "e"); }
    return String(+v.toPrecision(4));
  }

  /* Axes with ticks. o: width, height, xlim, ylim, xlabel, ylabel, title, ylog (the y
   * values given to x()/y() are log10 of the data; ticks are labelled in data units). */
  function chart(parent, o) {
    var m = { l: 58, r: 14, t: 26, b: 42 };
    var svg = svgEl("svg", {
      width: o.width, height: o.height, viewBox: "0 0 " + o.width + " " + o.height,
      role: "img", "aria-label": o.title
    }, parent);
    var pw = o.width - m.l - m.r;
    var ph = o.height - m.t - m.b;
    var sx = pw / ((o.xlim[1] - o.xlim[0]) || 1);
    var sy = ph / ((o.ylim[1] - o.ylim[0]) || 1);
    function x(v) { return m.l + (v - o.xlim[0]) * sx; }
    function y(v) { return m.t + ph - (v - o.ylim[0]) * sy; }
    svgEl("text", { x: m.l + pw / 2, y: 15, "text-anchor": "middle", "font-weight": "bold" }, svg)
      .textContent = o.title;
    var yticks = niceTicks(o.ylim[0], o.ylim[1], 5);
    if (o.ylog) {
      var whole = yticks.filter(function (t) { return Math.abs(t - Math.round(t)) < 1e-9; });
      if (whole.length >= 2) { yticks = whole; }
    }
    yticks.forEach(function (t) {
      svgEl("line", { x1: m.l, x2: m.l + pw, y1: y(t), y2: y(t), stroke: "#e6e6e6" }, svg);
      svgEl("text", { x: m.l - 5, y: y(t) + 4, "text-anchor": "end" }, svg)
        .textContent = fmt(o.ylog ? Math.pow(10, t) : t);
    });
    niceTicks(o.xlim[0], o.xlim[1], 6).forEach(function (t) {
      svgEl("line", { x1: x(t), x2: x(t), y1: m.t + ph, y2: m.t + ph + 4, stroke: "#888" }, svg);
      svgEl("text", { x: x(t), y: m.t + ph + 16, "text-anchor": "middle" }, svg)
        .textContent = fmt(t);
    });
    svgEl("text", { x: m.l + pw / 2, y: o.height - 6, "text-anchor": "middle" }, svg)
      .textContent = o.xlabel;
    svgEl("text", {
      transform: "translate(13," + (m.t + ph / 2) + ") rotate(-90)", "text-anchor": "middle"
    }, svg).textContent = o.ylabel;
    var id = "gl-clip-" + (++clipCount);
    var clip = svgEl("clipPath", { id: id }, svgEl("defs", {}, svg));
    svgEl("rect", { x: m.l, y: m.t, width: pw, height: ph }, clip);
    var plot = svgEl("g", { "clip-path": "url(#" + id + ")" }, svg);
    svgEl("rect", { x: m.l, y: m.t, width: pw, height: ph, fill: "none", stroke: "#888" }, svg);
    return { svg: svg, plot: plot, x: x, y: y, left: m.l, top: m.t, width: pw, height: ph };
  }

  function clamp(v) { return Math.max(-1e5, Math.min(1e5, v)); }

  /* SVG path data through the finite points (xs[i], ys[i]), in data units. */
  function pathData(c, xs, ys) {
    var d = [];
    var pen = false;
    for (var i = 0; i < xs.length && i < ys.length; i++) {
      var px = c.x(xs[i]);
      var py = c.y(ys[i]);
      if (!isFinite(px) || !isFinite(py)) { pen = false; continue; }
      d.push((pen ? "L" : "M") + clamp(px).toFixed(1) + " " + clamp(py).toFixed(1));
      pen = true;
    }
    return d.join("");
  }

  function place(node, c, xv, yv, dx, dy) {
    var px = c.x(xv);
    var py = c.y(yv);
    var ok = isFinite(px) && isFinite(py);
    node.setAttribute("visibility", ok ? "visible" : "hidden");
    if (!ok) { return; }
    if (node.tagName === "circle") {
      node.setAttribute("cx", clamp(px));
      node.setAttribute("cy", clamp(py));
    } else {
      node.setAttribute("x", clamp(px) - dx);
      node.setAttribute("y", clamp(py) - dy);
    }
  }

  function star(c, xv, yv, r) {
    var pts = [];
    for (var k = 0; k < 10; k++) {
      var rad = k % 2 ? r * 0.45 : r;
      var ang = -Math.PI / 2 + k * Math.PI / 5;
      pts.push((c.x(xv) + rad * Math.cos(ang)).toFixed(1) + "," +
               (c.y(yv) + rad * Math.sin(ang)).toFixed(1));
    }
    return svgEl("polygon", {
      points: pts.join(" "), fill: "none", stroke: "#d00", "stroke-width": 2
    }, c.plot);
  }

  /* The slider over rates[]; onChange(index, verdictNode) redraws. */
  function rateSlider(root, rates, initial, onChange) {
    var controls = htmlEl("div", { "class": "controls" }, root);
    var label = htmlEl("label", {}, controls, "learning rate ");
    var input = htmlEl("input", {
      type: "range", min: 0, max: rates.length - 1, step: 1, value: initial,
      "aria-label": "learning rate"
    }, label);
    var out = htmlEl("output", {}, controls);
    htmlEl("span", { "class": "hint" }, controls,
      "(" + rates.length + " precomputed runs, from " + fmt(rates[0].lr) + " to " +
      fmt(rates[rates.length - 1].lr) + ")");
    var verdict = htmlEl("p", { "class": "verdict", "aria-live": "polite" }, root);
    function update() {
      var i = Number(input.value);
      out.textContent = "lr = " + fmt(rates[i].lr);
      verdict.textContent = rates[i].text;
      verdict.setAttribute("data-verdict", rates[i].verdict);
      onChange(i);
    }
    input.addEventListener("input", update);
    input.addEventListener("change", update);
    return update;
  }

  function descentRate(root, d) {
    var update = rateSlider(root, d.rates, d.initial, redraw);
    var charts = htmlEl("div", { "class": "charts" }, root);
    var left = chart(charts, {
      width: 470, height: 310, xlim: d.view.x, ylim: d.view.y, xlabel: "x", ylabel: "f(x)",
      title: "f(x) = " + d["function"] + " and the path from x0 = " + fmt(d.x0)
    });
    svgEl("path", {
      d: pathData(left, d.curve.x, d.curve.y), fill: "none", stroke: "#555", "stroke-width": 1.5
    }, left.plot);
    var path = svgEl("path", {
      "class": "path", fill: "none", stroke: "#cc3311", "stroke-width": 1.3, "stroke-opacity": 0.8
    }, left.plot);
    var dots = svgEl("g", { fill: "#cc3311" }, left.plot);
    var start = svgEl("circle", { r: 7, fill: "none", stroke: "black", "stroke-width": 1.5 }, left.plot);
    var end = svgEl("rect", { width: 9, height: 9, fill: "orange", stroke: "black" }, left.plot);
    var right = null;
    var loss = null;

    // The loss chart is drawn again for each rate, scaled to that run's values (within
    // the function's view): on the function's whole range a run that moves little is a
    // flat line at the bottom.
    function lossChart(r) {
      // null stands for a value that was not finite (isFinite(null) would be true)
      var seen = r.f.filter(function (v) { return Number.isFinite(v); }).map(function (v) {
        return Math.max(d.view.y[0], Math.min(d.view.y[1], v));
      });
      var lo = seen.length ? Math.min.apply(null, seen) : d.view.y[0];
      var hi = seen.length ? Math.max.apply(null, seen) : d.view.y[1];
      var pad = hi > lo ? 0.08 * (hi - lo) : Math.max(Math.abs(lo) * 0.1, 1);
      if (right) { right.svg.remove(); }
      right = chart(charts, {
        width: 470, height: 310, xlim: [0, d.steps], ylim: [lo - pad, hi + pad],
        xlabel: "step", ylabel: "f(x) after the step", title: "The loss f(x) at each step"
      });
      loss = svgEl("path", {
        "class": "loss", fill: "none", stroke: "#cc3311", "stroke-width": 1.6
      }, right.plot);
    }

    function redraw(i) {
      var r = d.rates[i];
      var steps = r.f.map(function (_, k) { return k; });
      lossChart(r);
      path.setAttribute("d", pathData(left, r.x, r.f));
      while (dots.firstChild) { dots.removeChild(dots.firstChild); }
      for (var k = 0; k < r.x.length; k++) {
        var dot = svgEl("circle", { r: 2.2 }, dots);
        place(dot, left, r.x[k], r.f[k]);
      }
      place(start, left, r.x[0], r.f[0]);
      place(end, left, r.x[r.x.length - 1], r.f[r.f.length - 1], 4.5, 4.5);
      loss.setAttribute("d", pathData(right, steps, r.f));
    }
    update();
  }

  function linregRate(root, d) {
    var update = rateSlider(root, d.rates, d.initial, redraw);
    var charts = htmlEl("div", { "class": "charts" }, root);
    var left = chart(charts, {
      width: 470, height: 340, xlim: d.extent.w, ylim: d.extent.b, xlabel: "w (slope)",
      ylabel: "b (intercept)", title: "The path over the loss surface (dark: low loss)"
    });
    svgEl("image", {
      href: d.background, x: left.left, y: left.top, width: left.width, height: left.height,
      preserveAspectRatio: "none"
    }, left.plot);
    star(left, d.optimum.w, d.optimum.b, 12);
    var outline = svgEl("path", {
      fill: "none", stroke: "black", "stroke-width": 3.2, "stroke-linejoin": "round"
    }, left.plot);
    var path = svgEl("path", {
      "class": "path", fill: "none", stroke: "white", "stroke-width": 1.4,
      "stroke-linejoin": "round"
    }, left.plot);
    var start = svgEl("circle", { r: 6, fill: "white", stroke: "black" }, left.plot);
    var end = svgEl("rect", { width: 9, height: 9, fill: "orange", stroke: "black" }, left.plot);
    var right = chart(charts, {
      width: 470, height: 340, xlim: [0, d.epochs[d.epochs.length - 1]], ylim: d.loss_range,
      ylog: true, xlabel: "epoch", ylabel: "mean squared error (log scale)",
      title: "The loss per epoch"
    });
    var floorY = Math.log10(d.optimum.loss);
    svgEl("line", {
      x1: right.left, x2: right.left + right.width, y1: right.y(floorY), y2: right.y(floorY),
      stroke: "#333", "stroke-dasharray": "5,4"
    }, right.plot);
    svgEl("text", { x: right.left + right.width - 4, y: right.y(floorY) - 5, "text-anchor": "end" },
      right.plot).textContent = "least squares " + fmt(d.optimum.loss);
    var loss = svgEl("path", {
      "class": "loss", fill: "none", stroke: "#cc3311", "stroke-width": 1.6
    }, right.plot);

    function redraw(i) {
      var r = d.rates[i];
      var line = pathData(left, r.w, r.b);
      outline.setAttribute("d", line);
      path.setAttribute("d", line);
      place(start, left, r.w[0], r.b[0]);
      place(end, left, r.w[r.w.length - 1], r.b[r.b.length - 1], 4.5, 4.5);
      var logs = r.loss.map(function (v) { return v > 0 ? Math.log10(v) : NaN; });
      loss.setAttribute("d", pathData(right, d.epochs.slice(0, r.loss.length), logs));
    }
    update();
  }

  /* Hover read-out on a PNG figure: a dashed rule at the nearest x on every axes, and a
   * box with every series' value there. d.axes[k].box is [left, top, right, bottom] in
   * fractions of the image; d.axes[k].xlim the data range across that box. */
  function readout(wrap, d) {
    var img = wrap.querySelector("img");
    var rules = d.axes.map(function (a) {
      var rule = htmlEl("div", { "class": "readout-rule", hidden: "" }, wrap);
      rule.style.top = (a.box[1] * 100) + "%";
      rule.style.height = ((a.box[3] - a.box[1]) * 100) + "%";
      return rule;
    });
    var tip = htmlEl("div", { "class": "readout-tip", hidden: "" }, wrap);
    function hide() {
      tip.hidden = true;
      rules.forEach(function (r) { r.hidden = true; });
    }
    function across(a, xv) {
      return a.box[0] + (xv - a.xlim[0]) / (a.xlim[1] - a.xlim[0]) * (a.box[2] - a.box[0]);
    }
    wrap.addEventListener("mousemove", function (ev) {
      var rect = img.getBoundingClientRect();
      var fx = (ev.clientX - rect.left) / rect.width;
      var fy = (ev.clientY - rect.top) / rect.height;
      var hit = d.axes.filter(function (a) {
        return fx >= a.box[0] && fx <= a.box[2] && fy >= a.box[1] && fy <= a.box[3];
      })[0];
      if (!hit) { hide(); return; }
      var xv = hit.xlim[0] + (fx - hit.box[0]) / (hit.box[2] - hit.box[0]) *
        (hit.xlim[1] - hit.xlim[0]);
      var best = 0;
      d.x.forEach(function (v, k) { if (Math.abs(v - xv) < Math.abs(d.x[best] - xv)) { best = k; } });
      d.axes.forEach(function (a, k) {
        rules[k].style.left = (across(a, d.x[best]) * 100) + "%";
        rules[k].hidden = false;
      });
      tip.textContent = [d.xlabel + " " + fmt(d.x[best])].concat(d.series.map(function (s) {
        var v = s.values[best];
        return s.label + "  " + (v === null ? "-" : v.toFixed(4));
      })).join("\n");
      tip.hidden = false;
      tip.style.top = (fy * 100) + "%";
      if (fx > 0.6) {
        tip.style.left = "";
        tip.style.right = ((1 - fx) * 100) + "%";
      } else {
        tip.style.right = "";
        tip.style.left = "calc(" + (fx * 100) + "% + 14px)";
      }
    });
    wrap.addEventListener("mouseleave", hide);
  }

  // A click on a figure shows it at its own size over the page (wide figures are shrunk to
  // the column); a click anywhere or Escape closes it.
  function zoom(img) {
    var cover = htmlEl("div", { "class": "zoom", role: "dialog", "aria-label": img.alt },
      document.body);
    var big = htmlEl("img", { src: img.src, alt: img.alt }, cover);
    big.style.width = img.naturalWidth + "px";
    var caption = img.closest("figure").querySelector("figcaption");
    if (caption) { htmlEl("p", {}, cover, caption.textContent); }
    function close() {
      cover.remove();
      document.removeEventListener("keydown", onKey);
    }
    function onKey(event) { if (event.key === "Escape") { close(); } }
    cover.addEventListener("click", close);
    document.addEventListener("keydown", onKey);
  }
  document.body.classList.add("zoomable");
  Array.prototype.forEach.call(document.querySelectorAll("figure img"), function (img) {
    img.addEventListener("click", function () { zoom(img); });
  });

  var WIDGETS = { "descent-rate": descentRate, "linreg-rate": linregRate };

  Array.prototype.forEach.call(document.querySelectorAll("[data-widget]"), function (node) {
    var draw = WIDGETS[node.getAttribute("data-widget")];
    var source = node.querySelector("script.widget-data");
    if (!draw || !source) { return; }
    try {
      node.hidden = false;
      draw(node, JSON.parse(source.textContent));
    } catch (err) {
      node.hidden = true;
      console.error("gradlab report: a widget could not be drawn:", err);
    }
  });
  Array.prototype.forEach.call(document.querySelectorAll(".readout-wrap[data-readout]"),
    function (node) {
      try {
        readout(node, JSON.parse(node.getAttribute("data-readout")));
      } catch (err) {
        console.error("gradlab report: a read-out could not be set up:", err);
      }
    });
}());
