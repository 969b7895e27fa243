// The player: hls.js on a <video>, with our own controls so the seek bar can show storyboard thumbnails.
//
// GET /api/stream/{id} (with the bearer token) answers the HLS master playlist, whose variant URIs are absolute and
// signed on the CDN, and sets the Cloud-CDN-Cookie for the video's folder; the media playlists, segments, poster
// and storyboard sheets under that folder then load with the cookie. Qualities come from hls.levels; choosing one
// sets hls.currentLevel (an immediate switch), "Auto" hands the choice back to hls.js's bandwidth estimate.
//
// Subtitles: the master lists WebVTT renditions (EXT-X-MEDIA TYPE=SUBTITLES); hls.js exposes them as
// hls.subtitleTracks and renders their cues natively (one <track> per rendition, so video.textTracks[i].activeCues
// carries them). The CC menu lists "Off" and each track; the choice is remembered in localStorage by language
// ("Off" too) and applied to the next video that has a track in that language.

import { formatTime, h, icon } from "./dom.js";

const SPEAKER = "M3 9h4l5-4v14l-5-4H3z";
const ICONS = {
  play: () => icon("M8 5v14l11-7z"),
  pause: () => icon("M6 5h4v14H6zM14 5h4v14h-4z"),
  sound: () => icon(SPEAKER, "~M15.5 8.5a5 5 0 0 1 0 7", "~M18 6a8.5 8.5 0 0 1 0 12"),
  muted: () => icon(SPEAKER, "~M15 9l6 6M21 9l-6 6"),
  full: () => icon("~M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5"),
};
const SHEET_COLUMNS = 10;
const SUBTITLE_CHOICE_KEY = "kstream.subtitles";  // {"language": "en", "kind": "subtitles"} or {"off": true}
const SHEET_ROWS = 10;

// Seconds between storyboard thumbnails, as the pipeline asks the Transcoder for them
// (kstream.transcode.ladder.storyboard_interval_seconds): ~300 over the video, 2 to 10 s apart.
export function storyboardInterval(duration) {
  if (!duration || duration <= 0) return 10;
  return Math.min(10, Math.max(2, Math.ceil(duration / 300)));
}

// The storyboard sheets live beside the poster: videos/<id>/storyboard0000000000.jpeg, ...
export function storyboardSheetUrl(posterUrl, sheet) {
  return posterUrl.slice(0, posterUrl.lastIndexOf("/") + 1) + `storyboard${String(sheet).padStart(10, "0")}.jpeg`;
}

// The viewer's last CC choice: {language, kind}, {off: true}, or null (none yet: the video's default track shows).
export function rememberedSubtitles() {
  try {
    const choice = JSON.parse(localStorage.getItem(SUBTITLE_CHOICE_KEY) || "null");
    return choice && (choice.off === true || typeof choice.language === "string") ? choice : null;
  } catch {
    return null;
  }
}

function rememberSubtitles(choice) {
  try {
    localStorage.setItem(SUBTITLE_CHOICE_KEY, JSON.stringify(choice));
  } catch { /* storage disabled: the choice holds for this video only */ }
}

// hls.js marks a rendition as captions (for the deaf and hard of hearing) from its CHARACTERISTICS.
const isCaptions = (track) => /transcribes-spoken-dialog/i.test(track.characteristics || track.attrs?.CHARACTERISTICS || "");
const sameLanguage = (a, b) => (a || "").toLowerCase() === (b || "").toLowerCase();

// The index in `tracks` (hls.subtitleTracks) that the remembered choice asks for: -1 for "Off", null for no opinion.
export function subtitleIndexFor(choice, tracks) {
  if (!choice) return null;
  if (choice.off) return -1;
  const kind = (track) => (isCaptions(track) ? "captions" : "subtitles");
  const exact = tracks.findIndex((t) => sameLanguage(t.lang, choice.language) && kind(t) === choice.kind);
  if (exact > -1) return exact;
  const any = tracks.findIndex((t) => sameLanguage(t.lang, choice.language));
  return any > -1 ? any : null;
}

const qualityName = (level) => (level.height ? `${Math.min(level.height, level.width || level.height)}p`
  : `${Math.round(level.bitrate / 1000)} kbps`);

