// Drives the official @stackframe/js SDK (pinned in package.json) against a running emulator.
//
// Run by tests/test_sdk_compat.py; can also be run by hand against any emulator:
//   HEXCLAVE_EMU_URL=http://127.0.0.1:8102 HEXCLAVE_EMU_PROJECT_ID=... HEXCLAVE_EMU_PCK=... \
//   HEXCLAVE_EMU_SSK=... HEXCLAVE_EMU_TOKEN_LIFETIME=25 node tests/sdk/flows.mjs
//
// Prints one line per flow, `ok <name>` or `FAIL <name>: <error>`, followed for a failure by the HTTP
// exchanges the SDK made during that flow. Exits 1 if any flow failed.
//
// The email-driven flows (magic link / OTP sign-in, password reset, email verification, contact channels) read
// the mails the emulator caught through its inbox API (GET /api/v1/emulator/inbox/wait and .../messages).
//
// Environment:
//   HEXCLAVE_EMU_URL             base URL of the emulator, without /api/v1 (required)
//   HEXCLAVE_EMU_PROJECT_ID      project id (required)
//   HEXCLAVE_EMU_PCK             publishable client key (required)
//   HEXCLAVE_EMU_SSK             secret server key (required)
//   HEXCLAVE_EMU_TOKEN_LIFETIME  access-token lifetime in seconds the emulator was started with (default 25);
//                                must be > 20 because the SDK refreshes tokens with < 20 s left
//   HEXCLAVE_EMU_HTTP_LOG        optional path: every HTTP exchange is written there as JSON lines
//   HEXCLAVE_EMU_ONLY            optional comma-separated flow names to run (default: all)
//   HEXCLAVE_EMU_VERBOSE=1       also print the HTTP exchanges of flows that passed
// The KEY=VALUE lines of the emulator's banner may also be in the environment; the `banner-env` flow
// builds apps from them alone, as a user who pasted the banner into .env would.

import { AsyncLocalStorage } from "node:async_hooks";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";

const env = process.env;
const CFG = {
  url: (env.HEXCLAVE_EMU_URL ?? "").replace(/\/+$/, ""),
  projectId: env.HEXCLAVE_EMU_PROJECT_ID,
  pck: env.HEXCLAVE_EMU_PCK,
  ssk: env.HEXCLAVE_EMU_SSK,
  lifetime: Number(env.HEXCLAVE_EMU_TOKEN_LIFETIME ?? "25"),
  httpLog: env.HEXCLAVE_EMU_HTTP_LOG || null,
  only: env.HEXCLAVE_EMU_ONLY ? new Set(env.HEXCLAVE_EMU_ONLY.split(",").map((s) => s.trim())) : null,
  verbose: env.HEXCLAVE_EMU_VERBOSE === "1",
};
for (const [k, v] of Object.entries({ HEXCLAVE_EMU_URL: CFG.url, HEXCLAVE_EMU_PROJECT_ID: CFG.projectId,
  HEXCLAVE_EMU_PCK: CFG.pck, HEXCLAVE_EMU_SSK: CFG.ssk })) {
  if (!v) {
    console.log(`FAIL setup: environment variable ${k} is not set`);
    process.exit(2);
  }
}

// ---------------------------------------------------------------------------------------------------------
// HTTP recording. Every fetch the SDK makes goes through this wrapper (the SDK looks `fetch` up on the global
// object at call time, including oauth4webapi's token-endpoint request). Requests are attributed to the flow
// that caused them through AsyncLocalStorage. Anything that is not loopback is refused: the SDK must only
// ever talk to the emulator (its network diagnostics would otherwise try public hosts).
// ---------------------------------------------------------------------------------------------------------
const flowContext = new AsyncLocalStorage();
const exchanges = []; // {flow, seq, t, method, url, path, reqHeaders, reqBody, status, resHeaders, resBody, error}
let seq = 0;
const realFetch = globalThis.fetch;
if (CFG.httpLog) writeFileSync(CFG.httpLog, "");

function headersToObject(h) {
  if (!h) return {};
  if (typeof Headers !== "undefined" && h instanceof Headers) return Object.fromEntries(h.entries());
  if (Array.isArray(h)) return Object.fromEntries(h.map(([k, v]) => [k.toLowerCase(), String(v)]));
  return Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

function bodyToString(body) {
  if (body == null) return null;
  if (typeof body === "string") return body;
  if (body instanceof URLSearchParams) return body.toString();
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) return `<${body.byteLength} bytes>`;
  return `<${Object.prototype.toString.call(body)}>`;
}

function isLoopback(urlString) {
  try {
    const h = new URL(urlString).hostname;
    return h === "localhost" || h === "[::1]" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
  } catch {
    return false;
  }
}

globalThis.fetch = async function recordingFetch(input, init = {}) {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  const method = String(init.method ?? (typeof input === "object" && !(input instanceof URL) ? input.method : null) ?? "GET").toUpperCase();
  const entry = {
    flow: flowContext.getStore()?.flow ?? "(background)",
    seq: ++seq,
    t: new Date().toISOString(),
    method,
    url,
    path: (() => { try { const u = new URL(url); return u.pathname + u.search; } catch { return url; } })(),
    reqHeaders: headersToObject(init.headers ?? (typeof input === "object" ? input.headers : undefined)),
    reqBody: bodyToString(init.body),
    status: null,
    resHeaders: null,
    resBody: null,
    error: null,
  };
  exchanges.push(entry);
  const persist = () => { if (CFG.httpLog) appendFileSync(CFG.httpLog, JSON.stringify(entry) + "\n"); };
  if (!isLoopback(url)) {
    entry.error = "blocked by flows.mjs: not a loopback address";
    persist();
    throw new TypeError(`flows.mjs refused a request to a non-loopback URL: ${method} ${url}`);
  }
  let res;
  try {
    res = await realFetch(input, init);
  } catch (e) {
    entry.error = String(e?.cause ?? e);
    persist();
    throw e;
  }
  entry.status = res.status;
  entry.resHeaders = headersToObject(res.headers);
  try {
    entry.resBody = await res.clone().text();
  } catch (e) {
    entry.resBody = `<unreadable: ${e}>`;
  }
  persist();
  return res;
};

// Imported after the fetch wrapper is in place.
const { StackClientApp, StackServerApp } = await import("@stackframe/js");
let sdkVersion = "?";
try {
  sdkVersion = JSON.parse(readFileSync(new URL("./node_modules/@stackframe/js/package.json", import.meta.url), "utf8")).version;
} catch {}

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------
class Mismatch extends Error {}

function check(cond, message) {
  if (!cond) throw new Mismatch(message);
}

