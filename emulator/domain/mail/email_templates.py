"""The platform's built-in email templates and themes, as Jinja2 files in ui/emails/.

A template file defines three blocks: `subject`, `html` (the body, placed inside the theme) and `text`.
Subjects and the visible patterns tests rely on (the OTP in its own paragraph, links with `?code=` in the text part)
follow the platform's built-ins.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from emulator.paths import UI_DIR

if TYPE_CHECKING:
    import jinja2

TEMPLATE_IDS = {
    "magic_link": "822687fe-8d0a-4467-a0d1-416b6e639478",
    "password_reset": "a70fb3a4-56c1-4e42-af25-49d25603abd0",
    "email_verification": "e7d009ce-8d47-4528-b245-5bf119f2ffa3",
    "team_invitation": "e84de395-2076-4831-9c19-8e9a96a868e4",
    "sign_in_invitation": "066dd73c-36da-4fd0-b6d6-ebf87683f8bc",
    "payment_receipt": "70372aee-0441-4d80-974c-2e858e40123a",
    "payment_failed": "f64b1afe-27ec-4a28-a277-7178f3261f9a",
}
THEMES = {
    "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac": ("Default Light", "theme_light.html"),
    "a0172b5d-cff0-463b-83bb-85124697373a": ("Default Dark", "theme_dark.html"),
    "c7e2d94f-8a1b-4e6d-b3f5-9d0a2e7c1b8f": ("Default Colorful", "theme_colorful.html"),
}
DEFAULT_THEME_ID = "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac"


UNRENDERED_TEMPLATE = "unrendered_template"  # stands in for a config template's TSX
THEME_HEADER = "X-Hexclave-Emulator-Theme"
TEMPLATE_HEADER = "X-Hexclave-Emulator-Template"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@lru_cache(maxsize=1)
def _env() -> "jinja2.Environment":
    import jinja2  # only once the first email is sent: keeps start-up short

    return jinja2.Environment(loader=jinja2.FileSystemLoader(UI_DIR / "emails"),
                              autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def wrap(body_html: str, *, subject: str, project_name: str, theme_id: str | bool | None,
         unsubscribe_link: str | None = None) -> str:
    """An email body inside a theme: a theme id, None for the default theme, False for the empty theme."""
    from markupsafe import Markup

    theme_file = "theme_empty.html" if theme_id is False else \
        THEMES.get(theme_id or DEFAULT_THEME_ID, THEMES[DEFAULT_THEME_ID])[1]
    return _env().get_template(theme_file).render(subject=subject, body=Markup(body_html), project_name=project_name,
                                                  unsubscribe_link=unsubscribe_link)


def render_parts(template_key: str, *, project_name: str, variables: dict[str, Any],
                 user_name: str | None = None) -> RenderedEmail:
    """A built-in template's subject, body (html, without a theme) and text."""
    template = _env().get_template(f"{template_key}.html")
    context = template.new_context({"project_name": project_name, "user_name": user_name, **variables})
    subject = "".join(template.blocks["subject"](context)).strip()
    body = "".join(template.blocks["html"](context))
    text = "".join(template.blocks["text"](context)).strip() + "\n"
    return RenderedEmail(subject, body, text)


def render(template_key: str, *, project_name: str, variables: dict[str, Any], theme_id: str | bool | None = None,
           user_name: str | None = None, unsubscribe_link: str | None = None) -> RenderedEmail:
    parts = render_parts(template_key, project_name=project_name, variables=variables, user_name=user_name)
    html = wrap(parts.html, subject=parts.subject, project_name=project_name, theme_id=theme_id,
                unsubscribe_link=unsubscribe_link)
    text = parts.text + (f"\nUnsubscribe: {unsubscribe_link}\n" if unsubscribe_link else "")
    return RenderedEmail(parts.subject, html, text)


def html_text(body: str) -> str:
    """A text part for an HTML body: the visible text, with each link's address kept next to it."""
    import re

    from emulator.domain.mail.mail import html_to_text

    with_hrefs = re.sub(r"""<a\b[^>]*?href\s*=\s*["']([^"']*)["'][^>]*>(.*?)</a\s*>""",
                        lambda m: f"{m.group(2)} ({m.group(1)})", body, flags=re.IGNORECASE | re.DOTALL)
    text = html_to_text(with_hrefs)
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip()) + "\n"
