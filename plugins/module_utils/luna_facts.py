# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gather one HSM's facts (docs/facts.md) through a LunaClient.

Shared by hsm_info, fleet_info and every module that must decide on fresh facts.

``gather_hsm_facts(client, gather_objects=True)`` -> facts dict, validated by
``sff_rules.validate_hsm`` (raises ``sff_rules.FactError`` when the appliance reports
something the schema cannot hold, ``LunaError`` when a call fails).
``hsm_facts_with_status(client, gather_objects=True)`` -> the same plus ``url`` and the
rules engine's ``sff_status`` (what hsm_info/fleet_info return).
``policy_values(facts)`` -> {code: bool} of the HSM policies in the facts.
``read_policies(client)`` / ``read_capabilities(client)`` -> {name: bool}, fresh.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import (
    HSM_POLICY_CODES,
    PARTITION_POLICY_CODES,
    sff_status,
    validate_hsm,
)

SFF_CODE = HSM_POLICY_CODES["sff_backup"]
CLONING_CODE = HSM_POLICY_CODES["cloning"]
_HSM_NAMES = dict((code, name) for name, code in HSM_POLICY_CODES.items())
_PARTITION_NAMES = dict((code, name) for name, code in PARTITION_POLICY_CODES.items())


def _by_name(items, names):
    # Names come from the collection's table, so a renamed appliance label cannot change a key.
    out = {}
    for item in items:
        out[names.get(item["code"], item["name"])] = bool(item["value"])
    return out


def gather_hsm_facts(client, gather_objects=True):
    """Facts of the appliance's HSM in the docs/facts.md schema, plus ``capabilities``
    (name -> bool) and each partition's ``serial``. Object lists only with gather_objects."""
    hsm = client.get_hsm()
    capabilities = client.get_capabilities()
    policies = client.get_policies()
    caps = dict((c["code"], c["value"]) for c in capabilities)
    pols = dict((p["code"], p["value"]) for p in policies)
    partitions = []
    for pid in client.list_partitions():
        part = client.get_partition(pid)
        part["policies"] = _by_name(client.get_partition_policies(pid), _PARTITION_NAMES)
        if gather_objects:
            part["objects"] = client.get_partition_objects(pid)
            part["object_count"] = len(part["objects"])
        else:
            part["objects"] = []
        partitions.append(part)
    facts = dict(hsm)
    facts.update({
        "cloning": bool(caps.get(CLONING_CODE, False)),
        "sff_capability": bool(caps.get(SFF_CODE, False)),
        "sff_policy": bool(pols.get(SFF_CODE, False)),
        "policies": _by_name(policies, _HSM_NAMES),
        "capabilities": _by_name(capabilities, _HSM_NAMES),
        "partitions": partitions,
    })
    # validate_hsm keeps the appliance's object_count when no object list was gathered.
    return dict(validate_hsm(facts))


def hsm_facts_with_status(client, gather_objects=True):
    """gather_hsm_facts + ``url`` + the rules engine's ``sff_status``."""
    facts = gather_hsm_facts(client, gather_objects=gather_objects)
    facts["url"] = client.base_url
    facts["sff_status"] = sff_status(facts)
    return facts


def read_capabilities(client):
    """The HSM capabilities by name -> bool (fresh from the appliance)."""
    return _by_name(client.get_capabilities(), _HSM_NAMES)


def read_policies(client):
    """The HSM policies by name -> bool (fresh from the appliance)."""
    return _by_name(client.get_policies(), _HSM_NAMES)


def policy_values(facts):
    """{code: bool} of the HSM policies named in the facts."""
    out = {}
    for name, value in (facts.get("policies") or {}).items():
        if name in HSM_POLICY_CODES:
            out[HSM_POLICY_CODES[name]] = bool(value)
    return out
