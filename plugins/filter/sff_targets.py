# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: sff_targets
short_description: Select the HSMs of a fleet that can still get SFF backup
version_added: 0.1.0
author: hsmops engineers (@hsmops)
description:
  - Selects candidate HSMs from fleet facts with a JMESPath expression, then keeps only those the
    rules engine calls SFF capable and that do not have SFF backup active yet.
  - With O(ha_groups), a selection that reaches into an HA group is widened to the whole group first,
    so P(hsmops.luna.sff_change_plan#filter) sees every member (and refuses if one of them cannot follow).
  - Returns serials, in fleet order, ready for the O(hsmops.luna.sff_change_plan#filter:targets) option.
requirements:
  - jmespath (Python library, on the controller)
options:
  _input:
    description: The facts of every HSM of the fleet (see C(docs/facts.md)).
    type: list
    elements: dict
    required: true
  query:
    description:
      - A JMESPath expression evaluated over the list of HSM facts. It may return HSM facts
        (for example V([?cloning_domain=='dom_east'])) or serials (for example V([?model=='Luna K6'].serial)).
      - When omitted, every HSM is a candidate.
    type: str
  ha_groups:
    description: The HA groups, each C({name, members}); candidates are widened to their whole groups.
    type: list
    elements: dict
seealso:
  - plugin: hsmops.luna.sff_change_plan
    plugin_type: filter
"""

EXAMPLES = r"""
- name: The HSMs of dom_east that can still get SFF
  ansible.builtin.debug:
    msg: "{{ fleet_facts | hsmops.luna.sff_targets(query=\"[?cloning_domain=='dom_east']\") }}"
  # -> ['154701', '154702']

- name: Plan SFF for every capable HSM, whole HA groups at a time
  ansible.builtin.set_fact:
    sff_plan: >-
      {{ fleet_facts | hsmops.luna.sff_change_plan(
           targets=fleet_facts | hsmops.luna.sff_targets(ha_groups=ha_groups), ha_groups=ha_groups) }}
"""

RETURN = r"""
_value:
  description: Serials of the selected HSMs that are SFF capable and not SFF active, in fleet order.
  type: list
  elements: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hsmops.luna.plugins.plugin_utils.sff_jinja import engine_call, plain

PLUGIN = "hsmops.luna.sff_targets"


def _jmespath():
    """The jmespath library, imported when a query needs it (see plugin_utils/sff_jinja.py); None when missing."""
    try:
        import jmespath
    except ImportError:
        return None
    return jmespath


def _select(fleet, query):
    jmespath = _jmespath()
    if jmespath is None:
        raise AnsibleFilterError(
            "%s: the query option needs the Python library jmespath on the controller: "
            "install it (pip install jmespath) in the Python that runs ansible-playbook" % PLUGIN)
    if not isinstance(query, str) or not query.strip():
        raise AnsibleFilterError("%s: option 'query': expected a JMESPath expression string, got %r" % (PLUGIN, query))
    try:
        found = jmespath.search(str(query), plain(fleet))
    except jmespath.exceptions.JMESPathError as exc:
        raise AnsibleFilterError("%s: option 'query': invalid JMESPath expression %r: %s" % (PLUGIN, str(query), to_native(exc)))
    if found is None:
        return []
    if isinstance(found, (Mapping, str, int)):
        found = [found]
    if not isinstance(found, list):
        raise AnsibleFilterError(
            "%s: option 'query': %r must select HSM facts or serials, it returned %s" % (PLUGIN, str(query), type(found).__name__))
    candidates = []
    for item in found:
        serial = item.get("serial") if isinstance(item, Mapping) else item
        if isinstance(serial, bool) or not isinstance(serial, (str, int)):
            raise AnsibleFilterError(
                "%s: option 'query': %r must select HSM facts or serials, it returned %r" % (PLUGIN, str(query), item))
        candidates.append(str(serial))
    return candidates


def sff_targets_filter(fleet, query=None, ha_groups=None):
    """Fleet facts -> serials selected by query (JMESPath) that are SFF capable and not yet active."""
    # Imported here, not at the top: see plugin_utils/sff_jinja.py (every worker loads every filter file).
    from ansible_collections.hsmops.luna.plugins.module_utils.sff_plan import rollout_targets
    from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import validate_fleet
    if isinstance(fleet, Mapping):
        fleet = engine_call(PLUGIN, lambda f: list(validate_fleet(f).values()), fleet)
    candidates = None if query is None else _select(fleet, query)
    return plain(engine_call(PLUGIN, rollout_targets, fleet, candidates, ha_groups=ha_groups))


class FilterModule(object):
    def filters(self):
        return {"sff_targets": sff_targets_filter}
