"""Which source renders an email, and rendering TSX through node (emulator.mail.renderer).

A project's config holds its themes and templates as TSX (the built-ins included, emulator.domain.mail.email_builtins).
A built-in that keeps its built-in source is rendered by the Jinja2 port (emulator.domain.mail.email_templates); any other
source, an edited built-in included, is rendered with node. Without node, mail still goes out: rendered by the Jinja2
port (the built-in template, or a page listing the variables for a custom one), with a header saying so.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from emulator.domain.mail import email_builtins, email_templates
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.projects.projects import ProjectView
from emulator.errors import E
from emulator.mail import renderer
from emulator.store.models import Project

TEMPLATE_KEYS = {template_id: key for key, template_id in email_templates.TEMPLATE_IDS.items()}
NO_THEME = "no theme"
BUILTIN = "built-in, rendered by the Jinja2 port"
NO_NODE = "NOT rendered: Node.js is not installed"
NO_NODE_BUILTIN = f"{NO_NODE}; the built-in Jinja2 port was used instead"


def emails_config(project: ProjectView) -> dict[str, Any]:
    return project.config["emails"]


def theme_for(project: ProjectView, theme_id: Any) -> tuple[str | bool, dict[str, str]]:
    """(id, {displayName, tsxSource}) of the theme an email uses: a theme of the config by id, False for no theme,
    else the project's selected theme (Default Light if that is gone)."""
    themes = emails_config(project).get("themes") or {}
    if theme_id is False:
        return False, {"displayName": NO_THEME, "tsxSource": email_builtins.EMPTY_THEME}
    if isinstance(theme_id, str) and theme_id in themes:
        return theme_id, themes[theme_id]
    selected = emails_config(project).get("selectedThemeId")
    if selected in themes:
        return selected, themes[selected]
    return email_builtins.LIGHT_THEME_ID, email_builtins.THEMES[email_builtins.LIGHT_THEME_ID]


def theme_is_builtin(theme_id: str | bool, theme: dict[str, str]) -> bool:
    return theme_id is False or email_builtins.is_builtin_source("theme", theme_id, theme.get("tsxSource"))


def html_template(html: str) -> str:
    """A TSX template that shows the given HTML as is (send-email's `html`, or a body rendered by Jinja2)."""
    # Character for character the platform's wrapper: outbox items show it as their tsx_source.
    return ("export const variablesSchema = v => v;\nexport function EmailTemplate() {\n  return <>\n"
            f"    <div dangerouslySetInnerHTML={{{{ __html: {json.dumps(html, ensure_ascii=False)}}}}} />\n"
            "  </>\n};")


async def render_tsx(template: str, theme: str, **options: Any) -> renderer.Rendered:
    """Render with node; a build or runtime failure, or no node, is the platform's EMAIL_RENDERING_ERROR."""
    try:
        return await renderer.render(template, theme, **options)
    except renderer.RenderError as error:
        raise E.email_rendering_error(str(error)) from None


@dataclass
class Email:
    """A rendered email and the headers that tell the inbox what rendered it."""
    subject: str | None
    html: str
    text: str
    notification_category: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


def _label(name: str, item_id: Any, how: str) -> str:
    return f"{name} ({item_id}); {how}" if item_id not in (None, False) else f"{name}; {how}"


