// The kstream API with the signed-in user's ID token. Errors are the API's envelope: {error: {code, message}}.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(config, auth, onSignedOut) {
    this.base = config.apiBase || "";
    this.auth = auth;
    this.onSignedOut = onSignedOut;
  }

  url(path, params) {
    const query = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== ""))
      : null;
    return `${this.base}${path}${query && [...query].length ? "?" + query : ""}`;
  }

  async request(method, path, { params, body } = {}, retried = false) {
    const headers = { Authorization: `Bearer ${await this.auth.token(retried)}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(this.url(path, params), {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, "NETWORK", "The API cannot be reached.");
    }
    if (response.status === 204) return null;
    if (response.ok) return response.json();
    const error = (await response.json().catch(() => ({})))?.error || {};
    if (response.status === 401 && !retried) {
      try {
        return await this.request(method, path, { params, body }, true);
      } catch (err) {  // the refresh failed, or the fresh token was refused too: the session is over
        if (!(err instanceof ApiError) || err.status === 401) this.onSignedOut?.();
        throw err;
      }
    }
    throw new ApiError(response.status, error.code || "HTTP_" + response.status, error.message || response.statusText);
  }

  get(path, params) { return this.request("GET", path, { params }); }
  post(path, body) { return this.request("POST", path, { body }); }
  put(path, body) { return this.request("PUT", path, { body }); }
  delete(path) { return this.request("DELETE", path); }

  search(params) { return this.get("/api/metadata/videos/search", params); }
  video(id) { return this.get(`/api/videos/${encodeURIComponent(id)}`); }
  series(name) { return this.get(`/api/metadata/series/${encodeURIComponent(name)}`); }
  streamUrl(id) { return this.url(`/api/stream/${encodeURIComponent(id)}`); }
}
