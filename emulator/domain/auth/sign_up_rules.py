"""Sign-up rules (`auth.signUpRules`): CEL conditions over the sign-up context, evaluated by cel-python (celpy).

Rules run highest priority first, then by id (the rendered config is already in that order). `allow` and `reject`
stop the evaluation; `restrict` marks the user (the first one counts) and `log` only records; when no rule decides,
`signUpRulesDefaultAction` does.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

AUTH_METHODS = ("password", "otp", "oauth", "passkey")
ACTIONS = ("allow", "reject", "restrict", "log")
# The emulator has no risk engine: every sign-up scores 0 (the lowest risk) unless a test request overrides it.
NO_RISK = {"bot": 0, "free_trial_abuse": 0}
COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
# In development the platform reads a country from an address tag: "user+CA@example.com" signs up from Canada.
COUNTRY_TAG = re.compile(r"^[^+]+\+([^@]+)@example\.com$", re.IGNORECASE)



@functools.cache
def _cel():
    """cel-python, imported on first use: building its parser takes a moment, and most projects have no rules."""
    import celpy
    return celpy, celpy.Environment()


def _matches(text: Any, pattern: Any) -> Any:
    # CEL's standard matches() is RE2; the platform's rules are JavaScript regexes (backreferences work there),
    # so the emulator binds Python's `re`, which is far closer to them.
    return _cel()[0].celtypes.BoolType(re.search(str(pattern), str(text)) is not None)


class ConditionError(ValueError):
    """A condition that cannot be compiled or evaluated; the message says why."""


@functools.lru_cache(maxsize=512)
def compile_condition(expression: str) -> Any:
    celpy, env = _cel()
    try:
        return env.program(env.compile(expression), functions={"matches": _matches})
    except celpy.CELParseError as exc:
        raise ConditionError("syntax error: " + " ".join(str(exc).split())) from None


def evaluate_condition(expression: str, context: dict[str, Any]) -> bool:
    program = compile_condition(expression)
    celpy = _cel()[0]
    try:
        result = program.evaluate(celpy.json_to_cel(context))
    except celpy.CELEvalError as exc:
        raise ConditionError(str(exc.args[0]) if exc.args else str(exc)) from None
    except Exception as exc:  # e.g. re.error from a malformed pattern in matches()
        raise ConditionError(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(result, celpy.celtypes.BoolType):
        raise ConditionError(f"the condition must be true or false, got {type(result).__name__} {result}")
    return bool(result)


def make_context(*, email: str | None, auth_method: str, oauth_provider: str | None = None,
                 country_code: str | None = None, risk_scores: dict[str, int] | None = None) -> dict[str, Any]:
    """The variables a condition sees; absent values are empty strings, as on the platform."""
    email = email.strip().lower() if email else ""
    return {
        "email": email,
        "emailDomain": email.rsplit("@", 1)[1] if "@" in email else "",
        "countryCode": (country_code or "").strip().upper(),
        "authMethod": auth_method,
        "oauthProvider": oauth_provider or "",
        "riskScores": dict(risk_scores or NO_RISK),
    }


def condition_problems(config: dict[str, Any]) -> list[str]:
    """Why the conditions of a (nested) config cannot be used: syntax errors, unknown variables, non-booleans.
    Checked when a config file loads and when the config API stores an override."""
    auth = config.get("auth") if isinstance(config, dict) else None
    rules = auth.get("signUpRules") if isinstance(auth, dict) else None
    problems = []
    sample = make_context(email=None, auth_method="password")
    for rule_id, rule in (rules or {}).items():
        condition = rule.get("condition") if isinstance(rule, dict) else None
        if not isinstance(condition, str) or not condition.strip():
            continue
        try:
            evaluate_condition(condition, sample)
        except ConditionError as exc:
            reason = str(exc)
            # A run-time failure on the empty sample (a bad pattern, a missing map key) may be fine for real
            # sign-ups; only a reference to a variable that never exists, a syntax error or a non-boolean is fatal.
            if not reason.startswith(("syntax error", "undeclared reference", "the condition must")):
                continue
            problems.append(f"auth.signUpRules.{rule_id}.condition: {reason.split(' (in activation')[0]}")
    return problems


@dataclass
class Evaluation:
    rule_id: str
    rule: dict[str, Any]
    status: str  # matched, not_matched, disabled, missing_condition, error
    error: str | None = None


@dataclass
class Outcome:
    should_allow: bool
    decision: str  # allow, reject, default-allow, default-reject
    decision_rule_id: str | None = None
    restricted_because_of_rule_id: str | None = None
    evaluations: list[Evaluation] = field(default_factory=list)


def evaluate(config: dict[str, Any], context: dict[str, Any]) -> Outcome:
    restricted_by = None
    evaluations = []
    for rule_id, rule in config["auth"]["signUpRules"].items():
        if rule.get("enabled") is not True:
            evaluations.append(Evaluation(rule_id, rule, "disabled"))
            continue
        if not rule.get("condition"):
            evaluations.append(Evaluation(rule_id, rule, "missing_condition"))
            continue
        try:
            matched = evaluate_condition(rule["condition"], context)
        except ConditionError as exc:  # a broken rule never matches; the test endpoint shows why
            evaluations.append(Evaluation(rule_id, rule, "error", str(exc)))
            continue
        evaluations.append(Evaluation(rule_id, rule, "matched" if matched else "not_matched"))
        if not matched:
            continue
        action = action_type(rule)
        if action == "restrict" and restricted_by is None:
            restricted_by = rule_id
        if action in ("allow", "reject"):
            return Outcome(action == "allow", action, rule_id, restricted_by, evaluations)
    allow = config["auth"]["signUpRulesDefaultAction"] != "reject"
    return Outcome(allow, "default-allow" if allow else "default-reject", None, restricted_by, evaluations)


def action_type(rule: dict[str, Any]) -> str:
    action = rule.get("action")
    return (action.get("type") if isinstance(action, dict) else None) or "allow"


def country_code_of(request_country: str | None, email: str | None) -> str | None:
    """The sign-up's country: an address tag on example.com first (a development convenience the platform has
    too), then the request's geo header."""
    tag = COUNTRY_TAG.match(email or "")
    for candidate in (tag.group(1) if tag else None, request_country):
        if candidate and COUNTRY_CODE.match(candidate.strip().upper()):
            return candidate.strip().upper()
    return None
