# The Python socket tutorial's echo server (https://realpython.com/python-sockets/),
# with the address as an argument: python3 echo-server.py [PORT]
import socket
import sys

HOST = "127.0.0.1"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 65432

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind((HOST, PORT))
    s.listen()
    print(f"Listening on {HOST}:{PORT}", flush=True)
    conn, addr = s.accept()
    with conn:
        print(f"Connected by {addr}", flush=True)
        while True:
            data = conn.recv(1024)
            if not data:
                break
            print(f"Echoing {data!r}", flush=True)
            conn.sendall(data)
