"""Prometheus metrics of a host's dataplane, read from the pins on scrape.

``DataplaneCollector`` reads the pinned maps each time Prometheus scrapes
(no polling loop: between scrapes nothing runs). ``serve`` starts
prometheus_client's HTTP server on ``[metrics] listen``.

Series per rule are bounded by ``[metrics] per_rule_limit``: the rules with
the most packets get their own series, the others are summed into one
series per action whose labels are all ``other`` (README "Metrics").
"""

import collections
import heapq
import importlib.metadata
import logging
import operator
import urllib.parse

from prometheus_client import core
from prometheus_client import exposition
from prometheus_client import process_collector

from magnum_iovisor.plugin import failures
from magnum_iovisor.plugin import quarantine
from magnum_iovisor import policy
from magnum_iovisor import telemetry

LOG = logging.getLogger(__name__)
OTHER = 'other'
RULE_LABELS = ('src', 'dst', 'protocol', 'ports', 'action')
REGISTRY_STATES = ('connecting', 'connected', 'suspended', 'lost')


class ListenError(ValueError):
    pass


def parse_listen(value):
    """``HOST:PORT`` (``[v6]:PORT``) as (host, port); ValueError if not."""
    try:
        parts = urllib.parse.urlsplit('//' + value)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ListenError('[metrics] listen %r: %s' % (value, exc))
    if not host or port is None or parts.path or parts.username:
        raise ListenError('[metrics] listen %r is not HOST:PORT (e.g. '
                          '127.0.0.1:9479 or [::1]:9479)' % value)
    if port == 0:
        raise ListenError('[metrics] listen %r: port 0' % value)
    return host, port


def package_version():
    try:
        return importlib.metadata.version('magnum-iovisor')
    except importlib.metadata.PackageNotFoundError:
        return 'unknown'


def top(rows, limit, packets):
    """The ``limit`` rows with most ``packets(row)`` (all when limit is 0)."""
    if not limit or len(rows) <= limit:
        return rows
    return heapq.nlargest(limit, rows, key=packets)


def totals(rows, key, *columns):
    """{key(row): [sum of each column]}, one pass per key and column."""
    keys = set(map(key, rows))
    return {k: [sum(row[c] for row in rows if key(row) == k)
                for c in columns] for k in keys}


class DataplaneCollector:
    """A custom collector: every family is read from the pins on collect."""

    def __init__(self, dataplane, registry=None, per_rule_limit=1000):
        self.dataplane = dataplane
        self.registry = registry
        self.per_rule_limit = per_rule_limit
        self._policy_digest = None
        self.generation = 0

    def describe(self):
        return []   # families are only known once the maps are read

    def collect(self):
        for part in (self._rules, self._denied, self._drops, self._audit,
                     self._endpoints, self._registry, self._build):
            try:
                yield from part()
            except Exception:   # one unreadable map must not hide the rest
                LOG.exception('metrics: %s failed', part.__name__)

    def _rules(self):
        # (src, dst, protocol, ports, action, packets, bytes)
        rows = self.dataplane.rule_counters()
        self._observe_generation()
        packets = core.CounterMetricFamily(
            'iovisor_rule_packets', 'Packets counted by each rule '
            '(those beyond [metrics] per_rule_limit summed as "other")',
            labels=RULE_LABELS)
        nbytes = core.CounterMetricFamily(
            'iovisor_rule_bytes', 'Bytes counted by each rule',
            labels=RULE_LABELS)
        kept = top(rows, self.per_rule_limit, operator.itemgetter(5))
        for src, dst, protocol, ports, action, n, b in kept:
            labels = telemetry.rule_labels(policy.Rule(
                src, dst, action, protocol, ports))
            packets.add_metric(labels, n)
            nbytes.add_metric(labels, b)
        if len(kept) < len(rows):
            # the rest: every rule's sum minus the kept ones', per action
            action = operator.itemgetter(4)
            shown = totals(kept, action, 5, 6)
            for value, (n, b) in sorted(totals(rows, action, 5, 6).items()):
                n_kept, b_kept = shown.get(value, (0, 0))
                labels = (OTHER, OTHER, OTHER, OTHER, value.value)
                packets.add_metric(labels, n - n_kept)
                nbytes.add_metric(labels, b - b_kept)
        count = core.GaugeMetricFamily(
            'iovisor_policy_rules', 'Rules in force', labels=('action',))
        by_action = collections.Counter(map(operator.itemgetter(4), rows))
        for action in policy.Action:
            count.add_metric((action.value,), by_action[action])
        generation = core.GaugeMetricFamily(
            'iovisor_policy_generation', 'How many times this daemon has '
            'seen the policy or the groups changed, counted at scrapes (1: '
            'unchanged since start)')
        generation.add_metric((), self.generation)
        return [packets, nbytes, count, generation]

    def _observe_generation(self):
        # the dataplane's generation: rewritten on every policy or group
        # change (bpf/maps.h STATE_GENERATION), one map read
        current = self.dataplane.generation()
        if current != self._policy_digest:
            self._policy_digest = current
            self.generation += 1

    def _denied(self):
        family = core.CounterMetricFamily(
            'iovisor_denied_packets', 'Packets of pairs of groups that '
            'have no rule (dropped, or passed by audit mode)',
            labels=('src', 'dst'))
        rows = self.dataplane.denied()
        kept = top(rows, self.per_rule_limit, operator.itemgetter(2))
        for src, dst, n, _ in kept:
            family.add_metric((telemetry.group_label(src),
                               telemetry.group_label(dst)), n)
        if len(kept) < len(rows):
            family.add_metric((OTHER, OTHER), sum(r[2] for r in rows)
                              - sum(r[2] for r in kept))
        return [family]

    def _drops(self):
        packets = core.CounterMetricFamily(
            'iovisor_drops', 'Packets dropped, by reason',
            labels=('reason',))
        nbytes = core.CounterMetricFamily(
            'iovisor_drop_bytes', 'Bytes dropped, by reason',
            labels=('reason',))
        for reason, (n, b) in sorted(self.dataplane.drops().items()):
            packets.add_metric((reason,), n)
            nbytes.add_metric((reason,), b)
        return [packets, nbytes]

    def _audit(self):
        would = core.CounterMetricFamily(
            'iovisor_would_drop', 'Packets the policy would have dropped '
            '(reason no_rule or deny_rule) that audit mode let pass; not '
            'in iovisor_drops_total', labels=('reason',))
        would_bytes = core.CounterMetricFamily(
            'iovisor_would_drop_bytes', 'Bytes of iovisor_would_drop',
            labels=('reason',))
        for reason, (n, b) in sorted(self.dataplane.would_drop().items()):
            would.add_metric((reason,), n)
            would_bytes.add_metric((reason,), b)
        mode = core.GaugeMetricFamily(
            'iovisor_audit_mode', '1 for each group in audit mode (policy '
            'drops pass); group "all": every group', labels=('group',))
        all_on, groups = self.dataplane.audit()
        mode.add_metric(('all',), int(all_on))
        for group in groups:
            mode.add_metric((telemetry.group_label(group),), 1)
        return [would, would_bytes, mode]

    def _endpoints(self):
        counts = self.dataplane.endpoint_counts()
        endpoints = core.GaugeMetricFamily(
            'iovisor_endpoints', 'Addresses in the endpoints map by kind: '
            'local (attached here), learned (from the registry), reserved '
            '(host, nodes), tagged (by hand)', labels=('kind',))
        prefixes = core.GaugeMetricFamily(
            'iovisor_prefixes', 'CIDR groups by kind: learned, reserved, '
            'tagged', labels=('kind',))
        for family, name in ((endpoints, 'endpoints'),
                             (prefixes, 'prefixes')):
            for kind, n in sorted(counts[name].items()):
                family.add_metric((kind,), n)
        return [endpoints, prefixes]

    def _registry(self):
        if self.registry is None:
            return []
        backend = type(self.registry).__name__
        state = self.registry.connection_state
        connected = core.GaugeMetricFamily(
            'iovisor_registry_connected', '1 while the registry is '
            'reachable (always 1 for the local backend)',
            labels=('backend',))
        connected.add_metric((backend,), int(state == 'connected'))
        states = core.GaugeMetricFamily(
            'iovisor_registry_state', 'The registry connection and session '
            'state: connecting, connected, suspended (connection lost, '
            'session alive), lost (session expired); 1 for the current one',
            labels=('backend', 'state'))
        for name in REGISTRY_STATES:
            states.add_metric((backend, name), int(state == name))
        return [connected, states]

    def _build(self):
        info = core.InfoMetricFamily(
            'iovisor_build', 'Package version and the digest of the '
            'classifiers in force')
        info.add_metric((), {'version': package_version(),
                             'dataplane': self.dataplane.version})
        return [info]


