'use strict';
// The /manager page: renders the daemon's server-sent events (/comfyctl/events) and posts the
// start / stop / restart actions. No framework: the page is small and the machine may be offline.
(function () {
  const MAX_LOG_LINES = 500;
  const MAX_EVENTS = 50;
  // Status arrives every 2 s; silence this long means a dead connection (a phone that slept, a proxy).
  const SILENCE_MS = 15000;
  const FIRST_RETRY_MS = 1000;
  const LAST_RETRY_MS = 30000;
  // Which buttons make sense in which state.
  const ACTIONS = {
    start: ['STOPPED', 'FAILED'],
    stop: ['STARTING', 'READY', 'FAILED'],
    restart: ['READY', 'FAILED']
  };

  const $ = (id) => document.getElementById(id);
  // A token given to the page (when the daemon is bound beyond loopback) goes along to the API.
  const token = new URLSearchParams(location.search).get('token');
  const withToken = (path) => (token ? path + '?token=' + encodeURIComponent(token) : path);

  let status = null;
  let lastStep = null;
  let logLines = [];
  let source = null;
  let retryMs = FIRST_RETRY_MS;
  let retryTimer = 0;
  let silenceTimer = 0;
  const inFlight = new Set();

  function instance() {
    return status && status.instances && status.instances[0];
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    if (h > 0) return h + ' h ' + String(m).padStart(2, '0') + ' min';
    if (m > 0) return m + ' min ' + String(s).padStart(2, '0') + ' s';
    return s + ' s';
  }

  function gib(mib) {
    return (mib / 1024).toFixed(1);
  }

  function time(iso) {
    return new Date(iso).toLocaleTimeString([], { hour12: false });
  }

  function idleText(idle) {
    if (!idle || !idle.timeoutSeconds) return 'idle stop off';
    const after = 'after ' + duration(idle.timeoutSeconds) + ' idle';
    return typeof idle.stopsInSeconds === 'number' ? 'stops in ' + duration(idle.stopsInSeconds) + ' (' + after + ')' : after;
  }

  function render() {
    const inst = instance();
    const state = inst ? inst.state : 'UNKNOWN';
    $('state').textContent = inst ? state : '…';
    $('state').dataset.state = state;
    const step = state === 'STARTING' && lastStep;
    $('step').textContent = step ? 'step ' + lastStep.step + ': ' + lastStep.title : '';
    $('step-detail').textContent = step ? lastStep.message : '';
    $('step-detail').title = step ? lastStep.message : '';
    $('uptime').textContent = inst && typeof inst.uptimeSeconds === 'number' ? duration(inst.uptimeSeconds) : '—';
    $('idle').textContent = inst ? idleText(inst.idle) : '—';
    $('queue').textContent = inst && inst.queue && typeof inst.queue.running === 'number'
      ? inst.queue.running + ' running, ' + inst.queue.pending + ' pending'
      : inst && inst.queue ? 'unavailable' : '—';
    $('process').textContent = inst && inst.pid ? 'pid ' + inst.pid + ', port ' + inst.port : inst ? 'port ' + inst.port : '—';
    renderInstances();
    renderGpus();
    for (const [action, states] of Object.entries(ACTIONS)) {
      $(action).disabled = !inst || inFlight.has(action) || !states.includes(state);
    }
    if (status && status.daemon) {
      $('daemon').textContent = 'comfyctl ' + status.daemon.version + ', daemon pid ' + status.daemon.pid
        + ', up ' + duration(status.daemon.uptimeSeconds);
    }
    if (inst && state === 'FAILED' && inst.lastError && $('error').hidden) {
      showError('ComfyUI failed', { error: inst.lastError });
    }
  }

  // With several instances (one per GPU) each gets a line; the figures above describe the first.
  function renderInstances() {
    const list = $('instances');
    const all = (status && status.instances) || [];
    list.hidden = all.length < 2;
    list.replaceChildren();
    if (all.length < 2) return;
    for (const one of all) {
      const item = document.createElement('li');
      item.dataset.instance = one.name;
      const label = document.createElement('span');
      label.textContent = one.name;
      const state = document.createElement('span');
      state.className = 'state';
      state.dataset.state = one.state;
      state.textContent = one.state;
      const facts = document.createElement('span');
      facts.className = 'muted';
      facts.textContent = (one.pid ? 'pid ' + one.pid + ', ' : '') + 'port ' + one.port
        + (typeof one.gpuIndex === 'number' ? ', GPU ' + one.gpuIndex : '')
        + (typeof one.uptimeSeconds === 'number' ? ', up ' + duration(one.uptimeSeconds) : '');
      item.append(label, state, facts);
      list.append(item);
    }
  }

  function renderGpus() {
    const list = $('gpus');
    list.replaceChildren();
    if (!status) return;
    if (!status.gpus || status.gpus.length === 0) {
      const item = document.createElement('li');
      item.textContent = 'No GPU' + (status.gpuWarning ? ': ' + status.gpuWarning : '');
      list.append(item);
      return;
    }
    for (const gpu of status.gpus) {
      const item = document.createElement('li');
      const label = document.createElement('span');
      label.textContent = 'GPU ' + gpu.index + ' ' + gpu.name;
      const amount = document.createElement('span');
      amount.className = 'muted';
      amount.textContent = gib(gpu.vramUsedMib) + ' / ' + gib(gpu.vramTotalMib) + ' GiB VRAM';
      const bar = document.createElement('meter');
      bar.min = 0;
      bar.max = gpu.vramTotalMib;
      bar.value = gpu.vramUsedMib;
      bar.high = gpu.vramTotalMib * 0.9;
      item.append(label, amount, bar);
      list.append(item);
    }
  }

  function showError(what, body) {
    $('error').hidden = false;
    $('error-message').textContent = what + ': ' + (body.title ? 'step ' + body.step + ' (' + body.title + '): ' : '')
      + (body.error || 'unknown error');
    $('error-log').textContent = (body.logTail || []).join('\n');
    $('error-log').hidden = !body.logTail || body.logTail.length === 0;
  }

  function clearError() {
    $('error').hidden = true;
  }

  function addEvent(event) {
    const item = document.createElement('li');
    const when = document.createElement('time');
    when.dateTime = event.at;
    when.textContent = time(event.at);
    const what = document.createElement('strong');
    what.textContent = event.from + ' → ' + event.to;
    const why = document.createElement('span');
    why.textContent = event.reason;
    item.append(when, what, why);
    const list = $('events');
    list.prepend(item);
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  }

  function addLog(data) {
    if (data.reset) logLines = [];
    logLines = logLines.concat(data.lines).slice(-MAX_LOG_LINES);
    $('logfile').textContent = data.file || '';
    const pre = $('log');
    const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
    pre.textContent = logLines.join('\n');
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  async function act(action) {
    inFlight.add(action);
    render();
    try {
      const response = await fetch(withToken('/manager/' + action), {
        method: 'POST',
        headers: { Accept: 'application/json' },
        credentials: 'same-origin'
      });
      const body = await response.json().catch(() => ({ ok: false, error: 'HTTP ' + response.status }));
      if (response.ok && body.ok !== false) {
        clearError();
      } else {
        showError(action[0].toUpperCase() + action.slice(1) + ' failed', body);
      }
    } catch (e) {
      showError(action + ' failed', { error: String(e) });
    } finally {
      inFlight.delete(action);
      render();
    }
  }

  function setConnection(text, live) {
    $('conn').textContent = text;
    $('conn').dataset.live = String(live);
  }

  function heard() {
    clearTimeout(silenceTimer);
    silenceTimer = setTimeout(reconnectLater, SILENCE_MS);
  }

  function on(name, handle) {
    source.addEventListener(name, (message) => {
      heard();
      handle(JSON.parse(message.data));
    });
  }

  function connect() {
    clearTimeout(retryTimer);
    setConnection('connecting…', false);
    source = new EventSource(withToken('/comfyctl/events'));
    source.addEventListener('open', () => {
      retryMs = FIRST_RETRY_MS;
      setConnection('live', true);
      // The server replays its recent events to every new connection.
      $('events').replaceChildren();
      heard();
    });
    on('status', (data) => {
      status = data;
      const steps = instance() ? instance().steps : [];
      lastStep = steps.length ? steps[steps.length - 1] : null;
      render();
    });
    on('step', (data) => {
      lastStep = data;
      render();
    });
    on('event', (data) => {
      addEvent(data);
      const named = status && status.instances && status.instances.find((one) => one.name === data.instance);
      if (named) {
        named.state = data.to;
        if (data.to === 'STARTING') clearError();
        render();
      }
    });
    on('log', addLog);
    // EventSource retries some failures itself and gives up on others; one policy for all: close, back off.
    source.addEventListener('error', reconnectLater);
  }

  function reconnectLater() {
    clearTimeout(silenceTimer);
    clearTimeout(retryTimer);
    if (source) source.close();
    setConnection('reconnecting in ' + Math.round(retryMs / 1000) + ' s', false);
    retryTimer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, LAST_RETRY_MS);
  }

  document.addEventListener('DOMContentLoaded', () => {
    for (const action of Object.keys(ACTIONS)) {
      $(action).addEventListener('click', () => act(action));
    }
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && source && source.readyState === EventSource.CLOSED) connect();
    });
    connect();
  });
})();
