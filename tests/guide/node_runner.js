'use strict';
// Runs node_example.js (the guide's "Complete Integration Example", byte for byte) against
// the simulator. The only change: its two configuration literals, the access token and the
// sandbox URL, are replaced by the simulator's. Its logic runs as written.
//
//   NODE_PATH=<dir with ws> node node_runner.js <ws-url> <token>
//
// On a line "dump" on stdin it prints "BOOKS <json>": the books the example built
// (client.orderBooks); on "quit" it exits.
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const vm = require('vm');

const [url, token] = process.argv.slice(2);
const file = path.join(__dirname, 'node_example.js');
const original = fs.readFileSync(file, 'utf8');
const TOKEN = "'{your_access_token}'";
const URL = "'wss://ws.sandbox.paxos.com/'";
for (const literal of [TOKEN, URL]) {
  if (original.split(literal).length !== 2) throw new Error(`expected ${literal} exactly once`);
}
const configured = original
  .replace(TOKEN, JSON.stringify(token))
  .replace(URL, JSON.stringify(url));

globalThis.require = require; // the example is a CommonJS script: require('ws')
vm.runInThisContext(configured, { filename: file });
const client = vm.runInThisContext('client'); // the example's own top-level const

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'quit') process.exit(0);
  if (line.trim() !== 'dump') return;
  const books = {};
  for (const [market, book] of client.orderBooks) {
    books[market] = { bids: [...book.bids], asks: [...book.asks], snapshotTime: book.snapshotTime };
  }
  process.stdout.write('BOOKS ' + JSON.stringify(books) + '\n');
});
