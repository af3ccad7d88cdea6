// talker's page: talk to the avatar live (docs/REALTIME.md) and make explainer videos (docs/API.md).
// One ES module, no build step, no dependencies.

const PROTOCOL = "talker.realtime/1";
const CLIENT = "talker-web/1";

const TEXT = {
  en: {
    tagline: "An offline digital human", apiKey: "API key", apiKeyHint: "not needed on this computer",
    dismiss: "Dismiss", tabTalk: "Talk", tabVideo: "Explainer video",
    screenHint: "Choose a portrait, then press Start.", start: "Start", interrupt: "Stop talking", stop: "End",
    avatar: "Portrait", upload: "Upload…", uploadHint: "A JPEG, PNG or WebP photo with a face",
    language: "Language", langZh: "Chinese", langEn: "English", voice: "Voice", voiceDefault: "default voice",
    logEmpty: "The conversation will appear here. Speak into your microphone or type below.",
    sayHint: "Type a message…", send: "Send", script: "Script", scriptHint: "What the presenter should say…",
    size: "Size", sizeOriginal: "as the photo", make: "Make video", cancel: "Cancel", download: "Download MP4",
    noAvatars: "no portrait yet: upload one", uploading: "Uploading and checking the face…",
    pickAvatar: "Choose or upload a portrait first.", state_idle: "not connected", state_connecting: "connecting…",
    state_listening: "listening", state_thinking: "thinking", state_speaking: "speaking",
    connected: "Connected. Say something!", ended: "The conversation ended.",
    interrupted: "interrupted ({reason})", typed: "typed",
    latency: "Last answer, after you stopped: first sound {sent} ms · first words {piece} ms · answer audio {answer} ms",
    micDenied: "The microphone is not available", micDeniedDetail: "allow microphone access for this page, or type your messages.",
    network: "The server cannot be reached", networkDetail: "check that `talker serve` is running.",
    connectionLost: "The connection was lost", connectionLostDetail: "press Start to talk again.",
    errorTitle: "Error", stage_waiting: "Waiting in the queue", stage_speech: "Speaking the script",
    stage_render: "Rendering the video", stage_done: "Done", state_failed: "Failed", state_cancelled: "Cancelled",
    videoFailed: "The video could not be made", emptyScript: "Write the script first.",
  },
  zh: {
    tagline: "离线数字人", apiKey: "API 密钥", apiKeyHint: "本机使用无需填写",
    dismiss: "关闭", tabTalk: "对话", tabVideo: "讲解视频",
    screenHint: "选择一张肖像，然后点击“开始”。", start: "开始", interrupt: "打断", stop: "结束",
    avatar: "肖像", upload: "上传…", uploadHint: "带人脸的 JPEG、PNG 或 WebP 照片",
    language: "语言", langZh: "中文", langEn: "英文", voice: "声音", voiceDefault: "默认声音",
    logEmpty: "对话内容会显示在这里。请对着麦克风说话，或在下方输入。",
    sayHint: "输入消息…", send: "发送", script: "讲稿", scriptHint: "数字人要讲的内容…",
    size: "尺寸", sizeOriginal: "与照片相同", make: "生成视频", cancel: "取消", download: "下载 MP4",
    noAvatars: "还没有肖像，请上传", uploading: "正在上传并检测人脸…",
    pickAvatar: "请先选择或上传一张肖像。", state_idle: "未连接", state_connecting: "连接中…",
    state_listening: "正在听", state_thinking: "正在想", state_speaking: "正在说",
    connected: "已连接，请说话！", ended: "对话已结束。",
    interrupted: "已打断（{reason}）", typed: "输入",
    latency: "上一回答（从您说完起）：首个声音 {sent} 毫秒 · 首段文字 {piece} 毫秒 · 回答音频 {answer} 毫秒",
    micDenied: "无法使用麦克风", micDeniedDetail: "请允许本页面使用麦克风，或直接输入文字。",
    network: "无法连接服务器", networkDetail: "请确认 `talker serve` 正在运行。",
    connectionLost: "连接已断开", connectionLostDetail: "点击“开始”重新对话。",
    errorTitle: "出错了", stage_waiting: "排队中", stage_speech: "正在合成语音",
    stage_render: "正在渲染视频", stage_done: "完成", state_failed: "失败", state_cancelled: "已取消",
    videoFailed: "视频生成失败", emptyScript: "请先填写讲稿。",
  },
};

