# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fault injection, and no secret in the server's log."""

import time

import httpx
import pytest

from emulator_process import assert_error

FAULT = "200015"


@pytest.fixture
def faults(emu):
    admin = emu.client(FAULT)
    yield admin
    assert admin.put("/emulator/faults/%s" % FAULT, json={}).status_code == 200


def test_faults_are_off_by_default(emu, faults):
    assert faults.get("/emulator/faults/%s" % FAULT).json() == {
        "latency_ms": 0, "fail_after": None, "fail_status": 503, "drop_after": None, "crash_during": None}


def test_latency(emu, faults):
    other = emu.client("200014")
    assert other.get("/api/lunasa/hsms").status_code == 200  # connected before the clock starts
    assert faults.put("/emulator/faults/%s" % FAULT, json={"latency_ms": 1500}).status_code == 200
    started = time.monotonic()
    assert faults.get("/api/lunasa/hsms").status_code == 200
    assert time.monotonic() - started >= 1.5
    started = time.monotonic()  # other appliances are not slowed down (generous margin for a busy machine)
    assert other.get("/api/lunasa/hsms").status_code == 200
    assert time.monotonic() - started < 1.0


def test_fail_after(emu, faults):
    assert faults.put("/emulator/faults/%s" % FAULT, json={"fail_after": 2}).status_code == 200
    assert faults.get("/api/lunasa/hsms").status_code == 200
    assert faults.get("/api/lunasa/hsms").status_code == 200
    assert_error(faults.get("/api/lunasa/hsms"), 503, "FRAMEWORK_SERVICE_UNAVAILABLE", "FAULT_INJECTED")
    assert faults.get("/emulator/faults/%s" % FAULT).status_code == 200  # admin calls are never faulted
    assert faults.put("/emulator/faults/%s" % FAULT, json={"fail_after": 0, "fail_status": 500}).status_code == 200
    assert_error(faults.get("/api/lunasa/hsms"), 500, "FRAMEWORK_INTERNAL_ERROR")


def test_faults_from_the_fleet_file(emu):
    assert_error(emu.client("200019").get("/api/lunasa/hsms"), 503, "FRAMEWORK_SERVICE_UNAVAILABLE")


def test_drop_after_closes_without_response(emu, faults):
    assert faults.put("/emulator/faults/%s" % FAULT, json={"drop_after": 1}).status_code == 200
    assert faults.get("/api/lunasa/hsms").status_code == 200
    fresh = emu.client(FAULT)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        fresh.get("/api/lunasa/hsms")
    assert faults.put("/emulator/faults/%s" % FAULT, json={}).status_code == 200
    assert emu.client(FAULT).get("/api/lunasa/hsms").status_code == 200


def test_no_secret_in_the_log(emu):
    # exercise a session and a failed SO login so their values would show if logged
    client = emu.client("200014")
    cookie = client.post("/auth/session", json={}).headers["set-cookie"].split(";")[0].split("=", 1)[1]
    client.post("/api/lunasa/hsms/200014/login?password=test-so-pw", json={"password": "wrong-so-secret"})
    client.post("/emulator/users/so/unlock")
    log = emu.log()
    assert "access: 200014 POST /api/lunasa/hsms/200014/login -> 401" in log  # the log is there
    for secret in ("test-admin-pw", "test-operator-pw", "test-monitor-pw", "test-audit-pw", "test-so-pw",
                   "wrong-so-secret", cookie, "dGVzdC1hZG1pbi1wdw"):  # base64 of the admin password's start
        assert secret not in log
