"""The registry model, local backend, sync and agent, on a fake dataplane."""

import ipaddress
import os
import re
import threading

import fixtures
from hypothesis import given
from hypothesis import strategies as st
import testtools

from magnum_iovisor.dataplane import layout
from magnum_iovisor import policy
from magnum_iovisor import registry
from magnum_iovisor.registry import agent as agent_module
from magnum_iovisor.registry import claims
from magnum_iovisor.registry import credentials
from magnum_iovisor.registry import local
from magnum_iovisor.registry import names
from magnum_iovisor.registry import sync
from magnum_iovisor.registry import zookeeper
from tests.unit import fake_dataplane


def ep(address, group, host):
    return registry.Endpoint(address, group, host)


class EndpointTest(testtools.TestCase):
    def test_bad_endpoints_name_the_problem(self):
        self.assertRaisesRegex(ValueError, "'10.0.0.300' is not an IPv4",
                               ep, '10.0.0.300', 1, 'a')
        self.assertRaisesRegex(policy.PolicyError, 'endpoint 10.0.0.1: group '
                               '70000 out of range', ep, '10.0.0.1', 70000,
                               'a')
        self.assertRaisesRegex(ValueError, 'host name .a@b', ep, '10.0.0.1',
                               1, 'a@b')

    def test_addresses_prefixes_and_ipv6_are_canonical(self):
        self.assertEqual('fd00::1', ep('FD00:0::1', 5, 'a').address)
        self.assertEqual('192.0.2.0/24', ep('192.0.2.0/24', 5, 'a').address)
        self.assertRaisesRegex(ValueError, "'10.0.0.1/24' is not an IPv4 or "
                               "IPv6 address or prefix", ep, '10.0.0.1/24',
                               5, 'a')

    def test_node_names_round_trip(self):
        for address, name in (('10.1.2.3', '10.1.2.3@65535'),
                              ('fd00::7', 'fd00::7@65535'),
                              ('192.0.2.0/24', '192.0.2.0_24@65535'),
                              ('fd00::/64', 'fd00::_64@65535')):
            endpoint = ep(address, 65535, 'slave-1.example.org')
            self.assertEqual(name, names.endpoint_name(endpoint))
            self.assertEqual(endpoint, names.parse_endpoint_name(
                name, 'slave-1.example.org'))
        self.assertEqual('10.1.0.0_16', names.subnet_name('10.1.0.0/16'))
        self.assertEqual('10.1.0.0/16',
                         str(names.parse_subnet_name('10.1.0.0_16')))

    def test_foreign_node_names_are_refused(self):
        for name in ('10.1.2.3', '10.1.2.3@x', 'a@1', '10.1.2.3@',
                     '10.1.2.3@01', '010.1.2.3@1', 'FD00::1@1',
                     '10.1.2.3_24@1', '10.1.2.0/24@1', '10.1.2.3@1@h'):
            self.assertRaises(ValueError, names.parse_endpoint_name, name,
                              'h')
        for name in ('10.1.0.1_16', '10.1.0.0', '10.1.0.0_016', 'x'):
            self.assertRaises(ValueError, names.parse_subnet_name, name)

    def test_root_must_be_an_absolute_path(self):
        for root in ('magnum', '/magnum/', '/a//b'):
            self.assertRaisesRegex(registry.RegistryError, 'must be an '
                                   'absolute', zookeeper.check_root, root)
        self.assertEqual('/m/i', zookeeper.check_root('/m/i'))


