// kafkajs scenarios run by tests/clients/test_kafkajs.py.
//
// Usage: node scenarios.js <scenario> <bootstrap> [topic]
// Each scenario drives the stock kafkajs client against the broker and prints
// JSON on stdout: one object at the end, and for the long-running ones
// (member, stdinProducer) one line per event before it. The Python tests make
// the assertions, so this file only gathers what the client saw. Int64 values
// (offsets) stay strings as kafkajs returns them. A thrown error exits 1 with
// its details on stderr. GROUP_ID and SESSION_TIMEOUT_MS in the environment
// tune the group scenarios.
'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { Kafka, logLevel, CompressionTypes, PartitionAssigners } = require('kafkajs')

const [scenario, bootstrap, topicArg] = process.argv.slice(2)

const kafka = new Kafka({
  clientId: 'kpybroker-kafkajs-test',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  // Fail fast: a hang should become a readable error, not the test's timeout.
  connectionTimeout: 3000,
  requestTimeout: 10000,
  retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 1000 }
})

const str = (b) => (b === null || b === undefined ? null : b.toString())
const headersOf = (h) => Object.fromEntries(Object.entries(h || {}).map(([k, v]) => [k, str(v)]))

function errorInfo (e) {
  return { name: e.name, type: e.type || null, code: e.code === undefined ? null : e.code, message: e.message }
}

// Runs a consumer group until `want` messages arrived or the time runs out.
async function consumeGroup (groupId, topic, want, { fromBeginning = true, timeoutMs = 15000, autoCommit = true } = {}) {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 10000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 200,
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 1000 }
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning })
  const got = []
  let done
  const finished = new Promise((resolve) => { done = resolve })
  if (want === 0) done()
  await consumer.run({
    autoCommit,
    eachMessage: async ({ topic, partition, message }) => {
      got.push({
        topic,
        partition,
        offset: message.offset,
        key: str(message.key),
        value: str(message.value),
        headers: headersOf(message.headers)
      })
      if (got.length >= want) done()
    }
  })
  const timer = new Promise((resolve) => setTimeout(resolve, timeoutMs))
  await Promise.race([finished, timer])
  await consumer.disconnect()
  return got
}

