"""The TSX (react-email) sources of the platform's built-in email themes and templates, as a project's config starts
with them (`emails.themes`, `emails.templates`, `emails.selectedThemeId`), written for the emulator.

Ids, names, subjects and variables are the platform's; the markup is our own, except that Default Light lays out
its card as the platform's does (the same rendered HTML). While a built-in keeps this source, the emulator renders
it with the Jinja2 port in ui/emails (fast, and without Node.js); once a project edits it, the edited TSX is rendered
with node (emulator.mail.renderer).
"""
from __future__ import annotations

from typing import Any

LIGHT_THEME_ID = "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac"
DARK_THEME_ID = "a0172b5d-cff0-463b-83bb-85124697373a"
COLORFUL_THEME_ID = "c7e2d94f-8a1b-4e6d-b3f5-9d0a2e7c1b8f"


def _theme(page: str, card: str, footer_link: str, logo_mode: str) -> str:
    return f"""import {{ Html, Head, Tailwind, Body, Container, Section }} from '@react-email/components';
import {{ ThemeProps, ProjectLogo }} from "@stackframe/emails";

// A centred card on a page, the project's logo on top, and the unsubscribe link under the card when there is one.
export function EmailTheme({{ children, unsubscribeLink, projectLogos }}: ThemeProps) {{
  const unsubscribe = unsubscribeLink ? (
    <Section className="p-4 opacity-60 text-center" style={{{{ textAlign: 'center' }}}}>
      <a href={{unsubscribeLink}} className="{footer_link}" target="_blank" rel="noopener noreferrer">Click here</a> to unsubscribe from these emails
    </Section>
  ) : null;
  return (
    <Html>
      <Head />
      <Tailwind>
        <Body className="{page}" style={{{{ overflowX: 'hidden' }}}}>
          <div className="py-8 px-4 flex justify-center">
            <Container className="{card}" style={{{{ width: '100%', maxWidth: '600px' }}}}>
              <ProjectLogo data={{projectLogos}} mode="{logo_mode}" />
              {{children}}
            </Container>
          </div>
          {{unsubscribe}}
        </Body>
      </Tailwind>
    </Html>
  );
}}

EmailTheme.PreviewProps = {{ unsubscribeLink: "https://example.com" }} satisfies Partial<ThemeProps>;
"""


LIGHT_THEME = _theme("bg-[#fafbfb] font-sans text-base m-0 p-0", "bg-white p-[45px] rounded-lg shadow-sm mx-auto",
                     "text-blue-600", "light")
DARK_THEME = _theme("bg-[#101318] font-sans text-base text-slate-100 m-0 p-0",
                    "bg-[#1b1f27] text-slate-100 p-[45px] rounded-lg mx-auto", "text-sky-300", "dark")
COLORFUL_THEME = _theme("bg-gradient-to-br from-indigo-100 to-pink-100 font-sans text-base m-0 p-0",
                        "bg-white p-[45px] rounded-2xl border-solid border-2 border-indigo-300 mx-auto",
                        "text-indigo-600", "light")

# `false` as a theme id: the template without any theme around it.
EMPTY_THEME = """import { Html, Tailwind, Body } from '@react-email/components';
export function EmailTheme({ children }: { children: React.ReactNode }) {
  return <Html><Tailwind><Body>{children}</Body></Tailwind></Html>;
}
"""


def _template(variables: dict[str, str], subject: str, body: str, preview: dict[str, str]) -> str:
    schema = ", ".join(f'"{name}": "{kind}"' for name, kind in variables.items())
    preview_values = ", ".join(f"{name}: {value}" for name, value in preview.items())
    return f"""import {{ type }} from "arktype";
import {{ Button, Section, Text }} from "@react-email/components";
import {{ Subject, NotificationCategory, Props }} from "@stackframe/emails";

export const variablesSchema = type({{ {schema} }});

export function EmailTemplate({{ user, project, variables }}: Props<typeof variablesSchema.infer>) {{
  return (
    <>
      <Subject value={{{subject}}} />
      <NotificationCategory value="Transactional" />
{body}
    </>
  );
}}

EmailTemplate.PreviewVariables = {{ {preview_values} }} satisfies typeof variablesSchema.infer;
"""


def _button(link: str, label: str) -> str:
    return (f'      <Section className="my-6 text-center">\n'
            f'        <Button href={{{link}}} className="bg-black text-white font-semibold rounded-md px-5 py-3">'
            f'{label}</Button>\n      </Section>')


