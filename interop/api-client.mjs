// The reference client on Conflux's HTTP APIs: @atproto/api's typed methods
// (AtpAgent) against the feed generator and the AppView.
//
//   node --import ./lib/loopback-only.mjs api-client.mjs < calls.json
//
// stdin is {"services": {"name": "http://127.0.0.1:PORT", ...}, "calls":
// [{"id", "service", "nsid", "params", "paginate"}]}. Each call goes through
// the agent's typed method for its NSID, whose XRPC client validates the
// response body against the published lexicon; this script validates it
// again explicitly with @atproto/lexicon (so a change in the client cannot
// turn the check off silently) and checks every record embedded in a post
// view against its record lexicon. With "paginate" it follows every cursor
// until none is returned, refusing a cursor that repeats. It prints one
// JSON line per call: {"id", "pages": [body, ...]} or {"id", "error": {...}}.
import { text } from 'node:stream/consumers'

import { AtpAgent, lexicons } from '@atproto/api'

const maxPages = 200

const input = JSON.parse(await text(process.stdin))
const agents = {}
for (const [name, url] of Object.entries(input.services)) {
  agents[name] = new AtpAgent({ service: url })
}

// method finds the typed method for nsid on the agent:
// app.bsky.feed.getPosts -> agent.app.bsky.feed.getPosts.
function method(agent, nsid) {
  const parts = nsid.split('.')
  let ns = agent
  for (const p of parts.slice(0, -1)) {
    ns = ns?.[p]
  }
  const name = parts[parts.length - 1]
  if (typeof ns?.[name] !== 'function') throw new Error(`no typed method for ${nsid}`)
  return (params) => ns[name](params)
}

// checkEmbeddedRecords validates the record of every post view in body.
function checkEmbeddedRecords(value, path = '$') {
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkEmbeddedRecords(v, `${path}[${i}]`))
    return
  }
  if (value === null || typeof value !== 'object') return
  if (typeof value.uri === 'string' && value.author && value.record && typeof value.indexedAt === 'string') {
    const type = value.record.$type
    if (type !== 'app.bsky.feed.post') throw new Error(`${path}.record: $type ${type}, want app.bsky.feed.post`)
    try {
      lexicons.assertValidRecord(type, value.record)
    } catch (err) {
      throw new Error(`${path}.record: ${err.message}`)
    }
  }
  for (const [k, v] of Object.entries(value)) checkEmbeddedRecords(v, `${path}.${k}`)
}

async function run(call) {
  const agent = agents[call.service]
  if (!agent) throw new Error(`unknown service ${call.service}`)
  const fn = method(agent, call.nsid)
  const pages = []
  const seen = new Set()
  let params = { ...call.params }
  for (;;) {
    const res = await fn(params)
    if (!res.success) throw new Error(`${call.nsid}: success=false`)
    lexicons.assertValidXrpcOutput(call.nsid, res.data)
    checkEmbeddedRecords(res.data)
    pages.push(res.data)
    const cursor = res.data.cursor
    if (!call.paginate || cursor === undefined) break
    if (seen.has(cursor)) throw new Error(`${call.nsid}: cursor ${cursor} repeats`)
    if (pages.length >= maxPages) throw new Error(`${call.nsid}: more than ${maxPages} pages`)
    seen.add(cursor)
    params = { ...call.params, cursor }
  }
  return pages
}

let failed = 0
for (const call of input.calls) {
  try {
    const pages = await run(call)
    // lexToJson-style output: CIDs and blob refs print as their JSON form.
    process.stdout.write(JSON.stringify({ id: call.id, pages }) + '\n')
  } catch (err) {
    failed++
    process.stdout.write(
      JSON.stringify({
        id: call.id,
        error: { name: err?.name, message: String(err?.message ?? err), status: err?.status, error: err?.error },
      }) + '\n',
    )
  }
}
process.stdout.write(JSON.stringify({ id: 'done', failed }) + '\n')
