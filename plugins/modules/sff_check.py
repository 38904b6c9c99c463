#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: sff_check
short_description: Prove a planned SFF backup change safe before touching any HSM
version_added: 0.1.0
description:
  - Runs the collection's rules engine (C(sff_change_plan)) on HSM facts, HA groups and a
    proposed change (switch SFF backup on or off for some HSMs) and reports whether it is safe,
    every refusal with its reason code, and the ordered waves of a safe plan.
  - Fails, listing every refusal with the HSM and its reason code, when the change is not
    safe, unless O(fail_on_refusal=false).
  - Talks to no appliance and never changes anything; it is the guard to run before
    M(hsmops.luna.hsm_capability), M(hsmops.luna.hsm_policy) or M(hsmops.luna.ha_group_policy).
author:
  - hsmops engineers (@hsmops)
extends_documentation_fragment:
  - hsmops.luna.attributes
  - hsmops.luna.attributes.INFO_MODULE
options:
  fleet:
    description:
      - HSM facts (docs/facts.md) of the fleet, for example C(fleet_info)'s C(hsms) or
        C(by_serial), or a list of C(hsm_info)'s C(hsm).
      - A list of facts, or a mapping of serial to facts.
      - Exactly one of O(fleet) and O(fleet_file) is required.
    type: raw
  fleet_file:
    description:
      - Path (on the managed host) of a YAML or JSON file holding the fleet facts; either a
        list of facts or a mapping with C(hsms) (the list) and optional C(ha_groups).
      - The emulated fleet's fleet files (C(emulator/fleets/*.yml)) can be read directly.
    type: path
  ha_groups:
    description:
      - HA groups as a list of C({name, members}) with HSM serials as members (what
        M(hsmops.luna.ha_group_info) returns), or a mapping of group name to member serials.
      - Overrides the C(ha_groups) of O(fleet_file).
      - Every member must be in the fleet facts, since an HSM whose facts are unknown cannot be
        proven compatible.
    type: raw
  targets:
    description:
      - Serials of the HSMs that should end with SFF backup O(state).
    type: list
    elements: str
    required: true
  state:
    description:
      - V(on) plans applying the capability update (CUF) and switching HSM policy 38 on;
        V(off) plans switching policy 38 off.
    type: str
    choices: ["on", "off"]
    default: "on"
  accept_key_loss:
    description:
      - Applying the CUF wipes the HSM. Unless this is true, the plan is refused when any
        object on a target exists on no HA peer that could clone it back.
    type: bool
    default: false
  fail_on_refusal:
    description:
      - Fail the task when the plan is not safe. With V(false) the result carries
        RV(safe=false) and the refusals and the task succeeds.
    type: bool
    default: true
seealso:
  - module: hsmops.luna.fleet_info
  - module: hsmops.luna.ha_group_info
  - module: hsmops.luna.ha_group_policy
"""

EXAMPLES = r"""
- name: Gather the fleet
  hsmops.luna.fleet_info:
    appliances: "{{ luna_appliances }}"
  register: fleet

- name: Refuse the rollout unless every rule holds
  hsmops.luna.sff_check:
    fleet: "{{ fleet.hsms }}"
    ha_groups:
      - name: ha_east
        members: ["154701", "154702"]
    targets: ["154701", "154702"]
    state: "on"
  register: sff_plan

- name: Show the waves
  ansible.builtin.debug:
    var: sff_plan.plan.wave_details

- name: Check a fleet file without failing, to report on it
  hsmops.luna.sff_check:
    fleet_file: /srv/hsm/fleet.yml
    targets: ["150001"]
    fail_on_refusal: false
  register: legacy

- name: Report
  ansible.builtin.debug:
    msg: "{{ legacy.refusals | map(attribute='message') }}"
  when: not legacy.safe
"""

RETURN = r"""
safe:
  description: True when the engine found no refusal; only then may the change be made.
  returned: always
  type: bool
  sample: false
refusals:
  description: Every refusal, each with a stable reason code, the HSM concerned and what to do.
  returned: always
  type: list
  elements: dict
  contains:
    code:
      description: Reason code (docs/facts.md, "Reason codes").
      type: str
      sample: HA_PEER_WOULD_DIVERGE
    serial:
      description: The HSM the refusal concerns.
      type: str
      sample: "154702"
    message:
      description: What is wrong and what to do.
      type: str
      sample: HSM 154702 in HA group ha_east would end with SFF off while 154701 would have it on ...
  sample: []
