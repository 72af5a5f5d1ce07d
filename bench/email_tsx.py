"""Benchmark of TSX email rendering (emulator.mail.renderer: the node worker running emulator/mail/tsx/renderer.mjs).

Run from the repository root:  python bench/email_tsx.py

Not a test: it prints the figures with their targets and exits 0 when the run completes. Needs node and npm (the
renderer's npm packages are installed into the cache folder on first use; that install is done, and not counted,
before the timings). The template is a react-email template with a Tailwind theme (the built-in Default Light).

- first render: a template and theme never seen before: esbuild bundle, import, render (median of 5 new sources);
- cached render: the same template again with new variables each time: the compiled bundle is reused, the email is
  rendered (median and p95 of 200);
- the same without the Tailwind cache (HEXCLAVE_TSX_TAILWIND_CACHE=off: react-email's <Tailwind> re-parses its
  stylesheet on every render), in a second worker, blocks of 20 renders of each in turn: an A/B under one load;
  with each worker's CPU time per render (Linux), which the machine's load does not inflate;
- cached render without Tailwind: the same, in a theme without <Tailwind> (react-email's Tailwind pass is most of
  a render's cost);
- repeat: the same template with the same input (a preview shown again): answered from the worker's result cache;
- render-email over HTTP: POST /api/v1/emails/render-email of one template, end to end (median of 50).
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from emulator.domain.mail import email_builtins# noqa: E402
from emulator.mail import renderer  # noqa: E402

ROUNDS = 200
TARGETS = {"cached_render_median_ms": (5.0, "ms", "<")}


def template(marker: str) -> str:
    return f"""import {{ type }} from "arktype";
import {{ Section, Text, Button }} from "@react-email/components";
import {{ Subject, NotificationCategory }} from "@stackframe/emails";
export const variablesSchema = type({{ name: "string", count: "number" }});
export function EmailTemplate({{ user, project, variables }}) {{
  return <>
    <Subject value={{`{marker}: ${{variables.count}} updates for ${{variables.name}}`}} />
    <NotificationCategory value="Marketing" />
    <Text className="text-lg font-semibold">Hi {{variables.name}},</Text>
    <Text>{{variables.count}} things happened in {{project.displayName}} this week.</Text>
    <Section className="my-6 text-center"><Button href="https://app.example/digest" className="bg-black text-white px-5 py-3 rounded-md">Open the digest</Button></Section>
  </>;
}}
EmailTemplate.PreviewVariables = {{ name: "Ada", count: 3 }};"""


# The same email in a theme without <Tailwind>: shows what react-email's Tailwind pass costs.
PLAIN_THEME = """import { Html, Body, Container } from '@react-email/components';
export function EmailTheme({ children }) {
  return <Html><Body style={{ background: "#fafbfb" }}><Container style={{ background: "#fff", padding: 45 }}>{children}</Container></Body></Html>;
}"""


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


async def timed(coro) -> float:
    start = time.perf_counter()
    await coro
    return time.perf_counter() - start


async def in_process() -> dict:
    theme = email_builtins.LIGHT_THEME
    common = {"user": {"displayName": "Ada"}, "project": {"displayName": "Bench"}}
    await renderer.render(template("warm-up"), theme, variables={"name": "x", "count": 1}, **common)  # install, start
    first = [await timed(renderer.render(template(f"first-{uuid.uuid4().hex}"), theme,
                                         variables={"name": "Ada", "count": 1}, **common)) for _ in range(5)]
    source = template("cached")
    # A second worker without the Tailwind cache (the setting is read when its node process starts).
    uncached = renderer.Worker()
    os.environ["HEXCLAVE_TSX_TAILWIND_CACHE"] = "off"
    try:
        await uncached.render(source, theme, {"variables": {"name": "x", "count": 0}, **common})
    finally:
        del os.environ["HEXCLAVE_TSX_TAILWIND_CACHE"]
    cached, off = [], []
    cached_pid = renderer._workers[id(asyncio.get_running_loop())]._process.pid
    cpu = {"cached": 0.0, "off": 0.0}
    for block in range(0, ROUNDS, 20):  # blocks of 20 in turn: the same load for both, each worker kept warm
        before = cpu_seconds(cached_pid)
        for i in range(block, block + 20):
            variables = {"name": f"Ada {i}", "count": i}
            cached.append(await timed(renderer.render(source, theme, variables=variables, **common)))
        cpu["cached"] += cpu_seconds(cached_pid) - before
        before = cpu_seconds(uncached._process.pid)
        for i in range(block, block + 20):
            off.append(await timed(uncached.render(source, theme, {"variables": {"name": f"Ada {i}", "count": i},
                                                                   **common})))
        cpu["off"] += cpu_seconds(uncached._process.pid) - before
    uncached.stop()
    plain = [await timed(renderer.render(source, PLAIN_THEME, variables={"name": f"Ada {i}", "count": i}, **common))
             for i in range(ROUNDS)]
    repeat = [await timed(renderer.render(source, theme, variables={"name": "Ada 1", "count": 1}, **common))
              for _ in range(ROUNDS)]
    await renderer.close()
    return {"first_render_median_ms": ms(statistics.median(first)),
            "cached_render_median_ms": ms(statistics.median(cached)),
            "cached_render_p95_ms": ms(statistics.quantiles(cached, n=20)[-1]),
            "cached_render_no_tailwind_cache_median_ms": ms(statistics.median(off)),
            # CPU time of the node worker per render: what a render costs whatever else the machine is doing.
            "cached_render_worker_cpu_ms": ms(cpu["cached"] / ROUNDS),
            "cached_render_no_tailwind_cache_worker_cpu_ms": ms(cpu["off"] / ROUNDS),
            "cached_render_no_tailwind_median_ms": ms(statistics.median(plain)),
            "repeat_median_ms": ms(statistics.median(repeat))}


def over_http() -> dict:
    from support import INTERNAL_SAK, start_emulator

    emu = start_emulator()
    try:
        with emu.http("admin", project_id="internal", key=INTERNAL_SAK) as admin:
            body = {"template_tsx_source": template("http"), "theme_id": email_builtins.LIGHT_THEME_ID}
            first = admin.post("/emails/render-email", json=body, timeout=300)
            assert first.status_code == 200, first.text
            times = []
            for _ in range(50):
                start = time.perf_counter()
                assert admin.post("/emails/render-email", json=body).status_code == 200
                times.append(time.perf_counter() - start)
        return {"render_email_http_median_ms": ms(statistics.median(times))}
    finally:
        emu.stop()


def main() -> int:
    if not renderer.available():
        print("node/npm not found: nothing to measure")
        return 0
    figures = {**asyncio.run(in_process()), **over_http()}
    for name, value in figures.items():
        target = TARGETS.get(name)
        note = f"   target {target[2]} {target[0]} {target[1]}" if target else ""
        print(f"{name:32} {value:>9}{note}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
