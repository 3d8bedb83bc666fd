// streamer's page: send the camera over WebRTC, show the stylized video that comes back, and
// steer the style over the session's data channel (HTTP when the channel is not open).
"use strict";

const $ = (id) => document.getElementById(id);

// Everything worth inspecting (tests read it through window.streamer).
const state = {
  info: null,
  sessionId: null,
  connection: "new",
  channelOpen: false,
  selected: null,        // main style name
  styleAck: null,        // last style the server confirmed (from the data channel)
  styleAcks: 0,
  uploads: [],
  fps: 0,
  rttMs: null,
  server: null,          // last stats message
  serverAddresses: [],   // where the server's answer said its media is (ICE candidates)
  iceFailure: null,      // why the media connection did not come up, when it did not
  errors: [],
};
window.streamer = state;

const token = new URLSearchParams(location.hash.slice(1)).get("token");
const ICE_WAIT_MS = 8000;   // no media connection by then: say why (the issue asks for < 10 s)
const INFO_PERIOD_MS = 2000;
let pc = null;
let channel = null;
let camera = null;
let timers = [];
let iceTimer = null;
let lastFrameAt = 0;
let requestId = 0;
const previewUrls = new Map();

function showStatus(text) { $("status").textContent = text; }

function showError(message) {
  state.errors.push(message);
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function clearError() { $("error").hidden = true; }

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const response = await fetch(path, { ...options, headers });
  const kind = response.headers.get("Content-Type") || "";
  if (!kind.includes("json")) {
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    return response;
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

// -- gallery --------------------------------------------------------------------------------
async function previewUrl(name) {
  if (!previewUrls.has(name)) {
    const promise = api(`/api/styles/${encodeURIComponent(name)}/preview.jpg`)
      .then((r) => r.blob()).then((b) => URL.createObjectURL(b)).catch(() => "");
    previewUrls.set(name, promise);
  }
  return previewUrls.get(name);
}

function addStyleButton(name, title, imageUrl) {
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.style = name;
  button.title = title;
  const img = document.createElement("img");
  img.alt = "";
  const label = document.createElement("span");
  label.textContent = title;
  button.append(img, label);
  button.addEventListener("click", () => chooseStyle(name));
  $("gallery").append(button);
  Promise.resolve(imageUrl || previewUrl(name)).then((url) => { if (url) img.src = url; });

  const option = document.createElement("option");
  option.value = name;
  option.textContent = title;
  $("style2").append(option);
}

function markSelected(name) {
  state.selected = name;
  for (const button of $("gallery").querySelectorAll("button")) {
    button.classList.toggle("selected", button.dataset.style === name);
  }
}

// -- style control --------------------------------------------------------------------------
async function sendStyle(fields) {
  clearError();
  if (channel && channel.readyState === "open") {
    channel.send(JSON.stringify({ type: "style", id: ++requestId, ...fields }));
    return;
  }
  if (!state.sessionId) return;
  try {
    const snapshot = await api(`/api/sessions/${state.sessionId}/style`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(fields),
    });
    acknowledge({ ok: true, ...snapshot });
  } catch (error) {
    showError(`style not changed: ${error.message}`);
  }
}

function chooseStyle(name) {
  markSelected(name);
  sendStyle({ style: name });
}

function acknowledge(message) {
  if (!message.ok) {
    showError(`style not changed: ${message.error}`);
    return;
  }
  state.styleAck = message;
  state.styleAcks += 1;
  markSelected(message.style);
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

const sendStrength = debounce(() => sendStyle({ strength: $("strength").value / 100 }), 120);
const sendMix = debounce(() => sendStyle({ mix: $("mix").value / 100 }), 120);

async function uploadStyle(file) {
  clearError();
  if (!state.sessionId) return;
  if (state.info && file.size > state.info.max_upload_bytes) {
    showError(`${file.name} is too large (limit ${Math.round(state.info.max_upload_bytes / 1048576)} MB)`);
    return;
  }
  showStatus(`uploading ${file.name}…`);
  try {
    const result = await api(`/api/sessions/${state.sessionId}/styles`, {
      method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file,
    });
    if (!state.uploads.includes(result.name)) {
      state.uploads.push(result.name);
      addStyleButton(result.name, file.name, URL.createObjectURL(file));
    }
    acknowledge({ ok: true, ...result });
    showStatus("connected");
  } catch (error) {
    showError(`upload refused: ${error.message}`);
    showStatus("connected");
  }
}

// -- data channel ---------------------------------------------------------------------------
function onMessage(event) {
  let message;
  try { message = JSON.parse(event.data); } catch { return; }
  if (message.type === "pong" && typeof message.t === "number") {
    state.rttMs = performance.now() - message.t;
    $("rtt").textContent = `${state.rttMs.toFixed(0)} ms`;
  } else if (message.type === "stats") {
    state.server = message;
    $("latency").textContent = message.latency_ms == null ? "–" : `${message.latency_ms.toFixed(0)} ms`;
    $("dropped").textContent = String(message.dropped);
  } else if (message.type === "style") {
    acknowledge(message);
  } else if (message.type === "error") {
    showError(message.error);
  } else if (message.type === "closed") {
    if (event.target !== channel) return;  // a session this page already stopped
    showError(`the server ended the session: ${message.reason}`);
    stop();
  }
}

function openChannel() {
  channel = pc.createDataChannel("control");
  channel.onopen = () => {
    state.channelOpen = true;
    timers.push(setInterval(() => {
      if (channel.readyState === "open") {
        channel.send(JSON.stringify({ type: "ping", id: ++requestId, t: performance.now() }));
      }
    }, 1000));
  };
  channel.onclose = () => { state.channelOpen = false; };
  channel.onmessage = onMessage;
}

// -- frame rate of what we show -------------------------------------------------------------
function countFrames(video) {
  let frames = 0;
  let since = performance.now();
  const tick = () => {
    frames += 1;
    const now = performance.now();
    lastFrameAt = now;
    if (now - since >= 1000) {
      state.fps = (frames * 1000) / (now - since);
      $("fps").textContent = state.fps.toFixed(1);
      frames = 0;
      since = now;
    }
    if (pc) video.requestVideoFrameCallback(tick);
  };
  video.requestVideoFrameCallback(tick);
}

// -- the call -------------------------------------------------------------------------------
function iceGatheringDone(peer, ms) {
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (peer.iceGatheringState === "complete") resolve(); };
    peer.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ms);
  });
}

