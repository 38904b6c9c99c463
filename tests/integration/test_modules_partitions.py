# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""partition, partition_policy and partition_sync against the emulated demo fleet.

Every change runs in check mode (nothing changes on the appliance), for real, and again
(changed=false); every refusal re-reads the facts to prove nothing changed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def part_of(facts, label):
    for part in facts["partitions"]:
        if part["label"] == label:
            return part
    return None


def check_real_again(ansible, module, args, emulator, serials):
    """-> (check, real, again) results; asserts check mode changed nothing on any HSM."""
    before = dict((s, emulator.facts(s)) for s in serials)
    check = ansible.module(module, args, check=True, diff=True)
    assert check.rc == 0, check
    assert check.result["changed"] is True, check
    for serial in serials:
        assert emulator.facts(serial) == before[serial], "check mode changed HSM %s" % serial
    real = ansible.module(module, args, diff=True)
    assert real.rc == 0, real
    assert real.result["changed"] is True, real
    again = ansible.module(module, args, diff=True)
    assert again.rc == 0, again
    assert again.result["changed"] is False, again
    return check, real, again


def refused(ansible, module, args, emulator, serials, *needles):
    """The task fails in check mode and for real, naming every needle; no HSM changed. -> last result."""
    before = dict((s, emulator.facts(s)) for s in serials)
    for check in (True, False):
        run = ansible.module(module, args, check=check)
        assert run.rc != 0, run
        for needle in needles:
            assert needle in run.result["msg"], (needle, run.result["msg"])
        assert "Traceback" not in run.output
    for serial in serials:
        assert emulator.facts(serial) == before[serial], "refusal changed HSM %s" % serial
    return run


def so(emulator, serial, **extra):
    args = emulator.conn(serial, so_password=emulator.so_password)
    args.update(extra)
    return args


# ---------------------------------------------------------------- partition


def test_partition_create_check_real_again(emulator, ansible):
    args = so(emulator, "154701", label="scratch",
              policies={"high_availability": True, "private_key_cloning": False, "36": 0})
    check, real, again = check_real_again(ansible, "partition", args, emulator, ["154701"])
    assert check.result["partition"]["serial"] is None and check.result["before"] == {}
    created = part_of(emulator.facts("154701"), "scratch")
    assert created is not None and created["object_count"] == 0
    assert created["policies"]["high_availability"] is True
    assert created["policies"]["private_key_cloning"] is False
    assert created["policies"]["secret_key_sff_backup"] is False
    assert real.result["partition"]["serial"] == created["serial"]
    assert again.result["partition"]["serial"] == created["serial"]
    assert "+++ after: HSM 154701" in real.stdout and '"label": "scratch"' in real.stdout  # the diff


def test_partition_existing_with_other_policies_warns_and_changes_nothing(emulator, ansible):
    before = emulator.facts("154702")
    run = ansible.module("partition", so(emulator, "154702", label="payments", policies={"high_availability": False}))
    assert run.rc == 0 and run.result["changed"] is False, run
    assert "partition_policy" in run.output and "high_availability" in run.output
    assert emulator.facts("154702") == before


def test_partition_create_refused_when_the_hsm_does_not_allow_a_policy(emulator, ansible):
    args = so(emulator, "154701", label="archive2", policies={"private_key_sff_backup": True})
    refused(ansible, "partition", args, emulator, ["154701"],
            "HSM 154701", "HSM_POLICY_FORBIDS", "archive2", "nothing was changed")
    assert part_of(emulator.facts("154701"), "archive2") is None


def test_partition_absent_refuses_deleting_objects_without_allow_delete(emulator, ansible):
    args = so(emulator, "154701", label="payments", state="absent")
    refused(ansible, "partition", args, emulator, ["154701"],
            "HSM 154701", "payments", "holds 2 object(s)", "allow_delete: true")


def test_partition_absent_check_real_again(emulator, ansible):
    args = so(emulator, "154701", label="payments", state="absent", allow_delete=True)
    check, real, again = check_real_again(ansible, "partition", args, emulator, ["154701"])
    assert check.result["before"]["object_count"] == 2 and check.result["partition"] == {}
    assert part_of(emulator.facts("154701"), "payments") is None
    # the HA peer is untouched
    assert part_of(emulator.facts("154702"), "payments")["object_count"] == 2


