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
];

// Appended to the module: it runs react-email's own steps (the code above, unchanged) on a cache miss.
const APPENDIX = `
const hexclaveCache = new Map();
const HEXCLAVE_KEPT = 64;
function hexclaveCopy(value) {
	if (value instanceof List) return value.map(hexclaveCopy);
	if (value === null || typeof value !== "object") return value;
	if (Array.isArray(value)) return value.map(hexclaveCopy);
	const copy = {};
	for (const key in value) copy[key] = hexclaveCopy(value[key]);
	return copy;
}
function hexclavePrepared(tailwindSetup, classesUsed) {
	const key = tailwindSetup.hexclaveCss() + "\\0" + [...new Set(classesUsed)].sort().join(" ");
	let prepared = hexclaveCache.get(key);
	if (prepared === undefined) {
		const styleSheet = tailwindSetup.getStyleSheet();
		sanitizeStyleSheet(styleSheet);
		const { inlinable, nonInlinable } = extractRulesPerClass(styleSheet, classesUsed);
		const customProperties = getCustomProperties(styleSheet);
		const nonInlineStyles = { type: "StyleSheet", children: new List().fromArray(Array.from(nonInlinable.values())) };
		sanitizeNonInlinableRules(nonInlineStyles);
		prepared = { inlinable, nonInlinable, customProperties, nonInlineCss: generate(nonInlineStyles) };
		hexclaveCache.set(key, prepared);
		if (hexclaveCache.size > HEXCLAVE_KEPT) hexclaveCache.delete(hexclaveCache.keys().next().value);
	}
	// Fresh copies of what the inliner rewrites: the rules (one copy per rule, shared as in the parsed sheet) and
	// the custom properties' values it splices into them.
	const copies = new Map();
	const inlinableRules = new Map();
	for (const [className, rule] of prepared.inlinable) {
		if (!copies.has(rule)) copies.set(rule, hexclaveCopy(rule));
		inlinableRules.set(className, copies.get(rule));
	}
	const customProperties = new Map();
	for (const [name, property] of prepared.customProperties) customProperties.set(name, hexclaveCopy(property));
	return { inlinableRules, nonInlinableRules: prepared.nonInlinable, customProperties, nonInlineCss: prepared.nonInlineCss };
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
  const patched = patch(readFileSync(fileURLToPath(import.meta.resolve("@react-email/tailwind")), "utf8"));
  if (patched === null) {
    process.stderr.write("hexclave: the Tailwind cache does not apply to this @react-email/tailwind version\n");
    return null;
  }
  writeIfChanged(join(cacheDir, "react-email-tailwind-cached.mjs"), patched);
  writeIfChanged(join(cacheDir, "react-email-components.mjs"),
    'export * from "@react-email/components";\nexport { Tailwind } from "./react-email-tailwind-cached.mjs";\n');
  return "react-email-components.mjs";
}
