"""The real Heat engine, offline: only the cloud's look-ups are faked.

Templates, environments and every ``get_file`` are read the way the
``openstack`` client reads them (heatclient's template_utils), then handed
to ``heat.engine.stack.Stack`` and validated by Heat's own code: parameter
types and constraints, properties of every resource, nested templates.
What would need a cloud (does this image, flavor, network exist? is the
service in the catalog?) is answered by ``FakeCloud``.
"""

import contextlib
import os
import types
import uuid

import fixtures
from heat.common import context
from heat.common import exception
from heat.common import messaging
from heat.engine.clients import client_exception
from heat.engine.clients import client_plugin
from heat.engine.clients.os import glance
from heat.engine.clients.os import neutron
from heat.engine.clients.os import nova
from heat.engine import environment
from heat.engine import node_data
from heat.engine import resources
from heat.engine import stack as heat_stack
from heat.engine import stk_defn
from heat.engine import template
from heatclient.common import template_utils
from novaclient import exceptions as nova_exc
from oslo_config import cfg
from oslo_serialization import jsonutils
import testtools

TEMPLATES = os.path.join(os.path.dirname(__file__), '..', '..',
                         'heat-templates')

_ready = False


def start_engine():
    """Heat's configuration, resource plugins and a fake message bus."""
    global _ready
    if not _ready:
        cfg.CONF([], project='heat')
        messaging.setup('fake://', optional=True)
        resources.initialise()
        _ready = True


def template_path(name):
    return os.path.realpath(os.path.join(TEMPLATES, name))


class FakeCloud(fixtures.Fixture):
    """Glance, Nova and Neutron that know a few names, and nothing else."""

    KNOWN = {'image': ['ubuntu-mesos'], 'flavor': ['m1.small'],
             'keypair': ['testkey'], 'network': ['public', 'private'],
             'subnet': ['private-subnet'], 'router': ['router1'],
             'port': []}

    def __init__(self):
        self.known = {kind: set(names) for kind, names in self.KNOWN.items()}

    def add(self, kind, *names):
        self.known[kind].update(names)

    def _setUp(self):
        known = self.known

        def find_image(plugin, name):
            if name not in known['image']:
                raise client_exception.EntityMatchNotFound(
                    entity='image', args={'name': name})
            return name

        def get_image(plugin, name):
            return types.SimpleNamespace(id=find_image(plugin, name),
                                         name=name, status='active',
                                         min_ram=0, min_disk=0, size=2 << 30)

        def find_flavor(plugin, name):
            if name not in known['flavor']:
                raise nova_exc.NotFound(404, 'flavor %s' % name)
            return name

        def get_flavor(plugin, name):
            return types.SimpleNamespace(id=find_flavor(plugin, name),
                                         name=name, ram=2048, disk=20,
                                         vcpus=1)

        def get_keypair(plugin, name):
            if name not in known['keypair']:
                raise exception.EntityNotFound(entity='Key', name=name)
            return name

        def find_neutron(plugin, kind, name, cmd_resource=None):
            if name not in known.get(kind, ()):
                raise exception.EntityNotFound(entity=kind, name=name)
            return name

        patches = [
            (client_plugin.ClientPlugin, 'does_endpoint_exist',
             lambda plugin, service_type, service_name: True),
            (neutron.NeutronClientPlugin, 'has_extension',
             lambda plugin, alias: True),
            (neutron.NeutronClientPlugin, 'find_resourceid_by_name_or_id',
             find_neutron),
            (glance.GlanceClientPlugin, 'find_image_by_name_or_id',
             find_image),
            (glance.GlanceClientPlugin, 'get_image', get_image),
            (nova.NovaClientPlugin, 'find_flavor_by_name_or_id',
             find_flavor),
            (nova.NovaClientPlugin, 'get_flavor', get_flavor),
            (nova.NovaClientPlugin, 'get_keypair', get_keypair),
        ]
        for owner, name, fake in patches:
            self.useFixture(fixtures.MonkeyPatch(
                '%s.%s.%s' % (owner.__module__, owner.__name__, name), fake))


def request_context():
    return context.RequestContext(user_id='bay-tests', project_id='bay-tests',
                                  auth_token='offline', is_admin=False)


def load_stack(name='cluster.yaml', environments=(), parameters=None,
               stack_name='bay', edit=None):
    """A Stack built as ``openstack stack create -t NAME -e ...`` would.

    ``edit(template, files)`` may change the loaded template and files
    before they go to the engine (to show that a broken one is refused).
    """
    start_engine()
    files, tmpl = template_utils.get_template_contents(
        template_file=template_path(name))
    if edit:
        edit(tmpl, files)
    env_files, env = template_utils.process_multiple_environments_and_files(
        env_paths=[template_path(e) for e in environments])
    files.update(env_files)
    env.setdefault('parameters', {}).update(parameters or {})
    # What the engine gets is what the client sent over the wire, as JSON.
    tmpl, files, env = jsonutils.loads(jsonutils.dumps([tmpl, files, env]))
    return heat_stack.Stack(
        request_context(), stack_name,
        template.Template(tmpl, files=files,
                          env=environment.Environment(env)))


