# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Authentication: Basic, sessions with idle timeout, lockout, read-only users, SO login."""

import time

import pytest

from emulator_process import assert_error

AUTH = "200014"


@pytest.mark.parametrize("path", ["/api/lunasa/hsms", "/api/lunasa/hsms/200014/policies", "/tasks/1",
                                  "/api/lunasa/packageFiles", "/emulator/faults/200014", "/no/such/route"])
def test_every_call_needs_credentials(emu, path):
    resp = emu.client(AUTH, auth=False).get(path)
    body = assert_error(resp, 401, "FRAMEWORK_UNAUTHORIZED")
    assert resp.headers["www-authenticate"] == 'Basic realm="lunasa"'
    assert body["returnCode"] == 0


def test_unknown_user_and_malformed_basic(emu):
    assert_error(emu.client(AUTH, user="root", password="x").get("/api/lunasa/hsms"), 401, "FRAMEWORK_UNAUTHORIZED")
    raw = emu.client(AUTH, auth=False)
    assert_error(raw.get("/api/lunasa/hsms", headers={"Authorization": "Basic !!!"}), 401, "FRAMEWORK_UNAUTHORIZED")
    assert_error(raw.get("/api/lunasa/hsms", headers={"Authorization": "Bearer abc"}), 401, "FRAMEWORK_UNAUTHORIZED")


def test_lockout_after_wrong_passwords_then_unlock(emu):
    wrong = emu.client(AUTH, user="operator", password="nope")
    for _ in range(3):  # lockout_after: 3 in the test fleet
        assert_error(wrong.get("/api/lunasa/hsms"), 401, "FRAMEWORK_UNAUTHORIZED")
    right = emu.client(AUTH, user="operator")
    assert_error(right.get("/api/lunasa/hsms"), 403, "FRAMEWORK_FORBIDDEN")
    # counted per appliance: the same user elsewhere is not locked
    assert emu.client("200015", user="operator").get("/api/lunasa/hsms").status_code == 200
    # only admin may unlock; then the right password works again
    assert_error(emu.client(AUTH, user="monitor").post("/emulator/users/operator/unlock"), 403, "FRAMEWORK_FORBIDDEN")
    assert emu.client(AUTH).post("/emulator/users/operator/unlock").status_code == 204
    assert right.get("/api/lunasa/hsms").status_code == 200


def test_a_locked_admin_is_unlocked_from_another_appliance(emu):
    wrong = emu.client("200018", password="nope")
    for _ in range(3):
        wrong.get("/api/lunasa/hsms")
    assert_error(emu.client("200018").get("/api/lunasa/hsms"), 403, "FRAMEWORK_FORBIDDEN")
    assert emu.client(AUTH).post("/emulator/users/admin/unlock", params={"hsm": "200018"}).status_code == 204
    assert emu.client("200018").get("/api/lunasa/hsms").status_code == 200


def test_successful_login_resets_the_failure_count(emu):
    wrong = emu.client(AUTH, user="audit", password="nope")
    right = emu.client(AUTH, user="audit")
    for _ in range(2):
        wrong.get("/api/lunasa/hsms")
    assert right.get("/api/lunasa/hsms").status_code == 200
    for _ in range(2):
        wrong.get("/api/lunasa/hsms")
    assert right.get("/api/lunasa/hsms").status_code == 200


@pytest.mark.parametrize("user", ["monitor", "audit"])
def test_read_only_users_may_only_read(emu, user):
    client = emu.client(AUTH, user=user)
    assert client.get("/api/lunasa/hsms/%s/policies" % AUTH).status_code == 200
    assert_error(client.put("/api/lunasa/hsms/%s/policies/16" % AUTH, json={"value": 1}), 403, "FRAMEWORK_FORBIDDEN",
                 "READ_ONLY_USER")
    assert_error(client.post("/api/lunasa/hsms/%s/login" % AUTH, json={"password": "test-so-pw"}), 403,
                 "FRAMEWORK_FORBIDDEN")
    assert_error(client.get("/emulator/faults/%s" % AUTH), 403, "FRAMEWORK_FORBIDDEN")


