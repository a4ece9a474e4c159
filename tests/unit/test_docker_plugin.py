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
from magnum_iovisor.plugin import links
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
        self.siblings = {}     # host ifname -> ids of siblings at plug

    def names(self, endpoint_id):
        return 'iv' + endpoint_id[:11], 'ic' + endpoint_id[:11]

    def plug(self, network, endpoint, siblings=()):
        self.plugged_links.add(endpoint.host_ifname)
        self.siblings[endpoint.host_ifname] = sorted(s.id for s in siblings)

    def plugged(self, endpoint):
        return endpoint.host_ifname in self.plugged_links

    def restore(self, network, endpoint, siblings=()):
        pass

    def unplug(self, endpoint, siblings=()):
        self.plugged_links.discard(endpoint.host_ifname)

    def join_info(self, network):
        return links._gateways(network)


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
                                 ({'iovisor.group': '65534'},
                                  'group 65534 is reserved for nodes'),
                                 ({EXPOSED: [{'Proto': 0, 'Port': 65535}]},
                                  '--expose 65535/0: group 65535 is '
                                  'reserved for host'),
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

    def test_no_parent_program_where_the_kernel_cannot_tell_sandboxes(self):
        self.dataplane.guards_parent = False
        self.useFixture(fixtures.MockPatchObject(driver.Driver, '_watch'))
        net = self.macvlan_endpoint()
        self.driver.join({'NetworkID': net, 'EndpointID': 'e1',
                          'SandboxKey': '/run/netns/x'})
        # the endpoint's own links still go on at Join
        self.assertEqual({'e1': 'ime1'}, self.dataplane.links)
        self.assertTrue(self.driver.tcx)
        # and no socket in a container may skip them (dataplane/bypass.py)
        self.assertTrue(self.dataplane.refuses_bypass)
        self.driver.leave({'NetworkID': net, 'EndpointID': 'e1'})
        self.driver.delete_endpoint({'NetworkID': net, 'EndpointID': 'e1'})
        self.driver.delete_network({'NetworkID': net})
        self.assertFalse(self.dataplane.refuses_bypass)

    def test_bypass_refused_only_where_the_parent_cannot_judge(self):
        self.macvlan_endpoint()
        self.assertFalse(self.dataplane.refuses_bypass)
        self.driver.qdisc_bypass_guard = 'always'
        self.driver.reconcile()
        self.assertTrue(self.dataplane.refuses_bypass)

    def test_no_macvlan_network_without_the_bypass_guard(self):
        self.dataplane.guards_parent = False
        self.dataplane.bypass_error = tcx.libbpf.BpfError(
            1, 'no cgroup v2 hierarchy')
        self.driver.kinds = {'veth': self.veth, 'macvlan': FakeMacvlan()}
        request = create_network({'iovisor.mode': 'macvlan',
                                  'iovisor.parent': 'lo'})
        request['NetworkID'] = net = 'm' * 64
        error = self.assertRaises(driver.DriverError,
                                  self.driver.create_network, request)
        self.assertIn('no cgroup v2 hierarchy', str(error))
        self.assertIn('no such network is served', str(error))
        self.assertNotIn(net, self.driver.networks)
        self.assertNotIn(net, self.new_driver().networks)

    def test_sandbox_side_endpoints_are_linked_at_join(self):
        watch = self.useFixture(fixtures.MockPatchObject(driver.Driver,
                                                         '_watch')).mock
        net = self.macvlan_endpoint()
        self.driver.join({'NetworkID': net, 'EndpointID': 'e1',
                          'SandboxKey': '/run/netns/x'})
        self.assertEqual({'e1': 'ime1', 'parent@lo': 'lo'},
                         self.dataplane.links)
        self.assertIn('e1', self.driver.attached)
        # only to bind it to its sandbox's namespace, no attaching
        watch.assert_called_once()
        self.assertEqual(self.driver._bind_in_sandbox,
                         watch.call_args.args[1])
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


NET6 = '6' * 64


