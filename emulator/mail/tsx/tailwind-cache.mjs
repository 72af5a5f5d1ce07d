// Memoises the stylesheet work of react-email's <Tailwind>, in an edited copy of its module that the bundles import.
//
// Why: on every render <Tailwind> re-parses the whole generated CSS, resolves its variables and calc() expressions,
// and picks the rules of the classes used: two thirds of a cached render's time, although that work depends only on
// the generated CSS and the set of classes, which are the same whenever a template is rendered again with other
// variables. An edited copy of @react-email/tailwind's module (written into the cache folder; node_modules is left as
// installed) runs that work once per (CSS, class set) and each render gets a fresh deep copy of the prepared
// rules: react-email's inliner rewrites them in place, so a render starts from exactly the state a re-parse would
// give, and the HTML is the same byte for byte (tests/test_email_tsx_renderer.py compares both).
//
// The edits are exact text replacements for the pinned version (package-lock.json); if one does not apply (another
// version) react-email's own module is used and renders are only slower. HEXCLAVE_TSX_TAILWIND_CACHE=off disables it.

import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const EDITS = [
  // setupTailwind's result also tells the CSS it generated (the cache key).
  ["\treturn {\n\t\taddUtilities: function addUtilities(candidates) {",
   "\treturn {\n\t\thexclaveCss: () => css$4,\n\t\taddUtilities: function addUtilities(candidates) {"],
  // Tailwind(): the prepared rules come from the cache.
  ["\tconst styleSheet = tailwindSetup.getStyleSheet();\n" +
   "\tsanitizeStyleSheet(styleSheet);\n" +
   "\tconst { inlinable: inlinableRules, nonInlinable: nonInlinableRules } = extractRulesPerClass(styleSheet, classesUsed);\n" +
   "\tconst customProperties = getCustomProperties(styleSheet);\n" +
   "\tconst nonInlineStyles = {\n" +
   "\t\ttype: \"StyleSheet\",\n" +
   "\t\tchildren: new List().fromArray(Array.from(nonInlinableRules.values()))\n" +
   "\t};\n" +
   "\tsanitizeNonInlinableRules(nonInlineStyles);\n",
   "\tconst { inlinableRules, nonInlinableRules, customProperties, nonInlineCss } = hexclavePrepared(tailwindSetup, classesUsed);\n"],
  // The <style> of the rules that cannot be inlined: not changed by the inliner, so its text is kept.
  ["children: generate(nonInlineStyles) }", "children: nonInlineCss }"],
  // An element's inline style: kept when its rules are ones the inliner never rewrites.
  ["...makeInlineStylesFor(rules, customProperties),", "...hexclaveInlineStyles(rules, customProperties),"],
];

