"""The cloud outside Magnum as client objects: Keystone, Glance, Nova, Neutron.

Patched into magnum.common.clients.OpenStackClients by services.py.
Keystone is replaced twice: these client objects (trustee domain, session
endpoints) and ``NoAuth`` below, which stands where keystonemiddleware would.
"""

import json
import types
import uuid

IMAGE = {'id': '5b8c5a6e-0000-4000-8000-000000000001', 'name': 'ubuntu-mesos',
         'os_distro': 'ubuntu'}
FLAVORS = [types.SimpleNamespace(id='2', name='m1.small')]
NETWORKS = {'networks': [{'id': 'public-id', 'name': 'public'}]}


class Images(object):
    def get(self, image_id):
        return IMAGE

    def list(self, filters=None):
        name = (filters or {}).get('name')
        return [IMAGE] if name in (None, IMAGE['name']) else []


class Keystone(object):
    """Magnum's keystone client: endpoints, the bay's trustee and trust.

    Nothing listens at the identity URL: Magnum only writes it into the
    stack parameters (auth_url) for the nodes. The trustees and trusts that
    exist are written to ``record`` (JSON) for the tests to read.
    """

    trustee_domain_id = 'trustee-domain'
    auth_url = 'http://127.0.0.1:1/identity/v3'
    auth_token = 'token'
    record = None
    trustees = {}
    trusts = {}

    def __init__(self, heat_url):
        endpoints = {'orchestration': heat_url, 'identity': self.auth_url}
        self.session = types.SimpleNamespace(
            get_endpoint=lambda service_type=None, **kw:
            endpoints[service_type])

    def _save(self):
        with open(self.record, 'w') as record:
            json.dump({'trustees': self.trustees, 'trusts': self.trusts},
                      record)

    def create_trustee(self, username, password):
        trustee = types.SimpleNamespace(id=uuid.uuid4().hex, name=username)
        self.trustees[trustee.id] = username
        self._save()
        return trustee

    def create_trust(self, trustee_user):
        trust = types.SimpleNamespace(id=uuid.uuid4().hex)
        self.trusts[trust.id] = trustee_user
        self._save()
        return trust

    def delete_trust(self, context, cluster):
        self.trusts.pop(cluster.trust_id, None)
        self._save()

    def delete_trustee(self, trustee_id):
        self.trustees.pop(trustee_id, None)
        self._save()


def keypair(name):
    return types.SimpleNamespace(name=name,
                                 public_key='ssh-ed25519 AAAAC3Nz test\n')


class Clients(object):
    """OpenStackClients for the services, keeping Magnum's own heat()."""

    heat_url = None

    def install(self, osc_class, heat_url, keystone_record):
        Clients.heat_url = heat_url
        Keystone.record = keystone_record
        osc_class.keystone = lambda osc: Keystone(Clients.heat_url)
        osc_class.glance = lambda osc: types.SimpleNamespace(images=Images())
        osc_class.nova = lambda osc: types.SimpleNamespace(
            flavors=types.SimpleNamespace(list=lambda: FLAVORS),
            keypairs=types.SimpleNamespace(get=keypair))
        osc_class.neutron = lambda osc: types.SimpleNamespace(
            list_networks=lambda **filters: NETWORKS)


class NoAuth(object):
    """Give every request the identity headers keystonemiddleware would."""

    HEADERS = {'HTTP_X_USER_ID': 'user', 'HTTP_X_USER_NAME': 'demo',
               'HTTP_X_PROJECT_ID': 'project', 'HTTP_X_PROJECT_NAME': 'demo',
               'HTTP_X_ROLES': 'member', 'HTTP_X_AUTH_TOKEN': 'token'}

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        environ.update(self.HEADERS)
        return self.app(environ, start_response)
