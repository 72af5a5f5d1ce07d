"""POST /internal/sign-up-rules-test: how the project's sign-up rules would decide a sign-up, rule by rule."""
from __future__ import annotations

from emulator.domain.auth import sign_up_rules as rules
from emulator.http import validation as v
from emulator.http.endpoint import ADMIN, Ctx, RouteTable

api = RouteTable()

RISK_SCORE = v.Int(required=True, min_value=0, max_value=100)
COUNTRY = v.Str(required=True, nullable=True, test=lambda value, path: None if rules.COUNTRY_CODE.match(
    value.strip().upper()) else f"{path} must be a 2-letter country code")


@api("/internal/sign-up-rules-test", "POST", access=ADMIN, body=v.Obj({
    "email": v.Str(required=True, nullable=True),
    "auth_method": v.Str(required=True, one_of=rules.AUTH_METHODS),
    "oauth_provider": v.Str(required=True, nullable=True),
    "country_code": COUNTRY,
    "turnstile_result": v.Str(one_of=("ok", "invalid", "error")),
    "risk_scores": v.Obj({"bot": RISK_SCORE, "free_trial_abuse": RISK_SCORE}),
}, required=True))
async def sign_up_rules_test(ctx: Ctx):
    body = ctx.body
    country = body["country_code"] or rules.country_code_of(ctx.request_country, body["email"])
    context = rules.make_context(email=body["email"], auth_method=body["auth_method"],
                                 oauth_provider=body["oauth_provider"], country_code=country,
                                 risk_scores=body.get("risk_scores"))
    outcome = rules.evaluate(ctx.project.config, context)
    return {
        "context": {
            "email": context["email"], "email_domain": context["emailDomain"], "country_code": context["countryCode"],
            "auth_method": context["authMethod"], "oauth_provider": context["oauthProvider"],
            "turnstile_result": body.get("turnstile_result") or "invalid", "risk_scores": context["riskScores"],
        },
        "evaluations": [{
            "rule_id": e.rule_id,
            "display_name": e.rule.get("displayName") or "",
            "enabled": e.rule.get("enabled") is not False,
            "condition": e.rule.get("condition") or "",
            "status": e.status,
            "action": {"type": rules.action_type(e.rule),
                       **({"message": e.rule["action"]["message"]}
                          if isinstance(e.rule.get("action"), dict) and e.rule["action"].get("message") is not None
                          else {})},
            **({"error": e.error} if e.error else {}),
        } for e in outcome.evaluations],
        "outcome": {
            "should_allow": outcome.should_allow, "decision": outcome.decision,
            "decision_rule_id": outcome.decision_rule_id,
            "restricted_because_of_rule_id": outcome.restricted_because_of_rule_id,
        },
    }
