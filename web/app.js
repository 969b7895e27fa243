// kstream's web player: sign in, browse series, search (Korean and English), watch, and upload (uploaders).
// Views are hash routes: #/ (browse), #/search/<q>, #/series/<name>, #/watch/<videoId>, #/upload.

import { Api, ApiError } from "./api.js";
import { Auth } from "./auth.js";
import { clear, formatTime, h, hueOf } from "./dom.js";
import { Player } from "./player.js";
import { EpisodeUpload, LANGUAGE_PATTERN, SUBTITLE_EXTENSIONS, VIDEO_EXTENSIONS, languageFromFileName, putSubtitle,
  subtitleFileProblem } from "./upload.js";

const view = document.getElementById("view");
const who = document.getElementById("who");
const searchForm = document.getElementById("search-form");
const searchInput = document.getElementById("search-input");
const READY_POLL_MS = 2000;
const READY_WAIT_MS = 10 * 60 * 1000;

let auth, api, config;
let player = null;
let generation = 0;  // bumped by every route; a view that awaited something renders only if still current

const link = (href, ...children) => h("a", { href }, ...children);
const watchHref = (video) => `#/watch/${encodeURIComponent(video.id)}`;
const seriesHref = (name) => `#/series/${encodeURIComponent(name)}`;
const problem = (err) => h("p", { class: "error", role: "alert" }, err instanceof ApiError
  ? `${err.message} (${err.code})` : String(err.message || err));

function artwork(video) {
  const art = h("div", { class: "art" }, h("span", { class: "art-episode" }, `EP ${video.episode}`));
  art.style.setProperty("--hue", String((hueOf(video.series || video.title) + 23 * video.episode) % 360));
  return art;
}

function card(video) {
  const details = [video.series, video.duration ? formatTime(video.duration) : null,
    (video.availableQualities || []).at(-1)].filter(Boolean).join(" · ");
  return h("a", { class: "card", href: watchHref(video), dataset: { videoId: video.id } },
    artwork(video),
    video.status && video.status !== "ready" ? h("span", { class: `badge ${video.status}` }, video.status) : null,
    h("div", { class: "card-title" }, video.title),
    h("div", { class: "card-sub" }, details));
}

function cards(videos) {
  return h("div", { class: "cards" }, videos.map(card));
}

