"""Benchmark the dataplane; prints figures and ratios against no filter.

Run as root from a checkout (``sudo .venv/bin/python bench/dataplane.py``).
Traffic flows only between namespaces this script makes (web -> slave ->
db, two enforcement points); configurations alternate within one run so
that they share the machine's noise:

  none     no filter attached
  seed     the seed's policy and endpoints
  100k     the seed plus 100,000 unrelated endpoints and 100,000 rules

Then the classifier's cost per packet through BPF_PROG_TEST_RUN at 0,
1,000, 100,000 and 1,000,000 map entries, the time to load a 100,000-rule
policy, and how soon a new process enforces again on reused pins.
"""

import argparse
import json
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time
import uuid

sys.path.insert(0, '.')

from oslo_config import cfg  # noqa: E402

from magnum_iovisor import config  # noqa: E402
from magnum_iovisor.dataplane import Dataplane  # noqa: E402
from magnum_iovisor.dataplane import layout  # noqa: E402
from magnum_iovisor import policy  # noqa: E402
from tests.functional import topology  # noqa: E402

SEED = '100>0 0>100 100>100 200>100 100>200'


def make_conf(pin_dir):
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override('pin_dir', pin_dir, 'dataplane')
    return conf


def bulk_entries(dataplane, count):
    """``count`` unrelated endpoints (172.16/12) and rules (groups 1000+)."""
    endpoints = [((socket.htonl(0xAC100000 + i),), (1000 + i % 60000, 0, 0))
                 for i in range(count)]
    rules = [((1000 + i // 60000, 1000 + i % 60000),
              (layout.Action.ALLOW, 0, 0, 0)) for i in range(count)]
    for start in range(0, count, 65536):
        dataplane.maps['endpoints'].set_many(endpoints[start:start + 65536])
        dataplane.maps['policy'].set_many(rules[start:start + 65536])


def iperf(net, args, seconds):
    server = net.spawn('db', 'iperf3', '-s', '-1', '-p', '5201')
    time.sleep(0.3)
    out = topology.nsexec(net.hosts['web'][0], 'iperf3', '-c',
                          net.hosts['db'][1], '-p', '5201', '-J', '-t',
                          str(seconds), *args, timeout=seconds + 30).stdout
    server.wait(timeout=10)
    return json.loads(out)['end']


def traffic(rounds, seconds):
    results = {name: {'tcp_gbps': [], 'udp_kpps': []}
               for name in ('none', 'seed', '100k')}
    for _ in range(rounds):
        for name in results:
            pin_dir = '/sys/fs/bpf/bench-%s' % uuid.uuid4().hex[:8]
            net = topology.Topology()
            try:
                for host, address in (('web', '10.1.0.3'),
                                      ('db', '10.1.0.4')):
                    net.add_endpoint(host, address)
                if name != 'none':
                    with Dataplane(make_conf(pin_dir).dataplane) as dp:
                        if name == '100k':
                            bulk_entries(dp, 100000)
                        dp.replace_policy(policy.parse(SEED))
                        for host, group in (('web', 100), ('db', 200)):
                            dp.attach(net.host_ifaces[host],
                                      net.hosts[host][1], group,
                                      netns=net.slave, sandbox_side=False)
                tcp = iperf(net, [], seconds)
                results[name]['tcp_gbps'].append(
                    tcp['sum_received']['bits_per_second'] / 1e9)
                udp = iperf(net, ['-u', '-b', '0', '-l', '18'], seconds)
                packets = udp['sum']['packets'] * (
                    1 - udp['sum']['lost_percent'] / 100)
                results[name]['udp_kpps'].append(
                    packets / udp['sum']['seconds'] / 1000)
            finally:
                net.cleanup()
                shutil.rmtree(pin_dir, ignore_errors=True)
    return results


def ipv4_frame(src, dst):
    payload = b'x' * 18
    header = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + 8 + len(payload), 0,
                         0, 64, 17, 0, socket.inet_aton(src),
                         socket.inet_aton(dst))
    udp = struct.pack('!HHHH', 1000, 2000, 8 + len(payload), 0)
    return (b'\x02' * 6 + b'\x04' * 6 + b'\x08\x00' + header + udp
            + payload)


def per_packet_cost(sizes, repeat):
    results = {}
    for size in sizes:
        pin_dir = '/sys/fs/bpf/bench-%s' % uuid.uuid4().hex[:8]
        conf = make_conf(pin_dir)
        try:
            with Dataplane(conf.dataplane) as dp:
                bulk_entries(dp, size)
                dp.replace_policy(policy.parse(SEED))
                dp.tag('10.1.0.3', 100, ifindex=1)
                dp.tag('10.1.0.4', 200)
                frame = ipv4_frame('10.1.0.3', '10.1.0.4')
                runs = [dp.test_run('from_endpoint', frame, repeat)[1]
                        for _ in range(5)]
                assert dp.test_run('from_endpoint', frame)[0] == 0
                results[size] = statistics.median(runs)
        finally:
            shutil.rmtree(pin_dir, ignore_errors=True)
    return results


