// The page: pick a meter and a range; draw actual usage beside what the model forecast for each
// day a day and a week before, the range's long forecast and the coming days.
// With a token configured the API answers 401 without it: the page takes the token from a link
// (…/#token=…, kept in this tab's sessionStorage and removed from the address bar) or asks for it.
const $ = (id) => document.getElementById(id);
const TOKEN = "energy_assets.token";
let unit = "kWh";
let latest = 0; // the newest request wins: an older answer arriving late is dropped

function isoDay(d) { return d.toISOString().slice(0, 10); }

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

function describe(detail, response) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {  // FastAPI's 422: one entry per parameter
    return detail.map((e) => `${e.param ?? (e.loc || []).slice(-1)[0]}: ${e.msg}`).join("; ");
  }
  if (detail) return JSON.stringify(detail);
  return `${response.status} ${response.statusText}`;
}

async function getJSON(url) {
  const token = sessionStorage.getItem(TOKEN);
  const response = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(describe(body.detail, response), response.status);
  return body;
}

function showError(error) {
  const box = $("error");
  box.textContent = error.message;
  box.hidden = false;
  $("headline").hidden = true;
  $("note").hidden = true;
  Plotly.purge("chart");  // the previous chart is not the answer to this request
  $("login").hidden = error.status !== 401;
  document.body.dataset.state = "error";
}

function band(series, name, color) {
  if (!series || !series.lower_80) return [];
  return [
    { x: series.dates, y: series.upper_80, mode: "lines", line: { width: 0 }, hoverinfo: "skip",
      showlegend: false, name: `${name} upper` },
    { x: series.dates, y: series.lower_80, mode: "lines", line: { width: 0 }, fill: "tonexty",
      fillcolor: color, name: `${name}, 80% band` },
  ];
}

function line(series, name, color, dash = "solid") {
  return { x: series.dates, y: series.forecast, mode: "lines", name,
    line: { color, width: 2, dash } };
}

function mae(view) {
  if (!view || view.mae === null) return "no actuals";
  return `${view.mae.toFixed(2)} ${unit} over ${view.mae_days} days`;
}

async function show(event) {
  if (event) event.preventDefault();
  const ticket = ++latest;
  $("error").hidden = true;
  document.body.dataset.state = "loading";
  const meter = encodeURIComponent($("meter").value);
  const range = `start=${$("start").value}&end=${$("end").value}`;
  try {
    const [usage, p] = await Promise.all([
      getJSON(`/api/meters/${meter}/usage?${range}`),
      getJSON(`/api/meters/${meter}/predictions?${range}&ahead=${$("ahead").value || 0}`),
    ]);
    if (ticket !== latest) return;
    unit = p.unit || unit;
    const traces = [
      ...band(p.day_before, "a day before", "rgba(31,111,235,0.15)"),
      { x: usage.dates, y: usage.usage, mode: "lines+markers", name: "actual",
        line: { color: "#1d2433", width: 2 }, marker: { size: 4 } },
      line(p.day_before, "forecast a day before", "#1f6feb"),
      line(p.week_before, "forecast a week before", "#2da44e"),
      line(p.range, "forecast from the range's first day", "#8b949e", "dot"),
    ];
    if (p.ahead) {
      traces.push(...band(p.ahead, "coming days", "rgba(219,109,40,0.15)"));
      traces.push(line(p.ahead, "forecast, coming days", "#db6d28", "dash"));
    }
    await Plotly.react("chart", traces, {
      margin: { l: 60, r: 10, t: 10, b: 40 },
      xaxis: { automargin: true },
      yaxis: { title: { text: `usage (${unit} per day)` }, rangemode: "tozero" },
      legend: { orientation: "h", yref: "container", y: 0, yanchor: "bottom",
        traceorder: "normal" },
      hovermode: "x unified",
    }, { responsive: true, displaylogo: false });
    $("mae-day").textContent = mae(p.day_before);
    $("mae-week").textContent = mae(p.week_before);
    $("mae").textContent = mae(p.range);
    $("model").textContent = p.model;
    $("version").textContent = p.model_version;
    $("model-note").textContent = p.model_note || "";
    $("model-note").hidden = !p.model_note;
    const gaps = [p.day_before, p.week_before].filter((v) => v.missing_days && v.missing_reason);
    $("note").textContent = gaps.map((v) =>
      `${v.missing_days} day(s) have no forecast made ${v.lead_days} day(s) before: ` +
      v.missing_reason).join(" ");
    $("note").hidden = gaps.length === 0;
    $("headline").hidden = false;
    $("login").hidden = true;
    document.body.dataset.state = "ready";
  } catch (error) {
    if (ticket === latest) showError(error);
  }
}

async function load() {
  try {
    document.body.dataset.state = "loading";
    const body = await getJSON("/api/meters");
    unit = body.unit || unit;
    const chosen = $("meter").value;
    $("meter").replaceChildren(...body.meters.map((m) => new Option(m, m)));
    if (body.meters.includes(chosen)) $("meter").value = chosen;
    if (!$("end").value) {
      const end = new Date(`${body.latest_day}T00:00:00Z`);
      $("end").value = isoDay(end);
      $("start").value = isoDay(new Date(end.getTime() - 55 * 86400000));
    }
    await show();  // the first meter is drawn at once
  } catch (error) {
    showError(error);
  }
}

function init() {
  const link = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (link) {
    sessionStorage.setItem(TOKEN, decodeURIComponent(link[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  $("controls").addEventListener("submit", show);
  $("meter").addEventListener("change", show);
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN, $("token").value);
    $("token").value = "";
    $("login").hidden = true;
    load();
  });
  load();
}

init();
