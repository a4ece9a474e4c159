"""Classifier cost per packet and on real traffic, side by side.

Run as root from a checkout (``.tox/functional/bin/python
bench/classifier.py``). Configurations, measured in one run:

  none      a program that passes everything (BPF_PROG_TEST_RUN) or no
            filter attached (traffic)
  pass-all  traffic only: that program attached where the classifiers go,
            the least any classifier costs there
  v1-seed   the classifier of main at 5810df9 (stateless pairs), compiled
            from ``git show``, on the seed's policy
  v2-seed   this classifier on the seed's policy
  v2-full   this classifier with 100,000 rules (a third of them port
            ranges), 1,000,000 endpoints, 100,000 CIDR prefixes and a full
            connection table (1,000,000 flows)
  floor     per packet only: the least a connection table of 1,000,000
            flows costs, whatever the policy: one lookup in an LRU hash
            keyed by the IPv4 5-tuple, and an insert when it misses

Per packet: through BPF_PROG_TEST_RUN, every configuration loaded at once
and measured in turn, round after round (medians): one run per packet over
many distinct flows (never one key replayed), new-flow and established-flow
packets at 0 / 1,000 / 100,000 / 1,000,000 entries, leaving for remote
destinations (from) and entering a destination on this host (to), and one
packet replayed (warm, every bucket in cache); the cost of the ``none``
program (the test-run timer itself) is subtracted; and the three clocks the
connection table could read (bpf_jiffies64, its clock, bpf_ktime_get_ns and
bpf_ktime_get_coarse_ns). In traffic: iperf3 TCP and 64-byte UDP between
namespaces (client and server on a CPU each), throughput ratio
against no filter, and the programs' own run_time_ns / run_cnt on both
CPUs (kernel.bpf_stats_enabled, on only for a third run, UDP, so that its
clock reads do not count against the ratios). And the time to load
100,000 rules.
"""

import argparse
import collections
import contextlib
import ctypes
import json
import os
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, '.')

from oslo_config import cfg  # noqa: E402

from magnum_iovisor import config  # noqa: E402
from magnum_iovisor.dataplane import addresses  # noqa: E402
from magnum_iovisor.dataplane import attach as tc  # noqa: E402
from magnum_iovisor.dataplane import Dataplane  # noqa: E402
from magnum_iovisor.dataplane import layout  # noqa: E402
from magnum_iovisor.dataplane import libbpf  # noqa: E402
from magnum_iovisor import policy  # noqa: E402
from tests.functional import packets as pk  # noqa: E402
from tests.functional import topology  # noqa: E402

SEED = '100>0 0>100 100>100 200>100 100>200'
V1_COMMIT = '5810df9'
V1_FILES = ('classifier.c', 'maps.h', 'parse.h', 'tables.h')
PASS_ALL = 'int from_endpoint(struct __sk_buff *skb) { return 0; }\n' \
           'int to_endpoint(struct __sk_buff *skb) { return 0; }\n'
SIZES = (0, 1000, 100000, 1000000)
FLOOR_SIZE = 1000000
FLOWS = 4000            # distinct flows measured per point


def make_conf(pin_dir, **overrides):
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override('pin_dir', pin_dir, 'dataplane')
    for name, value in overrides.items():
        conf.set_override(name, value, 'dataplane')
    return conf


CLOCKS = """
#include <uapi/linux/bpf.h>
BPF_ARRAY(sink, u64, 1);
static __always_inline int keep(u64 value)
{
    u32 zero = 0;
    u64 *slot = sink.lookup(&zero);
    if (slot)
        *slot = value;
    return 0;
}
int none(struct __sk_buff *skb) { return keep(0); }
int ktime(struct __sk_buff *skb) { return keep(bpf_ktime_get_ns()); }
int coarse(struct __sk_buff *skb) { return keep(bpf_ktime_get_coarse_ns()); }
int jiffies(struct __sk_buff *skb) { return keep(bpf_jiffies64()); }
"""


def clock_costs(repeat=100000):
    """ns per call of bpf_ktime_get_ns, _coarse_ns and bpf_jiffies64.

    The connection table's clock (bpf/conntrack.h, ct_now: jiffies) and the
    two it could read instead, replayed.
    """
    from bcc import BPF
    bpf = BPF(text=CLOCKS)
    try:
        fds = {name: bpf.load_func(name.encode(), BPF.SCHED_CLS).fd
               for name in ('none', 'ktime', 'coarse', 'jiffies')}
        frame = flow_frames(1, 0)[0]
        runs = {name: statistics.median(
            libbpf.test_run(fd, frame, repeat)[1] for _ in range(5))
            for name, fd in fds.items()}
    finally:
        bpf.cleanup()
    return {name: runs[name] - runs['none']
            for name in ('ktime', 'coarse', 'jiffies')}