async function start() {
  $("start").disabled = true;
  clearError();
  try {
    if (!state.info) await loadInfo();
    showStatus("asking for the camera…");
    camera = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
      audio: state.info.audio === "echo",
    });
    $("local").srcObject = camera;

    pc = new RTCPeerConnection({ iceServers: state.info.ice_servers });
    const remote = new MediaStream();
    $("remote").srcObject = remote;
    pc.ontrack = (event) => remote.addTrack(event.track);
    pc.onconnectionstatechange = () => {
      if (!pc) return;
      state.connection = pc.connectionState;
      showStatus(pc.connectionState === "connected" ? "connected" : pc.connectionState);
      if (pc.connectionState === "connected") {
        clearTimeout(iceTimer);
        refreshInfo();
      } else if (pc.connectionState === "failed") {
        iceFailed("the media connection failed");
      }
    };
    for (const track of camera.getTracks()) {
      const sender = pc.addTrack(track, camera);
      if (track.kind === "video") keepResolution(sender);
    }
    openChannel();

    showStatus("connecting…");
    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringDone(pc, 3000);
    const fields = { type: "offer", sdp: pc.localDescription.sdp, strength: $("strength").value / 100 };
    if (state.selected) fields.style = state.selected;
    if ($("style2").value) Object.assign(fields, { style2: $("style2").value, mix: $("mix").value / 100 });
    const answer = await api("/api/sessions", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(fields),
    });
    state.sessionId = answer.session_id;
    state.serverAddresses = candidateAddresses(answer.sdp);
    await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
    iceTimer = setTimeout(() => {
      if (pc && pc.connectionState !== "connected") iceFailed(`no media connection after ${ICE_WAIT_MS / 1000} s`);
    }, ICE_WAIT_MS);
    countFrames($("remote"));
    $("stop").disabled = false;
    $("upload").disabled = false;
    $("sound").disabled = state.info.audio !== "echo";
  } catch (error) {
    showError(`cannot start: ${error.message}`);
    stop();
  }
}

// -- when the media cannot flow: say why and what to try ---------------------------------------
function candidateAddresses(sdp) {
  const found = [];
  for (const match of sdp.matchAll(/^a=candidate:\S+ \d+ \S+ \d+ (\S+) (\d+) typ (\S+)/gm)) {
    const address = match[1].includes(":") ? `[${match[1]}]:${match[2]}` : `${match[1]}:${match[2]}`;
    if (!found.includes(address)) found.push(address);
  }
  return found;
}

function isLoopback(host) {
  return /^(127\.|\[?::1\]?$|localhost$)/.test(host);
}

