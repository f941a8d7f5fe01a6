// The page: pick a meter and a range; draw actual usage, the forecast of the range with its
// 80% band, and the forecast of the coming days.
const $ = (id) => document.getElementById(id);

function isoDay(d) { return d.toISOString().slice(0, 10); }

async function getJSON(url) {
  const response = await fetch(url);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return body;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  $("headline").hidden = true;
  document.body.dataset.state = "error";
}

function band(series, name, color) {
  if (!series.lower_80) return [];
  return [
    { x: series.dates, y: series.upper_80, mode: "lines", line: { width: 0 }, hoverinfo: "skip",
      showlegend: false, name: `${name} upper` },
    { x: series.dates, y: series.lower_80, mode: "lines", line: { width: 0 }, fill: "tonexty",
      fillcolor: color, name: `${name} 80% band` },
  ];
}

async function show(event) {
  if (event) event.preventDefault();
  $("error").hidden = true;
  document.body.dataset.state = "loading";
  const meter = encodeURIComponent($("meter").value);
  const range = `start=${$("start").value}&end=${$("end").value}`;
  try {
    const [usage, predicted] = await Promise.all([
      getJSON(`/api/meters/${meter}/usage?${range}`),
      getJSON(`/api/meters/${meter}/predictions?${range}&ahead=${$("ahead").value || 0}`),
    ]);
    const traces = [
      ...band(predicted.range, "range", "rgba(31,111,235,0.15)"),
      { x: usage.dates, y: usage.usage, mode: "lines+markers", name: "actual",
        line: { color: "#1d2433", width: 2 }, marker: { size: 4 } },
      { x: predicted.range.dates, y: predicted.range.forecast, mode: "lines", name: "predicted",
        line: { color: "#1f6feb", width: 2 } },
    ];
    if (predicted.ahead) {
      traces.push(...band(predicted.ahead, "coming days", "rgba(219,109,40,0.15)"));
      traces.push({ x: predicted.ahead.dates, y: predicted.ahead.forecast, mode: "lines",
        name: "forecast, coming days", line: { color: "#db6d28", width: 2, dash: "dash" } });
    }
    await Plotly.react("chart", traces, {
      margin: { l: 50, r: 10, t: 10, b: 40 }, yaxis: { title: { text: "usage per day" } },
      legend: { orientation: "h", y: -0.15 }, hovermode: "x unified",
    }, { responsive: true, displaylogo: false });
    $("mae").textContent = predicted.mae === null ? "no actuals" :
      `${predicted.mae.toFixed(2)} over ${predicted.mae_days} days`;
    $("model").textContent = predicted.model;
    $("version").textContent = predicted.model_version;
    $("headline").hidden = false;
    document.body.dataset.state = "ready";
  } catch (error) {
    showError(error.message);
  }
}

async function init() {
  try {
    const { meters, latest_day } = await getJSON("/api/meters");
    $("meter").replaceChildren(...meters.map((m) => new Option(m, m)));
    const end = new Date(`${latest_day}T00:00:00Z`);
    const start = new Date(end.getTime() - 55 * 86400000);
    $("end").value = isoDay(end);
    $("start").value = isoDay(start);
    $("controls").addEventListener("submit", show);
    $("meter").addEventListener("change", show);
    document.body.dataset.state = "idle";
  } catch (error) {
    showError(error.message);
  }
}

init();
