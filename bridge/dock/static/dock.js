// facebridge dock: live state by Server-Sent Events, commands by POST (same JSON as the hotkeys).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_PHOTO = 8 * 1024 * 1024;
  const CHOICES = [["@auto", "profile's choice"], ["@keep", "as is (no swap)"], ["@blur", "blur"]];
  let status = null, targetKey = "", faceKey = "", pending = null, view = "output";

  // -- commands ---------------------------------------------------------------------------
  async function post(path, body) {
    const reply = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify(body), credentials: "same-origin"});
    let data = null;
    const text = await reply.text();
    try { data = JSON.parse(text); } catch { data = {error: text.trim()}; }
    return {ok: reply.ok, status: reply.status, data};
  }
  async function command(body) {
    try {
      const reply = await post("command", body);
      if (!reply.ok) say(reply.data.error || `refused (${reply.status})`, "error");
    } catch (error) { say("the bridge did not answer; is it running?", "error"); }
  }
  function say(text, kind) {
    const line = $("message");
    line.textContent = text;
    line.className = "message" + (kind ? " " + kind : "");
  }

  // -- rendering --------------------------------------------------------------------------
  function onAir(s) {
    const box = $("onair"), text = $("onair-text");
    if (s.panic) { box.className = "onair panic"; text.textContent = "PANIC — every face covered"; }
    else if (s.bypass) { box.className = "onair bypass"; text.textContent = "BYPASS — real faces on air"; }
    else if (s.active_target !== undefined) {
      box.className = "onair swapping"; text.textContent = `Swapping — ${s.active_target || "no target"}`;
    } else { box.className = "onair off"; text.textContent = "Face analysis is off in this profile"; }
    for (const [id, on] of [["bypass", s.bypass], ["panic", s.panic]]) $(id).setAttribute("aria-pressed", String(!!on));
  }

  function renderTargets(s) {
    const names = s.targets || [];
    const key = names.join("\n");
    const box = $("targets");
    if (key !== targetKey) {
      targetKey = key;
      box.replaceChildren(...names.map((name, i) => {
        const button = document.createElement("button");
        button.type = "button"; button.className = "target"; button.dataset.name = name;
        const img = document.createElement("img");
        img.src = "thumb?name=" + encodeURIComponent(name); img.alt = ""; img.loading = "lazy";
        const label = document.createElement("span"); label.className = "name"; label.textContent = name;
        button.append(img, label);
        if (i < 9) {
          const slot = document.createElement("span"); slot.className = "slot"; slot.textContent = String(i + 1);
          button.append(slot);
          button.setAttribute("aria-keyshortcuts", String(i + 1));
        }
        button.setAttribute("aria-label", `Target ${i + 1}: ${name}`);
        button.addEventListener("click", () => command({action: "select_target", target: name}));
        return button;
      }));
    }
    for (const button of box.children) button.setAttribute("aria-pressed", String(button.dataset.name === s.active_target));
  }

  function faceId(t) { return t.slot != null ? {face: t.slot} : {track: t.id}; }
  function faceName(t) { return t.slot != null ? String(t.slot) : "#" + t.id; }
  function shown(t, s) {
    if (t.state === "fallback") return "fallback";
    if (t.target === "@blur") return "blurred";
    if (t.target == null) return "as is";
    // between detections every face coasts on optical flow: news only once a detection missed it
    return t.state === "coasting" && (t.misses ?? 1) > 0 ? "coasting" : "swapped";
  }

  function renderFaces(s) {
    const tracks = [...(s.tracks || [])].sort((a, b) => (a.slot ?? 1e6 + a.id) - (b.slot ?? 1e6 + b.id));
    const body = $("faces");
    $("no-faces").hidden = tracks.length > 0;
    const key = tracks.map(faceName).join(",") + "|" + targetKey;
    if (key !== faceKey) {
      faceKey = key;
      body.replaceChildren(...tracks.map((t) => {
        const row = document.createElement("tr");
        row.dataset.face = faceName(t);
        const select = document.createElement("select");
        select.setAttribute("aria-label", `Target for face ${faceName(t)}`);
        for (const [value, text] of [...CHOICES.slice(0, 1), ...(s.targets || []).map((n) => [n, n]), ...CHOICES.slice(1)]) {
          select.append(new Option(text, value));
        }
        select.addEventListener("change", () => {
          command({action: "set_face_target", ...faceId(t), target: select.value});
          select.blur();
        });
        const cells = ["slot", "person", "state", "wears"].map(() => document.createElement("td"));
        cells[3].append(select);
        row.append(...cells);
        return row;
      }));
    }
    tracks.forEach((t, i) => {
      const cells = body.children[i].children;
      cells[0].textContent = "Face " + faceName(t);
      cells[1].textContent = t.person || "unknown";
      const state = shown(t, s);
      cells[2].innerHTML = "";
      const tag = document.createElement("span");
      tag.className = "state " + state.replace(" ", "-"); tag.textContent = state;
      cells[2].append(tag);
      const select = cells[3].firstChild;
      if (document.activeElement !== select) {
        select.value = t.target == null ? "@keep" : t.target;
        if (select.selectedIndex < 0) select.value = "@auto";
      }
    });
  }

  function renderHealth(s) {
    const parts = [];
    const item = (label, value, bad) => {
      const span = document.createElement("span");
      span.append(label + " ");
      const b = document.createElement("b"); b.textContent = value; if (bad) b.className = "bad";
      span.append(b); parts.push(span);
    };
    const input = s.input || {}, output = s.output || {}, frames = s.frames || {}, obs = s.obs || {};
    item("in", `${input.connected === false ? "lost" : (input.fps || 0).toFixed(1) + " fps"}`, input.connected === false);
    item("out", `${(output.fps || 0).toFixed(1)} fps`);
    item("p95", `${Math.round((s.latency || {}).p95_ms || 0)} ms`);
    item("drops", String((frames.dropped || 0) + (frames.ndi_dropped || 0)));
    item("leaks", String(s.leaks || 0), (s.leaks || 0) > 0);
    item("fallbacks", String(s.fallbacks || 0));
    item("OBS", obs.connected ? "connected" : (obs.enabled === false ? "off" : "not connected"), obs.enabled !== false && !obs.connected);
    const scene = s.scene || obs.scene || obs.program_scene;
    if (scene) item("scene", scene);
    const sync = obs.audio_sync || {};
    if (sync.offset_ms != null) item("audio offset", `${sync.offset_ms} ms`);
    const rec = s.recording || {};
    if (rec.state && rec.state !== "off") {
      const file = rec.file ? rec.file.split(/[\\/]/).pop() : "";
      item("rec", rec.state === "recording" ? `● ${file}` : `${rec.state}${rec.error ? ": " + rec.error : ""}`,
           rec.state === "failed");
    }
    $("health").replaceChildren(...parts);
  }

  function render(s) {
    status = s;
    onAir(s); renderTargets(s); renderFaces(s); renderHealth(s);
  }

  // -- live updates -----------------------------------------------------------------------
  function connect() {
    const events = new EventSource("events");
    events.addEventListener("status", (event) => { $("lost").hidden = true; render(JSON.parse(event.data)); });
    events.addEventListener("open", () => {
      if (!$("lost").hidden) restartPreview();  // back after losing the bridge: the picture stream died too
      $("lost").hidden = true;
    });
    events.addEventListener("error", () => {
      $("lost").hidden = false;
      if (events.readyState === EventSource.CLOSED) setTimeout(connect, 2000);  // e.g. refused: retry ourselves
    });
  }

  // -- preview ----------------------------------------------------------------------------
  const preview = $("preview");
  let retry = null;
  function restartPreview() {
    clearTimeout(retry);
    if (document.hidden) return;
    preview.src = `preview?view=${view}&t=${Date.now()}`;
  }
  preview.addEventListener("load", () => { $("preview-note").hidden = true; });
  preview.addEventListener("error", () => {
    if (document.hidden || !preview.getAttribute("src")) return;
    $("preview-note").hidden = false;
    clearTimeout(retry);
    retry = setTimeout(restartPreview, 2000);
  });
  for (const radio of document.querySelectorAll('input[name="view"]')) {
    radio.addEventListener("change", () => {
      view = radio.value;
      preview.alt = `Live preview of the bridge's ${view}, faces outlined and labelled`;
      restartPreview();
    });
  }

  // -- buttons and keys -------------------------------------------------------------------
  $("bypass").addEventListener("click", () => command({action: "set_bypass", on: !(status && status.bypass)}));
  $("panic").addEventListener("click", () => command({action: "set_panic", on: !(status && status.panic)}));
  document.addEventListener("keydown", (event) => {
    const tag = (event.target.tagName || "").toLowerCase();
    if (event.ctrlKey || event.metaKey || event.altKey || tag === "select" || tag === "input" || tag === "textarea") return;
    if (event.key >= "1" && event.key <= "9") {
      command({action: "select_target", slot: Number(event.key)});
      event.preventDefault();
    }
  });

  // -- adding a target from a photo -------------------------------------------------------
  async function addPhoto(file, face) {
    if (!file) return;
    if (!file.type.startsWith("image/") && !/\.(jpe?g|png|webp|bmp)$/i.test(file.name)) {
      say(`${file.name}: not an image (use a JPEG, PNG or WebP photo)`, "error"); return;
    }
    if (file.size > MAX_PHOTO) { say(`${file.name}: ${(file.size / 2 ** 20).toFixed(1)} MB; 8 MB at most`, "error"); return; }
    say(`checking ${file.name}…`);
    const image = await new Promise((done, fail) => {
      const reader = new FileReader();
      reader.onload = () => done(reader.result); reader.onerror = () => fail(reader.error);
      reader.readAsDataURL(file);
    });
    let reply;
    try {
      reply = await post("target", face == null ? {image, filename: file.name} : {image, filename: file.name, face});
    } catch { say("the bridge did not answer; is it running?", "error"); return; }
    if (reply.status === 409 && reply.data.faces) { showPick(file, reply.data); return; }
    $("pick").hidden = true;
    if (reply.ok) say(`added target ${reply.data.target}`, "ok");
    else say(reply.data.error || `refused (${reply.status})`, "error");
  }
  function showPick(file, data) {
    pending = file;
    $("pick-text").textContent = data.error;
    $("pick-faces").replaceChildren(...data.faces.map((choice) => {
      const button = document.createElement("button");
      button.type = "button"; button.setAttribute("aria-label", `Use face ${choice.face + 1}`);
      const img = document.createElement("img"); img.src = choice.thumb; img.alt = "";
      button.append(img);
      button.addEventListener("click", () => addPhoto(pending, choice.face));
      return button;
    }));
    $("pick").hidden = false;
    say("");
  }
  $("pick-cancel").addEventListener("click", () => { $("pick").hidden = true; pending = null; say(""); });
  $("photo").addEventListener("change", (event) => { addPhoto(event.target.files[0]); event.target.value = ""; });
  const drop = $("drop");
  document.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  document.addEventListener("dragleave", (event) => { if (!event.relatedTarget) drop.classList.remove("over"); });
  document.addEventListener("drop", (event) => {
    event.preventDefault(); drop.classList.remove("over");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) addPhoto(file); else say("drop a photo file (a JPEG, PNG or WebP)", "error");
  });

  // a hidden dock (closed tab, collapsed OBS dock) stops its picture stream: the bridge encodes nothing for it
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) { clearTimeout(retry); preview.removeAttribute("src"); } else restartPreview();
  });

  connect();
  // the stream never ends, so it starts after the page's load: the dock is "loaded" even with no picture yet
  if (document.readyState === "complete") restartPreview(); else window.addEventListener("load", restartPreview);
})();
