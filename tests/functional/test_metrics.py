"""``/metrics`` of a real iovisor-docker-plugin: real containers, real drops.

The daemon serves its metrics on a loopback port picked free for the test;
traffic flows only between the namespaces and containers the tests make.
"""

import os
import socket
import subprocess
import sys
import tempfile
import urllib.request

from prometheus_client import parser
import testtools

from magnum_iovisor import policy
from tests.functional import plugin_daemon
from tests.functional import seed
from tests.functional import test_docker_plugin


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def scrape(url, timeout=10):
    """{(name, ((label, value), ...)): value} of one scrape, and its size."""
    body = urllib.request.urlopen(url, timeout=timeout).read().decode()
    samples = {}
    for family in parser.text_string_to_metric_families(body):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = \
                sample.value
    return samples, len(body)


def rule(src, dst, action='allow'):
    return (('action', action), ('dst', str(dst)), ('ports', 'any'),
            ('protocol', 'any'), ('src', str(src)))


class MetricsTrafficTest(test_docker_plugin.DockerPluginTestCase):
    port = free_port()
    plugin_options = {'metrics_listen': '127.0.0.1:%d' % port}

    def setUp(self):
        super().setUp()
        self.url = 'http://127.0.0.1:%d/metrics' % self.port

    def value(self, samples, name, labels):
        return samples.get((name, labels), 0)

    def test_counters_move_with_container_traffic(self):
        site = self.site()
        self.load_seed_policy()
        hosts = seed.start_seed(site, self.image, self.prefix)
        before, _ = scrape(self.url)
        self.assertEqual(3, before['iovisor_endpoints', (('kind', 'local'),)])
        self.assertTrue(site.ping(hosts['web'][0], hosts['db'][1]))
        self.assertFalse(site.ping(None, hosts['db'][1]))
        after, _ = scrape(self.url)

        def moved(name, labels):
            return (self.value(after, name, labels)
                    - self.value(before, name, labels))
        # v2: the reply belongs to the connection web opened, and is
        # counted in the rule that let web open it
        self.assertEqual(2, moved('iovisor_rule_packets_total',
                                  rule(100, 200)))
        self.assertEqual(2 * 98, moved('iovisor_rule_bytes_total',
                                       rule(100, 200)))
        self.assertEqual(0, moved('iovisor_rule_packets_total',
                                  rule(200, 100)))
        self.assertGreaterEqual(moved('iovisor_drops_total',
                                      (('reason', 'no_rule'),)), 1)
        # the outside is neither an endpoint nor the host: the world
        self.assertGreaterEqual(moved('iovisor_denied_packets_total',
                                      (('dst', '200'), ('src', 'world'))), 1)
        self.assertEqual(0, moved('iovisor_drops_total',
                                  (('reason', 'deny_rule'),)))

    def test_deny_rule_drops_move_their_reason(self):
        site = self.site()
        self.load_seed_policy()
        hosts = seed.start_seed(site, self.image, self.prefix)
        self.open_dataplane().set_rule(100, 200, policy.Action.DENY)
        before, _ = scrape(self.url)
        self.assertFalse(site.ping(hosts['web'][0], hosts['db'][1]))
        after, _ = scrape(self.url)
        key = ('iovisor_drops_total', (('reason', 'deny_rule'),))
        self.assertGreaterEqual(after[key] - before.get(key, 0), 1)
        deny = ('iovisor_rule_packets_total', rule(100, 200, 'deny'))
        self.assertGreaterEqual(after[deny] - before.get(deny, 0), 1)
        self.assertEqual(1, after['iovisor_registry_connected',
                                  (('backend', 'LocalRegistry'),)])


class BadListenTest(testtools.TestCase):
    def daemon(self, listen):
        daemon = self.useFixture(plugin_daemon.PluginDaemon(
            metrics_listen=listen))
        # start() returned: the daemon answers Docker's Plugin.Activate
        self.assertEqual(200, daemon.request('Plugin.Activate', b'{}')[0])
        return daemon

    def test_unparsable_listen_is_logged_and_docker_served(self):
        daemon = self.daemon('localhost')
        self.assertIn("metrics: not served: [metrics] listen 'localhost' is "
                      "not HOST:PORT", daemon.log())

    def test_listen_in_use_is_logged_and_docker_served(self):
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        listen = '127.0.0.1:%d' % busy.getsockname()[1]
        daemon = self.daemon(listen)
        self.assertIn('metrics: not served: [metrics] listen %s: Address '
                      'already in use' % listen, daemon.log())

    def test_served_is_logged(self):
        listen = '127.0.0.1:%d' % free_port()
        daemon = self.daemon(listen)
        self.assertIn('metrics: serving http://%s/metrics' % listen,
                      daemon.log())


class ScrapeDuringLoadTest(testtools.TestCase):
    """Scrapes while ``iovisor-policy load`` writes 100,000 rules.

    Each must complete and be whole; how long they take is measured by
    bench/metrics_scrape.py, not asserted here.
    """

    RULES = 100000

    def test_scrapes_during_a_load_are_complete(self):
        listen = '127.0.0.1:%d' % free_port()
        daemon = self.useFixture(plugin_daemon.PluginDaemon(
            metrics_listen=listen))
        url = 'http://%s/metrics' % listen
        document = ' '.join('%d>%d' % (1000 + i // 1000, 5000 + i % 1000)
                            for i in range(self.RULES))
        fd, path = tempfile.mkstemp(suffix='.txt')
        self.addCleanup(os.unlink, path)
        with os.fdopen(fd, 'w') as out:
            out.write(document)
        load = subprocess.Popen(
            [sys.executable, '-m', 'magnum_iovisor.cmd.policy', '--pin-dir',
             daemon.pin_dir, 'load', path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(load.wait)
        during = []
        while load.poll() is None:
            during.append(scrape(url)[0])
        out, err = load.communicate()
        self.assertEqual(0, load.returncode, err)
        self.assertIn('%d rules in force' % self.RULES, out)
        self.assertTrue(during, 'no scrape ran during the load')
        for samples in during:
            # every family there, whatever the load had written so far
            names = {name for name, _ in samples}
            self.assertLessEqual(
                {'iovisor_policy_rules', 'iovisor_drops_total',
                 'iovisor_endpoints', 'iovisor_build_info'}, names)
            rules = samples['iovisor_policy_rules', (('action', 'allow'),)]
            series = [k for k in samples
                      if k[0] == 'iovisor_rule_packets_total']
            self.assertEqual(min(rules, 1000) + (rules > 1000), len(series))
        samples, size = scrape(url)
        series = [k for k in samples if k[0] == 'iovisor_rule_packets_total']
        # [metrics] per_rule_limit (1000) own series + one "other" (allow)
        self.assertEqual(1001, len(series))
        self.assertEqual(self.RULES, samples['iovisor_policy_rules',
                                             (('action', 'allow'),)])
