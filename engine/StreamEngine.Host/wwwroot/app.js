// The ad-ops dashboard. History comes from the engine's read API (/api/v1, stored results); live values from its
// SignalR hub (/hubs/metrics). Campaign and slot values arrive as per-source-partition partials, added up here per
// window (the newest of each partition), as the results views add the stored partials up. "Now" is the newest stored
// minute, so a replay of older traffic reads as it was.
(() => {
  const $ = id => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  // An engine that listens beyond its machine asks for its API key: open the page with ?api_key=KEY.
  const apiKey = params.get('api_key');
  const REFRESH_MS = 5000;

  // ---- words and units ---------------------------------------------------------------------------------------------
  const DEFINITIONS = {
    impressions: 'Ads shown (impression events), each event id counted once',
    clicks: 'Clicks on shown ads, each event id counted once',
    conversions: 'Conversions attributed to the campaign',
    ctr: 'Click-through rate: clicks / impressions',
    spend: 'Money spent on impressions in the range (price / 1000 per impression)',
    spend_today: 'Money spent on impressions since 00:00 UTC',
    ecpm: 'Effective cost per thousand impressions: spend × 1000 / impressions',
    unique_users: 'Distinct users seen in the campaign\'s events (bids included) in the newest minute: an estimate per source partition, added up; minutes do not add up to a day',
    budget: 'The campaign\'s daily budget (ads.campaign_budgets)',
    ideal: 'What the campaign should have spent by now if it followed the day\'s traffic curve',
    pace_ratio: 'Spend today / traffic-shaped ideal: 1.00 is on pace, above 1.2 over-delivers, below 0.8 under-delivers',
    status: 'on pace, over, under, exhausted (spend reached the budget) or warming up (too early in the day to judge)',
    throttle: 'Share of bids to skip to bring an over-delivering campaign back to pace',
    sparkline: 'Impressions per minute over the last hour',
    bids: 'Bid events for the slot in its newest minute',
    wins: 'Auctions won (win events) in the slot\'s newest minute',
    win_rate: 'Wins / bids',
    clearing: 'Clearing (winning) prices, USD CPM: the price half, 90% and 99% of wins stayed under',
    bid_prices: 'Bid prices, USD CPM: the price half, 90% and 99% of bids stayed under',
    recommended_floor: 'The floor price to set: the optimal reserve, smoothed over minutes and limited per step',
    optimal_floor: 'The reserve that would have maximized revenue under the minute\'s bids',
    samples: 'Bids the recommendation was computed from',
    confidence: 'How much the recommendation can be trusted, from the number of samples (0-100%)',
    floor_status: 'Why the recommendation is what it is',
    floor_avg: 'Average floor: the mean floor price the minute\'s bids carried',
    campaign: 'The campaign id the events name',
    creative: 'The ad (creative id) the events name',
    country: 'The country the events name (ISO 3166-1 alpha-2)',
    device: 'The device class the events name',
    distribution: 'How many bids (or wins) had each price, from the stored price buckets of every partition',
    minutes_chart: 'Impressions (count) and spend (USD) per minute; the open minute, dashed, is still counting until every partition has written it final',
    burn_down: 'Spend since 00:00 UTC against the linear ideal (budget × share of the day gone), the traffic-shaped ideal (budget × share of the day\'s traffic so far) and the daily budget',
    alert: 'A closed minute whose pacing status turned over, under or exhausted, with the numbers of that minute',
  };
  const money = micros => {
    if (micros === null || micros === undefined || Number.isNaN(micros)) return '–';
    const usd = micros / 1e6;
    // Cents, and a tenth of a cent below a dollar (CPM prices), always with as many digits in one range.
    const digits = usd !== 0 && Math.abs(usd) < 1 ? 3 : 2;
    return usd.toLocaleString(undefined, { style: 'currency', currency: 'USD', minimumFractionDigits: digits, maximumFractionDigits: digits });
  };
  const count = v => (v === null || v === undefined) ? '–' : Math.round(v).toLocaleString();
  const percent = v => (v === null || v === undefined || Number.isNaN(v)) ? '–' : (v * 100).toFixed(2) + '%';
  const ratio = v => (v === null || v === undefined) ? '–' : Number(v).toFixed(2);
  const statusWords = s => ({ on_pace: 'on pace', warming_up: 'warming up' }[s] || s || 'no budget');
  const minuteLocal = t => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const utc = t => new Date(t).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  const escape = s => String(s).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

  for (const el of document.querySelectorAll('[data-def]')) el.title = DEFINITIONS[el.dataset.def] || '';

  // A tile: the shown text, the raw value for whoever reads the page (tests, scrapers), and the definition.
  function tile(id, text, raw) {
    const el = $(id);
    el.textContent = text;
    el.dataset.value = raw === null || raw === undefined ? '' : String(raw);
  }

  function time(el, t) {
    el.textContent = minuteLocal(t);
    el.title = utc(t);
  }

  // ---- the read API ------------------------------------------------------------------------------------------------
  async function api(path) {
    const response = await fetch(path, { headers: apiKey ? { 'X-Api-Key': apiKey } : {}, cache: 'no-store' });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  }

  function problem(message) {
    const box = $('problem');
    box.hidden = !message;
    box.textContent = message ? `Results may be out of date: ${message}. Retrying every ${REFRESH_MS / 1000} s.` : '';
  }

  function clock(newest) {
    const el = $('data-clock');
    if (!newest) { el.textContent = 'no data yet'; el.title = ''; return; }
    el.textContent = `data up to ${minuteLocal(newest)}`;
    el.title = `newest stored minute: ${utc(newest)}`;
  }

  // ---- state and routing -------------------------------------------------------------------------------------------
  const state = { view: 'overview', campaign: null, slot: null, campaignRange: '1h', slotRange: '1h', dist: 'minute', sort: { key: 'impressions', dir: -1 }, statusFilter: null };
  let overview = null, campaignData = null, slotData = null, alertsData = null;
  const charts = {};

  function route() {
    const [, view = '', ...rest] = location.hash.split('/');
    let id = null;
    try { id = rest.length ? decodeURIComponent(rest.join('/')) : null; } catch { id = null; } // a malformed address opens the view without a selection
    state.view = ['campaign', 'slot', 'alerts'].includes(view) ? view : 'overview';
    for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== 'view-' + state.view;
    for (const link of document.querySelectorAll('nav a')) {
      if (link.dataset.view === state.view) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
    }
    if (state.view === 'campaign' && id && id !== state.campaign) selectCampaign(id);
    if (state.view === 'slot' && id && id !== state.slot) selectSlot(id);
    refresh();
  }

  window.addEventListener('hashchange', route);

  // ---- overview ----------------------------------------------------------------------------------------------------
  const sortKeys = {
    campaign: c => c.campaign, impressions: c => c.impressions, clicks: c => c.clicks, ctr: c => c.impressions ? c.clicks / c.impressions : 0,
    spend: c => c.spend_micros, budget: c => c.pacing?.daily_budget_micros ?? -1, pace: c => c.pacing?.pace_ratio ?? -1,
    status: c => c.pacing?.status ?? '', throttle: c => c.pacing?.throttle_probability ?? -1,
  };

  function sparkline(points, newest) {
    const values = new Array(60).fill(0);
    for (const [t, v] of points) { const i = 59 - Math.round((newest - t) / 60000); if (i >= 0 && i < 60) values[i] = v; }
    const max = Math.max(1, ...values);
    const path = values.map((v, i) => `${(i * 80 / 59).toFixed(1)},${(19 - v * 18 / max).toFixed(1)}`).join(' ');
    return `<svg width="80" height="20" viewBox="0 0 80 20" aria-hidden="true" data-values="${values.join(' ')}"><polyline fill="none" stroke="currentColor" stroke-width="1.2" points="${path}"/></svg>`;
  }

  // Replaces an element's content only when it changed, and keeps the keyboard focus on the same link or button
  // when it did: a refresh redrawing the rows took the focus (and a screen reader's place) off it every few seconds.
  const lastHtml = new WeakMap();
  const focusKey = e => e.getAttribute('href') ?? e.dataset.status;
  function setHtml(el, html) {
    if (lastHtml.get(el) === html) return;
    lastHtml.set(el, html);
    const focused = el.contains(document.activeElement) ? focusKey(document.activeElement) : undefined;
    el.innerHTML = html;
    if (focused !== undefined && focused !== null) {
      [...el.querySelectorAll('a[href], button[data-status]')].find(e => focusKey(e) === focused)?.focus({ preventScroll: true });
    }
  }

  function renderOverview() {
    if (!overview) return;
    $('overview-day').textContent = overview.day ? `on ${overview.day} (UTC)` : '';
    $('overview-table').dataset.newest = overview.newest_minute ?? '';
    const campaigns = overview.campaigns;
    // Status counts at the top, each a filter.
    const counts = new Map();
    for (const c of campaigns) { const s = c.pacing?.status ?? 'no_budget'; counts.set(s, (counts.get(s) || 0) + 1); }
    const order = ['exhausted', 'over', 'under', 'on_pace', 'warming_up', 'no_budget'];
    setHtml($('status-counts'), `<button type="button" class="chip" data-status="" aria-pressed="${state.statusFilter === null}">all <b>${campaigns.length}</b></button>` +
      order.filter(s => counts.has(s)).map(s => `<button type="button" class="chip ${s}" data-status="${s}" aria-pressed="${state.statusFilter === s}">${statusWords(s === 'no_budget' ? null : s)} <b>${counts.get(s)}</b></button>`).join(''));
    const filter = $('overview-filter').value.trim().toLowerCase();
    const key = sortKeys[state.sort.key];
    const rows = campaigns
      .filter(c => !filter || c.campaign.toLowerCase().includes(filter))
      .filter(c => state.statusFilter === null || (c.pacing?.status ?? 'no_budget') === state.statusFilter)
      .sort((a, b) => { const x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : a.campaign < b.campaign ? -1 : 1) * state.sort.dir; });
    setHtml($('overview-table').querySelector('tbody'), rows.map(c => {
      const p = c.pacing;
      const href = '#/campaign/' + encodeURIComponent(c.campaign);
      return `<tr data-campaign="${escape(c.campaign)}">` +
        `<th scope="row"><a href="${href}">${escape(c.campaign)}</a></th>` +
        `<td data-value="${c.impressions}">${count(c.impressions)}</td>` +
        `<td data-value="${c.clicks}">${count(c.clicks)}</td>` +
        `<td data-value="${c.impressions ? c.clicks / c.impressions : ''}">${percent(c.impressions ? c.clicks / c.impressions : null)}</td>` +
        `<td data-value="${c.spend_micros}">${money(c.spend_micros)}</td>` +
        `<td data-value="${p ? p.daily_budget_micros : ''}">${p ? money(p.daily_budget_micros) : '–'}</td>` +
        `<td data-value="${p ? p.pace_ratio : ''}">${p ? ratio(p.pace_ratio) : '–'}</td>` +
        `<td data-value="${p ? p.status : ''}"><span class="pill ${p ? escape(p.status) : 'no_budget'}">${statusWords(p?.status)}</span></td>` +
        `<td data-value="${p ? p.throttle_probability : ''}">${p ? percent(p.throttle_probability) : '–'}</td>` +
        `<td>${sparkline(c.sparkline, overview.newest_minute)}</td></tr>`;
    }).join('') || `<tr><td colspan="10" class="muted">${campaigns.length ? 'no campaign matches' : 'no results stored yet today'}</td></tr>`);
    for (const th of document.querySelectorAll('#overview-table th[data-sort]')) {
      th.setAttribute('aria-sort', th.dataset.sort === state.sort.key ? (state.sort.dir < 0 ? 'descending' : 'ascending') : 'none');
    }
  }

  $('overview-table').querySelector('thead').addEventListener('click', e => {
    const th = e.target.closest('th[data-sort]');
    if (!th) return;
    state.sort = { key: th.dataset.sort, dir: state.sort.key === th.dataset.sort ? -state.sort.dir : (th.dataset.sort === 'campaign' ? 1 : -1) };
    renderOverview();
  });
  $('status-counts').addEventListener('click', e => {
    const chip = e.target.closest('button[data-status]');
    if (!chip) return;
    state.statusFilter = chip.dataset.status || null;
    renderOverview();
  });
  $('overview-filter').addEventListener('input', renderOverview);

  // ---- campaign view -----------------------------------------------------------------------------------------------
  const liveMinutes = new Map();   // window_start ms -> partition -> the selected campaign's newest partial
  let livePace = null;

  function fillPicker(select, ids, current) {
    const all = [...new Set(current ? [current, ...ids] : ids)];
    if ([...select.options].map(o => o.value).join('\n') === all.join('\n')) return;
    select.innerHTML = '';
    for (const id of all) select.add(new Option(id, id, false, id === current));
  }

  async function selectCampaign(id) {
    if (state.campaign === id) return;
    const previous = state.campaign;
    state.campaign = id; campaignData = null; liveMinutes.clear(); livePace = null;
    $('campaign-title').textContent = id;
    for (const el of ['impressions', 'clicks', 'ctr', 'spend', 'ecpm', 'conversions', 'users', 'spend-today', 'budget', 'ideal-today', 'pace-ratio', 'pace-status', 'throttle']) tile(el, '–', null);
    if (location.hash !== '#/campaign/' + encodeURIComponent(id)) history.replaceState(null, '', '#/campaign/' + encodeURIComponent(id));
    fillPicker($('campaign'), overview ? overview.campaigns.map(c => c.campaign) : [], id);
    await resubscribe(previous ? [['Unsubscribe', previous]] : []);
    refresh();
  }

  // A minute of the campaign: the stored row, or the live partials added up when they are newer (counts only grow).
  function campaignMinutes() {
    const byMinute = new Map();
    for (const m of campaignData?.minutes ?? []) byMinute.set(m.t, { ...m });
    const from = campaignData?.range.from ?? 0;
    for (const [t, parts] of liveMinutes) {
      if (t < from) continue;
      const values = [...parts.values()];
      const sum = f => values.reduce((s, x) => s + (x[f] || 0), 0);
      const live = { t, bids: sum('bids'), wins: sum('wins'), impressions: sum('impressions'), clicks: sum('clicks'), conversions: sum('conversions'), spend_micros: sum('spend_micros'), unique_users: sum('unique_users'), final: values.every(x => x.final) };
      const stored = byMinute.get(t);
      const size = m => m.bids + m.wins + m.impressions + m.clicks + m.conversions;
      if (!stored || size(live) > size(stored)) byMinute.set(t, live);
    }
    return [...byMinute.values()].sort((a, b) => a.t - b.t);
  }

  function renderCampaign() {
    if (!state.campaign) {
      const first = overview?.campaigns[0]?.campaign;
      if (first) selectCampaign(first);
      return;
    }
    if (!campaignData) return;
    const minutes = campaignMinutes();
    const sum = f => minutes.reduce((s, m) => s + m[f], 0);
    const impressions = sum('impressions'), clicks = sum('clicks'), spend = sum('spend_micros');
    tile('impressions', count(impressions), impressions);
    tile('clicks', count(clicks), clicks);
    tile('ctr', percent(impressions ? clicks / impressions : null), impressions ? clicks / impressions : null);
    tile('spend', money(spend), spend);
    tile('ecpm', money(impressions ? spend * 1000 / impressions : null), impressions ? spend * 1000 / impressions : null);
    tile('conversions', count(sum('conversions')), sum('conversions'));
    const newest = minutes.at(-1);
    tile('users', newest ? count(newest.unique_users) : '–', newest?.unique_users);
    const range = campaignData.range;
    $('campaign-window').innerHTML = `${minutes.length} minutes from <span title="${utc(range.from)}">${minuteLocal(range.from)}</span> to <span title="${utc(range.to)}">${minuteLocal(range.to)}</span>` +
      (newest && !newest.final ? `; the minute of ${minuteLocal(newest.t)} is still open (partial)` : '');
    // Pacing: the newest of the stored rows and the live value.
    const stored = campaignData.pacing?.at(-1);
    const pace = livePace && (!stored || Date.parse(livePace.window_start) >= stored.t)
      ? { daily_budget_micros: livePace.daily_budget_micros, spend_today_micros: livePace.spend_today_micros, ideal_shaped_micros: livePace.ideal_spend_micros, pace_ratio: livePace.pace_ratio, status: livePace.status, throttle_probability: livePace.throttle_probability }
      : stored;
    // Without dynamic-pricing (or a budget) there is no pacing: say so instead of a row of dashes.
    const note = campaignData.pacing === null ? 'Pacing is not computed here: dynamic-pricing does not run against this store.'
      : pace ? '' : 'No pacing: the campaign has no budget in ads.campaign_budgets.';
    $('pacing-note').textContent = note;
    $('pacing-note').hidden = !note;
    $('pacing-tiles').hidden = $('pacing-figure').hidden = !pace;
    if (pace) {
      tile('spend-today', money(pace.spend_today_micros), pace.spend_today_micros);
      tile('budget', money(pace.daily_budget_micros), pace.daily_budget_micros);
      tile('ideal-today', money(pace.ideal_shaped_micros), pace.ideal_shaped_micros);
      tile('pace-ratio', ratio(pace.pace_ratio), pace.pace_ratio);
      tile('pace-status', statusWords(pace.status), pace.status);
      tile('throttle', percent(pace.throttle_probability), pace.throttle_probability);
    }
    drawCampaignChart(minutes, range);
    if (pace) drawPacingChart(campaignData.pacing ?? [], range);
    table('by-ad', campaignData.by_ad, r => [escape(r.ad), count(r.impressions), count(r.clicks), percent(r.impressions ? r.clicks / r.impressions : null), money(r.spend_micros)], 5, 'breakdowns not computed here');
    table('by-geo', campaignData.by_country_device, r => [escape(r.country || '(unknown)'), escape(r.device || '(unknown)'), count(r.impressions), count(r.clicks), money(r.spend_micros)], 5, 'breakdowns not computed here');
    alertList($('campaign-alerts'), campaignData.alerts ?? [], false);
  }

  function table(id, rows, cells, columns, missing) {
    setHtml($(id).querySelector('tbody'), rows === null
      ? `<tr><td colspan="${columns}" class="muted">${missing}</td></tr>`
      : rows.length === 0 ? `<tr><td colspan="${columns}" class="muted">nothing in this range</td></tr>`
        : rows.slice(0, 25).map(r => '<tr>' + cells(r).map((c, i) => i === 0 ? `<th scope="row">${c}</th>` : `<td>${c}</td>`).join('') + '</tr>').join('') +
          (rows.length > 25 ? `<tr><td colspan="${columns}" class="muted">the top 25 by impressions; the rest are in ClickHouse</td></tr>` : ''));
  }

  function chart(id, options, data) {
    const el = $(id);
    const width = Math.max(260, el.clientWidth || 600);
    if (charts[id] && charts[id].signature === options.signature) { charts[id].setData(data); return; }
    if (charts[id]) charts[id].destroy();
    el.innerHTML = '';
    charts[id] = new uPlot({ width, height: options.height || 220, ...options.plot }, data, el);
    charts[id].signature = options.signature;
  }

  window.addEventListener('resize', () => {
    for (const [id, c] of Object.entries(charts)) { const w = $(id).clientWidth; if (w) c.setSize({ width: Math.max(260, w), height: c.height }); }
  });

  const timeAxis = { values: (u, splits) => splits.map(s => minuteLocal(s * 1000)) };

  // Impressions as a line, spend as bars (their scales would otherwise draw one over the other); the open minute and
  // the line into it dashed and its bar pale: still counting, never drawn as a fall.
  function drawCampaignChart(minutes, range) {
    const xs = minutes.map(m => m.t / 1000);
    // Open: the minutes after the newest final one (a minute left open in between by an idle partition is drawn solid).
    const lastFinal = minutes.findLastIndex(m => m.final);
    const openFrom = lastFinal === minutes.length - 1 ? -1 : lastFinal + 1;
    const closed = i => openFrom < 0 || i < openFrom;
    const until = Math.max(range.to, minutes.at(-1)?.t ?? 0);
    const bars = uPlot.paths.bars({ size: [0.6, 30] });
    chart('campaign-chart', {
      signature: 'campaign:' + range.from,
      plot: {
        series: [{}, { label: 'impressions', stroke: '#2f5fb3', width: 2 }, { label: 'impressions (open minute)', stroke: '#2f5fb3', dash: [6, 4], width: 2 },
          { label: 'spend', stroke: '#b8361e', fill: 'rgba(184,54,30,.45)', scale: 'usd', paths: bars, points: { show: false }, value: (u, v) => v === null ? '–' : money(v * 1e6) },
          { label: 'spend (open minute)', stroke: '#b8361e', fill: 'rgba(184,54,30,.15)', scale: 'usd', paths: bars, points: { show: false }, value: (u, v) => v === null ? '–' : money(v * 1e6) }],
        scales: { x: { time: true, range: () => [range.from / 1000 - 30, until / 1000 + 30] }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] }, usd: { range: (u, min, max) => [0, Math.max(0.01, max * 2)] } },
        axes: [timeAxis, { label: 'impressions' }, { scale: 'usd', side: 1, label: 'spend', grid: { show: false }, values: (u, splits) => splits.map(v => money(v * 1e6)), size: 70 }],
      },
    }, [xs, minutes.map((m, i) => closed(i) ? m.impressions : null), minutes.map((m, i) => openFrom >= 0 && i >= openFrom - 1 ? m.impressions : null),
      minutes.map((m, i) => closed(i) ? m.spend_micros / 1e6 : null), minutes.map((m, i) => closed(i) ? null : m.spend_micros / 1e6)]);
  }

  function drawPacingChart(pacing, range) {
    const budget = pacing.at(-1)?.daily_budget_micros ?? null;
    chart('pacing-chart', {
      signature: 'pacing:' + range.from,
      plot: {
        series: [{}, { label: 'spend today', stroke: '#b8361e', width: 2 }, { label: 'linear ideal', stroke: '#8a93a6', dash: [4, 4] },
          { label: 'traffic-shaped ideal', stroke: '#1f7a4a', width: 2 }, { label: 'budget', stroke: '#1d2330', dash: [2, 6] }],
        scales: { x: { time: true, range: () => [range.from / 1000, range.to / 1000 + 60] } },
        axes: [timeAxis, { label: 'USD', values: (u, splits) => splits.map(s => money(s * 1e6)), size: 70 }],
      },
    }, [pacing.map(p => p.t / 1000), pacing.map(p => p.spend_today_micros / 1e6), pacing.map(p => p.ideal_linear_micros / 1e6),
      pacing.map(p => p.ideal_shaped_micros / 1e6), pacing.map(() => budget === null ? null : budget / 1e6)]);
  }

  // ---- slot view ---------------------------------------------------------------------------------------------------
  const liveSlot = new Map();      // window_start ms -> partition -> partial
  let liveFloor = null;

  async function selectSlot(id) {
    if (state.slot === id) return;
    const previous = state.slot;
    state.slot = id; slotData = null; liveSlot.clear(); liveFloor = null;
    $('slot-title').textContent = id;
    for (const el of ['slot-bids', 'slot-wins', 'slot-win-rate', 'slot-clearing', 'slot-bid-prices', 'slot-floor', 'slot-optimal', 'slot-samples', 'slot-confidence', 'slot-floor-status']) tile(el, '–', null);
    if (location.hash !== '#/slot/' + encodeURIComponent(id)) history.replaceState(null, '', '#/slot/' + encodeURIComponent(id));
    await resubscribe(previous ? [['UnsubscribeSlot', previous]] : []);
    refresh();
  }

  // Quantile from sketch buckets, as the engine reads them (the rank's bucket, its representative price).
  function quantile(buckets, q) {
    const total = buckets.reduce((s, b) => s + b.count, 0);
    if (total === 0) return null;
    const rank = Math.floor(q * (total - 1));
    let seen = 0;
    for (const b of buckets) { seen += b.count; if (seen > rank) return b.price_micros; }
    return null;
  }

  const usd = micros => micros === null || micros === undefined || Number.isNaN(micros) ? null : micros / 1e6;
  const gamma = 1.01 / 0.99;
  const bucketPrice = b => b === -32768 ? 0 : Math.round(2 * Math.pow(gamma, b) / (gamma + 1));

  function renderSlot(slotList) {
    if (!state.slot) {
      const first = slotList?.[0]?.slot;
      if (first) selectSlot(first);
      return;
    }
    if (!slotData) return;
    let newest = slotData.minutes.at(-1) ?? null;
    // The live partials of a minute newer than (or as new as, and bigger than) the stored one take its place.
    const liveT = [...liveSlot.keys()].sort((a, b) => a - b).at(-1);
    if (liveT !== undefined && (!newest || liveT >= newest.t)) {
      const parts = [...liveSlot.get(liveT).values()];
      const bids = parts.reduce((s, x) => s + x.bids, 0), wins = parts.reduce((s, x) => s + x.wins, 0);
      if (!newest || liveT > newest.t || bids > newest.bids || wins > newest.wins) {
        const buckets = new Map();
        for (const p of parts) for (const pair of (p.clearing_buckets || '').split(',').filter(x => x)) { const [b, c] = pair.split(':').map(Number); buckets.set(b, (buckets.get(b) || 0) + c); }
        const clearing = [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([b, c]) => ({ price_micros: bucketPrice(b), count: c }));
        newest = { t: liveT, bids, wins, win_rate: bids ? wins / bids : 0, clearing_p50_micros: quantile(clearing, 0.5), clearing_p90_micros: quantile(clearing, 0.9), clearing_p99_micros: quantile(clearing, 0.99), live: true };
      }
    }
    $('slot-window').textContent = newest ? `minute of ${minuteLocal(newest.t)} (${utc(newest.t)})` : 'no bids in this range';
    tile('slot-bids', newest ? count(newest.bids) : '–', newest?.bids);
    tile('slot-wins', newest ? count(newest.wins) : '–', newest?.wins);
    tile('slot-win-rate', newest && newest.bids ? percent(newest.win_rate) : '–', newest?.win_rate);
    const q3 = (m, kind) => m && m[`${kind}_p50_micros`] !== null && m[`${kind}_p50_micros`] !== undefined ? ['p50', 'p90', 'p99'].map(p => money(m[`${kind}_${p}_micros`])).join(' / ') : '–';
    tile('slot-clearing', q3(newest, 'clearing'), newest ? [newest.clearing_p50_micros, newest.clearing_p90_micros, newest.clearing_p99_micros].join(',') : null);
    $('slot-clearing-samples').textContent = newest ? `from ${count(newest.wins)} wins${newest.wins < 100 ? ': few samples, p99 is the top few prices' : ''}` : '';
    const storedNewest = slotData.minutes.at(-1);
    // Bid prices are stored only: shown while the stored minute is the one on screen.
    tile('slot-bid-prices', storedNewest && newest && storedNewest.t === newest.t ? q3(storedNewest, 'bid') : '–', null);
    // The floor: the newest recommendation, stored or live, and why it is what it is.
    const storedFloor = slotData.floors?.at(-1);
    const floor = liveFloor && (!storedFloor || Date.parse(liveFloor.window_start) >= storedFloor.t) ? { ...liveFloor, t: Date.parse(liveFloor.window_start) } : storedFloor;
    const policy = slotData.policy;
    if (floor) {
      tile('slot-floor', floor.recommended_floor_micros === null ? 'withheld' : money(floor.recommended_floor_micros), floor.recommended_floor_micros);
      tile('slot-optimal', money(floor.optimal_floor_micros), floor.optimal_floor_micros);
      tile('slot-samples', count(floor.samples), floor.samples);
      tile('slot-confidence', percent(floor.confidence), floor.confidence);
      const why = {
        // Too few bids: the previous floor is kept, or none is recommended while there has never been one.
        insufficient_samples: `${floor.recommended_floor_micros === null ? 'withheld' : 'previous floor kept'}: ${count(floor.samples)} of the ${count(policy.min_samples)} bids a new recommendation needs`,
        step_limited: `limited to ${(policy.max_step_change * 100).toFixed(0)}% change per minute (the optimum moved further)`,
        initial: 'first recommendation for this slot',
        updated: 'updated: the smoothed optimum',
      }[floor.status] || floor.status;
      tile('slot-floor-status', `${why} (minute of ${minuteLocal(floor.t)})`, floor.status);
    } else {
      tile('slot-floor-status', slotData.floors === null ? 'floors not computed (dynamic-pricing is not running here)' : 'no recommendation in this range', null);
    }
    drawHistograms();
    const floors = slotData.floors ?? [];
    const byT = new Map(slotData.minutes.map(m => [m.t, m]));
    const ts = [...new Set([...floors.map(f => f.t), ...slotData.minutes.map(m => m.t)])].sort((a, b) => a - b);
    const floorAt = new Map(floors.map(f => [f.t, f]));
    chart('floor-chart', {
      signature: 'floor:' + slotData.range.from,
      plot: {
        series: [{}, { label: 'recommended', stroke: '#2f5fb3', width: 2, value: (u, v) => v === null ? '–' : money(v * 1e6) },
          { label: 'optimal reserve', stroke: '#1f7a4a', dash: [5, 4], value: (u, v) => v === null ? '–' : money(v * 1e6) },
          { label: 'average floor seen', stroke: '#8a93a6', value: (u, v) => v === null ? '–' : money(v * 1e6) }],
        scales: { x: { time: true, range: () => [slotData.range.from / 1000, slotData.range.to / 1000 + 60] } },
        axes: [timeAxis, { values: (u, splits) => splits.map(s => money(s * 1e6)), size: 70 }],
      },
    }, [ts.map(t => t / 1000), ts.map(t => usd(floorAt.get(t)?.recommended_floor_micros)), ts.map(t => usd(floorAt.get(t)?.optimal_floor_micros)),
      ts.map(t => usd(byT.get(t)?.floor_avg_micros))]);
  }

  // A round step (1, 2 or 5 times a power of ten) near x.
  const niceStep = x => { const p = Math.pow(10, Math.floor(Math.log10(x))); return [1, 2, 5, 10].map(m => m * p).find(v => v >= x); };

  // Price distributions in about 30 bars of equal width up to the 99th percentile (the few prices above it share the
  // last bar), re-binned from the sketch's 2% buckets, so a handful of samples still reads as a shape.
  function drawHistograms() {
    const dist = slotData?.distributions?.[state.dist];
    for (const kind of ['bid', 'clearing']) {
      const buckets = dist?.[kind] ?? [];
      const top = quantile(buckets, 0.99) ?? 0;
      const step = top > 0 ? niceStep(top / 30) : 1;
      const bins = new Map();
      for (const b of buckets) { const bin = Math.min(Math.floor(b.price_micros / step), Math.floor(top / step)); bins.set(bin, (bins.get(bin) || 0) + b.count); }
      const last = buckets.length ? Math.floor(top / step) : -1;
      const xs = [], ys = [];
      for (let i = 0; i <= last; i++) { xs.push((i + 0.5) * step / 1e6); ys.push(bins.get(i) || 0); }
      $(kind + '-chart').dataset.total = String(ys.reduce((sum, y) => sum + y, 0));
      chart(kind + '-chart', {
        signature: 'hist',
        height: 180,
        plot: {
          series: [{ label: 'price', value: (u, v) => v === null ? '–' : `${money((v * 1e6) - step / 2)} – ${money((v * 1e6) + step / 2)}` },
            { label: kind === 'bid' ? 'bids' : 'wins', stroke: '#2f5fb3', fill: 'rgba(47,95,179,.35)', paths: uPlot.paths.bars({ size: [0.9, 40] }), points: { show: false } }],
          scales: { x: { time: false, range: (u, min, max) => [0, Math.max(max, 0.01) + step / 2e6] }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
          axes: [{ values: (u, splits) => splits.map(s => money(s * 1e6)), space: 70 }, {}],
        },
      }, [xs, ys]);
    }
  }

  for (const button of document.querySelectorAll('[data-dist]')) {
    button.addEventListener('click', () => {
      state.dist = button.dataset.dist;
      for (const b of document.querySelectorAll('[data-dist]')) b.setAttribute('aria-pressed', String(b === button));
      drawHistograms();
    });
  }

  // ---- alerts ------------------------------------------------------------------------------------------------------
  function alertList(list, alerts, withCampaign) {
    setHtml(list, alerts.length === 0 ? '<li class="muted">no pacing alerts</li>' : alerts.slice(0, 200).map(a =>
      `<li class="${escape(a.status)}" data-campaign="${escape(a.campaign)}" data-status="${escape(a.status)}" data-t="${a.t}" data-spend="${a.spend_today_micros}" data-budget="${a.daily_budget_micros}"><time datetime="${new Date(a.t).toISOString()}" title="${utc(a.t)}">${minuteLocal(a.t)}</time> ` +
      (withCampaign ? `<a href="#/campaign/${encodeURIComponent(a.campaign)}">${escape(a.campaign)}</a> ` : '') +
      `<b title="${DEFINITIONS.status}">${escape(statusWords(a.status))}</b> (${a.previous_status ? 'was ' + escape(statusWords(a.previous_status)) : 'first status of the day'}): ` +
      `<span title="${DEFINITIONS.pace_ratio}">pace ${ratio(a.pace_ratio)}</span>, <span title="${DEFINITIONS.spend_today}">spent ${money(a.spend_today_micros)}</span> of <span title="${DEFINITIONS.budget}">${money(a.daily_budget_micros)}</span></li>`).join(''));
  }

  function renderAlerts() {
    if (!alertsData) return;
    $('alerts-day').textContent = alertsData.day ? `on ${alertsData.day} (UTC)` : '';
    alertList($('alerts'), alertsData.alerts ?? [], true);
    $('alert-count').textContent = alertsData.alerts?.length ? String(alertsData.alerts.length) : '';
  }

  // ---- refresh from the read API -----------------------------------------------------------------------------------
  // One refresh at a time; a request for another while one runs (a new selection) runs once it is done.
  let refreshing = null, again = false;
  async function refresh() {
    if (refreshing) { again = true; return refreshing; }
    refreshing = (async () => {
      try {
        // The overview feeds every view's pickers; alerts feed the badge.
        const [o, a] = await Promise.all([api('api/v1/overview'), api('api/v1/alerts')]);
        overview = o; alertsData = a;
        clock(o.newest_minute);
        if (state.view === 'overview') renderOverview();
        renderAlerts(); // the badge shows on every view
        if (state.view === 'campaign') {
          if (state.campaign) {
            const c = await api(`api/v1/campaigns/${encodeURIComponent(state.campaign)}?range=${state.campaignRange}`);
            if (c.campaign === state.campaign && c.range?.name === state.campaignRange) campaignData = c; // not an answer to an older selection
            fillPicker($('campaign'), o.campaigns.map(x => x.campaign), state.campaign);
          }
          renderCampaign();
        }
        if (state.view === 'slot') {
          const list = await api('api/v1/slots');
          if (state.slot) {
            const s = await api(`api/v1/slots/${encodeURIComponent(state.slot)}?range=${state.slotRange}`);
            if (s.slot === state.slot && s.range?.name === state.slotRange) slotData = s;
          }
          fillPicker($('slot'), list.slots.map(x => x.slot), state.slot);
          renderSlot(list.slots);
        }
        problem(null);
      } catch (e) {
        problem(e.message);
      } finally {
        refreshing = null;
        if (again) { again = false; refresh(); }
      }
    })();
    return refreshing;
  }

  $('campaign').addEventListener('change', e => { location.hash = '#/campaign/' + encodeURIComponent(e.target.value); });
  $('slot').addEventListener('change', e => { location.hash = '#/slot/' + encodeURIComponent(e.target.value); });
  for (const group of document.querySelectorAll('.ranges')) {
    group.addEventListener('click', e => {
      const button = e.target.closest('button[data-range]');
      if (!button) return;
      for (const b of group.querySelectorAll('button[data-range]')) b.setAttribute('aria-pressed', String(b === button));
      if (group.closest('#view-campaign')) { state.campaignRange = button.dataset.range; campaignData = null; }
      else { state.slotRange = button.dataset.range; slotData = null; }
      refresh();
    });
  }

  // ---- live values from the hub ------------------------------------------------------------------------------------
  const connection = new signalR.HubConnectionBuilder()
    .withUrl('hubs/metrics', apiKey ? { accessTokenFactory: () => apiKey } : {})
    .withAutomaticReconnect({ nextRetryDelayInMilliseconds: () => 1000 })  // keep trying, once a second
    .build();

  function setStatus(s) {
    const status = $('status');
    status.textContent = s === 'connected' ? 'live' : s;
    status.className = 'status ' + s;
    status.dataset.state = s;
  }

  connection.onreconnecting(() => setStatus('reconnecting'));
  connection.onreconnected(async () => { setStatus('connected'); await resubscribe([]); refresh(); });
  connection.onclose(() => { setStatus('disconnected'); setTimeout(start, 1000); });

  connection.on('metrics', m => {
    if (m.pace_ratio !== undefined) { if (m.campaign === state.campaign) { livePace = m; if (state.view === 'campaign') renderCampaign(); } }
    else if (m.campaign !== undefined) {
      if (m.campaign !== state.campaign) return;
      const t = Date.parse(m.window_start);
      if (!liveMinutes.has(t)) liveMinutes.set(t, new Map());
      liveMinutes.get(t).set(m.partition ?? -1, m);
      for (const k of [...liveMinutes.keys()].sort((a, b) => a - b).slice(0, -90)) liveMinutes.delete(k);
      if (state.view === 'campaign') renderCampaign();
    } else if (m.slot !== undefined && m.slot === state.slot) {
      if (m.recommended_floor_micros !== undefined) liveFloor = m;
      else {
        const t = Date.parse(m.window_start);
        if (!liveSlot.has(t)) liveSlot.set(t, new Map());
        liveSlot.get(t).set(m.partition, m);
        for (const k of [...liveSlot.keys()].sort((a, b) => a - b).slice(0, -3)) liveSlot.delete(k);
      }
      if (state.view === 'slot' && slotData) renderSlot();
    }
  });

  connection.on('alert', a => {
    if (!alertsData) return;
    const alert = { t: Date.parse(a.window_start), campaign: a.campaign, status: a.status, previous_status: a.previous_status, pace_ratio: a.pace_ratio, spend_today_micros: a.spend_today_micros, daily_budget_micros: a.daily_budget_micros };
    const list = alertsData.alerts ?? [];
    if (!list.some(x => x.t === alert.t && x.campaign === alert.campaign && x.status === alert.status)) list.unshift(alert);
    alertsData.alerts = list;
    renderAlerts();
  });

  async function resubscribe(leave) {
    if (connection.state !== signalR.HubConnectionState.Connected) return;
    try {
      for (const [method, id] of leave) await connection.invoke(method, id);
      if (state.campaign) await connection.invoke('Subscribe', state.campaign);
      if (state.slot) await connection.invoke('SubscribeSlot', state.slot);
    } catch (e) {
      problem('live values: ' + e.message);
    }
  }

  async function start() {
    try {
      setStatus('connecting');
      await connection.start();
      setStatus('connected');
      await resubscribe([]);
    } catch {
      setStatus('disconnected');
      setTimeout(start, 1000);
    }
  }

  route();
  start();
  setInterval(refresh, REFRESH_MS);
})();
