// Taplo's language server, the one VS Code's Even Better TOML runs (@taplo/lsp, WebAssembly),
// served over standard input and output with LSP's Content-Length framing, as an editor
// starts it. Usage: node taplo_lsp.js <path of the @taplo/lsp package>
"use strict";

const fs = require("fs");
const path = require("path");
const url = require("url");

const { TaploLsp } = require(process.argv[2]);

// What the server may ask of its host: files, the clock, the environment. Writes go
// nowhere: the tests only read.
const environment = {
  now: () => new Date(),
  envVar: (name) => process.env[name],
  envVars: () => Object.entries(process.env),
  stdErrAtty: () => false,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  glob: () => [],
  readFile: (file) => fs.promises.readFile(file),
  writeFile: async () => {},
  // Asked of any URL, not only file ones: others pass through as they are.
  urlToFilePath: (address) =>
    address.startsWith("file://") ? url.fileURLToPath(address) : address,
  isAbsolute: (file) => path.isAbsolute(file),
  cwd: () => process.cwd(),
  findConfigFile: () => undefined,
  fetch: { fetch, Headers, Request, Response },
};

function write(message) {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  process.stdout.write(`Content-Length: ${body.length}\r\n\r\n`);
  process.stdout.write(body);
}

async function main() {
  const lsp = await TaploLsp.initialize(environment, { onMessage: write });
  let pending = Buffer.alloc(0);
  process.stdin.on("data", (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      const end = pending.indexOf("\r\n\r\n");
      if (end < 0) return;
      const header = pending.subarray(0, end).toString("ascii");
      const length = Number(/Content-Length: *(\d+)/i.exec(header)?.[1]);
      if (!Number.isInteger(length)) throw new Error(`bad LSP header: ${header}`);
      if (pending.length < end + 4 + length) return;
      const body = pending.subarray(end + 4, end + 4 + length).toString("utf8");
      pending = pending.subarray(end + 4 + length);
      lsp.send(JSON.parse(body));
    }
  });
  process.stdin.on("end", () => process.exit(0));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
