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

# Debian packages: the PC/SC stack for the offline NFC suite (pcscd, the vsmartcard virtual
# reader driver vpcd, and libpcsclite's headers that nfc-pcsc compiles against) and Chromium
# for the dashboard's browser test, and PostgreSQL for central's SQL store (its tests start
# throw-away clusters of their own with platform/pg_cluster.ts; the package's own cluster is
# not used), and curl, which the README's walkthroughs use. Skipped when already present; needs
# root otherwise.
debian_packages=(pcscd vsmartcard-vpcd libpcsclite-dev chromium postgresql curl)
missing=()
for pkg in "${debian_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages ${missing[*]}; run this script as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm install (not npm ci): it installs the versions package-lock.json pins, and does not
# refuse a lock file whose platform-specific optional packages (rollup, msgpackr-extract
# builds for other systems) this npm leaves out.
npm install --no-audit --no-fund
npm run build
echo "setup: done"