def test_session_cookie_then_logout(emu):
    basic = emu.client(AUTH)
    resp = basic.post("/auth/session", json={})
    assert resp.status_code == 204
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith("SESSION=") and "HttpOnly" in cookie and "Secure" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    anon = emu.client(AUTH, auth=False)
    headers = {"Cookie": "SESSION=" + token}
    assert anon.get("/api/lunasa/hsms", headers=headers).status_code == 200
    # a cookie is for the appliance that issued it
    assert_error(emu.client("200015", auth=False).get("/api/lunasa/hsms", headers=headers), 401,
                 "FRAMEWORK_UNAUTHORIZED")
    assert anon.delete("/auth/session", headers=headers).status_code == 204
    assert_error(anon.get("/api/lunasa/hsms", headers=headers), 401, "FRAMEWORK_UNAUTHORIZED")
    assert_error(anon.get("/api/lunasa/hsms", headers={"Cookie": "SESSION=forged"}), 401, "FRAMEWORK_UNAUTHORIZED")


def test_session_idle_timeout(emu):
    resp = emu.client(AUTH).post("/auth/session", json={})
    headers = {"Cookie": resp.headers["set-cookie"].split(";")[0]}
    anon = emu.client(AUTH, auth=False)
    time.sleep(0.5)
    assert anon.get("/api/lunasa/hsms", headers=headers).status_code == 200  # use keeps it alive
    time.sleep(3.5)  # session_idle_timeout: 3 in the test fleet
    assert_error(anon.get("/api/lunasa/hsms", headers=headers), 401, "FRAMEWORK_UNAUTHORIZED")


def test_changes_need_the_so_logged_in(emu):
    client = emu.client(AUTH)
    assert_error(client.put("/api/lunasa/hsms/%s/policies/16" % AUTH, json={"value": 0}), 403,
                 "HSMPLUGIN_NOT_LOGGED_IN")
    assert_error(client.post("/api/lunasa/hsms/%s/partitions" % AUTH, json={"name": "x"}), 403,
                 "HSMPLUGIN_NOT_LOGGED_IN")
    assert client.post("/api/lunasa/hsms/%s/login" % AUTH,
                       json={"ped": "0", "password": "test-so-pw", "role": "so"}).status_code == 204
    assert client.put("/api/lunasa/hsms/%s/policies/16" % AUTH, json={"value": 1}).status_code == 204
    assert client.delete("/api/lunasa/hsms/%s/login" % AUTH).status_code == 204
    assert_error(client.put("/api/lunasa/hsms/%s/policies/16" % AUTH, json={"value": 1}), 403,
                 "HSMPLUGIN_NOT_LOGGED_IN")


def test_so_login_in_a_session_lasts_for_that_session_only(emu):
    client = emu.client(AUTH, user="operator")
    token = client.post("/auth/session", json={}).headers["set-cookie"].split(";")[0]
    anon = emu.client(AUTH, auth=False)
    anon.headers["Cookie"] = token
    assert anon.post("/api/lunasa/hsms/%s/login" % AUTH, json={"password": "test-so-pw", "role": "so"}).status_code == 204
    assert anon.put("/api/lunasa/hsms/%s/policies/16" % AUTH, json={"value": 1}).status_code == 204
    other = emu.client(AUTH, user="operator", auth=False)
    other.headers["Cookie"] = emu.client(AUTH, user="operator").post("/auth/session", json={}).headers[
        "set-cookie"].split(";")[0]
    assert_error(other.put("/api/lunasa/hsms/%s/policies/16" % AUTH, json={"value": 1}), 403,
                 "HSMPLUGIN_NOT_LOGGED_IN")


def test_wrong_so_password_is_counted_and_locks(emu):
    client = emu.client("200015")
    for _ in range(3):
        assert_error(client.post("/api/lunasa/hsms/200015/login", json={"password": "bad", "role": "so"}), 401,
                     "HSMPLUGIN_LOGIN_FAILED")
    assert_error(client.post("/api/lunasa/hsms/200015/login", json={"password": "test-so-pw", "role": "so"}), 403,
                 "FRAMEWORK_FORBIDDEN")
    assert client.post("/emulator/users/so/unlock").status_code == 204
    assert client.post("/api/lunasa/hsms/200015/login", json={"password": "test-so-pw", "role": "so"}).status_code == 204
