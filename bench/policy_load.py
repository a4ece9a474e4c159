"""Benchmark loading 100,000 rules into the kernel; prints seconds and ratios.

Run as root from a checkout (``.tox/functional/bin/python
bench/policy_load.py``). Side by side in one run, alternating, the best of
``--rounds`` each:

  this      this checkout's dataplane
  baseline  the dataplane at ``--baseline`` (a git revision, checked out
            into a temporary worktree)

on two policies of ``--rules`` rules:

  pairs     every rule a (src, dst) pair, like the 2015 demo's policies
  mixed     a third of the rules with a 51-port range (a protocols entry
            each; about ten LPM trie entries each before f62fb06), the
            rest pairs

Each is timed as: parse (the text), apply (``Dataplane.replace_policy``
into empty maps), re-apply (the same policy again: nothing to write) and
one more rule (``Dataplane.set_rule`` on the full policy). Each process
gets its own pin directory, removed at its end. The issue's budget is
loading 100,000 rules in under 0.3 s.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

BASELINE = 'f62fb06'   # main before the protocols map
STEPS = ('parse', 'apply', 'reapply', 'one_more')


def policy_text(kind, count):
    rules = []
    for i in range(count):
        src, dst = 1000 + i // 60000, 1000 + i % 60000
        if kind == 'mixed' and i % 3 == 0:
            low = 1 + i % 1000
            rules.append('%d>%d:tcp/%d-%d' % (src, dst, low, low + 50))
        else:
            rules.append('%d>%d' % (src, dst))
    return ' '.join(rules)


def worker(kind, count, rounds):
    """Time the steps in this process; print {step: [seconds]} as JSON."""
    sys.path.insert(0, os.getcwd())
    import magnum_iovisor
    from magnum_iovisor import config
    from magnum_iovisor.dataplane import Dataplane
    from magnum_iovisor import policy
    from oslo_config import cfg

    if not magnum_iovisor.__file__.startswith(os.getcwd() + os.sep):
        raise SystemExit('imported %s, not the tree in %s'
                         % (magnum_iovisor.__file__, os.getcwd()))
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf([], default_config_files=[])
    pin_dir = '/sys/fs/bpf/bench-load-%s' % uuid.uuid4().hex[:8]
    conf.set_override('pin_dir', pin_dir, 'dataplane')
    text = policy_text(kind, count)
    times = {step: [] for step in STEPS}
    try:
        with Dataplane(conf.dataplane) as dp:
            for _ in range(rounds):
                start = time.perf_counter()
                parsed = policy.parse(text)
                parsed_at = time.perf_counter()
                dp.replace_policy(parsed)
                applied_at = time.perf_counter()
                dp.replace_policy(parsed)
                again_at = time.perf_counter()
                dp.set_rule(7, 7, 'allow')
                done_at = time.perf_counter()
                if len(dp.policy()) != count + 1:
                    raise SystemExit('%s: %d rules in the maps, not %d'
                                     % (kind, len(dp.policy()), count + 1))
                for step, seconds in zip(STEPS, (
                        parsed_at - start, applied_at - parsed_at,
                        again_at - applied_at, done_at - again_at)):
                    times[step].append(seconds)
                dp.replace_policy(policy.Policy())
    finally:
        shutil.rmtree(pin_dir, ignore_errors=True)
    print(json.dumps(times))


def run(tree, kind, count, rounds):
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), '--worker', kind,
         '--rules', str(count), '--rounds', str(rounds)],
        cwd=tree, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rules', type=int, default=100000)
    parser.add_argument('--rounds', type=int, default=3,
                        help='processes per tree and policy, alternating')
    parser.add_argument('--per-process', type=int, default=2,
                        help='rounds inside each process')
    parser.add_argument('--baseline', default=BASELINE)
    parser.add_argument('--worker', choices=('pairs', 'mixed'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.rules, args.per_process)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    base = tempfile.mkdtemp(prefix='bench-baseline-')
    subprocess.run(['git', 'worktree', 'add', '--detach', base,
                    args.baseline], cwd=here, check=True,
                   capture_output=True)
    trees = {'this': here, 'baseline': base}
    best = {}
    try:
        for _ in range(args.rounds):
            for kind in ('pairs', 'mixed'):
                for name, tree in trees.items():
                    times = run(tree, kind, args.rules, args.per_process)
                    for step, seconds in times.items():
                        slot = (kind, name, step)
                        best[slot] = min(best.get(slot, seconds[0]),
                                         *seconds)
    finally:
        subprocess.run(['git', 'worktree', 'remove', '--force', base],
                       cwd=here, check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    print('%d rules, best of %d processes x %d rounds; baseline %s'
          % (args.rules, args.rounds, args.per_process, args.baseline))
    print('%-6s %-9s' % ('policy', 'step') + ''.join(
        '%11s' % name for name in trees) + '   this/baseline')
    for kind in ('pairs', 'mixed'):
        for step in STEPS:
            this, old = best[kind, 'this', step], best[kind, 'baseline', step]
            print('%-6s %-9s %9.3f s %9.3f s   x%.2f'
                  % (kind, step, this, old, this / old))
        load = best[kind, 'this', 'parse'] + best[kind, 'this', 'apply']
        print('%-6s %-9s %9.3f s %11s   (budget 0.300 s)'
              % (kind, 'load', load, ''))


if __name__ == '__main__':
    main()