def test_partition_bad_label_fails_before_connecting(emulator, ansible):
    run = ansible.module("partition", so(emulator, "154701", label="no spaces allowed"))
    assert run.rc != 0 and "option 'label'" in run.result["msg"], run


def test_partition_change_without_so_password_says_so(emulator, ansible):
    before = emulator.facts("154701")
    run = ansible.module("partition", emulator.conn("154701", label="newpart"))
    assert run.rc != 0 and "so_password" in run.result["msg"], run
    assert emulator.facts("154701") == before


# ---------------------------------------------------------------- partition_policy


def test_partition_policy_forbid_sff_backup_check_real_again(emulator, ansible):
    # 154740 has SFF active: its vault partition may be kept off SFF tokens.
    args = so(emulator, "154740", partition="vault",
              policies={"private_key_sff_backup": False, "secret_key_sff_backup": False})
    check, real, again = check_real_again(ansible, "partition_policy", args, emulator, ["154740"])
    assert [(c["name"], c["from"], c["to"]) for c in check.result["changes"]] == [
        ("private_key_sff_backup", True, False), ("secret_key_sff_backup", True, False)]
    assert real.result["after"]["private_key_sff_backup"] is False
    assert again.result["changes"] == []
    assert part_of(emulator.facts("154740"), "vault")["policies"]["secret_key_sff_backup"] is False
    # and back on: allowed, since the HSM has SFF active
    back = ansible.module("partition_policy", so(emulator, "154740", partition="vault", policies={"35": 1, "36": "on"}))
    assert back.rc == 0 and back.result["changed"] is True, back
    assert part_of(emulator.facts("154740"), "vault")["policies"]["private_key_sff_backup"] is True


def test_partition_policy_by_code_and_serial(emulator, ansible):
    serial = part_of(emulator.facts("154702"), "payments")["serial"]
    args = so(emulator, "154702", partition=serial, policies={"21": 0})
    check, real, again = check_real_again(ansible, "partition_policy", args, emulator, ["154702"])
    assert real.result["changes"] == [{"code": 21, "name": "high_availability", "from": True, "to": False}]
    assert part_of(emulator.facts("154702"), "payments")["policies"]["high_availability"] is False


def test_partition_policy_refuses_relaxing_beyond_the_hsm(emulator, ansible):
    # 154701 has no SFF active: a partition cannot allow SFF backup.
    args = so(emulator, "154701", partition="payments", policies={"private_key_sff_backup": True})
    run = refused(ansible, "partition_policy", args, emulator, ["154701"],
                  "HSM 154701", "partition payments", "HSM_POLICY_FORBIDS", "nothing was changed")
    assert run.result["refusals"][0]["code"] == "HSM_POLICY_FORBIDS"


def test_partition_policy_refuses_cloning_on_a_key_export_hsm(emulator, ansible):
    # The KE HSM has no partition in the demo fleet: make one (its policies default to what the HSM allows).
    made = ansible.module("partition", so(emulator, "154730", label="ke_part"))
    assert made.rc == 0, made
    args = so(emulator, "154730", partition="ke_part", policies={"private_key_cloning": True})
    refused(ansible, "partition_policy", args, emulator, ["154730"], "HSM 154730", "not a cloning HSM")


def test_partition_policy_unknown_partition_and_policy(emulator, ansible):
    run = ansible.module("partition_policy", so(emulator, "154701", partition="nope", policies={"35": 0}))
    assert run.rc != 0 and "HSM 154701" in run.result["msg"] and "'nope'" in run.result["msg"], run
    assert "payments" in run.result["msg"]  # lists what exists
    run = ansible.module("partition_policy", so(emulator, "154701", partition="payments", policies={"sff": 0}))
    assert run.rc != 0 and "unknown partition policy 'sff'" in run.result["msg"], run