function iceAdvice(addresses) {
  if (addresses.length === 0) {
    return "The server offered no address for the media: check its --ice-host.";
  }
  const offered = `The server offered ${addresses.join(", ")} for the media (UDP).`;
  if (addresses.every((a) => isLoopback(a.replace(/:\d+$/, ""))) && !isLoopback(location.hostname)) {
    return `${offered} That is its loopback address, reachable from its own machine only: ` +
      "open the page there, or restart the server with --host 0.0.0.0 --token ... " +
      "--ice-host <an address of the server this device can reach>.";
  }
  return `${offered} This browser could not reach it: check that a firewall lets UDP through ` +
    "to that address, give the server --ice-host <an address this device can reach>, " +
    "or, across networks, a TURN server (--ice-server turn:USER:PASSWORD@HOST:PORT). " +
    "On a machine whose only network is loopback, Chrome needs --allow-loopback-in-peer-connection.";
}

function iceFailed(what) {
  clearTimeout(iceTimer);
  state.iceFailure = what;
  showError(`${what} (ICE). ${iceAdvice(state.serverAddresses || [])}`);
  stop();
}

async function keepResolution(sender) {
  // The server stylizes every frame at one processing size; a steady input size keeps it batched.
  try {
    const parameters = sender.getParameters();
    parameters.degradationPreference = "maintain-resolution";
    await sender.setParameters(parameters);
  } catch { /* not supported here: the browser may scale the camera down under load */ }
}

function stop() {
  const id = state.sessionId;
  if (channel && channel.readyState === "open") channel.send(JSON.stringify({ type: "bye" }));
  if (id) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    fetch(`/api/sessions/${id}`, { method: "DELETE", keepalive: true, headers }).catch(() => {});
  }
  timers.forEach(clearInterval);
  timers = [];
  clearTimeout(iceTimer);
  if (pc) pc.close();
  if (camera) camera.getTracks().forEach((t) => t.stop());
  pc = null;
  channel = null;
  camera = null;
  lastFrameAt = 0;
  refreshMeters();
  refreshInfo();
  forgetUploads();
  state.sessionId = null;
  state.channelOpen = false;
  state.connection = "closed";
  $("start").disabled = false;
  $("stop").disabled = true;
  $("upload").disabled = true;
  if (!$("error").hidden) showStatus("stopped"); else showStatus("stopped: press Start");
}

function forgetUploads() {
  // uploaded styles belong to the session that received them
  for (const element of document.querySelectorAll('#gallery [data-style^="upload-"], #style2 option[value^="upload-"]')) {
    element.remove();
  }
  if (state.selected && state.selected.startsWith("upload-")) markSelected(state.info ? state.info.default_style : null);
  state.uploads = [];
}

function showInfo(info) {
  $("server-info").textContent =
    `model ${info.model} · ${info.backend} · processing size ${info.size} · ` +
    `${info.sessions}/${info.max_sessions} sessions`;
}

async function loadInfo() {
  state.info = await api("/api/info");
  const info = state.info;
  showInfo(info);
  for (const style of info.styles) addStyleButton(style.name, style.title);
  $("no-styles").hidden = info.styles.length > 0;
  if (!state.selected && info.default_style) markSelected(info.default_style);
}

// -- meters and the session counter stay live ------------------------------------------------
async function refreshInfo() {
  if (!state.info || document.hidden) return;
  try {
    const info = await api("/api/info");
    state.info.sessions = info.sessions;
    showInfo(state.info);
  } catch { /* the server is away: the next tick tries again */ }
}

function refreshMeters() {
  if (pc && lastFrameAt && performance.now() - lastFrameAt > 1500) {
    state.fps = 0;   // no frame lately: the video is frozen, say so
    $("fps").textContent = "0.0";
  }
  if (!pc) {
    for (const id of ["fps", "rtt", "latency", "dropped"]) $(id).textContent = "–";
  }
}

function wireControls() {
  setInterval(refreshInfo, INFO_PERIOD_MS);
  setInterval(refreshMeters, 1000);
  $("start").addEventListener("click", start);
  $("stop").addEventListener("click", stop);
  $("strength").addEventListener("input", () => {
    $("strength-value").textContent = `${$("strength").value} %`;
    sendStrength();
  });
  $("mix").addEventListener("input", () => {
    $("mix-value").textContent = `${$("mix").value} %`;
    sendMix();
  });
  $("style2").addEventListener("change", () => {
    const name = $("style2").value || null;
    $("mix").disabled = !name;
    sendStyle({ style2: name, mix: $("mix").value / 100 });
  });
  $("upload").addEventListener("change", () => {
    const file = $("upload").files[0];
    if (file) uploadStyle(file);
    $("upload").value = "";
  });
  $("sound").addEventListener("change", () => { $("remote").muted = !$("sound").checked; });
  window.addEventListener("pagehide", stop);
}

wireControls();
start();