class LocalRegistryTest(testtools.TestCase):
    def test_watchers_see_every_change(self):
        reg = local.LocalRegistry('a')
        seen = []
        reg.watch_endpoints(lambda *call: seen.append(call))
        reg.publish(ep('10.0.0.1', 1, 'a'))
        reg.publish(ep('10.0.0.1', 1, 'a'))       # no change, no call
        reg.publish(ep('10.0.0.1', 2, 'a'))
        reg.withdraw('10.0.0.1')
        reg.withdraw('10.0.0.1')
        self.assertEqual([({}, True),
                          ({'10.0.0.1': ep('10.0.0.1', 1, 'a')}, False),
                          ({'10.0.0.1': ep('10.0.0.1', 2, 'a')}, False),
                          ({'10.0.0.1': None}, False)], seen)

    def test_only_this_hosts_endpoints(self):
        reg = local.LocalRegistry('a')
        self.assertRaisesRegex(registry.RegistryError, 'host a cannot '
                               'publish an endpoint of host b', reg.publish,
                               ep('10.0.0.1', 1, 'b'))

    def test_policy_watchers(self):
        reg = local.LocalRegistry('a')
        seen = []
        reg.watch_policy(seen.append)
        seed = policy.parse_text('100>0')
        reg.set_cluster_policy(seed)
        reg.set_cluster_policy(None)
        self.assertEqual([None, seed, None], seen)

    def test_open_registry_picks_the_backend(self):
        class Conf:
            backend = 'local'
            host_name = None

        reg = registry.open_registry(Conf)
        self.assertIsInstance(reg, local.LocalRegistry)
        self.assertTrue(reg.host_name)
        Conf.backend = 'etcd'
        self.assertRaisesRegex(registry.RegistryError, "unknown registry "
                               "backend 'etcd'", registry.open_registry, Conf)

    def test_a_readable_credentials_file_is_refused_before_connecting(self):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path, 's')
        with open(path, 'w') as secret:
            secret.write('bay:secret\n')
        os.chmod(path, 0o640)

        class Conf:
            backend = 'zookeeper'
            host_name = 'a'
            credentials_file = path

        self.assertRaisesRegex(registry.RegistryError, 'credentials_file %s '
                               'is open to its group or others .mode 0640.'
                               % path, registry.open_registry, Conf)
        os.chmod(path, 0o600)
        secret = credentials.read(path)
        self.assertEqual(('bay', 'secret'), (secret.user, secret.secret))
        self.assertNotIn('secret', repr(secret).replace('Credentials', ''))
        self.assertEqual([('digest', 'bay:secret')], secret.auth_data)
        self.assertEqual('digest:' + secret.acl[0].id.id, secret.identity)
        self.assertEqual(31, secret.acl[0].perms)


def full(endpoints):
    return {e.address: e for e in endpoints}


class SyncTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.dp = fake_dataplane.FakeDataplane()
        self.sync = sync.EndpointSync(self.dp, 'a', threading.Lock())

    def test_remote_endpoints_are_learned_and_own_ones_skipped(self):
        self.sync(full({ep('10.1.1.1', 100, 'a'), ep('10.1.2.1', 200, 'b')}),
                  True)
        self.assertEqual({'10.1.2.1': 200}, self.dp.learned())

    def test_changes_are_applied_and_the_full_delivery_as_a_diff(self):
        self.sync(full({ep('10.1.2.1', 200, 'b'), ep('10.1.2.2', 100, 'b')}),
                  True)
        self.sync({'10.1.2.1': ep('10.1.2.1', 300, 'b'), '10.1.2.2': None,
                   '10.1.3.1': ep('10.1.3.1', 100, 'c')}, False)
        self.assertEqual({'10.1.2.1': 300, '10.1.3.1': 100},
                         self.dp.learned())
        upserts, gone = self.sync({'10.1.2.1': ep('10.1.2.1', 300, 'b')},
                                  False)
        self.assertEqual(({}, []), (upserts, gone))
        self.sync(full({ep('10.1.3.1', 100, 'c')}), True)
        self.assertEqual({'10.1.3.1': 100}, self.dp.learned())

    def test_nothing_is_decided_before_the_full_delivery(self):
        self.dp.learn({'10.1.9.9': 5})     # from before a restart
        self.sync({'10.1.9.9': None, '10.1.2.1': ep('10.1.2.1', 200, 'b')},
                  False)
        self.assertEqual({'10.1.9.9': 5}, self.dp.learned())

    def test_local_and_hand_tagged_entries_are_never_touched(self):
        self.dp.attach('veth1', '10.1.1.1', 100)
        self.dp.tag('192.0.2.1', 7)
        self.sync(full({ep('10.1.1.1', 200, 'b'), ep('192.0.2.1', 200, 'b')}),
                  True)
        self.sync({'10.1.1.1': None, '192.0.2.1': None}, False)
        self.sync({}, True)
        self.assertEqual([('10.1.1.1', 100, 1), ('192.0.2.1', 7, 0)],
                         self.dp.endpoints())

    def test_stale_learned_entries_go_on_the_full_delivery(self):
        self.dp.learn({'10.1.9.9': 5})     # from before a restart
        self.sync(full({ep('10.1.2.1', 200, 'b')}), True)
        self.assertEqual({'10.1.2.1': 200}, self.dp.learned())


def net(text):
    return claims.network_of(text)


