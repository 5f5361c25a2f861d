// The desk's only script: live re-scoring of an edited draft (debounced), and a note while a
// drafting request runs. Text goes into the page through textContent only, never as HTML.
"use strict";
const WAIT_MS = 400;

function show(card, data) {
  const out = card.querySelector(".live-score");
  const parts = [` · total ${data.total === null ? "–" : data.total.toFixed(3)}`,
    data.usable ? " · usable" : ` · unusable: ${data.gate_reasons.join("; ")}`];
  for (const [name, value] of Object.entries(data.components)) {
    if (value !== null) parts.push(` · ${name} ${value.toFixed(2)}`);
  }
  out.textContent = parts.join("");
  card.querySelector(".live").dataset.usable = data.usable ? "yes" : "no";
}

async function rescore(card, area) {
  const text = area.value;
  const live = card.querySelector(".live");
  live.dataset.state = "scoring";
  try {
    const response = await fetch("/api/score", {
      method: "POST",
      headers: {"content-type": "application/json"},
      body: JSON.stringify({text, topic: card.dataset.topic, platform: card.dataset.platform,
                            author: card.dataset.author}),
    });
    const data = await response.json();
    if (area.value !== text) return;  // the person typed on: a newer request is on its way
    if (!response.ok) card.querySelector(".live-score").textContent = ` · ${data.error}`;
    else show(card, data);
  } finally {
    if (area.value === text) live.dataset.state = "done";
  }
}

for (const area of document.querySelectorAll("form.approve textarea")) {
  const card = area.closest(".draft");
  let timer = null;
  area.addEventListener("input", () => {
    card.querySelector(".live-chars").textContent = area.value.length;
    card.querySelector(".live").dataset.state = "waiting";
    clearTimeout(timer);
    timer = setTimeout(() => rescore(card, area), WAIT_MS);
  });
}

for (const form of document.querySelectorAll("form.draft-more")) {
  form.addEventListener("submit", () => {
    const note = form.querySelector(".progress");
    const start = Date.now();
    note.hidden = false;
    form.querySelector("button").disabled = true;
    setInterval(() => {
      note.textContent = `drafting… ${Math.round((Date.now() - start) / 1000)} s ` +
        "(about a minute on the embedded model)";
    }, 1000);
  });
}
