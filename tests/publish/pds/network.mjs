// Bluesky's reference servers on 127.0.0.1 for the tests: a PLC, a PDS and the AppView
// (@atproto/dev-env's TestNetwork, which also runs ozone and bsync beside them).
// Needs DB_POSTGRES_URL and REDIS_HOST. Prints one JSON line with the URLs when ready, then
// runs until SIGTERM or SIGINT, or until its standard input closes (the test process died).
import net from 'node:net'
import { TestNetwork } from '@atproto/dev-env'

// dev-env's servers listen on a port on every interface: keep them all on loopback.
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1')
  if (args[0] && typeof args[0] === 'object' && !args[0].host && !args[0].path) {
    args[0] = { ...args[0], host: '127.0.0.1' }
  }
  return listen.apply(this, args)
}

const network = await TestNetwork.create({
  dbPostgresSchema: process.env.DB_POSTGRES_SCHEMA || 'reer',
  pds: { hostname: 'localhost' },
})
console.log(
  JSON.stringify({
    pds: network.pds.url,
    appview: network.bsky.url,
    plc: network.plc.url,
  }),
)

let closing = false
const close = async () => {
  if (closing) return
  closing = true
  await network.close()
  process.exit(0)
}
process.on('SIGTERM', close)
process.on('SIGINT', close)
process.stdin.on('end', close)
process.stdin.resume()
