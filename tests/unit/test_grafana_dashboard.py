"""etc/grafana/: the committed JSON is what the generator makes, on metrics
the daemon exports."""

import importlib.util
import json
import os
import re

import testtools

from magnum_iovisor import policy
from magnum_iovisor.telemetry import metrics
from tests.unit import test_metrics

GRAFANA_DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'etc',
                           'grafana')


def generator():
    spec = importlib.util.spec_from_file_location(
        'dashboard', os.path.join(GRAFANA_DIR, 'dashboard.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed():
    with open(os.path.join(GRAFANA_DIR, 'magnum-iovisor.json')) as source:
        return source.read()


def expressions(dashboard):
    return [t['expr'] for panel in dashboard['panels']
            for t in panel.get('targets', [])]


class DashboardTest(testtools.TestCase):
    def test_committed_json_is_generated(self):
        self.assertEqual(generator().render(), committed())

    def test_every_query_names_an_exported_metric(self):
        dp = test_metrics.CountingDataplane(
            rules=[(policy.Rule(1, 2, policy.Action.ALLOW), 1, 1)],
            denied=[(0, 2, 1, 1)])
        exported = {name for name, _ in test_metrics.scrape(
            metrics.DataplaneCollector(dp, test_metrics.StateRegistry(
                'connected')))}
        dashboard = json.loads(committed())
        used = set()
        for expr in expressions(dashboard):
            names = re.findall(r'\biovisor_[a-z_]+', expr)
            self.assertTrue(names, expr)
            used.update(names)
        self.assertEqual(set(), used - exported)
        self.assertEqual('magnum-iovisor', dashboard['uid'])
        self.assertEqual(['datasource', 'instance'],
                         [t['name'] for t in dashboard['templating']['list']])
