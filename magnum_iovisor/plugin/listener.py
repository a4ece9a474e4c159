"""The unix socket Docker finds the driver by, and serving on it.

Docker names a plugin after its socket's basename under
/run/docker/plugins. The socket is readable by root only. A socket left by a
crashed daemon is replaced; one a live daemon answers on is not.
"""

import asyncio
import logging
import os
import signal
import socket

from aiohttp import web

LOG = logging.getLogger(__name__)


class SocketInUse(RuntimeError):
    pass


def clear_stale(path):
    """Remove ``path`` if it is a socket nobody listens on."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        LOG.info('removing stale socket %s', path)
        os.unlink(path)
        return
    except OSError as exc:
        raise SocketInUse('%s exists and is not a usable socket: %s'
                          % (path, exc))
    finally:
        probe.close()
    raise SocketInUse('another daemon serves %s' % path)


async def _serve(app, path, ready):
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    old_umask = os.umask(0o177)  # the socket exists as 0600 from the start
    try:
        await web.UnixSite(runner, path).start()
    finally:
        os.umask(old_umask)
    LOG.info('serving on %s', path)
    if ready:
        ready()
    try:
        await stopping.wait()
    finally:
        LOG.info('stopping')
        await runner.cleanup()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def serve(app, path, ready=None):
    """Serve ``app`` on the unix socket ``path`` until SIGTERM or SIGINT."""
    clear_stale(path)
    asyncio.run(_serve(app, path, ready))
