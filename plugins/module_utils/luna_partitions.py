# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Partition-level decisions shared by the partition, partition_policy and partition_sync modules.

Everything here works on fact dicts (docs/facts.md) and asks the rules engine
(sff_rules) for every compatibility decision; the only appliance access is
``partition_facts`` / ``gather_with_partition``, through ``LunaClient``'s public API.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from collections.abc import Mapping

from ansible_collections.hsmops.luna.plugins.module_utils.luna_facts import gather_hsm_facts
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import (
    PARTITION_POLICY_CODES,
    clone_failure_code,
    clone_verdict,
    object_clone_refusal,
    partition_policy_refusals,
)

LABEL_RE = re.compile(r"^[A-Za-z0-9_]{1,32}$")
_NAME_OF_CODE = dict((code, name) for name, code in PARTITION_POLICY_CODES.items())
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class PartitionInputError(ValueError):
    """Bad module input: names the option and what to do."""


def check_label(label, option="label"):
    """Partition labels: ^[A-Za-z0-9_]{1,32}$ (appliance rule)."""
    if not isinstance(label, str) or not LABEL_RE.match(label):
        raise PartitionInputError(
            "option '%s': %r is not a valid partition label; use 1 to 32 letters, digits or '_'" % (option, label))
    return label


def _policy_bool(key, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise PartitionInputError("option 'policies': %s must be true/false (or 1/0), got %r" % (key, value))


def normalize_policies(policies):
    """{name or code: bool-ish} -> {name: bool}. Unknown names/codes are an error naming them."""
    if policies is None:
        return {}
    if not isinstance(policies, Mapping):
        raise PartitionInputError("option 'policies': expected a mapping of partition policy name or code to "
                                  "true/false, e.g. {private_key_sff_backup: false}")
    out = {}
    for key, value in policies.items():
        text = str(key).strip()
        if text in PARTITION_POLICY_CODES:
            name = text
        elif text.isdigit() and int(text) in _NAME_OF_CODE:
            name = _NAME_OF_CODE[int(text)]
        else:
            raise PartitionInputError(
                "option 'policies': unknown partition policy %r; use a name or code of: %s" % (key, ", ".join(
                    "%s (%d)" % (n, c) for n, c in sorted(PARTITION_POLICY_CODES.items(), key=lambda i: i[1]))))
        wanted = _policy_bool(key, value)
        if name in out and out[name] != wanted:
            raise PartitionInputError("option 'policies': %s is given twice with different values" % name)
        out[name] = wanted
    return out


def find_partition(facts, label_or_serial, labels_only=False):
    """The partition with that serial (first) or label in HSM facts, or None."""
    wanted = str(label_or_serial)
    if not labels_only:
        for part in facts.get("partitions") or []:
            if part.get("serial") == wanted:
                return part
    for part in facts.get("partitions") or []:
        if part.get("label") == wanted:
            return part
    return None


def missing_partition_message(facts, label_or_serial, where):
    labels = [p.get("label") or p.get("serial") for p in facts.get("partitions") or []]
    return ("%s has no partition with label or serial %r (it has: %s): check the name, or create it with "
            "hsmops.luna.partition" % (where, str(label_or_serial), ", ".join(labels) if labels else "none"))


def hsm_where(facts, url=None):
    """'HSM 154701 (https://...)' for messages."""
    serial = facts.get("serial") if isinstance(facts, Mapping) else None
    if serial and url:
        return "HSM %s (%s)" % (serial, url)
    if serial:
        return "HSM %s" % serial
    return "appliance %s" % url


def policy_changes(current, desired):
    """[{code, name, from, to}] for every desired policy that differs, in code order.

    A policy the appliance does not list counts as allowed (docs/facts.md)."""
    changes = []
    for name in sorted(desired, key=lambda n: PARTITION_POLICY_CODES[n]):
        before = bool(current.get(name, True))
        if before != desired[name]:
            changes.append({"code": PARTITION_POLICY_CODES[name], "name": name, "from": before, "to": desired[name]})
    return changes


def policy_refusals(hsm_facts, changes, partition_label=None):
    """The engine's refusals for the changes that switch a policy on (relaxing), naming the partition."""
    wanted = dict((c["name"], c["to"]) for c in changes)
    found = partition_policy_refusals(hsm_facts, wanted)
    if partition_label:
        for item in found:
            item["message"] = "Partition %s: %s" % (partition_label, item["message"])
    return found


def partition_facts(client, part, gather_objects=True):
    """Fresh facts of one partition (serial, label, object_count, policies, objects)."""
    pid = part["serial"]
    fresh = client.get_partition(pid)
    fresh["policies"] = dict((_NAME_OF_CODE.get(p["code"], p["name"]), bool(p["value"]))
                             for p in client.get_partition_policies(pid))
    if gather_objects:
        fresh["objects"] = client.get_partition_objects(pid)
        fresh["object_count"] = len(fresh["objects"])
    return fresh


def gather_with_partition(client, label_or_serial, gather_objects=True, labels_only=False):
    """(HSM facts without object lists, the named partition's facts with objects or None).

    The HSM facts are what the rules engine decides on; object lists are read for the one
    partition only. The partition inside the returned HSM facts carries its objects too.
    """
    facts = gather_hsm_facts(client, gather_objects=False)
    part = find_partition(facts, label_or_serial, labels_only)
    if part is not None and gather_objects:
        part["objects"] = client.get_partition_objects(part["serial"])
        part["object_count"] = len(part["objects"])
    return facts, part


def sync_plan(target_facts, target_part, peers):
    """What synchronising target_part from its peers would clone, or why it is refused.

    peers: list of (peer HSM facts, peer partition facts with objects). Every decision is
    the rules engine's: clone_verdict per peer (source: the peer, target: this HSM) and
    object_clone_refusal per object this partition lacks.
    Returns {refusals, missing: [{label, class, fingerprint, from}], verdicts: [...]}.
    """
    have = set(o["fingerprint"] for o in target_part.get("objects") or [])
    refusals = []
    verdicts = []
    missing = []
    seen = set()
    for peer_facts, peer_part in peers:
        verdict = clone_verdict(peer_facts, target_facts)
        code = clone_failure_code(verdict)
        verdicts.append({"peer": peer_facts["serial"], "partition": peer_part["label"], "possible": verdict["possible"],
                         "return_code": code, "reasons": verdict["reasons"]})
        if not verdict["possible"]:
            for item in verdict["findings"]:
                refusals.append(dict(item, return_code=clone_failure_code({"reasons": [item["code"]]}),
                                     peer=peer_facts["serial"]))
            continue
        for obj in peer_part.get("objects") or []:
            if obj["fingerprint"] in have or obj["fingerprint"] in seen:
                continue
            refused = object_clone_refusal(obj, target_facts, target_part)
            if refused is not None:
                refusals.append(dict(refused, return_code=clone_failure_code({"reasons": [refused["code"]]}),
                                     peer=peer_facts["serial"]))
                continue
            seen.add(obj["fingerprint"])
            missing.append({"label": obj["label"], "class": obj["class"], "fingerprint": obj["fingerprint"],
                            "from": peer_facts["serial"]})
    return {"refusals": refusals, "missing": missing, "verdicts": verdicts}


def error_fields(exc):
    """A LunaError's result fields (status, error_id, details, return_code, serial, url) without its message."""
    return dict((key, value) for key, value in exc.as_dict().items() if key != "msg")


def refusal_text(refusals):
    """All refusals in one message, each naming the HSM, its code and (for clones) the CKR code."""
    parts = []
    for i, item in enumerate(refusals, 1):
        ckr = " %s" % item["return_code"] if item.get("return_code") else ""
        parts.append("(%d) HSM %s %s%s: %s" % (i, item["serial"], item["code"], ckr, item["message"]))
    return " ".join(parts)
