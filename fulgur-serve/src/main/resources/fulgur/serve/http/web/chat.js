// The chat page: talks to the server's OpenAI-compatible API with fetch and reads the server-sent events itself,
// so text appears token by token. No libraries, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { model: null, messages: [], controller: null };

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function showError(message) {
  const e = $("error");
  e.textContent = message;
  e.hidden = !message;
}

async function errorMessage(res) {
  try {
    const body = await res.json();
    return body.error && body.error.message ? body.error.message : "HTTP " + res.status;
  } catch (_) {
    return "HTTP " + res.status;
  }
}

async function loadModel() {
  const res = await fetch("/v1/models", { headers: headers() });
  if (!res.ok) {
    $("model").textContent = "model unavailable";
    showError(await errorMessage(res) + (res.status === 401 ? " Enter the API key below." : ""));
    return;
  }
  const m = (await res.json()).data[0];
  state.model = m.id;
  const params = m.parameters >= 1e6 ? (m.parameters / 1e6).toFixed(1) + "M" : (m.parameters / 1e3).toFixed(1) + "K";
  $("model").textContent = `${m.id} · ${m.architecture} · ${params} parameters · ${m.device}`;
  $("config").textContent = JSON.stringify(m.config, null, 2);
  showError("");
}

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "message " + role;
  const content = document.createElement("div");
  content.className = "content";
  content.textContent = text;
  div.appendChild(content);
  $("messages").appendChild(div);
  div.scrollIntoView({ block: "end" });
  return div;
}

// Splits the event stream into "data:" payloads (events end with a blank line; CRLF tolerated).
function* events(buffer) {
  let i;
  while ((i = buffer.text.search(/\r?\n\r?\n/)) >= 0) {
    const block = buffer.text.slice(0, i);
    buffer.text = buffer.text.slice(i).replace(/^\r?\n\r?\n/, "");
    const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
    if (data) yield data;
  }
}

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
}

function rate(tokens, seconds) {
  return seconds > 0 ? (tokens / seconds).toFixed(1) : "–";
}

async function send(text) {
  if (!state.model) await loadModel();
  if (!state.model) return;
  showError("");
  state.messages.push({ role: "user", content: text });
  addMessage("user", text);
  const bubble = addMessage("assistant", "");
  bubble.classList.add("streaming");
  bubble.dataset.chunks = "0";
  const content = bubble.querySelector(".content");
  const body = {
    model: state.model,
    messages: state.messages,
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: parseInt($("max-tokens").value, 10) || 200,
    temperature: parseFloat($("temperature").value),
  };
  state.controller = new AbortController();
  setBusy(true);
  const start = performance.now();
  let first = 0, last = 0, chunks = 0, usage = null, finish = null;
  try {
    const res = await fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body), signal: state.controller.signal });
    if (!res.ok) throw new Error(await errorMessage(res));
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const buffer = { text: "" };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer.text += decoder.decode(value, { stream: true });
      for (const data of events(buffer)) {
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.usage) usage = chunk.usage;
        for (const c of chunk.choices || []) {
          if (c.delta && c.delta.content) {
            const now = performance.now();
            if (!first) first = now;
            last = now;
            chunks++;
            content.textContent += c.delta.content;
            bubble.dataset.chunks = String(chunks);
            $("stats").textContent = `${chunks} tokens · ${rate(chunks - 1, (now - first) / 1000)} tok/s`;
          }
          if (c.finish_reason) finish = c.finish_reason;
        }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") showError(e.message);
    finish = finish || (e.name === "AbortError" ? "stopped" : "error");
  } finally {
    setBusy(false);
    state.controller = null;
    bubble.classList.remove("streaming");
  }
  state.messages.push({ role: "assistant", content: content.textContent });
  const tokens = usage ? usage.completion_tokens : chunks;
  const decodeRate = tokens > 1 && last > first ? rate(tokens - 1, (last - first) / 1000) : "–";
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${tokens} tokens · ${decodeRate} tok/s · first token ${first ? Math.round(first - start) : "–"} ms · ${finish || ""}`;
  bubble.appendChild(meta);
  bubble.dataset.done = "true";
  $("stats").textContent = `${tokens} tokens · ${decodeRate} tok/s`;
}

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("prompt").value;
  if (!text.trim() || state.controller) return;
  $("prompt").value = "";
  send(text);
});
$("prompt").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    $("composer").requestSubmit();
  }
});
$("stop").addEventListener("click", () => state.controller && state.controller.abort());
$("clear").addEventListener("click", () => {
  state.messages = [];
  $("messages").textContent = "";
  $("stats").textContent = "";
});
$("api-key").addEventListener("change", loadModel);
loadModel();
