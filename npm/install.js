// postinstall of the upshift package: replaces the node launcher
// (bin/upshift) with this platform's binary, which npm has already
// installed from the optionalDependencies, so that `upshift` starts without
// node (about 125 ms here, on every run). It downloads nothing. When it
// cannot (an unknown platform, --ignore-scripts, a read-only tree), the
// launcher stays and works the same, a little slower.
"use strict";

const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

try {
  if (process.env.UPSHIFT_BINARY) process.exit(0);
  const pkg = `@upshift-dev/upshift-${process.platform}-${process.arch}`;
  const binary = require.resolve(`${pkg}/bin/upshift`);
  const want = require("./package.json").version;
  const out = execFileSync(binary, ["version", "--format", "json"], { encoding: "utf8", timeout: 30000 });
  if (JSON.parse(out).version !== `v${want}`) process.exit(0);
  const launcher = path.join(__dirname, "bin", "upshift");
  const tmp = `${launcher}.${process.pid}.tmp`;
  fs.copyFileSync(binary, tmp);
  fs.chmodSync(tmp, 0o755);
  fs.renameSync(tmp, launcher); // a new file: a store's hard link is not written through
} catch (e) {
  // The launcher stays.
}
