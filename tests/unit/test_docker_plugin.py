"""The Docker driver's logic with a fake dataplane and fake interfaces."""

import asyncio
import json
import os

from aiohttp import test_utils
import fixtures
import testtools

from magnum_iovisor.plugin import driver
from magnum_iovisor.plugin import routes
from magnum_iovisor.plugin import schemas
from magnum_iovisor.plugin import state

NET = 'n' * 64
EXPOSED = schemas.EXPOSED_PORTS


class FakeDataplane:
    def __init__(self):
        self.tags = {}

    def tag(self, address, group, ifindex=0):
        self.tags[address] = group

    def untag(self, address):
        return self.tags.pop(address, None) is not None

    def attach(self, ifname, address, group, netns=None, sandbox_side=None):
        self.tags[address] = group


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


class DriverTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.state_dir = self.useFixture(fixtures.TempDir()).path
        self.dataplane = FakeDataplane()
        self.veth = FakeVeth()
        self.driver = self.new_driver()
        self.driver.create_network(create_network({'iovisor.group': '7'}))

    def new_driver(self):
        return driver.Driver(self.dataplane, state.Store(self.state_dir),
                             kinds={'veth': self.veth})

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
        self.assertEqual({'10.77.0.50': 7, '10.77.0.51': 100,
                          '10.77.0.52': 200}, self.dataplane.tags)

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
        self.assertEqual({'10.77.0.50': 7}, self.dataplane.tags)
        for ident in ('e1', 'e2'):
            restarted.leave({'NetworkID': NET, 'EndpointID': ident})
            restarted.delete_endpoint({'NetworkID': NET,
                                       'EndpointID': ident})
        self.assertEqual({}, self.dataplane.tags)
        self.assertEqual(set(), self.veth.plugged_links)
        self.assertEqual([], os.listdir(os.path.join(self.state_dir,
                                                     'endpoints')))

    def test_stale_endpoint_does_not_untag_a_live_one(self):
        self.driver.create_endpoint(create_endpoint('old'))
        # Docker forgot 'old' while no daemon listened; reuses its address
        restarted = self.new_driver()
        restarted.create_endpoint(create_endpoint('new'))
        restarted.join({'NetworkID': NET, 'EndpointID': 'new',
                        'SandboxKey': '/run/netns/y'})
        self.assertNotIn('old', restarted.endpoints)
        self.new_driver().reconcile()
        self.assertEqual({'10.77.0.50': 7}, self.dataplane.tags)

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
                FakeDataplane(), state.Store(self.useFixture(
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
