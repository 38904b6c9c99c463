# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input always gets the contract's error body with a 4xx, never a 500 nor FastAPI's own shape."""

import pytest

from emulator_process import assert_error

HSM = "200002"
JSON = {"Content-Type": "application/vnd.safenetinc.lunasa+json;version=1"}


@pytest.fixture(scope="module")
def so(emu):
    return emu.so_client(HSM)


@pytest.mark.parametrize("content, headers, status, error_id", [
    (b"{not json", JSON, 400, "FRAMEWORK_BAD_REQUEST"),
    (b"[1, 2]", JSON, 400, "FRAMEWORK_BAD_REQUEST"),
    (b"\xff\xfe", JSON, 400, "FRAMEWORK_BAD_REQUEST"),
    (b"[" * 100000, JSON, 400, "FRAMEWORK_BAD_REQUEST"),
    (b"", JSON, 400, "FRAMEWORK_BAD_REQUEST"),
    (b'{"value": 1}', {"Content-Type": "text/plain"}, 415, "FRAMEWORK_UNSUPPORTED_MEDIA_TYPE"),
    (b'{"value": 1}', {"Content-Type": "application/x-www-form-urlencoded"}, 415, "FRAMEWORK_UNSUPPORTED_MEDIA_TYPE"),
    (b'{"value": 1}', {}, 415, "FRAMEWORK_UNSUPPORTED_MEDIA_TYPE"),
    (b'{"value": 1}', {"Content-Type": "application/vnd.safenetinc.lunasa+octet-stream"}, 415,
     "FRAMEWORK_UNSUPPORTED_MEDIA_TYPE"),
    (b'{"value": 2}', JSON, 400, "HSMPLUGIN_INVALID_POLICY"),
    (b'{"value": true}', JSON, 400, "HSMPLUGIN_INVALID_POLICY"),
    (b'{"value": "1"}', JSON, 400, "HSMPLUGIN_INVALID_POLICY"),
    (b'{}', JSON, 400, "HSMPLUGIN_INVALID_POLICY"),
    (b"{\"value\": " + b"9" * 5000 + b"}", JSON, 400, "FRAMEWORK_BAD_REQUEST"),  # beyond int parsing limits
])
def test_malformed_policy_bodies(emu, so, content, headers, status, error_id):
    assert_error(so.put("/api/lunasa/hsms/%s/policies/16" % HSM, content=content, headers=headers), status, error_id)


@pytest.mark.parametrize("code", ["99", "-1", "abc", "38x", "1e3", "%20", "00000000000000000000000000000001x"])
def test_unknown_policy_codes(emu, so, code):
    assert_error(so.get("/api/lunasa/hsms/%s/policies/%s" % (HSM, code)), 400, "HSMPLUGIN_INVALID_POLICY")
    assert_error(so.put("/api/lunasa/hsms/%s/policies/%s" % (HSM, code), json={"value": 1}), 400,
                 "HSMPLUGIN_INVALID_POLICY")


@pytest.mark.parametrize("method, path, status, error_id", [
    ("GET", "/api/lunasa/hsms/999", 404, "HSMPLUGIN_INVALID_HSM"),
    ("GET", "/api/lunasa/hsms/999/policies", 404, "HSMPLUGIN_INVALID_HSM"),
    ("GET", "/api/lunasa/hsms/%s/partitions/123" % HSM, 404, "HSMPLUGIN_INVALID_PARTITION"),
    ("GET", "/api/lunasa/hsms/%s/partitions/abc/objects" % HSM, 404, "HSMPLUGIN_INVALID_PARTITION"),
    ("GET", "/api/lunasa/hsms/%s/partitions/1/policies/0" % HSM, 404, "HSMPLUGIN_INVALID_PARTITION"),
    ("DELETE", "/api/lunasa/hsms/%s/partitions/123" % HSM, 404, "HSMPLUGIN_INVALID_PARTITION"),
    ("GET", "/api/lunasa/nothing", 404, "FRAMEWORK_RESOURCE_NOT_FOUND"),
    ("GET", "/tasks/abc", 404, "FRAMEWORK_RESOURCE_NOT_FOUND"),
    ("GET", "/tasks/99999999999999999999999", 404, "FRAMEWORK_RESOURCE_NOT_FOUND"),
    ("DELETE", "/api/lunasa/hsms", 405, "FRAMEWORK_METHOD_NOT_ALLOWED"),
    ("GET", "/emulator/faults/1", 404, "HSMPLUGIN_INVALID_HSM"),
])
def test_unknown_resources(emu, so, method, path, status, error_id):
    assert_error(so.request(method, path), status, error_id)


@pytest.mark.parametrize("path, body, error_id, details", [
    ("/api/lunasa/hsms/%s/login" % HSM, {"password": 5}, "FRAMEWORK_BAD_REQUEST", "password"),
    ("/api/lunasa/hsms/%s/login" % HSM, {"password": "x", "role": "user"}, "FRAMEWORK_BAD_REQUEST", "role"),
    ("/api/lunasa/hsms/%s/capabilityUpdates" % HSM, {"file": 1, "authCode": "x"}, "FRAMEWORK_BAD_REQUEST", "file"),
    ("/api/lunasa/hsms/%s/capabilityUpdates" % HSM, {"file": "a"}, "FRAMEWORK_BAD_REQUEST", "authCode"),
    ("/api/lunasa/hsms/%s/partitions" % HSM, {"name": ["x"]}, "FRAMEWORK_BAD_REQUEST", "name"),
    ("/emulator/faults/%s" % HSM, {"latency_ms": -1}, "FRAMEWORK_BAD_REQUEST", "body"),
    ("/emulator/faults/%s" % HSM, {"crash_during": "lunch"}, "FRAMEWORK_BAD_REQUEST", "body"),
    ("/emulator/faults/%s" % HSM, {"surprise": 1}, "FRAMEWORK_BAD_REQUEST", "body"),
    ("/emulator/faults/%s" % HSM, {"fail_status": 200}, "FRAMEWORK_BAD_REQUEST", "body"),
    ("/emulator/users/root/unlock", {}, "FRAMEWORK_BAD_REQUEST", "user"),
])
def test_bad_fields_are_named(emu, so, path, body, error_id, details):
    method = "PUT" if path.startswith("/emulator/faults") else "POST"
    assert_error(so.request(method, path, json=body), 400, error_id, details)


@pytest.mark.parametrize("items", [None, [], "x", [{"code": "16", "value": 1}], [{"code": 16}], [1],
                                   [{"code": 16, "value": 1}, {"code": 16, "value": 0}], [{"code": 99, "value": 1}]])
def test_bad_patch_bodies(emu, so, items):
    resp = so.patch("/api/lunasa/hsms/%s/policies" % HSM, json={"policies": items})
    assert resp.status_code == 400
    assert_error(resp, 400, resp.json()["id"])


def test_huge_header_and_path_are_refused_cleanly(emu, so):
    resp = so.get("/api/lunasa/hsms/" + "9" * 5000)
    assert_error(resp, 404, "HSMPLUGIN_INVALID_HSM")
    assert "9" * 100 not in resp.json()["message"]
