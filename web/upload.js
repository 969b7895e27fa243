// Upload one episode from the browser with the same protocol as the CLI (functions/kstream/client):
//   POST /api/upload/start            -> uploadId, videoId, one V4 signed PUT URL per chunk, the headers each needs
//   PUT  <chunk URL> (x3 in parallel)  straight to Cloud Storage (CORS), never through a function
//   PUT  /api/videos/{videoId}/subtitles/{language}   one per subtitle file, {fileName, content: base64, ...}
//   POST /api/upload/complete/{id}    {finalChecksum: "crc32c:<base64>"} -> videoId, status processing
// The file's CRC32C (what storage computes for the composed object) is taken as the chunks are read, in order.
// EpisodeUpload keeps the steps apart, so a refused subtitle file can be fixed or dropped without sending the
// video's chunks again.

const KIB = 1024;
const MIB = 1024 * KIB;
const ALIGN = 256 * KIB;  // chunk sizes are multiples of 256 KiB
const MAX_CHUNKS = 1024;
const MAX_CHUNK = 8 * MIB;
const PARALLEL = 3;
const ATTEMPTS = 5;
const RETRY_STATUSES = new Set([0, 408, 429, 500, 502, 503, 504]);

// What POST /api/upload/start accepts (contracts/upload.py VIDEO_EXTENSIONS) and PUT .../subtitles/{language}
// (contracts/subtitles.py SUBTITLE_EXTENSIONS, MAX_SUBTITLE_FILE_BYTES); the browser tests hold them equal.
export const VIDEO_EXTENSIONS = [".mp4", ".m4v", ".mov", ".3gp", ".mkv", ".webm", ".ts", ".m2ts", ".mts", ".avi",
  ".wmv", ".asf", ".mxf", ".gxf"];
export const SUBTITLE_EXTENSIONS = [".srt", ".vtt", ".ass", ".ssa", ".smi", ".sami"];
export const MAX_SUBTITLE_BYTES = 2 * MIB;
export const LANGUAGE_PATTERN = /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/;  // contracts/metadata.py LANGUAGE_PATTERN
const THREE_LETTER = { eng: "en", kor: "ko", jpn: "ja", chi: "zh", zho: "zh", spa: "es", fre: "fr", fra: "fr",
  ger: "de", deu: "de", por: "pt", vie: "vi", tha: "th", ind: "id", ara: "ar", rus: "ru", ita: "it" };

const extensionOf = (name) => (/\.[^.]+$/.exec(name)?.[0] || "").toLowerCase();

// The language tag a subtitle file's name ends in: ep3.en.srt -> en, ep3.ko.smi -> ko, ep3.zh-Hant.vtt -> zh-Hant,
// ep3.eng.srt -> en; "" when the name has none (ep3.srt, ep3.final.srt).
export function languageFromFileName(name) {
  const parts = name.split(".");
  if (parts.length < 3) return "";
  const tag = parts.at(-2);
  const [primary, ...rest] = tag.split(/[-_]/);
  if (!/^[A-Za-z]{2,3}$/.test(primary) || !rest.every((part) => /^[A-Za-z0-9]{2,8}$/.test(part))) return "";
  const lower = primary.toLowerCase();
  if (lower.length === 3 && !THREE_LETTER[lower]) return "";
  return [THREE_LETTER[lower] || lower, ...rest].join("-");
}

// What is wrong with a subtitle file before it is sent, or "" (the API checks again, and parses it).
export function subtitleFileProblem(file) {
  if (!SUBTITLE_EXTENSIONS.includes(extensionOf(file.name))) {
    return `${file.name}: not a subtitle file; expected ${SUBTITLE_EXTENSIONS.join(" ")}`;
  }
  if (file.size === 0) return `${file.name} is empty`;
  if (file.size > MAX_SUBTITLE_BYTES) {
    return `${file.name} is ${(file.size / MIB).toFixed(1)} MiB; a subtitle file may be 2 MiB at most`;
  }
  return "";
}

// Base64 of a file's bytes, 24 KiB at a time (a multiple of 3, so the pieces join): String.fromCharCode(...bytes)
// on a 2 MiB array would overflow the call stack.
export async function base64Of(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const step = 3 * 8192;
  const parts = [];
  for (let i = 0; i < bytes.length; i += step) parts.push(btoa(String.fromCharCode.apply(null, bytes.subarray(i, i + step))));
  return parts.join("");
}

