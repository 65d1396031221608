// Preloaded into every interop script (node --import ./lib/loopback-only.mjs):
// nothing may leave the machine. Every TCP connection must go to a loopback
// address, and every name lookup except "localhost" fails at once, so the
// reference code's DNS look-ups of *.test handles fail fast instead of waiting
// on a network that is not there.
import dns from 'node:dns'
import net from 'node:net'

const loopbackNames = new Set(['localhost', 'localhost.', 'ip6-localhost'])

function isLoopbackAddress(host) {
  if (host === undefined || host === null || host === '') return true // Node's default is localhost
  const h = String(host).replace(/^\[|\]$/g, '').toLowerCase()
  if (loopbackNames.has(h)) return true
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  if (net.isIPv4(h)) return h.startsWith('127.')
  if (h.startsWith('::ffff:')) return net.isIPv4(h.slice(7)) && h.slice(7).startsWith('127.')
  return false
}

function refused(what) {
  const err = new Error(`interop: ${what} refused: only loopback is allowed`)
  err.code = 'ECONNREFUSED'
  return err
}

function notFound(hostname) {
  const err = new Error(`interop: lookup of ${hostname} refused: no DNS outside loopback`)
  err.code = 'ENOTFOUND'
  err.hostname = hostname
  return err
}

// net.Socket#connect is the one path every client takes (http, https, tls,
// undici's fetch, ws): check its destination there.
const connect = net.Socket.prototype.connect
net.Socket.prototype.connect = function (...args) {
  let opts = args[0]
  if (Array.isArray(opts)) opts = opts[0] // internal normalized form
  let host
  let path
  if (opts !== null && typeof opts === 'object') {
    host = opts.host
    path = opts.path
  } else if (typeof opts === 'string' && Number.isNaN(Number(opts))) {
    path = opts // a unix socket path
  } else {
    host = typeof args[1] === 'string' ? args[1] : undefined
  }
  if (path === undefined && !isLoopbackAddress(host)) {
    const err = refused(`connection to ${host}`)
    process.nextTick(() => this.destroy(err))
    return this
  }
  return connect.apply(this, args)
}

function guardLookup(original) {
  return function (hostname, options, callback) {
    if (typeof options === 'function') {
      callback = options
      options = {}
    }
    if (net.isIP(hostname) || isLoopbackAddress(hostname)) {
      return original.call(this, hostname, options, callback)
    }
    process.nextTick(() => callback(notFound(hostname)))
    return {}
  }
}
dns.lookup = guardLookup(dns.lookup)

const promiseLookup = dns.promises.lookup
dns.promises.lookup = async function (hostname, options) {
  if (net.isIP(hostname) || isLoopbackAddress(hostname)) return promiseLookup.call(this, hostname, options)
  throw notFound(hostname)
}

// Record look-ups (TXT for handles, and the rest) never have a loopback answer.
for (const name of ['resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCname', 'resolveMx', 'resolveNs', 'resolveSrv', 'resolveTxt']) {
  if (typeof dns[name] === 'function') {
    dns[name] = function (hostname, ...rest) {
      const callback = rest[rest.length - 1]
      process.nextTick(() => callback(notFound(hostname)))
    }
  }
  if (typeof dns.promises[name] === 'function') {
    dns.promises[name] = async (hostname) => {
      throw notFound(hostname)
    }
  }
}
for (const R of [dns.Resolver, dns.promises.Resolver]) {
  for (const name of ['resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCname', 'resolveMx', 'resolveNs', 'resolveSrv', 'resolveTxt']) {
    if (R && typeof R.prototype[name] === 'function') {
      const isPromise = R === dns.promises.Resolver
      R.prototype[name] = isPromise
        ? async (hostname) => {
            throw notFound(hostname)
          }
        : function (hostname, ...rest) {
            const callback = rest[rest.length - 1]
            process.nextTick(() => callback(notFound(hostname)))
          }
    }
  }
}
