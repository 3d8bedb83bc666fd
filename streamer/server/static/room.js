// streamer's call page: send the camera (and microphone) to /room/NAME, show every other
// participant stylized with the style they chose, and steer your own style over the data channel.
// Slots: the offer receives on (room size - 1) video sections (+1 to see yourself) and as many
// audio ones; the server says which section shows whom in {"type": "room"} messages.
"use strict";

const byId = (id) => document.getElementById(id);

const room = {
  name: decodeURIComponent(location.pathname.split("/").pop() || ""),
  info: null,
  you: null,            // public id
  participantId: null,  // secret: API calls and rejoining
  connection: "new",
  participants: [],     // the last room message's list
  styleAck: null,
  reconnects: 0,
  errors: [],
};
window.room = room;

const fragment = new URLSearchParams(location.hash.slice(1));
const token = fragment.get("token");
let pc = null;
let channel = null;
let media = null;
let lostSince = null;
let requestId = 0;
const tracksByMid = new Map();

function say(text) { byId("status").textContent = text; }

function fail(message) {
  room.errors.push(message);
  byId("error").textContent = message;
  byId("error").hidden = false;
}

async function request(path, options = {}) {
  const headers = { ...(options.headers || {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  const response = await fetch(path, { ...options, headers });
  const body = (response.headers.get("Content-Type") || "").includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

function postJson(path, data) {
  return request(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });
}

// -- style ------------------------------------------------------------------------------------
function styleFields() {
  const fields = { style: byId("style").value || null, strength: byId("strength").value / 100 };
  fields.style2 = byId("style2").value || null;
  if (fields.style2) fields.mix = byId("mix").value / 100;
  return fields;
}

function sendStyle(fields) {
  byId("error").hidden = true;
  if (channel && channel.readyState === "open") {
    channel.send(JSON.stringify({ type: "style", id: ++requestId, ...fields }));
  } else if (room.participantId) {
    postJson(`/api/rooms/${room.name}/participants/${room.participantId}/style`, fields)
      .then((snapshot) => { room.styleAck = snapshot; })
      .catch((error) => fail(`style not changed: ${error.message}`));
  }
}

let styleTimer = null;
function sendStyleSoon(fields) {
  clearTimeout(styleTimer);
  styleTimer = setTimeout(() => sendStyle(fields), 120);
}

// -- tiles ------------------------------------------------------------------------------------
function tileFor(person) {
  let tile = document.querySelector(`#tiles [data-participant="${person.id}"]`);
  if (!tile) {
    tile = document.createElement("figure");
    tile.className = "tile";
    tile.dataset.participant = person.id;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    tile.append(video, document.createElement("figcaption"));
    byId("tiles").append(tile);
  }
  return tile;
}

function render(message) {
  room.you = message.you;
  room.participants = message.participants;
  const present = new Set();
  for (const person of message.participants) {
    const mine = person.id === message.you;
    const style = person.style2 ? `${person.style}+${person.style2}` : (person.style || "no style");
    if (!person.mid) continue;   // not shown here (no free slot, or yourself without self-view)
    present.add(person.id);
    const tile = tileFor(person);
    const video = tile.querySelector("video");
    const tracks = [tracksByMid.get(person.mid), tracksByMid.get(person.audio_mid)].filter(Boolean);
    const current = video.srcObject ? video.srcObject.getTracks() : [];
    if (tracks.length !== current.length || tracks.some((t) => !current.includes(t))) {
      video.srcObject = new MediaStream(tracks);
    }
    video.muted = mine;
    tile.dataset.mid = person.mid;
    tile.querySelector("figcaption").textContent = `${mine ? "you" : person.name} · ${style}`;
  }
  for (const tile of document.querySelectorAll("#tiles [data-participant]")) {
    if (!present.has(tile.dataset.participant)) tile.remove();
  }
  const list = byId("people");
  list.replaceChildren(...message.participants.map((person) => {
    const item = document.createElement("li");
    item.textContent = `${person.name} (${person.style || "no style"}) · ${person.connection}`;
    if (person.id === message.you) item.className = "you";
    return item;
  }));
  say(`in the call: ${message.participants.length} of ${message.size}`);
}

// -- the call -----------------------------------------------------------------------------------
function onMessage(event) {
  let message;
  try { message = JSON.parse(event.data); } catch { return; }
  if (message.type === "room") render(message);
  else if (message.type === "style") {
    if (message.ok) room.styleAck = message; else fail(`style not changed: ${message.error}`);
  } else if (message.type === "error") fail(message.error);
  else if (message.type === "closed") {
    fail(`the server ended your call: ${message.reason}`);
    hangUp(false);
  }
}

// Offer only what the server sends and decodes (VP8, H.264 packetization mode 1, Opus): the
// offer stays small with a section per slot, and no slot settles on a codec the server lacks.
function keepCodecs(transceiver, kind) {
  if (!transceiver.setCodecPreferences || !RTCRtpReceiver.getCapabilities) return;
  const wanted = (c) => (kind === "audio" ? c.mimeType === "audio/opus"
    : c.mimeType === "video/VP8" || c.mimeType === "video/rtx"
      || (c.mimeType === "video/H264" && /packetization-mode=1/.test(c.sdpFmtpLine || "")
          && /profile-level-id=42(e0|00)1f/.test(c.sdpFmtpLine || "")));
  const codecs = (RTCRtpReceiver.getCapabilities(kind) || { codecs: [] }).codecs.filter(wanted);
  try { transceiver.setCodecPreferences(codecs); } catch { /* keep the browser's own list */ }
}

function gathered(peer, ms) {
  return new Promise((resolve) => {
    if (peer.iceGatheringState === "complete") { resolve(); return; }
    peer.addEventListener("icegatheringstatechange", () => {
      if (peer.iceGatheringState === "complete") resolve();
    });
    setTimeout(resolve, ms);
  });
}

async function camera() {
  const video = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } };
  try {
    return await navigator.mediaDevices.getUserMedia({ video, audio: true });
  } catch {
    return navigator.mediaDevices.getUserMedia({ video });   // no microphone: video only
  }
}

async function join(replaces = null) {
  byId("join").disabled = true;
  byId("error").hidden = true;
  try {
    if (!media) {
      say("asking for the camera…");
      media = await camera();
      byId("local").srcObject = media;
    }
    const selfView = byId("self-view").checked;
    pc = new RTCPeerConnection({ iceServers: room.info.ice_servers });
    pc.ontrack = (event) => {
      tracksByMid.set(event.transceiver.mid, event.track);
      if (room.participants.length) render({ you: room.you, participants: room.participants, size: room.info.room_size });
    };
    pc.onconnectionstatechange = watchConnection;
    for (const track of media.getTracks()) {
      keepCodecs(pc.addTransceiver(track, { direction: "sendonly", streams: [media] }), track.kind);
    }
    const others = room.info.room_size - 1;
    for (let i = 0; i < others + (selfView ? 1 : 0); i += 1) {
      keepCodecs(pc.addTransceiver("video", { direction: "recvonly" }), "video");
    }
    for (let i = 0; i < others; i += 1) keepCodecs(pc.addTransceiver("audio", { direction: "recvonly" }), "audio");
    channel = pc.createDataChannel("control");
    channel.onmessage = onMessage;
    say("connecting…");
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 3000);
    const name = byId("name").value.trim();
    localStorage.setItem("streamer-name", name);
    const answer = await postJson(`/api/rooms/${encodeURIComponent(room.name)}/participants`, {
      type: "offer", sdp: pc.localDescription.sdp, name: name || null, self_view: selfView, replaces, ...styleFields(),
    });
    room.participantId = answer.participant_id;
    room.you = answer.id;
    await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
    byId("leave").disabled = false;
  } catch (error) {
    fail(`cannot join: ${error.message}`);
    hangUp(false);
  }
}