plan:
  description: The rules engine's C(sff_change_plan) result.
  returned: always
  type: dict
  contains:
    safe:
      description: Same as RV(safe).
      type: bool
    state:
      description: The planned state, V(on) or V(off).
      type: str
    refusals:
      description: Same as RV(refusals).
      type: list
      elements: dict
    waves:
      description: Lists of HSM serials to change together, in order; empty when not safe.
      type: list
      elements: list
    wave_details:
      description: Each wave with its action (C(apply_cuf), C(enable_policy), C(disable_policy)).
      type: list
      elements: dict
    steps:
      description: Per target HSM, the actions it needs and its HA groups.
      type: list
      elements: dict
    unchanged:
      description: Targets already in the wanted state.
      type: list
      elements: str
    groups:
      description: Per HA group, whether it is touched and uniform before and after.
      type: list
      elements: dict
  sample: {"safe": true, "state": "on", "refusals": [], "waves": [["154701"], ["154702"], ["154701", "154702"]]}
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - ansible-core depends on PyYAML
    HAS_YAML = False

from collections.abc import Mapping, Sequence

from ansible_collections.hsmops.luna.plugins.module_utils.sff_plan import sff_change_plan
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import FactError


class FleetFileError(ValueError):
    pass


def read_fleet_file(path):
    """A fleet file -> (hsms, ha_groups or None). YAML is a superset of JSON."""
    if not os.path.isfile(path):
        raise FleetFileError("fleet_file %s: no such file" % path)
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except (IOError, OSError, UnicodeDecodeError) as exc:
        raise FleetFileError("fleet_file %s: cannot read it: %s" % (path, to_native(exc)))
    try:
        if HAS_YAML:
            data = yaml.safe_load(text)
        else:  # pragma: no cover
            data = json.loads(text)
    except Exception as exc:  # the parser's own message names the line
        hint = "" if HAS_YAML else " (PyYAML is not installed on this host: only JSON can be read)"
        raise FleetFileError("fleet_file %s is not valid YAML or JSON%s: %s" % (path, hint, to_native(exc)))
    if isinstance(data, Mapping):
        if "hsms" not in data:
            raise FleetFileError("fleet_file %s: a mapping must hold the fleet under 'hsms' (and optionally "
                                 "'ha_groups'); found keys %s" % (path, ", ".join(sorted(str(k) for k in data))))
        return data["hsms"], data.get("ha_groups")
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return data, None
    raise FleetFileError("fleet_file %s: expected a list of HSM facts or a mapping with 'hsms', got %s"
                         % (path, type(data).__name__))


def refusal_summary(refusals):
    """One line per refusal, each naming the HSM and the code."""
    return " ".join("(%d) HSM %s %s: %s" % (i, r["serial"], r["code"], r["message"]) for i, r in enumerate(refusals, 1))


def check_change(params):
    """params -> the engine's plan (FleetFileError / FactError for bad input)."""
    ha_groups = params["ha_groups"]
    if params["fleet_file"] is not None:
        fleet, file_groups = read_fleet_file(params["fleet_file"])
        if ha_groups is None:
            ha_groups = file_groups
    else:
        fleet = params["fleet"]
    plan = sff_change_plan(
        fleet,
        params["targets"],
        ha_groups=ha_groups,
        state=params["state"],
        accept_key_loss=params["accept_key_loss"],
    )
    return plan


def main():
    module = AnsibleModule(
        argument_spec=dict(
            fleet=dict(type="raw"),
            fleet_file=dict(type="path"),
            ha_groups=dict(type="raw"),
            targets=dict(type="list", elements="str", required=True),
            state=dict(type="str", choices=["on", "off"], default="on"),
            accept_key_loss=dict(type="bool", default=False),
            fail_on_refusal=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("fleet", "fleet_file")],
        required_one_of=[("fleet", "fleet_file")],
        supports_check_mode=True,
    )
    try:
        plan = check_change(module.params)
    except FleetFileError as exc:
        module.fail_json(msg=to_native(exc))
    except FactError as exc:
        source = "fleet_file %s" % module.params["fleet_file"] if module.params["fleet_file"] else "fleet"
        module.fail_json(msg="Bad input in %s: %s" % (source, to_native(exc)), field=exc.field, serial=exc.serial)

    result = dict(changed=False, safe=plan["safe"], refusals=plan["refusals"], plan=plan)
    if not plan["safe"] and module.params["fail_on_refusal"]:
        module.fail_json(
            msg="SFF %s refused for %s: %d refusal(s): %s" % (
                plan["state"], ", ".join(module.params["targets"]), len(plan["refusals"]),
                refusal_summary(plan["refusals"])),
            **result
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
