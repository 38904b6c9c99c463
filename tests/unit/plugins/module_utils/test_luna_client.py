# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""LunaClient: session, retries and backoff, re-login, task polling, error mapping, CUF parsing.

Exchanges are replayed through the client's one seam (luna_client.http_open)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

import pytest

from ansible_collections.hsmops.luna.plugins.module_utils import luna_client
from ansible_collections.hsmops.luna.plugins.module_utils.luna_client import LunaClient, LunaError
from ansible_collections.hsmops.luna.tests.unit.fixtures.replay import Replay, load

BASE = "https://hsm.test"
SERIAL = "154701"


def login(token="tok1"):
    return {"method": "POST", "path": "/auth/session", "status": 204,
            "headers": {"Set-Cookie": "SESSION=%s; HttpOnly; Secure; Path=/" % token}, "body": None}


def logout():
    return {"method": "DELETE", "path": "/auth/session", "status": 204, "body": None}


def hsms():
    return {"method": "GET", "path": "/api/lunasa/hsms", "status": 200,
            "body": {"hsms": [{"id": SERIAL, "url": "/api/lunasa/hsms/" + SERIAL}]}}


def error(method, path, status, error_id, message="refused", details="", return_code=0):
    return {"method": method, "path": path, "status": status,
            "body": {"id": error_id, "message": message, "details": details, "returnCode": return_code,
                     "status": "ERROR", "type": "error"}}


def ok(method, path, body=None, status=200, headers=None):
    return {"method": method, "path": path, "status": status, "body": body, "headers": headers or {}}


@pytest.fixture
def sleeps(monkeypatch):
    return []


def make(monkeypatch, sleeps, exchanges=None, fixture=None, **kwargs):
    replay = Replay(fixture=fixture, exchanges=exchanges)
    monkeypatch.setattr(luna_client, "http_open", replay)
    kwargs.setdefault("password", "admin-pw")
    client = LunaClient(BASE, **kwargs)
    client._sleep = sleeps.append
    return client, replay


def test_one_login_per_run_cookie_and_basic_only_on_login(monkeypatch, sleeps):
    client, replay = make(monkeypatch, sleeps, [login(), hsms(), logout()], ca_path="/ca.pem", timeout=7)
    with client:
        assert client.serial == SERIAL
        assert client.list_hsms() == [SERIAL]
        assert client.list_hsms() == [SERIAL]
    assert client.logins == 1
    methods = [(c["method"], c["path"]) for c in replay.calls]
    assert methods == [("POST", "/auth/session"), ("GET", "/api/lunasa/hsms"), ("GET", "/api/lunasa/hsms"),
                       ("GET", "/api/lunasa/hsms"), ("DELETE", "/auth/session")]
    first = replay.calls[0]
    assert first["kwargs"]["url_password"] == "admin-pw" and first["kwargs"]["force_basic_auth"] is True
    assert first["body"] == {}
    for call in replay.calls[1:]:
        assert "url_password" not in call["kwargs"]
        assert call["headers"]["Cookie"] == "SESSION=tok1"
    for call in replay.calls:
        assert call["headers"]["Accept"].startswith("application/vnd.safenetinc.lunasa+json")
        assert call["kwargs"]["ca_path"] == "/ca.pem" and call["kwargs"]["validate_certs"] is True
        assert call["kwargs"]["timeout"] == 7
        # Every request of the run goes over the client's own kept-alive connections.
        assert call["kwargs"]["connections"] is client.connections
    assert first["headers"]["Content-Type"].startswith("application/vnd.safenetinc.lunasa+json")


def test_503_on_read_is_retried_with_backoff(monkeypatch, sleeps):
    exchanges = [login(), error("GET", "/api/lunasa/hsms", 503, "FRAMEWORK_SERVICE_UNAVAILABLE"),
                 error("GET", "/api/lunasa/hsms", 503, "FRAMEWORK_SERVICE_UNAVAILABLE"), hsms()]
    client, replay = make(monkeypatch, sleeps, exchanges)
    assert client.list_hsms() == [SERIAL]
    assert sleeps == [0.5, 1.0]


def test_backoff_is_bounded_and_gives_up(monkeypatch, sleeps):
    exchanges = [login()] + [error("GET", "/api/lunasa/hsms", 503, "FRAMEWORK_SERVICE_UNAVAILABLE")] * 6
    client, replay = make(monkeypatch, sleeps, exchanges, retries=5, backoff=1, max_backoff=3)
    with pytest.raises(LunaError) as info:
        client.list_hsms()
    assert sleeps == [1, 2, 3, 3, 3]
    assert len([c for c in replay.calls if c["method"] == "GET"]) == 6
    assert info.value.status == 503 and info.value.error_id == "FRAMEWORK_SERVICE_UNAVAILABLE"
    assert "run the task again later" in str(info.value)


