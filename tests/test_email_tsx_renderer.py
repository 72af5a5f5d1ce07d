"""The node TSX renderer (emulator.mail.renderer) on its own: the Tailwind cache (emulator/mail/tsx/tailwind-cache.mjs)
gives the same HTML and text as react-email's own <Tailwind>, render after render, and broken input still fails.

Needs node and npm (skipped without them); the first run in a fresh cache folder installs the npm packages."""
import asyncio
import os
import shutil

import pytest

from emulator.domain.mail import email_builtins
from emulator.mail import renderer

pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="node/npm not installed: the TSX renderer cannot run")

# Classes that inline, classes that cannot (hover:, md:, which go to the <style> in <head>), arbitrary values,
# variables (shadow, gradient) and a class set that changes with the variables.
TEMPLATE = """import { type } from "arktype";
import { Section, Text, Button, Heading } from "@react-email/components";
import { Subject, NotificationCategory } from "@stackframe/emails";
export const variablesSchema = type({ otp: "string", loud: "boolean" });
export function EmailTemplate({ user, project, variables }) {
  return <>
    <Subject value={"Code " + variables.otp} />
    <NotificationCategory value="Transactional" />
    <Heading className="text-2xl font-bold tracking-tight hover:underline md:text-3xl">{project.displayName}</Heading>
    <Text className={variables.loud ? "text-red-600 uppercase shadow-lg" : "text-slate-700"}>Hi {user.displayName}</Text>
    <p className="text-3xl font-bold tracking-widest bg-gradient-to-r from-sky-100 to-pink-100 p-[13px]">{variables.otp}</p>
    <Section className="my-6 text-center md:my-8"><Button href="https://app.example/x" className="bg-black text-white px-5 py-3 rounded-md hover:bg-slate-800">Open</Button></Section>
  </>;
}"""

# The built-in themes put <Head> outside <Tailwind>: only inlinable classes render in them.
INLINABLE_TEMPLATE = (TEMPLATE.replace(" hover:underline md:text-3xl", "").replace(" md:my-8", "")
                      .replace(" hover:bg-slate-800", ""))
HEAD_THEME = """import { Html, Head, Tailwind, Body, Container } from '@react-email/components';
export function EmailTheme({ children, unsubscribeLink }) {
  return <Html><Tailwind><Head /><Body className="bg-white font-sans md:p-4"><Container className="p-[45px] shadow-sm">
    {children}{unsubscribeLink ? <a className="text-blue-600 hover:text-blue-800" href={unsubscribeLink}>stop</a> : null}
  </Container></Body></Tailwind></Html>;
}"""
CASES = [(INLINABLE_TEMPLATE, theme) for theme in (email_builtins.LIGHT_THEME, email_builtins.DARK_THEME,
                                                    email_builtins.COLORFUL_THEME)] + [(TEMPLATE, HEAD_THEME)]


async def stop(worker):
    process = worker._process
    worker.stop()
    if process is not None:
        await process.wait()


def inputs():
    for i, (otp, loud) in enumerate([("111111", False), ("222222", True), ("333333", False), ("444444", True)]):
        yield {"variables": {"otp": otp, "loud": loud}, "user": {"displayName": f"Ada {i}"},
               "project": {"displayName": "Proj"}, "themeProps": {"unsubscribeLink": "https://u.example/x"} if i % 2
               else {}, "previewMode": False}


async def render_all(worker):
    out = []
    for _ in range(2):  # twice: the second pass is answered from the prepared-stylesheet cache
        for template, theme in CASES:
            for render_input in inputs():
                result = await worker.render(template, theme, render_input)
                out.append((result.html, result.text, result.subject))
    for template in email_builtins.TEMPLATES.values():  # the built-ins' preview, in every theme
        for theme in [*email_builtins.THEMES.values(), {"tsxSource": email_builtins.EMPTY_THEME}]:
            result = await worker.render(template["tsxSource"], theme["tsxSource"], {"variables": {}, "user": {"displayName": "J"},
                                                                       "project": {"displayName": "P"},
                                                                       "themeProps": {}, "previewMode": True})
            out.append((result.html, result.text, result.subject))
    return out


def test_the_tailwind_cache_renders_what_react_emails_tailwind_renders(monkeypatch):
    async def main():
        cached = renderer.Worker()
        monkeypatch.setenv("HEXCLAVE_TSX_TAILWIND_CACHE", "off")
        plain = renderer.Worker()
        try:
            expected = await asyncio.wait_for(render_all(plain), 300)
            monkeypatch.delenv("HEXCLAVE_TSX_TAILWIND_CACHE")
            got = await asyncio.wait_for(render_all(cached), 300)
        finally:
            await stop(cached)
            await stop(plain)
        assert len(got) == len(expected)
        for index, (mine, theirs) in enumerate(zip(got, expected)):
            assert mine == theirs, f"render #{index} differs"
        assert "111111" in got[0][0] and "222222" in got[1][0] and "text-red-600" not in got[1][0]
        html = got[12][0]  # the first render in HEAD_THEME: the rules that cannot be inlined go to <head>
        assert "111111" in html and "<style>" in html and "hover_underline" in html

    asyncio.run(main())


def test_broken_templates_still_fail_with_the_cache():
    async def main():
        worker = renderer.Worker()
        try:
            missing = TEMPLATE.replace("Heading }", "Heading, NoSuchComponent }").replace("<Subject", "<NoSuchComponent /><Subject")
            with pytest.raises(renderer.RenderError, match="NoSuchComponent"):
                await worker.render(missing, HEAD_THEME, next(inputs()))
            with pytest.raises(renderer.RenderError, match="EmailTheme"):
                await worker.render(TEMPLATE, "export const x = 1;", next(inputs()))
            ok = await worker.render(TEMPLATE, HEAD_THEME, next(inputs()))
            assert "111111" in ok.html
        finally:
            await stop(worker)

    assert os.environ.get("HEXCLAVE_TSX_TAILWIND_CACHE") != "off"
    asyncio.run(main())


def test_a_template_writing_to_stderr_does_not_stall_the_worker():
    noisy = TEMPLATE.replace("export function EmailTemplate({ user, project, variables }) {",
                             'export function EmailTemplate({ user, project, variables }) {\n'
                             '  for (let i = 0; i < 300; i++) console.error("x".repeat(1000));')

    async def main():
        worker = renderer.Worker()
        try:
            for otp in ("123456", "654321"):  # 300 KB of stderr each, more than a pipe holds
                render_input = {**next(inputs()), "variables": {"otp": otp, "loud": False}}
                result = await asyncio.wait_for(worker.render(noisy, HEAD_THEME, render_input), 60)
                assert otp in result.html
        finally:
            await stop(worker)

    asyncio.run(main())
