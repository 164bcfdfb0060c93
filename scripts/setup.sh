#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine with Node 20 (run as root).
# npm packages come from package-lock.json; native addons (lmdb, secp256k1) run their
# install scripts because package.json lists them under allowScripts.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node 20 or newer is required (found $(node --version))" >&2
  exit 1
fi

# npm install (not npm ci): it installs the versions package-lock.json pins, and does not
# refuse a lock file whose platform-specific optional packages (rollup, msgpackr-extract
# builds for other systems) this npm leaves out.
npm install --no-audit --no-fund
npm run build
echo "setup: done"
