"""A Heat software deployment (heat-config JSON) carrying a policy."""

import json

from magnum_iovisor.bootstrap import BootstrapError
from magnum_iovisor import policy as policy_model

POLICY_INPUT = 'iovisor_policy'


def policy_from_deployment(document):
    """The policy in a heat-config deployment (its ``iovisor_policy`` input).

    ``document`` is one deployment (``{"inputs": [...], ...}``) or a list
    of them (the last one carrying the input wins). The input's value is a
    policy document: a JSON object, or text in any format.
    """
    deployments = document if isinstance(document, list) else [document]
    value = None
    for deployment in deployments:
        if not isinstance(deployment, dict):
            raise BootstrapError('heat-config: expected a deployment object, '
                                 'not %s' % type(deployment).__name__)
        inputs = deployment.get('inputs') or []
        if not isinstance(inputs, list):
            raise BootstrapError('heat-config: "inputs" must be a list')
        for item in inputs:
            if isinstance(item, dict) and item.get('name') == POLICY_INPUT:
                value = item.get('value')
    if value is None:
        raise BootstrapError('heat-config: no input named %s' % POLICY_INPUT)
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    if not isinstance(value, str):
        raise BootstrapError('heat-config: input %s must be a policy '
                             'document, not %s'
                             % (POLICY_INPUT, type(value).__name__))
    try:
        return policy_model.parse(value)
    except policy_model.PolicyError as exc:
        raise policy_model.PolicyError('heat-config input %s: %s'
                                       % (POLICY_INPUT, exc))