// Appended to the module: it runs react-email's own steps (the code above, unchanged) on a cache miss.
const APPENDIX = `
const hexclaveCache = new Map();  // generated CSS -> (class set -> prepared rules); the CSS grows with new classes
const HEXCLAVE_KEPT = 64;
// Prepared rules without a var(): the inliner only rewrites var() calls (with the values of variables), so these
// are never changed; they are shared by every render (the others are copied per render) and numbered for the
// cache of inline styles.
const hexclaveFixedRules = new WeakMap();
let hexclaveNextRule = 0;
const hexclaveStyles = new Map();  // numbers of an element's fixed rules -> its inline style
const HEXCLAVE_STYLES_KEPT = 4096;

function hexclaveHasVar(rule) {
	let found = false;
	walk(rule, { visit: "Function", enter(node) { if (node.name === "var") found = true; } });
	return found;
}
function hexclaveCopy(value) {
	if (value instanceof List) return value.map(hexclaveCopy);
	if (value === null || typeof value !== "object") return value;
	if (Array.isArray(value)) return value.map(hexclaveCopy);
	const copy = {};
	for (const key in value) copy[key] = hexclaveCopy(value[key]);
	return copy;
}
// The custom properties (@property rules) a render reads, each copied when first read: most are never read.
class HexclaveCopiedOnRead extends Map {
	constructor(source) {
		super();
		this.source = source;
	}
	get(name) {
		if (!super.has(name) && this.source.has(name)) super.set(name, hexclaveCopy(this.source.get(name)));
		return super.get(name);
	}
	has(name) {
		return this.source.has(name);
	}
}
function hexclavePrepared(tailwindSetup, classesUsed) {
	const css = tailwindSetup.hexclaveCss();
	let byClasses = hexclaveCache.get(css);
	if (byClasses === undefined) {
		hexclaveCache.set(css, byClasses = new Map());
		if (hexclaveCache.size > HEXCLAVE_KEPT) hexclaveCache.delete(hexclaveCache.keys().next().value);
	}
	const key = [...new Set(classesUsed)].sort().join(" ");
	let prepared = byClasses.get(key);
	if (prepared === undefined) {
		const styleSheet = tailwindSetup.getStyleSheet();
		sanitizeStyleSheet(styleSheet);
		const { inlinable, nonInlinable } = extractRulesPerClass(styleSheet, classesUsed);
		const customProperties = getCustomProperties(styleSheet);
		const nonInlineStyles = { type: "StyleSheet", children: new List().fromArray(Array.from(nonInlinable.values())) };
		sanitizeNonInlinableRules(nonInlineStyles);
		for (const rule of inlinable.values()) {
			if (!hexclaveFixedRules.has(rule) && !hexclaveHasVar(rule)) hexclaveFixedRules.set(rule, hexclaveNextRule++);
		}
		prepared = { inlinable, nonInlinable, customProperties, nonInlineCss: generate(nonInlineStyles) };
		byClasses.set(key, prepared);
		if (byClasses.size > HEXCLAVE_KEPT) byClasses.delete(byClasses.keys().next().value);
	}
	// Fresh copies of what the inliner rewrites: the rules with a var() (one copy per rule, shared as in the parsed
	// sheet) and the custom properties' values it splices into them.
	const copies = new Map();
	const inlinableRules = new Map();
	for (const [className, rule] of prepared.inlinable) {
		if (hexclaveFixedRules.has(rule)) {
			inlinableRules.set(className, rule);
			continue;
		}
		if (!copies.has(rule)) copies.set(rule, hexclaveCopy(rule));
		inlinableRules.set(className, copies.get(rule));
	}
	const customProperties = new HexclaveCopiedOnRead(prepared.customProperties);
	return { inlinableRules, nonInlinableRules: prepared.nonInlinable, customProperties, nonInlineCss: prepared.nonInlineCss };
}
// makeInlineStylesFor, whose result for fixed rules depends on nothing else (the caller spreads it: never changed).
function hexclaveInlineStyles(rules, customProperties) {
	if (!rules.every((rule) => hexclaveFixedRules.has(rule))) return makeInlineStylesFor(rules, customProperties);
	const key = rules.map((rule) => hexclaveFixedRules.get(rule)).join(",");
	let styles = hexclaveStyles.get(key);
	if (styles === undefined) {
		styles = makeInlineStylesFor(rules, customProperties);
		hexclaveStyles.set(key, styles);
		if (hexclaveStyles.size > HEXCLAVE_STYLES_KEPT) hexclaveStyles.delete(hexclaveStyles.keys().next().value);
	}
	return styles;
}
`;

function patch(source) {
  let patched = source;
  for (const [from, to] of EDITS) {
    if (patched.split(from).length !== 2) return null;  // not the version these edits were written for
    patched = patched.replace(from, () => to);
  }
  return patched + APPENDIX;
}

function writeIfChanged(file, text) {
  if (existsSync(file) && readFileSync(file, "utf8") === text) return;
  const temporary = `${file}.${process.pid}`;
  writeFileSync(temporary, text);
  renameSync(temporary, file);  // whole or not at all, for the other emulators sharing the folder
}

// Writes, next to node_modules (so that their bare imports resolve from there), the edited module and a module that
// re-exports react-email's components with that <Tailwind>; returns the latter's file name, which the bundles import
// for `@react-email/components`. Null when the edits do not apply or the cache is off: then bundles use react-email's.
export function writeCachedComponents(cacheDir) {
  if (process.env.HEXCLAVE_TSX_TAILWIND_CACHE === "off") return null;
  try {
    // import.meta.resolve needs node 20.6+; before that, the package's place in the cache folder.
    const file = typeof import.meta.resolve === "function"
      ? fileURLToPath(import.meta.resolve("@react-email/tailwind"))
      : join(cacheDir, "node_modules", "@react-email", "tailwind", "dist", "index.mjs");
    const patched = patch(readFileSync(file, "utf8"));
    if (patched === null) throw new Error("its edits do not apply to this @react-email/tailwind version");
    writeIfChanged(join(cacheDir, "react-email-tailwind-cached.mjs"), patched);
    writeIfChanged(join(cacheDir, "react-email-components.mjs"),
      'export * from "@react-email/components";\nexport { Tailwind } from "./react-email-tailwind-cached.mjs";\n');
    return "react-email-components.mjs";
  } catch (error) {
    process.stderr.write(`hexclave: renders without the Tailwind cache: ${error?.message ?? error}\n`);
    return null;
  }
}