const scenarios = {
  // Admin create, produce (none and gzip, keys, null keys, headers), group
  // consume, topic offsets, committed offsets, delete.
  async roundtrip (topic) {
    const admin = kafka.admin()
    await admin.connect()
    const out = {}
    out.created = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })
    out.metadata = await admin.fetchTopicMetadata({ topics: [topic] })
    const producer = kafka.producer()
    await producer.connect()
    out.produced = []
    for (const [codec, compression] of [['none', CompressionTypes.None], ['gzip', CompressionTypes.GZIP]]) {
      for (let p = 0; p < 3; p++) {
        const res = await producer.send({
          topic,
          compression,
          acks: -1,
          messages: [
            { partition: p, key: `k-${codec}-${p}`, value: `v-${codec}-${p}-` + 'x'.repeat(200), headers: { codec, n: String(p) } },
            { partition: p, key: null, value: `nokey-${codec}-${p}` }
          ]
        })
        out.produced.push(...res.map((r) => ({ codec, partition: r.partition, errorCode: r.errorCode, baseOffset: r.baseOffset })))
      }
    }
    // Pipelined sends over one connection: kafkajs does not wait for answers.
    const batch = []
    for (let i = 0; i < 20; i++) batch.push(producer.send({ topic, messages: [{ partition: 0, key: 'p', value: `pipelined-${i}` }] }))
    out.pipelined = (await Promise.all(batch)).map((r) => r[0].baseOffset)
    await producer.disconnect()
    out.offsets = await admin.fetchTopicOffsets(topic)
    out.consumed = await consumeGroup(`${topic}-group`, topic, 12 + 20)
    out.committed = await admin.fetchOffsets({ groupId: `${topic}-group`, topics: [topic] })
    out.topicsBeforeDelete = await admin.listTopics()
    await admin.deleteTopics({ topics: [topic] })
    out.topicsAfterDelete = await admin.listTopics()
    await admin.disconnect()
    return out
  },

  // Admin calls and the errors kafkajs surfaces from them.
  async admin (topic) {
    const admin = kafka.admin()
    await admin.connect()
    const out = {}
    out.cluster = await admin.describeCluster()
    // waitForLeaders off: kafkajs would otherwise look up the topic validate-only never made.
    out.validateOnly = await admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ topic, numPartitions: 2 }] })
    out.afterValidateOnly = (await admin.listTopics()).includes(topic)
    out.created = await admin.createTopics({
      topics: [{ topic, numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '123456' }] }]
    })
    // kafkajs answers false (not an error) when the topic exists.
    out.createdAgain = await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] })
    try {
      await admin.createTopics({ topics: [{ topic: 'bad/name', numPartitions: 1 }] })
      out.badName = null
    } catch (e) {
      out.badName = errorInfo(e)
      out.badNameErrors = (e.errors || []).map(errorInfo)
    }
    await admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] })
    out.partitionsAfter = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length
    try {
      await admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] })
      out.shrink = null
    } catch (e) {
      out.shrink = errorInfo(e)
    }
    const described = await admin.describeConfigs({
      resources: [{ type: 2, name: topic, configNames: ['retention.ms', 'cleanup.policy'] }],
      includeSynonyms: false
    })
    out.describe = described.resources[0].configEntries.map((c) => ({
      name: c.configName, value: c.configValue, isDefault: c.isDefault, source: c.configSource, readOnly: c.readOnly
    }))
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: 2, name: topic, configEntries: [{ name: 'retention.ms', value: '7777' }] }]
    })
    const again = await admin.describeConfigs({ resources: [{ type: 2, name: topic, configNames: ['retention.ms'] }], includeSynonyms: false })
    out.retentionAfterAlter = again.resources[0].configEntries[0].configValue
    const brokerConfigs = await admin.describeConfigs({ resources: [{ type: 4, name: String(out.cluster.brokers[0].nodeId) }], includeSynonyms: false })
    out.brokerConfigCount = brokerConfigs.resources[0].configEntries.length
    out.brokerErrorCode = brokerConfigs.resources[0].errorCode

    const producer = kafka.producer()
    await producer.connect()
    const t0 = Date.now() - 60000
    for (let i = 0; i < 10; i++) {
      await producer.send({ topic, messages: [{ partition: 0, value: `m${i}`, timestamp: String(t0 + i * 1000) }] })
    }
    await producer.disconnect()
    out.offsetsByTimestamp = await admin.fetchTopicOffsetsByTimestamp(topic, t0 + 4500)
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '3' }] })
    out.offsetsAfterDeleteRecords = await admin.fetchTopicOffsets(topic)
    try {
      await admin.fetchTopicMetadata({ topics: ['no-such-topic-here'] })
      out.missingTopic = null
    } catch (e) {
      out.missingTopic = errorInfo(e)
    }
    await admin.deleteTopics({ topics: [topic] })
    // UNKNOWN_TOPIC_OR_PARTITION is retriable: kafkajs retries it until it gives
    // up, so use an admin that gives up at once.
    const impatient = new Kafka({ clientId: 'kpybroker-kafkajs-test', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin()
    await impatient.connect()
    try {
      await impatient.deleteTopics({ topics: [topic], timeout: 2000 })
      out.deleteMissing = null
    } catch (e) {
      out.deleteMissing = errorInfo(e)
      out.deleteMissingCause = e.cause ? errorInfo(e.cause) : null
    }
    await impatient.disconnect()
    await admin.disconnect()
    return out
  },

  // A group consumer commits, leaves, and a second consumer resumes where it
  // committed; then the group admin calls.
  async group (topic) {
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] })
    const producer = kafka.producer()
    await producer.connect()
    const send = async (from, to) => {
      const messages = []
      for (let i = from; i < to; i++) messages.push({ partition: i % 2, value: `g${i}` })
      await producer.send({ topic, messages })
    }
    await send(0, 10)
    const out = {}
    const groupId = `${topic}-g`
    out.first = await consumeGroup(groupId, topic, 10)
    out.committed = await admin.fetchOffsets({ groupId, topics: [topic] })
    out.groupsEmpty = await admin.describeGroups([groupId])
    await send(10, 16)
    out.second = await consumeGroup(groupId, topic, 6)
    out.listed = await admin.listGroups()
    await admin.resetOffsets({ groupId, topic, earliest: true })
    out.afterReset = await admin.fetchOffsets({ groupId, topics: [topic] })
    out.deleted = await admin.deleteGroups([groupId])
    out.listedAfterDelete = await admin.listGroups()
    await producer.disconnect()
    await admin.disconnect()
    return out
  },

  // Two kafkajs consumers in one group split the partitions.
  async twoMembers (topic) {
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] })
    await admin.disconnect()
    const groupId = `${topic}-g`
    const assignments = [new Set(), new Set()]
    const consumers = []
    let resolveBoth
    const both = new Promise((resolve) => { resolveBoth = resolve })
    const check = () => {
      const [a, b] = assignments
      if (a.size > 0 && b.size > 0 && a.size + b.size === 4) resolveBoth()
    }
    for (let i = 0; i < 2; i++) {
      const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 300, maxWaitTimeInMs: 100, rebalanceTimeout: 10000 })
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        assignments[i] = new Set((e.payload.memberAssignment[topic] || []).map(Number))
        check()
      })
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({ eachMessage: async () => {} })
      consumers.push(consumer)
    }
    await Promise.race([both, new Promise((resolve) => setTimeout(resolve, 15000))])
    const out = { assignments: assignments.map((s) => [...s].sort()) }
    // While the group has members it cannot be deleted (NON_EMPTY_GROUP).
    await admin.connect()
    out.describe = (await admin.describeGroups([groupId])).groups.map((g) => ({
      state: g.state, protocol: g.protocol, members: g.members.map((m) => ({ clientId: m.clientId, clientHost: m.clientHost }))
    }))
    try {
      await admin.deleteGroups([groupId])
      out.deleteWhileActive = null
    } catch (e) {
      out.deleteWhileActive = (e.groups || []).map((g) => ({ groupId: g.groupId, errorCode: g.errorCode }))
    }
    for (const c of consumers) await c.disconnect()
    out.deleteAfter = await admin.deleteGroups([groupId])
    await admin.disconnect()
    return out
  },

  // A group member that stays until its stdin closes (or 40 s pass), printing
  // one JSON line per assignment it gets and per message it consumes. The
  // assigner is kafkajs's round robin under the name Java-style clients use for
  // theirs ("roundrobin"), so it can share a group with them.
  async member (topic) {
    const groupId = process.env.GROUP_ID || `${topic}-g`
    const renamed = ({ cluster }) => Object.assign(PartitionAssigners.roundRobin({ cluster }), { name: 'roundrobin' })
    const consumer = kafka.consumer({
      groupId, sessionTimeout: Number(process.env.SESSION_TIMEOUT_MS || 10000), heartbeatInterval: 300, maxWaitTimeInMs: 100, rebalanceTimeout: 15000,
      partitionAssigners: [renamed]
    })
    const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      emit({ event: 'join', protocol: e.payload.groupProtocol, partitions: (e.payload.memberAssignment[topic] || []).map(Number) })
    })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ partition, message }) => emit({ event: 'message', partition, offset: message.offset, value: str(message.value) })
    })
    await new Promise((resolve) => {
      process.stdin.on('end', resolve)
      process.stdin.on('close', resolve)
      process.stdin.resume()
      setTimeout(resolve, 40000)
    })
    await consumer.disconnect()
    return { event: 'left' }
  },

  // kafkajs's default assigner ("RoundRobinAssigner") joining a group whose
  // members speak only "range"/"roundrobin": the broker refuses the join.
  async inconsistent (topic) {
    const groupId = process.env.GROUP_ID || `${topic}-g`
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 300, retry: { retries: 0 } })
    let crashed
    const crash = new Promise((resolve) => { crashed = resolve })
    consumer.on(consumer.events.CRASH, (e) => crashed(errorInfo(e.payload.error)))
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    let out
    try {
      await consumer.run({ eachMessage: async () => {} })
      out = await Promise.race([crash, new Promise((resolve) => setTimeout(() => resolve(null), 15000))])
    } catch (e) {
      out = errorInfo(e)
    }
    await consumer.disconnect().catch(() => {})
    return { error: out }
  },

  // Transactions: commit, abort, sendOffsets; read_committed sees committed data only.
  async transactions (topic) {
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
    const producer = kafka.producer({ transactionalId: `${topic}-txn`, maxInFlightRequests: 1, idempotent: true })
    await producer.connect()
    let txn = await producer.transaction()
    await txn.send({ topic, messages: [{ value: 'c1' }, { value: 'c2' }] })
    await txn.sendOffsets({ consumerGroupId: `${topic}-offsets`, topics: [{ topic, partitions: [{ partition: 0, offset: '2' }] }] })
    await txn.commit()
    txn = await producer.transaction()
    await txn.send({ topic, messages: [{ value: 'aborted' }] })
    await txn.abort()
    txn = await producer.transaction()
    await txn.send({ topic, compression: CompressionTypes.GZIP, messages: [{ value: 'c3' }] })
    await txn.commit()
    await producer.disconnect()
    const out = {}
    out.offsets = await admin.fetchTopicOffsets(topic)
    out.txnOffsets = await admin.fetchOffsets({ groupId: `${topic}-offsets`, topics: [topic] })
    out.committed = (await consumeGroup(`${topic}-reader`, topic, 3, { timeoutMs: 8000 })).map((m) => [m.offset, m.value])
    await admin.disconnect()
    return out
  },

  // An idempotent producer driven line by line from stdin: each line is a
  // value to send (acks=all); each result is printed as a JSON line. Lets a
  // test restart the broker between two sends of the same producer.
  async stdinProducer (topic) {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true })
    await producer.connect()
    const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
    emit({ event: 'ready' })
    const readline = require('readline')
    for await (const line of readline.createInterface({ input: process.stdin })) {
      if (!line) continue
      try {
        const res = await producer.send({ topic, acks: -1, messages: [{ partition: 0, value: line }, { partition: 0, value: line + '+' }] })
        emit({ event: 'sent', value: line, baseOffset: res[0].baseOffset, errorCode: res[0].errorCode })
      } catch (e) {
        emit({ event: 'error', value: line, error: errorInfo(e) })
      }
    }
    await producer.disconnect()
    return { event: 'done' }
  },

  // One gzip batch of three records, left in the log for the test to read.
  async gzip (topic) {
    const producer = kafka.producer({ allowAutoTopicCreation: true })
    await producer.connect()
    const messages = [0, 1, 2].map((i) => ({ partition: 0, key: `k${i}`, value: 'z'.repeat(1000) + i }))
    const res = await producer.send({ topic, compression: CompressionTypes.GZIP, messages })
    await producer.disconnect()
    return { baseOffset: res[0].baseOffset, errorCode: res[0].errorCode }
  },

  // The idempotent producer (InitProducerId, sequences) and acks=0/1.
  async idempotent (topic) {
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const out = { offsets: [] }
    for (let i = 0; i < 5; i++) {
      const res = await producer.send({ topic, acks: -1, messages: [{ value: `i${i}` }, { value: `j${i}` }] })
      out.offsets.push(res[0].baseOffset)
    }
    await producer.disconnect()
    const plain = kafka.producer()
    await plain.connect()
    out.acks1 = (await plain.send({ topic, acks: 1, messages: [{ value: 'a1' }] }))[0].baseOffset
    // acks=0: the broker sends no response; kafkajs resolves without one.
    out.acks0 = await plain.send({ topic, acks: 0, messages: [{ value: 'a0' }] })
    out.acksAfter0 = (await plain.send({ topic, acks: 1, messages: [{ value: 'a1b' }] }))[0].baseOffset
    await plain.disconnect()
    out.offsetsEnd = await admin.fetchTopicOffsets(topic)
    out.consumed = (await consumeGroup(`${topic}-g`, topic, 13)).map((m) => [m.offset, m.value])
    await admin.disconnect()
    return out
  }
}

async function main () {
  const fn = scenarios[scenario]
  if (!fn) throw new Error(`unknown scenario ${scenario}`)
  const result = await fn(topicArg || `kafkajs-${scenario}`)
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().then(() => process.exit(0)).catch((e) => {
  process.stderr.write(`scenario ${scenario} failed: ${e.stack || e}\n${JSON.stringify(errorInfo(e))}\n`)
  process.exit(1)
})
