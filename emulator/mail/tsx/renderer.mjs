// hexclave-emulator's TSX email renderer: a long-lived node process that renders the platform's react-email
// templates and themes. One JSON request per stdin line, one JSON answer per stdout line (matched by `id`):
//   {"id": 1, "template": "<tsx>", "theme": "<tsx>", "input": {variables, user, project, themeProps, previewMode}}
//   {"id": 1, "ok": true, "data": {html, text, subject, notificationCategory}}  or  {"id": 1, "ok": false, "error": "..."}
// A template and theme pair is bundled once with esbuild (in memory, files under the `virtual:` namespace as the
// platform names them in its build errors), written to bundles/<sha256>.mjs in the cache folder (the folder that holds
// node_modules, so the bundle's bare imports resolve) and kept imported: renders after the first cost milliseconds.
// Run with the cache folder as the working directory.
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as esbuild from "esbuild";
import { writeCachedComponents } from "./tailwind-cache.mjs";

const CACHE_DIR = process.cwd();
const BUNDLE_DIR = join(CACHE_DIR, "bundles");
mkdirSync(BUNDLE_DIR, { recursive: true });

// Packages the bundle imports at run time (installed next to it) rather than inlining them.
const EXTERNAL = ["react", "react/*", "react-dom", "react-dom/*", "@react-email/components", "arktype", "arktype/*",
  "html-to-text"];

// `@stackframe/emails`, the helper package templates and themes import. Written with createElement: it is not TSX.
const EMAILS_PACKAGE = `
import React from "react";
import { Img } from "@react-email/components";
function marker(name) {
  const component = () => null;
  component.__stackComponent = name;
  return component;
}
export const Subject = marker("Subject");
export const NotificationCategory = marker("NotificationCategory");
export function Logo({ logoUrl }) {
  return React.createElement("div", { className: "flex gap-2 items-center" },
    React.createElement(Img, { src: logoUrl, alt: "Logo", className: "h-8" }));
}
export function FullLogo({ logoFullUrl }) {
  return React.createElement(Img, { src: logoFullUrl, alt: "Full Logo", className: "h-16" });
}
export function ProjectLogo({ data, mode = "light" }) {
  const logos = data || {};
  const full = mode === "dark" ? logos.logoFullDarkModeUrl : logos.logoFullUrl;
  const small = mode === "dark" ? logos.logoDarkModeUrl : logos.logoUrl;
  if (full) return React.createElement(FullLogo, { logoFullUrl: full });
  if (small) return React.createElement(Logo, { logoUrl: small });
  return null;
}
`;

// The value prop of the one <Subject>/<NotificationCategory> in what the template returns (undefined if none).
const UTILS = `
import React from "react";
export function findComponentValue(element, name) {
  const found = [];
  const visit = (node) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!React.isValidElement(node)) return;
    if (typeof node.type === "function" && node.type.__stackComponent === name) found.push(node);
    visit(node.props?.children);
  };
  visit(element.type(element.props || {}));
  if (found.length === 0) return undefined;
  if (found.length > 1) throw new Error(\`Expected exactly one occurrence of component "\${name}", found \${found.length}.\`);
  const value = found[0].props?.value;
  if (typeof value !== "string") throw new Error(\`The "value" prop of "\${name}" must be a string.\`);
  return value;
}
`;

// Line 9 imports EmailTheme: a theme without that export fails as "virtual:/render.tsx:9:9", as on the platform.
const RENDER = `import { configure } from "arktype/config";
configure({ onUndeclaredKey: "delete" });
import React from "react";
import { render } from "@react-email/components";
import { type } from "arktype";
import { findComponentValue } from "./utils.tsx";
import * as TemplateModule from "./template.tsx";
const { variablesSchema, EmailTemplate } = TemplateModule;
import { EmailTheme } from "./theme.tsx";
import { compile } from "html-to-text";

// The text part as react-email's toPlainText makes it (the same html-to-text options), with the options compiled
// once rather than on every call.
const toPlainText = compile({
  wordwrap: false,
  selectors: [
    { selector: "img", format: "skip" },
    { selector: "[data-skip-in-text=true]", format: "skip" },
    { selector: "a", options: { linkBrackets: false, hideLinkHrefIfSameAsText: true } },
  ],
});

export async function renderAll(input) {
  const preview = input.previewMode === true;
  const given = { ...(preview ? EmailTemplate.PreviewVariables || {} : {}), ...(input.variables || {}) };
  const variables = variablesSchema ? variablesSchema(given) : {};
  if (variables instanceof type.errors) throw new Error(variables.summary);
  const themeProps = { ...(input.themeProps || {}), ...(preview ? EmailTheme.PreviewProps || {} : {}) };
  const content = <EmailTemplate variables={variables} user={input.user} project={input.project} />;
  const email = <EmailTheme {...themeProps}>{preview && EmailTheme.PreviewProps?.children ? EmailTheme.PreviewProps.children : content}</EmailTheme>;
  const html = await render(email);
  return {
    html,
    text: toPlainText(html),  // what render(email, { plainText: true }) gives, without rendering twice
    subject: findComponentValue(content, "Subject"),
    notificationCategory: findComponentValue(content, "NotificationCategory"),
  };
}
`;