class StateFilesCollector:
    """What the driver's state directory says went wrong, read on scrape.

    Endpoints left without network because their filters could not be put
    on (``iovisor-policy failures``), by kind, and the state files set
    aside as unusable (``iovisor-policy quarantined``).
    """

    def __init__(self, state_dir):
        self.state_dir = state_dir

    def describe(self):
        return []

    def collect(self):
        found = core.CounterMetricFamily(
            'iovisor_endpoint_failures', 'Endpoints given no network because '
            'their filters could not be put on, by kind (attach: at Join; '
            'sandbox: it never appeared); unreadable: a damaged line',
            labels=('kind',))
        by_kind = collections.Counter(
            f.kind if f.kind in failures.KINDS else 'unreadable'
            for f in failures.listing(self.state_dir))
        for kind in failures.KINDS + ('unreadable',):
            found.add_metric((kind,), by_kind[kind])
        set_aside = core.GaugeMetricFamily(
            'iovisor_quarantined_state_files', 'State files moved aside as '
            'unusable (iovisor-policy quarantined)')
        set_aside.add_metric((), len(quarantine.listing(self.state_dir)))
        return [found, set_aside]


class Server:
    """prometheus_client's HTTP server for one collector registry."""

    def __init__(self, registry, host, port):
        self.httpd, self.thread = exposition.start_http_server(
            port, host, registry)
        self.url = 'http://%s:%d/metrics' % (
            '[%s]' % host if ':' in host else host, port)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def serve(conf, dataplane, registry_backend=None, state_dir=None):
    """Serve the metrics on ``conf.listen``; None when off or impossible.

    Never raises: a bad or busy address is logged and the daemon goes on
    without metrics.
    """
    if not conf.listen:
        LOG.info('metrics: off ([metrics] listen is empty)')
        return None
    try:
        host, port = parse_listen(conf.listen)
        registry = core.CollectorRegistry()
        registry.register(DataplaneCollector(dataplane, registry_backend,
                                             conf.per_rule_limit))
        if state_dir is not None:
            registry.register(StateFilesCollector(state_dir))
        process_collector.ProcessCollector(registry=registry)
        server = Server(registry, host, port)
    except ListenError as exc:
        LOG.error('metrics: not served: %s; serving Docker without metrics',
                  exc)
        return None
    except OSError as exc:
        LOG.error('metrics: not served: [metrics] listen %s: %s; serving '
                  'Docker without metrics', conf.listen, exc.strerror or exc)
        return None
    LOG.info('metrics: serving %s (per_rule_limit %d)', server.url,
             conf.per_rule_limit)
    return server
