"""The Docker driver's logic: a fake dataplane and interfaces, a real agent.

The agent runs on the ``local`` registry, whose endpoints are what this
host announces.
"""

import asyncio
import json
import os

from aiohttp import test_utils
import fixtures
import testtools

from magnum_iovisor.dataplane import tcx
from magnum_iovisor.plugin import driver
from magnum_iovisor.plugin import routes
from magnum_iovisor.plugin import schemas
from magnum_iovisor.plugin import state
from magnum_iovisor.registry import agent
from magnum_iovisor.registry import local
from tests.unit import fake_dataplane

NET = 'n' * 64
EXPOSED = schemas.EXPOSED_PORTS


class FakeVeth:
    kind = 'veth'
    sandbox_side = False
    needs_parent = False

    def __init__(self):
        self.plugged_links = set()

    def names(self, endpoint_id):
        return 'iv' + endpoint_id[:11], 'ic' + endpoint_id[:11]

    def plug(self, network, endpoint):
        self.plugged_links.add(endpoint.host_ifname)

    def plugged(self, endpoint):
        return endpoint.host_ifname in self.plugged_links

    def restore(self, network, endpoint):
        pass

    def unplug(self, endpoint):
        self.plugged_links.discard(endpoint.host_ifname)

    def join_info(self, network):
        return {'Gateway': network.gateway}


class FakeMacvlan(FakeVeth):
    kind = 'macvlan'
    sandbox_side = True
    needs_parent = True

    def names(self, endpoint_id):
        name = 'im' + endpoint_id[:11]
        return name, name


def create_network(options=None):
    return {'NetworkID': NET,
            'Options': {schemas.GENERIC: options or {}},
            'IPv4Data': [{'AddressSpace': 'LocalDefault',
                          'Pool': '10.77.0.0/24',
                          'Gateway': '10.77.0.1/24'}],
            'IPv6Data': []}


def create_endpoint(ident, address='10.77.0.50/24', **options):
    return {'NetworkID': NET, 'EndpointID': ident,
            'Interface': {'Address': address, 'AddressIPv6': '',
                          'MacAddress': ''},
            'Options': options}


def new_agent(dataplane=None):
    return agent.Agent(dataplane or fake_dataplane.FakeDataplane(),
                       local.LocalRegistry('host-a'))


def announced(host_agent):
    """{address: group} of what the agent's registry holds."""
    return {e.address: e.group for e in host_agent.registry.endpoints()}


class DriverTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.state_dir = self.useFixture(fixtures.TempDir()).path
        self.dataplane = fake_dataplane.FakeDataplane()
        self.agent = new_agent(self.dataplane)
        self.veth = FakeVeth()
        self.sandboxes = {'/run/netns/x', '/run/netns/y'}  # still running
        self.driver = self.new_driver()
        self.driver.create_network(create_network({'iovisor.group': '7'}))

    def new_driver(self):
        """The driver as a restarted daemon has it: a new agent, same map."""
        self.agent = new_agent(self.dataplane)
        return driver.Driver(self.agent, state.Store(self.state_dir),
                             kinds={'veth': self.veth},
                             sandbox_in_use=self.sandboxes.__contains__)

    def assertTagged(self, expected):
        """This host's map and its announcements both hold ``expected``."""
        self.assertEqual((expected, expected),
                         (self.dataplane.tags(), announced(self.agent)))

    def join(self, ident, **options):
        self.driver.create_endpoint(create_endpoint(ident, **options))
        return self.driver.join({'NetworkID': NET, 'EndpointID': ident,
                                 'SandboxKey': '/run/netns/x'})

    def test_group_order(self):
        self.join('e1')
        self.join('e2', address='10.77.0.51/24',
                  **{EXPOSED: [{'Proto': 6, 'Port': 80},
                               {'Proto': 0, 'Port': 100}]})
        self.join('e3', address='10.77.0.52/24', **{
            'iovisor.group': '200', EXPOSED: [{'Proto': 0, 'Port': 200}]})
        self.assertTagged({'10.77.0.50': 7, '10.77.0.51': 100,
                           '10.77.0.52': 200})

    def test_conflicting_groups(self):
        error = self.assertRaises(
            driver.DriverError, self.driver.create_endpoint,
            create_endpoint('e1', **{'iovisor.group': '1',
                                     EXPOSED: [{'Proto': 0, 'Port': 2}]}))
        self.assertIn('iovisor.group=1, --expose 2/0', str(error))
        self.assertEqual([], os.listdir(os.path.join(self.state_dir,
                                                     'endpoints')))

    def test_bad_group_and_unknown_option(self):
        for options, message in (({'iovisor.group': '-1'}, 'not a number'),
                                 ({'iovisor.group': '65536'}, 'out of range'),
                                 ({'iovisor.grp': '1'}, 'iovisor.grp')):
            error = self.assertRaises(driver.DriverError,
                                      self.driver.create_endpoint,
                                      create_endpoint('e1', **options))
            self.assertIn(message, str(error))

    def test_address_outside_subnet(self):
        error = self.assertRaises(
            driver.DriverError, self.driver.create_endpoint,
            create_endpoint('e1', address='10.78.0.5/24'))
        self.assertIn('outside the network subnet', str(error))

    def test_join_answer(self):
        self.assertEqual({'InterfaceName': {'SrcName': 'ice1',
                                            'DstPrefix': 'eth'},
                          'Gateway': '10.77.0.1'}, self.join('e1'))

    def test_restart_restores_and_cleans_up(self):
        self.join('e1')
        self.join('e2', address='10.77.0.51/24')
        self.veth.unplug(self.driver.endpoints['e2'])  # container died
        restarted = self.new_driver()
        restarted.reconcile()
        self.assertTagged({'10.77.0.50': 7})
        for ident in ('e1', 'e2'):
            restarted.leave({'NetworkID': NET, 'EndpointID': ident})
            restarted.delete_endpoint({'NetworkID': NET,
                                       'EndpointID': ident})
        self.assertTagged({})
        self.assertEqual(set(), self.veth.plugged_links)
        self.assertEqual([], os.listdir(os.path.join(self.state_dir,
                                                     'endpoints')))

    def test_restart_announces_live_endpoints_once(self):
        self.join('e1')
        self.join('e2', address='10.77.0.51/24')
        self.veth.unplug(self.driver.endpoints['e2'])  # container died
        restarted = self.new_driver()
        published, withdrawn = [], []
        self.agent.registry.publish = published.append
        self.agent.registry.withdraw = withdrawn.append
        restarted.reconcile()
        self.agent.start()
        self.assertEqual([('10.77.0.50', 7)],
                         [(e.address, e.group) for e in published])
        self.assertEqual(['10.77.0.51'], withdrawn)

    def test_endpoints_of_deleted_sandboxes_are_forgotten(self):
        self.join('e1')
        self.sandboxes.clear()   # deleted while no daemon listened
        restarted = self.new_driver()
        restarted.reconcile()
        self.assertTagged({})
        self.assertEqual([], os.listdir(os.path.join(self.state_dir,
                                                     'endpoints')))
        # Docker's late Leave and DeleteEndpoint are answered
        self.assertEqual({}, restarted.leave({'NetworkID': NET,
                                              'EndpointID': 'e1'}))
        self.assertEqual({}, restarted.delete_endpoint(
            {'NetworkID': NET, 'EndpointID': 'e1'}))

    def test_stale_endpoint_does_not_untag_a_live_one(self):
        self.driver.create_endpoint(create_endpoint('old'))
        # Docker forgot 'old' while no daemon listened; reuses its address
        restarted = self.new_driver()
        restarted.create_endpoint(create_endpoint('new'))
        restarted.join({'NetworkID': NET, 'EndpointID': 'new',
                        'SandboxKey': '/run/netns/y'})
        self.assertNotIn('old', restarted.endpoints)
        self.new_driver().reconcile()
        self.assertTagged({'10.77.0.50': 7})

    def macvlan_endpoint(self):
        self.driver.kinds = {'veth': self.veth, 'macvlan': FakeMacvlan()}
        request = create_network({'iovisor.mode': 'macvlan',
                                  'iovisor.parent': 'lo'})
        request['NetworkID'] = net = 'm' * 64
        self.driver.create_network(request)
        self.driver.create_endpoint(dict(create_endpoint('e1'),
                                         NetworkID=net))
        return net

    def test_sandbox_side_endpoints_are_linked_at_join(self):
        watch = self.useFixture(fixtures.MockPatchObject(driver.Driver,
                                                         '_watch')).mock
        net = self.macvlan_endpoint()
        self.driver.join({'NetworkID': net, 'EndpointID': 'e1',
                          'SandboxKey': '/run/netns/x'})
        self.assertEqual({'e1': 'ime1', 'parent@lo': 'lo'},
                         self.dataplane.links)
        self.assertIn('e1', self.driver.attached)
        watch.assert_not_called()
        self.assertEqual({'10.77.0.50': 0}, announced(self.agent))
        self.driver.leave({'NetworkID': net, 'EndpointID': 'e1'})
        self.assertEqual({'parent@lo': 'lo'}, self.dataplane.links)
        self.assertTagged({})
        self.driver.delete_endpoint({'NetworkID': net, 'EndpointID': 'e1'})
        self.driver.delete_network({'NetworkID': net})
        self.assertEqual({}, self.dataplane.links)

    def test_failing_links_fail_join(self):
        net = self.macvlan_endpoint()
        self.dataplane.link_error = tcx.libbpf.BpfError(1, 'injected')
        self.assertRaisesRegex(
            driver.DriverError, 'injected; the container gets no network',
            self.driver.join, {'NetworkID': net, 'EndpointID': 'e1',
                               'SandboxKey': '/run/netns/x'})
        self.assertEqual(1, self.driver.attach_failures)
        self.assertTagged({})
        self.assertIsNone(self.driver.endpoints['e1'].sandbox_key)

    def test_without_tcx_a_sandbox_that_never_appears_loses_the_link(self):
        net = self.macvlan_endpoint()
        self.dataplane.link_error = tcx.Unsupported(22, 'no tcx')
        self.driver.sandbox_timeout = 0.2
        macvlan = self.driver.kinds['macvlan']
        self.driver.join({'NetworkID': net, 'EndpointID': 'e1',
                          'SandboxKey': '/run/netns/mi-never-there'})
        self.assertFalse(self.driver.wait_attached('e1', 30))
        self.assertEqual(1, self.driver.attach_failures)
        self.assertNotIn('ime1', macvlan.plugged_links)

    def test_without_tcx_sandbox_side_endpoints_are_announced_at_join(self):
        self.useFixture(fixtures.MockPatchObject(driver.Driver, '_watch'))
        net = self.macvlan_endpoint()
        self.dataplane.link_error = tcx.Unsupported(22, 'no tcx')
        self.driver.join({'NetworkID': net, 'EndpointID': 'e1',
                          'SandboxKey': '/run/netns/x'})
        self.assertTagged({'10.77.0.50': 0})
        self.assertFalse(self.driver.tcx)
        self.driver.leave({'NetworkID': net, 'EndpointID': 'e1'})
        self.assertTagged({})

    def test_network_options(self):
        for options, message in (
                ({'iovisor.mode': 'tunnel'}, 'not one of veth'),
                ({'iovisor.parent': 'eth0'}, 'macvlan and ipvlan'),
                ({'mode': 'veth'}, 'unknown network option(s) mode')):
            request = create_network(options)
            request['NetworkID'] = 'other'
            error = self.assertRaises(driver.DriverError,
                                      self.driver.create_network, request)
            self.assertIn(message, str(error))


