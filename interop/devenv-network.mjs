// Interop part 2: the reference producer. Starts the reference PLC directory
// and PDS from @atproto/dev-env (TestNetworkNoAppView) on localhost, with our
// relay as the PDS's crawler, and makes activity on it with @atproto/api.
//
//   node --import ./lib/loopback-only.mjs devenv-network.mjs --relay URL [--data DIR] [--burst N]
//
// --burst N (default 120) is how many posts each account writes in the
// final, concurrent phase.
//
// stdout carries JSON lines only (the Go test parses them):
//   {"kind":"network","plc":URL,"pds":URL,"pdsPort":N,"tookMs":N}
//   {"kind":"action","action":NAME, did, handle, uri, cid, ...}  one per write
//   {"kind":"pause","name":NAME}  waits for one line on stdin, then goes on
//   {"kind":"done","actions":N}   waits for a line, EOF or a signal, then
//   {"kind":"closed"}             after the network shut down.
// Everything else (errors) goes to stderr; a failure exits with status 1.
// stdin closing early stops the activity and shuts the network down.
import fs from 'node:fs/promises'
import path from 'node:path'
import readline from 'node:readline'
import { AtpAgent } from '@atproto/api'
import { TestNetworkNoAppView } from '@atproto/dev-env'

function parseArgs(argv) {
  const out = { relay: '', data: '', burst: '120' }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (['--relay', '--data', '--burst'].includes(a) && i + 1 < argv.length) {
      out[a.slice(2)] = argv[++i]
    } else {
      throw new Error(`usage: devenv-network.mjs --relay URL [--data DIR] [--burst N] (got ${a})`)
    }
  }
  if (!out.relay) throw new Error('--relay URL is required')
  out.burst = Number(out.burst)
  if (!Number.isInteger(out.burst) || out.burst < 0) throw new Error('--burst must be a whole number')
  return out
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

// Stopped ends the activity early: stdin closed (the Go test is gone or
// gave up), so the network shuts down at the next step.
class Stopped extends Error {}

// stdin lines, one at a time; null at EOF. stdinOpen() is false after EOF.
function lineReader() {
  const rl = readline.createInterface({ input: process.stdin })
  const queue = []
  const waiters = []
  let ended = false
  rl.on('line', (line) => (waiters.length ? waiters.shift()(line) : queue.push(line)))
  rl.on('close', () => {
    ended = true
    while (waiters.length) waiters.shift()(null)
  })
  const next = () => {
    if (queue.length) return Promise.resolve(queue.shift())
    if (ended) return Promise.resolve(null)
    return new Promise((resolve) => waiters.push(resolve))
  }
  return { next, open: () => !ended }
}

// A 1x1 PNG: the image post carries a real blob.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
)

// Activity records what it made, so every line names the did and handle.
class Activity {
  constructor(pdsUrl, stdinOpen) {
    this.pdsUrl = pdsUrl
    this.stdinOpen = stdinOpen
    this.users = {}
    this.count = 0
  }

  record(action, user, extra = {}) {
    if (!this.stdinOpen()) throw new Stopped('stdin closed')
    this.count++
    emit({ kind: 'action', action, did: user.did, handle: user.handle, ...extra })
  }

  async createAccount(name) {
    const agent = new AtpAgent({ service: this.pdsUrl })
    const handle = `${name}.test`
    const res = await agent.createAccount({ handle, email: `${name}@example.com`, password: `${name}-pass` })
    const user = { name, agent, did: res.data.did, handle }
    this.users[name] = user
    this.record('createAccount', user)
    return user
  }

  async post(user, text, extra = {}) {
    const res = await user.agent.post({ text, langs: ['en'], ...extra })
    this.record('post', user, { uri: res.uri, cid: res.cid, text })
    return { uri: res.uri, cid: res.cid }
  }

  async reply(user, text, root, parent) {
    const res = await user.agent.post({ text, reply: { root, parent } })
    this.record('reply', user, { uri: res.uri, cid: res.cid, text, parent: parent.uri, root: root.uri })
    return { uri: res.uri, cid: res.cid }
  }