function watchConnection() {
  if (!pc) return;
  room.connection = pc.connectionState;
  if (pc.connectionState === "connected") {
    lostSince = null;
  } else if (["disconnected", "failed"].includes(pc.connectionState)) {
    lostSince = lostSince || performance.now();
    // the network went away: rejoin on a fresh connection, keeping our place (and public id)
    if (pc.connectionState === "failed" || performance.now() - lostSince > 3000) reconnect();
  }
}

function reconnect() {
  if (room.reconnects >= 3) { fail("the connection was lost; press Join to try again"); hangUp(true); return; }
  room.reconnects += 1;
  const previous = room.participantId;
  closePeer();
  say("reconnecting…");
  join(previous);
}

function closePeer() {
  if (pc) pc.close();
  pc = null;
  channel = null;
  tracksByMid.clear();
}

function hangUp(sayGoodbye = true) {
  if (sayGoodbye && channel && channel.readyState === "open") channel.send(JSON.stringify({ type: "bye" }));
  if (sayGoodbye && room.participantId) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    fetch(`/api/rooms/${encodeURIComponent(room.name)}/participants/${room.participantId}`,
      { method: "DELETE", keepalive: true, headers }).catch(() => {});
  }
  closePeer();
  room.participantId = null;
  for (const tile of document.querySelectorAll("#tiles [data-participant]")) tile.remove();
  byId("people").replaceChildren();
  byId("join").disabled = false;
  byId("leave").disabled = true;
  say("not in the call");
}

// -- start --------------------------------------------------------------------------------------
async function load() {
  byId("room-name").textContent = room.name;
  byId("name").value = fragment.get("name") || localStorage.getItem("streamer-name") || "";
  try {
    room.info = await request("/api/info");
  } catch (error) {
    fail(`cannot reach the server: ${error.message}`);
    return;
  }
  for (const style of room.info.styles) {
    byId("style").append(new Option(style.title, style.name));
    byId("style2").append(new Option(style.title, style.name));
  }
  if (fragment.get("style")) byId("style").value = fragment.get("style");
  byId("server-info").textContent =
    `model ${room.info.model} · ${room.info.backend} · up to ${room.info.room_size} people per call`;
  byId("style").addEventListener("change", () => sendStyle({ style: byId("style").value }));
  byId("style2").addEventListener("change", () => {
    byId("mix").disabled = !byId("style2").value;
    sendStyle({ style2: byId("style2").value || null, mix: byId("mix").value / 100 });
  });
  byId("strength").addEventListener("input", () => {
    byId("strength-value").textContent = `${byId("strength").value} %`;
    sendStyleSoon({ strength: byId("strength").value / 100 });
  });
  byId("mix").addEventListener("input", () => {
    byId("mix-value").textContent = `${byId("mix").value} %`;
    sendStyleSoon({ mix: byId("mix").value / 100 });
  });
  byId("join").addEventListener("click", () => { room.reconnects = 0; join(); });
  byId("leave").addEventListener("click", () => hangUp(true));
  window.addEventListener("pagehide", () => hangUp(true));
  join();
}

load();