// PUT one subtitle file as the track of `language` ({file, language, label, kind, default}); resolves with the
// SubtitleTrack, rejects with the API's error (a 400 names the file and the line).
export async function putSubtitle(api, videoId, { file, language, label, kind, isDefault }) {
  const body = { fileName: file.name, content: await base64Of(file), kind: kind || "subtitles", default: Boolean(isDefault) };
  if (label) body.label = label;
  return api.put(`/api/videos/${encodeURIComponent(videoId)}/subtitles/${encodeURIComponent(language)}`, body);
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

// CRC32C (Castagnoli) of `bytes`, continuing from `crc` (0 to start), like google_crc32c.extend.
export function crc32c(crc, bytes) {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC32C_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

export function crc32cText(crc) {
  return "crc32c:" + btoa(String.fromCharCode(crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff));
}

// About eight chunks for a small file (so progress moves and PUTs run in parallel), 8 MiB chunks for a large one,
// never more than 1024 chunks.
export function chunkSizeFor(size) {
  const roundUp = (n) => Math.max(ALIGN, Math.ceil(n / ALIGN) * ALIGN);
  return Math.max(Math.min(roundUp(size / 8), MAX_CHUNK), roundUp(size / MAX_CHUNKS));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function put(url, headers, body, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    for (const [name, value] of Object.entries(headers || {})) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
    xhr.onerror = () => resolve({ status: 0, text: "network error" });
    xhr.send(body);
  });
}

// One episode's upload, step by step: sendChunks() (start, then every chunk stored), then any subtitle PUTs with
// videoId, then complete(). Each step rejects with an Error saying what failed; the earlier steps stay done.
export class EpisodeUpload {
  constructor(api, file, metadata, onProgress = () => {}) {
    Object.assign(this, { api, file, metadata, onProgress });
    this.uploadId = null;
    this.videoId = null;  // from upload/start (or, from an API that does not say it there, from complete)
    this.crc = null;  // set once every chunk is stored
    this.completed = null;
  }

  get stored() { return this.crc !== null; }

  async sendChunks() {
    if (this.stored) return;
    const { uploadId, videoId, crc } = await sendChunks(this.api, this.file, this.metadata, this.onProgress);
    Object.assign(this, { uploadId, videoId: videoId || null, crc });
  }

  async complete() {
    if (this.completed) return this.completed;
    this.completed = await this.api.post(`/api/upload/complete/${encodeURIComponent(this.uploadId)}`,
      { finalChecksum: crc32cText(this.crc) });
    this.videoId = this.completed.videoId;
    return this.completed;
  }
}

// Uploads `file` with `metadata` ({title, series, episode, description, language}); onProgress(sentBytes, total).
// Resolves with the complete answer ({uploadId, videoId, status, ...}); rejects with an Error saying what failed.
export async function uploadEpisode(api, file, metadata, onProgress = () => {}) {
  const upload = new EpisodeUpload(api, file, metadata, onProgress);
  await upload.sendChunks();
  return upload.complete();
}

// upload/start, then every chunk to storage; resolves with {uploadId, videoId, crc} (the file's CRC32C).
async function sendChunks(api, file, metadata, onProgress) {
  const chunkSize = chunkSizeFor(file.size);
  const started = await api.post("/api/upload/start", {
    filename: file.name, totalSize: file.size, chunkSize, metadata,
  });
  const { uploadId, chunkUrls } = started;
  const required = started.requiredHeaders || [];
  const size = started.chunkSize || chunkSize;
  const sent = new Array(chunkUrls.length).fill(0);
  const report = () => onProgress(sent.reduce((a, b) => a + b, 0), file.size);

  // Chunks are read one after another (the CRC must see the bytes in order) and sent PARALLEL at a time.
  let crc = 0;
  let reading = Promise.resolve();
  let next = 0;
  const read = (index) => {
    const done = reading.then(async () => {
      const bytes = new Uint8Array(await file.slice(index * size, Math.min(file.size, (index + 1) * size)).arrayBuffer());
      crc = crc32c(crc, bytes);
      return bytes;
    });
    reading = done;
    return done;
  };

  let failed = false;
  const worker = async () => {
    while (!failed && next < chunkUrls.length) {
      const index = next++;
      const bytes = await read(index);
      let last = "";
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        if (attempt) await sleep(500 * 2 ** (attempt - 1));
        const answer = await put(chunkUrls[index], required[index], bytes, (loaded) => { sent[index] = loaded; report(); });
        if (answer.status >= 200 && answer.status < 300) {
          sent[index] = bytes.length;
          report();
          last = "";
          break;
        }
        sent[index] = 0;
        last = `storage answered ${answer.status || "nothing"} ${answer.text.slice(0, 200)}`;
        if (!RETRY_STATUSES.has(answer.status)) break;
      }
      if (last) failed = true;
      if (last) throw new Error(`Chunk ${index + 1} of ${chunkUrls.length} failed: ${last}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, chunkUrls.length) }, worker));
  await reading;
  return { uploadId, videoId: started.videoId, crc };
}
