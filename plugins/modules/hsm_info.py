#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: hsm_info
short_description: Gather the facts of one Luna HSM
version_added: 0.1.0
description:
  - Reads the HSM of one Luna appliance over its REST API and returns its facts in the
    collection's fact schema (C(docs/facts.md)), with the rules engine's SFF status.
  - The facts feed every decision of the collection (filters, C(hsmops.luna.sff_check),
    the rollout role).
author:
  - hsmops engineers (@hsmops)
extends_documentation_fragment:
  - hsmops.luna.connection
  - hsmops.luna.connection.so_password
  - hsmops.luna.attributes
  - hsmops.luna.attributes.info_module
  - hsmops.luna.attributes.actiongroup_luna
options:
  so_password:
    description:
      - Not used by this read-only module. Accepted (and never logged) so that C(module_defaults)
        for C(group/hsmops.luna.luna) can carry it for the modules that change HSMs.
  gather_objects:
    description:
      - Also list the objects of every partition (label, class, fingerprint, extractable,
        off-board). Without them only the object counts are returned.
    type: bool
    default: true
seealso:
  - module: hsmops.luna.fleet_info
"""

EXAMPLES = r"""
- name: Facts of one HSM
  hsmops.luna.hsm_info:
    url: https://hsm1.example.com:8443
    username: monitor
    password: "{{ vault_luna_monitor_password }}"
    ca_path: /etc/pki/luna/ca.pem
  register: hsm1

- name: Show whether SFF backup is active
  ansible.builtin.debug:
    msg: "{{ hsm1.hsm.serial }} SFF active: {{ hsm1.hsm.sff_status.sff_active }}"
"""

RETURN = r"""
hsm:
  description:
    - The HSM's facts in the schema of C(docs/facts.md), plus C(url), C(capabilities) and
      C(sff_status).
  returned: success
  type: dict
  contains:
    serial:
      description: HSM serial number.
      type: str
      sample: "154701"
    label:
      description: HSM label.
      type: str
    model:
      description: HSM model.
      type: str
    firmware:
      description: Firmware version C(MAJOR.MINOR.PATCH).
      type: str
      sample: "6.22.0"
    auth:
      description: V(ped) or V(password).
      type: str
    cloning:
      description: Cloning HSM (capability 7).
      type: bool
    sff_capability:
      description: The SFF backup capability update (CUF) is applied (capability 38).
      type: bool
    sff_policy:
      description: HSM policy 38 (SFF backup) is on.
      type: bool
    cloning_domain:
      description: Opaque identifier of the cloning domain (never the secret).
      type: str
    sim_secret:
      description: Opaque identifier of the masking secret, or null.
      type: str
    policies:
      description: HSM policies by name, V(true) when on.
      type: dict
    capabilities:
      description: HSM capabilities by name, V(true) when the HSM has it.
      type: dict
    partitions:
      description: Partitions with C(serial), C(label), C(policies), C(objects), C(object_count).
      type: list
      elements: dict
    url:
      description: Base URL of the appliance.
      type: str
    sff_status:
      description:
        - The rules engine's verdict on these facts, C(serial), C(sff_capable), C(sff_active),
          C(reasons) (codes) and C(findings) (C(code), C(serial), C(message)).
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hsmops.luna.plugins.module_utils.luna_client import (
    LunaError,
    client_from_params,
    error_result,
    luna_argument_spec,
)
from ansible_collections.hsmops.luna.plugins.module_utils.luna_facts import hsm_facts_with_status
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import FactError


def main():
    module = AnsibleModule(
        argument_spec=luna_argument_spec(so_password=True, gather_objects=dict(type="bool", default=True)),
        supports_check_mode=True,
    )
    try:
        with client_from_params(module.params) as client:
            facts = hsm_facts_with_status(client, gather_objects=module.params["gather_objects"])
    except (LunaError, FactError) as exc:
        module.fail_json(**error_result(exc))
    module.exit_json(changed=False, hsm=facts)


if __name__ == "__main__":
    main()
