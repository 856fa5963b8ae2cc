#!/usr/bin/env python3
"""vault_server: a Parachute vault for the bridge's tests, on a free loopback
port, holding notes in memory. It speaks the REST routes agentbus uses
(POST/PATCH/DELETE/GET of /vault/V/api/notes, POST/GET /vault/V/api/triggers),
fires trigger webhooks once and never again, and serves the live-query
WebSocket feed (/vault/V/api/subscribe: auth message first, snapshot frames
until done, then upsert and remove), with the answers a real vault gives.
`--generation old` behaves as a real 0.3.6 vault was recorded to: no trigger
API and no feed (both 404), webhooks without a bearer, PATCH with
if_missing:create on a missing note answers 404, a null metadata value is
kept, paths compare with case, the same id again answers 500 (409
path_conflict when the path is taken). `new` is the newer vault: triggers
through the API with a bearer, the feed, PATCH that can create, null deletes
a key, paths without case. It reaches no network.

Prints "port N" once listening. Tokens are opaque strings given on the
command line (--read-token, --write-token, --admin-token); the real vault
checks hub JWTs, which the bridge only passes through.

Test controls (no token): GET /_test/notes, GET /_test/wait-notes?tag=T
[&has=KEY...][&where=KEY=VALUE...]&count=N (blocks until N notes carry
tag T, those metadata keys and values), GET /_test/wait-log?method=M&status=S&count=N, GET
/_test/wait-deliveries?count=N, GET /_test/log (the REST calls
made, oldest first), POST /_test/fail {"status": 503, "count": N, "token"?: T} (the next
N writes, by T's holder only when given, answer that status; count -1: until
cleared with count 0),
POST /_test/config-triggers [trigger...] (config.yaml's triggers, both
generations), GET /_test/triggers, GET /_test/deliveries, POST /_test/close-feeds.
"""
import argparse
import base64
import datetime
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Webhooks go straight to loopback, whatever proxy the environment names.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def now_iso():
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


