# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Odd values in every field of every call: always a 4xx (or a success), never a 500."""

import time

import pytest

from emulator_process import ERROR_KEYS

HSM = "200004"
ODD = [None, True, -1, 2 ** 70, 1.5, "", "x" * 2000, "\u0000/../", [None], {"a": {"b": []}}, "1000000"]
CALLS = [
    ("POST", "/api/lunasa/hsms/{hsm}/login", ["password", "role", "ped"]),
    ("PUT", "/api/lunasa/hsms/{hsm}/policies/16", ["value", "confirm"]),
    ("PUT", "/api/lunasa/hsms/{hsm}/policies/6", ["value", "confirm"]),
    ("PATCH", "/api/lunasa/hsms/{hsm}/policies", ["policies"]),
    ("POST", "/api/lunasa/hsms/{hsm}/capabilityUpdates", ["file", "authCode"]),
    ("POST", "/api/lunasa/hsms/{hsm}/partitions", ["name"]),
    ("PUT", "/api/lunasa/hsms/{hsm}/partitions/{pid}/policies/0", ["value"]),
    ("POST", "/api/lunasa/hsms/{hsm}/partitions/{pid}/objects", ["label", "class", "fingerprint", "extractable"]),
    ("POST", "/api/lunasa/hsms/{hsm}/partitions/{pid}/clone", ["target", "objects"]),
    ("POST", "/api/lunasa/hsms/{hsm}/partitions/{pid}/synchronize", ["peers"]),
    ("POST", "/api/lunasa/hsms/{hsm}/partitions/{pid}/sffBackup", ["token"]),
    ("POST", "/api/lunasa/hsms/{hsm}/partitions/{pid}/sffRestore", ["token"]),
    ("PUT", "/emulator/faults/{hsm}", ["latency_ms", "fail_after", "fail_status", "drop_after", "crash_during"]),
    ("POST", "/auth/session", ["x"]),
]


@pytest.mark.parametrize("method, template, fields", CALLS, ids=[c[0] + " " + c[1] for c in CALLS])
def test_odd_values_never_500(emu, method, template, fields):
    assert emu.client(HSM).post("/emulator/users/so/unlock").status_code == 204  # the login fuzz locks the SO
    client = emu.so_client(HSM)
    pid = client.post("/api/lunasa/hsms/%s/partitions" % HSM, json={"name": "fuzz_%d" % (abs(hash(template)) % 10 ** 6)})
    pid = pid.json()["id"] if pid.status_code == 201 else "1"
    path = template.format(hsm=HSM, pid=pid)
    bodies = [None, [], "x", 1]  # not a JSON object at all
    for field in fields:
        bodies += [{field: value} for value in ODD]
        bodies += [{"target": {"hsm": value, "partition": value}} for value in ODD] if field == "target" else []
        bodies += [{"peers": [{"hsm": value, "partition": value}]} for value in ODD] if field == "peers" else []
        bodies += [{"policies": [{"code": value, "value": value}]} for value in ODD] if field == "policies" else []
    for body in bodies:
        if method == "PUT" and path.startswith("/emulator/faults") and isinstance(body, dict) and \
                body.get("crash_during") is not None:
            continue  # a valid crash fault would (correctly) stop the emulator
        resp = client.request(method, path, json=body)
        assert resp.status_code < 500, (method, path, body, resp.text)
        if resp.status_code >= 400:
            assert set(resp.json()) == ERROR_KEYS, resp.text
        if path.startswith("/emulator/faults") and resp.status_code == 200:
            client.put(path, json={})  # never leave a fault behind
        if resp.status_code == 202:  # a destructive change really started: let it finish
            time.sleep(0.5)
