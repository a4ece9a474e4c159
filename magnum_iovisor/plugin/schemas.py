"""JSON schemas of the libnetwork remote driver requests Docker sends.

Docker 20.10 sends the shapes below (see ENVIRONMENT.md); anything else is
refused with a message naming the field, before the driver sees it.
"""

import jsonschema

IDENTIFIER = {'type': 'string', 'pattern': '^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$'}
OPTIONS = {'type': ['object', 'null']}
EXPOSED_PORTS = 'com.docker.network.endpoint.exposedports'
GENERIC = 'com.docker.network.generic'
MESSAGE_MAX = 300


def _request(properties, required):
    return {'type': 'object', 'properties': properties,
            'required': list(required)}


_NETWORK = {'NetworkID': IDENTIFIER}
_ENDPOINT = {'NetworkID': IDENTIFIER, 'EndpointID': IDENTIFIER}
_IPAM_DATA = {
    'type': 'object',
    'properties': {'AddressSpace': {'type': 'string'},
                   'Pool': {'type': 'string'},
                   'Gateway': {'type': 'string'},
                   'AuxAddresses': {'type': ['object', 'null']}},
    'required': ['Pool'],
}
_ENDPOINT_OPTIONS = {
    'type': ['object', 'null'],
    'properties': {
        EXPOSED_PORTS: {
            'type': ['array', 'null'],
            'items': {'type': 'object',
                      'properties': {'Proto': {'type': 'integer'},
                                     'Port': {'type': 'integer',
                                              'minimum': 0,
                                              'maximum': 65535}},
                      'required': ['Proto', 'Port']}},
        'iovisor.group': {'type': 'string'},
    },
}
_DISCOVERY = _request({'DiscoveryType': {'type': 'integer'}},
                      ['DiscoveryType'])

SCHEMAS = {
    'Plugin.Activate': {},
    'NetworkDriver.GetCapabilities': {},
    'NetworkDriver.CreateNetwork': _request(dict(
        _NETWORK,
        Options={'type': ['object', 'null'],
                 'properties': {GENERIC: {
                     'type': ['object', 'null'],
                     'additionalProperties': {'type': 'string'}}}},
        IPv4Data={'type': ['array', 'null'], 'items': _IPAM_DATA},
        IPv6Data={'type': ['array', 'null'], 'items': _IPAM_DATA}),
        ['NetworkID', 'IPv4Data']),
    'NetworkDriver.DeleteNetwork': _request(_NETWORK, _NETWORK),
    'NetworkDriver.CreateEndpoint': _request(dict(
        _ENDPOINT,
        Interface={'type': ['object', 'null'],
                   'properties': {'Address': {'type': 'string'},
                                  'AddressIPv6': {'type': 'string'},
                                  'MacAddress': {'type': 'string'}}},
        Options=_ENDPOINT_OPTIONS), _ENDPOINT),
    'NetworkDriver.DeleteEndpoint': _request(_ENDPOINT, _ENDPOINT),
    'NetworkDriver.EndpointOperInfo': _request(_ENDPOINT, _ENDPOINT),
    'NetworkDriver.Join': _request(dict(
        _ENDPOINT, SandboxKey={'type': 'string', 'minLength': 1},
        Options=OPTIONS), list(_ENDPOINT) + ['SandboxKey']),
    'NetworkDriver.Leave': _request(_ENDPOINT, _ENDPOINT),
    'NetworkDriver.DiscoverNew': _DISCOVERY,
    'NetworkDriver.DiscoverDelete': _DISCOVERY,
    'NetworkDriver.ProgramExternalConnectivity': _request(dict(
        _ENDPOINT, Options=OPTIONS), _ENDPOINT),
    'NetworkDriver.RevokeExternalConnectivity': _request(_ENDPOINT,
                                                         _ENDPOINT),
}

_VALIDATORS = {name: jsonschema.Draft7Validator(schema)
               for name, schema in SCHEMAS.items()}


class RequestError(ValueError):
    """A request that does not have the shape Docker sends."""


def validate(method, body):
    """Raise RequestError naming the first problem in ``body``."""
    error = jsonschema.exceptions.best_match(
        _VALIDATORS[method].iter_errors(body))
    if error is None:
        return body
    where = '/'.join(str(p) for p in error.absolute_path) or 'request body'
    message = error.message
    if len(message) > MESSAGE_MAX:
        message = message[:MESSAGE_MAX] + '...'
    raise RequestError('%s: %s: %s' % (method, where, message))
