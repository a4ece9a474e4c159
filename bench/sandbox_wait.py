"""What waiting for interfaces to reach their sandboxes costs, two ways.

N waiters run as the daemon's sandbox watchers do, in a namespace made
here standing for the slave, each for its own interface and its own
sandbox namespace. For ``--wait`` seconds nothing moves, and the CPU the
process spends is measured; then every interface is moved in, and the time
from each move until its waiter returns is measured. Once polling every
10 ms at most (no ``Departures``), once woken by the kernel's notice of the
move (``sandbox.Departures``); the CPU ratio is printed.

    sudo .venv/bin/python -m bench.sandbox_wait [--waiters 20] [--wait 10]
"""

import argparse
import statistics
import threading
import time
import uuid

from magnum_iovisor.dataplane import attach as tc
from magnum_iovisor.plugin import sandbox
from tests.functional import topology


def ip(*args):
    topology.run('ip', *args)


class Site:
    def __init__(self, waiters):
        self.prefix = 'mib%s' % uuid.uuid4().hex[:4]
        self.slave = self.prefix + 's'
        self.count = waiters
        self.made = []

    def __enter__(self):
        for ns in [self.slave] + [self.box(n) for n in range(self.count)]:
            ip('netns', 'add', ns)
            self.made.append(ns)
        for n in range(self.count):
            ip('-n', self.slave, 'link', 'add', self.ifname(n), 'type',
               'veth', 'peer', 'name', self.ifname(n) + 'p')
            ip('-n', self.slave, 'link', 'set', self.ifname(n), 'alias',
               self.alias(n))
        return self

    def __exit__(self, *exc):
        for ns in self.made:
            topology.run('ip', 'netns', 'del', ns, check=False)

    def box(self, n):
        return '%sc%d' % (self.prefix, n)

    def ifname(self, n):
        return '%si%d' % (self.prefix, n)

    def alias(self, n):
        return 'iovisor-bench-%s-%d' % (self.prefix, n)


def run(site, departures, wait):
    arrived = {}
    stop = threading.Event()

    def waiter(n):
        with tc.in_netns(site.slave):
            sandbox.wait_for_link('/run/netns/' + site.box(n), site.alias(n),
                                  wait * 10, stop.is_set, departures)
        arrived[n] = time.monotonic()

    threads = [threading.Thread(target=waiter, args=(n,), daemon=True)
               for n in range(site.count)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)   # all of them started
    cpu = time.process_time()
    time.sleep(wait)
    cpu = time.process_time() - cpu
    latency = []
    for n in range(site.count):
        moved = time.monotonic()
        ip('-n', site.slave, 'link', 'set', site.ifname(n), 'netns',
           site.box(n))
        threads[n].join(30)
        latency.append(arrived.get(n, float('inf')) - moved)
    stop.set()
    return cpu / wait, latency


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--waiters', type=int, default=20)
    parser.add_argument('--wait', type=float, default=10.0)
    args = parser.parse_args()
    results = {}
    for name in ('polling', 'departures'):
        departures = sandbox.Departures() if name == 'departures' else None
        try:
            with Site(args.waiters) as site:
                results[name] = run(site, departures, args.wait)
        finally:
            if departures:
                departures.close()
    print('%d waiters, %.0f s before the moves:' % (args.waiters, args.wait))
    for name, (cpu, latency) in results.items():
        print('  %-10s CPU %5.1f %% of a core; move -> found: median %.1f '
              'ms, max %.1f ms' % (name, cpu * 100,
                                   statistics.median(latency) * 1000,
                                   max(latency) * 1000))
    polling, departures = results['polling'][0], results['departures'][0]
    print('CPU ratio polling / departures: %.0f'
          % (polling / max(departures, 1e-6)))


if __name__ == '__main__':
    main()
