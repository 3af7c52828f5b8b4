#!/usr/bin/env node
// A small kafkajs (2.2.4, tests/integration/js) driver for
// test_kafka_kafkajs.py. It takes one JSON command, as the first argument or
// on stdin, and prints JSON lines on stdout: progress events while it runs
// ({"event": ...}), then one final line {"result": ...} or {"error": ...}
// (exit code 1 for the latter).
//
// Commands (every one has "brokers": ["HOST:PORT"]; optional "clientId", and
// "retries", kafkajs's retry count, 5 unless given):
//   {"op": "admin", "actions": [{"action": "createTopics", "topic", "partitions"},
//        {"action": "fetchTopicMetadata", "topics"}, {"action": "listTopics"},
//        {"action": "deleteTopics", "topics"}, {"action": "fetchTopicOffsets", "topic"},
//        {"action": "fetchOffsets", "groupId", "topics"}, {"action": "listGroups"},
//        {"action": "describeGroups", "groupIds"}]}
//     result: one entry per action, {"ok": value} or {"error": {name, type, code, message}}
//   {"op": "produce", "topic", "messages": [{"key", "value", "headers"}],
//        "acks": -1, "compression": "none" | "gzip"}
//     result: the RecordMetadata list (partition, baseOffset, errorCode)
//   {"op": "consume", "groupId", "topic", "count", "timeoutMs",
//        "commit": "auto" | "manual", "fromBeginning": true}
//     Joins the group, consumes until it has `count` messages or the deadline
//     passes, waits until the offsets after what it read are committed
//     (autoCommit, or an explicit commitOffsets in "manual" mode), then
//     disconnects (leaving the group). Prints {"event": "joined", ...} at each
//     join. With "countFromStdin": true instead of "count", the count
//     arrives later on stdin as a line {"count": N}.
//     result: {messages, committed, timedOut, crashes, joins}
//
// kafkajs logs nothing unless KAFKAJS_LOG_LEVEL (ERROR, WARN, INFO, DEBUG) is
// set; its logs go to stderr, never to the JSON on stdout.
'use strict';

const path = require('path');
const { Kafka, logLevel, CompressionTypes, Partitioners } =
  require(path.join(__dirname, 'js', 'node_modules', 'kafkajs'));

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// kafkajs wraps the broker's error (type: the Kafka error name, code) in
// KafkaJSNumberOfRetriesExceeded once its retries are spent: `cause` keeps it.
function describeError(e) {
  if (e === undefined || e === null) return null;
  return {
    name: e.name || null,
    type: e.type || null,
    code: e.code === undefined ? null : e.code,
    message: e.message || String(e),
    cause: e.cause ? describeError(e.cause) : null,
  };
}

function kafkaFor(cmd) {
  return new Kafka({
    clientId: cmd.clientId || 'skein-kafkajs-test',
    brokers: cmd.brokers,
    connectionTimeout: 3000,
    requestTimeout: 15000,
    retry: { retries: cmd.retries === undefined ? 5 : cmd.retries, initialRetryTime: 100,
             maxRetryTime: 2000 },
    logLevel: logLevel.NOTHING,
    logCreator: () => ({ namespace, label, log }) => {
      process.stderr.write(`kafkajs ${label} [${namespace}] ${JSON.stringify(log)}\n`);
    },
  });
}

// ---------------------------------------------------------------------------
async function admin(cmd) {
  const client = kafkaFor(cmd).admin();
  await client.connect();
  const results = [];
  try {
    for (const a of cmd.actions) {
      try {
        results.push({ ok: await adminAction(client, a) });
      } catch (e) {
        results.push({ error: describeError(e) });
      }
    }
  } finally {
    await client.disconnect();
  }
  return results;
}

async function adminAction(client, a) {
  switch (a.action) {
    case 'createTopics': {
      const topic = { topic: a.topic, numPartitions: a.partitions };
      if (a.replicationFactor !== undefined) topic.replicationFactor = a.replicationFactor;
      if (a.configEntries) topic.configEntries = a.configEntries;
      return client.createTopics({ topics: [topic], waitForLeaders: true, timeout: 10000 });
    }
    case 'fetchTopicMetadata': {
      const { topics } = await client.fetchTopicMetadata({ topics: a.topics });
      return topics.map(t => ({
        name: t.name,
        partitions: t.partitions
          .map(p => ({ partitionId: p.partitionId, leader: p.leader, replicas: p.replicas,
                       isr: p.isr, partitionErrorCode: p.partitionErrorCode }))
          .sort((x, y) => x.partitionId - y.partitionId),
      }));
    }
    case 'listTopics':
      return (await client.listTopics()).sort();
    case 'deleteTopics':
      await client.deleteTopics({ topics: a.topics, timeout: 10000 });
      return true;
    case 'fetchTopicOffsets':
      return (await client.fetchTopicOffsets(a.topic))
        .map(p => ({ partition: p.partition, low: p.low, high: p.high, offset: p.offset }))
        .sort((x, y) => x.partition - y.partition);
    case 'fetchOffsets':
      return (await client.fetchOffsets({ groupId: a.groupId, topics: a.topics })).map(t => ({
        topic: t.topic,
        partitions: t.partitions
          .map(p => ({ partition: p.partition, offset: p.offset }))
          .sort((x, y) => x.partition - y.partition),
      }));
    case 'listGroups':
      return (await client.listGroups()).groups;
    case 'describeGroups':
      return (await client.describeGroups(a.groupIds)).groups.map(g => ({
        groupId: g.groupId, state: g.state, protocolType: g.protocolType,
        protocol: g.protocol, errorCode: g.errorCode, members: g.members.length,
      }));
    default:
      throw new Error(`unknown admin action ${a.action}`);
  }
}