FLOOR = r"""
#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>
#include <uapi/linux/ip.h>
struct floor_key { u32 saddr; u32 daddr; u16 sport; u16 dport; u32 proto; };
BPF_TABLE("lru_hash", struct floor_key, u64, flows, FLOWS_MAX);
static __always_inline int track(struct __sk_buff *skb)
{
    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    struct iphdr *ip = data + sizeof(struct ethhdr);
    if ((void *)(ip + 1) + 4 > end)
        return 2;
    u16 *ports = (void *)(ip + 1);       /* the frames have no IP options */
    struct floor_key key = { ip->saddr, ip->daddr, ports[0], ports[1],
                             ip->protocol };
    if (flows.lookup(&key))
        return 0;
    u64 one = 1;
    flows.update(&key, &one);
    return 0;
}
int from_endpoint(struct __sk_buff *skb) { return track(skb); }
int to_endpoint(struct __sk_buff *skb) { return track(skb); }
"""


class Floor:
    """The 'floor' configuration: a bare connection table of ``size``."""

    def __init__(self, size, room):
        from bcc import BPF
        self.bpf = BPF(text=FLOOR, cflags=['-DFLOWS_MAX=%d' % (size + room)])
        self.programs = {n: self.bpf.load_func(n.encode(), BPF.SCHED_CLS).fd
                         for n in ('from_endpoint', 'to_endpoint')}
        fd, rng = self.bpf[b'flows'].map_fd, random.Random(5)
        for start in range(0, size, 65536):
            count = min(65536, size - start)
            keys = b''.join(struct.pack('=IIHHI', rng.getrandbits(32),
                                        rng.getrandbits(32), 1, 2, 17)
                            for _ in range(count))
            libbpf.update_batch(fd, keys, bytes(8 * count), count)

    def close(self):
        self.bpf.cleanup()


class PassAll:
    """The 'none' configuration: a program that returns TC_ACT_OK."""

    def __init__(self):
        from bcc import BPF
        self.bpf = BPF(text=PASS_ALL)
        self.programs = {n: self.bpf.load_func(n.encode(), BPF.SCHED_CLS).fd
                         for n in ('from_endpoint', 'to_endpoint')}

    def close(self):
        self.bpf.cleanup()


class V1:
    """main's classifier at 5810df9 with its own (old layout) maps."""

    def __init__(self, pin_dir):
        from bcc import BPF
        self.src = tempfile.mkdtemp(prefix='v1-classifier-')
        for name in V1_FILES:
            with open(os.path.join(self.src, name), 'wb') as out:
                out.write(subprocess.run(
                    ['git', 'show', '%s:bpf/%s' % (V1_COMMIT, name)],
                    check=True, capture_output=True).stdout)
        os.makedirs(pin_dir, exist_ok=True)
        self.pin_dir = pin_dir
        self.bpf = BPF(src_file=os.path.join(self.src, 'classifier.c')
                       .encode(), cflags=[
            '-I%s' % self.src, '-DPIN_DIR="%s"' % pin_dir,
            '-DENDPOINTS_MAX=1048576', '-DRULES_MAX=1048576',
            '-DDENIED_MAX=65536', '-DEVENTS_BYTES=262144'])
        self.programs = {n: self.bpf.load_func(n.encode(), BPF.SCHED_CLS).fd
                         for n in ('from_endpoint', 'to_endpoint')}

    def tag(self, address, group, ifindex=0):
        fd = self.bpf[b'endpoints'].map_fd
        libbpf.update(fd, socket.inet_aton(address),
                      struct.pack('=HHI', group, 0, ifindex))

    def load(self, text):
        fd = self.bpf[b'policy'].map_fd
        for rule in policy.parse(text).rules:
            libbpf.update(fd, struct.pack('=HH', rule.src, rule.dst),
                          struct.pack('=IIQQ', 1, 0, 0, 0))

    def close(self):
        self.bpf.cleanup()
        shutil.rmtree(self.src, ignore_errors=True)
        shutil.rmtree(self.pin_dir, ignore_errors=True)


def v4(i, base=0x0A000000):
    return socket.inet_ntoa(struct.pack('!I', base + i))


