"""Benchmark /metrics at 100,000 rules; prints times, sizes and ratios.

Run as root from a checkout (``.tox/functional/bin/python
bench/metrics_scrape.py``). Two parts, nothing sent off the loopback:

1. One pinned dataplane holds N rules (port ranges among them) with
   counters spread over them; the collector renders the exposition text for
   each ``[metrics] per_rule_limit``, configurations alternating within one
   run so that they share the machine's noise.
2. The real HTTP server (``telemetry.metrics.serve``) is scraped over and
   over while ``iovisor-policy load`` writes N rules into the same pins:
   the slowest scrape is the figure issue 12 asks for (< 1 s).
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

sys.path.insert(0, '.')

from prometheus_client import core  # noqa: E402
from prometheus_client import exposition  # noqa: E402

from bench.classifier import make_conf  # noqa: E402
from magnum_iovisor.dataplane import Dataplane  # noqa: E402
from magnum_iovisor import policy  # noqa: E402
from magnum_iovisor.telemetry import metrics  # noqa: E402


def rules_text(count):
    # every tenth rule a port range, as a real policy might have
    return ' '.join('%d>%d%s' % (1000 + i // 1000, 5000 + i % 1000,
                                 ':tcp/8000-8080' if i % 10 == 0 else '')
                    for i in range(count))


def fill(dataplane, count):
    dataplane.replace_policy(policy.parse_text(rules_text(count)))
    counters = dataplane.maps['counters']
    cpus = counters.value.cpus
    # counters spread over the rules, so the top-N choice has work to do
    counters.set_many([((i,), [(i * 7919 % count, i * 64)] * cpus)
                       for i in range(count)])


def render(dataplane, limit):
    registry = core.CollectorRegistry()
    registry.register(metrics.DataplaneCollector(dataplane, None, limit))
    started = time.perf_counter()
    body = exposition.generate_latest(registry)
    return time.perf_counter() - started, len(body)


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


class Conf:
    def __init__(self, listen, per_rule_limit):
        self.listen, self.per_rule_limit = listen, per_rule_limit


def during_load(dataplane, pin_dir, count):
    """[(seconds, bytes)] of scrapes while ``load`` writes ``count`` rules."""
    server = metrics.serve(Conf('127.0.0.1:%d' % free_port(), 1000),
                           dataplane)
    fd, path = tempfile.mkstemp(suffix='.txt')
    with os.fdopen(fd, 'w') as out:
        out.write(rules_text(count))
    scrapes = []
    try:
        load = subprocess.Popen(
            [sys.executable, '-m', 'magnum_iovisor.cmd.policy', '--pin-dir',
             pin_dir, 'load', path], stdout=subprocess.DEVNULL)
        while load.poll() is None:
            started = time.perf_counter()
            body = urllib.request.urlopen(server.url, timeout=60).read()
            scrapes.append((time.perf_counter() - started, len(body)))
        if load.returncode:
            raise SystemExit('iovisor-policy load failed: %d'
                             % load.returncode)
    finally:
        server.close()
        os.unlink(path)
    return scrapes


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--rules', type=int, default=100000)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--limits', default='100,1000,10000,0')
    args = parser.parse_args()
    limits = [int(x) for x in args.limits.split(',')]
    pin_dir = '/sys/fs/bpf/bench-metrics-%s' % uuid.uuid4().hex[:8]
    try:
        with Dataplane(make_conf(pin_dir).dataplane) as dataplane:
            fill(dataplane, args.rules)
            times = {limit: [] for limit in limits}
            sizes = {}
            read = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                dataplane.rule_counters()
                read.append(time.perf_counter() - started)
                for limit in limits:
                    seconds, sizes[limit] = render(dataplane, limit)
                    times[limit].append(seconds)
            dataplane.replace_policy(policy.parse_text(''))
            scrapes = during_load(dataplane, pin_dir, args.rules)
    finally:
        shutil.rmtree(pin_dir, ignore_errors=True)
    base = statistics.median(times[limits[0]])
    print('%d rules, %d rounds; reading rules + counters alone: median '
          '%.3f s' % (args.rules, args.rounds, statistics.median(read)))
    print('%-16s %10s %12s %10s' % ('per_rule_limit', 'median s', 'bytes',
                                    'x time'))
    for limit in limits:
        median = statistics.median(times[limit])
        print('%-16s %10.3f %12d %10.2f'
              % (limit or '0 (all)', median, sizes[limit], median / base))
    seconds = [s for s, _ in scrapes]
    print('HTTP scrapes during `iovisor-policy load` of %d rules '
          '(per_rule_limit 1000): %d scrapes, median %.3f s, max %.3f s '
          '(target < 1 s: %s)'
          % (args.rules, len(seconds), statistics.median(seconds),
             max(seconds), 'met' if max(seconds) < 1 else 'NOT met'))


if __name__ == '__main__':
    main()