  async imagePost(user, text) {
    const up = await user.agent.uploadBlob(PNG, { encoding: 'image/png' })
    const embed = { $type: 'app.bsky.embed.images', images: [{ alt: 'one pixel', image: up.data.blob }] }
    const res = await user.agent.post({ text, embed })
    this.record('post', user, { uri: res.uri, cid: res.cid, text, image: true })
    return { uri: res.uri, cid: res.cid }
  }

  async quote(user, text, subject) {
    const embed = { $type: 'app.bsky.embed.record', record: subject }
    const res = await user.agent.post({ text, embed })
    this.record('post', user, { uri: res.uri, cid: res.cid, text, quote: subject.uri })
    return { uri: res.uri, cid: res.cid }
  }

  async like(user, subject) {
    const res = await user.agent.like(subject.uri, subject.cid)
    this.record('like', user, { uri: res.uri, cid: res.cid, subject: subject.uri })
    return res
  }

  async repost(user, subject) {
    const res = await user.agent.repost(subject.uri, subject.cid)
    this.record('repost', user, { uri: res.uri, cid: res.cid, subject: subject.uri })
    return res
  }

  async follow(user, other) {
    const res = await user.agent.follow(other.did)
    this.record('follow', user, { uri: res.uri, cid: res.cid, subject: other.did })
    return res
  }

  async profile(user, displayName, description) {
    await user.agent.upsertProfile((old) => ({ ...(old ?? {}), displayName, description }))
    const got = await user.agent.com.atproto.repo.getRecord({ repo: user.did, collection: 'app.bsky.actor.profile', rkey: 'self' })
    this.record('profile', user, { uri: got.data.uri, cid: got.data.cid, displayName, description })
  }

  async deleteRecord(user, action, uri) {
    const fn = { deletePost: 'deletePost', deleteLike: 'deleteLike', deleteRepost: 'deleteRepost', deleteFollow: 'deleteFollow' }[action]
    await user.agent[fn](uri)
    this.record(action, user, { uri })
  }

  // One commit with several ops: three creates and one delete.
  async batch(user, deleteUri) {
    const rkey = deleteUri.split('/').pop()
    const now = new Date().toISOString()
    const writes = [0, 1, 2].map((i) => ({
      $type: 'com.atproto.repo.applyWrites#create',
      collection: 'app.bsky.feed.post',
      value: { $type: 'app.bsky.feed.post', text: `${user.name} batch post ${i}`, createdAt: now },
    }))
    writes.push({ $type: 'com.atproto.repo.applyWrites#delete', collection: 'app.bsky.feed.post', rkey })
    const res = await user.agent.com.atproto.repo.applyWrites({ repo: user.did, writes })
    const made = (res.data.results ?? []).filter((r) => r.uri)
    if (made.length !== 3) throw new Error(`applyWrites returned ${made.length} created records, want 3`)
    for (const [i, r] of made.entries()) {
      this.record('post', user, { uri: r.uri, cid: r.cid, text: `${user.name} batch post ${i}`, batch: true })
    }
    this.record('deletePost', user, { uri: deleteUri, batch: true })
  }

  async updateHandle(user, handle) {
    await user.agent.com.atproto.identity.updateHandle({ handle })
    user.handle = handle
    this.record('updateHandle', user)
  }

  async deactivate(user) {
    await user.agent.com.atproto.server.deactivateAccount({})
    this.record('deactivate', user)
  }

  async activate(user) {
    await user.agent.com.atproto.server.activateAccount()
    this.record('activate', user)
  }
}

