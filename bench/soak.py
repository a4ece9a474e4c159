"""Soak: container create/remove cycles leave nothing behind.

``docker run --rm`` of a container that exits at once, CYCLES times, AT_ONCE
at a time, alternating between a veth and a macvlan iovisor network of one
private dockerd and one ``iovisor-docker-plugin``. Before (after a warm-up
round) and after, it counts the daemon's memory (VmRSS), file descriptors
and threads, the host's endpoint links, the endpoints map entries, the
endpoint state files, the pinned tcx links and the netns bindings
(endpoint_netns), prints both and the growth,
and exits 1 when anything is left or memory grew by MEMORY_LIMIT_MB or more.

    sudo .venv/bin/python -m bench.soak [--cycles 1000] [--at-once 20]
"""

import argparse
import concurrent.futures
import os
import subprocess
import sys
import time

from oslo_config import cfg

from magnum_iovisor import config
from magnum_iovisor.dataplane import Dataplane
from magnum_iovisor.dataplane import tcx
from tests.functional import dockerd
from tests.functional import plugin_daemon
from tests.functional import seed

MEMORY_LIMIT_MB = 20
LINK_PREFIXES = ('iv', 'ic', 'im', 'ip')


def status_kb(pid, field):
    with open('/proc/%d/status' % pid) as status:
        for line in status:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise LookupError(field)


def endpoint_links():
    out = subprocess.run(['ip', '-o', 'link'], capture_output=True,
                         text=True, check=True).stdout
    names = [line.split(':')[1].strip().split('@')[0]
             for line in out.splitlines()]
    return sorted(n for n in names if n.startswith(LINK_PREFIXES)
                  and len(n) == 13)


def snapshot(plugin, dataplane):
    pid = plugin.process.pid
    return {
        'rss_kb': status_kb(pid, 'VmRSS'),
        'fds': len(os.listdir('/proc/%d/fd' % pid)),
        'threads': len(os.listdir('/proc/%d/task' % pid)),
        'links': len(endpoint_links()),
        # the reserved groups' keeper tags new host addresses (the sites'
        # gateways, link-locals) within 10 s: not the cycles' entries
        'map_entries': len(set(e[0] for e in dataplane.endpoints())
                           - set(dataplane.reserved())),
        'netns_binds': len(dataplane.maps['endpoint_netns'].items()),
        'state_files': len([f for f in plugin.state_files()
                            if f.startswith('endpoints/')]),
        'tcx_pins': len([k for k in tcx.keys(plugin.pin_dir)
                         if not k.startswith('parent@')]),
    }


def cycle(engine, network, image):
    result = engine.docker('run', '--rm', '--network', network, '--expose',
                           '100/0', image, 'true', check=False)
    return result.returncode, result.stderr.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cycles', type=int, default=1000)
    parser.add_argument('--at-once', type=int, default=20)
    args = parser.parse_args()

    with dockerd.Dockerd() as engine, \
            plugin_daemon.PluginDaemon() as plugin:
        image = engine.import_busybox('mi-busybox:soak')
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf([], default_config_files=[])
        conf.set_override('pin_dir', plugin.pin_dir, 'dataplane')
        with seed.SeedSite(engine, plugin.name, 'veth') as veth, \
                seed.SeedSite(engine, plugin.name, 'macvlan') as mac, \
                Dataplane(conf.dataplane) as dataplane, \
                concurrent.futures.ThreadPoolExecutor(args.at_once) as pool:
            networks = (veth.network, mac.network)

            def run(count):
                return list(pool.map(
                    lambda i: cycle(engine, networks[i % 2], image),
                    range(count)))

            run(args.at_once)   # warm up: imports, first compile, caches
            before = snapshot(plugin, dataplane)
            entries_before = set(dataplane.endpoints())
            started = time.monotonic()
            results = run(args.cycles)
            elapsed = time.monotonic() - started
            time.sleep(2)   # let the last Leave/DeleteEndpoint land
            after = snapshot(plugin, dataplane)
            entries_after = set(dataplane.endpoints())
    failed = [err for code, err in results if code]
    print('%d cycles, %d at a time, %.0f s (%.1f cycles/s), %d failed'
          % (args.cycles, args.at_once, elapsed, args.cycles / elapsed,
             len(failed)))
    for err in sorted(set(failed))[:5]:
        print('  failure:', err)
    print('%-12s %10s %10s %10s' % ('', 'before', 'after', 'growth'))
    for key in before:
        print('%-12s %10d %10d %10d' % (key, before[key], after[key],
                                        after[key] - before[key]))
    grown_mb = (after['rss_kb'] - before['rss_kb']) / 1024
    print('daemon memory growth: %.1f MB (limit %d MB)'
          % (grown_mb, MEMORY_LIMIT_MB))
    leaks = {k: after[k] - before[k] for k in before
             if k != 'rss_kb' and after[k] > before[k]}
    if leaks or failed or grown_mb >= MEMORY_LIMIT_MB:
        print('FAIL: left behind %s' % leaks)
        for entry in sorted(entries_after - entries_before):
            print('  map entry left:', entry)
        return 1
    print('OK: nothing left behind')
    return 0


if __name__ == '__main__':
    sys.exit(main())
