#!/usr/bin/env python3
"""The reader's own CPU at a resync, without ZooKeeper: prints seconds.

What a reader does with every host's endpoint listing when it reads the
whole bay again (``HostReader._on_endpoints`` in
magnum_iovisor/registry/zookeeper.py): parse each node name
(``parse_endpoints``), then judge each
endpoint against its host's claim (``claims.ClaimBook``). The bay is
bench/registry_scale.py's: H hosts, each holding its /23 and announcing E
endpoints, groups spread over 50 values. CPU time of this process, best of
``--rounds``; its share of bench/registry_scale.py's resync target (2 s).
Run from the repository: bench/registry_reader.py [--hosts 200
--endpoints 500]
"""

import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'bench'))

import registry_scale  # noqa: E402

from magnum_iovisor.registry import claims  # noqa: E402
from magnum_iovisor.registry import zookeeper  # noqa: E402


def listings(hosts, count):
    return {'h%03d' % index: ['%s@%d' % (address, 100 + n % 50)
                              for n, address in enumerate(
                                  registry_scale.host_addresses(index, count))]
            for index in range(hosts)}


def one_round(bay):
    book = claims.ClaimBook()
    parse = judge = 0.0
    for index, (host, children) in enumerate(bay.items()):
        book.set_subnets(host, {registry_scale.host_subnet(index):
                                (index, host)})
        started = time.process_time()
        endpoints, bad = zookeeper.parse_endpoints(children, host)
        parsed_at = time.process_time()
        book.set_endpoints(host, endpoints)
        judge += time.process_time() - parsed_at
        parse += parsed_at - started
        if bad:
            raise SystemExit('refused: %s' % bad)
    return parse, judge, len(book.accepted)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--hosts', type=int, default=200)
    parser.add_argument('--endpoints', type=int, default=500,
                        help='per host')
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    bay = listings(args.hosts, args.endpoints)
    rounds = [one_round(bay) for _ in range(args.rounds)]
    parse = min(r[0] for r in rounds)
    judge = min(r[1] for r in rounds)
    accepted = rounds[-1][2]
    if accepted != args.hosts * args.endpoints:
        raise SystemExit('accepted %d of %d' % (accepted,
                                                args.hosts * args.endpoints))
    target = registry_scale.TARGETS['resync_s']
    print('%d endpoints of %d hosts: parse %.3f s, claims %.3f s, total '
          '%.3f s CPU (%.2f of the %.0f s resync target)'
          % (accepted, args.hosts, parse, judge, parse + judge,
             (parse + judge) / target, target))
    return 0


if __name__ == '__main__':
    sys.exit(main())