def policy_load(count):
    pin_dir = '/sys/fs/bpf/bench-%s' % uuid.uuid4().hex[:8]
    text = ' '.join('%d>%d' % (1000 + i // 60000, 1000 + i % 60000)
                    for i in range(count))
    try:
        with Dataplane(make_conf(pin_dir).dataplane) as dp:
            start = time.perf_counter()
            parsed = policy.parse(text)
            parsed_at = time.perf_counter()
            dp.replace_policy(parsed)
            applied_at = time.perf_counter()
            assert len(dp.policy()) == count
            again = time.perf_counter()
            dp.replace_policy(parsed)          # no change: an empty diff
            unchanged_at = time.perf_counter()
        return {'parse_s': parsed_at - start,
                'apply_s': applied_at - parsed_at,
                'total_s': applied_at - start,
                'reapply_unchanged_s': unchanged_at - again}
    finally:
        shutil.rmtree(pin_dir, ignore_errors=True)


RESTART = '''
import time
start = time.perf_counter()
import sys
sys.path.insert(0, '.')
from oslo_config import cfg
from magnum_iovisor import config
from magnum_iovisor.dataplane import Dataplane
conf = cfg.ConfigOpts(); config.register_opts(conf)
conf([], default_config_files=[])
conf.set_override('pin_dir', sys.argv[1], 'dataplane')
opened_from = time.perf_counter()
dp = Dataplane(conf.dataplane)
opened = time.perf_counter()
dp.attach(sys.argv[3], '10.1.0.3', 100, netns=sys.argv[2],
          sandbox_side=False)
done = time.perf_counter()
print(opened - opened_from, done - opened_from, done - start,
      dp.compiled)
'''


def restart():
    pin_dir = '/sys/fs/bpf/bench-%s' % uuid.uuid4().hex[:8]
    net = topology.Topology()
    try:
        net.add_endpoint('web', '10.1.0.3')
        with Dataplane(make_conf(pin_dir).dataplane) as dp:
            dp.replace_policy(policy.parse(SEED))
        runs = []
        for _ in range(5):
            out = subprocess.run(
                [sys.executable, '-c', RESTART, pin_dir, net.slave,
                 net.host_ifaces['web']], capture_output=True, text=True,
                check=True).stdout.split()
            assert out[3] == 'False', 'a restart must not recompile'
            runs.append(tuple(float(x) for x in out[:3]))
        return {'open_pins_s': statistics.median(r[0] for r in runs),
                'open_and_reattach_s': statistics.median(r[1] for r in runs),
                'with_interpreter_start_s': statistics.median(
                    r[2] for r in runs)}
    finally:
        net.cleanup()
        shutil.rmtree(pin_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--seconds', type=int, default=4)
    parser.add_argument('--repeat', type=int, default=200000)
    parser.add_argument('--skip-traffic', action='store_true')
    parser.add_argument('--traffic-only', action='store_true')
    args = parser.parse_args()

    if not args.skip_traffic:
        results = traffic(args.rounds, args.seconds)
        base_tcp = statistics.median(results['none']['tcp_gbps'])
        base_udp = statistics.median(results['none']['udp_kpps'])
        print('traffic (median of %d rounds, %d s each)'
              % (args.rounds, args.seconds))
        print('  %-6s %10s %8s %10s %8s' % ('config', 'TCP Gb/s', 'ratio',
                                            'UDP kpps', 'ratio'))
        for name, figures in results.items():
            tcp = statistics.median(figures['tcp_gbps'])
            udp = statistics.median(figures['udp_kpps'])
            print('  %-6s %10.2f %8.3f %10.1f %8.3f'
                  % (name, tcp, tcp / base_tcp, udp, udp / base_udp))

    if args.traffic_only:
        return
    costs = per_packet_cost((0, 1000, 100000, 1000000), args.repeat)
    print('per-packet cost through BPF_PROG_TEST_RUN (from_endpoint, '
          'two endpoint lookups + one rule)')
    for size, ns in costs.items():
        print('  %9d entries %6.0f ns  ratio %.2f'
              % (size, ns, ns / costs[0]))

    load = policy_load(100000)
    print('100,000-rule policy: parse %.3f s + apply %.3f s = %.3f s; '
          're-apply unchanged %.3f s'
          % (load['parse_s'], load['apply_s'], load['total_s'],
             load['reapply_unchanged_s']))

    again = restart()
    print('restarted process: pins open in %.4f s, enforcing on a '
          're-attached interface after %.4f s (%.3f s including Python '
          'start-up and imports)'
          % (again['open_pins_s'], again['open_and_reattach_s'],
             again['with_interpreter_start_s']))


if __name__ == '__main__':
    main()