def fill_v2(dp, endpoints, rules, prefixes, flows):
    """Bulk entries unrelated to the measured ones."""
    ep = [((addresses.packed(v4(i, 0xAC000000)),), (1000 + i % 60000, 0, 0))
          for i in range(endpoints)]
    for start in range(0, len(ep), 65536):
        dp.maps['endpoints'].set_many(ep[start:start + 65536])
    texts = []
    for i in range(rules):
        src, dst = 1000 + i // 60000, 1000 + i % 60000
        if i % 3 == 0:
            low = 1 + i % 60000
            texts.append('%d>%d:tcp/%d-%d' % (src, dst, low, low + 99))
        elif i % 3 == 1:
            texts.append('%d>%d:udp/%d' % (src, dst, 1 + i % 60000))
        else:
            texts.append('%d>%d' % (src, dst))
    dp.replace_policy(policy.parse(' '.join(texts + SEED.split())))
    pf = [((96 + 24, addresses.packed(v4(i << 8, 0x64000000))),
           (2000 + i % 60000, 0)) for i in range(prefixes)]
    for start in range(0, len(pf), 65536):
        dp.maps['prefixes'].set_many(pf[start:start + 65536])
    # alive for an hour, in the classifiers' clock (jiffies)
    expires = dp.ct_clock() + layout.CT_TCP_TIMEOUT_S * dp.ct_hz()
    ct = [((addresses.packed(v4(i, 0xAC000000)),
            addresses.packed(v4(i, 0xAD000000)), 1, 2, 17, b'\0' * 3),
           (expires, 0, 0, 0, b'\0' * 7))
          for i in range(flows)]
    for start in range(0, len(ct), 65536):
        dp.maps['conntrack'].set_many(ct[start:start + 65536])


def spread(fd, frames):
    """Mean ns of one run over ``frames``, each run once."""
    return statistics.mean(libbpf.test_run(fd, frame, 1)[1]
                           for frame in frames)


def warm(fd, frame, repeat=5000):
    """ns of one packet replayed ``repeat`` times: every bucket in cache."""
    return libbpf.test_run(fd, frame, repeat)[1]


def flow_frames(count, seed):
    """Distinct UDP flows from web (10.1.0.3) to remote destinations.

    Every flow has its own address pair and ports.
    """
    rng = random.Random(seed)
    return [pk.packet('10.1.0.3', v4(rng.randrange(1 << 20), 0x0B000000),
                      pk.UDP, pk.udp(1024 + i % 60000, 53))
            for i in range(count)]


def local_frames(count, seed):
    """Distinct UDP flows from web to db (10.1.0.4), both on this host."""
    return [pk.packet('10.1.0.3', '10.1.0.4', pk.UDP,
                      pk.udp(1024 + i % 60000, 1 + (seed * count + i) % 60000))
            for i in range(count)]


def per_packet(sizes, flows, rounds):
    """Every configuration loaded at once, measured in turn each round."""
    frames = [flow_frames(flows, 1000 + r) for r in range(rounds)]
    local = [local_frames(flows, r) for r in range(rounds)]
    configs = {}
    with contextlib.ExitStack() as stack:
        none = PassAll()
        stack.callback(none.close)
        v1 = V1('/sys/fs/bpf/bench-v1-%s' % uuid.uuid4().hex[:8])
        stack.callback(v1.close)
        v1.tag('10.1.0.3', 100, 1)
        v1.tag('10.1.0.4', 200, 1)
        v1.load(SEED)
        configs['v1-seed'] = v1.programs
        floor = Floor(FLOOR_SIZE, 2 * flows * rounds)
        stack.callback(floor.close)
        configs['floor'] = floor.programs
        for size in sizes:
            pin_dir = '/sys/fs/bpf/bench-%s' % uuid.uuid4().hex[:8]
            stack.callback(shutil.rmtree, pin_dir, ignore_errors=True)
            conf = make_conf(pin_dir, endpoints_max=size + 1024,
                             conntrack_max=max(size, 1024) + 2 * flows *
                             rounds)
            dp = stack.enter_context(Dataplane(conf.dataplane))
            fill_v2(dp, size, min(size, 100000), min(size, 100000), size)
            dp.tag('10.1.0.3', 100, ifindex=1)
            dp.tag('10.1.0.4', 200, ifindex=1)
            if not size:
                dp.replace_policy(policy.parse(SEED))
            assert libbpf.test_run(dp.programs['from_endpoint'],
                                   frames[0][0])[0] == 0
            configs[size] = dp.programs
        results = {name: collections.defaultdict(list) for name in configs}
        results['none'] = collections.defaultdict(list)
        for r in range(rounds):
            base = spread(none.programs['from_endpoint'], frames[r])
            base_warm = warm(none.programs['from_endpoint'], frames[r][0])
            results['none']['spread'].append(base)
            results['none']['warm'].append(base_warm)
            for name, programs in configs.items():
                out = results[name]
                for side, batch in (('from', frames[r]), ('to', local[r])):
                    fd = programs['%s_endpoint' % side]
                    out[side + ' new'].append(spread(fd, batch) - base)
                    out[side + ' est'].append(spread(fd, batch) - base)
                    out[side + ' warm'].append(warm(fd, batch[0]) -
                                               base_warm)
    return {name: {k: statistics.median(v) for k, v in figures.items()}
            for name, figures in results.items()}