// What templates and themes get as `@react-email/components`: react-email's, with a <Tailwind> that prepares its
// stylesheet once per class set (tailwind-cache.mjs) when that module could be made. Imported from bundles/.
const COMPONENTS_FILE = writeCachedComponents(CACHE_DIR);
const COMPONENTS = COMPONENTS_FILE ? `../${COMPONENTS_FILE}` : "@react-email/components";

const RENDERER_HASH = createHash("sha256").update(RENDER + UTILS + EMAILS_PACKAGE + COMPONENTS).digest("hex");
const modules = new Map();  // hash -> Promise of the imported bundle (or of its build error)

function virtualFiles(template, theme) {
  return { "/render.tsx": RENDER, "/utils.tsx": UTILS, "/template.tsx": template, "/theme.tsx": theme };
}

async function compile(template, theme) {
  const files = virtualFiles(template, theme);
  const result = await esbuild.build({
    entryPoints: ["virtual:/render.tsx"],
    bundle: true,
    write: false,
    format: "esm",
    platform: "node",
    target: "node18",
    jsx: "automatic",
    logLevel: "silent",
    external: EXTERNAL,
    plugins: [{
      name: "virtual-files",
      setup(build) {
        build.onResolve({ filter: /^virtual:/ }, (args) => ({ path: args.path.slice("virtual:".length), namespace: "virtual" }));
        build.onResolve({ filter: /^@react-email\/components$/ }, () => ({ path: COMPONENTS, external: true }));
        build.onResolve({ filter: /^@stackframe\/emails$/ }, () => ({ path: "/@stackframe/emails.js", namespace: "virtual" }));
        build.onResolve({ filter: /^\.\.?\// }, (args) => args.namespace === "virtual"
          ? { path: new URL(args.path, "file://" + args.importer).pathname, namespace: "virtual" } : undefined);
        build.onLoad({ filter: /.*/, namespace: "virtual" }, (args) => {
          if (args.path === "/@stackframe/emails.js") return { contents: EMAILS_PACKAGE, loader: "js", resolveDir: CACHE_DIR };
          if (!(args.path in files)) return { errors: [{ text: `File not found: ${args.path}` }] };
          return { contents: files[args.path], loader: "tsx", resolveDir: CACHE_DIR };
        });
      },
    }],
  });
  return result.outputFiles[0].text;
}

function load(template, theme) {
  const hash = createHash("sha256").update(RENDERER_HASH).update(template).update("\0").update(theme).digest("hex");
  if (!modules.has(hash)) {
    modules.set(hash, (async () => {
      const file = join(BUNDLE_DIR, `${hash}.mjs`);
      if (!existsSync(file)) writeFileSync(file, await compile(template, theme));
      return await import(pathToFileURL(file).href);
    })());
  }
  return modules.get(hash);
}

function describe(error) {
  if (error && Array.isArray(error.errors) && error.message?.startsWith("Build failed")) return error.message;
  if (error instanceof Error) return JSON.stringify({ message: error.message, stack: error.stack, cause: error.cause });
  return JSON.stringify({ message: String(error) });
}

// The last results by bundle and input: the same preview or the same email again is answered without rendering.
const RESULTS_KEPT = 256;
const results = new Map();

async function handle(request) {
  try {
    const module = await load(request.template, request.theme);
    const key = createHash("sha256").update(request.template).update("\0").update(request.theme).update("\0")
      .update(JSON.stringify(request.input || {})).digest("hex");
    if (!results.has(key)) {
      results.set(key, await module.renderAll(request.input || {}));
      if (results.size > RESULTS_KEPT) results.delete(results.keys().next().value);
    }
    return { id: request.id, ok: true, data: results.get(key) };
  } catch (error) {
    return { id: request.id, ok: false, error: describe(error) };
  }
}

let pending = 0;
let closed = false;
const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    return;  // not a request
  }
  pending += 1;
  const answer = await handle(request);
  process.stdout.write(JSON.stringify(answer) + "\n");
  pending -= 1;
  if (closed && pending === 0) process.exit(0);
});
lines.on("close", () => {  // the emulator went away: finish what was asked, then stop
  closed = true;
  if (pending === 0) process.exit(0);
});
process.stdout.write(JSON.stringify({ ready: true }) + "\n");
