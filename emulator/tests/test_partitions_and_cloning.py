# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Partitions, partition policies, cloning, HA synchronisation, SFF backup and restore.

Every outcome here is the rules engine's (sff_rules); the tests check the appliance applies it.
"""

import pytest

from emulator_process import assert_error

PART = "200018"


def partitions(client, serial):
    return {p["id"]: client.get(p["url"]).json()["name"]
            for p in client.get("/api/lunasa/hsms/%s/partitions" % serial).json()["partitions"]}


def pid_of(client, serial, label):
    return next(pid for pid, name in partitions(client, serial).items() if name == label)


def objects(client, serial, pid):
    return client.get("/api/lunasa/hsms/%s/partitions/%s/objects" % (serial, pid)).json()["objects"]


def ppolicies(client, serial, pid):
    items = client.get("/api/lunasa/hsms/%s/partitions/%s/policies" % (serial, pid)).json()["policies"]
    return {p["code"]: p["value"] for p in items}


def test_partition_lifecycle(emu):
    client = emu.so_client(PART)
    resp = client.post("/api/lunasa/hsms/%s/partitions" % PART, json={"name": "apps_1"})
    assert resp.status_code == 201
    pid = resp.json()["id"]
    assert int(pid) >= 1000000
    assert resp.json()["url"] == "/api/lunasa/hsms/%s/partitions/%s" % (PART, pid)
    body = client.get(resp.json()["url"]).json()
    assert body == {"id": pid, "name": "apps_1", "serialNumber": pid, "objectCount": 0,
                    "policies": resp.json()["url"] + "/policies", "objects": resp.json()["url"] + "/objects"}
    assert_error(client.post("/api/lunasa/hsms/%s/partitions" % PART, json={"name": "apps_1"}), 422,
                 "HSMPLUGIN_OPERATION_NOT_ALLOWED", "LABEL_IN_USE")
    for bad in ("bad-label", "", "x" * 33, 7, None):
        assert_error(client.post("/api/lunasa/hsms/%s/partitions" % PART, json={"name": bad}), 400,
                     "FRAMEWORK_BAD_REQUEST", "name")
    created = client.post("%s/objects" % resp.json()["url"], json={"label": "k", "class": "secret_key"})
    assert created.status_code == 201 and created.json() == {"fingerprint": "secret_key:k"}
    assert client.get(resp.json()["url"]).json()["objectCount"] == 1
    assert objects(client, PART, pid) == [{"label": "k", "class": "secret_key", "fingerprint": "secret_key:k",
                                           "extractable": False, "offBoard": False}]
    assert client.delete(resp.json()["url"]).status_code == 204
    assert_error(client.get(resp.json()["url"]), 404, "HSMPLUGIN_INVALID_PARTITION")
    assert_error(client.delete(resp.json()["url"]), 404, "HSMPLUGIN_INVALID_PARTITION")


def test_partition_policies_can_only_forbid_what_the_hsm_allows(emu):
    client = emu.so_client(PART)
    pid = client.post("/api/lunasa/hsms/%s/partitions" % PART, json={"name": "pol"}).json()["id"]
    values = ppolicies(client, PART, pid)
    assert values[0] == 1 and values[4] == 1 and values[35] == 0 and values[36] == 0
    url = "/api/lunasa/hsms/%s/partitions/%s/policies/" % (PART, pid)
    assert_error(client.put(url + "35", json={"value": 1}), 422, "HSMPLUGIN_OPERATION_NOT_ALLOWED",
                 "HSM_POLICY_FORBIDS")
    assert client.put(url + "0", json={"value": 0}).status_code == 204
    assert ppolicies(client, PART, pid)[0] == 0
    assert_error(client.put(url + "99", json={"value": 1}), 400, "HSMPLUGIN_INVALID_POLICY")
    # on an HSM with SFF active they start on and may be switched off and on
    sff = emu.so_client("200007")
    spid = sff.post("/api/lunasa/hsms/200007/partitions", json={"name": "fresh"}).json()["id"]
    assert ppolicies(sff, "200007", spid)[35] == 1
    surl = "/api/lunasa/hsms/200007/partitions/%s/policies/35" % spid
    assert sff.put(surl, json={"value": 0}).status_code == 204
    assert sff.put(surl, json={"value": 1}).status_code == 204
    assert sff.get(surl).json()["value"] == 1


def clone(client, serial, pid, target, tpid, objects_=None):
    return client.post("/api/lunasa/hsms/%s/partitions/%s/clone" % (serial, pid),
                       json={"target": {"hsm": target, "partition": tpid}, "objects": objects_})


def test_clone_between_appliances_when_both_sff_off(emu):
    src = emu.so_client("200009")
    spid = pid_of(src, "200009", "p")
    tpid = pid_of(emu.client("200010"), "200010", "p")
    resp = clone(src, "200009", spid, "200010", tpid, ["s-1"])
    assert resp.status_code == 200 and resp.json() == {"cloned": 1, "skipped": 0}
    resp = clone(src, "200009", spid, "200010", tpid)
    assert resp.json() == {"cloned": 1, "skipped": 1}
    fps = sorted(o["fingerprint"] for o in objects(emu.client("200010"), "200010", tpid))
    assert fps == ["s-1", "s-2"]
    # the target may be given by URL too
    url_target = {"url": emu.url("200010"), "partition": tpid}
    resp = src.post("/api/lunasa/hsms/200009/partitions/%s/clone" % spid, json={"target": url_target, "objects": None})
    assert resp.json() == {"cloned": 0, "skipped": 2}


@pytest.mark.parametrize("source, target, details, code", [
    ("200009", "200006", "SFF_MISMATCH", "CKR_DATA_INVALID"),       # SFF off -> SFF on
    ("200006", "200009", "SFF_MISMATCH", "CKR_DATA_INVALID"),       # SFF on -> SFF off
    ("200012", "200007", "SFF_MISMATCH", "CKR_DATA_INVALID"),       # pre-6.21 -> SFF on
    ("200006", "200012", "SFF_MISMATCH", "CKR_DATA_INVALID"),       # SFF on -> pre-6.21
    ("200009", "200011", "DOMAIN_MISMATCH", "CKR_CERTIFICATE_INVALID"),
    ("200005", "200010", "NOT_CLONING_HSM", "CKR_OPERATION_NOT_ALLOWED"),
])
def test_clone_refusals_are_the_rules_engines(emu, source, target, details, code):
    src = emu.so_client(source)
    spid = next(iter(partitions(src, source)))
    tpid = next(iter(partitions(emu.client(target), target)))
    before = objects(emu.client(target), target, tpid)
    assert_error(clone(src, source, spid, target, tpid), 422, "HSMPLUGIN_CLONING_FAILED", details, code)
    assert objects(emu.client(target), target, tpid) == before  # all or nothing


@pytest.mark.parametrize("source, target", [("200012", "200010"), ("200010", "200012"), ("200003", "200012")])
def test_clone_works_where_the_seed_says_no_change(emu, source, target):
    # pre-6.21 <-> 6.22 with SFF off, and pre-6.21 <-> pre-6.21 (same domain)
    src = emu.so_client(source)
    spid = next(iter(partitions(src, source)))
    tpid = next(iter(partitions(emu.client(target), target)))
    resp = clone(src, source, spid, target, tpid)
    assert resp.status_code == 200, resp.text


def test_clone_sff_on_to_sff_on(emu):
    src = emu.so_client("200006")
    spid = pid_of(src, "200006", "vault")
    tpid = pid_of(emu.client("200008"), "200008", "vault")
    # a different SIM secret does not stop cloning (only SFF backup interchange)
    assert clone(src, "200006", spid, "200008", tpid, ["v-1"]).json() == {"cloned": 1, "skipped": 0}


def test_clone_request_errors(emu):
    src = emu.so_client("200009")
    spid = pid_of(src, "200009", "p")
    assert_error(clone(src, "200009", spid, "999999", "1000000"), 404, "HSMPLUGIN_INVALID_HSM")
    assert_error(clone(src, "200009", spid, "200010", "42"), 404, "HSMPLUGIN_INVALID_PARTITION", "target.partition")
    assert_error(clone(src, "200009", "77", "200010", "42"), 404, "HSMPLUGIN_INVALID_PARTITION")
    assert_error(clone(src, "200009", spid, "200009", spid), 400, "FRAMEWORK_BAD_REQUEST")
    assert_error(clone(src, "200009", spid, "200010", pid_of(emu.client("200010"), "200010", "p"), ["nope"]), 400,
                 "FRAMEWORK_BAD_REQUEST", "objects")
    assert_error(src.post("/api/lunasa/hsms/200009/partitions/%s/clone" % spid, json={"target": "x"}), 400,
                 "FRAMEWORK_BAD_REQUEST", "target")
    assert_error(src.post("/api/lunasa/hsms/200009/partitions/%s/clone" % spid,
                          json={"target": {"url": "https://example.com:1", "partition": "1"}}), 404,
                 "HSMPLUGIN_INVALID_HSM")


def test_synchronize_from_ha_peers(emu):
    here = emu.so_client("200007")
    pid = pid_of(here, "200007", "vault")
    peer_pid = pid_of(emu.client("200006"), "200006", "vault")
    resp = here.post("/api/lunasa/hsms/200007/partitions/%s/synchronize" % pid,
                     json={"peers": [{"hsm": "200006", "partition": peer_pid}]})
    assert resp.status_code == 200
    assert resp.json()["cloned"] >= 3
    assert {"v-1", "v-2", "v-3"} <= {o["fingerprint"] for o in objects(here, "200007", pid)}
    assert here.post("/api/lunasa/hsms/200007/partitions/%s/synchronize" % pid,
                     json={"peers": [{"hsm": "200006", "partition": peer_pid}]}).json() == {"cloned": 0}
    # through the same cloning rules: an SFF-off peer is refused with CKR_DATA_INVALID
    off_pid = pid_of(emu.client("200010"), "200010", "p")
    assert_error(here.post("/api/lunasa/hsms/200007/partitions/%s/synchronize" % pid,
                           json={"peers": [{"hsm": "200006", "partition": peer_pid},
                                           {"hsm": "200010", "partition": off_pid}]}),
                 422, "HSMPLUGIN_CLONING_FAILED", "SFF_MISMATCH", "CKR_DATA_INVALID")
    assert_error(here.post("/api/lunasa/hsms/200007/partitions/%s/synchronize" % pid, json={"peers": []}), 400,
                 "FRAMEWORK_BAD_REQUEST", "peers")


def test_sff_backup_and_restore(emu):
    src = emu.so_client("200006")
    vault = pid_of(src, "200006", "vault")
    resp = src.post("/api/lunasa/hsms/200006/partitions/%s/sffBackup" % vault, json={"token": "etoken_1"})
    assert resp.status_code == 200
    assert resp.json()["token"] == "etoken_1" and resp.json()["objects"] >= 3
    assert all(o["offBoard"] for o in objects(src, "200006", vault))
    # the partition policy can forbid SFF backup of that partition
    closed = pid_of(src, "200006", "closed")
    assert_error(src.post("/api/lunasa/hsms/200006/partitions/%s/sffBackup" % closed, json={"token": "t2"}), 422,
                 "HSMPLUGIN_OPERATION_NOT_ALLOWED", "PARTITION_POLICY_FORBIDS_SFF")
    # an HSM without SFF active cannot back up
    plain = emu.so_client("200009")
    assert_error(plain.post("/api/lunasa/hsms/200009/partitions/%s/sffBackup" % pid_of(plain, "200009", "p"),
                            json={"token": "t3"}), 422, "HSMPLUGIN_OPERATION_NOT_ALLOWED", "SFF_NOT_ACTIVE")
    # restore onto another SFF HSM with the same SIM secret
    dst = emu.so_client("200007")
    fresh = dst.post("/api/lunasa/hsms/200007/partitions", json={"name": "restored"}).json()["id"]
    resp = dst.post("/api/lunasa/hsms/200007/partitions/%s/sffRestore" % fresh, json={"token": "etoken_1"})
    assert resp.status_code == 200 and resp.json()["objects"] >= 3
    assert all(o["offBoard"] for o in objects(dst, "200007", fresh))
    # not with another SIM secret, not without SFF active
    other = emu.so_client("200008")
    assert_error(other.post("/api/lunasa/hsms/200008/partitions/%s/sffRestore" % pid_of(other, "200008", "vault"),
                            json={"token": "etoken_1"}), 422, "HSMPLUGIN_OPERATION_NOT_ALLOWED", "SIM_SECRET_MISMATCH")
    assert_error(plain.post("/api/lunasa/hsms/200009/partitions/%s/sffRestore" % pid_of(plain, "200009", "p"),
                            json={"token": "etoken_1"}), 422, "HSMPLUGIN_OPERATION_NOT_ALLOWED", "SFF_NOT_ACTIVE")
    assert_error(dst.post("/api/lunasa/hsms/200007/partitions/%s/sffRestore" % fresh, json={"token": "nope"}), 404,
                 "FRAMEWORK_RESOURCE_NOT_FOUND", "token")
    assert_error(dst.post("/api/lunasa/hsms/200007/partitions/%s/sffRestore" % fresh, json={"token": "../x"}), 400,
                 "FRAMEWORK_BAD_REQUEST", "token")


def test_off_board_objects_only_clone_to_sff_hsms_unless_extractable(emu):
    # An HSM backs up to SFF (objects now off-board), then switches policy 38 off: both sides
    # are SFF-off, so the HSMs may clone, but the object rule still applies per object.
    src = emu.so_client("200017")
    pid = pid_of(src, "200017", "p")
    assert src.post("/api/lunasa/hsms/200017/partitions/%s/sffBackup" % pid, json={"token": "etoken_ob"}).status_code == 200
    assert src.put("/api/lunasa/hsms/200017/policies/38", json={"value": 0}).status_code == 204
    target = emu.so_client("200010")
    tpid = target.post("/api/lunasa/hsms/200010/partitions", json={"name": "ob_target"}).json()["id"]
    assert_error(clone(src, "200017", pid, "200010", tpid), 422, "HSMPLUGIN_CLONING_FAILED",
                 "OBJECT_STORED_OFF_BOARD", "CKR_DATA_INVALID")
    assert objects(target, "200010", tpid) == []
    assert clone(src, "200017", pid, "200010", tpid, ["o-2"]).json() == {"cloned": 1, "skipped": 0}  # extractable
    # the target partition's cloning policy is honoured too
    assert target.put("/api/lunasa/hsms/200010/partitions/%s/policies/4" % tpid, json={"value": 0}).status_code == 204
    other = target.post("/api/lunasa/hsms/200009/partitions", json={"name": "x"})
    assert other.status_code == 404  # another appliance's HSM in the path
    src9 = emu.so_client("200009")
    assert_error(clone(src9, "200009", pid_of(src9, "200009", "p"), "200010", tpid, ["s-1"]), 422,
                 "HSMPLUGIN_CLONING_FAILED", "PARTITION_CLONING_FORBIDDEN", "CKR_OPERATION_NOT_ALLOWED")
