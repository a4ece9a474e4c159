"""``docker run --rm`` on iovisor networks against Docker's own bridge.

One run, side by side on one private dockerd: the wall time of
``docker run --rm IMAGE true`` on a veth and a macvlan iovisor network and
on a user-defined bridge network, interleaved, then the ratios of the
medians (target: <= 1.15), and for macvlan the time from Join until the
programs are attached inside the container, from the daemon's log.

    sudo .venv/bin/python -m bench.docker_run [--runs N]
"""

import argparse
import re
import statistics
import time
import uuid

from tests.functional import dockerd
from tests.functional import plugin_daemon
from tests.functional import seed

ATTACHED = re.compile(r'there ([0-9.]+) ms after Join, attached ([0-9.]+) '
                      r'ms later')


def timed_run(engine, network, image):
    started = time.monotonic()
    engine.docker('run', '--rm', '--network', network, image, 'true')
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=15)
    args = parser.parse_args()

    with dockerd.Dockerd() as engine, \
            plugin_daemon.PluginDaemon() as plugin:
        image = engine.import_busybox('mi-busybox:bench')
        bridge = 'mi-bridge-' + uuid.uuid4().hex[:8]
        engine.docker('network', 'create', '-d', 'bridge', '--subnet',
                      str(seed.free_subnets()[0]), bridge)
        try:
            with seed.SeedSite(engine, plugin.name, 'veth') as veth, \
                    seed.SeedSite(engine, plugin.name, 'macvlan') as mac:
                networks = {'bridge': bridge, 'iovisor veth': veth.network,
                            'iovisor macvlan': mac.network}
                times = {name: [] for name in networks}
                for name, network in networks.items():   # warm up
                    timed_run(engine, network, image)
                for _ in range(args.runs):
                    for name, network in networks.items():
                        times[name].append(timed_run(engine, network, image))
        finally:
            engine.docker('network', 'rm', bridge, check=False)
        with open(plugin.log_path) as log:
            attach_ms = [(float(m.group(1)), float(m.group(2)))
                         for m in ATTACHED.finditer(log.read())]

    base = statistics.median(times['bridge'])
    print('docker run --rm, %d runs each, median wall time:' % args.runs)
    for name, samples in times.items():
        median = statistics.median(samples)
        print('  %-16s %7.1f ms  ratio %.2f' % (name, median * 1000,
                                                median / base))
    if attach_ms:
        arrive = [a for a, _ in attach_ms]
        attach = [b for _, b in attach_ms]
        total = [a + b for a, b in attach_ms]
        print('macvlan, %d containers: Join -> programs attached median '
              '%.1f ms (max %.1f): Docker moved the interface in after '
              '%.1f ms, then attaching took %.1f ms (max %.1f)'
              % (len(attach_ms), statistics.median(total), max(total),
                 statistics.median(arrive), statistics.median(attach),
                 max(attach)))


if __name__ == '__main__':
    main()