const $ = (selector) => document.querySelector(selector);
let lang = localStorage.getItem("talker.lang") || (navigator.language.toLowerCase().startsWith("zh") ? "zh" : "en");

function t(key, vars = {}) {
  const text = TEXT[lang][key] ?? TEXT.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of document.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
  }
  const state = $("#state");
  state.textContent = t(`state_${state.dataset.state}`);
  fillVoiceDefaults();
  if (!avatars.length) fillAvatars();
}

// ------------------------------------------------------------------------------------------- errors

class ProblemError extends Error {
  constructor(title, detail, status = 0) {
    super(detail ? `${title}: ${detail}` : title);
    this.title = title;
    this.detail = detail;
    this.status = status;
  }
}

function showError(error) {
  let title = t("errorTitle");
  let detail = "";
  if (error instanceof ProblemError) {
    title = error.title;
    detail = error.detail;
  } else if (error instanceof TypeError) {  // fetch's way of saying the network failed
    title = t("network");
    detail = t("networkDetail");
  } else if (error && error.name === "NotAllowedError") {
    title = t("micDenied");
    detail = t("micDeniedDetail");
  } else if (error) {
    detail = String(error.message || error);
  }
  $("#banner-title").textContent = title;
  $("#banner-detail").textContent = detail;
  $("#banner").hidden = false;
}

function hideError() {
  $("#banner").hidden = true;
}

// ------------------------------------------------------------------------------------------- the API

function apiKey() {
  return $("#api-key").value.trim();
}

function authHeaders(extra = {}) {
  const headers = new Headers(extra);
  const key = apiKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  return headers;
}

async function problemOf(response) {
  let title = `${response.status} ${response.statusText}`.trim();
  let detail = "";
  try {
    const body = await response.json();
    if (body && typeof body === "object") {
      title = body.title || title;
      detail = body.detail || "";
      if (Array.isArray(body.errors) && body.errors.length) {
        detail += ` (${body.errors.map((e) => `${e.field}: ${e.problem}`).join("; ")})`;
      }
    }
  } catch {
    // not JSON: the status line says enough
  }
  return new ProblemError(title, detail, response.status);
}

async function request(path, { method = "GET", json, body, headers = {}, signal } = {}) {
  const allHeaders = authHeaders(headers);
  if (json !== undefined) {
    allHeaders.set("Content-Type", "application/json");
    body = JSON.stringify(json);
  }
  const response = await fetch(path, { method, headers: allHeaders, body, signal });
  if (!response.ok) throw await problemOf(response);
  return response;
}

async function api(path, options) {
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
}

// ------------------------------------------------------------------------------------------- pickers

let avatars = [];
let voices = [];

function option(value, label) {
  const el = document.createElement("option");
  el.value = value;
  el.textContent = label;
  return el;
}

function fillAvatars(selected) {
  for (const select of document.querySelectorAll(".avatar-select")) {
    const keep = selected || select.value;
    select.replaceChildren();
    if (!avatars.length) select.append(option("", t("noAvatars")));
    for (const avatar of avatars) select.append(option(avatar.id, avatar.name || avatar.id));
    if (keep && avatars.some((a) => a.id === keep)) select.value = keep;
  }
}

async function loadAvatars(selected) {
  avatars = await api("/v1/avatars");
  avatars.sort((a, b) => b.created - a.created);
  fillAvatars(selected);
  showPortrait();
}

let portraitUrl = null;

async function showPortrait() {
  const id = $("#talk-avatar").value;
  const img = $("#portrait");
  if (!id) {
    img.hidden = true;
    return;
  }
  try {
    const blob = await (await request(`/v1/avatars/${encodeURIComponent(id)}/preview`)).blob();
    if (portraitUrl) URL.revokeObjectURL(portraitUrl);
    portraitUrl = URL.createObjectURL(blob);
    img.src = portraitUrl;
    img.hidden = !$("#remote").hidden;
    $("#screen-hint").hidden = true;
  } catch (error) {
    showError(error);
  }
}

function fillVoiceDefaults() {
  for (const select of document.querySelectorAll(".voice-select")) {
    const first = select.querySelector('option[value=""]');
    if (first) first.textContent = t("voiceDefault");
  }
}

