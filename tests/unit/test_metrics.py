"""The metrics collector on an in-memory dataplane, and the server's start."""

import os
import socket
import urllib.request

import fixtures
from prometheus_client import core
from prometheus_client import exposition
from prometheus_client import parser
import testtools

from magnum_iovisor.plugin import failures
from magnum_iovisor.plugin import quarantine
from magnum_iovisor import policy
from magnum_iovisor.telemetry import metrics


class CountingDataplane:
    """The read side of ``Dataplane`` that the collector uses."""
    version = 'abc123'

    def __init__(self, rules=(), denied=()):
        self.rule_rows = list(rules)
        self.denied_rows = list(denied)
        self.dropped = {'no_rule': (4, 400), 'deny_rule': (1, 98),
                        'spoofed_source': (0, 0)}
        self.reads = 0
        self.state_generation = 7

    def generation(self):
        return self.state_generation

    def rule_counters(self):
        self.reads += 1
        return [(r.src, r.dst, r.protocol, r.ports, r.action, n, b)
                for r, n, b in self.rule_rows]

    def denied(self):
        return list(self.denied_rows)

    def drops(self):
        return dict(self.dropped)

    def would_drop(self):
        return {'no_rule': (6, 600), 'deny_rule': (0, 0)}

    def audit(self):
        return (False, [200, 65535])

    def endpoint_counts(self):
        return {'endpoints': {'local': 3, 'learned': 2, 'reserved': 4,
                              'tagged': 1},
                'prefixes': {'learned': 1, 'reserved': 0, 'tagged': 5}}


class StateRegistry:
    def __init__(self, state):
        self.connection_state = state


def allow(src, dst):
    return policy.Rule(src, dst, policy.Action.ALLOW)


def deny(src, dst):
    return policy.Rule(src, dst, policy.Action.DENY)


def scrape(collector):
    registry = core.CollectorRegistry()
    registry.register(collector)
    text = exposition.generate_latest(registry).decode()
    samples = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            samples[key] = sample.value
    return samples


def rule_key(name, src, dst, action, protocol='any', ports='any'):
    return (name, tuple(sorted({'src': src, 'dst': dst, 'action': action,
                                'protocol': protocol,
                                'ports': ports}.items())))


