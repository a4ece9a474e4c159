"""Benchmark a /metrics scrape at 100,000 rules; prints time, size, ratios.

Run as root from a checkout (``sudo .venv/bin/python
bench/metrics_scrape.py``). One pinned dataplane holds N rules with
counters spread over them; the collector renders the exposition text for
each ``[metrics] per_rule_limit``, configurations alternating within one
run so that they share the machine's noise. Nothing is sent anywhere.
"""

import argparse
import shutil
import statistics
import sys
import time
import uuid

sys.path.insert(0, '.')

from prometheus_client import core  # noqa: E402
from prometheus_client import exposition  # noqa: E402

from bench.dataplane import make_conf  # noqa: E402
from magnum_iovisor.dataplane import Dataplane  # noqa: E402
from magnum_iovisor import policy  # noqa: E402
from magnum_iovisor.telemetry import metrics  # noqa: E402


def fill(dataplane, count):
    dataplane.replace_policy(policy.parse_text(' '.join(
        '%d>%d' % (1000 + i // 1000, 5000 + i % 1000)
        for i in range(count))))
    policy_map = dataplane.maps['policy']
    # counters spread over the rules, so the top-N choice has work to do
    policy_map.set_many([(key, value._replace(packets=i * 7919 % count,
                                              bytes=i * 64))
                         for i, (key, value) in enumerate(policy_map.items())])


def scrape(dataplane, limit):
    registry = core.CollectorRegistry()
    registry.register(metrics.DataplaneCollector(dataplane, None, limit))
    started = time.perf_counter()
    body = exposition.generate_latest(registry)
    return time.perf_counter() - started, len(body)


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
                    seconds, sizes[limit] = scrape(dataplane, limit)
                    times[limit].append(seconds)
    finally:
        shutil.rmtree(pin_dir, ignore_errors=True)
    base = statistics.median(times[limits[0]])
    print('%d rules, %d rounds; reading the policy map alone: median %.3f s'
          % (args.rules, args.rounds, statistics.median(read)))
    print('%-16s %10s %12s %10s' % ('per_rule_limit', 'median s', 'bytes',
                                    'x time'))
    for limit in limits:
        median = statistics.median(times[limit])
        print('%-16s %10.3f %12d %10.2f'
              % (limit or '0 (all)', median, sizes[limit], median / base))


if __name__ == '__main__':
    main()
