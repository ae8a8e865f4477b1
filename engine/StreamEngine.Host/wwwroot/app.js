// The ad-ops dashboard: live values from the engine's SignalR hub (/hubs/metrics). Campaign and slot metrics arrive
// as per-source-partition partials (added up here per window, the newest of each partition, as the results views add
// the stored partials up); floors and pacing come whole from dynamic-pricing.
(() => {
  const $ = id => document.getElementById(id);
  // Money arrives in micros of the currency; small amounts keep their digits.
  const micros = v => (v / 1e6).toLocaleString(undefined, { style: 'currency', currency: 'USD', maximumFractionDigits: Math.abs(v) < 1e6 ? 4 : 2 });
  const number = v => Math.round(v).toLocaleString();
  const percent = v => (v * 100).toFixed(2) + '%';

  let campaign = null, slot = null;
  const minutes = new Map();          // window_start -> partition -> the selected campaign's newest partial for that minute
  const slotPartials = new Map();     // window_start -> partition -> partial
  let chart = null;

  // An engine that listens beyond its machine asks for its API key: open the page with ?api_key=KEY.
  const apiKey = new URLSearchParams(location.search).get('api_key');
  const connection = new signalR.HubConnectionBuilder()
    .withUrl('hubs/metrics', apiKey ? { accessTokenFactory: () => apiKey } : {})
    .withAutomaticReconnect({ nextRetryDelayInMilliseconds: () => 1000 })  // keep trying, once a second
    .build();

  function setStatus(state) {
    const status = $('status');
    status.textContent = state;
    status.className = 'status ' + state;
    status.dataset.state = state;
  }

  connection.onreconnecting(() => setStatus('reconnecting'));
  connection.onreconnected(async () => { setStatus('connected'); await resubscribe(); });
  connection.onclose(() => { setStatus('disconnected'); setTimeout(start, 1000); });

  connection.on('metrics', m => {
    if (m.pace_ratio !== undefined && m.campaign === campaign) showPace(m);
    else if (m.campaign !== undefined && m.campaign === campaign) showCampaign(m);
    else if (m.slot !== undefined && m.recommended_floor_micros !== undefined && m.slot === slot) showFloor(m);
    else if (m.slot !== undefined && m.slot === slot) showSlot(m);
  });

  connection.on('alert', a => {
    const list = $('alerts');
    if (list.querySelector('.muted')) list.innerHTML = '';
    const item = document.createElement('li');
    item.className = a.status;
    item.textContent = `${new Date(a.window_start).toISOString().slice(11, 16)} ${a.campaign} ${a.status} (pace ${Number(a.pace_ratio).toFixed(2)}, was ${a.previous_status})`;
    list.prepend(item);
    while (list.children.length > 20) list.lastChild.remove();
  });

  // A campaign minute: its partitions' partials added up; CTR and eCPM from the sums.
  function campaignMinute(window) {
    const parts = [...minutes.get(window).values()];
    const sum = f => parts.reduce((s, x) => s + x[f], 0);
    const v = { impressions: sum('impressions'), clicks: sum('clicks'), spend_micros: sum('spend_micros'), unique_users: sum('unique_users'), final: parts.every(x => x.final) };
    v.ctr = v.impressions === 0 ? 0 : v.clicks / v.impressions;
    v.ecpm_micros = v.impressions === 0 ? 0 : v.spend_micros * 1000 / v.impressions;
    return v;
  }

  function showCampaign(m) {
    if (!minutes.has(m.window_start)) minutes.set(m.window_start, new Map());
    minutes.get(m.window_start).set(m.partition ?? -1, m);
    const latest = [...minutes.keys()].sort().at(-1);
    const v = campaignMinute(latest);
    $('campaign-window').textContent = `minute ${new Date(latest).toISOString().slice(11, 16)} UTC${v.final ? ' (final)' : ''}`;
    $('impressions').textContent = number(v.impressions);
    $('clicks').textContent = number(v.clicks);
    $('ctr').textContent = percent(v.ctr);
    $('spend').textContent = micros(v.spend_micros);
    $('ecpm').textContent = micros(v.ecpm_micros);
    $('users').textContent = number(v.unique_users);
    drawChart();
  }

  function showPace(p) {
    $('spend-today').textContent = micros(p.spend_today_micros);
    $('ideal-today').textContent = micros(p.ideal_spend_micros) + ' of ' + micros(p.daily_budget_micros);
    $('pace-ratio').textContent = Number(p.pace_ratio).toFixed(2);
    $('pace-status').textContent = p.status.replace('_', ' ');
    $('throttle').textContent = percent(p.throttle_probability);
  }

  function drawChart() {
    const keys = [...minutes.keys()].sort().slice(-30);
    const data = [
      keys.map(k => Date.parse(k) / 1000),
      keys.map(k => campaignMinute(k).impressions),
      keys.map(k => campaignMinute(k).spend_micros / 1e6),
    ];
    if (!chart) {
      chart = new uPlot({
        width: Math.max(320, $('campaign-chart').clientWidth || 600), height: 220,
        series: [{}, { label: 'impressions', stroke: '#3366cc' }, { label: 'spend (USD)', stroke: '#dc3912', scale: 'usd' }],
        scales: { x: { time: true, range: (u, min, max) => [Math.min(min, max - 30 * 60), max + 60] } },
        axes: [{}, {}, { scale: 'usd', side: 1 }],
      }, data, $('campaign-chart'));
    } else {
      chart.setData(data);
    }
  }

  function showSlot(p) {
    if (!slotPartials.has(p.window_start)) slotPartials.set(p.window_start, new Map());
    slotPartials.get(p.window_start).set(p.partition, p);
    const latest = [...slotPartials.keys()].sort().at(-1);
    const parts = [...slotPartials.get(latest).values()];
    const bids = parts.reduce((s, x) => s + x.bids, 0), wins = parts.reduce((s, x) => s + x.wins, 0);
    $('slot-bids').textContent = number(bids);
    $('slot-win-rate').textContent = bids === 0 ? '–' : percent(wins / bids);
    // Clearing prices: add the partitions' bucket counts, then read quantiles as the engine's sketch does.
    const buckets = new Map();
    for (const part of parts) {
      for (const pair of (part.clearing_buckets || '').split(',').filter(x => x)) {
        const [b, c] = pair.split(':').map(Number);
        buckets.set(b, (buckets.get(b) || 0) + c);
      }
    }
    const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
    const total = sorted.reduce((s, [, c]) => s + c, 0);
    const gamma = 1.01 / 0.99;
    const quantile = q => {
      const rank = Math.floor(q * (total - 1));
      let seen = 0;
      for (const [b, c] of sorted) { seen += c; if (seen > rank) return b === -32768 ? 0 : 2 * Math.pow(gamma, b) / (gamma + 1); }
      return 0;
    };
    $('slot-clearing').textContent = total === 0 ? '–' : [0.5, 0.9, 0.99].map(q => micros(quantile(q))).join(' / ');
  }

  function showFloor(f) {
    $('slot-floor').textContent = f.recommended_floor_micros === null ? '–' : micros(f.recommended_floor_micros);
    $('slot-confidence').textContent = percent(f.confidence);
  }

  async function select(kind, id) {
    if (kind === 'campaign') {
      if (campaign) await connection.invoke('Unsubscribe', campaign);
      campaign = id; minutes.clear();
      for (const el of ['impressions', 'clicks', 'ctr', 'spend', 'ecpm', 'users', 'spend-today', 'ideal-today', 'pace-ratio', 'pace-status', 'throttle']) $(el).textContent = '–';
      if (chart) { chart.destroy(); chart = null; $('campaign-chart').innerHTML = ''; }
      if (id) await connection.invoke('Subscribe', id);
    } else {
      if (slot) await connection.invoke('UnsubscribeSlot', slot);
      slot = id; slotPartials.clear();
      for (const el of ['slot-bids', 'slot-win-rate', 'slot-clearing', 'slot-floor', 'slot-confidence']) $(el).textContent = '–';
      if (id) await connection.invoke('SubscribeSlot', id);
    }
  }

  async function resubscribe() {
    if (campaign) await connection.invoke('Subscribe', campaign);
    if (slot) await connection.invoke('SubscribeSlot', slot);
  }

  function fill(select, ids, current) {
    const known = [...select.options].map(o => o.value).join(',');
    if (known === ids.join(',')) return;
    select.innerHTML = '';
    for (const id of ids) select.add(new Option(id, id, false, id === current));
  }

  async function refreshCatalog() {
    if (connection.state !== signalR.HubConnectionState.Connected) return;
    const catalog = await connection.invoke('Catalog');
    const campaigns = catalog.campaigns.map(c => c.id), slots = catalog.slots.map(s => s.id);
    fill($('campaign'), [...new Set(campaign ? [campaign, ...campaigns] : campaigns)], campaign);
    fill($('slot'), [...new Set(slot ? [slot, ...slots] : slots)], slot);
    if (!campaign && campaigns.length) await select('campaign', campaigns[0]);
    if (!slot && slots.length) await select('slot', slots[0]);
    const body = $('top').querySelector('tbody');
    body.innerHTML = catalog.campaigns.slice(0, 10).map(c => `<tr><td>${c.id}</td><td>${number(c.impressions)}</td></tr>`).join('');
  }

  $('campaign').addEventListener('change', e => select('campaign', e.target.value));
  $('slot').addEventListener('change', e => select('slot', e.target.value));

  async function start() {
    try {
      setStatus('connecting');
      await connection.start();
      setStatus('connected');
      await resubscribe();
    } catch {
      setStatus('disconnected');
      setTimeout(start, 1000);
    }
  }

  start();
  setInterval(() => refreshCatalog().catch(() => {}), 2000);
})();
