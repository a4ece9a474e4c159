"""HTTP routes of the libnetwork remote driver protocol, kept thin.

Each route reads at most ``BODY_MAX`` bytes of JSON, validates it against
its schema and calls one driver method. Every failure, whatever its cause,
is answered ``{"Err": "..."}``; nothing a client sends stops the server.
"""

import asyncio
import json
import logging

from aiohttp import web

from magnum_iovisor.plugin import driver as driver_module
from magnum_iovisor.plugin import schemas

LOG = logging.getLogger(__name__)
CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json'
BODY_MAX = 1 << 20
# A larger body is read to its end (up to this much) so that the client
# gets its answer instead of a reset connection.
DRAIN_MAX = 64 << 20
CHUNK = 1 << 16


def reply(payload, status=200):
    return web.Response(status=status, text=json.dumps(payload),
                        content_type=CONTENT_TYPE)


def error(message, status=500):
    return reply({'Err': message}, status)


async def read_json(request):
    body = bytearray()
    total = 0
    while True:
        chunk = await request.content.read(CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total <= BODY_MAX:
            body += chunk
        elif total > DRAIN_MAX:
            break
    if total > BODY_MAX:
        raise schemas.RequestError('request body of %s bytes is larger than '
                                   'the %d allowed'
                                   % (total if total <= DRAIN_MAX
                                      else 'more than %d' % DRAIN_MAX,
                                      BODY_MAX))
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise schemas.RequestError('request body is not valid JSON: %s'
                                   % exc)


def _route(method, call):
    async def handle(request):
        body = schemas.validate(method, await read_json(request))
        # netlink calls (pyroute2) block and need a thread without a loop
        return reply(await asyncio.to_thread(call, body))
    return handle


@web.middleware
async def errors_as_err(request, handler):
    try:
        return await handler(request)
    except (schemas.RequestError, driver_module.DriverError) as exc:
        LOG.warning('%s: %s', request.path, exc)
        return error(str(exc))
    except web.HTTPException as exc:
        return error('%s %s: %s' % (request.method, request.path,
                                    exc.reason), exc.status)
    except Exception as exc:
        LOG.exception('%s failed', request.path)
        return error('internal error: %s' % exc)


def make_app(driver):
    app = web.Application(middlewares=[errors_as_err])
    calls = {
        'Plugin.Activate': lambda body: {'Implements': ['NetworkDriver']},
        'NetworkDriver.GetCapabilities': driver.capabilities,
        'NetworkDriver.CreateNetwork': driver.create_network,
        'NetworkDriver.DeleteNetwork': driver.delete_network,
        'NetworkDriver.CreateEndpoint': driver.create_endpoint,
        'NetworkDriver.DeleteEndpoint': driver.delete_endpoint,
        'NetworkDriver.EndpointOperInfo': driver.endpoint_info,
        'NetworkDriver.Join': driver.join,
        'NetworkDriver.Leave': driver.leave,
        'NetworkDriver.DiscoverNew': lambda body: {},
        'NetworkDriver.DiscoverDelete': lambda body: {},
        'NetworkDriver.ProgramExternalConnectivity': lambda body: {},
        'NetworkDriver.RevokeExternalConnectivity': lambda body: {},
    }
    for method, call in calls.items():
        app.router.add_post('/' + method, _route(method, call))
    return app
