#!/usr/bin/env node
// A small MQTT.js (npm `mqtt`, pinned in tests/integration/js) driver for
// test_mqtt_clients.py. It takes one JSON command, as the first argument or
// on stdin, and prints JSON lines on stdout: progress events while it runs
// ({"event": ...}), then one final line {"result": ...} or {"error": ...}
// (exit code 1 for the latter).
//
// Every command has "url" (mqtt://HOST:PORT or ws://HOST:PORT/mqtt) and
// "options" (MQTT.js connect options: protocolVersion 4 or 5, clientId,
// clean, properties ...; reconnection is always off).
//
//   {"op": "sub", "subscriptions": [{"topic", "qos", "nl", "rap", "rh"}] (may be
//    empty: a resumed session keeps its subscriptions),
//    "count": N, "timeoutMs": T, "properties": {...}}
//     Connects, prints {"event": "connected", "sessionPresent", "properties"},
//     subscribes, prints {"event": "subscribed", "granted": [codes]}, then one
//     {"event": "message", ...} per message, and ends after N messages
//     (normal DISCONNECT). result: {"messages": [...]}
//     A message: {topic, payload_b64, payload (when UTF-8), qos, retain, dup,
//     properties}.
//   {"op": "pub", "messages": [{"topic", "payload" | "payload_b64", "qos",
//    "retain", "properties"}]}
//     Connects, publishes each message and waits for its QoS flow, then
//     disconnects. result: {"published": N, "sessionPresent"}
'use strict';

const path = require('path');
const mqtt = require(path.join(__dirname, 'js', 'node_modules', 'mqtt'));

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function describeError(e) {
  if (e === undefined || e === null) return null;
  return { name: e.name || null, code: e.code === undefined ? null : e.code,
           message: e.message || String(e) };
}

// JSON has no Buffer: correlation data travels as base64 both ways.
function propsIn(p) {
  if (!p) return undefined;
  const out = Object.assign({}, p);
  if (out.correlationData_b64 !== undefined) {
    out.correlationData = Buffer.from(out.correlationData_b64, 'base64');
    delete out.correlationData_b64;
  }
  return out;
}

function propsOut(p) {
  if (!p) return {};
  const out = {};
  for (const [k, v] of Object.entries(p)) {
    out[k] = Buffer.isBuffer(v) ? { b64: v.toString('base64') } : v;
  }
  return out;
}

function connect(cmd, onMessage) {
  const options = Object.assign({ reconnectPeriod: 0, connectTimeout: 10000, keepalive: 30 },
                                cmd.options || {});
  if (options.properties) options.properties = propsIn(options.properties);
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(cmd.url, options);
    // before the CONNACK: a resumed session's queued messages come right after it
    if (onMessage) client.on('message', onMessage);
    const onError = (e) => { client.end(true); reject(e); };
    client.once('error', onError);
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
    client.once('connect', (connack) => {
      client.removeListener('error', onError);
      client.removeAllListeners('close');
      resolve({ client, connack });
    });
  });
}

function end(client) {
  return new Promise((resolve) => client.end(false, {}, () => resolve()));
}

async function sub(cmd) {
  const messages = [];
  let done;
  const finished = new Promise((resolve) => { done = resolve; });
  const onMessage = (topic, payload, packet) => {
    const m = {
      topic, payload_b64: payload.toString('base64'), qos: packet.qos,
      retain: packet.retain, dup: packet.dup, properties: propsOut(packet.properties),
    };
    const text = payload.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(payload)) m.payload = text;
    messages.push(m);
    emit(Object.assign({ event: 'message' }, m));
    if (messages.length >= cmd.count) done();
  };
  const { client, connack } = await connect(cmd, onMessage);
  emit({ event: 'connected', sessionPresent: connack.sessionPresent,
         properties: propsOut(connack.properties) });
  const subs = {};
  for (const s of cmd.subscriptions) {
    const o = { qos: s.qos || 0 };
    if (s.nl !== undefined) o.nl = s.nl;
    if (s.rap !== undefined) o.rap = s.rap;
    if (s.rh !== undefined) o.rh = s.rh;
    subs[s.topic] = o;
  }
  // none given: a resumed session already has its subscriptions
  const granted = cmd.subscriptions.length === 0 ? [] : await new Promise((resolve, reject) => {
    const opts = cmd.properties ? { properties: cmd.properties } : {};
    client.subscribe(subs, opts, (err, g) => (err ? reject(err) : resolve(g)));
  });
  emit({ event: 'subscribed', granted: granted.map((g) => g.qos) });
  if (cmd.count > 0) {
    const timer = setTimeout(() => done('timeout'), cmd.timeoutMs || 20000);
    const why = await finished;
    clearTimeout(timer);
    if (why === 'timeout') {
      await end(client);
      throw new Error(`timed out with ${messages.length} of ${cmd.count} messages`);
    }
  }
  await end(client);
  return { messages, sessionPresent: connack.sessionPresent };
}

async function pub(cmd) {
  const { client, connack } = await connect(cmd);
  let n = 0;
  for (const m of cmd.messages) {
    const payload = m.payload_b64 !== undefined ? Buffer.from(m.payload_b64, 'base64') : m.payload;
    const opts = { qos: m.qos || 0, retain: !!m.retain };
    if (m.properties) opts.properties = propsIn(m.properties);
    await new Promise((resolve, reject) => {
      client.publish(m.topic, payload, opts, (err) => (err ? reject(err) : resolve()));
    });
    n += 1;
  }
  await end(client);
  return { published: n, sessionPresent: connack.sessionPresent };
}

async function main() {
  let raw = process.argv[2];
  if (raw === undefined) {
    raw = require('fs').readFileSync(0, 'utf8');
  }
  const cmd = JSON.parse(raw);
  const ops = { sub, pub };
  if (!ops[cmd.op]) throw new Error(`unknown op ${cmd.op}`);
  const result = await ops[cmd.op](cmd);
  emit({ result });
}

main().then(() => process.exit(0)).catch((e) => {
  emit({ error: describeError(e) });
  process.exit(1);
});