// ---------------------------------------------------------------------------
async function produce(cmd) {
  const producer = kafkaFor(cmd).producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  try {
    const compression = {
      none: CompressionTypes.None, gzip: CompressionTypes.GZIP,
    }[cmd.compression || 'none'];
    const metadata = await producer.send({
      topic: cmd.topic,
      acks: cmd.acks === undefined ? -1 : cmd.acks,
      timeout: 10000,
      compression,
      messages: cmd.messages.map(m => ({ key: m.key, value: m.value, headers: m.headers })),
    });
    return metadata
      .map(r => ({ topic: r.topicName, partition: r.partition, errorCode: r.errorCode,
                   baseOffset: r.baseOffset }))
      .sort((x, y) => x.partition - y.partition);
  } finally {
    await producer.disconnect();
  }
}

// ---------------------------------------------------------------------------
async function consume(cmd) {
  const manual = cmd.commit === 'manual';
  const consumer = kafkaFor(cmd).consumer({
    groupId: cmd.groupId,
    sessionTimeout: cmd.sessionTimeout || 10000,
    rebalanceTimeout: cmd.rebalanceTimeout || 10000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 200,
    allowAutoTopicCreation: false,
  });
  const messages = [];
  const crashes = [];
  const joins = [];
  const committed = {}; // partition -> committed offset (string), from COMMIT_OFFSETS
  const consumedUpTo = {}; // partition -> offset after the last message read
  let waiter = null; // resolves when the stop condition holds

  // The target count is in the command, or comes later on stdin as a line
  // {"count": N} (a member of a shared group learns its share that way).
  let target = cmd.count;
  const done = () =>
    target !== undefined && target !== null && messages.length >= target &&
    Object.keys(consumedUpTo).every(p => committed[p] !== undefined &&
                                         BigInt(committed[p]) >= consumedUpTo[p]);
  const check = () => { if (waiter && done()) waiter(); };

  consumer.on(consumer.events.GROUP_JOIN, e => {
    const join = { memberId: e.payload.memberId, isLeader: e.payload.isLeader,
                   assignment: e.payload.memberAssignment };
    joins.push(join);
    emit({ event: 'joined', ...join });
  });
  consumer.on(consumer.events.COMMIT_OFFSETS, e => {
    for (const t of e.payload.topics) {
      if (t.topic !== cmd.topic) continue;
      for (const p of t.partitions) committed[p.partition] = String(p.offset);
    }
    check();
  });
  consumer.on(consumer.events.CRASH, e => {
    crashes.push(describeError(e.payload.error));
    emit({ event: 'crash', error: describeError(e.payload.error) });
  });

  const record = (partition, m) => {
    messages.push({
      partition, offset: m.offset,
      key: m.key === null ? null : m.key.toString(),
      value: m.value === null ? null : m.value.toString(),
      headers: Object.fromEntries(Object.entries(m.headers || {})
        .map(([k, v]) => [k, v === undefined || v === null ? v : v.toString()])),
    });
    consumedUpTo[partition] = BigInt(m.offset) + 1n;
  };

  if (cmd.countFromStdin) {
    const lines = require('readline').createInterface({ input: process.stdin });
    lines.on('line', line => {
      if (!line.trim()) return;
      target = JSON.parse(line).count;
      check();
    });
  }

  await consumer.connect();
  await consumer.subscribe({ topics: [cmd.topic], fromBeginning: cmd.fromBeginning !== false });
  const reached = new Promise(resolve => { waiter = resolve; });
  if (manual) {
    // eachBatch, nothing automatic: resolve each offset, then commit exactly
    // the next offsets of every partition read.
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        for (const m of batch.messages) {
          record(batch.partition, m);
          resolveOffset(m.offset);
        }
        await consumer.commitOffsets([{ topic: cmd.topic, partition: batch.partition,
                                         offset: String(consumedUpTo[batch.partition]) }]);
        await heartbeat();
        check();
      },
    });
  } else {
    await consumer.run({
      autoCommit: true,
      eachMessage: async ({ partition, message }) => {
        record(partition, message);
        check();
      },
    });
  }
  let timer;
  const timedOut = await Promise.race([
    reached.then(() => false),
    new Promise(resolve => { timer = setTimeout(() => resolve(true), cmd.timeoutMs || 30000); }),
  ]);
  clearTimeout(timer);
  await consumer.disconnect();
  return { messages, committed, timedOut, crashes, joins };
}

// ---------------------------------------------------------------------------
async function main() {
  let text = process.argv[2];
  if (text === undefined) {
    text = require('fs').readFileSync(0, 'utf8');
  }
  const cmd = JSON.parse(text);
  const ops = { admin, produce, consume };
  if (!ops[cmd.op]) throw new Error(`unknown op ${cmd.op}`);
  emit({ result: await ops[cmd.op](cmd) });
}

main().then(
  () => process.exit(0),
  e => {
    emit({ error: describeError(e) });
    process.exit(1);
  });