export class Player {
  constructor(api) {
    this.api = api;
    this.hls = null;
    this.meta = null;
    this.switches = [];  // every LEVEL_SWITCHED: {level, height, at}
    this.sheets = new Map();  // sheet index -> {url, image, loaded}
    this.tile = null;  // {width, height} of one storyboard thumbnail

    this.video = h("video", { class: "screen", playsinline: true, preload: "auto", tabindex: "-1" });
    this.message = h("div", { class: "player-message", hidden: true });
    this.playButton = h("button", { class: "ctl play", id: "play", type: "button", "aria-label": "Play" }, ICONS.play());
    this.time = h("span", { class: "time" }, "0:00 / 0:00");
    this.buffered = h("div", { class: "seek-buffered" });
    this.played = h("div", { class: "seek-played" });
    this.previewImage = h("div", { class: "preview-image" });
    this.previewTime = h("div", { class: "preview-time" });
    this.preview = h("div", { class: "preview", id: "seek-preview", hidden: true }, this.previewImage, this.previewTime);
    this.seek = h("div", { class: "seek", id: "seek", role: "slider", tabindex: "0", "aria-label": "Seek",
      "aria-valuemin": "0", "aria-valuenow": "0" }, h("div", { class: "seek-track" }, this.buffered, this.played),
    this.preview);
    this.quality = h("select", { class: "ctl quality", id: "quality", "aria-label": "Quality", disabled: true },
      h("option", { value: "-1" }, "Auto"));
    this.ccButton = h("button", { class: "ctl cc", id: "cc", type: "button", "aria-haspopup": "menu",
      "aria-expanded": "false", "aria-controls": "cc-menu", "aria-label": "Subtitles: Off", title: "Subtitles",
      disabled: true }, "CC");
    this.ccMenu = h("div", { class: "cc-menu", id: "cc-menu", role: "menu", "aria-label": "Subtitles", hidden: true });
    this.cc = h("div", { class: "cc-wrap" }, this.ccButton, this.ccMenu);
    this.subtitlesApplied = false;
    this.muteButton = h("button", { class: "ctl", type: "button", "aria-label": "Mute" }, ICONS.sound());
    this.fullButton = h("button", { class: "ctl", type: "button", "aria-label": "Full screen" }, ICONS.full());
    this.controls = h("div", { class: "controls" }, this.playButton, this.time, this.seek, this.cc,
      this.quality, this.muteButton, this.fullButton);
    this.el = h("div", { class: "player" }, this.video, this.message, this.controls);
    this.wire();
    this.drawSubtitleMenu([]);
  }