def test_partition_policy_so_password_never_shown(emulator, ansible):
    args = so(emulator, "154740", partition="vault", policies={"private_key_sff_backup": False})
    run = ansible.module("partition_policy", args, diff=True, verbosity=4)
    assert run.rc == 0, run
    assert emulator.so_password not in run.output
    assert emulator.admin_password not in run.output
    wrong_args = dict(args, so_password="wrong-so-pw-123", policies={"private_key_sff_backup": True})
    wrong = ansible.module("partition_policy", wrong_args, verbosity=4)
    assert wrong.rc != 0 and "so_password" in wrong.result["msg"], wrong
    assert "wrong-so-pw-123" not in wrong.output


# ---------------------------------------------------------------- partition_sync


def empty_payments_on_154702(emulator):
    """A re-initialised HA member: its payments partition is back, but empty."""
    with emulator.client("154702") as client:
        client.so_login(emulator.so_password)
        old = client.find_partition("payments")
        client.delete_partition(old["serial"])
        client.create_partition("payments")


def test_partition_sync_check_real_again(emulator, ansible):
    empty_payments_on_154702(emulator)
    args = so(emulator, "154702", partition="payments", peers=[{"url": emulator.urls["154701"], "name": "east_1"}])
    check, real, again = check_real_again(ansible, "partition_sync", args, emulator, ["154702", "154701"])
    assert check.result["cloned"] == 2 and check.result["object_count"] == 2
    assert sorted(o["fingerprint"] for o in check.result["objects"]) == ["e1-pay-kek", "e1-pay-sign"]
    assert all(o["from"] == "154701" for o in check.result["objects"])
    assert real.result["cloned"] == 2 and real.result["object_count"] == 2
    assert again.result["cloned"] == 0 and again.result["object_count"] == 2
    # the diff shows what would arrive
    assert [x for x in check.stdout.splitlines() if x.startswith("+") and "e1-pay-kek" in x], check.stdout
    synced = part_of(emulator.facts("154702"), "payments")
    assert sorted(o["fingerprint"] for o in synced["objects"]) == ["e1-pay-kek", "e1-pay-sign"]


def test_partition_sync_refuses_sff_mismatch_with_ckr_data_invalid(emulator, ansible):
    # 154740 has SFF on, 154701 off, same cloning domain: cloning fails with CKR_DATA_INVALID.
    made = ansible.module("partition", so(emulator, "154701", label="vault"))
    assert made.rc == 0, made
    args = so(emulator, "154701", partition="vault", peers=[{"url": emulator.urls["154740"]}])
    run = refused(ansible, "partition_sync", args, emulator, ["154701", "154740"],
                  "HSM 154701", "SFF_MISMATCH", "CKR_DATA_INVALID", "154740", "nothing was cloned")
    assert run.result["return_code"] == "CKR_DATA_INVALID"
    assert part_of(emulator.facts("154701"), "vault")["object_count"] == 0


def test_partition_sync_refuses_another_cloning_domain(emulator, ansible):
    made = ansible.module("partition", so(emulator, "154701", label="tokens"))
    assert made.rc == 0, made
    args = so(emulator, "154701", partition="tokens", peers=[{"url": emulator.urls["154711"]}])
    run = refused(ansible, "partition_sync", args, emulator, ["154701", "154711"],
                  "DOMAIN_MISMATCH", "CKR_CERTIFICATE_INVALID")
    assert run.result["return_code"] == "CKR_CERTIFICATE_INVALID"


def test_partition_sync_missing_peer_partition_names_the_peer(emulator, ansible):
    empty_payments_on_154702(emulator)
    args = so(emulator, "154702", partition="payments",
              peers=[{"url": emulator.urls["154701"], "partition": "no_such"}])
    run = ansible.module("partition_sync", args)
    assert run.rc != 0 and "peers[0]" in run.result["msg"] and "HSM 154701" in run.result["msg"], run


def test_partition_sync_peer_password_never_shown(emulator, ansible):
    empty_payments_on_154702(emulator)
    args = so(emulator, "154702", partition="payments",
              peers=[{"url": emulator.urls["154701"], "password": emulator.admin_password}])
    run = ansible.module("partition_sync", args, check=True, verbosity=4)
    assert run.rc == 0, run
    assert emulator.admin_password not in run.output and emulator.so_password not in run.output