# -- real traffic -------------------------------------------------------------

def prog_stats(fd):
    info = ctypes.create_string_buffer(256)
    size = ctypes.c_uint32(256)
    libbpf._lib.bpf_obj_get_info_by_fd(fd, info, ctypes.byref(size))
    return struct.unpack_from('=QQ', info.raw, 192)   # run_time_ns, run_cnt


UDP_64 = ['-u', '-b', '0', '-l', '18']   # 18 B of payload: 64-byte frames


def iperf(net, args, seconds):
    # one CPU each, so that the rounds meet the same scheduling
    server = net.spawn('db', 'taskset', '-c', '1', 'iperf3', '-s', '-1',
                       '-p', '5201')
    time.sleep(0.3)
    out = topology.nsexec(net.hosts['web'][0], 'taskset', '-c', '0',
                          'iperf3', '-c',
                          net.hosts['db'][1], '-p', '5201', '-J', '-t',
                          str(seconds), *args, timeout=seconds + 30).stdout
    server.wait(timeout=10)
    return json.loads(out)['end']


def traffic(rounds, seconds):
    names = ('none', 'pass-all', 'v1-seed', 'v2-seed', 'v2-full')
    results = {name: {'tcp_gbps': [], 'udp_kpps': [], 'ns': []}
               for name in names}
    for _ in range(rounds):
        for name in names:
            one_round(name, results[name], seconds)
    return results


@contextlib.contextmanager
def bpf_stats():
    """kernel.bpf_stats_enabled on, for the programs' own run times.

    Only for the run that reads them: the two clock reads it adds to every
    run would count against the throughput ratios.
    """
    subprocess.run(['sysctl', '-qw', 'kernel.bpf_stats_enabled=1'],
                   check=True)
    try:
        yield
    finally:
        subprocess.run(['sysctl', '-qw', 'kernel.bpf_stats_enabled=0'])


def one_round(name, figures, seconds):
    pin_dir = '/sys/fs/bpf/bench-%s' % uuid.uuid4().hex[:8]
    net = topology.Topology()
    holder = None
    try:
        for host, address in (('web', '10.1.0.3'), ('db', '10.1.0.4')):
            net.add_endpoint(host, address)
        if name == 'pass-all':
            holder = PassAll()
            for host in ('web', 'db'):
                tc.attach(net.host_ifaces[host], holder.programs,
                          net.slave, sandbox_side=False)
        elif name == 'v1-seed':
            holder = V1(pin_dir)
            holder.load(SEED)
            for host, group in (('web', 100), ('db', 200)):
                index = tc.ifindex(net.host_ifaces[host], net.slave)
                holder.tag(net.hosts[host][1], group, index)
                tc.attach(net.host_ifaces[host], holder.programs,
                          net.slave, sandbox_side=False)
        elif name != 'none':
            holder = Dataplane(make_conf(
                pin_dir, conntrack_max=1100000).dataplane)
            if name == 'v2-full':
                fill_v2(holder, 1000000, 100000, 100000, 1000000)
            holder.replace_policy(policy.parse(SEED))
            for host, group in (('web', 100), ('db', 200)):
                holder.attach(net.host_ifaces[host], net.hosts[host][1],
                              group, netns=net.slave, sandbox_side=False)
        tcp = iperf(net, [], seconds)
        figures['tcp_gbps'].append(
            tcp['sum_received']['bits_per_second'] / 1e9)
        udp = iperf(net, UDP_64, seconds)
        packets = udp['sum']['packets'] * (
            1 - udp['sum']['lost_percent'] / 100)
        figures['udp_kpps'].append(packets / udp['sum']['seconds'] / 1000)
        if holder:
            with bpf_stats():
                before = [prog_stats(fd) for fd in holder.programs.values()]
                iperf(net, UDP_64, seconds)
                after = [prog_stats(fd) for fd in holder.programs.values()]
            ns = sum(a[0] - b[0] for a, b in zip(after, before))
            count = sum(a[1] - b[1] for a, b in zip(after, before))
            figures['ns'].append(ns / max(count, 1))
    finally:
        net.cleanup()
        if holder:
            holder.close()
        shutil.rmtree(pin_dir, ignore_errors=True)