def test_connection_error_on_read_is_retried(monkeypatch, sleeps):
    exchanges = [login(), {"method": "GET", "path": "/api/lunasa/hsms", "raise": "refused"},
                 {"method": "GET", "path": "/api/lunasa/hsms", "raise": "timeout"}, hsms()]
    client, replay = make(monkeypatch, sleeps, exchanges)
    assert client.list_hsms() == [SERIAL]
    assert sleeps == [0.5, 1.0]


def test_connection_error_gives_up_with_a_clear_message(monkeypatch, sleeps):
    exchanges = [login()] + [{"method": "GET", "path": "/api/lunasa/hsms", "raise": "refused"}] * 4
    client, replay = make(monkeypatch, sleeps, exchanges, name="east_1")
    with pytest.raises(LunaError) as info:
        client.list_hsms()
    text = str(info.value)
    assert "east_1" in text and BASE in text and "after 4 attempts" in text and "reachable" in text
    assert len(sleeps) == 3


@pytest.mark.parametrize("failure", [
    error("PUT", "/api/lunasa/hsms/154701/policies/38", 503, "FRAMEWORK_SERVICE_UNAVAILABLE"),
    {"method": "PUT", "path": "/api/lunasa/hsms/154701/policies/38", "raise": "refused"},
])
def test_writes_are_never_retried(monkeypatch, sleeps, failure):
    client, replay = make(monkeypatch, sleeps, [login(), hsms(), failure, dict(failure)])
    with pytest.raises(LunaError):
        client.set_policy(38, True)
    assert sleeps == []
    assert len([c for c in replay.calls if c["method"] == "PUT"]) == 1


def test_certificate_errors_are_not_retried_and_say_ca_path(monkeypatch, sleeps):
    client, replay = make(monkeypatch, sleeps, [{"method": "POST", "path": "/auth/session", "raise": "certificate"}] * 2)
    with pytest.raises(LunaError) as info:
        client.list_hsms()
    assert sleeps == [] and len(replay.calls) == 1
    assert "ca_path" in str(info.value) and "certificate" in str(info.value).lower()


def test_expired_session_relogs_in_once(monkeypatch, sleeps):
    exchanges = [login("tok1"), hsms(), error("GET", "/api/lunasa/hsms", 401, "FRAMEWORK_UNAUTHORIZED"),
                 login("tok2"), hsms()]
    client, replay = make(monkeypatch, sleeps, exchanges)
    assert client.list_hsms() == [SERIAL]
    assert client.list_hsms() == [SERIAL]
    assert client.logins == 2
    assert replay.calls[-1]["headers"]["Cookie"] == "SESSION=tok2"


def test_second_401_after_relogin_is_an_error(monkeypatch, sleeps):
    exchanges = [login("tok1"), hsms(), error("GET", "/api/lunasa/hsms", 401, "FRAMEWORK_UNAUTHORIZED"),
                 login("tok2"), error("GET", "/api/lunasa/hsms", 401, "FRAMEWORK_UNAUTHORIZED")]
    client, replay = make(monkeypatch, sleeps, exchanges)
    client.list_hsms()
    with pytest.raises(LunaError) as info:
        client.list_hsms()
    assert info.value.status == 401 and client.logins == 2


def test_relogin_restores_the_so_login_and_repeats_the_write(monkeypatch, sleeps):
    put = "/api/lunasa/hsms/154701/policies/38"
    so = "/api/lunasa/hsms/154701/login"
    exchanges = [login("tok1"), hsms(), ok("POST", so, status=204), error("PUT", put, 401, "FRAMEWORK_UNAUTHORIZED"),
                 login("tok2"), ok("POST", so, status=204), ok("PUT", put, status=204)]
    client, replay = make(monkeypatch, sleeps, exchanges)
    client.so_login("so-pw")
    client.set_policy(38, True)
    so_calls = [c for c in replay.calls if c["path"] == so]
    assert len(so_calls) == 2 and all(c["body"] == {"ped": "0", "password": "so-pw", "role": "so"} for c in so_calls)
    puts = [c for c in replay.calls if c["method"] == "PUT"]
    assert len(puts) == 2 and puts[-1]["headers"]["Cookie"] == "SESSION=tok2" and puts[-1]["body"] == {"value": 1}


def test_so_login_happens_once_per_run(monkeypatch, sleeps):
    so = "/api/lunasa/hsms/154701/login"
    client, replay = make(monkeypatch, sleeps, [login(), hsms(), ok("POST", so, status=204)])
    client.so_login("so-pw")
    client.so_login("so-pw")
    assert len([c for c in replay.calls if c["path"] == so]) == 1


