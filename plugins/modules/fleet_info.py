#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fleet_info
short_description: Gather the facts of many Luna HSMs in one task
version_added: 0.1.0
description:
  - Reads many Luna appliances concurrently (a bounded pool of threads, one REST session per
    appliance) and returns the facts of each HSM in the collection's fact schema
    (C(docs/facts.md)) with the rules engine's SFF status, as M(hsmops.luna.hsm_info) does
    for one.
  - An appliance that cannot be read is listed in RV(unreachable_appliances) by name and URL;
    the facts of the others are still returned.
author:
  - hsmops engineers (@hsmops)
extends_documentation_fragment:
  - hsmops.luna.connection
  - hsmops.luna.connection.so_password
  - hsmops.luna.attributes
  - hsmops.luna.attributes.info_module
  - hsmops.luna.attributes.actiongroup_luna
options:
  url:
    description:
      - Not used by this module; give each appliance's O(appliances[].url).
    required: false
  password:
    description:
      - Default password for appliances that do not set O(appliances[].password).
    required: false
  so_password:
    description:
      - Not used by this read-only module. Accepted (and never logged) so that C(module_defaults)
        for C(group/hsmops.luna.luna) can carry it for the modules that change HSMs.
  appliances:
    description:
      - The appliances to read. Keys not given fall back to the module's connection options.
    type: list
    elements: dict
    required: true
    suboptions:
      url:
        description: Base URL of the appliance's REST API.
        type: str
        required: true
      name:
        description: Name used in results and messages (for example the inventory hostname). Defaults to O(appliances[].url).
        type: str
      username:
        description: Appliance user for this appliance.
        type: str
      password:
        description: Password of the appliance user. Never logged or returned.
        type: str
      ca_path:
        description: CA file for this appliance's certificate.
        type: path
      validate_certs:
        description: Verify this appliance's certificate.
        type: bool
      timeout:
        description: Seconds to wait for each HTTP answer from this appliance.
        type: int
  workers:
    description:
      - How many appliances are read at the same time.
    type: int
    default: 16
  gather_objects:
    description:
      - Also list the objects of every partition.
    type: bool
    default: true
  fail_on_unreachable:
    description:
      - Fail the task when any appliance cannot be read. The facts gathered are returned either way.
    type: bool
    default: false
seealso:
  - module: hsmops.luna.hsm_info
"""

EXAMPLES = r"""
- name: Facts of every HSM of the inventory in one task
  hsmops.luna.fleet_info:
    appliances: "{{ groups['luna'] | map('extract', hostvars) | map(attribute='luna_appliance') | list }}"
    password: "{{ vault_luna_monitor_password }}"
    username: monitor
    ca_path: /etc/pki/luna/ca.pem
    workers: 32
  run_once: true
  register: fleet

- name: Serials of the HSMs that could not be read
  ansible.builtin.debug:
    msg: "{{ fleet.unreachable_appliances | map(attribute='name') | list }}"
"""

RETURN = r"""
hsms:
  description:
    - Facts of every HSM read (schema of C(docs/facts.md), as RV(hsmops.luna.hsm_info#module:hsm)),
      each with C(name) and C(url), in the order of O(appliances).
  returned: always
  type: list
  elements: dict
unreachable_appliances:
  description:
    - The appliances that could not be read.
    - Not called C(unreachable), a key Ansible reserves to mark the controller's own host unreachable.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The appliance's name.
      type: str
    url:
      description: The appliance's URL.
      type: str
    msg:
      description: What failed and what to do.
      type: str
by_serial:
  description: The same facts keyed by HSM serial.
  returned: always
  type: dict
elapsed_ms:
  description: Wall-clock time of the gathering, in milliseconds.
  returned: always
  type: int
"""

import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hsmops.luna.plugins.module_utils.luna_client import (
    LunaError,
    client_from_params,
    luna_argument_spec,
)
from ansible_collections.hsmops.luna.plugins.module_utils.luna_facts import hsm_facts_with_status
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import FactError

APPLIANCE_SPEC = dict(
    url=dict(type="str", required=True),
    name=dict(type="str"),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    ca_path=dict(type="path"),
    validate_certs=dict(type="bool"),
    timeout=dict(type="int"),
)


def gather_one(params, appliance):
    """-> (facts, None) or (None, {name, url, msg}); never raises for appliance trouble."""
    name = appliance.get("name") or appliance["url"]
    overrides = dict((k, v) for k, v in appliance.items() if v is not None)
    overrides["name"] = name
    try:
        with client_from_params(params, **overrides) as client:
            facts = hsm_facts_with_status(client, gather_objects=params["gather_objects"])
    except (LunaError, FactError) as exc:
        return None, {"name": name, "url": appliance["url"], "msg": str(exc)}
    except Exception as exc:  # one appliance's surprise must not hide the others' facts
        return None, {"name": name, "url": appliance["url"], "msg": "unexpected error: %s" % exc}
    facts["name"] = name
    return facts, None


def gather_fleet(params):
    """Facts of every appliance, concurrently -> (hsms, unreachable, by_serial)."""
    appliances = params["appliances"]
    workers = max(1, min(params["workers"], len(appliances) or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(lambda appliance: gather_one(params, appliance), appliances))
    hsms, unreachable, by_serial = [], [], {}
    for facts, failure in outcomes:
        if failure is not None:
            unreachable.append(failure)
            continue
        serial = facts["serial"]
        if serial in by_serial:
            # Two entries reaching the same HSM is an inventory mistake worth saying out loud.
            unreachable.append({"name": facts["name"], "url": facts["url"],
                                "msg": "HSM %s was already read through %s (%s): the same HSM is listed twice; "
                                       "remove one entry" % (serial, by_serial[serial]["name"], by_serial[serial]["url"])})
            continue
        by_serial[serial] = facts
        hsms.append(facts)
    return hsms, unreachable, by_serial


def main():
    module = AnsibleModule(
        argument_spec=luna_argument_spec(
            so_password=True,
            defaults_only=True,
            appliances=dict(type="list", elements="dict", required=True, options=APPLIANCE_SPEC),
            workers=dict(type="int", default=16),
            gather_objects=dict(type="bool", default=True),
            fail_on_unreachable=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if module.params["workers"] < 1:
        module.fail_json(msg="workers must be 1 or more, got %d" % module.params["workers"])
    started = time.monotonic()
    hsms, unreachable, by_serial = gather_fleet(module.params)
    # Not "unreachable": Ansible reads that result key as "the task's host is unreachable".
    result = dict(changed=False, hsms=hsms, unreachable_appliances=unreachable, by_serial=by_serial,
                  elapsed_ms=int((time.monotonic() - started) * 1000))
    if unreachable and module.params["fail_on_unreachable"]:
        names = ", ".join(item["name"] for item in unreachable)
        module.fail_json(msg="%d of %d appliance(s) could not be read: %s. First: %s"
                         % (len(unreachable), len(module.params["appliances"]), names, unreachable[0]["msg"]),
                         **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
