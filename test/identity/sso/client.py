#!/usr/bin/env python3
# Document 000's Python reference client ("Generating the single sign-on link"), with its
# typos fixed and the socket path, username and optional next taken from the command line.
import json
import os
import socket
import sys
import tempfile

their_path, username = sys.argv[1], sys.argv[2]
request = {'username': username}
if len(sys.argv) > 3:
    request['next'] = sys.argv[3]

with tempfile.NamedTemporaryFile() as our_path:
    os.remove(our_path.name)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM, 0)
    sock.bind(our_path.name)
    request_json = json.dumps(request).encode('utf-8')
    sock.sendto(request_json, their_path)
    sock.settimeout(5)
    reply_json = sock.recv(8096)
    try:
        reply = json.loads(reply_json.decode('utf-8'))
        if 'redirect_to' in reply:
            # Success - redirect user to the retrieved single sign-on link.
            print('HTTP/1.1 302 Found\r')
            print('Location: {}\r\n\r'.format(reply['redirect_to']))
        else:
            # An error occurred: the user is unknown or has no portal access.
            print('ERROR {}'.format(json.dumps(reply)))
    except json.JSONDecodeError:
        print('UNKNOWN {!r}'.format(reply_json))
    sock.close()