async def render_mail(project: ProjectView, *, template_id: str | None = None, tsx_source: str | None = None,
                      html: str | None = None, theme_id: Any = None, variables: dict[str, Any] | None = None,
                      user_name: str | None = None, unsubscribe_link: str | None = None,
                      template_name: str | None = None, logos: dict[str, str] | None = None) -> Email:
    """Render one email: from a template of the config (`template_id`), TSX (`tsx_source`, e.g. a draft) or `html`.

    Raises renderer.RenderError when node fails on the TSX (the caller records it); without node it falls back."""
    if template_id is not None and tsx_source is None:
        config_template = (emails_config(project).get("templates") or {}).get(template_id) or {}
        tsx_source = config_template.get("tsxSource")
        template_name = config_template.get("displayName") or template_name
        if theme_id is None and config_template.get("themeId") is not None:
            theme_id = config_template["themeId"]
    theme_id, theme = theme_for(project, theme_id)
    variables = variables or {}
    node = renderer.available()
    if html is not None and node:  # as on the platform: the HTML inside the theme, rendered by react-email
        tsx_source, html, template_name = html_template(html), None, template_name or "HTML body (send-email html)"
    builtin_key = TEMPLATE_KEYS.get(template_id or "")
    builtin = html is None and builtin_key is not None and email_builtins.is_builtin_source(
        "template", template_id, tsx_source)
    theme_name = theme.get("displayName") or "Unnamed Theme"

    if node and not builtin:  # all TSX
        rendered = await renderer.render(
            tsx_source or "", theme["tsxSource"],
            variables={"projectDisplayName": project.display_name, "userDisplayName": user_name, **variables},
            user={"displayName": user_name}, **_theme_input(project, unsubscribe_link, logos))
        return Email(rendered.subject, rendered.html, rendered.text, rendered.notification_category, _headers(
            _label(template_name or "Unnamed Template", template_id, "TSX rendered by node"),
            _label(theme_name, theme_id, "TSX rendered by node")))

    # The body from Jinja2: the built-in template, the html, or (without node) a stand-in for the TSX.
    if html is not None:
        subject, body, text = None, html, email_templates.html_text(html)
        template_label = "HTML body (send-email html)"
    elif builtin_key is not None:
        part = email_templates.render_parts(
            builtin_key, project_name=project.display_name, user_name=user_name,
            variables={"projectDisplayName": project.display_name, "userDisplayName": user_name, **variables})
        subject, body, text = part.subject, part.html, part.text
        template_label = _label(template_name or builtin_key, template_id, BUILTIN if builtin else NO_NODE_BUILTIN)
    else:
        passed = [(name, json.dumps(value, ensure_ascii=False)) for name, value in variables.items()]
        part = email_templates.render_parts(
            email_templates.UNRENDERED_TEMPLATE, project_name=project.display_name, user_name=user_name,
            variables={"template_id": template_id or "draft", "passed_variables": passed,
                       "template_name": template_name or "Unnamed Template"})
        subject, body, text = part.subject, part.html, part.text
        template_label = _label(template_name or "Unnamed Template", template_id, NO_NODE)

    if node and not theme_is_builtin(theme_id, theme):  # a Jinja2 body inside a TSX theme
        rendered = await renderer.render(html_template(body), theme["tsxSource"], user={"displayName": user_name},
                                         **_theme_input(project, unsubscribe_link, logos))
        return Email(subject, rendered.html, text, None,
                     _headers(template_label, _label(theme_name, theme_id, "TSX rendered by node")))
    if theme_is_builtin(theme_id, theme):
        jinja_theme, theme_label = theme_id, _label(theme_name, theme_id, BUILTIN)
    else:
        jinja_theme = email_builtins.LIGHT_THEME_ID
        theme_label = _label(theme_name, theme_id, f"{NO_NODE}; Default Light was used instead")
    page = email_templates.wrap(body, subject=subject or "", project_name=project.display_name,
                                theme_id=jinja_theme, unsubscribe_link=unsubscribe_link)
    if unsubscribe_link:
        text += f"\nUnsubscribe: {unsubscribe_link}\n"
    return Email(subject, page, text, None, _headers(template_label, theme_label))


async def project_logos(db: AsyncSession, project_id: str) -> dict[str, str]:
    """A theme's `projectLogos`: the project's logo URLs that are set."""
    row = await db.get(Project, project_id)
    fields = {"logoUrl": "logo_url", "logoFullUrl": "logo_full_url", "logoDarkModeUrl": "logo_dark_mode_url",
              "logoFullDarkModeUrl": "logo_full_dark_mode_url"}
    return {key: getattr(row, column) for key, column in fields.items() if row and getattr(row, column)}


def _theme_input(project: ProjectView, unsubscribe_link: str | None, logos: dict[str, str] | None,
                 ) -> dict[str, Any]:
    props: dict[str, Any] = {"projectLogos": logos or {}}
    if unsubscribe_link:
        props["unsubscribeLink"] = unsubscribe_link
    return {"project": {"displayName": project.display_name}, "theme_props": props}


def _headers(template_label: str, theme_label: str) -> list[tuple[str, str]]:
    return [(email_templates.TEMPLATE_HEADER, template_label), (email_templates.THEME_HEADER, theme_label)]