def test_wrong_so_password_is_not_a_session_expiry(monkeypatch, sleeps):
    so = "/api/lunasa/hsms/154701/login"
    failed = error("POST", so, 401, "HSMPLUGIN_LOGIN_FAILED", "SO login failed")
    client, replay = make(monkeypatch, sleeps, [login(), hsms(), failed])
    with pytest.raises(LunaError) as info:
        client.so_login("wrong")
    assert client.logins == 1
    assert info.value.error_id == "HSMPLUGIN_LOGIN_FAILED" and "so_password" in str(info.value)
    assert "wrong" not in str(info.value)


def test_missing_so_password_is_refused_before_any_call(monkeypatch, sleeps):
    client, replay = make(monkeypatch, sleeps, [])
    with pytest.raises(LunaError) as info:
        client.so_login(None)
    assert "so_password" in str(info.value) and replay.calls == []


def test_destructive_policy_polls_the_task_until_done(monkeypatch, sleeps):
    put = "/api/lunasa/hsms/154701/policies/12"
    task = {"id": "7", "state": "Running", "sourceUrl": put, "responseUrl": put, "result": None, "error": None}
    done = dict(task, state="Finished", result={"wiped": 1})
    exchanges = [login(), hsms(), ok("PUT", put, status=202, headers={"Location": "/tasks/7"}),
                 ok("GET", "/tasks/7", task), ok("GET", "/tasks/7", task),
                 ok("GET", "/tasks/7", done, status=303, headers={"Location": put})]
    client, replay = make(monkeypatch, sleeps, exchanges, poll_interval=0.25)
    result = client.set_policy(12, False, confirm_destructive=True)
    assert result["state"] == "Finished" and result["result"] == {"wiped": 1}
    assert sleeps == [0.25, 0.25]
    put_call = [c for c in replay.calls if c["method"] == "PUT"][0]
    assert put_call["body"] == {"value": 0, "confirm": "proceed"}


def test_gone_task_is_an_error_with_what_to_do(monkeypatch, sleeps):
    post = "/api/lunasa/hsms/154701/capabilityUpdates"
    exchanges = [login(), hsms(), ok("POST", post, {"id": "3"}, status=202, headers={"Location": "/tasks/3"}),
                 error("GET", "/tasks/3", 410, "FRAMEWORK_RESOURCE_NOT_FOUND", "task gone")]
    client, replay = make(monkeypatch, sleeps, exchanges)
    with pytest.raises(LunaError) as info:
        client.apply_capability_update("cuf.json", "code")
    assert info.value.status == 410 and "outcome is unknown" in str(info.value)


def test_failed_task_reports_the_appliance_error(monkeypatch, sleeps):
    post = "/api/lunasa/hsms/154701/capabilityUpdates"
    failed = {"id": "3", "state": "Finished", "result": None,
              "error": {"id": "HSMPLUGIN_OPERATION_NOT_ALLOWED", "message": "CUF rejected", "details": "CUF_BAD_SIGNATURE",
                        "returnCode": 0, "status": "ERROR", "type": "error"}}
    exchanges = [login(), hsms(), ok("POST", post, None, status=202, headers={"Location": "/tasks/3"}),
                 ok("GET", "/tasks/3", failed, status=303, headers={"Location": post})]
    client, replay = make(monkeypatch, sleeps, exchanges)
    with pytest.raises(LunaError) as info:
        client.apply_capability_update("cuf.json", "code")
    assert info.value.details == "CUF_BAD_SIGNATURE" and info.value.status == 422 and SERIAL in str(info.value)


def test_appliance_error_message_names_hsm_status_id_and_what_to_do(monkeypatch, sleeps):
    put = "/api/lunasa/hsms/154701/policies/38"
    exchanges = [login(), hsms(), error("PUT", put, 422, "HSMPLUGIN_OPERATION_NOT_ALLOWED",
                                        "policy 38 needs the CUF", "CUF_NOT_APPLIED")]
    client, replay = make(monkeypatch, sleeps, exchanges, name="east_1")
    with pytest.raises(LunaError) as info:
        client.set_policy(38, True)
    err = info.value
    expected = (422, "HSMPLUGIN_OPERATION_NOT_ALLOWED", "CUF_NOT_APPLIED", SERIAL)
    assert (err.status, err.error_id, err.details, err.serial) == expected
    text = str(err)
    for part in ("HSM 154701", BASE, "HTTP 422", "HSMPLUGIN_OPERATION_NOT_ALLOWED", "policy 38 needs the CUF",
                 "CUF_NOT_APPLIED", "What to do"):
        assert part in text
    assert err.as_dict()["error_id"] == "HSMPLUGIN_OPERATION_NOT_ALLOWED"