  wire() {
    const v = this.video;
    this.playButton.addEventListener("click", () => this.toggle());
    v.addEventListener("click", () => this.toggle());
    v.addEventListener("play", () => { this.playButton.replaceChildren(ICONS.pause()); this.playButton.ariaLabel = "Pause"; });
    v.addEventListener("pause", () => { this.playButton.replaceChildren(ICONS.play()); this.playButton.ariaLabel = "Play"; });
    v.addEventListener("timeupdate", () => this.drawTime());
    v.addEventListener("durationchange", () => this.drawTime());
    v.addEventListener("progress", () => this.drawTime());
    v.addEventListener("volumechange", () => { this.muteButton.replaceChildren(v.muted ? ICONS.muted() : ICONS.sound()); });
    this.muteButton.addEventListener("click", () => { v.muted = !v.muted; });
    this.fullButton.addEventListener("click", () => {
      if (document.fullscreenElement) document.exitFullscreen(); else this.el.requestFullscreen?.();
    });
    this.quality.addEventListener("change", () => this.setQuality(Number(this.quality.value)));
    this.wireSubtitleMenu();

    let dragging = false;
    const seekTo = (event) => { v.currentTime = this.timeAt(event); this.drawTime(); };
    this.seek.addEventListener("pointerdown", (e) => { dragging = true; this.seek.setPointerCapture(e.pointerId); seekTo(e); });
    this.seek.addEventListener("pointermove", (e) => { if (dragging) seekTo(e); this.showPreview(e); });
    this.seek.addEventListener("pointerup", () => { dragging = false; });
    this.seek.addEventListener("pointerleave", () => { this.preview.hidden = true; });
    this.seek.addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight") v.currentTime = Math.min(this.duration, v.currentTime + 5);
      else if (e.key === "ArrowLeft") v.currentTime = Math.max(0, v.currentTime - 5);
    });
  }

  get duration() {
    return Number.isFinite(this.video.duration) && this.video.duration > 0 ? this.video.duration
      : (this.meta?.duration || 0);
  }

  // The pipeline sized the storyboard from the source's probed duration, which the catalogue keeps.
  get boardDuration() {
    return this.meta?.duration || this.duration;
  }

  toggle() {
    if (this.video.paused) this.video.play().catch((err) => this.showMessage(`Cannot play: ${err.message}`));
    else this.video.pause();
  }

  async load(meta) {
    this.destroy();
    this.meta = meta;
    this.switches = [];
    this.sheets.clear();
    this.tile = null;
    this.subtitlesApplied = false;
    this.drawSubtitleMenu([]);
    this.showMessage(null);
    const Hls = window.Hls;
    if (!Hls || !Hls.isSupported()) {
      this.showMessage("This browser cannot play HLS with Media Source Extensions.");
      return;
    }
    const manifestUrl = new URL(this.api.streamUrl(meta.id), location.href).href;
    const token = await this.api.auth.token();
    const hls = new Hls({
      // The bearer token goes to the API only; the CDN authorises by signed URL or cookie, never by token.
      xhrSetup: (xhr, url) => { if (url === manifestUrl) xhr.setRequestHeader("Authorization", `Bearer ${token}`); },
    });
    this.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => this.onManifest(data));
    hls.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => this.onSwitched(data.level));
    hls.on(Hls.Events.ERROR, (_event, data) => this.onError(data));
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => this.onSubtitleTracks());
    hls.on(Hls.Events.SUBTITLE_TRACK_SWITCH, () => this.drawSubtitleChoice());
    hls.loadSource(manifestUrl);
    hls.attachMedia(this.video);
  }

  onManifest(data) {
    // The stream answer has set the CDN cookie: the poster and storyboard sheets under the video's folder load now.
    if (this.meta.thumbnailUrl) {
      // Without a poster the thumbnail is the first storyboard sheet, which is no poster.
      if (!/\/storyboard\d*\.jpe?g(\?|$)/.test(this.meta.thumbnailUrl)) this.video.poster = this.meta.thumbnailUrl;
      this.loadSheet(0);
    }
    const options = data.levels.map((level, index) => ({ index, level }))
      .sort((a, b) => (b.level.height || b.level.bitrate) - (a.level.height || a.level.bitrate))
      .map(({ index, level }) => h("option", { value: String(index), dataset: { height: String(level.height || "") } },
        qualityName(level)));
    this.quality.replaceChildren(h("option", { value: "-1" }, "Auto"), ...options);
    this.quality.disabled = data.levels.length < 2;
    this.el.dispatchEvent(new CustomEvent("kstream:levels", { detail: data.levels.length }));
  }

  onSwitched(index) {
    const level = this.hls?.levels[index];
    this.switches.push({ level: index, height: level?.height || 0, at: this.video.currentTime });
    const auto = this.quality.querySelector('option[value="-1"]');
    auto.textContent = level && this.hls.autoLevelEnabled ? `Auto (${qualityName(level)})` : "Auto";
    this.el.dataset.level = String(index);
    this.el.dataset.height = String(level?.height || "");
  }

  onError(data) {
    if (!data.fatal) return;
    const Hls = window.Hls;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
      this.hls.recoverMediaError();
      return;
    }
    let reason = data.details;
    try {
      const body = JSON.parse(data.networkDetails?.responseText || "null");
      if (body?.error?.message) reason = body.error.message;
    } catch { /* not the API's envelope */ }
    this.showMessage(`Playback stopped: ${reason}`);
    this.hls.destroy();
    this.hls = null;
  }

  setQuality(index) {
    if (!this.hls) return;
    this.hls.currentLevel = index;  // -1: automatic
    if (index === -1) this.quality.querySelector('option[value="-1"]').textContent = "Auto";
  }

  // -- subtitles -------------------------------------------------------------------------------------------------
  wireSubtitleMenu() {
    const items = () => [...this.ccMenu.querySelectorAll('[role="menuitemradio"]')];
    const focusItem = (index) => {
      const all = items();
      all[(index + all.length) % all.length]?.focus();
    };
    this.ccButton.addEventListener("click", () => this.openSubtitleMenu(this.ccMenu.hidden));
    this.ccButton.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        this.openSubtitleMenu(true);
        if (e.key === "ArrowUp") focusItem(-1);
      }
    });
    this.ccMenu.addEventListener("keydown", (e) => {
      const all = items(), at = all.indexOf(document.activeElement);
      if (e.key === "ArrowDown") focusItem(at + 1);
      else if (e.key === "ArrowUp") focusItem(at - 1);
      else if (e.key === "Home") focusItem(0);
      else if (e.key === "End") focusItem(-1);
      else if (e.key === "Escape") {
        this.openSubtitleMenu(false);
        this.ccButton.focus();
      } else if (e.key === "Tab") this.openSubtitleMenu(false);
      else return;
      if (e.key !== "Tab") e.preventDefault();
    });
    document.addEventListener("pointerdown", (e) => {
      if (!this.ccMenu.hidden && !this.cc.contains(e.target)) this.openSubtitleMenu(false);
    });
    this.video.textTracks.addEventListener?.("change", () => this.drawSubtitleChoice());
  }

  openSubtitleMenu(open) {
    this.ccMenu.hidden = !open;
    this.ccButton.setAttribute("aria-expanded", String(open));
    if (open) (this.ccMenu.querySelector('[aria-checked="true"]') || this.ccMenu.firstElementChild)?.focus();
  }

  onSubtitleTracks() {
    this.drawSubtitleMenu(this.hls?.subtitleTracks || []);
    // hls.js picks the DEFAULT=YES rendition right after this event; the remembered choice goes on top, once.
    queueMicrotask(() => {
      if (!this.hls || this.subtitlesApplied) return;
      this.subtitlesApplied = true;
      const index = subtitleIndexFor(rememberedSubtitles(), this.hls.subtitleTracks);
      if (index !== null && index !== this.hls.subtitleTrack) this.selectSubtitles(index, false);
      this.drawSubtitleChoice();
    });
  }

  drawSubtitleMenu(tracks) {
    const item = (index, ...label) => h("button", { type: "button", role: "menuitemradio", class: "cc-item",
      "aria-checked": "false", tabindex: "-1", dataset: { track: String(index), lang: tracks[index]?.lang || "" },
      onclick: () => {
        this.selectSubtitles(index, true);
        this.openSubtitleMenu(false);
        this.ccButton.focus();
      } }, ...label);
    this.ccMenu.replaceChildren(item(-1, "Off"), ...tracks.map((track, index) => item(index,
      h("span", { lang: track.lang || undefined }, track.name || track.lang || `Track ${index + 1}`),
      isCaptions(track) ? h("span", { class: "cc-kind", title: "Captions: speech and sounds" }, "CC") : null)));
    this.ccButton.disabled = tracks.length === 0;
    this.cc.hidden = tracks.length === 0;
    if (!tracks.length) this.openSubtitleMenu(false);
    this.drawSubtitleChoice();
  }

  // index -1 is "Off". `remember`: the viewer chose it (kept for the next video); false: applied from memory.
  selectSubtitles(index, remember) {
    const hls = this.hls;
    if (!hls) return;
    if (index > -1) hls.subtitleDisplay = true;
    hls.subtitleTrack = index;
    if (remember) {
      const track = hls.subtitleTracks[index];
      rememberSubtitles(track ? { language: track.lang, kind: isCaptions(track) ? "captions" : "subtitles" }
        : { off: true });
    }
    this.drawSubtitleChoice();
  }

  drawSubtitleChoice() {
    const current = this.hls ? this.hls.subtitleTrack : -1;
    const track = this.hls?.subtitleTracks[current];
    for (const el of this.ccMenu.querySelectorAll('[role="menuitemradio"]')) {
      el.setAttribute("aria-checked", String(Number(el.dataset.track) === current));
    }
    this.ccButton.classList.toggle("on", Boolean(track));
    this.ccButton.setAttribute("aria-label", `Subtitles: ${track ? track.name || track.lang : "Off"}`);
    this.el.dataset.subtitles = track ? track.lang || "" : "off";
  }

  subtitleState() {
    const hls = this.hls;
    return {
      tracks: (hls?.subtitleTracks || []).map((t) => ({ name: t.name, lang: t.lang, kind: isCaptions(t) ? "captions"
        : "subtitles", default: Boolean(t.default) })),
      current: hls ? hls.subtitleTrack : -1,
      showing: [...this.video.textTracks].filter((t) => t.mode === "showing").map((t) => ({ label: t.label,
        lang: t.language, cues: [...(t.activeCues || [])].map((c) => c.text) })),
    };
  }

  // -- the seek bar -----------------------------------------------------------------------------------------------
  timeAt(event) {
    const box = this.seek.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    return fraction * this.duration;
  }

  drawTime() {
    const v = this.video, total = this.duration;
    this.time.textContent = `${formatTime(v.currentTime)} / ${formatTime(total)}`;
    const percent = total ? (v.currentTime / total) * 100 : 0;
    this.played.style.width = `${percent}%`;
    this.seek.setAttribute("aria-valuenow", String(Math.round(v.currentTime)));
    this.seek.setAttribute("aria-valuemax", String(Math.round(total)));
    const end = v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0;
    this.buffered.style.width = `${total ? (end / total) * 100 : 0}%`;
  }

  loadSheet(sheet) {
    if (this.sheets.has(sheet) || !this.meta?.thumbnailUrl) return this.sheets.get(sheet);
    const entry = { url: storyboardSheetUrl(this.meta.thumbnailUrl, sheet), image: new Image(), loaded: false };
    entry.image.onload = () => {
      entry.loaded = true;
      if (sheet === 0) {  // a sheet is no wider or taller than its thumbnails need: 5 thumbnails are 5x1
        const count = Math.max(1, Math.ceil(this.boardDuration / storyboardInterval(this.boardDuration)));
        const columns = Math.min(SHEET_COLUMNS, count), rows = Math.min(SHEET_ROWS, Math.ceil(count / columns));
        this.tile = { width: entry.image.naturalWidth / columns, height: entry.image.naturalHeight / rows, count };
      }
    };
    entry.image.src = entry.url;
    this.sheets.set(sheet, entry);
    return entry;
  }

  showPreview(event) {
    const total = this.duration;
    if (!total) return;
    const t = this.timeAt(event);
    const index = Math.min(Math.floor(t / storyboardInterval(this.boardDuration)), (this.tile?.count || Infinity) - 1);
    const perSheet = SHEET_COLUMNS * SHEET_ROWS;
    const entry = this.loadSheet(Math.floor(index / perSheet));
    const box = this.seek.getBoundingClientRect();
    this.previewTime.textContent = formatTime(t);
    if (entry?.loaded && this.tile) {
      const cell = index % perSheet, { width, height } = this.tile, columns = Math.min(SHEET_COLUMNS, this.tile.count);
      Object.assign(this.previewImage.style, {
        width: `${width}px`, height: `${height}px`, backgroundImage: `url("${entry.url}")`,
        backgroundPosition: `-${(cell % columns) * width}px -${Math.floor(cell / columns) * height}px`,
      });
      this.previewImage.hidden = false;
      this.preview.dataset.thumbnail = String(index);
    } else {
      this.previewImage.hidden = true;
      delete this.preview.dataset.thumbnail;
    }
    const half = (this.tile?.width || 60) / 2;
    this.preview.style.left = `${Math.min(box.width - half, Math.max(half, event.clientX - box.left))}px`;
    this.preview.hidden = false;
  }

  showMessage(text) {
    this.message.textContent = text || "";
    this.message.hidden = !text;
  }

  // What the page shows about playback, for people (the dataset) and for the browser tests.
  state() {
    const v = this.video;
    return {
      videoId: this.meta?.id, currentTime: v.currentTime, paused: v.paused, videoHeight: v.videoHeight,
      levels: (this.hls?.levels || []).map((l) => l.height), currentLevel: this.hls ? this.hls.currentLevel : null,
      switches: this.switches.slice(), poster: v.poster, storyboardLoaded: Boolean(this.tile),
      error: this.message.hidden ? null : this.message.textContent, subtitles: this.subtitleState(),
    };
  }

  destroy() {
    this.hls?.destroy();
    this.hls = null;
    this.drawSubtitleMenu([]);
    this.video.removeAttribute("poster");
    this.video.removeAttribute("src");
  }
}