def file_url(name):
    return 'file://' + template_path(name)


def pretend_created(stack, name, reference_id, attributes=None):
    """Give ``stack`` the data of resource ``name`` as if the cloud made it.

    Heat's functions (get_resource, get_attr) then resolve against it, as
    they do during a real create.
    """
    stk_defn.update_resource_data(stack.defn, name, node_data.NodeData(
        None, name, None, reference_id, attributes or {},
        'CREATE', 'COMPLETE'))


def member_properties(stack, group, index):
    """Properties member ``index`` of ResourceGroup ``group`` is given."""
    res = stack[group]
    defn = res.build_resource_definition(str(index), res.get_resource_def())
    return defn.render_hot()['properties']


def render_cloud_config(stack, name):
    """The text OS::Heat::CloudConfig ``name`` hands to cloud-init."""
    captured = {}

    class SoftwareConfigStore(object):
        def create_software_config(self, context, **props):
            captured.update(props)
            return {'id': 'config-' + name}

    res = stack[name]
    res.rpc_client = SoftwareConfigStore
    res.handle_create()
    return captured['config']


class HeatTestCase(testtools.TestCase):
    """A test with the real engine and a fresh fake cloud."""

    def setUp(self):
        super().setUp()
        start_engine()
        self.cloud = self.useFixture(FakeCloud())

    def assertRefused(self, stack, *words):
        """Heat refuses ``stack`` with an error naming every word."""
        error = self.assertRaises(exception.HeatException, stack.validate)
        for word in words:
            self.assertIn(word, str(error))
        return error


class ConfigStore(object):
    """Heat's software-config store (an RPC to the engine), in memory.

    CloudConfig, SoftwareConfig and MultipartMime keep what they render
    here, and a MultipartMime or a server reads its parts back by id, as
    they do through the engine's database.
    """

    def __init__(self):
        self.configs = {}

    def __call__(self):
        return self

    def create_software_config(self, context, **props):
        ident = str(uuid.uuid4())   # heat-config skips an id it deployed
        self.configs[ident] = dict(props, id=ident)
        return {'id': ident}

    def show_software_config(self, context, ident):
        # as the engine's database gives it back: empty lists, not None
        config = dict(self.configs[ident])
        for key, empty in (('inputs', []), ('outputs', []), ('options', {})):
            config[key] = config.get(key) or empty
        return config

    @contextlib.contextmanager
    def ignore_error_by_name(self, name):
        yield


def render_user_data(stack, server='server', metadata=None):
    """The user_data Nova would get for ``server``, rendered by Heat.

    Every software config the server's user_data is made of is created in
    dependency order by its own ``handle_create``; the server's user_data
    format then goes through Heat's ``build_userdata`` (for
    SOFTWARE_CONFIG: Heat's own cloud-config, boothook and part handler,
    each part of the MultipartMime, and ``metadata`` as cfn-init-data).
    """
    store = ConfigStore()
    ids = {}

    def create(name):
        res = stack[name]
        res.rpc_client = store
        res.handle_create()
        ids[name] = res.resource_id
        pretend_created(stack, name, res.resource_id)

    server_res = stack[server]
    order = [r.name for r in stack.dependencies
             if r.name != server and r.name in _config_names(stack)]
    for name in order:
        create(name)
    user_data = server_res.properties['user_data']
    content = store.show_software_config(None, user_data)['config']
    fmt = server_res.properties['user_data_format']
    plugin = server_res.client_plugin()
    return plugin.build_userdata(metadata or {}, content, None, fmt)


def _config_names(stack):
    kinds = ('OS::Heat::CloudConfig', 'OS::Heat::SoftwareConfig',
             'OS::Heat::MultipartMime')
    return {name for name, res in stack.items() if res.type() in kinds}


def render_deployment(stack, name, action, signal_url):
    """What Heat puts in a server's metadata for deployment ``name``.

    The deployment's config is created by its own resource, then the
    deployment derives the config it sends (inputs with their values and
    Heat's deploy_* inputs) with Heat's code. ``signal_url`` stands in for
    the pre-signed heat-api-cfn URL Keystone credentials would make: the
    test's own receiver.
    """
    store = ConfigStore()
    deployment = stack[name]
    for res_name in _config_names(stack):
        res = stack[res_name]
        res.rpc_client = store
        res.handle_create()
        pretend_created(stack, res_name, res.resource_id)
    deployment.rpc_client = store
    deployment._get_ec2_signed_url = lambda *args, **kwargs: signal_url
    source = deployment._load_config()
    derived = deployment._build_derived_config_params(action, source)
    derived['id'] = store.create_software_config(None, **derived)['id']
    return derived
