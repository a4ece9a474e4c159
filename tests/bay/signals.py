"""Where heat-config-notify answers: what Heat's signal URL would receive.

Run inside the bay's namespace (``python3 -m tests.bay.signals ADDRESS
PORT DIR``); every POST body is kept as DIR/<n>-<last path part>.json.
"""

import http.server
import os
import sys


def main(address, port, directory):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
            name = '%03d-%s.json' % (len(os.listdir(directory)),
                                     self.path.rstrip('/').rsplit('/', 1)[-1])
            with open(os.path.join(directory, name), 'wb') as out:
                out.write(body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer((address, int(port)), Handler
                                    ).serve_forever()


if __name__ == '__main__':
    main(*sys.argv[1:])
