// relay-actors offline inspector page. Plain browser JavaScript, no dependencies, nothing fetched: the server
// inlines this file. It draws every machine from its state-node graph, lights the active states of every actor,
// keeps per-relay sparklines and a transition log, and reconnects (getting a fresh snapshot) when the feed drops.
(() => {
  'use strict';
  const SVG = 'http://www.w3.org/2000/svg';
  const CHAR_W = 6.8;
  const ATOM_H = 24;
  const PAD = 10;
  const HEAD = 18;
  const GAP_X = 64;
  const GAP_Y = 62;
  const MAX_LOG_ROWS = 400;

  const token = new URLSearchParams(location.search).get('token') || '';
  const actorsEl = document.getElementById('actors');
  const logBody = document.querySelector('#log tbody');
  const connEl = document.getElementById('conn');
  const summaryEl = document.getElementById('summary');
  const filterEl = document.getElementById('filter');

  /** @type {Map<string, {graph: any, layout: any, template: SVGSVGElement}>} */
  const machines = new Map();
  /** @type {Map<string, any>} id → card state */
  const cards = new Map();
  /** @type {Map<string, any>} actor id → health view (with series) */
  const health = new Map();
  let primary = null;
  let poolId = null;
  let title = '';

  // ---------- layout ----------

  const LABEL_CHAR_W = 5.8;
  /** Widest arrow label (one line) between two sibling states, px; set per machine before layout. */
  let pairLabelW = new Map();

  function gapBetween(a, b) {
    const w = Math.max(pairLabelW.get(`${a}\u0000${b}`) || 0, pairLabelW.get(`${b}\u0000${a}`) || 0);
    return Math.max(GAP_X, w + 16);
  }

  function layoutNode(node, depth) {
    const label = node.key;
    const labelW = label.length * CHAR_W + 20;
    if (node.states.length === 0) {
      return { node, w: Math.max(64, labelW), h: ATOM_H, children: [] };
    }
    const children = node.states.map((s) => layoutNode(s, depth + 1));
    const maxInner = depth === 0 ? 640 : 420;
    let x = PAD + 8;
    let y = HEAD + PAD;
    let rowH = 0;
    let maxX = 0;
    let prev = null;
    for (const c of children) {
      if (prev) x += gapBetween(prev.node.id, c.node.id) - GAP_X;
      if (x + c.w > maxInner && x > PAD + 8) {
        x = PAD + 8;
        y += rowH + GAP_Y;
        rowH = 0;
      }
      c.x = x;
      c.y = y;
      x += c.w + GAP_X;
      prev = c;
      rowH = Math.max(rowH, c.h);
      maxX = Math.max(maxX, c.x + c.w);
    }
    return { node, w: Math.max(maxX + PAD, labelW + 20), h: y + rowH + PAD, children };
  }

  function place(l, ox, oy, out) {
    l.ax = ox + (l.x || 0);
    l.ay = oy + (l.y || 0);
    out.set(l.node.id, l);
    for (const c of l.children) place(c, l.ax, l.ay, out);
    return out;
  }

  function el(name, attrs, parent) {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    if (parent) parent.appendChild(e);
    return e;
  }

  function border(r, tx, ty) {
    // Point where the ray from r's centre towards (tx, ty) leaves r.
    const cx = r.ax + r.w / 2;
    const cy = r.ay + r.h / 2;
    const dx = tx - cx;
    const dy = ty - cy;
    if (dx === 0 && dy === 0) return [cx, cy];
    const sx = dx === 0 ? Infinity : r.w / 2 / Math.abs(dx);
    const sy = dy === 0 ? Infinity : r.h / 2 / Math.abs(dy);
    const s = Math.min(sx, sy);
    return [cx + dx * s, cy + dy * s];
  }

  function overlapX(a, b) {
    return Math.min(a.ax + a.w, b.ax + b.w) - Math.max(a.ax, b.ax) > 16;
  }

  function overlapY(a, b) {
    return Math.min(a.ay + a.h, b.ay + b.h) - Math.max(a.ay, b.ay) > 12;
  }

  function isAncestor(a, b) {
    return b.startsWith(a + '.');
  }

  /** Builds the SVG of one machine once; every actor of that machine gets a clone. */
  function edgeLine(base, guards) {
    return guards.length ? `${base} [${guards.join('|')}]` : base;
  }

  function buildTemplate(graph) {
    // One arrow per (source, target): its events as lines of the label, guards of an event joined.
    const groups = new Map();
    const collect = (n) => {
      for (const tr of n.transitions) {
        for (const target of tr.targets) {
          const key = `${n.id}\u0000${target}`;
          const g = groups.get(key) || { source: n.id, target, kinds: new Set(), events: new Map() };
          g.kinds.add(tr.kind);
          const base = tr.label.replace(/ \[.*\]$/, '');
          const guards = g.events.get(base) || [];
          if (tr.guard) guards.push(tr.guard);
          g.events.set(base, guards);
          groups.set(key, g);
        }
      }
      n.states.forEach(collect);
    };
    collect(graph.root);
    pairLabelW = new Map();
    for (const [key, g] of groups) {
      const widest = Math.max(...[...g.events].map(([b, gs]) => Math.min(40, edgeLine(b, gs).length)));
      pairLabelW.set(key, widest * LABEL_CHAR_W);
    }
    const root = layoutNode(graph.root, 0);
    const rects = place(root, 0, 0, new Map());
    const margin = 14;
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('class', 'chart');
    svg.setAttribute('viewBox', `${-margin} ${-margin} ${root.w + 2 * margin} ${root.h + 2 * margin}`);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `statechart of ${graph.id}`);
    const defs = el('defs', {}, svg);
    const marker = el(
      'marker',
      {
        id: 'arrow',
        viewBox: '0 0 10 10',
        refX: 9,
        refY: 5,
        markerWidth: 7,
        markerHeight: 7,
        orient: 'auto-start-reverse',
      },
      defs,
    );
    el('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8893a4' }, marker);
    const boxes = el('g', { class: 'boxes' }, svg);
    const edges = el('g', { class: 'edges' }, svg);

    const drawBox = (l) => {
      const n = l.node;
      const g = el(
        'g',
        { class: `box ${n.states.length ? 'compound' : 'atomic'} ${n.type}`, 'data-state': n.id },
        boxes,
      );
      el('rect', { x: l.ax, y: l.ay, width: l.w, height: l.h, rx: n.states.length ? 8 : 12 }, g);
      const t = el(
        'text',
        n.states.length
          ? { x: l.ax + 8, y: l.ay + 13 }
          : { x: l.ax + l.w / 2, y: l.ay + l.h / 2 + 4, 'text-anchor': 'middle' },
        g,
      );
      t.textContent = n.key;
      const internal = n.transitions.filter((tr) => tr.targets.length === 0).map((tr) => tr.label);
      const tip = el('title', {}, g);
      tip.textContent = `${n.id}${n.invoke.length ? `\ninvokes: ${n.invoke.join(', ')}` : ''}${internal.length ? `\ninternal: ${[...new Set(internal)].join(', ')}` : ''}`;
      if (n.initial) {
        const c = rects.get(n.initial);
        if (c) {
          el('circle', { class: 'initial', cx: c.ax - 12, cy: c.ay + c.h / 2, r: 3.5 }, g);
          el(
            'path',
            {
              d: `M${c.ax - 8},${c.ay + c.h / 2} L${c.ax - 1},${c.ay + c.h / 2}`,
              stroke: '#4d5666',
              'marker-end': 'url(#arrow)',
            },
            g,
          );
        }
      }
      l.children.forEach(drawBox);
    };
    drawBox(root);

    const pairCount = new Map();
    const pairTotal = new Map();
    for (const g of groups.values()) {
      const k = [g.source, g.target].sort().join('\u0000');
      pairTotal.set(k, (pairTotal.get(k) || 0) + 1);
    }
    for (const g of groups.values()) {
      const s = rects.get(g.source);
      const t = rects.get(g.target);
      if (!s || !t) continue;
      // Long guarded lines break before their guard.
      const lines = [...g.events].flatMap(([base, guards]) => {
        const line = edgeLine(base, guards);
        return line.length > 24 && guards.length ? [base, `[${guards.join('|')}]`] : [line];
      });
      const label = lines.join(' / ');
      const pairKey = [g.source, g.target].sort().join('\u0000');
      const index = pairCount.get(pairKey) || 0;
      pairCount.set(pairKey, index + 1);
      const kind = g.kinds.size === 1 ? [...g.kinds][0] : 'mixed';
      const edge = el('g', { class: `edge ${kind}`, 'data-edge': `${g.source}->${g.target}` }, edges);
      let d;
      let lx;
      let ly;
      let edgeAnchor = 'middle';
      if (g.source === g.target) {
        const x = t.ax + t.w - 10;
        const y = t.ay;
        d = `M${x - 14},${y} C${x - 14},${y - 22} ${x + 14},${y - 22} ${x + 4},${y}`;
        lx = x;
        ly = y - 20;
      } else if (isAncestor(g.source, g.target)) {
        // From the enclosing state: a short arrow entering the target from above.
        const x = t.ax + t.w / 2;
        d = `M${x},${t.ay - 24} L${x},${t.ay}`;
        lx = x;
        ly = t.ay - 28 - (lines.length - 1) * 11;
      } else if (!isAncestor(g.target, g.source) && (overlapX(s, t) || overlapY(s, t))) {
        // Boxes that share a column (or a row): a straight arrow, the two directions side by side.
        const off = index === 0 ? 6 : -6;
        if (overlapX(s, t)) {
          const x = (Math.max(s.ax, t.ax) + Math.min(s.ax + s.w, t.ax + t.w)) / 2 + off;
          const down = t.ay > s.ay;
          const y1 = down ? s.ay + s.h : s.ay;
          const y2 = down ? t.ay : t.ay + t.h;
          d = `M${x},${y1} L${x},${y2}`;
          // The pair's first arrow is labelled on the right, the second on the left.
          lx = x + (index === 0 ? 6 : -6);
          ly = (y1 + y2) / 2 - ((lines.length - 1) * 11) / 2;
          edgeAnchor = index === 0 ? 'start' : 'end';
        } else {
          const y = (Math.max(s.ay, t.ay) + Math.min(s.ay + s.h, t.ay + t.h)) / 2 + off;
          const right = t.ax > s.ax;
          const x1 = right ? s.ax + s.w : s.ax;
          const x2 = right ? t.ax : t.ax + t.w;
          d = `M${x1},${y} L${x2},${y}`;
          lx = (x1 + x2) / 2;
          // Each label on the outer side of its own line: below the lower one, above the upper one.
          ly = off > 0 ? y + 13 : y - 5 - (lines.length - 1) * 11;
        }
      } else {
        const sc = [s.ax + s.w / 2, s.ay + s.h / 2];
        const tc = [t.ax + t.w / 2, t.ay + t.h / 2];
        const [x1, y1] = isAncestor(g.target, g.source) ? [s.ax + s.w / 2, s.ay] : border(s, tc[0], tc[1]);
        const [x2, y2] = isAncestor(g.target, g.source) ? [t.ax + t.w / 2, t.ay + HEAD] : border(t, sc[0], sc[1]);
        const dx = x2 - x1;
        const dy = y2 - y1;
        const len = Math.hypot(dx, dy) || 1;
        // A pair's two directions bend to opposite sides so A→B and B→A do not overlap.
        const bend = index === 0 ? 0 : 26;
        const mx = (x1 + x2) / 2 + (-dy / len) * bend;
        const my = (y1 + y2) / 2 + (dx / len) * bend;
        d = `M${x1},${y1} Q${mx},${my} ${x2},${y2}`;
        // Both directions of a pair: each label near its own source end, so they do not stack.
        const at = pairTotal.get(pairKey) > 1 ? 0.4 : 0.5;
        const qx = (1 - at) * (1 - at) * x1 + 2 * (1 - at) * at * mx + at * at * x2;
        const qy = (1 - at) * (1 - at) * y1 + 2 * (1 - at) * at * my + at * at * y2;
        lx = qx + (-dy / len) * 8;
        // Multi-line labels of upward arrows sit above their anchor, clear of the source box below.
        ly = qy + (dx / len) * 8 - (dy < 0 ? (lines.length - 1) * 11 + 4 : ((lines.length - 1) * 11) / 2);
      }
      el('path', { d, 'marker-end': 'url(#arrow)' }, edge);
      const text = el('text', { x: lx, y: ly, 'text-anchor': edgeAnchor }, edge);
      lines.forEach((line, i) => {
        const span = el('tspan', { x: lx, dy: i === 0 ? 0 : 11 }, text);
        span.textContent = line.length > 40 ? line.slice(0, 39) + '…' : line;
      });
      const tip = el('title', {}, edge);
      tip.textContent = `${g.source} → ${g.target}: ${label}`;
    }
    return { graph, layout: root, template: svg };
  }

  function activeIds(graph, value) {
    const out = new Set([graph.root.id]);
    const visit = (node, v) => {
      if (typeof v === 'string') {
        const c = node.states.find((s) => s.key === v);
        if (c) out.add(c.id);
      } else if (v && typeof v === 'object') {
        for (const k of Object.keys(v)) {
          const c = node.states.find((s) => s.key === k);
          if (!c) continue;
          out.add(c.id);
          visit(c, v[k]);
        }
      }
    };
    visit(graph.root, value);
    return out;
  }

  function leafName(value) {
    if (typeof value === 'string') return value;
    if (value && typeof value === 'object') {
      const k = Object.keys(value)[0];
      if (k === undefined) return '';
      const inner = value[k];
      // Public relay names: live.* → the child (open, degraded, connecting); running.* → online/offline/expired.
      return typeof inner === 'string' ? inner : k === 'live' ? Object.keys(inner)[0] || k : leafName(inner);
    }
    return '';
  }

  // ---------- cards ----------

  function sparkline(label, unit) {
    const wrap = document.createElement('div');
    wrap.className = 'metric';
    const head = document.createElement('div');
    const b = document.createElement('b');
    head.append(`${label} `, b);
    const svg = el('svg', { viewBox: '0 0 120 26', preserveAspectRatio: 'none' });
    const line = el('polyline', { points: '' }, svg);
    wrap.append(head, svg);
    return {
      wrap,
      set(values, current) {
        b.textContent = current === null || current === undefined ? '—' : `${current}${unit}`;
        line.dataset.count = String(values.length);
        const nums = values.filter((v) => typeof v === 'number');
        if (nums.length === 0) return line.setAttribute('points', '');
        const min = Math.min(...nums);
        const max = Math.max(...nums);
        const span = max - min || 1;
        const step = values.length > 1 ? 120 / (values.length - 1) : 0;
        const pts = [];
        values.forEach((v, i) => {
          if (typeof v === 'number') pts.push(`${(i * step).toFixed(1)},${(23 - ((v - min) / span) * 20).toFixed(1)}`);
        });
        line.setAttribute('points', pts.join(' '));
      },
    };
  }

  function createCard(actor) {
    const m = machines.get(actor.machine);
    const card = document.createElement('article');
    card.className = `card ${actor.machine === 'pool' ? 'pool' : 'relay'}`;
    card.dataset.actor = actor.id;
    card.dataset.machine = actor.machine;
    if (typeof actor.context?.url === 'string') card.dataset.url = actor.context.url;
    const h = document.createElement('h3');
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = actor.label;
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.dataset.role = 'state';
    const prim = document.createElement('span');
    prim.className = 'badge primary-badge';
    prim.textContent = 'PRIMARY';
    prim.hidden = true;
    const score = document.createElement('span');
    score.className = 'score';
    h.append(label, badge, prim, score);
    card.append(h);
    const state = { actor, card, badge, prim, score, boxes: new Map(), active: new Set(), graph: m ? m.graph : null };
    if (m) {
      const svg = /** @type {SVGSVGElement} */ (m.template.cloneNode(true));
      // Unique marker id per clone so every chart keeps its arrowheads.
      const mid = `arrow-${cards.size}`;
      svg.querySelector('marker').setAttribute('id', mid);
      svg.querySelectorAll('[marker-end]').forEach((p) => p.setAttribute('marker-end', `url(#${mid})`));
      svg.querySelectorAll('g.box').forEach((g) => state.boxes.set(g.getAttribute('data-state'), g));
      card.append(svg);
    }
    if (actor.machine === 'relay') {
      const parts = document.createElement('div');
      parts.className = 'parts';
      state.parts = {};
      for (const p of ['state', 'rtt', 'success', 'stability']) {
        const d = document.createElement('div');
        d.className = 'part';
        const bar = document.createElement('div');
        bar.className = 'bar';
        const fill = document.createElement('i');
        bar.append(fill);
        d.append(p, bar);
        parts.append(d);
        state.parts[p] = fill;
      }
      const metrics = document.createElement('div');
      metrics.className = 'metrics';
      state.spark = {
        score: sparkline('score', ''),
        rtt: sparkline('RTT', ' ms'),
        attempts: sparkline('attempts', ''),
      };
      metrics.append(state.spark.score.wrap, state.spark.rtt.wrap, state.spark.attempts.wrap);
      card.append(parts, metrics);
    }
    const ctx = document.createElement('div');
    ctx.className = 'ctx';
    state.ctx = ctx;
    card.append(ctx);
    cards.set(actor.id, state);
    // Pool first, then relays in arrival order.
    if (actor.machine === 'pool') actorsEl.prepend(card);
    else actorsEl.append(card);
    applyState(state);
    applyHealth(state);
    return state;
  }

  function applyState(c) {
    const a = c.actor;
    if (a.context && typeof a.context.url === 'string' && c.card.dataset.url !== a.context.url) {
      c.card.dataset.url = a.context.url;
      c.card.querySelector('h3 .label').textContent = a.context.url;
    }
    const name = a.status === 'done' ? (a.machine === 'pool' ? 'stopped' : 'closed') : leafName(a.value);
    c.badge.textContent = name;
    c.badge.className = `badge state-${name}`;
    c.card.dataset.state = name;
    c.card.classList.toggle('done', a.status !== 'active');
    if (c.graph) {
      const next = activeIds(c.graph, a.value);
      for (const id of c.active) if (!next.has(id)) c.boxes.get(id)?.classList.remove('active');
      for (const id of next) if (!c.active.has(id)) c.boxes.get(id)?.classList.add('active');
      c.active = next;
    }
    const ctx = a.context || {};
    const bits = [];
    if (a.machine === 'relay') {
      if (ctx.heartbeat) bits.push(`heartbeat ${ctx.heartbeat}`);
      // Worded by the server (explain()), as the log and the CLI word it: the page adds no wording of its own.
      if (a.why) bits.push(`last close: ${a.why}`);
      if (ctx.failure) bits.push(`failure: ${ctx.failure}`);
      if (typeof ctx.retryDelayMs === 'number' && name === 'reconnecting')
        bits.push(`retry in ${Math.round(ctx.retryDelayMs)} ms`);
    } else if (a.machine === 'pool') {
      bits.push(`relays ${Array.isArray(ctx.relays) ? ctx.relays.length : 0}`);
      bits.push(`primary ${ctx.primary ? String(ctx.primary).replace(/^relay:/, '') : '—'}`);
    }
    c.ctx.textContent = bits.join(' · ');
  }

  function applyHealth(c) {
    const h = health.get(c.actor.id);
    const isPrimary = primary !== null && primary === c.actor.id;
    c.prim.hidden = !isPrimary;
    c.card.classList.toggle('primary', isPrimary);
    if (!h || !c.spark) return;
    c.score.textContent = h.score === null ? '' : `score ${h.score.toFixed(2)}`;
    if (h.parts && c.parts) for (const k in c.parts) c.parts[k].style.width = `${Math.round((h.parts[k] || 0) * 100)}%`;
    c.spark.score.set(h.series.score, h.score === null ? null : h.score.toFixed(2));
    c.spark.rtt.set(h.series.rtt, h.rttMs === null ? null : Math.round(h.rttMs * 10) / 10);
    c.spark.attempts.set(h.series.attempts, h.attempts);
  }

  // ---------- log ----------

  function time(at) {
    const d = new Date(at);
    return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
  }

  function addLog(entry) {
    const tr = document.createElement('tr');
    tr.dataset.log = String(entry.seq);
    const to = String(entry.to);
    tr.className = /reconnecting/.test(to)
      ? 'to-reconnecting'
      : /failed/.test(to)
        ? 'to-failed'
        : /open|online/.test(to)
          ? 'to-open'
          : '';
    const cells = [
      time(entry.at),
      shortActor(entry.actor),
      entry.event,
      entry.from || entry.to ? `${entry.from} → ${entry.to}` : '',
      entry.reason || '',
    ];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      td.className = ['time', 'actor', 'ev', 'move', 'reason'][i];
      tr.append(td);
    });
    applyFilter(tr);
    logBody.prepend(tr);
    while (logBody.childElementCount > MAX_LOG_ROWS) logBody.lastElementChild.remove();
  }

  function shortActor(id) {
    return String(id)
      .replace(/^relay:wss?:\/\//, '')
      .replace(/\/$/, '');
  }

  function applyFilter(tr) {
    const q = filterEl.value.trim().toLowerCase();
    tr.classList.toggle('hidden', q !== '' && !tr.textContent.toLowerCase().includes(q));
  }
  filterEl.addEventListener('input', () => logBody.querySelectorAll('tr').forEach(applyFilter));

  // ---------- feed ----------

  function updateSummary() {
    let relays = 0;
    const counts = {};
    for (const c of cards.values()) {
      if (c.actor.machine !== 'relay') continue;
      relays++;
      const s = c.card.dataset.state || '?';
      counts[s] = (counts[s] || 0) + 1;
    }
    const pool = poolId ? cards.get(poolId) : null;
    summaryEl.textContent = `${pool ? `pool ${pool.card.dataset.state} · ` : ''}${relays} relays: ${Object.entries(
      counts,
    )
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')}${primary ? ` · primary ${shortActor(primary)}` : ''}`;
  }

  function reset(init) {
    machines.clear();
    cards.clear();
    health.clear();
    actorsEl.textContent = '';
    logBody.textContent = '';
    title = init.title;
    document.title = title;
    primary = init.primary;
    poolId = init.pool;
    for (const id in init.machines) machines.set(id, buildTemplate(init.machines[id]));
    for (const h of init.health) health.set(h.actor, h);
    for (const a of init.actors) createCard(a);
    for (const e of init.log) addLog(e);
    updateSummary();
  }

  function apply(item) {
    switch (item.type) {
      case 'machine':
        machines.set(item.graph.id, buildTemplate(item.graph));
        break;
      case 'actor': {
        const existing = cards.get(item.actor.id);
        if (existing) {
          existing.actor = item.actor;
          applyState(existing);
        } else createCard(item.actor);
        break;
      }
      case 'state': {
        const c = cards.get(item.actor);
        if (!c) break;
        c.actor.value = item.value;
        c.actor.status = item.status;
        c.actor.context = item.context;
        c.actor.why = item.why;
        applyState(c);
        break;
      }
      case 'log':
        addLog(item.entry);
        break;
      case 'health': {
        const h = item.health;
        const prev = health.get(h.actor) || { series: { score: [], rtt: [], attempts: [] } };
        const series = prev.series;
        // The server's rule (one point per 250 ms at most): the same series as a reload would get.
        const values = { score: h.score === null ? 0 : h.score, rtt: h.rttMs, attempts: h.attempts };
        for (const k of ['score', 'rtt', 'attempts']) {
          if (item.point === 'last' && series[k].length > 0) series[k][series[k].length - 1] = values[k];
          else series[k].push(values[k]);
          if (series[k].length > 60) series[k].shift();
        }
        health.set(h.actor, { ...h, series });
        const c = cards.get(h.actor);
        if (c) applyHealth(c);
        break;
      }
      case 'gone': {
        const c = cards.get(item.actor);
        if (c) c.card.remove();
        cards.delete(item.actor);
        health.delete(item.actor);
        break;
      }
      case 'primary': {
        const old = primary;
        primary = item.primary;
        for (const id of [old, primary]) if (id && cards.get(id)) applyHealth(cards.get(id));
        break;
      }
    }
  }

  let attempt = 0;
  function connect() {
    const ws = new WebSocket(
      `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/feed?token=${encodeURIComponent(token)}`,
    );
    ws.onopen = () => {
      attempt = 0;
      document.body.dataset.connected = 'true';
      connEl.textContent = 'live';
    };
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.type === 'init') reset(msg);
      else if (msg.type === 'batch') msg.items.forEach(apply);
      updateSummary();
    };
    ws.onclose = () => {
      document.body.dataset.connected = 'false';
      const delay = Math.min(5000, 250 * 2 ** attempt++);
      connEl.textContent = `disconnected; retrying in ${Math.round(delay / 100) / 10} s`;
      setTimeout(connect, delay);
    };
  }
  connect();
})();
