"""Benchmark reading a 100,000-rule policy; prints seconds and ratios.

Run from a checkout (``python bench/policy_parse.py``). Side by side in one
run, the best of ``--rounds`` each, alternating so they share the noise:

  v1 text    the parser before ports and reserved groups (read from git,
             ``--baseline``), on rules it can read: pairs only
  v2 text    this checkout's parser on the same pairs
  v2 mixed   half the rules with a protocol and a port range
  v2 json    the mixed policy as JSON
  v2 yaml    the mixed policy as YAML
  v2 diff    what loading the mixed policy writes into an empty map
             (``Policy.diff``, the rest of the model's share of a load)

Times are CPU seconds of this process (``time.process_time``): on a
shared machine they vary less than the wall clock. Ratios are against
v1 text. The issue's budget for loading 100,000 rules
into the kernel is 0.3 s, so the text parse should take at most half.
"""

import argparse
import os
import subprocess
import sys
import time
import types

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

from magnum_iovisor import policy  # noqa: E402

BASELINE = '5810df9'    # the last commit with the v1 model


def load_baseline(revision):
    source = subprocess.run(
        ['git', 'show', '%s:magnum_iovisor/policy.py' % revision],
        check=True, capture_output=True, text=True,
        cwd=os.path.dirname(os.path.abspath(__file__))).stdout
    module = types.ModuleType('policy_v1')
    exec(compile(source, 'policy_v1.py', 'exec'), module.__dict__)
    return module


def pairs(count):
    return [(1000 + i // 60000, 1000 + i % 60000) for i in range(count)]


def texts(count):
    plain = ' '.join('%d>%d' % pair for pair in pairs(count))
    mixed = ' '.join(
        '%d>%d' % pair if i % 2 else '%d>%d:%s/%d-%d' % (
            *pair, ('tcp', 'udp')[i % 4 // 2], 1 + i % 1000, 2000 + i % 1000)
        for i, pair in enumerate(pairs(count)))
    return plain, mixed


def best(function, rounds):
    times = []
    for _ in range(rounds):
        start = time.process_time()
        result = function()
        times.append(time.process_time() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rules', type=int, default=100000)
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--baseline', default=BASELINE)
    args = parser.parse_args()
    v1 = load_baseline(args.baseline)
    plain, mixed = texts(args.rules)
    mixed_policy = policy.parse_text(mixed)
    empty = policy.Policy()
    documents = {fmt: policy.dump(mixed_policy, fmt)
                 for fmt in ('json', 'yaml')}
    cases = [
        ('v1 text', lambda: v1.parse_text(plain)),
        ('v2 text', lambda: policy.parse_text(plain)),
        ('v2 mixed', lambda: policy.parse_text(mixed)),
        ('v2 json', lambda: policy.parse_json(documents['json'])),
        ('v2 diff', lambda: mixed_policy.diff(empty)[0]),
    ]
    yaml_case = ('v2 yaml', lambda: policy.parse_yaml(documents['yaml']))
    results = {name: [] for name, _ in cases}
    for _ in range(args.rounds):
        for name, function in cases:
            seconds, parsed = best(function, 1)
            if len(parsed) != args.rules:
                raise SystemExit('%s gave %d rules' % (name, len(parsed)))
            results[name].append(seconds)
    results[yaml_case[0]] = [best(yaml_case[1], 1)[0]]
    base = min(results['v1 text'])
    print('%d rules, best of %d rounds (yaml: 1)' % (args.rules, args.rounds))
    for name, times in results.items():
        print('%-9s %7.3f s   x%.2f of v1 text'
              % (name, min(times), min(times) / base))


if __name__ == '__main__':
    main()
