"""The MQTT face with ordinary clients, unchanged: mosquitto_pub and
mosquitto_sub (mosquitto-clients, MQTT 3.1.1 and 5.0, QoS 0/1/2, retained
messages, wildcards, persistent sessions, v5 properties) and MQTT.js (npm
`mqtt`, pinned in tests/integration/js; driven by mqttjs_client.js, one JSON
command in, JSON lines out) over TCP and over WebSocket at /mqtt, protocol
versions 4 and 5, talking to each other and to paho-mqtt."""
import base64
import json
import pathlib
import queue
import shutil
import subprocess
import threading
import time

import pytest

from mqtt_support import PahoClient, broker, unique  # noqa: F401  (broker is a fixture)

HERE = pathlib.Path(__file__).resolve().parent
MQTTJS = HERE / "mqttjs_client.js"
NODE = shutil.which("node")
VERSIONS = pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])


# --- mosquitto-clients ------------------------------------------------------------


def _address_args(broker, version):
    host, port = broker.address
    return ["-h", host, "-p", str(port), "-V", version]


class Lines:
    """Reads a process's stdout lines into a queue on a thread."""

    def __init__(self, proc):
        self.proc = proc
        self.queue = queue.Queue()
        self.all = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.queue.put(line.rstrip("\n"))
        self.queue.put(None)

    def next(self, deadline):
        try:
            line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no output within the time allowed; so far: {self.all}") from None
        if line is not None:
            self.all.append(line)
        return line


