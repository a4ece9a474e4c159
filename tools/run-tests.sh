#!/bin/bash
# README's test command, and CI's: set the machine up, run every tox env,
# print one "tests: N passed, N failed, N skipped" line. Run as root.
#   TOX_ENVS=py3,functional tools/run-tests.sh   # a subset
set -u -o pipefail
cd "$(dirname "$0")/.."

tools/install-system.sh || exit 1
if [ ! -x .tools/bin/tox ]; then
    /usr/bin/python3 -m venv .tools && .tools/bin/pip install -q 'tox>=4' \
        || exit 1
fi

IFS=, read -r -a envs <<< "${TOX_ENVS:-pep8,py3,genconfig,functional,heat,magnum,image}"
passed=0 failed=0 skipped=0 broken=()
for env in "${envs[@]}"; do
    echo "=== tox -e $env"
    .tools/bin/tox -e "$env" || broken+=("$env")
    if [ -x ".tox/$env/bin/stestr" ] && grep -q "stestr run" <(.tools/bin/tox config -e "$env" -k commands 2>/dev/null); then
        stats=$(".tox/$env/bin/stestr" last --subunit 2>/dev/null \
                | ".tox/$env/bin/subunit-stats" --no-passthrough 2>/dev/null)
        count() { awk -v k="$1" '$1 == k { print $3 }' <<< "$stats"; }
        passed=$((passed + $(count Passed || echo 0)))
        failed=$((failed + $(count Failed || echo 0)))
        skipped=$((skipped + $(count Skipped || echo 0)))
    fi
done
[ ${#broken[@]} -eq 0 ] || echo "failed tox envs: ${broken[*]}"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ ${#broken[@]} -eq 0 ] && [ "$failed" -eq 0 ]
