"""The daemon's [registry] drop-in, from IOVISOR_REGISTRY."""

import os
import urllib.parse

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


def registry_config(params):
    """The daemon's config drop-in carrying the Heat parameters it needs.

    ``zookeeper://HOST:PORT[,HOST:PORT]/PATH`` becomes [registry] backend,
    hosts and root, IOVISOR_REGISTRY_CREDENTIALS its credentials_file;
    ``local`` the local backend.
    """
    header = '# Written by iovisor-bootstrap from the Heat parameters.\n'
    if params.registry == 'local':
        return header + '[registry]\nbackend = local\n'
    location = urllib.parse.urlsplit(params.registry)
    root = location.path.rstrip('/') or '/'
    text = header + ('[registry]\nbackend = zookeeper\nhosts = %s\n'
                     'root = %s\n' % (location.netloc, root))
    if params.registry_credentials:
        text += 'credentials_file = %s\n' % params.registry_credentials
    return text


def write_registry_config(params, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.tmp', 'w') as out:
        out.write(registry_config(params))
    os.replace(path + '.tmp', path)
    LOG.info('registry %s written to %s', params.registry, path)