class MosquittoSub:
    """mosquitto_sub, returned once subscribed (its -d output says so).
    Messages are printed as `MSG retain qos topic hexpayload userprops`."""

    FORMAT = "MSG %r %q %t %x %P"

    def __init__(self, broker, *topics, version="mqttv5", qos=0, count=None, extra=(), timeout=20,
                 wait_subscribed=True):
        """`wait_subscribed=False` for a resumed session, whose queued
        messages may all come (and -C end it) before the SUBACK."""
        # stdbuf: line-buffered stdout, so each line is seen as it is printed
        args = ["stdbuf", "-oL", "mosquitto_sub", *_address_args(broker, version), "-q", str(qos), "-d",
                "-F", self.FORMAT, "-W", str(timeout)]
        for t in topics:
            args += ["-t", t]
        if count is not None:
            args += ["-C", str(count)]
        args += list(extra)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = Lines(self.proc)
        deadline = time.monotonic() + 10
        while wait_subscribed:
            line = self.lines.next(deadline)
            assert line is not None, f"mosquitto_sub ended before subscribing: {self.lines.all}"
            if line.startswith("Subscribed"):
                break

    def messages(self, n, timeout=15):
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            line = self.lines.next(deadline)
            assert line is not None, f"mosquitto_sub ended after {len(out)} of {n}: {self.lines.all}"
            if line.startswith("MSG "):
                out.append(_parse_msg(line))
        return out

    def finish(self, timeout=15):
        """Waits for mosquitto_sub to exit; returns (exit code, messages)."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            line = self.lines.next(deadline)
            if line is None:
                break
            if line.startswith("MSG "):
                out.append(_parse_msg(line))
        return self.proc.wait(timeout), out

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def _parse_msg(line):
    parts = line.split(" ", 5)
    retain, qos, topic, hexpayload = parts[1], parts[2], parts[3], parts[4]
    return {"retain": retain == "1", "qos": int(qos), "topic": topic,
            "payload": bytes.fromhex(hexpayload), "props": parts[5] if len(parts) > 5 else ""}


def mosquitto_pub(broker, topic, message=None, version="mqttv5", qos=0, retain=False, extra=()):
    args = ["mosquitto_pub", *_address_args(broker, version), "-t", topic, "-q", str(qos)]
    args += ["-n"] if message is None else ["-m", message]
    if retain:
        args.append("-r")
    args += list(extra)
    proc = subprocess.run(args, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, f"mosquitto_pub exited {proc.returncode}: {proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("qos", [0, 1, 2])
@VERSIONS
def test_mosquitto_pub_and_sub_with_wildcards(broker, version, qos):
    """mosquitto_sub on `+` and `#` filters gets exactly the matching
    messages mosquitto_pub sends, in order, at the QoS asked for."""
    sub = MosquittoSub(broker, "mc/+/x", "mc/all/#", version=version, qos=qos, count=4)
    for topic in ["mc/a/x", "mc/b/y", "mc/all/deep/t", "mc/a/x/z", "mc/all", "mc/c/x"]:
        mosquitto_pub(broker, topic, f"to {topic}", version=version, qos=qos)
    code, got = sub.finish()
    assert code == 0
    assert [(m["topic"], m["payload"], m["qos"], m["retain"]) for m in got] == [
        (t, f"to {t}".encode(), qos, False) for t in ["mc/a/x", "mc/all/deep/t", "mc/all", "mc/c/x"]]


@VERSIONS
def test_mosquitto_retained_messages(broker, version):
    """mosquitto_pub -r sets retained messages a later mosquitto_sub gets
    with the retain flag; -r -n clears one."""
    mosquitto_pub(broker, "mr/a", "one", version=version, qos=1, retain=True)
    mosquitto_pub(broker, "mr/b", "two", version=version, qos=1, retain=True)
    sub = MosquittoSub(broker, "mr/#", version=version, qos=1, count=2)
    code, got = sub.finish()
    assert code == 0
    assert sorted((m["topic"], m["payload"], m["retain"]) for m in got) == \
        [("mr/a", b"one", True), ("mr/b", b"two", True)]
    mosquitto_pub(broker, "mr/a", None, version=version, qos=1, retain=True)  # -n: clear
    sub = MosquittoSub(broker, "mr/#", version=version, qos=1, extra=["--retained-only"])
    mosquitto_pub(broker, "mr/live", "not retained", version=version, qos=1)  # ends --retained-only
    code, got = sub.finish()
    assert [(m["topic"], m["payload"]) for m in got] == [("mr/b", b"two")]


@VERSIONS
def test_mosquitto_persistent_session(broker, version):
    """mosquitto_sub -c -i ID keeps its session: messages published while it
    is away come when it returns."""
    cid = unique("ms")
    extra = ["-c", "-i", cid] + (["-x", "3600"] if version == "mqttv5" else [])
    first = MosquittoSub(broker, "mp/#", version=version, qos=1, extra=extra + ["-E"])
    code, _ = first.finish()
    assert code == 0
    for i in range(3):
        mosquitto_pub(broker, "mp/t", f"queued {i}", version=version, qos=1)
    back = MosquittoSub(broker, "mp/#", version=version, qos=1, count=3, extra=extra, wait_subscribed=False)
    code, got = back.finish()
    assert code == 0
    assert [m["payload"] for m in got] == [f"queued {i}".encode() for i in range(3)]


def test_mosquitto_v5_properties(broker):
    """mosquitto_pub -D publish user-property / content-type reach
    mosquitto_sub -V mqttv5 unaltered."""
    sub = MosquittoSub(broker, "mv/#", version="mqttv5", qos=1, count=1,
                       extra=["-F", "MSG %r %q %t %x %P|%C"])
    mosquitto_pub(broker, "mv/t", "props", version="mqttv5", qos=1,
                  extra=["-D", "publish", "user-property", "trace", "abc",
                         "-D", "publish", "content-type", "text/plain"])
    code, got = sub.finish()
    assert code == 0
    assert got[0]["payload"] == b"props"
    assert got[0]["props"] == "trace:abc|text/plain"


def test_mosquitto_large_binary_payload(broker, tmp_path):
    """A 256 KiB binary payload (mosquitto_pub -f) arrives byte for byte."""
    payload = bytes(range(256)) * 1024
    path = tmp_path / "payload.bin"
    path.write_bytes(payload)
    sub = MosquittoSub(broker, "ml/t", version="mqttv311", qos=1, count=1)
    host, port = broker.address
    proc = subprocess.run(["mosquitto_pub", "-h", host, "-p", str(port), "-V", "mqttv311", "-q", "1",
                           "-t", "ml/t", "-f", str(path)], capture_output=True, timeout=20)
    assert proc.returncode == 0, proc
    code, got = sub.finish()
    assert code == 0 and got[0]["payload"] == payload


# --- MQTT.js --------------------------------------------------------------------------


@pytest.fixture
def mqttjs_ready():
    assert NODE, "node is not installed: run scripts/install-deps"
    assert (HERE / "js/node_modules/mqtt/package.json").exists(), \
        "MQTT.js is not installed: run scripts/install-deps"


def _url(broker, transport):
    host, port = broker.address
    return f"mqtt://{host}:{port}" if transport == "tcp" else broker.ws_url


class MqttJs:
    """One mqttjs_client.js command in its own node process; its JSON lines
    are read as they come."""

    def __init__(self, broker, op, transport="tcp", **command):
        command = {"op": op, "url": _url(broker, transport), **command}
        self.proc = subprocess.Popen([NODE, str(MQTTJS), json.dumps(command)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = Lines(self.proc)

    def event(self, name, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.next(deadline)
            assert line is not None, f"mqttjs_client ended: {self.lines.all}\n{self.proc.stderr.read()}"
            obj = json.loads(line)
            assert "error" not in obj, f"mqttjs_client failed: {obj['error']}"
            if obj.get("event") == name:
                return obj

    def result(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.next(deadline)
            assert line is not None, f"mqttjs_client ended without a result: {self.lines.all}"
            obj = json.loads(line)
            assert "error" not in obj, f"mqttjs_client failed: {obj['error']}"
            if "result" in obj:
                assert self.proc.wait(10) == 0
                return obj["result"]


def mqttjs_pub(broker, messages, transport="tcp", **options):
    return MqttJs(broker, "pub", transport, options=options, messages=messages).result()


TRANSPORTS = pytest.mark.parametrize("transport", ["tcp", "ws"])
PROTOCOLS = pytest.mark.parametrize("protocol", [4, 5], ids=["v311", "v5"])


@TRANSPORTS
@PROTOCOLS
def test_mqttjs_publish_and_subscribe(broker, mqttjs_ready, transport, protocol):
    """MQTT.js subscribes with `+` and `#` and publishes at QoS 0, 1 and 2,
    over TCP and over WebSocket (subprotocol mqtt), as protocol version 4 and
    5: every matching message arrives, in order, at the QoS it was published
    with."""
    sub = MqttJs(broker, "sub", transport, options={"protocolVersion": protocol, "clientId": unique("js")},
                 subscriptions=[{"topic": "js/+/x", "qos": 2}, {"topic": "js/all/#", "qos": 2}], count=4)
    assert sub.event("subscribed")["granted"] == [2, 2]
    messages = [{"topic": t, "payload": f"{t}@{q}", "qos": q}
                for t, q in [("js/a/x", 0), ("js/b/y", 1), ("js/all/deep", 1), ("js/c/x", 2), ("js/all", 2)]]
    mqttjs_pub(broker, messages, transport, protocolVersion=protocol, clientId=unique("jp"))
    got = sub.result()["messages"]
    assert [(m["topic"], m["payload"], m["qos"]) for m in got] == \
        [(m["topic"], m["payload"], m["qos"]) for m in messages if m["topic"] != "js/b/y"]


@TRANSPORTS
def test_mqttjs_v5_properties(broker, mqttjs_ready, transport):
    """MQTT 5 properties set by MQTT.js (user properties, content type,
    response topic, correlation data, payload format) reach an MQTT.js
    subscriber unaltered [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16]
    [MQTT-3.3.2-17] [MQTT-3.3.2-20]."""
    sub = MqttJs(broker, "sub", transport, options={"protocolVersion": 5, "clientId": unique("js")},
                 subscriptions=[{"topic": "jv/#", "qos": 1}], count=1)
    sub.event("subscribed")
    corr = bytes([0, 1, 2, 250])
    props = {"userProperties": {"trace": "abc", "tenant": "t1"}, "contentType": "application/json",
             "responseTopic": "jv/reply", "correlationData_b64": base64.b64encode(corr).decode(),
             "payloadFormatIndicator": True}
    mqttjs_pub(broker, [{"topic": "jv/req", "payload": '{"q":1}', "qos": 1, "properties": props}], transport,
               protocolVersion=5, clientId=unique("jp"))
    m = sub.result()["messages"][0]
    p = m["properties"]
    assert m["payload"] == '{"q":1}'
    assert p["userProperties"] == {"trace": "abc", "tenant": "t1"}
    assert p["contentType"] == "application/json" and p["responseTopic"] == "jv/reply"
    assert base64.b64decode(p["correlationData"]["b64"]) == corr
    assert p["payloadFormatIndicator"] is True


@PROTOCOLS
def test_mqttjs_retained_and_persistent_session(broker, mqttjs_ready, protocol):
    """MQTT.js: a retained message reaches a later subscriber with the retain
    flag; a clean=false session (v5: with a session expiry) gets the QoS 1
    messages published while it was away, and session present on return."""
    mqttjs_pub(broker, [{"topic": "jr/state", "payload": "on", "qos": 1, "retain": True}],
               protocolVersion=protocol, clientId=unique("jp"))
    cid = unique("jsess")
    options = {"protocolVersion": protocol, "clientId": cid, "clean": False}
    if protocol == 5:
        options["properties"] = {"sessionExpiryInterval": 3600}
    first = MqttJs(broker, "sub", options=options, subscriptions=[{"topic": "jr/#", "qos": 1}], count=1)
    assert first.event("connected")["sessionPresent"] is False
    got = first.result()["messages"]
    assert [(m["topic"], m["payload"], m["retain"]) for m in got] == [("jr/state", "on", True)]
    mqttjs_pub(broker, [{"topic": "jr/event", "payload": f"e{i}", "qos": 1} for i in range(3)],
               protocolVersion=protocol, clientId=unique("jp"))
    back = MqttJs(broker, "sub", options=options, subscriptions=[], count=3)  # the session's subscription
    assert back.event("connected")["sessionPresent"] is True
    got = back.result()["messages"]
    assert [(m["topic"], m["payload"]) for m in got] == [("jr/event", f"e{i}") for i in range(3)]


@PROTOCOLS
def test_clients_interoperate(broker, mqttjs_ready, protocol):
    """MQTT.js over WebSocket, mosquitto_sub over TCP and paho-mqtt over TCP
    all receive what each of the others publishes."""
    version = "mqttv5" if protocol == 5 else "mqttv311"
    msub = MosquittoSub(broker, "io/#", version=version, qos=1, count=3)
    jsub = MqttJs(broker, "sub", "ws", options={"protocolVersion": protocol, "clientId": unique("js")},
                  subscriptions=[{"topic": "io/#", "qos": 1}], count=3)
    jsub.event("subscribed")
    paho = PahoClient(broker, unique("pa"), protocol)
    paho.connect()
    assert paho.subscribe("io/#", 1) == [1]
    mqttjs_pub(broker, [{"topic": "io/from-js", "payload": "js", "qos": 1}], "ws",
               protocolVersion=protocol, clientId=unique("jp"))
    assert paho.next().topic == "io/from-js"
    mosquitto_pub(broker, "io/from-mosquitto", "mosquitto", version=version, qos=1)
    assert paho.next().topic == "io/from-mosquitto"
    paho.publish("io/from-paho", b"paho", 1)
    assert paho.next().topic == "io/from-paho"
    expected = [("io/from-js", b"js"), ("io/from-mosquitto", b"mosquitto"), ("io/from-paho", b"paho")]
    code, got = msub.finish()
    assert code == 0 and [(m["topic"], m["payload"]) for m in got] == expected
    got = jsub.result()["messages"]
    assert [(m["topic"], m["payload"].encode()) for m in got] == expected
    paho.close()