def _linear_decision(everyone):
    """The holding rule written the slow, obvious way: (held, refused)."""
    winners, refused = [], {}
    for claim in everyone:
        rival = next((w for w in winners if w.host != claim.host
                      and w.subnet.overlaps(claim.subnet)
                      and w.subnet.version == claim.subnet.version), None)
        if rival is None:
            winners.append(claim)
        else:
            refused[claim.host, str(claim.subnet)] = rival.host, str(
                rival.subnet)
    return winners, refused


_CLAIMS = st.lists(st.tuples(
    st.sampled_from('abcd'),
    st.one_of(st.tuples(st.just(4), st.integers(0, 255),
                        st.integers(20, 32)),
              st.tuples(st.just(6), st.integers(0, 255),
                        st.integers(116, 128)))), max_size=30)


class HeldIndexTest(testtools.TestCase):
    @given(_CLAIMS)
    def test_same_holders_and_rivals_as_a_linear_search(self, drawn):
        by_host = {}
        for n, (host, (version, low, length)) in enumerate(drawn):
            text = ('10.0.%d.%d/%d' % (low // 16, low % 16 * 16, length)
                    if version == 4 else 'fd00::%x/%d' % (low << 4, length))
            subnet = ipaddress.ip_network(text, strict=False)
            by_host.setdefault(host, {}).setdefault(subnet, (n, host))
        book = claims.ClaimBook()
        for host, subnets in by_host.items():
            book.set_subnets(host, subnets)
        everyone = sorted((claims.Claim(o, s, h) for h, c in by_host.items()
                           for s, o in c.items()),
                          key=lambda c: (c.order, c.subnet.version,
                                         c.subnet))
        winners, refused = _linear_decision(everyone)
        self.assertEqual(
            {h: sorted(str(c.subnet) for c in winners if c.host == h)
             for h in {c.host for c in winners}},
            {h: sorted(map(str, book.held(h))) for h in by_host
             if book.held(h)})
        self.assertEqual(
            {k: 'subnet %s of host %s overlaps %s, held by host %s'
                % (k[1], k[0], rival[1], rival[0])
             for k, rival in refused.items()},
            book.refused_claims)


class ClaimBookTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.book = claims.ClaimBook()
        self.book.set_subnets('a', {net('10.1.1.0/24'): (1, 'a')})
        self.book.set_subnets('b', {net('10.1.2.0/24'): (2, 'b'),
                                    net('fd00:2::/64'): (3, 'b')})

    def test_only_endpoints_inside_their_hosts_subnets(self):
        changes = self.book.set_endpoints('b', full({
            ep('10.1.2.5', 100, 'b'), ep('fd00:2::5', 100, 'b'),
            ep('10.1.2.128/25', 7, 'b'), ep('10.1.1.5', 100, 'b'),
            ep('10.9.9.9', 100, 'b'), ep('10.1.0.0/23', 7, 'b')}))
        self.assertEqual({'10.1.2.5', 'fd00:2::5', '10.1.2.128/25'},
                         set(changes))
        self.assertEqual({
            ('endpoint', 'b', '10.1.1.5'): '10.1.1.5 (group 100) announced '
            'by host b is in 10.1.1.0/24, held by host a',
            ('endpoint', 'b', '10.9.9.9'): '10.9.9.9 (group 100) announced '
            'by host b is outside its subnets (10.1.2.0/24, fd00:2::/64)',
            ('endpoint', 'b', '10.1.0.0/23'): '10.1.0.0/23 (group 7) '
            'announced by host b overlaps 10.1.1.0/24, held by host a'},
            self.book.problems())

    def test_a_later_overlapping_claim_is_refused_and_its_endpoints(self):
        self.book.set_endpoints('a', full({ep('10.1.1.5', 100, 'a')}))
        changes = self.book.set_subnets('c', {net('10.1.0.0/23'): (4, 'c')})
        self.assertEqual({}, changes)
        self.book.set_endpoints('c', full({ep('10.1.1.5', 200, 'c'),
                                           ep('10.1.0.9', 200, 'c')}))
        self.assertEqual({'10.1.1.5': ep('10.1.1.5', 100, 'a')},
                         self.book.accepted)
        self.assertEqual('subnet 10.1.0.0/23 of host c overlaps 10.1.1.0/24,'
                         ' held by host a', self.book.problems()[
                             'subnet', 'c', '10.1.0.0/23'])
        # the holder leaves: the claim becomes good, its endpoints too
        changes = self.book.forget_host('a')
        self.assertEqual({'10.1.1.5': ep('10.1.1.5', 200, 'c'),
                          '10.1.0.9': ep('10.1.0.9', 200, 'c')}, changes)
        self.assertEqual({}, {k: v for k, v in self.book.problems().items()
                              if k[1] == 'c'})

    def test_a_withdrawn_subnet_withdraws_its_endpoints(self):
        self.book.set_endpoints('b', full({ep('10.1.2.5', 100, 'b')}))
        changes = self.book.set_subnets('b', {net('fd00:2::/64'): (3, 'b')})
        self.assertEqual({'10.1.2.5': None}, changes)
        self.assertEqual({}, self.book.accepted)


class AgentTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.dp = fake_dataplane.FakeDataplane()
        self.reg = local.LocalRegistry('a')
        self.agent = agent_module.Agent(self.dp, self.reg)

    def test_start_announces_only_what_the_driver_gave(self):
        self.dp.attach('veth1', '10.1.1.1', 100)   # by hand, not the driver
        self.dp.tag('192.0.2.1', 7)
        self.agent.start()
        self.assertEqual(frozenset(), self.reg.endpoints())

    def test_join_and_leave(self):
        self.agent.start()
        self.agent.join('veth1', '10.1.1.1', 100)
        self.agent.join('veth2', '10.1.1.2', 200)
        self.assertEqual({ep('10.1.1.1', 100, 'a'), ep('10.1.1.2', 200, 'a')},
                         self.reg.endpoints())
        self.agent.leave('10.1.1.1', 'veth1')
        # the interface of 10.1.1.2 is gone already: forgotten all the same
        self.dp.interfaces.pop('veth2')
        self.agent.leave('10.1.1.2', 'veth2')
        self.assertEqual(frozenset(), self.reg.endpoints())
        self.assertEqual([], self.dp.endpoints())

    def test_leave_forgets_an_attached_endpoint_without_its_interface(self):
        self.agent.join('veth1', '10.1.1.1', 100)
        self.agent.leave('10.1.1.1')
        self.assertEqual(({}, frozenset()), (self.dp.tags(),
                                             self.reg.endpoints()))

    def test_tag_announces_ahead_of_the_interface(self):
        self.agent.tag('10.1.1.1', 100)
        self.assertEqual(({'10.1.1.1': 100}, {ep('10.1.1.1', 100, 'a')}),
                         (self.dp.tags(), self.reg.endpoints()))
        # found attached after a restart: the entry is kept as it is
        index = self.agent.join('mv1', '10.1.1.1', 100, sandbox_side=True)
        self.agent.tag('10.1.1.1', 100)
        self.assertEqual([('10.1.1.1', 100, index)], self.dp.endpoints())

    def test_each_endpoint_is_announced_once(self):
        published = []
        self.reg.publish = published.append
        self.agent.tag('10.1.1.1', 100)
        self.agent.join('mv1', '10.1.1.1', 100, sandbox_side=True)
        self.agent.join('mv1', '10.1.1.1', 100, sandbox_side=True)
        self.assertEqual([ep('10.1.1.1', 100, 'a')], published)
        self.agent.leave('10.1.1.1')
        self.agent.join('mv1', '10.1.1.1', 100, sandbox_side=True)
        self.assertEqual(2, len(published))

    def test_cluster_policy_is_applied_and_none_keeps_it(self):
        self.agent.start()
        seed = policy.parse_text('100>0 0>100')
        self.reg.set_cluster_policy(seed)
        self.assertEqual(seed, self.dp.policy_in_force)
        self.reg.set_cluster_policy(None)
        self.assertEqual(seed, self.dp.policy_in_force)
        self.assertIsNone(self.agent.cluster_policy)

    def test_cluster_policy_delivered_again_puts_the_host_right(self):
        self.agent.start()
        seed = policy.parse_text('100>0 0>100')
        self.reg.set_cluster_policy(seed)
        self.dp.policy_in_force = policy.parse_text('100>0 200>200')
        self.reg.set_cluster_policy(seed)     # as after a reconnection
        self.assertEqual(seed, self.dp.policy_in_force)


class LayoutTest(testtools.TestCase):
    def test_endpoint_flags_match_maps_h(self):
        path = os.path.join(os.path.dirname(__file__), '..', '..', 'bpf',
                            'maps.h')
        with open(path) as header:
            text = header.read()
        match = re.search(r'ENDPOINT_LEARNED = 1 << (\d+)', text)
        self.assertIsNotNone(match)
        self.assertEqual(layout.EndpointFlag.LEARNED, 1 << int(match.group(1)))
