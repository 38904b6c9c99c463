# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: sff_status
short_description: Whether an HSM can get SFF backup and whether it has it active
version_added: 0.1.0
author: hsmops engineers (@hsmops)
description:
  - Decides, from one HSM's facts, whether the SFF backup capability update (CUF) may be applied to it
    and whether SFF backup is active on it.
  - SFF capable means firmware 6.21.0 or newer, a cloning HSM and PED authentication.
    SFF active means firmware 6.21.0 or newer, the CUF applied and HSM policy 38 on; if any of the three
    is missing the feature cannot work.
  - The decision is made by the collection's rules engine; see C(docs/rules.md).
options:
  _input:
    description:
      - The facts of one HSM, as returned by M(hsmops.luna.hsm_info) or written in a fleet file
        (see C(docs/facts.md)).
    type: dict
    required: true
seealso:
  - plugin: hsmops.luna.sff_capable
    plugin_type: test
  - plugin: hsmops.luna.sff_active
    plugin_type: test
"""

EXAMPLES = r"""
- name: Show why an HSM cannot get SFF backup
  ansible.builtin.debug:
    msg: "{{ (hsm | hsmops.luna.sff_status).reasons }}"
  vars:
    hsm:
      serial: "150001"
      firmware: "6.2.1"
      auth: ped
      cloning: true
      sff_capability: false
      sff_policy: false
      cloning_domain: dom_legacy
  # -> ['FIRMWARE_TOO_OLD', 'CUF_NOT_APPLIED', 'SFF_POLICY_OFF']

- name: Fail when an HSM cannot take the capability update
  ansible.builtin.assert:
    that: (hsm_facts | hsmops.luna.sff_status).sff_capable
    fail_msg: "{{ (hsm_facts | hsmops.luna.sff_status).findings | map(attribute='message') | join(' ') }}"
"""

RETURN = r"""
_value:
  description: The SFF status of the HSM.
  type: dict
  contains:
    serial:
      description: The HSM serial.
      type: str
    sff_capable:
      description: The CUF may be (or has been) applied to this HSM.
      type: bool
    sff_active:
      description: Firmware, CUF and HSM policy 38 are all in place.
      type: bool
    reasons:
      description:
        - Codes of every finding, for example C(FIRMWARE_TOO_OLD), C(NOT_CLONING_HSM), C(NOT_PED_AUTHENTICATED),
          C(CUF_NOT_APPLIED), C(SFF_POLICY_OFF). Empty when SFF is active.
      type: list
      elements: str
    findings:
      description: Every finding with its C(code), C(serial) and a C(message) saying what to do.
      type: list
      elements: dict
"""

from ansible_collections.hsmops.luna.plugins.plugin_utils.sff_jinja import engine_call, plain

PLUGIN = "hsmops.luna.sff_status"


def sff_status_filter(hsm):
    """HSM facts -> {serial, sff_capable, sff_active, reasons, findings}."""
    # Imported here, not at the top: see plugin_utils/sff_jinja.py (every worker loads every filter file).
    from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import sff_status
    return plain(engine_call(PLUGIN, sff_status, hsm))


class FilterModule(object):
    def filters(self):
        return {"sff_status": sff_status_filter}