class SchemaTest(testtools.TestCase):
    def test_every_request_docker_sends_is_accepted(self):
        schemas.validate('NetworkDriver.CreateNetwork', create_network())
        schemas.validate('NetworkDriver.CreateEndpoint', create_endpoint(
            'e1', **{EXPOSED: [{'Proto': 0, 'Port': 100}],
                     'com.docker.network.portmap': []}))
        schemas.validate('Plugin.Activate', None)

    def test_errors_name_the_field(self):
        error = self.assertRaises(
            schemas.RequestError, schemas.validate, 'NetworkDriver.Join',
            {'NetworkID': 'n', 'EndpointID': 'e', 'SandboxKey': 3})
        self.assertIn('NetworkDriver.Join: SandboxKey: 3 is not of type',
                      str(error))


class RoutesTest(testtools.TestCase):
    def call(self, method, body):
        async def go():
            app = routes.make_app(driver.Driver(
                new_agent(), state.Store(self.useFixture(
                    fixtures.TempDir()).path), kinds={'veth': FakeVeth()}))
            async with test_utils.TestClient(
                    test_utils.TestServer(app)) as client:
                response = await client.post('/' + method, data=body)
                return response.status, json.loads(await response.text())
        return asyncio.run(go())

    def test_activate(self):
        self.assertEqual((200, {'Implements': ['NetworkDriver']}),
                         self.call('Plugin.Activate', b''))

    def test_driver_error_is_err(self):
        status, reply = self.call('NetworkDriver.Leave', json.dumps(
            {'NetworkID': 'n', 'EndpointID': 'e'}))
        self.assertEqual((500, ['Err']), (status, list(reply)))
        self.assertIn('unknown endpoint e', reply['Err'])
