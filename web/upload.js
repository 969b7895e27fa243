// Upload one episode from the browser with the same protocol as the CLI (functions/kstream/client):
//   POST /api/upload/start            -> uploadId, one V4 signed PUT URL per chunk, the headers each PUT must send
//   PUT  <chunk URL> (x3 in parallel)  straight to Cloud Storage (CORS), never through a function
//   POST /api/upload/complete/{id}    {finalChecksum: "crc32c:<base64>"} -> videoId, status processing
// The file's CRC32C (what storage computes for the composed object) is taken as the chunks are read, in order.

const KIB = 1024;
const MIB = 1024 * KIB;
const ALIGN = 256 * KIB;  // chunk sizes are multiples of 256 KiB
const MAX_CHUNKS = 1024;
const MAX_CHUNK = 8 * MIB;
const PARALLEL = 3;
const ATTEMPTS = 5;
const RETRY_STATUSES = new Set([0, 408, 429, 500, 502, 503, 504]);

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

// Uploads `file` with `metadata` ({title, series, episode, description, language}); onProgress(sentBytes, total).
// Resolves with the complete answer ({uploadId, videoId, status, ...}); rejects with an Error saying what failed.
export async function uploadEpisode(api, file, metadata, onProgress = () => {}) {
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
  return api.post(`/api/upload/complete/${encodeURIComponent(uploadId)}`, { finalChecksum: crc32cText(crc) });
}