// -- routing ----------------------------------------------------------------------------------------------------
async function route() {
  const current = ++generation;
  const [name = "", ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const arg = decodeURIComponent(rest.join("/"));
  if (name !== "watch") player?.destroy();
  if (!auth.user) return showSignIn();
  drawHeader();
  const show = { search: showSearch, series: showSeries, watch: showWatch, upload: showUpload }[name] || showHome;
  try {
    await show(arg, current);
  } catch (err) {
    if (current === generation) clear(view, problem(err));
  }
}

const stale = (current) => current !== generation;

function drawHeader() {
  const user = auth.user;
  searchForm.hidden = false;
  clear(who,
    link("#/", "Browse"),
    auth.canUpload ? link("#/upload", "Upload") : null,
    h("span", { class: "user", id: "user-email" }, user.email, h("span", { class: "role" }, user.role)),
    h("button", { type: "button", class: "link", id: "sign-out", onclick: () => {
      auth.signOut();
      location.hash = "#/";
      route();
    } }, "Sign out"));
}

// -- views ------------------------------------------------------------------------------------------------------
function showSignIn() {
  searchForm.hidden = true;
  clear(who);
  const email = h("input", { id: "email", type: "email", name: "email", required: true, autocomplete: "username" });
  const password = h("input", { id: "password", type: "password", name: "password", required: true,
    autocomplete: "current-password" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", id: "sign-in" }, "Sign in");
  const form = h("form", { class: "panel signin", onsubmit: async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      await auth.signIn(email.value.trim(), password.value);
      route();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  } },
  h("h1", {}, "로그인 · Sign in"),
  h("label", {}, "Email", email),
  h("label", {}, "Password", password),
  submit, error);
  const demo = config.demo;
  if (demo) {
    form.append(h("div", { class: "demo" }, h("p", {}, "Local demo users (password ", h("code", {}, demo.password), "):"),
      demo.users.map((user) => h("button", { type: "button", class: "chip", onclick: () => {
        email.value = user.email;
        password.value = demo.password;
      } }, `${user.email} · ${user.role}`))));
  }
  clear(view, form);
  email.focus();
}

async function showHome(_arg, current) {
  clear(view, h("p", { class: "muted" }, "Loading…"));
  const found = await api.search({ sort: "series", limit: 100 });
  if (stale(current)) return;
  const bySeries = new Map();
  for (const video of found.videos) {
    if (!bySeries.has(video.series)) bySeries.set(video.series, []);
    bySeries.get(video.series).push(video);
  }
  const sections = [...bySeries].map(([name, videos]) => h("section", { class: "shelf" },
    h("h2", {}, link(seriesHref(name), name)), cards(videos)));
  clear(view, sections.length ? sections : h("div", { class: "panel" },
    h("p", {}, "Nothing to watch yet."), auth.canUpload ? link("#/upload", "Upload the first episode") : null));
}

async function showSearch(q, current) {
  searchInput.value = q;
  clear(view, h("p", { class: "muted" }, `Searching “${q}”…`));
  const found = await api.search({ q, limit: 50 });
  if (stale(current)) return;
  clear(view, h("section", { class: "results", id: "results" },
    h("h2", {}, `“${q}” · ${found.total} result${found.total === 1 ? "" : "s"}`),
    found.videos.length ? cards(found.videos) : h("p", { class: "muted" }, "Nothing matches. Try another word.")));
}

async function showSeries(name, current) {
  clear(view, h("p", { class: "muted" }, "Loading…"));
  const series = await api.series(name);
  if (stale(current)) return;
  clear(view, h("section", { class: "series" },
    h("h1", {}, series.name),
    h("p", { class: "description" }, series.description),
    h("p", { class: "muted" }, `${series.availableEpisodes.length} of ${series.totalEpisodes} episodes · `
      + [series.language, ...series.tags].filter(Boolean).join(" · ")),
    cards(series.episodes)));
}

// The video's subtitle languages (its ready tracks), e.g. "Subtitles: English · 한국어 CC".
function subtitleLanguages(video) {
  const tracks = video.subtitleTracks || [];
  if (!tracks.length) return null;
  return h("p", { class: "tracks muted", id: "video-subtitles" }, "Subtitles:",
    tracks.map((track) => h("span", { class: "chip", lang: track.language, dataset: { lang: track.language },
      title: track.kind === "captions" ? "Captions: speech and sounds" : undefined },
    track.label || track.language, track.kind === "captions" ? " · CC" : "")));
}

async function showWatch(videoId, current) {
  clear(view, h("p", { class: "muted" }, "Loading…"));
  const video = await api.video(videoId);
  if (stale(current)) return;
  player ||= new Player(api);
  window.kstreamPlayer = player;  // for people poking in devtools, and for the browser tests
  const more = h("div", { class: "more" });
  clear(view, h("section", { class: "watch" },
    player.el,
    h("div", { class: "info" },
      h("h1", { id: "video-title" }, video.title),
      h("p", { class: "muted" }, link(seriesHref(video.series), video.series), ` · Episode ${video.episode} · `
        + `${formatTime(video.duration)} · ${(video.availableQualities || []).join(" / ")}`),
      subtitleLanguages(video),
      video.status === "failed" && video.failureReason ? h("p", { class: "error failure", id: "video-failure",
        role: "alert" }, h("strong", {}, "Processing failed: "), video.failureReason) : null,
      h("p", { class: "description" }, video.description)),
    more));
  if (video.status !== "ready") {
    player.destroy();
    player.showMessage(video.status === "failed" ? "This episode could not be processed."
      : `This episode is ${video.status}; it plays once it is ready.`);
  } else {
    await player.load(video);
  }
  const series = await api.series(video.series).catch(() => null);
  if (series && !stale(current)) {
    clear(more, h("h2", {}, "Episodes"), cards(series.episodes));
    more.querySelector(`[data-video-id="${CSS.escape(video.id)}"]`)?.classList.add("current");
  }
}

// One subtitle row of the upload form: file, language (from the file name when it ends in a tag), label, kind,
// default. row.read() says what to send or throws the row's problem; row.show(text, state) writes its status line.
function subtitleRow() {
  const file = h("input", { type: "file", class: "subtitle-file", accept: SUBTITLE_EXTENSIONS.join(","),
    "aria-label": "Subtitle file" });
  const language = h("input", { class: "subtitle-language", placeholder: "en", maxlength: "35", size: "6",
    "aria-label": "Language (BCP 47)", autocomplete: "off", spellcheck: false });
  const label = h("input", { class: "subtitle-label", maxlength: "80", "aria-label": "Label (optional)" });
  // The label's placeholder is what the API will call the track when it is left empty: the language's own name.
  const nameLanguage = () => {
    let name = "";
    try {
      const tag = language.value.trim();
      if (LANGUAGE_PATTERN.test(tag)) name = new Intl.DisplayNames([tag], { type: "language" }).of(tag) || "";
    } catch { /* a tag Intl does not know */ }
    label.placeholder = name || "(the language's name)";
  };
  nameLanguage();
  language.addEventListener("input", nameLanguage);
  const kind = h("select", { class: "subtitle-kind", "aria-label": "Kind" },
    h("option", { value: "subtitles" }, "Subtitles"), h("option", { value: "captions" }, "Captions (CC)"));
  const isDefault = h("input", { type: "radio", name: "subtitle-default", class: "subtitle-default" });
  const status = h("p", { class: "row-status", role: "status" });
  const remove = h("button", { type: "button", class: "remove", "aria-label": "Remove this subtitle file",
    title: "Remove" }, "✕");
  const row = h("div", { class: "subtitle-row" },
    h("label", { class: "file" }, "File", file), h("label", {}, "Language", language), h("label", {}, "Label", label),
    h("label", {}, "Kind", kind), h("label", { class: "default" }, isDefault, "Default"), remove, status);
  file.addEventListener("change", () => {
    const chosen = file.files[0];
    if (!chosen) return;
    const tag = languageFromFileName(chosen.name);
    if (tag) language.value = tag;
    nameLanguage();
    row.show(subtitleFileProblem(chosen), "invalid");
  });
  remove.addEventListener("click", () => row.remove());
  row.show = (text, state = "") => {
    status.className = `row-status${state === "failed" || state === "invalid" ? " error" : ""}`;
    status.textContent = text || "";
    row.dataset.state = text ? state : "";
  };
  row.read = () => {
    const chosen = file.files[0];
    if (!chosen) return null;
    const problem = subtitleFileProblem(chosen);
    if (problem) throw new Error(problem);
    const tag = language.value.trim();
    if (!LANGUAGE_PATTERN.test(tag)) {
      throw new Error(tag ? `“${tag}” is not a language tag (BCP 47: en, ko, zh-Hant, pt-BR)`
        : `Which language is ${chosen.name}? Type its tag (en, ko, ...)`);
    }
    return { file: chosen, language: tag, label: label.value.trim(), kind: kind.value, isDefault: isDefault.checked };
  };
  row.lock = (locked) => {
    for (const el of [file, language, label, kind, isDefault, remove]) el.disabled = locked;
  };
  return row;
}

function showUpload() {
  if (!auth.canUpload) {
    clear(view, h("p", { class: "error" }, "Uploading needs the uploader role."));
    return;
  }
  const field = (label, input) => h("label", {}, label, input);
  const file = h("input", { id: "upload-file", type: "file", accept: VIDEO_EXTENSIONS.join(","), required: true,
    "aria-describedby": "upload-formats" });
  const formats = h("small", { id: "upload-formats", class: "muted" }, `Accepted: ${VIDEO_EXTENSIONS.join(" ")}`);
  const series = h("input", { id: "upload-series", required: true, maxlength: "300", placeholder: "별빛 정원 (Starlight Garden)" });
  const episode = h("input", { id: "upload-episode", type: "number", min: "0", max: "100000", required: true, value: "1" });
  const title = h("input", { id: "upload-title", required: true, maxlength: "300" });
  const description = h("textarea", { id: "upload-description", rows: "3", maxlength: "10000" });
  const language = h("select", { id: "upload-language" },
    [["ko", "한국어"], ["en", "English"], ["ja", "日本語"], ["zh", "中文"]].map(([v, n]) => h("option", { value: v }, n)));
  const rows = h("div", { class: "subtitle-rows", id: "subtitle-rows" });
  const addButton = h("button", { type: "button", class: "secondary", id: "subtitle-add", onclick: () => {
    const row = subtitleRow();
    rows.append(row);
    row.querySelector(".subtitle-file").focus();
  } }, "+ Subtitle file");
  const subtitles = h("fieldset", { class: "subtitles", id: "upload-subtitles" },
    h("legend", {}, `Subtitles (${SUBTITLE_EXTENSIONS.join(" ")}, 2 MiB each)`), rows, h("div", {}, addButton));
  const bar = h("progress", { id: "upload-progress", max: 100, value: 0 });
  const percent = h("span", { id: "upload-percent" }, "0%");
  const status = h("p", { id: "upload-status", class: "muted" }, "Chunks go straight to Cloud Storage.");
  const submit = h("button", { type: "submit", id: "upload-submit" }, "Upload");
  const videoFields = [file, series, episode, title, description, language];
  let upload = null;  // an EpisodeUpload whose chunks are stored, kept while subtitle files are being fixed

  const lock = (locked) => {
    for (const el of videoFields) el.disabled = locked || upload !== null;
    for (const row of rows.children) row.lock(locked || row.dataset.state === "sent");
    addButton.disabled = locked;
    submit.disabled = locked;
  };

  // Every row's problem before anything is sent; the rows to send, or null when one must be fixed first.
  const readRows = () => {
    const wanted = [], seen = new Map();
    let ok = true;
    for (const row of rows.children) {
      if (row.dataset.state === "sent") continue;
      try {
        const sub = row.read();
        if (!sub) continue;
        const key = sub.language.toLowerCase();
        if (seen.has(key)) throw new Error(`Two files for “${sub.language}”: one track per language`);
        seen.set(key, row);
        if (row.dataset.state !== "failed") row.show("");
        wanted.push({ row, sub });
      } catch (err) {
        row.show(err.message, "invalid");
        ok = false;
      }
    }
    return ok ? wanted : null;
  };

  // PUT each subtitle file; a refused one keeps its message beside its row. True when all went through.
  const sendSubtitles = async (wanted) => {
    let ok = true;
    for (const { row, sub } of wanted) {
      row.show(`Sending ${sub.file.name}…`, "sending");
      try {
        const track = await putSubtitle(api, upload.videoId, sub);
        row.show(`✓ ${track.label || sub.language}: ${track.cueCount} cue${track.cueCount === 1 ? "" : "s"}`, "sent");
        row.lock(true);
      } catch (err) {
        ok = false;
        row.show(err instanceof ApiError ? `${err.message} (${err.code})` : String(err.message || err), "failed");
      }
    }
    return ok;
  };

  const form = h("form", { class: "panel upload", onsubmit: async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    const wanted = readRows();
    if (!wanted) {
      status.replaceChildren(h("span", { class: "error" }, "Fix the subtitle files marked below, or remove them."));
      return;
    }
    lock(true);
    const metadata = { title: title.value.trim(), series: series.value.trim(), episode: Number(episode.value),
      language: language.value };
    if (description.value.trim()) metadata.description = description.value.trim();
    try {
      if (!upload?.stored) {
        status.textContent = `Uploading ${chosen.name}…`;
        const started = new EpisodeUpload(api, chosen, metadata, (sent, total) => {
          const value = total ? Math.floor((sent / total) * 100) : 100;
          bar.value = value;
          percent.textContent = `${value}%`;
        });
        await started.sendChunks();
        upload = started;
        bar.value = 100;
        percent.textContent = "100%";
      }
      // Subtitles go before complete, while the upload session is open (the API allows it); an API that does not
      // name the video at start gets them right after complete.
      if (!upload.videoId) await upload.complete();
      if (wanted.length) {
        status.textContent = `Sending ${wanted.length} subtitle file${wanted.length === 1 ? "" : "s"}…`;
        if (!(await sendSubtitles(wanted))) {
          status.replaceChildren(h("span", { class: "error", id: "upload-subtitle-problem" },
            "A subtitle file was refused (its row says why): fix the file or its language, or remove the row, "
            + "then Continue. The video itself is stored and will not be sent again."));
          submit.textContent = "Continue";
          lock(false);
          return;
        }
      }
      const done = await upload.complete();
      status.dataset.videoId = done.videoId;
      status.textContent = "Uploaded. Transcoding…";
      await waitReady(done.videoId, status);
    } catch (err) {
      status.replaceChildren(problem(err));
      if (upload?.completed) {  // the next press starts a new upload, with every subtitle row
        upload = null;
        for (const row of rows.children) row.show("");
      }
      submit.textContent = upload ? "Continue" : "Upload";
      lock(false);
    }
  } },
  h("h1", {}, "에피소드 업로드 · Upload an episode"),
  field("Video file", h("span", { class: "stack" }, file, formats)), field("Series", series),
  field("Episode", episode), field("Title", title), field("Description", description), field("Language", language),
  subtitles, submit, h("div", { class: "progress" }, bar, percent), status);
  clear(view, form);
}

async function waitReady(videoId, status) {
  const deadline = Date.now() + READY_WAIT_MS;
  while (Date.now() < deadline) {
    const video = await api.video(videoId);
    if (video.status === "ready") {
      status.dataset.state = "ready";
      status.replaceChildren("Ready. ", h("a", { href: watchHref(video), id: "upload-play", class: "button" }, "▶ Play"));
      return;
    }
    if (video.status === "failed") {
      throw new Error(video.failureReason ? `Processing failed: ${video.failureReason}`
        : "Processing failed; try another file.");
    }
    status.dataset.state = video.status;
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  throw new Error("Still transcoding after 10 minutes; look for it later under Browse.");
}

// -- start ------------------------------------------------------------------------------------------------------
async function main() {
  config = await (await fetch("/config.json")).json();
  auth = new Auth(config);
  api = new Api(config, auth, () => {
    auth.signOut();
    route();
  });
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = searchInput.value.trim();
    if (q) location.hash = `#/search/${encodeURIComponent(q)}`;
  });
  window.addEventListener("hashchange", route);
  await route();
  document.body.dataset.ready = "true";
}

main().catch((err) => clear(view, problem(err)));