@pytest.mark.parametrize("error_id,status,hint", [
    ("FRAMEWORK_UNAUTHORIZED", 401, "check username and password"),
    ("FRAMEWORK_FORBIDDEN", 403, "unlock"),
])
def test_login_failures_say_what_to_do(monkeypatch, sleeps, error_id, status, hint):
    client, replay = make(monkeypatch, sleeps, [error("POST", "/auth/session", status, error_id)])
    with pytest.raises(LunaError) as info:
        client.list_hsms()
    assert hint in str(info.value) and "admin-pw" not in str(info.value)
    assert client.logins == 0


def test_login_without_session_cookie_is_an_error(monkeypatch, sleeps):
    client, replay = make(monkeypatch, sleeps, [ok("POST", "/auth/session", None, status=204)])
    with pytest.raises(LunaError) as info:
        client.list_hsms()
    assert "SESSION" in str(info.value)


def test_no_password_is_refused_before_any_call(monkeypatch, sleeps):
    client, replay = make(monkeypatch, sleeps, [], password="")
    with pytest.raises(LunaError) as info:
        client.list_hsms()
    assert "password" in str(info.value) and replay.calls == []


@pytest.mark.parametrize("url", ["", "hsm.example.com", "ftp://x"])
def test_bad_url_is_refused(url):
    with pytest.raises(LunaError) as info:
        LunaClient(url, password="x")
    assert "url" in str(info.value)


def test_upload_sends_octet_stream_with_file_name(monkeypatch, sleeps):
    exchanges = [login(), ok("POST", "/api/lunasa/packageFiles", {"id": "x.cuf", "size": 3}, status=201)]
    client, replay = make(monkeypatch, sleeps, exchanges)
    assert client.upload_package("x.cuf", b"abc") == "x.cuf"
    call = replay.calls[-1]
    assert call["raw"] == b"abc" and call["headers"]["X-Luna-File-Name"] == "x.cuf"
    assert call["headers"]["Content-Type"].startswith("application/vnd.safenetinc.lunasa+octet-stream")


def test_close_logs_out_and_never_raises(monkeypatch, sleeps):
    client, replay = make(monkeypatch, sleeps, [login(), hsms(), error("DELETE", "/auth/session", 503, "X")])
    with client:
        client.list_hsms()
    assert replay.calls[-1]["method"] == "DELETE"


def test_recorded_facts_replay(monkeypatch, sleeps):
    """The recorded demo appliance answers through the same seam."""
    fixture = load("hsm_info_154701")
    base = list(fixture["appliances"])[0]
    replay = Replay(fixture=fixture)
    monkeypatch.setattr(luna_client, "http_open", replay)
    with LunaClient(base, password="demo-admin-pw") as client:
        assert client.serial == "154701"
        hsm = client.get_hsm()
    assert hsm["firmware"] == "6.22.0" and hsm["auth"] == "ped"


# ---------------------------------------------------------------- CUF files


def _cuf(tmp_path, serial="154701", capability="sff_backup", code=38, auth="A-1"):
    doc = {"payload": {"capability": capability, "code": code, "serial": serial,
                       "authCodeSha256": hashlib.sha256(auth.encode()).hexdigest(), "issued": "2025-01-01T00:00:00Z"},
           "signature": "c2ln"}
    path = tmp_path / ("%s.cuf" % serial)
    path.write_text(json.dumps(doc))
    return str(path)


def test_read_cuf(tmp_path):
    cuf = luna_client.read_cuf(_cuf(tmp_path))
    assert (cuf["serial"], cuf["capability"], cuf["code"], cuf["file_name"]) == ("154701", "sff_backup", 38, "154701.cuf")
    assert luna_client.cuf_auth_code_matches(cuf, "A-1") is True
    assert luna_client.cuf_auth_code_matches(cuf, "B-2") is False


@pytest.mark.parametrize("content,expected", [
    (None, "cannot read"),
    ("not json", "not a capability update file"),
    ('{"payload": {"serial": "1"}}', "not a capability update file"),
    ('{"payload": {"serial": "1", "capability": "sff_backup", "code": 38}}', "not a capability update file"),
])
def test_read_cuf_refuses_bad_files(tmp_path, content, expected):
    path = tmp_path / "f.cuf"
    if content is not None:
        path.write_text(content)
    with pytest.raises(LunaError) as info:
        luna_client.read_cuf(str(path))
    assert expected in str(info.value) and str(path) in str(info.value)


def test_argument_spec_marks_secrets_no_log():
    spec = luna_client.luna_argument_spec(so_password=True, defaults_only=True)
    assert spec["password"]["no_log"] and spec["so_password"]["no_log"]
    assert spec["url"]["required"] is False
    assert luna_client.luna_argument_spec()["url"]["required"] is True
