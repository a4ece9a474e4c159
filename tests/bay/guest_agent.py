"""Commands in a guest through the QEMU guest agent (qemu-guest-agent).

The agent answers JSON on a virtio-serial port; ``guest-exec`` runs a
program and ``guest-exec-status`` hands back its exit code and output.
"""

import base64
import json
import socket
import time


class AgentError(RuntimeError):
    pass


class GuestAgent:
    def __init__(self, path):
        self.path = path

    def _call(self, command, arguments=None, timeout=10):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.path)
            token = int(time.monotonic() * 1000) % (1 << 31)
            # guest-sync-delimited flushes a half-read answer of an earlier
            # connection: read up to our token's answer.
            sock.sendall(json.dumps({'execute': 'guest-sync-delimited',
                                     'arguments': {'id': token}}).encode()
                         + b'\n')
            reader = sock.makefile('rb')
            while True:
                line = reader.readline()
                if not line:
                    raise AgentError('guest agent closed the connection')
                line = line.strip(b'\xff').strip()
                if line and json.loads(line).get('return') == token:
                    break
            request = {'execute': command}
            if arguments is not None:
                request['arguments'] = arguments
            sock.sendall(json.dumps(request).encode() + b'\n')
            answer = json.loads(reader.readline())
        finally:
            sock.close()
        if 'error' in answer:
            raise AgentError('%s: %s' % (command, answer['error']))
        return answer.get('return')

    def ping(self):
        try:
            self._call('guest-ping', timeout=3)
            return True
        except (OSError, ValueError, AgentError):
            return False

    def run(self, script, timeout=120):
        """``(status, output)`` of ``sh -c script`` in the guest."""
        pid = self._call('guest-exec', {
            'path': '/bin/sh', 'arg': ['-c', script],
            'capture-output': True})['pid']
        deadline = time.monotonic() + timeout
        while True:
            status = self._call('guest-exec-status', {'pid': pid})
            if status['exited']:
                break
            if time.monotonic() > deadline:
                raise AgentError('timed out after %ds: %s' % (timeout,
                                                              script))
            time.sleep(0.3)
        out = b''.join(base64.b64decode(status.get(key, ''))
                       for key in ('out-data', 'err-data'))
        return status.get('exitcode', -1), out.decode(errors='replace')