class CollectorTest(testtools.TestCase):
    def test_every_family_is_read_on_scrape(self):
        dp = CountingDataplane(rules=[(allow(100, 200), 5, 500),
                                      (deny(200, 0), 2, 140)],
                               denied=[(0, 200, 7, 700)])
        collector = metrics.DataplaneCollector(dp, StateRegistry('suspended'))
        samples = scrape(collector)
        self.assertEqual(5, samples[rule_key(
            'iovisor_rule_packets_total', '100', '200', 'allow')])
        self.assertEqual(500, samples[rule_key(
            'iovisor_rule_bytes_total', '100', '200', 'allow')])
        self.assertEqual(2, samples[rule_key(
            'iovisor_rule_packets_total', '200', 'world', 'deny')])
        self.assertEqual(7, samples[('iovisor_denied_packets_total', (
            ('dst', '200'), ('src', 'world')))])
        self.assertEqual(4, samples[('iovisor_drops_total',
                                     (('reason', 'no_rule'),))])
        self.assertEqual(98, samples[('iovisor_drop_bytes_total',
                                      (('reason', 'deny_rule'),))])
        self.assertEqual(6, samples[('iovisor_would_drop_total',
                                     (('reason', 'no_rule'),))])
        self.assertEqual(600, samples[('iovisor_would_drop_bytes_total',
                                       (('reason', 'no_rule'),))])
        self.assertEqual(0, samples[('iovisor_audit_mode',
                                     (('group', 'all'),))])
        self.assertEqual(1, samples[('iovisor_audit_mode',
                                     (('group', 'host'),))])
        self.assertEqual(1, samples[('iovisor_audit_mode',
                                     (('group', '200'),))])
        self.assertEqual(2, samples[('iovisor_endpoints',
                                     (('kind', 'learned'),))])
        self.assertEqual(5, samples[('iovisor_prefixes',
                                     (('kind', 'tagged'),))])
        self.assertEqual(1, samples[('iovisor_registry_state', (
            ('backend', 'StateRegistry'), ('state', 'suspended')))])
        self.assertEqual(0, samples[('iovisor_registry_state', (
            ('backend', 'StateRegistry'), ('state', 'connected')))])
        self.assertEqual(0, samples[('iovisor_registry_connected', (
            ('backend', 'StateRegistry'),))])
        self.assertEqual(1, samples[('iovisor_build_info', (
            ('dataplane', 'abc123'),
            ('version', metrics.package_version())))])
        self.assertEqual(1, samples[('iovisor_policy_rules',
                                     (('action', 'deny'),))])

    def test_protocol_ports_and_reserved_groups_are_labels(self):
        rows = [(policy.Rule(9, 2047, policy.Action.ALLOW, 'tcp', (8000,
                                                                   8080)),
                 3, 300),
                (policy.Rule(9, 65535, policy.Action.DENY, 'udp', (53, 53)),
                 1, 80),
                (policy.Rule(9, 0, policy.Action.ALLOW, 'icmp'), 2, 196)]
        samples = scrape(metrics.DataplaneCollector(CountingDataplane(rows)))
        self.assertEqual(3, samples[rule_key(
            'iovisor_rule_packets_total', '9', '2047', 'allow', 'tcp',
            '8000-8080')])
        self.assertEqual(80, samples[rule_key(
            'iovisor_rule_bytes_total', '9', 'host', 'deny', 'udp', '53')])
        self.assertEqual(2, samples[rule_key(
            'iovisor_rule_packets_total', '9', 'world', 'allow', 'icmp')])

    def test_counters_are_read_again_on_every_scrape(self):
        dp = CountingDataplane(rules=[(allow(1, 2), 1, 10)])
        collector = metrics.DataplaneCollector(dp)
        scrape(collector)
        dp.rule_rows = [(allow(1, 2), 9, 90)]
        self.assertEqual(9, scrape(collector)[rule_key(
            'iovisor_rule_packets_total', '1', '2', 'allow')])
        self.assertEqual(2, dp.reads)

    def test_rules_beyond_the_limit_are_summed_per_action(self):
        rows = [(allow(1, dst), dst, dst * 10) for dst in range(1, 11)]
        rows += [(deny(2, 1), 3, 30), (deny(2, 2), 4, 40)]
        collector = metrics.DataplaneCollector(CountingDataplane(rows),
                                               per_rule_limit=3)
        samples = scrape(collector)
        kept = {k for k in samples
                if k[0] == 'iovisor_rule_packets_total'
                and dict(k[1])['src'] != 'other'}
        # the three busiest: 1>10, 1>9, 1>8
        self.assertEqual({rule_key('iovisor_rule_packets_total', '1', d,
                                   'allow') for d in ('10', '9', '8')}, kept)
        self.assertEqual(sum(range(1, 8)), samples[rule_key(
            'iovisor_rule_packets_total', 'other', 'other', 'allow',
            'other', 'other')])
        self.assertEqual(70, samples[rule_key(
            'iovisor_rule_bytes_total', 'other', 'other', 'deny',
            'other', 'other')])
        self.assertEqual(10, samples[('iovisor_policy_rules',
                                      (('action', 'allow'),))])

    def test_zero_limit_exports_every_rule(self):
        rows = [(allow(1, dst), 0, 0) for dst in range(50)]
        samples = scrape(metrics.DataplaneCollector(
            CountingDataplane(rows), per_rule_limit=0))
        self.assertEqual(50, len([k for k in samples
                                  if k[0] == 'iovisor_rule_packets_total']))

    def test_denied_pairs_beyond_the_limit(self):
        denied = [(0, dst, dst, 0) for dst in range(1, 6)]
        samples = scrape(metrics.DataplaneCollector(
            CountingDataplane(denied=denied), per_rule_limit=2))
        self.assertEqual(1 + 2 + 3, samples[(
            'iovisor_denied_packets_total', (('dst', 'other'),
                                             ('src', 'other')))])
        self.assertEqual(5, samples[('iovisor_denied_packets_total', (
            ('dst', '5'), ('src', 'world')))])

    def test_generation_moves_when_the_policy_changes(self):
        dp = CountingDataplane(rules=[(allow(1, 2), 0, 0)])
        collector = metrics.DataplaneCollector(dp)
        key = ('iovisor_policy_generation', ())
        self.assertEqual(1, scrape(collector)[key])
        dp.rule_rows = [(allow(1, 2), 5, 50)]     # counters only
        self.assertEqual(1, scrape(collector)[key])
        dp.state_generation = 8                   # a policy or group change
        self.assertEqual(2, scrape(collector)[key])
        self.assertEqual(2, scrape(collector)[key])

    def test_a_failing_map_hides_only_its_families(self):
        dp = CountingDataplane()

        def broken():
            raise OSError('map gone')
        dp.drops = broken
        samples = scrape(metrics.DataplaneCollector(dp))
        self.assertNotIn(('iovisor_drops_total', (('reason', 'no_rule'),)),
                         samples)
        self.assertIn(('iovisor_endpoints', (('kind', 'local'),)), samples)