function fillVoices(select, list) {
  const keep = select.value;
  select.replaceChildren(option("", t("voiceDefault")));
  for (const voice of list) {
    const details = [voice.language, voice.gender, voice.kind === "profile" ? "★" : ""].filter(Boolean).join(" · ");
    select.append(option(voice.id, `${voice.id} (${details})`));
  }
  if (list.some((v) => v.id === keep)) select.value = keep;
}

async function loadVoices() {
  voices = await api("/v1/voices");
  const language = $("#talk-language").value;
  fillVoices($("#talk-voice"), voices.filter((v) => v.language.startsWith(language)));
  fillVoices($("#video-voice"), voices.filter((v) => /^(zh|en)/.test(v.language)));
}

async function loadLists() {
  hideError();
  try {
    await Promise.all([loadAvatars(), loadVoices()]);
  } catch (error) {
    showError(error);
  }
}

async function uploadAvatar(file) {
  hideError();
  const banner = $("#banner");
  banner.classList.add("info");
  $("#banner-title").textContent = t("uploading");
  $("#banner-detail").textContent = file.name;
  banner.hidden = false;
  try {
    const created = await api(`/v1/avatars?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file });
    hideError();
    await loadAvatars(created.id);
  } catch (error) {
    showError(error);
  } finally {
    banner.classList.remove("info");
  }
}

// ------------------------------------------------------------------------------------------- talk

let talk = null;  // {id, pc, channel, stream, remote, closing}
let partialEl = null;
const answerEls = new Map();  // turn → element

function setState(state) {
  const el = $("#state");
  el.dataset.state = state;
  el.textContent = t(`state_${state}`);
}

function logEntry(className, text, note) {
  const log = $("#log");
  log.querySelector(".empty")?.remove();
  const el = document.createElement("p");
  el.className = className;
  el.textContent = text;
  if (note) {
    const small = document.createElement("span");
    small.className = "note";
    small.textContent = note;
    el.append(small);
  }
  log.append(el);
  log.scrollTop = log.scrollHeight;
  return el;
}

function onEvent(event) {
  switch (event.type) {
    case "hello":
      talk.channel.send(JSON.stringify({ type: "hello", protocol: PROTOCOL, client: CLIENT }));
      setState("listening");  // a conversation starts listening; `state` messages only tell changes
      logEntry("system", t("connected"));
      break;
    case "state":
      setState(event.state);
      break;
    case "transcript":
      if (!event.final) {
        partialEl ??= logEntry("msg user partial", "");
        partialEl.textContent = event.text;
        partialEl.dataset.language = event.language || "";
      } else {
        partialEl?.remove();
        partialEl = null;
        logEntry("msg user final", event.text, event.source === "typed" ? t("typed") : "");
      }
      $("#log").scrollTop = $("#log").scrollHeight;
      break;
    case "answer": {
      let el = answerEls.get(event.turn);
      if (!el) {
        el = logEntry("msg avatar", "");
        answerEls.set(event.turn, el);
      }
      const before = el.textContent;
      const space = before && /[\w.,!?;:'")]$/.test(before) && /^[A-Za-z0-9"'(]/.test(event.text) ? " " : "";
      el.textContent = before + space + event.text;
      $("#log").scrollTop = $("#log").scrollHeight;
      break;
    }
    case "interrupted": {
      const el = answerEls.get(event.turn);
      if (el) el.classList.add("cut");
      logEntry("system", t("interrupted", { reason: event.reason }));
      break;
    }
    case "latency":
      $("#latency").textContent = t("latency", {
        sent: Math.round(event.first_audio_sent_ms), piece: Math.round(event.first_piece_ms),
        answer: Math.round(event.answer_audio_sent_ms ?? event.first_audio_sent_ms),
      });
      break;
    case "error":
      showError(new ProblemError(t("errorTitle"), event.detail));
      break;
    default:
      break;  // unknown types are ignored (forward compatible)
  }
}

function waitForIceGathering(pc, timeoutMs = 5000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      clearTimeout(timer);
      resolve();
    };
    // whatever was gathered by then is offered: host candidates come at once on a LAN
    const timer = setTimeout(() => {
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    }, timeoutMs);
    pc.addEventListener("icegatheringstatechange", done);
  });
}

function setTalking(on) {
  $("#start").disabled = on;
  $("#stop").disabled = !on;
  $("#interrupt").disabled = !on;
  $("#say-text").disabled = !on;
  $("#say-send").disabled = !on;
  for (const el of ["#talk-avatar", "#talk-voice", "#talk-language", "#avatar-file"]) $(el).disabled = on;
}

async function startTalk() {
  hideError();
  const avatar = $("#talk-avatar").value;
  if (!avatar) {
    showError(new ProblemError(t("pickAvatar"), ""));
    return;
  }
  setTalking(true);
  setState("connecting");
  $("#latency").textContent = "";
  answerEls.clear();
  partialEl = null;
  try {
    const body = { avatar, language: $("#talk-language").value };
    if ($("#talk-voice").value) body.voice = $("#talk-voice").value;
    const session = await api("/v1/realtime/sessions", { method: "POST", json: body });
    const pc = new RTCPeerConnection({ iceServers: session.ice_servers || [] });
    talk = { id: session.id, pc, channel: null, stream: null, remote: new MediaStream(), closing: false };
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true }, video: false,
    });
    talk.stream = stream;
    for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
    const channel = pc.createDataChannel("talker");
    talk.channel = channel;
    channel.addEventListener("message", (message) => {
      if (talk?.channel !== channel) return;  // a session being closed
      try {
        onEvent(JSON.parse(message.data));
      } catch (error) {
        console.warn("bad message on the data channel", error);
      }
    });
    channel.addEventListener("close", () => {
      if (talk && talk.channel === channel && !talk.closing) endTalk(true, true);
    });
    pc.addTransceiver("audio", { direction: "recvonly" });
    pc.addTransceiver("video", { direction: "recvonly" });
    const current = talk;
    pc.addEventListener("track", (event) => {
      current.remote.addTrack(event.track);
      const video = $("#remote");
      if (video.srcObject !== current.remote) video.srcObject = current.remote;
      video.hidden = false;
      $("#portrait").hidden = true;
      $("#screen-hint").hidden = true;
      video.play().catch(() => {});  // autoplay may wait for the next click; the Start click usually counts
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed" && talk === current && !current.closing) {
        showError(new ProblemError(t("connectionLost"), t("connectionLostDetail")));
        endTalk(false);
      }
    });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);
    const answer = await api(`/v1/realtime/sessions/${session.id}/offer`, {
      method: "POST", json: { type: "offer", sdp: pc.localDescription.sdp },
    });
    await pc.setRemoteDescription(answer);
  } catch (error) {
    showError(error);
    await endTalk(false);
  }
}

async function endTalk(notify = true, serverEnded = false) {
  // The user's End: DELETE the session (the server closes its side), then close ours. When the server ended it
  // (its data channel closed), there is nothing left to delete.
  const current = talk;
  if (!current) return;
  current.closing = true;
  talk = null;
  current.stream?.getTracks().forEach((track) => track.stop());
  const video = $("#remote");
  video.srcObject = null;
  video.hidden = true;
  $("#portrait").hidden = !portraitUrl;
  setTalking(false);
  setState("idle");
  partialEl?.remove();
  partialEl = null;
  if (notify) logEntry("system", t("ended"));
  try {
    if (!serverEnded) await request(`/v1/realtime/sessions/${current.id}`, { method: "DELETE" });
  } catch (error) {
    if (!(error instanceof ProblemError && error.status === 404)) showError(error);  // 404: already over
  } finally {
    current.pc.close();
  }
}

function send(message) {
  if (talk?.channel?.readyState === "open") talk.channel.send(JSON.stringify(message));
}

// ------------------------------------------------------------------------------------------- video

let job = null;  // {id, abort}
let videoUrl = null;

function showJob(status) {
  $("#video-job").hidden = false;
  const percent = Math.round(status.percent ?? 0);
  $("#video-progress").value = percent;
  $("#video-percent").textContent = `${percent} %`;
  const label = status.state === "failed" || status.state === "cancelled"
    ? t(`state_${status.state}`) : t(`stage_${status.stage}`);
  $("#video-stage").textContent = label;
}

function parseSse(buffer, onEvent) {
  // Events are separated by a blank line; each has `event:` and `data:` lines. Returns what is left over.
  const blocks = buffer.split(/\r?\n\r?\n/);
  const rest = blocks.pop();
  for (const block of blocks) {
    let name = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length) onEvent(name, JSON.parse(data.join("\n")));
  }
  return rest;
}

async function followJob(id, signal) {
  let last = null;
  try {
    const response = await request(`/v1/videos/${id}/events`, { signal });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = parseSse(buffer + value, (_name, status) => {
        last = status;
        showJob(status);
      });
      if (last && ["succeeded", "failed", "cancelled"].includes(last.state)) break;
    }
  } catch (error) {
    if (signal.aborted) return null;
    console.warn("following the job's events failed; polling instead", error);
  }
  while (!last || !["succeeded", "failed", "cancelled"].includes(last.state)) {  // the stream ended early
    if (signal.aborted) return null;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    last = await api(`/v1/videos/${id}`, { signal });
    showJob(last);
  }
  return last;
}

async function makeVideo(event) {
  event.preventDefault();
  hideError();
  const text = $("#video-text").value;
  const avatar = $("#video-avatar").value;
  if (!avatar) return showError(new ProblemError(t("pickAvatar"), ""));
  if (!text.trim()) return showError(new ProblemError(t("emptyScript"), ""));
  const body = { avatar, text };
  if ($("#video-voice").value) body.voice = $("#video-voice").value;
  if ($("#video-size").value) body.size = Number($("#video-size").value);
  $("#video-make").disabled = true;
  $("#video-done").hidden = true;
  try {
    const created = await api("/v1/videos", { method: "POST", json: body });
    const abort = new AbortController();
    job = { id: created.id, abort };
    $("#video-cancel").disabled = false;
    showJob(created);
    const final = await followJob(created.id, abort.signal);
    if (final?.state === "succeeded") {
      const blob = await (await request(final.content)).blob();
      if (videoUrl) URL.revokeObjectURL(videoUrl);
      videoUrl = URL.createObjectURL(blob);
      $("#video-result").src = videoUrl;
      $("#video-download").href = videoUrl;
      $("#video-download").download = `${created.id}.mp4`;
      $("#video-done").hidden = false;
    } else if (final?.state === "failed") {
      showError(new ProblemError(t("videoFailed"), final.error || ""));
    }
  } catch (error) {
    showError(error);
  } finally {
    job = null;
    $("#video-make").disabled = false;
    $("#video-cancel").disabled = true;
  }
}

async function cancelVideo() {
  if (!job) return;
  $("#video-cancel").disabled = true;
  try {
    showJob(await api(`/v1/videos/${job.id}/cancel`, { method: "POST" }));
  } catch (error) {
    showError(error);
  }
}

// ------------------------------------------------------------------------------------------- wiring

function selectTab(name) {
  for (const tab of ["talk", "video"]) {
    $(`#tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(`#panel-${tab}`).hidden = tab !== name;
  }
}

function init() {
  const key = $("#api-key");
  key.value = localStorage.getItem("talker.apiKey") || "";
  key.addEventListener("change", () => {
    localStorage.setItem("talker.apiKey", key.value.trim());
    loadLists();
  });
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.addEventListener("click", () => {
      lang = button.dataset.lang;
      localStorage.setItem("talker.lang", lang);
      applyLanguage();
    });
  }
  $("#talk-language").value = localStorage.getItem("talker.talkLanguage") || lang;
  $("#talk-language").addEventListener("change", () => {
    localStorage.setItem("talker.talkLanguage", $("#talk-language").value);
    loadVoices().catch(showError);
  });
  $("#banner-close").addEventListener("click", hideError);
  $("#tab-talk").addEventListener("click", () => selectTab("talk"));
  $("#tab-video").addEventListener("click", () => selectTab("video"));
  $("#talk-avatar").addEventListener("change", showPortrait);
  $("#avatar-file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (file) uploadAvatar(file);
  });
  $("#start").addEventListener("click", startTalk);
  $("#stop").addEventListener("click", () => endTalk(true));
  $("#interrupt").addEventListener("click", () => send({ type: "interrupt" }));
  $("#say").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("#say-text").value.trim();
    if (!text) return;
    send({ type: "text", text });
    $("#say-text").value = "";
  });
  $("#video-form").addEventListener("submit", makeVideo);
  $("#video-cancel").addEventListener("click", cancelVideo);
  window.addEventListener("pagehide", () => {
    if (talk) {
      const id = talk.id;
      talk.pc.close();
      fetch(`/v1/realtime/sessions/${id}`, { method: "DELETE", headers: authHeaders(), keepalive: true });
    }
  });
  applyLanguage();
  loadLists();
}

init();
