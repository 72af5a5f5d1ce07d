"""GET /internal/metrics: the platform's shape, with users, sign-ups, teams, verification and login methods counted
from the store."""
from __future__ import annotations

import datetime as dt
import time

import httpx

from wire import PASSWORD, call, fresh_email, known_error, ok


def new_project(emu) -> dict:
    r = httpx.post(emu.api + "/emulator/projects", json={"display_name": "Metrics"})
    assert r.status_code == 201, r.text
    return r.json()


def metrics(emu, project, **params) -> dict:
    return ok(call(emu, "GET", "/internal/metrics", access="admin", project_id=project["id"],
                   key=project["super_secret_admin_key"], params=params))


def test_metrics_count_the_projects_users(emu):
    project = new_project(emu)
    empty = metrics(emu, project)
    assert empty["total_users"] == 0 and empty["users_by_country"] == {} and empty["login_methods"] == []
    assert empty["recently_registered"] == [] and empty["recently_active"] == []
    assert len(empty["daily_users"]) == 31 and empty["daily_users"][-1]["date"] == dt.date.today().isoformat()
    assert set(empty) == {"total_users", "daily_users", "daily_active_users", "users_by_country",
                          "recently_registered", "recently_active", "login_methods", "auth_overview",
                          "payments_overview", "email_overview", "analytics_overview"}

    client = dict(project_id=project["id"], key=project["publishable_client_key"])
    signed_up = ok(call(emu, "POST", "/auth/password/sign-up", json={"email": fresh_email(), "password": PASSWORD},
                        **client))
    ok(call(emu, "POST", "/users", access="server", project_id=project["id"], key=project["secret_server_key"],
            json={"primary_email": fresh_email(), "primary_email_verified": True}), 201)
    ok(call(emu, "POST", "/auth/anonymous/sign-up", **client))

    m = metrics(emu, project)
    assert m["total_users"] == 2
    assert m["daily_users"][-1]["activity"] == 2
    assert [u["id"] for u in m["recently_registered"]][-1] == signed_up["user_id"]
    assert m["login_methods"] == [{"method": "password", "count": 1}]
    overview = m["auth_overview"]
    assert (overview["verified_users"], overview["unverified_users"], overview["anonymous_users"]) == (1, 1, 1)
    assert overview["total_users_filtered"] == 2
    assert metrics(emu, project, include_anonymous="true")["total_users"] == 3

    ok(call(emu, "DELETE", f"/users/{signed_up['user_id']}", access="server", project_id=project["id"],
            key=project["secret_server_key"]))
    assert metrics(emu, project)["total_users"] == 1


def test_metrics_need_admin_access(emu):
    known_error(call(emu, "GET", "/internal/metrics", access="server"), 401, "INSUFFICIENT_ACCESS_TYPE",
                {"actual_access_type": "server", "allowed_access_types": ["admin"]})


def test_metrics_email_overview_comes_from_the_outbox(emu):
    project = new_project(emu)
    overview = metrics(emu, project)["email_overview"]
    assert overview["total_emails"] == 0 and overview["emails_by_status"] == {} and overview["recent_emails"] == []
    assert len(overview["daily_emails_by_status"]) == 31

    server = dict(access="server", project_id=project["id"], key=project["secret_server_key"])
    user = ok(call(emu, "POST", "/users", json={"primary_email": fresh_email(), "primary_email_verified": True},
                   **server), 201)
    ok(call(emu, "POST", "/emails/send-email", json={"user_ids": [user["id"]], "subject": "Metrics mail",
                                                      "html": "<p>hi</p>"}, **server))
    deadline = time.monotonic() + 15
    while (overview := metrics(emu, project)["email_overview"])["emails_by_status"] != {"ok": 1}:
        assert time.monotonic() < deadline, overview
        time.sleep(0.1)
    assert overview["total_emails"] == 1 and overview["emails_sent"] == 1
    assert overview["daily_emails"][-1]["activity"] == 1 and overview["daily_emails_by_status"][-1]["ok"] == 1
    assert [(e["status"], e["subject"]) for e in overview["recent_emails"]] == [("SENT", "Metrics mail")]