class ListenTest(testtools.TestCase):
    def test_host_and_port(self):
        self.assertEqual(('127.0.0.1', 9479),
                         metrics.parse_listen('127.0.0.1:9479'))
        self.assertEqual(('::1', 9479), metrics.parse_listen('[::1]:9479'))
        self.assertEqual(('0.0.0.0', 80), metrics.parse_listen('0.0.0.0:80'))

    def test_unparsable(self):
        for value in ('9479', 'localhost', '127.0.0.1:', '127.0.0.1:http',
                      '127.0.0.1:70000', '127.0.0.1:0', 'a:1/metrics',
                      'user@h:1', ':9479'):
            self.assertRaises(metrics.ListenError, metrics.parse_listen,
                              value)


class Conf:
    def __init__(self, listen, per_rule_limit=1000):
        self.listen = listen
        self.per_rule_limit = per_rule_limit


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


class ServeTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(name=metrics.__name__))

    def test_serves_and_stops(self):
        port = free_port()
        server = metrics.serve(Conf('127.0.0.1:%d' % port),
                               CountingDataplane([(allow(1, 2), 3, 30)]))
        self.addCleanup(server.close)
        body = urllib.request.urlopen(server.url, timeout=5).read().decode()
        self.assertIn('iovisor_rule_packets_total{action="allow",dst="2",'
                      'ports="any",protocol="any",src="1"} 3.0', body)
        self.assertIn('process_resident_memory_bytes', body)
        self.assertIn('metrics: serving http://127.0.0.1:%d/metrics' % port,
                      self.log.output)

    def test_empty_turns_it_off(self):
        self.assertIsNone(metrics.serve(Conf(''), CountingDataplane()))
        self.assertIn('metrics: off', self.log.output)

    def test_unparsable_is_logged_not_raised(self):
        self.assertIsNone(metrics.serve(Conf('nonsense'),
                                        CountingDataplane()))
        self.assertIn("metrics: not served: [metrics] listen 'nonsense' is "
                      "not HOST:PORT", self.log.output)

    def test_address_in_use_is_logged_not_raised(self):
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        listen = '127.0.0.1:%d' % busy.getsockname()[1]
        self.assertIsNone(metrics.serve(Conf(listen), CountingDataplane()))
        self.assertIn('metrics: not served: [metrics] listen %s: Address '
                      'already in use' % listen, self.log.output)


class StateFilesCollectorTest(testtools.TestCase):
    def test_failures_and_quarantined_files_are_read_on_scrape(self):
        state_dir = self.useFixture(fixtures.TempDir()).path
        collector = metrics.StateFilesCollector(state_dir)
        samples = scrape(collector)
        self.assertEqual(0, samples[('iovisor_endpoint_failures_total',
                                     (('kind', 'attach'),))])
        self.assertEqual(0, samples[('iovisor_quarantined_state_files',
                                     ())])
        failures.record(state_dir, 'attach', 'e1' * 32, 'veth1', 'EPERM')
        failures.record(state_dir, 'sandbox', 'e2' * 32, 'veth2', 'timeout')
        failures.record(state_dir, 'attach', 'e3' * 32, 'veth3', 'EPERM')
        with open(failures.path(state_dir), 'a') as damaged:
            damaged.write('{"kind": \n')
        os.makedirs(os.path.join(state_dir, 'endpoints'))
        bad = os.path.join(state_dir, 'endpoints', 'e4.json')
        with open(bad, 'w') as state:
            state.write('{')
        quarantine.move(state_dir, 'endpoints', bad, 'not JSON')
        samples = scrape(collector)
        self.assertEqual(2, samples[('iovisor_endpoint_failures_total',
                                     (('kind', 'attach'),))])
        self.assertEqual(1, samples[('iovisor_endpoint_failures_total',
                                     (('kind', 'sandbox'),))])
        self.assertEqual(1, samples[('iovisor_endpoint_failures_total',
                                     (('kind', 'unreadable'),))])
        self.assertEqual(1, samples[('iovisor_quarantined_state_files',
                                     ())])