function eq(actual, expected, what) {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new Mismatch(`${what}: expected ${e}, got ${a}`);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function uniqueEmail(tag) {
  return `sdk-${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@example.com`;
}

const PASSWORD = "Correct-Horse-Battery-9";

function decodeJwt(token) {
  const parts = String(token).split(".");
  check(parts.length === 3, `access token is not a JWT (${parts.length} dot-separated parts): ${String(token).slice(0, 40)}`);
  try {
    return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  } catch (e) {
    throw new Mismatch(`access token payload is not base64url JSON: ${e}`);
  }
}

// The SDK silently discards an access token whose payload fails this schema (stack-shared
// accessTokenPayloadSchema), so check it explicitly to give a precise message.
function checkAccessTokenClaims(token, what) {
  const p = decodeJwt(token);
  const problems = [];
  const req = (k, type, nullable = false) => {
    if (!(k in p) || p[k] === undefined) problems.push(`missing "${k}"`);
    else if (p[k] === null) { if (!nullable) problems.push(`"${k}" is null`); }
    else if (typeof p[k] !== type) problems.push(`"${k}" is ${typeof p[k]}, want ${type}`);
  };
  req("sub", "string"); req("iat", "number"); req("iss", "string"); req("aud", "string");
  req("project_id", "string"); req("branch_id", "string"); req("refresh_token_id", "string");
  req("role", "string"); req("name", "string", true); req("email", "string", true);
  req("email_verified", "boolean"); req("selected_team_id", "string", true); req("signed_up_at", "number");
  req("is_anonymous", "boolean"); req("is_restricted", "boolean"); req("requires_totp_mfa", "boolean");
  if (!("restricted_reason" in p)) problems.push(`missing "restricted_reason"`);
  if ("exp" in p && typeof p.exp !== "number") problems.push(`"exp" is ${typeof p.exp}, want number`);
  if (p.role !== undefined && p.role !== "authenticated") problems.push(`"role" is ${JSON.stringify(p.role)}, want "authenticated"`);
  if (p.project_id !== undefined && p.project_id !== CFG.projectId) problems.push(`"project_id" is ${JSON.stringify(p.project_id)}, want ${JSON.stringify(CFG.projectId)}`);
  if (problems.length) throw new Mismatch(`${what}: JWT claims the SDK requires are wrong: ${problems.join(", ")}; payload=${JSON.stringify(p)}`);
  return p;
}

function clientApp(extra = {}) {
  return new StackClientApp({
    baseUrl: CFG.url,
    projectId: CFG.projectId,
    publishableClientKey: CFG.pck,
    tokenStore: "memory",
    redirectMethod: "none",
    ...extra,
  });
}

function serverApp(extra = {}) {
  return new StackServerApp({
    baseUrl: CFG.url,
    projectId: CFG.projectId,
    publishableClientKey: CFG.pck,
    secretServerKey: CFG.ssk,
    tokenStore: "memory",
    redirectMethod: "none",
    ...extra,
  });
}

// A client app that already holds `tokens` (as a backend handling a request with the user's tokens would).
function clientAppWithTokens(tokens) {
  return clientApp({ tokenStore: { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken } });
}

async function signUp(app, email, password = PASSWORD) {
  const res = await app.signUpWithCredential({ email, password, noRedirect: true, noVerificationCallback: true });
  if (res.status !== "ok") throw new Mismatch(`signUpWithCredential(${email}) returned error ${describeError(res.error)}`);
}

async function signIn(app, email, password = PASSWORD) {
  const res = await app.signInWithCredential({ email, password, noRedirect: true });
  if (res.status !== "ok") throw new Mismatch(`signInWithCredential(${email}) returned error ${describeError(res.error)}`);
}

function describeError(e) {
  if (e == null) return String(e);
  const code = e.errorCode ? `${e.errorCode} ` : "";
  const lines = String(e.message ?? e).split("\n").map((l) => l.trim()).filter(Boolean);
  return `${code}${e.name ?? "Error"}: ${shorten(lines.slice(0, 6).join(" | "), 700)}`;
}

function errorChain(e) {
  const parts = [];
  const seen = new Set();
  let cur = e;
  while (cur && !seen.has(cur) && parts.length < 4) {
    seen.add(cur);
    if (cur instanceof Error) parts.push(describeError(cur));
    else if (typeof Response !== "undefined" && cur instanceof Response) parts.push(`Response ${cur.status} ${cur.url}`);
    else parts.push(JSON.stringify(cur)?.slice(0, 400));
    cur = cur?.cause;
  }
  return parts.join("  <-caused by-  ");
}

function shorten(v, n = 300) {
  if (v == null) return v;
  const s = String(v);
  return s.length > n ? s.slice(0, n) + `…(${s.length} chars)` : s;
}

const INTERESTING_REQ_HEADERS = /^(x-hexclave-|x-stack-|content-type$|authorization$)/;
const BORING_REQ_HEADERS = new Set(["x-hexclave-random-nonce", "x-hexclave-client-version", "x-hexclave-override-error-status", "x-hexclave-allow-anonymous-user"]);
const INTERESTING_RES_HEADERS = /^(x-hexclave-|x-stack-|content-type$|www-authenticate$|location$)/;

function formatExchange(x) {
  const tok = (v) => (typeof v === "string" && v.length > 48 ? v.slice(0, 24) + "…" + v.slice(-8) : v);
  const rq = Object.entries(x.reqHeaders).filter(([k]) => INTERESTING_REQ_HEADERS.test(k) && !BORING_REQ_HEADERS.has(k))
    .map(([k, v]) => `${k}: ${tok(v)}`).join("; ");
  const lines = [`    > #${x.seq} ${x.method} ${x.path}  [${rq}]${x.reqBody ? "  body=" + shorten(x.reqBody, 400) : ""}`];
  if (x.error) lines.push(`    < network error: ${x.error}`);
  else {
    const rs = Object.entries(x.resHeaders ?? {}).filter(([k]) => INTERESTING_RES_HEADERS.test(k)).map(([k, v]) => `${k}: ${v}`).join("; ");
    lines.push(`    < ${x.status} [${rs}]  body=${shorten(x.resBody, 600)}`);
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------------------
// The emulator's inbox API (no project authentication): the email-driven flows read their codes from there.
// These requests go through the recording fetch too, so a failed flow shows them with the SDK's.
// ---------------------------------------------------------------------------------------------------------
const CALLBACK = {
  magicLink: "http://localhost:3000/handler/magic-link-callback",
  passwordReset: "http://localhost:3000/handler/password-reset",
  emailVerification: "http://localhost:3000/handler/email-verification",
  teamInvitation: "http://localhost:3000/handler/team-invitation",
};
const INBOX_WAIT_S = 10;

async function inboxList(to) {
  const res = await fetch(`${CFG.url}/api/v1/emulator/inbox/messages?to=${encodeURIComponent(to)}`);
  const body = await res.text();
  if (res.status !== 200) throw new Mismatch(`GET /api/v1/emulator/inbox/messages?to=${to}: HTTP ${res.status}: ${shorten(body)}`);
  const json = JSON.parse(body);
  check(Array.isArray(json.items), `GET /api/v1/emulator/inbox/messages: no items array: ${shorten(body)}`);
  return json.items;
}

// The message to `to` whose subject contains `subject`, created at or after `since` (ms; 0 = any).
async function inboxWait(to, subject, { since = 0, timeoutS = INBOX_WAIT_S } = {}) {
  const q = new URLSearchParams({ to, since: String(since), timeout: String(timeoutS) });
  if (subject) q.set("subject", subject);
  const path = `/api/v1/emulator/inbox/wait?${q}`;
  const res = await fetch(`${CFG.url}${path}`);
  const body = await res.text();
  if (res.status === 408) {
    let seen = "?";
    try { seen = JSON.stringify((await inboxList(to)).map((m) => m.subject)); } catch {}
    throw new Mismatch(`no mail to ${to} with a subject containing ${JSON.stringify(subject)} arrived within ${timeoutS} s `
      + `(since ${since}); subjects in the inbox for that address: ${seen}`);
  }
  if (res.status !== 200) throw new Mismatch(`GET ${path}: HTTP ${res.status}: ${shorten(body)}`);
  const msg = JSON.parse(body);
  check(Array.isArray(msg.to) && msg.to.some((r) => r.toLowerCase() === to.toLowerCase()), `inbox message ${msg.id} is not addressed to ${to}: ${JSON.stringify(msg.to)}`);
  return msg;
}

// The 45-character code of a message, checked against the link the message carries to `callbackUrl`.
function codeFromMail(msg, callbackUrl) {
  const what = `mail ${JSON.stringify(msg.subject)} to ${msg.to}`;
  check(typeof msg.code === "string" && msg.code.length === 45, `${what}: inbox code is ${JSON.stringify(msg.code)}, want a 45-character code; links=${JSON.stringify(msg.links)}`);
  const link = (msg.links ?? []).find((l) => { try { return new URL(l).searchParams.get("code") === msg.code; } catch { return false; } });
  check(link, `${what}: no link carries ?code=${msg.code}; links=${JSON.stringify(msg.links)}`);
  const u = new URL(link);
  eq(u.origin + u.pathname, callbackUrl, `${what}: the link's target (callback URL without query)`);
  check(typeof msg.text === "string" && msg.text.includes(msg.code), `${what}: the text part does not contain the code`);
  return msg.code;
}

async function expectCodeError(promise, what, codes = ["VERIFICATION_CODE_ALREADY_USED"]) {
  let res;
  try {
    res = await promise;
  } catch (e) {
    throw new Mismatch(`${what} threw instead of returning Result.error: ${errorChain(e)}`);
  }
  eq(res?.status, "error", `${what}: result status`);
  check(codes.includes(res.error?.errorCode), `${what}: error code ${JSON.stringify(res.error?.errorCode)}, want one of ${JSON.stringify(codes)} (${describeError(res.error)})`);
}

function resultOk(res, what) {
  if (res?.status !== "ok") throw new Mismatch(`${what} returned ${res?.status === "error" ? "error " + describeError(res.error) : JSON.stringify(res)}`);
  return res.data;
}

// Completes a checkout as the browser form does (POST the emulator's checkout page, Stripe's 4242 test card);
// returns where the page redirects to.
async function payOnCheckoutPage(checkoutUrl, fields = {}) {
  const url = new URL(checkoutUrl);
  const page = await fetch(url);
  eq(page.status, 200, `GET ${url.pathname} (the checkout page): HTTP status`);
  const body = new URLSearchParams({ action: "pay", card_number: "4242 4242 4242 4242", card_expiry: "12/49", card_cvc: "123",
    card_name: "SDK Buyer", return_url: url.searchParams.get("return_url") ?? "", ...fields });
  const res = await fetch(url.origin + url.pathname, { method: "POST", body, redirect: "manual" });
  const text = await res.text();
  eq(res.status, 303, `POST ${url.pathname} with 4242 4242 4242 4242: HTTP status (page: ${shorten(text.replace(/\s+/g, " "), 300)})`);
  return res.headers.get("location");
}

// ---------------------------------------------------------------------------------------------------------
// Flows. Each throws on any mismatch. They are run in two concurrent chains (the token-refresh chain has to
// wait for an access token to really expire; the main chain runs meanwhile).
// ---------------------------------------------------------------------------------------------------------
const shared = {}; // values handed from one flow to a later one of the same chain

const flows = {
  // --- client -------------------------------------------------------------------------------------------
  async "client-project"() {
    const app = clientApp();
    const project = await app.getProject();
    eq(project.id, CFG.projectId, "getProject().id");
    eq(project.config.signUpEnabled, true, "getProject().config.signUpEnabled");
    eq(project.config.credentialEnabled, true, "getProject().config.credentialEnabled");
    eq(project.config.clientTeamCreationEnabled, true, "getProject().config.clientTeamCreationEnabled");
    eq(project.config.clientUserDeletionEnabled, true, "getProject().config.clientUserDeletionEnabled");
    check(Array.isArray(project.config.oauthProviders), "getProject().config.oauthProviders is not an array");
  },

  async "client-sign-up"() {
    const app = clientApp();
    const email = uniqueEmail("signup");
    await signUp(app, email);
    const user = await app.getUser();
    check(user !== null, "getUser() returned null right after signUpWithCredential");
    eq(user.primaryEmail, email, "user.primaryEmail after sign-up");
    check(typeof user.id === "string" && user.id.length > 0, `user.id is not a non-empty string: ${JSON.stringify(user.id)}`);
    eq(user.isAnonymous, false, "user.isAnonymous after sign-up");
    eq(user.hasPassword, true, "user.hasPassword after sign-up");
    const { accessToken, refreshToken } = await user.currentSession.getTokens();
    check(accessToken && refreshToken, `currentSession.getTokens() lacks a token: ${JSON.stringify({ accessToken: !!accessToken, refreshToken: !!refreshToken })}`);
    const claims = checkAccessTokenClaims(accessToken, "access token from sign-up");
    eq(claims.sub, user.id, "access token sub");
    shared.signUp = { email, id: user.id };
  },

  async "client-sign-up-duplicate"() {
    const email = shared.signUp?.email ?? (await (async () => { const e = uniqueEmail("dup"); await signUp(clientApp(), e); return e; })());
    const res = await clientApp().signUpWithCredential({ email, password: PASSWORD, noRedirect: true, noVerificationCallback: true });
    eq(res.status, "error", "signUpWithCredential with an existing email: result status");
    eq(res.error?.errorCode, "USER_EMAIL_ALREADY_EXISTS", "signUpWithCredential with an existing email: error code");
  },

  async "client-sign-up-with-verification-callback"() {
    // What a server-side app passes in node: an explicit absolute callback URL on localhost.
    const app = clientApp();
    const email = uniqueEmail("verify-cb");
    const res = await app.signUpWithCredential({ email, password: PASSWORD, noRedirect: true,
      verificationCallbackUrl: "http://localhost:3000/handler/email-verification" });
    if (res.status !== "ok") throw new Mismatch(`signUpWithCredential with verificationCallbackUrl returned error ${describeError(res.error)}`);
    const user = await app.getUser();
    check(user !== null, "getUser() returned null after sign-up with verificationCallbackUrl");
    eq(user.primaryEmail, email, "user.primaryEmail");
    eq(user.primaryEmailVerified, false, "user.primaryEmailVerified right after sign-up");
  },

  async "client-sign-in"() {
    const email = uniqueEmail("signin");
    const signUpApp = clientApp();
    await signUp(signUpApp, email);
    const signedUp = await signUpApp.getUser({ or: "throw" });
    const app = clientApp(); // a fresh app: nothing in its token store
    eq(await app.getUser(), null, "getUser() on a fresh app before sign-in");
    await signIn(app, email);
    const user = await app.getUser();
    check(user !== null, "getUser() returned null after signInWithCredential");
    eq(user.primaryEmail, email, "user.primaryEmail after sign-in");
    eq(user.id, signedUp.id, "user.id after sign-in (same user as signed up)");
    checkAccessTokenClaims(await user.getAccessToken(), "access token from sign-in");
  },

  async "client-wrong-password"() {
    const email = uniqueEmail("wrongpw");
    await signUp(clientApp(), email);
    const app = clientApp();
    let res;
    try {
      res = await app.signInWithCredential({ email, password: "Wrong-Password-123", noRedirect: true });
    } catch (e) {
      throw new Mismatch(`signInWithCredential with a wrong password threw instead of returning Result.error: ${errorChain(e)}`);
    }
    eq(res.status, "error", "signInWithCredential(wrong password) result status");
    eq(res.error?.errorCode, "EMAIL_PASSWORD_MISMATCH", "signInWithCredential(wrong password) error code");
    eq(await app.getUser(), null, "getUser() after a failed sign-in");
    // Unknown e-mail: same typed error.
    const res2 = await app.signInWithCredential({ email: uniqueEmail("nobody"), password: PASSWORD, noRedirect: true });
    eq(res2.status, "error", "signInWithCredential(unknown email) result status");
    eq(res2.error?.errorCode, "EMAIL_PASSWORD_MISMATCH", "signInWithCredential(unknown email) error code");
  },

  async "client-update-user"() {
    const app = clientApp();
    const email = uniqueEmail("update");
    await signUp(app, email);
    const user = await app.getUser({ or: "throw" });
    const meta = { plan: "pro", nested: { n: 3, list: [1, "two", null] } };
    await user.update({ displayName: "SDK Tester", clientMetadata: meta });
    const again = await app.getUser({ or: "throw" });
    eq(again.displayName, "SDK Tester", "displayName after user.update (same app)");
    eq(again.clientMetadata, meta, "clientMetadata after user.update (same app)");
    // Re-fetch through a brand-new app holding the same tokens: no SDK cache involved.
    const fresh = clientAppWithTokens(await again.currentSession.getTokens());
    const refetched = await fresh.getUser({ or: "throw" });
    eq(refetched.id, user.id, "id re-fetched by a fresh app");
    eq(refetched.displayName, "SDK Tester", "displayName re-fetched by a fresh app");
    eq(refetched.clientMetadata, meta, "clientMetadata re-fetched by a fresh app");
    // setDisplayName is a thin wrapper over update; null clears.
    await refetched.update({ displayName: null });
    const cleared = await clientAppWithTokens(await refetched.currentSession.getTokens()).getUser({ or: "throw" });
    eq(cleared.displayName, null, "displayName after update({displayName: null})");
    eq(cleared.clientMetadata, meta, "clientMetadata untouched by a displayName-only update");
  },

  async "client-sign-out"() {
    const app = clientApp();
    const email = uniqueEmail("signout");
    await signUp(app, email);
    const user = await app.getUser({ or: "throw" });
    const tokens = await user.currentSession.getTokens();
    await user.signOut();
    eq(await app.getUser(), null, "getUser() after user.signOut()");
    // The session is revoked on the server: a fresh app with the old refresh token only must not get a user.
    const stale = clientApp({ tokenStore: { accessToken: null, refreshToken: tokens.refreshToken } });
    eq(await stale.getUser(), null, "getUser() with the refresh token of a signed-out session");
    // And app.signOut() when nobody is signed in is a no-op.
    await app.signOut();
    eq(await app.getUser(), null, "getUser() after app.signOut() with nobody signed in");
  },

  async "client-anonymous"() {
    const app = clientApp();
    eq(await app.getUser(), null, "getUser() before anonymous sign-up");
    const anon = await app.getUser({ or: "anonymous" });
    check(anon !== null, "getUser({or: 'anonymous'}) returned null");
    eq(anon.isAnonymous, true, "user.isAnonymous for getUser({or: 'anonymous'})");
    eq(anon.primaryEmail, null, "anonymous user's primaryEmail");
    const claims = checkAccessTokenClaims(await anon.getAccessToken(), "anonymous access token");
    eq(claims.is_anonymous, true, "anonymous access token claim is_anonymous");
    // A plain getUser() hides anonymous users; asking again for anonymous returns the same one.
    eq(await app.getUser(), null, "getUser() (no options) with an anonymous session");
    const again = await app.getUser({ or: "anonymous" });
    eq(again.id, anon.id, "second getUser({or: 'anonymous'}) id");
  },

  async "client-delete-self"() {
    const app = clientApp();
    const email = uniqueEmail("selfdelete");
    await signUp(app, email);
    const user = await app.getUser({ or: "throw" });
    await user.delete();
    eq(await app.getUser(), null, "getUser() after user.delete()");
    eq(await serverApp().getUser(user.id), null, "server getUser(id) of a self-deleted user");
    const res = await clientApp().signInWithCredential({ email, password: PASSWORD, noRedirect: true });
    eq(res.error?.errorCode, "EMAIL_PASSWORD_MISMATCH", "signing in as a deleted user: error code");
  },

  // --- email-driven flows (codes read from the emulator's inbox API) -------------------------------------
  async "client-magic-link-sign-in"() {
    // A new address: the magic link signs a new user up, with the address verified.
    const email = uniqueEmail("magic");
    const app = clientApp();
    const since = Date.now();
    const sent = resultOk(await app.sendMagicLinkEmail(email, { callbackUrl: CALLBACK.magicLink }), "sendMagicLinkEmail");
    check(typeof sent?.nonce === "string" && sent.nonce.length > 0, `sendMagicLinkEmail: data.nonce is ${JSON.stringify(sent?.nonce)}`);
    const msg = await inboxWait(email, "Sign in to", { since });
    const code = codeFromMail(msg, CALLBACK.magicLink);
    eq(code.slice(6), sent.nonce, "nonce returned by sendMagicLinkEmail (the code after its 6-character OTP)");
    eq(await app.getUser(), null, "getUser() before signInWithMagicLink");
    resultOk(await app.signInWithMagicLink(code, { noRedirect: true }), "signInWithMagicLink(code from the mail)");
    const user = await app.getUser();
    check(user !== null, "getUser() returned null after signInWithMagicLink");
    eq(user.primaryEmail, email, "user.primaryEmail after magic-link sign-up");
    eq(user.primaryEmailVerified, true, "user.primaryEmailVerified after magic-link sign-up");
    eq(user.hasPassword, false, "user.hasPassword after magic-link sign-up");
    eq(user.otpAuthEnabled, true, "user.otpAuthEnabled after magic-link sign-up");
    const claims = checkAccessTokenClaims(await user.getAccessToken(), "access token from magic-link sign-in");
    eq(claims.email_verified, true, "access token claim email_verified after magic-link sign-in");
    // A used code is refused.
    await expectCodeError(clientApp().signInWithMagicLink(code, { noRedirect: true }), "signInWithMagicLink with an already used code");
    // A callback URL outside the trusted domains is a typed error, and sends nothing.
    const other = uniqueEmail("magic-untrusted");
    await expectCodeError(clientApp().sendMagicLinkEmail(other, { callbackUrl: "https://untrusted.example.com/handler/magic-link-callback" }),
      "sendMagicLinkEmail with a callback URL that is not trusted", ["REDIRECT_URL_NOT_WHITELISTED"]);
    eq((await inboxList(other)).length, 0, "mails sent for a refused sendMagicLinkEmail");
    shared.magic = { email, id: user.id };
  },

  async "client-magic-link-upgrades-anonymous"() {
    // Signing in with a code for a new address while an anonymous session exists upgrades that user.
    const app = clientApp();
    const anon = await app.getUser({ or: "anonymous" });
    eq(anon.isAnonymous, true, "user.isAnonymous before the magic link");
    const email = uniqueEmail("magic-anon");
    const since = Date.now();
    resultOk(await app.sendMagicLinkEmail(email, { callbackUrl: CALLBACK.magicLink }), "sendMagicLinkEmail (anonymous session)");
    const code = codeFromMail(await inboxWait(email, "Sign in to", { since }), CALLBACK.magicLink);
    resultOk(await app.signInWithMagicLink(code, { noRedirect: true }), "signInWithMagicLink (anonymous session)");
    const user = await app.getUser({ or: "throw" });
    eq(user.id, anon.id, "user id after the magic link (the anonymous user, upgraded)");
    eq(user.isAnonymous, false, "user.isAnonymous after the magic link");
    eq(user.primaryEmail, email, "user.primaryEmail after the magic link");
    eq(user.primaryEmailVerified, true, "user.primaryEmailVerified after the magic link");
  },

  async "client-otp-sign-in"() {
    // The 6-character code from the subject + the nonce returned by the send call, as the SDK's OTP form does
    // (signInWithMagicLink(otp + nonce)). The address belongs to the verified user of the previous flow.
    let { email, id } = shared.magic ?? {};
    if (!email) {
      email = uniqueEmail("otp");
      id = (await serverApp().createUser({ primaryEmail: email, primaryEmailVerified: true, primaryEmailAuthEnabled: true })).id;
    }
    const app = clientApp();
    const since = Date.now();
    const { nonce } = resultOk(await app.sendMagicLinkEmail(email, { callbackUrl: CALLBACK.magicLink }), "sendMagicLinkEmail (existing user)");
    const msg = await inboxWait(email, "Sign in to", { since });
    const m = /Your code is ([A-Za-z0-9]{6})\s*$/.exec(msg.subject);
    check(m, `subject ${JSON.stringify(msg.subject)} does not end with "Your code is XXXXXX"`);
    const otp = m[1];
    eq(otp, otp.toUpperCase(), "OTP in the subject (shown in upper case)");
    check(msg.text.includes(otp), `the text part does not show the OTP ${otp}`);
    eq(msg.code.slice(0, 6).toUpperCase(), otp, "the link's code starts with the OTP of the subject");
    // A wrong OTP with the right nonce is a verification-code error, and does not burn the real code.
    const wrong = (otp[0] === "A" ? "B" : "A") + otp.slice(1);
    await expectCodeError(app.signInWithMagicLink(wrong + nonce, { noRedirect: true }), "signInWithMagicLink(wrong OTP + nonce)",
      ["VERIFICATION_CODE_NOT_FOUND"]);
    eq(await app.getUser(), null, "getUser() after a wrong OTP");
    resultOk(await app.signInWithMagicLink(otp + nonce, { noRedirect: true }), "signInWithMagicLink(OTP from the subject + nonce)");
    const user = await app.getUser({ or: "throw" });
    eq(user.id, id, "user id signed in by OTP (the existing user)");
    eq(user.primaryEmail, email, "user.primaryEmail after OTP sign-in");
    eq(user.primaryEmailVerified, true, "user.primaryEmailVerified after OTP sign-in");
    // The link's code is the same code: already used now.
    await expectCodeError(clientApp().signInWithMagicLink(msg.code, { noRedirect: true }), "signInWithMagicLink(link code after the OTP was used)");
  },

  async "client-password-reset"() {
    const email = uniqueEmail("reset");
    await signUp(clientApp(), email);
    const app = clientApp();
    const NEW = "Brand-New-Password-77";
    // Unknown addresses get the same answer and no mail.
    const nobody = uniqueEmail("reset-nobody");
    resultOk(await app.sendForgotPasswordEmail(nobody, { callbackUrl: CALLBACK.passwordReset }), "sendForgotPasswordEmail(unknown email)");
    const since = Date.now();
    resultOk(await app.sendForgotPasswordEmail(email, { callbackUrl: CALLBACK.passwordReset }), "sendForgotPasswordEmail");
    const msg = await inboxWait(email, "Reset your password", { since });
    const code = codeFromMail(msg, CALLBACK.passwordReset);
    await expectCodeError(app.verifyPasswordResetCode("0".repeat(45)), "verifyPasswordResetCode(unknown code)", ["VERIFICATION_CODE_NOT_FOUND"]);
    resultOk(await app.verifyPasswordResetCode(code), "verifyPasswordResetCode(code from the mail)");
    resultOk(await app.verifyPasswordResetCode(code), "verifyPasswordResetCode again (checking does not use the code)");
    resultOk(await app.resetPassword({ code, password: NEW }), "resetPassword({code, password})");
    await expectCodeError(app.resetPassword({ code, password: "Yet-Another-Password-88" }), "resetPassword with a used code");
    await expectCodeError(app.verifyPasswordResetCode(code), "verifyPasswordResetCode with a used code");
    const old = await clientApp().signInWithCredential({ email, password: PASSWORD, noRedirect: true });
    eq(old.error?.errorCode, "EMAIL_PASSWORD_MISMATCH", "sign-in with the old password after resetPassword");
    const fresh = clientApp();
    await signIn(fresh, email, NEW);
    eq((await fresh.getUser({ or: "throw" })).primaryEmail, email, "primaryEmail after signing in with the new password");
    eq((await inboxList(nobody)).length, 0, `mails to the unknown address ${nobody}`);
  },

  async "client-email-verification"() {
    const app = clientApp();
    const email = uniqueEmail("verify");
    const since = Date.now();
    const res = await app.signUpWithCredential({ email, password: PASSWORD, noRedirect: true,
      verificationCallbackUrl: CALLBACK.emailVerification });
    if (res.status !== "ok") throw new Mismatch(`signUpWithCredential with verificationCallbackUrl returned error ${describeError(res.error)}`);
    const msg = await inboxWait(email, "Verify your email", { since });
    const code = codeFromMail(msg, CALLBACK.emailVerification);
    const before = await app.getUser({ or: "throw" });
    eq(before.primaryEmailVerified, false, "user.primaryEmailVerified before verifyEmail");
    await expectCodeError(app.verifyEmail("0".repeat(45)), "verifyEmail(unknown code)", ["VERIFICATION_CODE_NOT_FOUND"]);
    resultOk(await app.verifyEmail(code), "verifyEmail(code from the mail)");
    const after = await app.getUser({ or: "throw" });
    eq(after.primaryEmailVerified, true, "user.primaryEmailVerified after verifyEmail (same app)");
    const refetched = await clientAppWithTokens(await after.currentSession.getTokens()).getUser({ or: "throw" });
    eq(refetched.primaryEmailVerified, true, "user.primaryEmailVerified re-fetched by a fresh app");
    eq((await serverApp().getUser(after.id))?.primaryEmailVerified, true, "server getUser(id).primaryEmailVerified");
    await expectCodeError(app.verifyEmail(code), "verifyEmail with a used code");
  },

  async "client-send-verification-email"() {
    // user.sendVerificationEmail(): a later verification mail for the primary address.
    const app = clientApp();
    const email = uniqueEmail("resend");
    await signUp(app, email); // noVerificationCallback: no mail at sign-up
    const user = await app.getUser({ or: "throw" });
    const since = Date.now();
    await user.sendVerificationEmail({ callbackUrl: CALLBACK.emailVerification });
    const msg = await inboxWait(email, "Verify your email", { since });
    resultOk(await app.verifyEmail(codeFromMail(msg, CALLBACK.emailVerification)), "verifyEmail(code from user.sendVerificationEmail)");
    eq((await app.getUser({ or: "throw" })).primaryEmailVerified, true, "user.primaryEmailVerified after verifyEmail");
    eq((await inboxList(email)).length, 1, `mails to ${email} (signed up with noVerificationCallback, then one sendVerificationEmail)`);
  },

  async "client-contact-channels"() {
    const app = clientApp();
    const email = uniqueEmail("cc");
    await signUp(app, email);
    const user = await app.getUser({ or: "throw" });
    const initial = await user.listContactChannels();
    check(Array.isArray(initial), "listContactChannels() did not return an array");
    eq(initial.map((c) => ({ value: c.value, type: c.type, isPrimary: c.isPrimary, isVerified: c.isVerified, usedForAuth: c.usedForAuth })),
      [{ value: email, type: "email", isPrimary: true, isVerified: false, usedForAuth: true }], "listContactChannels() after sign-up");
    const second = uniqueEmail("cc-2nd");
    const ch = await user.createContactChannel({ value: second, type: "email", usedForAuth: false });
    check(typeof ch?.id === "string" && ch.id.length > 0, `createContactChannel() returned id ${JSON.stringify(ch?.id)}`);
    eq({ value: ch.value, type: ch.type, isPrimary: ch.isPrimary, isVerified: ch.isVerified, usedForAuth: ch.usedForAuth },
      { value: second, type: "email", isPrimary: false, isVerified: false, usedForAuth: false }, "createContactChannel() result");
    const listed = await user.listContactChannels();
    eq(listed.map((c) => c.value).sort(), [email, second].sort(), "listContactChannels() values after createContactChannel");
    const since = Date.now();
    await ch.sendVerificationEmail({ callbackUrl: CALLBACK.emailVerification });
    const msg = await inboxWait(second, "Verify your email", { since });
    const code = codeFromMail(msg, CALLBACK.emailVerification);
    eq((await inboxList(email)).length, 0, "mails to the primary address while verifying the second channel");
    resultOk(await app.verifyEmail(code), "verifyEmail(code sent to the new contact channel)");
    const after = await user.listContactChannels();
    const verified = after.find((c) => c.id === ch.id);
    check(verified, `listContactChannels() lost channel ${ch.id} after verifyEmail`);
    eq(verified.isVerified, true, "new contact channel isVerified after verifyEmail");
    eq(after.find((c) => c.value === email)?.isVerified, false, "primary channel isVerified (untouched)");
    eq((await app.getUser({ or: "throw" })).primaryEmailVerified, false, "user.primaryEmailVerified (the primary address was not verified)");
    // Update and delete through the channel object; the server sees the same.
    await verified.update({ usedForAuth: true });
    eq((await user.listContactChannels()).find((c) => c.id === ch.id)?.usedForAuth, true, "usedForAuth after channel.update");
    const serverUser = await serverApp().getUser(user.id);
    const serverChannels = await serverUser.listContactChannels();
    eq(serverChannels.find((c) => c.id === ch.id)?.isVerified, true, "server listContactChannels(): isVerified of the new channel");
    await verified.delete();
    eq((await user.listContactChannels()).map((c) => c.value), [email], "listContactChannels() after channel.delete");
  },

  // --- server -------------------------------------------------------------------------------------------
  async "server-create-get-list"() {
    const server = serverApp();
    const email = uniqueEmail("srv");
    const created = await server.createUser({ primaryEmail: email, password: PASSWORD, displayName: "Server Made",
      primaryEmailAuthEnabled: true, serverMetadata: { tier: "gold" } });
    check(typeof created.id === "string" && created.id.length > 0, `createUser returned id ${JSON.stringify(created.id)}`);
    eq(created.primaryEmail, email, "createUser().primaryEmail");
    eq(created.displayName, "Server Made", "createUser().displayName");
    eq(created.hasPassword, true, "createUser().hasPassword");
    eq(created.serverMetadata, { tier: "gold" }, "createUser().serverMetadata");
    const got = await serverApp().getUser(created.id);
    check(got !== null, `getUser(${created.id}) returned null for a user just created`);
    eq(got.id, created.id, "getUser(id).id");
    eq(got.primaryEmail, email, "getUser(id).primaryEmail");
    eq(got.displayName, "Server Made", "getUser(id).displayName");
    check(got.signedUpAt instanceof Date && !Number.isNaN(got.signedUpAt.getTime()), `getUser(id).signedUpAt is not a valid date: ${got.signedUpAt}`);
    const list = await serverApp().listUsers();
    check(Array.isArray(list), "listUsers() did not return an array");
    check(list.some((u) => u.id === created.id), `listUsers() (${list.length} users) does not contain the user just created`);
    check(list.nextCursor === null || typeof list.nextCursor === "string", `listUsers().nextCursor is ${JSON.stringify(list.nextCursor)}`);
    await server.createUser({ primaryEmail: uniqueEmail("srv-2nd") }); // so that there are >= 2 users to page through
    const page = await serverApp().listUsers({ limit: 1 });
    eq(page.length, 1, "listUsers({limit: 1}).length");
    check(typeof page.nextCursor === "string", `listUsers({limit: 1}).nextCursor should be a cursor string when more users exist, got ${JSON.stringify(page.nextCursor)}`);
    const page2 = await serverApp().listUsers({ limit: 1, cursor: page.nextCursor });
    eq(page2.length, 1, "listUsers({limit: 1, cursor}).length");
    check(page2[0].id !== page[0].id, "listUsers second page repeats the first page's user");
    shared.serverUser = { id: created.id, email };
  },

  async "server-user-signs-in-on-client"() {
    let { email, id } = shared.serverUser ?? {};
    if (!email) {
      email = uniqueEmail("srv-signin");
      id = (await serverApp().createUser({ primaryEmail: email, password: PASSWORD, primaryEmailAuthEnabled: true })).id;
    }
    const app = clientApp();
    await signIn(app, email);
    const user = await app.getUser({ or: "throw" });
    eq(user.id, id, "client user id for a server-created user");
    eq(user.primaryEmail, email, "client user primaryEmail for a server-created user");
  },

  async "server-update-user"() {
    const server = serverApp();
    const email = uniqueEmail("srv-upd");
    const created = await server.createUser({ primaryEmail: email, password: PASSWORD, displayName: "Before", primaryEmailAuthEnabled: true });
    await created.update({ displayName: "After", clientMetadata: { a: 1 }, serverMetadata: { secret: true }, clientReadOnlyMetadata: { ro: "x" } });
    const got = await serverApp().getUser(created.id);
    check(got !== null, "getUser(id) returned null after update");
    eq(got.displayName, "After", "displayName after server user.update");
    eq(got.clientMetadata, { a: 1 }, "clientMetadata after server user.update");
    eq(got.serverMetadata, { secret: true }, "serverMetadata after server user.update");
    eq(got.clientReadOnlyMetadata, { ro: "x" }, "clientReadOnlyMetadata after server user.update");
    // The client sees client + client-read-only metadata of the same user.
    const app = clientApp();
    await signIn(app, email);
    const me = await app.getUser({ or: "throw" });
    eq(me.displayName, "After", "client displayName after server update");
    eq(me.clientMetadata, { a: 1 }, "client clientMetadata after server update");
    eq(me.clientReadOnlyMetadata, { ro: "x" }, "client clientReadOnlyMetadata after server update");
    check(!("serverMetadata" in me) || me.serverMetadata === undefined, "client user exposes serverMetadata");
    // Password change from the server: the new password signs in, the old one does not.
    await got.update({ password: "New-Password-456" });
    const bad = await clientApp().signInWithCredential({ email, password: PASSWORD, noRedirect: true });
    eq(bad.error?.errorCode, "EMAIL_PASSWORD_MISMATCH", "sign-in with the old password after a server password change");
    await signIn(clientApp(), email, "New-Password-456");
  },

  async "server-delete-user"() {
    const server = serverApp();
    const email = uniqueEmail("srv-del");
    const created = await server.createUser({ primaryEmail: email, password: PASSWORD, primaryEmailAuthEnabled: true });
    check((await serverApp().getUser(created.id)) !== null, "getUser(id) null before delete");
    await created.delete();
    eq(await serverApp().getUser(created.id), null, "getUser(id) after user.delete()");
    eq(await server.getUser(created.id), null, "getUser(id) after user.delete() (same app)");
    const list = await serverApp().listUsers();
    check(!list.some((u) => u.id === created.id), "listUsers() still contains the deleted user");
    const res = await clientApp().signInWithCredential({ email, password: PASSWORD, noRedirect: true });
    eq(res.error?.errorCode, "EMAIL_PASSWORD_MISMATCH", "signing in as a deleted user: error code");
    // A random (well-formed) id is simply not found.
    eq(await serverApp().getUser("00000000-0000-4000-8000-000000000000"), null, "getUser(unknown uuid)");
  },

  // --- configuration from the banner --------------------------------------------------------------------
  async "banner-env"() {
    // Apps built only from the environment variables the emulator's banner prints.
    const urlVars = ["NEXT_PUBLIC_SERVER_HEXCLAVE_API_URL", "NEXT_PUBLIC_SERVER_STACK_API_URL", "NEXT_PUBLIC_HEXCLAVE_API_URL_SERVER",
      "NEXT_PUBLIC_STACK_API_URL_SERVER", "HEXCLAVE_API_URL_SERVER", "STACK_API_URL_SERVER", "NEXT_PUBLIC_HEXCLAVE_API_URL",
      "NEXT_PUBLIC_STACK_API_URL", "HEXCLAVE_API_URL", "STACK_API_URL", "NEXT_PUBLIC_HEXCLAVE_URL", "NEXT_PUBLIC_STACK_URL"];
    const used = urlVars.find((k) => env[k]);
    check(used, `the banner sets none of the API URL variables the SDK reads (${urlVars.join(", ")})`);
    check(isLoopback(env[used]), `${used}=${env[used]} is not a loopback URL`);
    eq(env[used].replace(/\/+$/, ""), CFG.url, `${used} (the SDK appends /api/v1 itself)`);
    const pidVar = ["NEXT_PUBLIC_HEXCLAVE_PROJECT_ID", "NEXT_PUBLIC_STACK_PROJECT_ID", "HEXCLAVE_PROJECT_ID", "STACK_PROJECT_ID"].find((k) => env[k]);
    check(pidVar, "the banner sets no project id variable the SDK reads");
    const sskVar = ["HEXCLAVE_SECRET_SERVER_KEY", "STACK_SECRET_SERVER_KEY"].find((k) => env[k]);
    check(sskVar, "the banner sets no secret server key variable the SDK reads");
    const server = new StackServerApp({ tokenStore: "memory", redirectMethod: "none" });
    eq(server.projectId, CFG.projectId, "projectId read from the environment");
    const email = uniqueEmail("env");
    const created = await server.createUser({ primaryEmail: email, password: PASSWORD, primaryEmailAuthEnabled: true });
    const client = new StackClientApp({ tokenStore: "memory", redirectMethod: "none" });
    await signIn(client, email);
    eq((await client.getUser({ or: "throw" })).id, created.id, "user id signed in by an env-configured client app");
  },

  // --- teams, permissions, invitations, API keys ---------------------------------------------------------
  async "client-teams"() {
    const app = clientApp();
    await signUp(app, uniqueEmail("teams"));
    const user = await app.getUser({ or: "throw" });
    const team = await user.createTeam({ displayName: "SDK Team" });
    check(typeof team.id === "string" && team.id.length === 36, `createTeam() returned id ${JSON.stringify(team.id)}`);
    eq((await user.listTeams()).map((t) => t.displayName), ["SDK Team"], "listTeams() display names");
    eq((await app.getUser({ or: "throw" })).selectedTeam?.id, team.id, "selectedTeam after createTeam()");
    eq(await user.hasPermission(team, "$update_team"), true, "hasPermission(team, $update_team) of the creator");
    eq((await user.listPermissions(team, { recursive: false })).map((p) => p.id), ["team_admin"], "direct permissions of the creator");
    await team.update({ displayName: "SDK Team Renamed" });
    eq((await user.listTeams()).map((t) => t.displayName), ["SDK Team Renamed"], "listTeams() after team.update()");
    await team.delete();
    eq((await user.listTeams()).length, 0, "listTeams() after team.delete()");
    eq((await app.getUser({ or: "throw" })).selectedTeam, null, "selectedTeam after deleting it");
  },

  async "server-teams-permissions"() {
    const server = serverApp();
    const owner = await server.createUser({ primaryEmail: uniqueEmail("owner"), primaryEmailAuthEnabled: true, password: PASSWORD });
    const member = await server.createUser({ primaryEmail: uniqueEmail("member"), primaryEmailAuthEnabled: true, password: PASSWORD });
    const team = await server.createTeam({ displayName: "Server Team", creatorUserId: owner.id });
    await team.addUser(member.id);
    eq((await team.listUsers()).map((u) => u.id).sort(), [owner.id, member.id].sort(), "team.listUsers() ids");
    eq(await member.hasPermission(team, "$remove_members"), false, "member has $remove_members before the grant");
    await member.grantPermission(team, "moderator");
    eq(await member.hasPermission(team, "$remove_members"), true, "member has $remove_members through moderator");
    eq((await member.listPermissions(team, { recursive: false })).map((p) => p.id).sort(), ["moderator", "team_member"], "member's direct team permissions");
    await member.revokePermission(team, "moderator");
    eq(await member.hasPermission(team, "moderator"), false, "moderator after revokePermission()");
    eq(await member.hasPermission("read_reports"), false, "project permission before the grant");
    await member.grantPermission("read_reports");
    eq(await member.hasPermission("read_reports"), true, "project permission after grantPermission()");
    eq((await server.listTeams({ userId: member.id })).map((t) => t.id), [team.id], "server listTeams({userId})");
    await team.removeUser(member.id);
    eq((await team.listUsers()).map((u) => u.id), [owner.id], "team.listUsers() after removeUser()");
  },

  async "client-team-invitation"() {
    const ownerApp = clientApp();
    await signUp(ownerApp, uniqueEmail("inviter"));
    const owner = await ownerApp.getUser({ or: "throw" });
    const team = await owner.createTeam({ displayName: "Invite Team" });
    const inviteeEmail = uniqueEmail("invitee");
    const since = Date.now();
    await team.inviteUser({ email: inviteeEmail, callbackUrl: CALLBACK.teamInvitation });
    const mail = await inboxWait(inviteeEmail, "join", { since });
    const code = codeFromMail(mail, CALLBACK.teamInvitation);
    const inviteeApp = clientApp();
    await signUp(inviteeApp, inviteeEmail);
    resultOk(await inviteeApp.verifyTeamInvitationCode(code), "verifyTeamInvitationCode()");
    eq(resultOk(await inviteeApp.getTeamInvitationDetails(code), "getTeamInvitationDetails()").teamDisplayName, "Invite Team", "invitation details teamDisplayName");
    resultOk(await inviteeApp.acceptTeamInvitation(code), "acceptTeamInvitation()");
    const invitee = await inviteeApp.getUser({ or: "throw" });
    eq((await invitee.listTeams()).map((t) => t.id), [team.id], "invitee's teams after accepting");
    eq((await team.listUsers()).length, 2, "team.listUsers() after the invitee joined");
    await expectCodeError(inviteeApp.acceptTeamInvitation(code), "acceptTeamInvitation() with a used code");
  },

  async "api-keys"() {
    const app = clientApp();
    await signUp(app, uniqueEmail("keys"));
    const user = await app.getUser({ or: "throw" });
    const key = await user.createApiKey({ description: "sdk key", expiresAt: new Date(Date.now() + 3600_000) });
    check(typeof key.value === "string" && key.value.startsWith("sk_"), `createApiKey().value is ${JSON.stringify(key.value)}`);
    const server = serverApp();
    eq((await server.getUser({ apiKey: key.value }))?.id, user.id, "server getUser({apiKey})");
    const listed = await user.listApiKeys();
    eq(listed.map((k) => k.value.lastFour), [key.value.slice(-4)], "listApiKeys() lastFour");
    const team = await user.createTeam({ displayName: "Key Team" });
    const teamKey = await team.createApiKey({ description: "team key", expiresAt: null });
    eq((await server.getTeam({ apiKey: teamKey.value }))?.id, team.id, "server getTeam({apiKey})");
    eq(await server.getUser({ apiKey: teamKey.value }), null, "getUser({apiKey}) with a team key");
    await listed[0].revoke();
    eq(await server.getUser({ apiKey: key.value }), null, "getUser({apiKey}) after revoke()");
  },

  // --- projects and the admin API (the dashboard's scaffolding sequence) ---------------------------------
  async "admin-scaffolding"() {
    const internal = clientApp({ projectId: "internal", publishableClientKey: "this-publishable-client-key-is-for-local-development-only" });
    await signUp(internal, uniqueEmail("owner"));
    const owner = await internal.getUser({ or: "throw" });
    check(owner.selectedTeam, "an internal-project user has no personal team to own projects");
    const project = await owner.createProject({ displayName: "SDK Scaffold", teamId: owner.selectedTeam.id });
    eq(project.displayName, "SDK Scaffold", "createProject().displayName");
    eq((await owner.listOwnedProjects()).map((p) => p.id), [project.id], "listOwnedProjects() ids");
    const key = await project.app.createInternalApiKey({ description: "scaffold", expiresAt: new Date(Date.now() + 86400_000),
      hasPublishableClientKey: true, hasSecretServerKey: true, hasSuperSecretAdminKey: false });
    check(key.publishableClientKey?.startsWith("pck_") && key.secretServerKey?.startsWith("ssk_"), `createInternalApiKey() keys: ${JSON.stringify(key)}`);
    const opts = { baseUrl: CFG.url, projectId: project.id, publishableClientKey: key.publishableClientKey, tokenStore: "memory", redirectMethod: "none" };
    const client = new StackClientApp(opts);
    const server = new StackServerApp({ ...opts, secretServerKey: key.secretServerKey });
    const email = uniqueEmail("scaffolded");
    await signUp(client, email);
    const user = await client.getUser({ or: "throw" });
    eq((await server.getUser(user.id))?.primaryEmail, email, "server getUser() on the new project");
    await project.updateConfig({ "teams.allowClientTeamCreation": true });
    eq((await project.getConfig()).teams.allowClientTeamCreation, true, "getConfig() after updateConfig()");
    eq((await client.getProject()).config.clientTeamCreationEnabled, true, "client getProject() after updateConfig()");
  },

  // --- token refresh (own chain: waits for a real expiry) -----------------------------------------------
  async "token-refresh"() {
    check(CFG.lifetime > 20, `HEXCLAVE_EMU_TOKEN_LIFETIME=${CFG.lifetime}: must be > 20 s, the SDK refuses tokens with < 20 s left`);
    const app = clientApp();
    const email = uniqueEmail("refresh");
    await signUp(app, email);
    const user = await app.getUser({ or: "throw" });
    const { accessToken: oldToken, refreshToken } = await user.currentSession.getTokens();
    const old = checkAccessTokenClaims(oldToken, "access token after sign-up");
    check(typeof old.exp === "number", `access token has no numeric exp claim: ${JSON.stringify(old)}`);
    const lifetime = old.exp - old.iat;
    check(Math.abs(lifetime - CFG.lifetime) <= 1,
      `access token lifetime exp-iat=${lifetime}s, but the emulator was started with HEXCLAVE_ACCESS_TOKEN_EXPIRATION_TIME=${CFG.lifetime}`);
    shared.refresh = { oldToken, refreshToken, exp: old.exp, userId: user.id };

    // Wait until the first access token has really expired.
    const waitMs = old.exp * 1000 - Date.now() + 1500;
    if (waitMs > 0) await sleep(waitMs);
    check(Date.now() > old.exp * 1000, "clock: still before exp after waiting");
    const firstRequestAfterExpiry = seq + 1;

    // 1) A write through the same app after expiry must succeed: the SDK refreshes first.
    await user.update({ displayName: "After Refresh" });
    const mine = exchanges.filter((x) => x.seq >= firstRequestAfterExpiry && x.flow === "token-refresh");
    const refreshCalls = mine.filter((x) => x.method === "POST" && x.path.endsWith("/api/v1/auth/oauth/token")
      && new URLSearchParams(x.reqBody ?? "").get("grant_type") === "refresh_token");
    check(refreshCalls.length >= 1, `the SDK did not call POST /api/v1/auth/oauth/token (grant_type=refresh_token) after the access token expired; requests: ${mine.map((x) => `${x.method} ${x.path} -> ${x.status}`).join(", ")}`);
    const rc = refreshCalls[0];
    eq(new URLSearchParams(rc.reqBody).get("refresh_token"), refreshToken, "refresh_token sent to the token endpoint");
    eq(rc.status, 200, "status of POST /auth/oauth/token (refresh_token grant)");
    const patch = mine.find((x) => x.method === "PATCH" && x.path.endsWith("/api/v1/users/me"));
    check(patch, "no PATCH /users/me recorded for user.update after expiry");
    check(patch.seq > rc.seq, "PATCH /users/me was sent before the token refresh");
    const usedToken = patch.reqHeaders["x-hexclave-access-token"] ?? patch.reqHeaders["x-stack-access-token"];
    check(usedToken && usedToken !== oldToken, "PATCH /users/me after expiry still carried the expired access token");
    eq(patch.status, 200, "PATCH /users/me after refresh: HTTP status");
    const refreshed = checkAccessTokenClaims(usedToken, "access token returned by the refresh_token grant");
    eq(refreshed.sub, user.id, "refreshed access token sub");
    eq(refreshed.refresh_token_id, old.refresh_token_id, "refreshed access token refresh_token_id (same session)");
    check(refreshed.exp * 1000 > Date.now(), "refreshed access token is already expired");
    const after = await app.getUser({ or: "throw" });
    eq(after.displayName, "After Refresh", "displayName written with the refreshed token");
    const current = await after.getAccessToken();
    check(current && current !== oldToken, "getAccessToken() still returns the expired token");

    // 2) A fresh app handed the expired access token + refresh token (a backend with the user's cookies)
    //    must refresh before GET /users/me.
    const stale = clientAppWithTokens({ accessToken: oldToken, refreshToken });
    const staleUser = await stale.getUser();
    check(staleUser !== null, "a fresh app holding an expired access token + valid refresh token got no user (refresh failed?)");
    eq(staleUser.id, user.id, "user id via a fresh app after refresh");
    eq(staleUser.displayName, "After Refresh", "displayName via a fresh app after refresh");
  },

  async "expired-access-token-rejected"() {
    // Raw request (not through the SDK) with the expired token from `token-refresh`.
    const r = shared.refresh;
    check(r, "token-refresh did not get far enough to hand over its expired token");
    check(Date.now() > r.exp * 1000, "token not expired yet");
    const res = await fetch(`${CFG.url}/api/v1/users/me`, { headers: {
      "x-hexclave-access-type": "client", "x-hexclave-project-id": CFG.projectId,
      "x-hexclave-publishable-client-key": CFG.pck, "x-hexclave-access-token": r.oldToken } });
    const body = await res.text();
    eq(res.status, 401, `GET /api/v1/users/me with an expired access token: HTTP status (body ${shorten(body, 200)})`);
    const code = res.headers.get("x-hexclave-known-error") ?? res.headers.get("x-stack-known-error");
    eq(code, "ACCESS_TOKEN_EXPIRED", "x-hexclave-known-error header for an expired access token");
    eq(JSON.parse(body).code, "ACCESS_TOKEN_EXPIRED", "body.code for an expired access token");
  },

  // --- OAuth (in a fake browser: see withFakeBrowser) -------------------------------------------------------
  async oauth() {
    await withFakeBrowser("http://localhost:3000/sign-in", async (browser) => {
      let navigated;
      const navigation = new Promise((resolve) => { navigated = resolve; });
      const app = clientApp({ redirectMethod: { navigate: (url) => navigated(url) }, analytics: { enabled: false }, devTool: false });
      // signInWithOAuth hands the provider URL to navigate() and then never resolves (the page would be gone).
      app.signInWithOAuth("github").catch((e) => navigated(new Mismatch(`signInWithOAuth threw: ${errorChain(e)}`)));
      const providerUrl = await navigation;
      if (providerUrl instanceof Error) throw providerUrl;
      check(providerUrl.startsWith(`${CFG.url}/emulator/oauth/github/authorize?`), `signInWithOAuth navigated to ${providerUrl}, want the simulated GitHub's authorize page`);
      check(browser.cookieNames().some((n) => n.startsWith("stack-oauth-outer-")), `no stack-oauth-outer-* cookie after signInWithOAuth: ${browser.cookieNames()}`);

      // The provider page, answered at once with the emulator_login hint, then the platform's inner callback.
      const email = uniqueEmail("oauth");
      const atProvider = await fetch(`${providerUrl}&emulator_login=${encodeURIComponent(email)}`, { redirect: "manual" });
      eq(atProvider.status, 303, "simulated provider with emulator_login: HTTP status");
      const atCallback = await fetch(atProvider.headers.get("location"), { redirect: "manual" });
      const appUrl = atCallback.headers.get("location") ?? "";
      eq(atCallback.status, 303, `inner callback: HTTP status (body ${shorten(await atCallback.text(), 200)})`);
      check(appUrl.startsWith("http://localhost:3000/handler/oauth-callback?"), `inner callback redirected to ${appUrl}, want the app's oauth-callback handler`);

      // Back in the app: the SDK's own callback handling exchanges the code with its PKCE verifier cookie.
      browser.location.href = appUrl;
      eq(await app.callOAuthCallback(), true, "callOAuthCallback() result");
      check(!browser.cookieNames().some((n) => n.includes("-oauth-outer-")), `callOAuthCallback left the verifier cookie: ${browser.cookieNames()}`);
      check(!new URL(browser.location.href).searchParams.has("code"), `callOAuthCallback left ?code in the URL: ${browser.location.href}`);

      const user = await app.getUser();
      check(user !== null, "getUser() returned null after callOAuthCallback");
      eq(user.primaryEmail, email, "user.primaryEmail after OAuth sign-up");
      eq(user.oauthProviders.map((p) => p.id), ["github"], "user.oauthProviders ids");
      const providers = await user.listOAuthProviders();
      eq(providers.map((p) => [p.type, p.userId, p.email, p.allowSignIn, p.allowConnectedAccounts]), [["github", user.id, email, true, true]],
        "listOAuthProviders() [type, userId, email, allowSignIn, allowConnectedAccounts]");
      const account = await user.getConnectedAccount("github");
      check(account !== null, "getConnectedAccount('github') returned null");
      const { accessToken } = await account.getAccessToken();
      check(typeof accessToken === "string" && accessToken.startsWith("github_at_"), `connected account access token: ${JSON.stringify(accessToken)}`);
      // The token works at the simulated provider's userinfo endpoint, for the identity that signed in.
      const info = await (await fetch(`${CFG.url}/emulator/oauth/github/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })).json();
      eq(info.email, email, "simulated GitHub /userinfo email for the connected account's token");
      eq((await user.listConnectedAccounts()).map((a) => a.provider), ["github"], "listConnectedAccounts() providers");
    });
  },

  // --- Payments: checkout URLs paid on the emulator's checkout page (over HTTP), items and products --------------
  async payments() {
    const app = clientApp();
    await signUp(app, uniqueEmail("buyer"));
    const user = await app.getUser({ or: "throw" });
    const returnUrl = "http://localhost:3000/purchase-done";
    const packUrl = await user.createCheckoutUrl({ productId: "credits-pack", returnUrl });
    check(packUrl.startsWith(`${CFG.url}/purchase/${CFG.projectId}_`) && packUrl.endsWith(`?return_url=${encodeURIComponent(returnUrl)}`),
      `user.createCheckoutUrl() returned ${packUrl}, want the emulator's /purchase/<project id>_<code>?return_url=…`);
    eq(await payOnCheckoutPage(packUrl, { quantity: "2" }), returnUrl, "checkout of credits-pack: redirect after paying with 4242");
    const proLocation = await payOnCheckoutPage(await user.createCheckoutUrl({ productId: "pro" }), { price_id: "monthly" });
    check(proLocation.startsWith("/purchase/return?"), `checkout of pro without a return URL redirected to ${proLocation}`);
    const team = await user.createTeam({ displayName: "Paying Team" });
    eq(await payOnCheckoutPage(await team.createCheckoutUrl({ productId: "team-pro", returnUrl })), returnUrl, "checkout of team-pro: redirect");

    // What the customer sees (first reads: the SDK caches items and products).
    const credits = await user.getItem("credits");
    eq([credits.displayName, credits.quantity], ["Credits", 1200], "user.getItem('credits') [displayName, quantity]: 2 packs + pro");
    const products = await user.listProducts();
    const pack = products.find((p) => p.id === "credits-pack");
    const pro = products.find((p) => p.id === "pro");
    check(pack && pro, `user.listProducts() ids: ${JSON.stringify(products.map((p) => p.id))}, want credits-pack and pro`);
    eq([pack.quantity, pack.stackable, pack.subscription], [2, true, null], "credits-pack [quantity, stackable, subscription]");
    check(pro.subscription && pro.subscription.currentPeriodEnd instanceof Date && pro.subscription.currentPeriodEnd > new Date(),
      `pro.subscription: ${JSON.stringify(pro.subscription)}, want a current period ending in the future`);
    eq(pro.subscription.cancelAtPeriodEnd, false, "pro.subscription.cancelAtPeriodEnd");
    eq((await team.getItem("seats")).quantity, 10, "team.getItem('seats').quantity after team-pro");
    eq((await team.listProducts()).map((p) => p.id), ["team-pro"], "team.listProducts() ids");

    // The server changes quantities.
    const server = serverApp();
    const serverUser = await server.getUser(user.id);
    await (await serverUser.getItem("credits")).increaseQuantity(50);
    eq((await serverUser.getItem("credits")).quantity, 1250, "credits after increaseQuantity(50)");
    eq(await (await serverUser.getItem("credits")).tryDecreaseQuantity(1000), true, "tryDecreaseQuantity(1000) with 1250");
    eq(await (await serverUser.getItem("credits")).tryDecreaseQuantity(1000), false, "tryDecreaseQuantity(1000) with 250");
    await (await serverUser.getItem("credits")).decreaseQuantity(300);
    const after = await serverUser.getItem("credits");
    eq([after.quantity, after.nonNegativeQuantity], [-50, 0], "credits after decreaseQuantity(300) from 250 [quantity, nonNegativeQuantity]");
    const serverTeam = await server.getTeam(team.id);
    await (await serverTeam.getItem("seats")).increaseQuantity(5);
    eq((await serverTeam.getItem("seats")).quantity, 15, "team seats after increaseQuantity(5)");
    eq((await server.getItem({ teamId: team.id, itemId: "seats" })).quantity, 15, "server.getItem({teamId, itemId: 'seats'})");
  },

  // --- CLI login: the CLI side through promptCliLogin; the browser side (the cli-auth-confirm page of the React
  // package) is the POST to /auth/cli/complete with the signed-in browser user's refresh token. -------------------
  async "cli-login"() {
    const browser = clientApp();
    await signUp(browser, uniqueEmail("cli"));
    const browserUser = await browser.getUser({ or: "throw" });
    const { refreshToken } = await browserUser.currentSession.getTokens();
    let confirmUrl = null;
    let completed = null;
    const cli = clientApp();
    const result = await cli.promptCliLogin({
      appUrl: "http://localhost:3000", waitTimeMillis: 100, maxAttempts: 100,
      promptLink: (url, loginCode) => {
        confirmUrl = url;
        completed = fetch(`${CFG.url}/api/v1/auth/cli/complete`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-stack-access-type": "client",
            "x-stack-project-id": CFG.projectId, "x-stack-publishable-client-key": CFG.pck },
          body: JSON.stringify({ login_code: loginCode, mode: "complete", refresh_token: refreshToken }),
        }).then(async (r) => [r.status, await r.json()]);
      },
    });
    check(confirmUrl && new URL(confirmUrl).searchParams.get("login_code"), `promptLink URL without a login_code: ${confirmUrl}`);
    eq(await completed, [200, { success: true }], "browser's POST /auth/cli/complete [status, body]");
    if (result.status !== "ok") throw new Mismatch(`promptCliLogin returned error ${describeError(result.error)}`);
    eq(result.data, refreshToken, "promptCliLogin result: the browser session's refresh token");
    const cliUser = await clientApp({ tokenStore: { accessToken: null, refreshToken: result.data } }).getUser();
    eq(cliUser?.id, browserUser.id, "the CLI's user (from the refresh token it received)");
    const expired = await clientApp().promptCliLogin({ appUrl: "http://localhost:3000", expiresInMillis: 1, waitTimeMillis: 50,
      maxAttempts: 20, promptLink: () => {} });
    eq([expired.status, expired.error?.errorCode], ["error", "CLI_AUTH_EXPIRED_ERROR"], "promptCliLogin with a 1 ms lifetime");
  },

  // --- Data vault: the SDK hashes the key and encrypts the value with the secret; the store must be in config. ------
  async "server-data-vault"() {
    const store = await serverApp().getDataVaultStore("sdk-vault");
    await store.setValue("api-token", "s3cr3t value", { secret: "a-secret-of-the-app" });
    eq(await store.getValue("api-token", { secret: "a-secret-of-the-app" }), "s3cr3t value", "getValue after setValue");
    eq(await serverApp().getDataVaultStore("sdk-vault").then((s) => s.getValue("never-set", { secret: "a-secret-of-the-app" })),
      null, "getValue of a key never set");
    await store.setValue("api-token", "second value", { secret: "a-secret-of-the-app" });
    eq(await (await serverApp().getDataVaultStore("sdk-vault")).getValue("api-token", { secret: "a-secret-of-the-app" }),
      "second value", "getValue after overwriting (fresh app: no cache)");
  },
};

// The SDK's OAuth functions run only in a browser: they need `window` (location, history) and `document.cookie`
// (the PKCE verifier is kept in a cookie between signInWithOAuth and callOAuthCallback). This fakes just that, on
// the global object, for the duration of `fn`; so it runs after the concurrent chains (see browserChain).
async function withFakeBrowser(href, fn) {
  const jar = new Map();
  let current = new URL(href);
  const location = {
    get href() { return current.href; },
    set href(v) { current = new URL(v, current); },
    get protocol() { return current.protocol; }, get origin() { return current.origin; }, get host() { return current.host; },
    get hostname() { return current.hostname; }, get pathname() { return current.pathname; }, get search() { return current.search; },
    get hash() { return current.hash; },
    assign(v) { this.href = v; }, replace(v) { this.href = v; }, toString() { return current.href; },
  };
  const document = {
    createElement: () => ({ style: {}, setAttribute() {}, appendChild() {} }),
    get cookie() { return [...jar].map(([k, v]) => `${k}=${v}`).join("; "); },
    set cookie(text) { // name=value; attributes... (only an expiry in the past matters: it deletes)
      const [pair, ...attrs] = text.split(";");
      const name = pair.slice(0, pair.indexOf("=")).trim();
      const expires = attrs.map((a) => a.trim()).find((a) => /^expires=/i.test(a));
      if (expires && new Date(expires.slice(8)) <= new Date()) jar.delete(name);
      else jar.set(name, pair.slice(pair.indexOf("=") + 1).trim());
    },
    addEventListener() {}, removeEventListener() {},
  };
  const storage = () => { const m = new Map(); return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) }; };
  const window = {
    location, document, history: { replaceState(_s, _t, url) { if (url != null) location.href = String(url); } },
    addEventListener() {}, removeEventListener() {}, sessionStorage: storage(), localStorage: storage(),
  };
  const saved = { window: globalThis.window, document: globalThis.document };
  Object.assign(globalThis, { window, document });
  try {
    return await fn({ location, cookieNames: () => [...jar.keys()] });
  } finally {
    Object.assign(globalThis, saved);
    if (saved.window === undefined) delete globalThis.window;
    if (saved.document === undefined) delete globalThis.document;
  }
}

const mainChain = ["client-project", "client-sign-up", "client-sign-up-duplicate", "client-sign-up-with-verification-callback",
  "client-sign-in", "client-wrong-password", "client-update-user", "client-sign-out", "client-anonymous", "client-delete-self",
  "server-create-get-list", "server-user-signs-in-on-client", "server-update-user", "server-delete-user", "banner-env",
  "client-magic-link-sign-in", "client-otp-sign-in", "client-magic-link-upgrades-anonymous", "client-password-reset", "client-email-verification",
  "client-send-verification-email", "client-contact-channels", "client-teams", "server-teams-permissions",
  "client-team-invitation", "api-keys", "admin-scaffolding", "payments", "cli-login", "server-data-vault"];
const refreshChain = ["token-refresh", "expired-access-token-rejected"];
// Flows that fake a browser on the global object run alone, after the others.
const browserChain = ["oauth"];

// ---------------------------------------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------------------------------------
const results = [];
const FLOW_TIMEOUT_MS = 20_000;

async function runFlow(name) {
  if (CFG.only && !CFG.only.has(name)) return;
  const timeout = name === "token-refresh" ? (CFG.lifetime + 25) * 1000 : FLOW_TIMEOUT_MS;
  const started = Date.now();
  let error = null;
  let timer;
  try {
    await flowContext.run({ flow: name }, () => Promise.race([
      flows[name](),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Mismatch(`timed out after ${timeout / 1000} s`)), timeout); }),
    ]));
  } catch (e) {
    error = e;
  } finally {
    clearTimeout(timer);
  }
  const ms = Date.now() - started;
  results.push({ name, ok: !error });
  const mine = exchanges.filter((x) => x.flow === name);
  if (!error) {
    console.log(`ok ${name} (${ms} ms, ${mine.length} requests)`);
    if (CFG.verbose) for (const x of mine) console.log(formatExchange(x));
    return;
  }
  const msg = error instanceof Mismatch ? error.message : errorChain(error);
  console.log(`FAIL ${name}: ${msg}`);
  if (!(error instanceof Mismatch) && error?.stack) {
    const frames = error.stack.split("\n").map((s) => s.trim()).filter((s) => s.startsWith("at ")).slice(0, 5);
    if (frames.length) console.log("    stack: " + frames.join(" | "));
  }
  const shown = mine.slice(-8);
  if (shown.length) {
    console.log(`    HTTP exchanges of this flow (last ${shown.length} of ${mine.length}):`);
    for (const x of shown) console.log(formatExchange(x));
  } else {
    console.log("    (no HTTP request was made by this flow)");
  }
}

async function runChain(names) {
  for (const n of names) await runFlow(n);
}

process.on("unhandledRejection", (e) => {
  console.log(`warning: unhandled rejection inside the SDK: ${errorChain(e)}`);
});

console.log(`@stackframe/js ${sdkVersion} against ${CFG.url} (project ${CFG.projectId}, access-token lifetime ${CFG.lifetime} s)`);
if (CFG.projectId !== "internal" && !/^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[089ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(CFG.projectId)) {
  console.log(`FAIL setup: project id ${JSON.stringify(CFG.projectId)} is not a UUID; the SDK's constructors reject it ("Project IDs must be UUIDs")`);
  process.exit(1);
}

await Promise.all([runChain(refreshChain), runChain(mainChain)]);
await runChain(browserChain);

const background = exchanges.filter((x) => x.flow === "(background)");
if (background.length) {
  console.log(`note: ${background.length} request(s) outside any flow:`);
  for (const x of background.slice(-5)) console.log(formatExchange(x));
}
const failed = results.filter((r) => !r.ok);
console.log(`flows: ${results.length - failed.length} ok, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