_SAMPLE_LINK = '"https://example.com/handler?code=sample"'
TEMPLATES: dict[str, dict[str, Any]] = {
    "e7d009ce-8d47-4528-b245-5bf119f2ffa3": {"displayName": "Email Verification", "tsxSource": _template(
        {"emailVerificationLink": "string"}, "`Verify your email at ${project.displayName}`",
        '      <Text>Hi{user.displayName ? ` ${user.displayName}` : ""}, please confirm this email address for '
        '{project.displayName}.</Text>\n' + _button("variables.emailVerificationLink", "Verify my email") + "\n"
        '      <Text className="text-sm opacity-70">If you did not sign up, you can ignore this email.</Text>',
        {"emailVerificationLink": _SAMPLE_LINK})},
    "a70fb3a4-56c1-4e42-af25-49d25603abd0": {"displayName": "Password Reset", "tsxSource": _template(
        {"passwordResetLink": "string"}, '"Reset your password at " + project.displayName',
        "      <Text>Someone asked to reset the password of your {project.displayName} account.</Text>\n"
        + _button("variables.passwordResetLink", "Choose a new password") + "\n"
        '      <Text className="text-sm opacity-70">If it was not you, you can ignore this email.</Text>',
        {"passwordResetLink": _SAMPLE_LINK})},
    "822687fe-8d0a-4467-a0d1-416b6e639478": {"displayName": "Magic Link/OTP", "tsxSource": _template(
        {"magicLink": "string", "otp": "string"},
        '"Sign in to " + project.displayName + ": Your code is " + variables.otp',
        "      <Text>Here is your sign-in code for {project.displayName}:</Text>\n"
        '      <p className="text-3xl font-bold tracking-widest">{variables.otp}</p>\n'
        '      <Text>Or sign in directly with <a href={variables.magicLink}>this link</a>.</Text>',
        {"magicLink": _SAMPLE_LINK, "otp": '"3SLSWZ"'})},
    "e84de395-2076-4831-9c19-8e9a96a868e4": {"displayName": "Team Invitation", "tsxSource": _template(
        {"teamInvitationLink": "string", "teamDisplayName": "string"},
        '"You have been invited to join " + variables.teamDisplayName',
        "      <Text>You have been invited to join the team {variables.teamDisplayName} on "
        "{project.displayName}.</Text>\n" + _button("variables.teamInvitationLink", "Join the team"),
        {"teamInvitationLink": _SAMPLE_LINK, "teamDisplayName": '"My Team"'})},
    "066dd73c-36da-4fd0-b6d6-ebf87683f8bc": {"displayName": "Sign In Invitation", "tsxSource": _template(
        {"signInInvitationLink": "string", "teamDisplayName": "string"},
        '"You have been invited to sign in to " + project.displayName',
        "      <Text>You have been invited to sign in to {project.displayName}.</Text>\n"
        + _button("variables.signInInvitationLink", "Sign in"),
        {"signInInvitationLink": _SAMPLE_LINK, "teamDisplayName": '"My Team"'})},
    "70372aee-0441-4d80-974c-2e858e40123a": {"displayName": "Payment Receipt", "tsxSource": _template(
        {"productName": "string", "quantity": "number", "amount": "string", "receiptLink?": "string"},
        '"Your receipt from " + project.displayName',
        "      <Text>Thank you for your purchase of {variables.productName} (quantity {variables.quantity}).</Text>\n"
        "      <Text>Amount paid: {variables.amount}</Text>\n"
        "      {variables.receiptLink ? <Text><a href={variables.receiptLink}>View your receipt</a></Text> : null}",
        {"productName": '"Pro plan"', "quantity": "1", "amount": '"$10.00"'})},
    "f64b1afe-27ec-4a28-a277-7178f3261f9a": {"displayName": "Payment Failed", "tsxSource": _template(
        {"productName": "string", "amount": "string", "invoiceUrl?": "string", "failureReason?": "string"},
        '"Payment failed for " + project.displayName',
        "      <Text>Your payment of {variables.amount} for {variables.productName} did not go through.</Text>\n"
        "      {variables.failureReason ? <Text>Reason: {variables.failureReason}</Text> : null}\n"
        "      {variables.invoiceUrl ? <Text><a href={variables.invoiceUrl}>Pay the invoice</a></Text> : null}",
        {"productName": '"Pro plan"', "amount": '"$10.00"'})},
}
THEMES: dict[str, dict[str, str]] = {
    LIGHT_THEME_ID: {"displayName": "Default Light", "tsxSource": LIGHT_THEME},
    DARK_THEME_ID: {"displayName": "Default Dark", "tsxSource": DARK_THEME},
    COLORFUL_THEME_ID: {"displayName": "Default Colorful", "tsxSource": COLORFUL_THEME},
}

# What a template created with POST /internal/email-templates starts as.
NEW_TEMPLATE = """import { type } from "arktype";
import { Container } from "@react-email/components";
import { Subject, NotificationCategory, Props } from "@stackframe/emails";

export const variablesSchema = type({});

export function EmailTemplate({ user, project }: Props<typeof variablesSchema.infer>) {
  return (
    <Container>
      <Subject value={`A message from ${project.displayName}`} />
      <NotificationCategory value="Transactional" />
      <p>Hi{user.displayName ? ` ${user.displayName}` : ""}, write your email here.</p>
    </Container>
  );
}
"""

# What a draft created without tsx_source starts as.
NEW_DRAFT = """import { Container } from "@react-email/components";
import { Subject, NotificationCategory, Props } from "@stackframe/emails";

export function EmailTemplate({ user, project }: Props) {
  return (
    <Container>
      <Subject value={`News from ${project.displayName}`} />
      <NotificationCategory value="Marketing" />
      <p>Hi{user.displayName ? ` ${user.displayName}` : ""}, write your message here.</p>
    </Container>
  );
}
"""


def config_defaults() -> dict[str, Any]:
    """The `emails` defaults of a project's config (the server entry is the config module's)."""
    return {"selectedThemeId": LIGHT_THEME_ID, "themes": {k: dict(v) for k, v in THEMES.items()},
            "templates": {k: dict(v) for k, v in TEMPLATES.items()}}


def is_builtin_source(kind: str, item_id: str, source: str | None) -> bool:
    """Whether a config theme or template still has its built-in source (then the Jinja2 port renders it)."""
    builtin = (THEMES if kind == "theme" else TEMPLATES).get(item_id)
    return builtin is not None and builtin["tsxSource"] == source
