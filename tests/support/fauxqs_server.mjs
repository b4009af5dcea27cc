// Start the fauxqs SQS/SNS/STS emulator on 127.0.0.1 only, for the melange tests.
//
// Usage: node fauxqs_server.mjs PORT
// Prints "fauxqs listening on http://127.0.0.1:PORT" once it accepts connections, and
// stops on SIGTERM or SIGINT, or when its parent closes stdin.
// fauxqs's own command line and startFauxqs() bind 0.0.0.0; buildApp() lets us choose.
import { buildApp } from "fauxqs";

const port = Number.parseInt(process.argv[2] ?? "", 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`usage: node fauxqs_server.mjs PORT (a TCP port 1-65535), got ${process.argv[2]}`);
  process.exit(2);
}

const app = buildApp({ logger: false });
const address = await app.listen({ port, host: "127.0.0.1" });
console.log(`fauxqs listening on ${address}`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await app.close();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// A parent that dies without signalling us closes our stdin: do not outlive it.
process.stdin.on("end", stop);
process.stdin.resume();
