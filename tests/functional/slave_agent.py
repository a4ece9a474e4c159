"""A slave's agent process for the functional tests and the benchmark.

Hosts what the Docker driver daemon will host (a Dataplane and a registry
``Agent``) and takes its requests as JSON lines on stdin, answering one
JSON line each on stdout::

    {"op": "join", "ifname": "...", "address": "...", "group": 100}
    {"op": "leave", "address": "...", "ifname": "..."}
    {"op": "expire_session"}     # make ZooKeeper expire this agent's session

Run it in the slave's network namespace with ``nsenter --net`` (not ``ip
netns exec``, which would hide the pins under /sys/fs/bpf).
"""

import json
import logging
import sys

from kazoo.client import KazooClient
from oslo_config import cfg

from magnum_iovisor import config
from magnum_iovisor import dataplane
from magnum_iovisor import registry
from magnum_iovisor.registry import agent as agent_module


def reply(**message):
    sys.stdout.write(json.dumps(message) + '\n')
    sys.stdout.flush()


def expire_session(backend):
    # a second connection with the same session id and password, closed,
    # ends the session on the server: the first client then sees it expired
    thief = KazooClient(hosts=backend.hosts,
                        client_id=backend._client.client_id)
    thief.start(timeout=10)
    thief.stop()
    thief.close()


def main(argv):
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf(argv, project='magnum-iovisor', default_config_files=[])
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format='%(asctime)s %(threadName)s %(name)s %(levelname)s '
               '%(message)s')
    dp = dataplane.Dataplane(conf.dataplane)
    backend = registry.open_registry(conf.registry)
    agent = agent_module.Agent(dp, backend)
    agent.start()
    reply(ready=True, host=backend.host_name)
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop('op')
        try:
            if op == 'join':
                result = agent.join(sandbox_side=False, **request)
            elif op == 'leave':
                result = agent.leave(**request)
            elif op == 'expire_session':
                result = expire_session(backend)
            else:
                raise ValueError('unknown op %r' % op)
        except Exception as exc:
            logging.exception('%s failed', op)
            reply(error='%s: %s' % (type(exc).__name__, exc))
        else:
            reply(result=result)
    agent.close()
    dp.close()


if __name__ == '__main__':
    main(sys.argv[1:])