def policy_load(count):
    pin_dir = '/sys/fs/bpf/bench-%s' % uuid.uuid4().hex[:8]
    texts = []
    for i in range(count):
        src, dst = 1000 + i // 60000, 1000 + i % 60000
        texts.append('%d>%d:tcp/%d-%d' % (src, dst, 1 + i % 1000,
                                          1 + i % 1000 + 50)
                     if i % 3 == 0 else '%d>%d' % (src, dst))
    try:
        with Dataplane(make_conf(pin_dir).dataplane) as dp:
            start = time.perf_counter()
            parsed = policy.parse(' '.join(texts))
            parsed_at = time.perf_counter()
            dp.replace_policy(parsed)
            applied_at = time.perf_counter()
            assert len(dp.policy()) == count
            again = time.perf_counter()
            dp.replace_policy(parsed)
            unchanged_at = time.perf_counter()
        return {'parse_s': parsed_at - start,
                'apply_s': applied_at - parsed_at,
                'reapply_unchanged_s': unchanged_at - again}
    finally:
        shutil.rmtree(pin_dir, ignore_errors=True)


COLUMNS = ('from new', 'from est', 'to new', 'to est', 'from warm',
           'to warm')


def report_per_packet(costs, flows, rounds):
    print('per packet through BPF_PROG_TEST_RUN, ns (median of %d rounds; '
          'each round %d distinct flows run once each, new then '
          'established, and one packet replayed 5,000 times, warm; the '
          'pass-all program\'s %.0f ns, %.0f ns warm, subtracted)'
          % (rounds, flows, costs['none']['spread'],
             costs['none']['warm']))
    print('  from: web to remote destinations; to: web to db, both here')
    print('  %-24s' % 'config' + ''.join('%11s' % c for c in COLUMNS))
    v2 = [(size, 'v2, %d entries' % size) for size in SIZES]
    floor = ('floor', 'floor, %d flows' % FLOOR_SIZE)
    for key, label in [('v1-seed', 'v1, seed policy'), *v2, floor]:
        print('  %-24s' % label + ''.join(
            '%11.0f' % costs[key][c] for c in COLUMNS))
    for (key, label), base in [*((row, 'v1-seed') for row in v2),
                               (floor, 'v1-seed'), (v2[-1], 'floor')]:
        print('  %-24s' % ('%s / %s' % (label, base.split('-')[0]))
              + ''.join('%11.2f' % (costs[key][c] / costs[base][c])
                        for c in COLUMNS))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--seconds', type=int, default=4)
    parser.add_argument('--flows', type=int, default=FLOWS)
    parser.add_argument('--skip-traffic', action='store_true')
    parser.add_argument('--skip-per-packet', action='store_true')
    args = parser.parse_args()

    if not args.skip_per_packet:
        report_per_packet(per_packet(SIZES, args.flows, args.rounds),
                          args.flows, args.rounds)
        clocks = clock_costs()
        print('clocks, one call replayed: bpf_ktime_get_ns %.1f ns, '
              'bpf_ktime_get_coarse_ns %.1f ns (%.2f), bpf_jiffies64 %.1f '
              'ns (%.2f; %.2f of coarse)'
              % (clocks['ktime'], clocks['coarse'],
                 clocks['coarse'] / clocks['ktime'], clocks['jiffies'],
                 clocks['jiffies'] / clocks['ktime'],
                 clocks['jiffies'] / clocks['coarse']))
        load = policy_load(100000)
        print('100,000 rules (a third port ranges): parse %.3f s, apply '
              '%.3f s, re-apply unchanged %.3f s'
              % (load['parse_s'], load['apply_s'],
                 load['reapply_unchanged_s']))
    if args.skip_traffic:
        return
    results = traffic(args.rounds, args.seconds)
    base_tcp = statistics.median(results['none']['tcp_gbps'])
    base_udp = statistics.median(results['none']['udp_kpps'])
    print('traffic, web -> db through two enforcement points (median of %d '
          'rounds, %d s each)' % (args.rounds, args.seconds))
    print('  %-8s %9s %6s %9s %6s %12s' % ('config', 'TCP Gb/s', 'ratio',
                                           'UDP kpps', 'ratio',
                                           'ns/run (stats)'))
    for name, figures in results.items():
        tcp = statistics.median(figures['tcp_gbps'])
        udp = statistics.median(figures['udp_kpps'])
        ns = statistics.median(figures['ns']) if figures['ns'] else 0
        print('  %-8s %9.2f %6.3f %9.1f %6.3f %12.0f'
              % (name, tcp, tcp / base_tcp, udp, udp / base_udp, ns))


if __name__ == '__main__':
    main()