class RecordingAgent:
    """A stand-in for registry.agent.Agent, in these tests only.

    The registry does not carry IPv6 endpoints yet (branch registry-v2);
    DriverTest runs the real agent for IPv4.
    """

    guards_parent = True

    def __init__(self):
        self.calls = []

    def join(self, ifname, address, group, netns=None, sandbox_side=None):
        self.calls.append(('join', ifname, address, group))

    def tag(self, address, group):
        self.calls.append(('tag', address, group))

    def leave(self, address, ifname=None, netns=None):
        self.calls.append(('leave', address))

    def attach_links(self, ifname, addresses, group, key):
        self.calls.append(('attach_links', ifname, tuple(addresses), group))

    def detach_links(self, key):
        pass

    def attach_parent(self, ifname):
        pass

    def detach_parent(self, ifname):
        pass

    def refuse_bypass(self):
        pass

    def allow_bypass(self):
        pass

    def bind(self, addresses, netns):
        self.calls.append(('bind', tuple(addresses), netns))
        return list(addresses)

    def linked(self, key):
        return False


def dual_stack_network(network_id=NET6, options=None, pools6=None):
    request = create_network(options)
    request['NetworkID'] = network_id
    request['IPv6Data'] = [{'AddressSpace': 'LocalDefault',
                            'Pool': 'fd00:77::/64',
                            'Gateway': 'fd00:77::1/64'}] \
        if pools6 is None else pools6
    return request


def dual_stack_endpoint(ident, address='10.77.0.50/24',
                        address6='fd00:77::50/64', network_id=NET6):
    request = create_endpoint(ident, address)
    request['NetworkID'] = network_id
    request['Interface']['AddressIPv6'] = address6
    return request


class DualStackTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.state_dir = self.useFixture(fixtures.TempDir()).path
        self.agent = RecordingAgent()
        self.veth = FakeVeth()
        self.macvlan = FakeMacvlan()
        self.driver = driver.Driver(
            self.agent, state.Store(self.state_dir),
            kinds={'veth': self.veth, 'macvlan': self.macvlan,
                   'ipvlan': links.Ipvlan()})
        self.driver.create_network(dual_stack_network(
            options={'iovisor.group': '7'}))

    def join(self, ident, network_id=NET6, **addresses):
        self.driver.create_endpoint(dual_stack_endpoint(
            ident, network_id=network_id, **addresses))
        return self.driver.join({'NetworkID': network_id,
                                 'EndpointID': ident,
                                 'SandboxKey': '/run/netns/x'})

    def refused(self, call, request, message):
        error = self.assertRaises(driver.DriverError, call, request)
        self.assertIn(message, str(error))
        return error

    def test_network_keeps_both_subnets_across_restarts(self):
        network = state.Store(self.state_dir).networks()[NET6]
        self.assertEqual(('10.77.0.0/24', '10.77.0.1', 'fd00:77::/64',
                          'fd00:77::1'),
                         (network.subnet, network.gateway, network.subnet6,
                          network.gateway6))

    def test_endpoint_is_attached_with_both_addresses(self):
        answer = self.join('e1')
        self.assertEqual({'InterfaceName': {'SrcName': 'ice1',
                                            'DstPrefix': 'eth'},
                          'Gateway': '10.77.0.1',
                          'GatewayIPv6': 'fd00:77::1'}, answer)
        self.assertEqual([('join', 'ive1', '10.77.0.50', 7),
                          ('join', 'ive1', 'fd00:77::50', 7)],
                         self.agent.calls)
        saved = state.Store(self.state_dir).endpoints()['e1']
        self.assertEqual(('fd00:77::50', 64),
                         (saved.address6, saved.prefixlen6))
        self.agent.calls = []
        self.driver.leave({'NetworkID': NET6, 'EndpointID': 'e1'})
        self.assertEqual([('leave', '10.77.0.50'), ('leave', 'fd00:77::50')],
                         self.agent.calls)

    def test_veth_siblings_are_introduced(self):
        self.join('e1')
        self.join('e2', address='10.77.0.51/24', address6='fd00:77::51/64')
        self.assertEqual({'ive1': [], 'ive2': ['e1']}, self.veth.siblings)

    def test_restart_reattaches_both(self):
        self.join('e1')
        restarted = driver.Driver(self.agent, state.Store(self.state_dir),
                                  kinds={'veth': self.veth},
                                  sandbox_in_use=lambda key: True)
        self.agent.calls = []
        restarted.reconcile()
        self.assertEqual([('join', 'ive1', '10.77.0.50', 7),
                          ('join', 'ive1', 'fd00:77::50', 7)],
                         self.agent.calls)

    def test_sandbox_side_endpoints_are_linked_with_both(self):
        self.useFixture(fixtures.MockPatchObject(driver.Driver, '_watch'))
        self.driver.create_network(dual_stack_network(
            'm' * 64, {'iovisor.mode': 'macvlan', 'iovisor.parent': 'lo'}))
        self.assertEqual({'InterfaceName': {'SrcName': 'ime1',
                                            'DstPrefix': 'eth'},
                          'Gateway': '10.77.0.1',
                          'GatewayIPv6': 'fd00:77::1'},
                         self.join('e1', network_id='m' * 64))
        self.assertEqual([('attach_links', 'ime1',
                           ('10.77.0.50', 'fd00:77::50'), 0)],
                         self.agent.calls)

    def test_ipvlan_routes_both_families(self):
        network = state.Network(id='i', mode='ipvlan', subnet='10.77.0.0/24',
                                gateway='10.77.0.1', subnet6='fd00:77::/64',
                                gateway6='fd00:77::1')
        self.assertEqual({'StaticRoutes': [
            {'Destination': '0.0.0.0/0', 'RouteType': 1},
            {'Destination': '::/0', 'RouteType': 1}],
            'DisableGatewayService': True},
            links.Ipvlan().join_info(network))

    def test_ipv4_only_network_refuses_an_ipv6_address(self):
        self.driver.create_network(create_network())
        self.refused(self.driver.create_endpoint,
                     dual_stack_endpoint('e1', network_id=NET),
                     'endpoint address fd00:77::50/64: the network has no '
                     'IPv6 subnet')
        self.assertEqual([], os.listdir(os.path.join(self.state_dir,
                                                     'endpoints')))

    def test_bad_addresses(self):
        for request, message in (
                (dual_stack_endpoint('e1', address='fd00:77::9/64'),
                 'endpoint address (Interface.Address): fd00:77::9/64 is '
                 'not an IPv4 address'),
                (dual_stack_endpoint('e1', address6='10.77.0.9/24'),
                 'endpoint address (Interface.AddressIPv6): 10.77.0.9/24 '
                 'is not an IPv6 address'),
                (dual_stack_endpoint('e1', address6='fd00:78::9/64'),
                 'address fd00:78::9/64 is outside the network subnet '
                 'fd00:77::/64'),
                (dual_stack_endpoint('e1', address6=''),
                 'endpoint e1 has no IPv6 address (Interface.AddressIPv6) '
                 'on a network with subnet fd00:77::/64')):
            self.refused(self.driver.create_endpoint, request, message)
        self.assertEqual([], os.listdir(os.path.join(self.state_dir,
                                                     'endpoints')))

    def test_bad_pools(self):
        for pools6, message in (
                ([{'Pool': 'fd00:1::/64', 'Gateway': 'fd00:1::1/64'},
                  {'Pool': 'fd00:2::/64', 'Gateway': 'fd00:2::1/64'}],
                 'a network needs exactly one IPv6 subnet (--subnet), got 2'),
                ([{'Pool': '10.9.0.0/24', 'Gateway': '10.9.0.1/24'}],
                 'bad IPv6 pool'),
                ([{'Pool': 'fd00:1::/64', 'Gateway': 'fd00:2::1/64'}],
                 'gateway fd00:2::1 is outside the subnet fd00:1::/64')):
            self.refused(self.driver.create_network,
                         dual_stack_network('x' * 64, pools6=pools6),
                         message)
        request = dual_stack_network('y' * 64)
        request['IPv4Data'] = request['IPv6Data']
        self.refused(self.driver.create_network, request, 'bad IPv4 pool')
        self.assertEqual([NET6], sorted(self.driver.networks))


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