// The scripted activity. pause() hands control to the Go test between
// phases (it checks the deactivated account is hidden).
async function run(act, pause, burstSize) {
  const names = ['alice', 'bob', 'carol', 'dave']
  const u = {}
  for (const n of names) u[n] = await act.createAccount(n)
  for (const n of names) await act.profile(u[n], n[0].toUpperCase() + n.slice(1), `${n} on the reference PDS`)

  const posts = {}
  for (const n of names) {
    posts[n] = []
    for (let i = 0; i < 4; i++) posts[n].push(await act.post(u[n], `${n} post ${i}`))
  }
  posts.alice.push(await act.imagePost(u.alice, 'a picture'))
  const quote = await act.quote(u.carol, 'quoting bob', posts.bob[0])

  // A thread: bob replies to alice, carol to bob, alice to carol.
  const root = posts.alice[0]
  const r1 = await act.reply(u.bob, 'bob replies', root, root)
  const r2 = await act.reply(u.carol, 'carol replies to bob', root, r1)
  await act.reply(u.alice, 'alice closes the thread', root, r2)

  // Everyone follows everyone, likes the others' first two posts and
  // reposts one.
  const follows = {}
  const likes = {}
  const reposts = {}
  for (const a of names) {
    for (const b of names) {
      if (a === b) continue
      follows[`${a}>${b}`] = await act.follow(u[a], u[b])
      for (const p of posts[b].slice(0, 2)) likes[`${a}>${p.uri}`] = await act.like(u[a], p)
    }
    const other = names[(names.indexOf(a) + 1) % names.length]
    reposts[a] = await act.repost(u[a], posts[other][1])
  }
  await act.like(u.dave, quote)

  // Deletes of every kind, then a batch commit (three creates, one delete).
  await act.deleteRecord(u.alice, 'deletePost', posts.alice[3].uri)
  await act.deleteRecord(u.bob, 'deleteLike', likes[`bob>${posts.alice[0].uri}`].uri)
  await act.deleteRecord(u.carol, 'deleteFollow', follows['carol>dave'].uri)
  await act.deleteRecord(u.dave, 'deleteRepost', reposts.dave.uri)
  await act.batch(u.bob, posts.bob[3].uri)

  // Profile update and handle changes.
  await act.profile(u.alice, 'Alice A.', 'alice, updated')
  await act.updateHandle(u.bob, 'bobby.test')
  await act.updateHandle(u.carol, 'caroline.test')
  await act.post(u.bob, 'bob under a new handle')

  // Deactivation: the Go test checks dave is hidden, then lets us go on.
  await act.post(u.dave, 'dave before leaving')
  await act.deactivate(u.dave)
  await act.post(u.alice, 'alice while dave is away')
  await pause('deactivated')
  await act.activate(u.dave)
  await act.post(u.dave, 'dave is back')
  await act.like(u.dave, posts.alice[0])

  await burst(act, names.map((n) => u[n]), burstSize)
}

// burst writes from every account at once, so the PDS's stream runs well
// past 500 events (the distance at which it drops a slow subscriber): each
// account posts size times, likes the others' latest burst post every third
// time, and deletes every tenth of its burst posts.
async function burst(act, users, size) {
  const latest = new Map()
  await Promise.all(
    users.map(async (user, i) => {
      const mine = []
      for (let k = 0; k < size; k++) {
        const p = await act.post(user, `${user.name} burst ${k}`)
        mine.push(p)
        latest.set(user.did, p)
        const other = latest.get(users[(i + 1) % users.length].did)
        if (k % 3 === 2 && other) await act.like(user, other)
      }
      for (let k = 0; k < mine.length; k += 10) await act.deleteRecord(user, 'deletePost', mine[k].uri)
    }),
  )
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const started = Date.now()
  const pds = { crawlers: [args.relay] }
  if (args.data) {
    pds.dataDirectory = path.join(args.data, 'pds')
    pds.blobstoreDiskLocation = path.join(args.data, 'blobs')
    await fs.mkdir(pds.dataDirectory, { recursive: true })
  }
  const network = await TestNetworkNoAppView.create({ pds })
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await network.close()
    emit({ kind: 'closed' })
  }
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.once(sig, () => close().then(() => process.exit(0), () => process.exit(1)))
  }
  emit({ kind: 'network', plc: network.plc.url, pds: network.pds.url, pdsPort: network.pds.port, tookMs: Date.now() - started })

  const stdin = lineReader()
  const act = new Activity(network.pds.url, stdin.open)
  try {
    await run(
      act,
      async (name) => {
        emit({ kind: 'pause', name })
        if ((await stdin.next()) === null) throw new Stopped(`stdin closed at pause ${name}`)
      },
      args.burst,
    )
    await network.processAll()
    emit({ kind: 'done', actions: act.count })
    await stdin.next()
  } catch (err) {
    if (!(err instanceof Stopped)) throw err
    process.stderr.write(`devenv-network: stopped early: ${err.message}\n`)
  } finally {
    await close()
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`devenv-network: ${err?.stack ?? err}\n`)
    process.exit(1)
  },
)
