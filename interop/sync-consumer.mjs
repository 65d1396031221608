// The reference consumer on a Conflux firehose: @atproto/sync's Firehose,
// its identity resolver pointed at our development PLC directory, reading
// com.atproto.sync.subscribeRepos from --service.
//
//   node --import ./lib/loopback-only.mjs sync-consumer.mjs \
//     --service ws://127.0.0.1:PORT --plc http://127.0.0.1:PORT \
//     [--cursor N] [--until-seq N | --until-seq stdin] [--idle-ms MS]
//
// It prints one JSON line per event the library yields, with what the wire
// carried (ops, prevData, the commit's own data CID read from its CAR) next
// to what the library emitted after its checks, so the Go test can see ops
// the library drops without saying so. Every error the library reports
// (onError) and every reconnect it would otherwise swallow is a line of
// type "error". It stops once it has seen an event with seq >= --until-seq
// (read from stdin as one line when the value is "stdin"), or after
// --idle-ms without events, and ends with a "done" line.
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

import { IdResolver } from '@atproto/identity'
import { MemoryBlockstore, def, readCarWithRoot } from '@atproto/repo'
import { Firehose } from '@atproto/sync'

const { values: args } = parseArgs({
  options: {
    service: { type: 'string' },
    plc: { type: 'string' },
    cursor: { type: 'string' },
    'until-seq': { type: 'string' },
    'idle-ms': { type: 'string', default: '60000' },
  },
})
if (!args.service || !args.plc) {
  console.error('usage: sync-consumer.mjs --service WS --plc URL [--cursor N] [--until-seq N|stdin] [--idle-ms MS]')
  process.exit(2)
}

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const str = (v) => (v === undefined || v === null ? undefined : v.toString())

let untilSeq = args['until-seq'] && args['until-seq'] !== 'stdin' ? Number(args['until-seq']) : Infinity
if (args['until-seq'] === 'stdin') {
  const rl = createInterface({ input: process.stdin })
  rl.once('line', (line) => {
    untilSeq = Number(line.trim())
    rl.close()
    if (lastSeq >= untilSeq) finish('until')
  })
}
const idleMs = Number(args['idle-ms'])

let lastSeq = -1
let events = 0
let errors = 0
let finished = false
let idleTimer

function armIdle() {
  clearTimeout(idleTimer)
  idleTimer = setTimeout(() => finish('idle'), idleMs)
}

// The commit object inside a #commit's or #sync's CAR, decoded by the
// reference repo code: its data CID is what the next commit's prevData
// must name (sync 1.1).
async function commitInfo(blocks) {
  const car = await readCarWithRoot(blocks)
  const commit = await new MemoryBlockstore(car.blocks).readObj(car.root, def.commit)
  return { root: car.root.toString(), data: commit.data.toString(), rev: commit.rev, did: commit.did }
}

function describeError(err) {
  const o = { name: err?.name, message: String(err?.message ?? err) }
  let cause = err?.cause
  const causes = []
  while (cause && causes.length < 5) {
    causes.push(`${cause.name ?? 'Error'}: ${cause.message ?? cause}`)
    cause = cause.cause
  }
  if (causes.length) o.causes = causes
  const evt = err?.event ?? err?.value
  if (evt && typeof evt === 'object') o.seq = evt.seq
  return o
}

function reportError(kind, err) {
  errors++
  out({ type: 'error', kind, ...describeError(err) })
}

// Probe records every event the library parses: what came over the wire and
// what it made of it. parseEvt catches its own failures and reports them
// through onError, so the wrapper sees every event, failed or not.
class Probe extends Firehose {
  async parseEvt(evt) {
    const emitted = await super.parseEvt(evt)
    await record(evt, emitted)
    return emitted
  }
}

async function record(evt, emitted) {
  const type = evt.$type?.split('#')[1] ?? 'unknown'
  const line = { type, seq: evt.seq, did: evt.repo ?? evt.did, time: evt.time }
  if (type === 'commit' || type === 'sync') {
    line.rev = evt.rev
    try {
      const c = await commitInfo(evt.blocks)
      line.commitData = c.data
      line.commitRoot = c.root
      line.commitRev = c.rev
      line.commitDid = c.did
    } catch (err) {
      reportError('commit-block', Object.assign(err, { event: evt }))
    }
  }
  if (type === 'commit') {
    line.commit = str(evt.commit)
    line.since = evt.since ?? null
    line.prevData = str(evt.prevData) ?? null
    line.hasPrevData = evt.prevData !== undefined && evt.prevData !== null
    line.tooBig = evt.tooBig
    line.ops = evt.ops.map((op) => ({ action: op.action, path: op.path, cid: str(op.cid) ?? null }))
    line.emitted = emitted.map((e) => ({ action: e.event, path: `${e.collection}/${e.rkey}`, cid: str(e.cid) ?? null }))
  } else if (type === 'identity') {
    line.handle = evt.handle
    line.resolved = emitted.length === 1 && emitted[0].didDocument !== undefined
  } else if (type === 'account') {
    line.active = evt.active
    line.status = evt.status
    line.emittedCount = emitted.length
  } else if (type === 'sync') {
    line.emittedCount = emitted.length
  } else if (type === 'info') {
    line.name = evt.name
    line.message = evt.message
  }
  if (typeof evt.seq === 'number') {
    events++
    lastSeq = Math.max(lastSeq, evt.seq)
  }
  out(line)
  armIdle()
  if (lastSeq >= untilSeq) finish('until')
}

const firehose = new Probe({
  service: args.service,
  idResolver: new IdResolver({ plcUrl: args.plc, fetch: globalThis.fetch, timeout: 5000 }),
  // On a reconnect, resume after the last event seen rather than from the
  // start or the live tail.
  getCursor: () => (lastSeq >= 0 ? lastSeq : args.cursor !== undefined ? Number(args.cursor) : undefined),
  handleEvent: async () => {},
  onError: (err) => reportError(err?.constructor?.name ?? 'error', err),
  subscriptionReconnectDelay: 500,
})
// The subscription reports a reconnect only to this hook, which Firehose
// does not set: set it, so that a dropped connection is visible.
firehose.sub.opts.onReconnectError = (err, attempt) => reportError('reconnect', Object.assign(err ?? new Error('reconnect'), { message: `attempt ${attempt}: ${err?.message ?? err}` }))

async function finish(reason) {
  if (finished) return
  finished = true
  clearTimeout(idleTimer)
  out({ type: 'done', reason, events, errors, lastSeq })
  const stop = firehose.destroy()
  await Promise.race([stop, new Promise((r) => setTimeout(r, 2000))])
  process.exit(0)
}

armIdle()
firehose.start()
