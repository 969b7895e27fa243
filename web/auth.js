// Firebase Auth over its REST API: accounts:signInWithPassword for the ID token, securetoken for refreshing it.
// Locally the URLs point at the Auth emulator, in the cloud at Google (config.json says which). The session lives
// in sessionStorage (this tab only); the role is the token's custom claim `role` (user | uploader | admin).

const STORAGE_KEY = "kstream.session";
const REFRESH_MARGIN_MS = 5 * 60 * 1000;

const FRIENDLY = {
  EMAIL_NOT_FOUND: "No account with that email.",
  INVALID_PASSWORD: "Wrong password.",
  INVALID_LOGIN_CREDENTIALS: "Wrong email or password.",
  INVALID_EMAIL: "That is not an email address.",
  USER_DISABLED: "This account is disabled.",
  TOO_MANY_ATTEMPTS_TRY_LATER: "Too many attempts; try again later.",
};

function claimsOf(idToken) {
  const payload = idToken.split(".")[1] || "";
  const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(payload.length / 4) * 4, "="));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
}

async function postAuth(url, apiKey, body, form = false) {
  let response;
  try {
    response = await fetch(`${url}?key=${encodeURIComponent(apiKey)}`, {
      method: "POST",
      headers: { "Content-Type": form ? "application/x-www-form-urlencoded" : "application/json" },
      body: form ? new URLSearchParams(body) : JSON.stringify(body),
    });
  } catch (err) {
    throw new Error("Cannot reach the sign-in service.");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const reason = String(data?.error?.message || response.status).split(" ")[0].split(":")[0];
    throw new Error(FRIENDLY[reason] || `Sign-in refused (${reason}).`);
  }
  return data;
}

export class Auth {
  constructor(config) {
    this.config = config.auth;
    this.session = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    this.refreshing = null;
  }

  get user() {
    if (!this.session) return null;
    const claims = claimsOf(this.session.idToken);
    return { uid: claims.user_id || claims.sub, email: claims.email || this.session.email, role: claims.role || "user" };
  }

  get canUpload() {
    return ["uploader", "admin"].includes(this.user?.role);
  }

  async signIn(email, password) {
    const data = await postAuth(this.config.signInUrl, this.config.apiKey,
      { email, password, returnSecureToken: true });
    this.store(data.idToken, data.refreshToken, Number(data.expiresIn), data.email);
    return this.user;
  }

  signOut() {
    this.session = null;
    sessionStorage.removeItem(STORAGE_KEY);
  }

  // A valid ID token, refreshed when it is within five minutes of expiry (or when `force` after a 401).
  async token(force = false) {
    if (!this.session) throw new Error("Not signed in.");
    if (force || Date.now() > this.session.expiresAt - REFRESH_MARGIN_MS) {
      this.refreshing ||= this.refresh().finally(() => { this.refreshing = null; });
      await this.refreshing;
    }
    return this.session.idToken;
  }

  async refresh() {
    const data = await postAuth(this.config.refreshUrl, this.config.apiKey,
      { grant_type: "refresh_token", refresh_token: this.session.refreshToken }, true);
    this.store(data.id_token, data.refresh_token, Number(data.expires_in), this.session.email);
  }

  store(idToken, refreshToken, expiresIn, email) {
    this.session = { idToken, refreshToken, email, expiresAt: Date.now() + expiresIn * 1000 };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.session));
  }
}
