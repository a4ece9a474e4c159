"""The Grafana dashboard of magnum-iovisor's metrics, with grafanalib.

``python etc/grafana/dashboard.py > etc/grafana/magnum-iovisor.json``
regenerates the JSON that is committed next to it (import it in Grafana,
with a Prometheus data source scraping every slave's iovisor-docker-plugin
at ``[metrics] listen``); tests/unit/test_grafana_dashboard.py checks the
two agree and that every query names a metric the daemon exports.
"""

import json
import sys

from grafanalib._gen import DashboardEncoder
from grafanalib import core

DATASOURCE = '${datasource}'
SELECTOR = 'instance=~"$instance"'


def target(expr, legend, ref='A'):
    return core.Target(expr=expr, legendFormat=legend, refId=ref,
                       datasource=DATASOURCE)


def series(title, targets, unit='pps', x=0, y=0, w=12, h=8):
    return core.TimeSeries(title=title, dataSource=DATASOURCE,
                           targets=targets, unit=unit,
                           gridPos=core.GridPos(h=h, w=w, x=x, y=y))


def stat(title, expr, legend, x, y, w=4, h=4):
    return core.Stat(title=title, dataSource=DATASOURCE,
                     targets=[target(expr, legend)], reduceCalc='lastNotNull',
                     gridPos=core.GridPos(h=h, w=w, x=x, y=y))


def dashboard():
    return core.Dashboard(
        title='magnum-iovisor',
        uid='magnum-iovisor',
        description='Network policy of the Mesos bay: rule counters, drops '
                    'by reason, denied pairs, audit mode, endpoints, '
                    'registry',
        tags=['magnum-iovisor', 'ebpf'],
        timezone='utc',
        refresh='30s',
        time=core.Time('now-1h', 'now'),
        templating=core.Templating(list=[
            core.Template(name='datasource', type='datasource',
                          query='prometheus', label='Data source'),
            core.Template(name='instance', label='Slave',
                          dataSource=DATASOURCE,
                          query='label_values(iovisor_build_info, instance)',
                          includeAll=True, multi=True, default='$__all'),
        ]),
        panels=[
            stat('Rules in force', 'sum(iovisor_policy_rules{%s})'
                 % SELECTOR, 'rules', 0, 0),
            stat('Policy generation', 'max(iovisor_policy_generation{%s})'
                 % SELECTOR, 'generation', 4, 0),
            stat('Local endpoints', 'sum(iovisor_endpoints{kind="local",%s})'
                 % SELECTOR, 'local', 8, 0),
            stat('Learned endpoints',
                 'sum(iovisor_endpoints{kind="learned",%s})' % SELECTOR,
                 'learned', 12, 0),
            stat('Registry disconnected',
                 'count(iovisor_registry_connected{%s} == 0) or vector(0)'
                 % SELECTOR, 'slaves', 16, 0),
            stat('Drops /s', 'sum(rate(iovisor_drops_total{%s}[5m]))'
                 % SELECTOR, 'drops', 20, 0, w=2),
            stat('Audit mode on', 'count(iovisor_audit_mode{%s} == 1) or '
                 'vector(0)' % SELECTOR, 'groups', 22, 0, w=2),
            series('Packets by rule', [target(
                'sum by (src, dst, protocol, ports, action) '
                '(rate(iovisor_rule_packets_total{%s}[5m]))' % SELECTOR,
                '{{src}} > {{dst}} {{protocol}} {{ports}} {{action}}')],
                y=4),
            series('Drops by reason', [target(
                'sum by (reason) (rate(iovisor_drops_total{%s}[5m]))'
                % SELECTOR, '{{reason}}')], x=12, y=4),
            series('Denied pairs (no rule), top 10', [target(
                'topk(10, sum by (src, dst) '
                '(rate(iovisor_denied_packets_total{%s}[5m])))' % SELECTOR,
                '{{src}} > {{dst}}')], y=12),
            series('Bytes by rule', [target(
                'sum by (src, dst, action) '
                '(rate(iovisor_rule_bytes_total{%s}[5m]))' % SELECTOR,
                '{{src}} > {{dst}} {{action}}')], unit='Bps', x=12, y=12),
            series('Would drop (audit mode passed them), by reason',
                   [target('sum by (reason) '
                           '(rate(iovisor_would_drop_total{%s}[5m]))'
                           % SELECTOR, '{{reason}}')], y=26),
            series('Groups in audit mode (policy NOT enforced)', [target(
                'iovisor_audit_mode{%s} == 1' % SELECTOR,
                '{{instance}} {{group}}')], unit='short', x=12, y=26),
            series('Registry state', [target(
                'iovisor_registry_state{%s} == 1' % SELECTOR,
                '{{instance}} {{state}}')], unit='short', y=20, h=6),
            core.Table(title='Build', dataSource=DATASOURCE,
                       targets=[core.Target(
                           expr='iovisor_build_info{%s}' % SELECTOR,
                           format='table', instant=True, refId='A',
                           datasource=DATASOURCE)],
                       gridPos=core.GridPos(h=6, w=12, x=12, y=20)),
        ],
    ).auto_panel_ids()


def render():
    return json.dumps(dashboard().to_json_data(), cls=DashboardEncoder,
                      sort_keys=True, indent=2) + '\n'


if __name__ == '__main__':
    sys.stdout.write(render())