class Vault:
    def __init__(self, args):
        self.args = args
        self.old = args.generation == "old"
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.notes = {}          # id -> note
        self.seq = 0
        self.log = []
        self.fail = {"status": 0, "count": 0}
        self.config_triggers = []
        self.api_triggers = {}   # name -> trigger (new generation)
        self.deliveries = []     # (trigger, note id, status or error)
        self.feeds = []          # open subscriptions

    # --- notes -----------------------------------------------------------
    def find(self, key):
        if key in self.notes:
            return self.notes[key]
        for n in self.notes.values():
            p = n.get("path")
            if p is None:
                continue
            if p == key or (not self.old and p.lower() == key.lower()):
                return n
        return None

    def path_taken(self, path, but=None):
        for n in self.notes.values():
            p = n.get("path")
            if p is not None and n["id"] != but and (
                    p == path or (not self.old and p.lower() == path.lower())):
                return True
        return False

    def new_id(self):
        self.seq += 1
        t = datetime.datetime.now(datetime.timezone.utc)
        return t.strftime("%Y-%m-%d-%H-%M-%S-") + "%06d" % (t.microsecond // 1000 * 1000 + self.seq)

    def merge(self, meta, patch):
        for k, v in patch.items():
            if v is None and not self.old:
                meta.pop(k, None)
            else:
                meta[k] = v

    def create(self, body):
        content = body.get("content", "")
        path = body.get("path")
        if not content and not path:
            return 400, {"error_type": "empty_note", "error": "EmptyNoteError",
                         "message": "empty_note: a note must have either content or a path (item index 0)",
                         "item_index": 0}
        nid = body.get("id") or self.new_id()
        if path is not None and self.path_taken(path):
            return 409, {"error_type": "path_conflict", "error": "path_conflict", "path": path,
                         "message": "path_conflict: another note already uses path \"%s\"" % path}
        if nid in self.notes:
            return 500, {"error": "Internal server error"}
        t = now_iso()
        tags = body.get("tags") or []
        if isinstance(tags, dict):
            tags = tags.get("add", [])
        note = {"id": nid, "content": content, "metadata": dict(body.get("metadata") or {}),
                "createdAt": t, "updatedAt": t, "tags": [x.lstrip("#") for x in tags]}
        if path is not None:
            note["path"] = path
        self.notes[nid] = note
        self.dispatch("created", note)
        return 201, self.view(note)

    def patch(self, key, body):
        note = self.find(key)
        if note is None:
            if body.get("if_missing") == "create" and not self.old:
                b = dict(body)
                b.setdefault("path", key)
                b.pop("id", None)   # the vault picks the id of what it creates
                status, created = self.create(b)
                if status == 201:
                    created["created"] = True
                    return 200, created
                return status, created
            return 404, {"error": "Note not found: \"%s\"" % key}
        if not body.get("force") and "if_updated_at" not in body:
            return 428, {"error_type": "precondition_required", "error": "precondition_required",
                         "message": "update requires `if_updated_at` (the note's last-seen updated_at) or `force: true`.",
                         "note_id": note["id"], "path": note.get("path")}
        if "if_updated_at" in body and body["if_updated_at"] != note["updatedAt"] and not body.get("force"):
            return 409, {"error_type": "conflict", "error": "conflict",
                         "current_updated_at": note["updatedAt"], "note_id": note["id"]}
        changed = False
        if "content" in body:
            note["content"] = body["content"]
            changed = True
        if isinstance(body.get("metadata"), dict):
            self.merge(note["metadata"], body["metadata"])
            changed = True
        tags = body.get("tags")
        if isinstance(tags, dict):
            for t in tags.get("add", []):
                if t not in note["tags"]:
                    note["tags"].append(t)
            note["tags"] = [t for t in note["tags"] if t not in tags.get("remove", [])]
        if changed:
            note["updatedAt"] = now_iso()
            self.dispatch("updated", note)
        v = self.view(note)
        v["created"] = False
        return 200, v

    def delete(self, key):
        note = self.find(key)
        if note is None:
            return 404, {"error": "Not found"}
        del self.notes[note["id"]]
        self.changed.notify_all()
        for f in list(self.feeds):
            f.send({"type": "remove", "id": note["id"]})
        return 200, {"deleted": True, "id": note["id"]}

    @staticmethod
    def view(note):
        return json.loads(json.dumps(note))

    # --- triggers --------------------------------------------------------
    def triggers(self):
        return self.config_triggers + list(self.api_triggers.values())

    @staticmethod
    def matches(tr, note):
        meta = note["metadata"]
        name = tr["name"]
        if meta.get(name + "_pending_at") or meta.get(name + "_rendered_at"):
            return False
        when = tr.get("when", {})
        if any(t not in note["tags"] for t in when.get("tags", [])):
            return False
        if any(meta.get(k) is not None for k in when.get("missing_metadata", [])):
            return False
        if any(meta.get(k) is None for k in when.get("has_metadata", [])):
            return False
        if "has_content" in when and bool(note["content"].strip()) != when["has_content"]:
            return False
        return True

    def dispatch(self, event, note):
        self.changed.notify_all()
        for tr in self.triggers():
            if event in tr.get("events", ["created", "updated"]) and self.matches(tr, note):
                note["metadata"][tr["name"] + "_pending_at"] = now_iso()
                body = {"trigger": tr["name"], "event": event,
                        "note": {"id": note["id"], "content": note["content"],
                                 **({"path": note["path"]} if "path" in note else {}),
                                 "tags": list(note["tags"]),
                                 "metadata": {k: v for k, v in note["metadata"].items()
                                              if k != tr["name"] + "_pending_at"},
                                 "attachments": [], "createdAt": note["createdAt"],
                                 "updatedAt": note["updatedAt"]}}
                threading.Thread(target=self.fire, args=(tr, note["id"], body), daemon=True).start()
        for f in list(self.feeds):
            f.offer(note)

    def fire(self, tr, nid, body):
        action = tr["action"]
        req = urllib.request.Request(action["webhook"], data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        bearer = (action.get("auth") or {}).get("bearer")
        if bearer and not self.old:
            req.add_header("Authorization", "Bearer " + bearer)
        outcome = None
        try:
            with OPENER.open(req, timeout=action.get("timeout", 60000) / 1000) as r:
                raw = r.read()
                outcome = r.status
                answer = json.loads(raw) if raw.strip() else {}
        except urllib.error.HTTPError as e:
            outcome = e.code
            answer = None
        except Exception as e:  # refused, reset, timeout: the vault gives up
            outcome = type(e).__name__
            answer = None
        with self.lock:
            self.deliveries.append({"trigger": tr["name"], "note": nid, "outcome": outcome})
            self.changed.notify_all()
            note = self.notes.get(nid)
            if note is None or not isinstance(answer, dict):
                return      # pending stays: "manual recovery required"
            note["metadata"].pop(tr["name"] + "_pending_at", None)
            if isinstance(answer.get("metadata"), dict):
                note["metadata"].update(answer["metadata"])
            note["metadata"][tr["name"] + "_rendered_at"] = now_iso()

    def put_trigger(self, tr):
        if not isinstance(tr, dict) or not isinstance(tr.get("name"), str) or \
                not isinstance(tr.get("action"), dict) or "webhook" not in tr["action"]:
            return 400, {"error": "invalid trigger"}
        if "deleted" in tr.get("events", []):
            return 400, {"error": "events: deleted is not a trigger event"}
        stored = json.loads(json.dumps(tr))
        t = now_iso()
        stored["created_at"] = self.api_triggers.get(tr["name"], {}).get("created_at", t)
        stored["updated_at"] = t
        self.api_triggers[tr["name"]] = stored
        return 200, {"trigger": redact(stored)}


def redact(tr):
    tr = json.loads(json.dumps(tr))
    if isinstance(tr.get("action", {}).get("auth"), dict):
        tr["action"]["auth"]["bearer"] = "[REDACTED]"
    return tr


class Feed:
    """One live-query subscription on an upgraded socket."""

    def __init__(self, vault, sock, query):
        self.vault = vault
        self.sock = sock
        self.tags = query.get("tag", [])
        self.any = query.get("tag_match", ["all"])[0] == "any"
        self.members = set()
        self.send_lock = threading.Lock()
        self.live = False

    def wants(self, note):
        if not self.tags:
            return True
        have = [t in note["tags"] for t in self.tags]
        return any(have) if self.any else all(have)

    def send(self, msg):
        data = json.dumps(msg).encode()
        head = bytes([0x81])
        n = len(data)
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack(">H", n)
        else:
            head += bytes([127]) + struct.pack(">Q", n)
        with self.send_lock:
            try:
                self.sock.sendall(head + data)
            except OSError:
                pass

    def close(self, code, reason=""):
        payload = struct.pack(">H", code) + reason.encode()
        with self.send_lock:
            try:
                self.sock.sendall(bytes([0x88, len(payload)]) + payload)
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def offer(self, note):
        if not self.live:
            return
        if self.wants(note):
            self.members.add(note["id"])
            self.send({"type": "upsert", "note": Vault.view(note)})
        elif note["id"] in self.members:
            self.members.discard(note["id"])
            self.send({"type": "remove", "id": note["id"]})

    def read_frame(self):
        def exact(n):
            buf = b""
            while len(buf) < n:
                chunk = self.sock.recv(n - len(buf))
                if not chunk:
                    raise EOFError
                buf += chunk
            return buf
        b0, b1 = exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", exact(8))[0]
        mask = exact(4) if b1 & 0x80 else b"\0\0\0\0"
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(exact(n)))
        return b0 & 0x0F, data

    def run(self, tokens):
        self.sock.settimeout(10)
        try:
            op, data = self.read_frame()
            msg = json.loads(data) if op == 1 else None
        except socket.timeout:
            self.close(4408, "auth timeout")
            return
        except Exception:
            self.close(4400, "bad message")
            return
        if not isinstance(msg, dict) or msg.get("type") != "auth":
            self.close(4400, "first message must be auth")
            return
        if msg.get("token") not in tokens:
            self.close(4401, "auth failed")
            return
        self.sock.settimeout(None)
        with self.vault.lock:
            matching = [Vault.view(n) for n in self.vault.notes.values() if self.wants(n)]
            self.members = {n["id"] for n in matching}
            chunks = [matching[i:i + 200] for i in range(0, len(matching), 200)] or [[]]
            for i, c in enumerate(chunks):
                self.send({"type": "snapshot", "notes": c, "done": i == len(chunks) - 1})
            self.live = True
            self.vault.feeds.append(self)
        try:
            while True:
                op, data = self.read_frame()
                if op == 8:
                    break
                if op == 9:
                    with self.send_lock:
                        self.sock.sendall(bytes([0x8A, len(data)]) + data)
                elif op == 1 and data == b"ping":
                    with self.send_lock:
                        self.sock.sendall(bytes([0x81, 4]) + b"pong")
        except Exception:
            pass
        finally:
            with self.vault.lock:
                if self in self.vault.feeds:
                    self.vault.feeds.remove(self)


def make_handler(vault):
    args = vault.args
    prefix = "/vault/%s/api" % args.vault

    def scope(token):
        if token and token == args.admin_token:
            return 3
        if token and token == args.write_token:
            return 2
        if token and token == args.read_token:
            return 1
        return 0

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            if args.verbose:
                sys.stderr.write("vault: " + fmt % a + "\n")

        def answer(self, status, body, record=True):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            if record:
                with vault.lock:
                    vault.log.append({"method": self.command, "path": self.path, "status": status,
                                      "body": getattr(self, "body", None)})
                    vault.changed.notify_all()

        def read_body(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                self.body = json.loads(raw) if raw else None
            except ValueError:
                self.body = raw.decode(errors="replace")
            return self.body

        def token(self):
            h = self.headers.get("Authorization") or ""
            return h[7:] if h.startswith("Bearer ") else None

        def auth(self, need):
            tok = self.token()
            if tok is None:
                self.answer(401, {"error": "Unauthorized", "message": "API key required"})
                return False
            have = scope(tok)
            if have == 0:
                self.answer(401, {"error": "Unauthorized",
                                  "message": "hub JWT verification failed: signature verification failed"})
                return False
            if have < need:
                verb = ["", "read", "write", "admin"][need]
                self.answer(403, {"error": "Forbidden", "error_type": "insufficient_scope",
                                  "message": "This endpoint requires the 'vault:%s' scope (or 'vault:%s:%s')."
                                  % (verb, args.vault, verb),
                                  "required_scope": "vault:" + verb,
                                  "granted_scopes": ["vault:%s:%s" % (args.vault, ["", "read", "write", "admin"][have])]})
                return False
            return True

        def injected_failure(self):
            with vault.lock:
                f = vault.fail
                if f["count"] == 0 or (f.get("token") and f["token"] != self.token()):
                    return False
                if f["count"] > 0:
                    f["count"] -= 1
                status = f["status"]
            self.answer(status, {"error": "Service Unavailable" if status == 503 else "injected"})
            return True

        def wait(self, query, what):
            """Blocks until `what()` holds `count` items (at most `timeout` s)."""
            q = urllib.parse.parse_qs(query)
            count = int(q.get("count", ["1"])[0])
            timeout = float(q.get("timeout", ["10"])[0])
            with vault.lock:
                vault.changed.wait_for(lambda: len(what(q)) >= count, timeout)
                return self.answer(200, what(q), False)

        def control(self, method, path, query=""):
            if method == "GET" and path == "/_test/wait-notes":
                return self.wait(query, lambda q: [
                    n for n in vault.notes.values() if q.get("tag", [""])[0] in n["tags"]
                    and all(n["metadata"].get(k) is not None for k in q.get("has", []))
                    and all(str(n["metadata"].get(w.split("=", 1)[0])) == w.split("=", 1)[1]
                            for w in q.get("where", []))])
            if method == "GET" and path == "/_test/wait-log":
                return self.wait(query, lambda q: [e for e in vault.log
                                                   if e["method"] == q.get("method", [""])[0]
                                                   and str(e["status"]) == q.get("status", [""])[0]])
            if method == "GET" and path == "/_test/wait-deliveries":
                return self.wait(query, lambda q: vault.deliveries)
            with vault.lock:
                if method == "GET" and path == "/_test/notes":
                    return self.answer(200, list(vault.notes.values()), False)
                if method == "GET" and path == "/_test/log":
                    return self.answer(200, vault.log, False)
                if method == "GET" and path == "/_test/deliveries":
                    return self.answer(200, vault.deliveries, False)
                if method == "GET" and path == "/_test/triggers":
                    return self.answer(200, vault.triggers(), False)
                if method == "POST" and path == "/_test/fail":
                    vault.fail = {"status": self.body.get("status", 503), "count": self.body.get("count", -1),
                                  "token": self.body.get("token")}
                    return self.answer(200, vault.fail, False)
                if method == "POST" and path == "/_test/config-triggers":
                    vault.config_triggers = self.body
                    return self.answer(200, {"ok": True}, False)
                if method == "POST" and path == "/_test/close-feeds":
                    for f in list(vault.feeds):
                        f.close(1011, "closed by the test")
                    return self.answer(200, {"closed": True}, False)
            return self.answer(404, {"error": "Not found"}, False)

        def route(self, method):
            url = urllib.parse.urlsplit(self.path)
            if method in ("POST", "PATCH", "PUT"):
                self.read_body()
            if url.path.startswith("/_test/"):
                return self.control(method, url.path, url.query)
            if url.path == prefix + "/subscribe":
                return self.subscribe(url)
            if url.path == prefix + "/triggers" or url.path.startswith(prefix + "/triggers/"):
                if vault.old:
                    return self.answer(404, {"error": "Not found"})
                if not self.auth(3):
                    return
                with vault.lock:
                    if method == "GET":
                        return self.answer(200, {"triggers": [redact(t) for t in vault.api_triggers.values()]})
                    if method == "POST":
                        return self.answer(*vault.put_trigger(self.body))
                return self.answer(405, {"error": "Method not allowed"})
            if url.path == prefix + "/notes" or url.path.startswith(prefix + "/notes/"):
                key = urllib.parse.unquote(url.path[len(prefix + "/notes/"):]) \
                    if url.path.startswith(prefix + "/notes/") else None
                if not self.auth(1 if method == "GET" else 2):
                    return
                if method != "GET" and self.injected_failure():
                    return
                with vault.lock:
                    if method == "POST" and key is None:
                        if not isinstance(self.body, dict):
                            return self.answer(400, {"error": "invalid body"})
                        return self.answer(*vault.create(self.body))
                    if method == "GET" and key is not None:
                        n = vault.find(key)
                        return self.answer(200, n) if n else self.answer(404, {"error": "Not found"})
                    if method == "GET":
                        return self.answer(200, list(vault.notes.values()))
                    if method == "PATCH" and key is not None:
                        if not isinstance(self.body, dict):
                            return self.answer(400, {"error": "invalid body"})
                        return self.answer(*vault.patch(key, self.body))
                    if method == "DELETE" and key is not None:
                        return self.answer(*vault.delete(key))
                return self.answer(405, {"error": "Method not allowed"})
            return self.answer(404, {"error": "Not found"})

        def subscribe(self, url):
            if vault.old:
                if not self.token():
                    return self.answer(401, {"error": "Unauthorized", "message": "API key required"})
                return self.answer(404, {"error": "Not found"})
            key = self.headers.get("Sec-WebSocket-Key")
            if (self.headers.get("Upgrade") or "").lower() != "websocket" or not key:
                return self.answer(426, {"error": "Upgrade Required"})
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            with vault.lock:
                vault.log.append({"method": "GET", "path": self.path, "status": 101, "body": None})
            tokens = {t for t in (args.read_token, args.write_token, args.admin_token) if t}
            Feed(vault, self.connection, urllib.parse.parse_qs(url.query)).run(tokens)
            self.close_connection = True

        def do_GET(self):
            self.route("GET")

        def do_POST(self):
            self.route("POST")

        def do_PATCH(self):
            self.route("PATCH")

        def do_DELETE(self):
            self.route("DELETE")

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--generation", choices=["old", "new"], default="new")
    p.add_argument("--vault", default="default")
    p.add_argument("--read-token")
    p.add_argument("--write-token")
    p.add_argument("--admin-token")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    vault = Vault(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(vault))
    server.daemon_threads = True
    print("port %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
