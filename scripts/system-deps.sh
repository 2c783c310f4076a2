#!/usr/bin/env bash
# Install the Debian packages the project needs, only when missing. Idempotent; quiet when all present.
# Each entry: "<command-or-file to test> <debian package>".
set -euo pipefail
NEEDED=(
  "python3 python3"   # the interpreter that builds .venv (always present; keeps the mechanism exercised)
  # STAC Browser (`sen12stac browse`): node and npm build it once (scripts/build-stac-browser.sh);
  # the browser tests drive Debian's chromium headless through playwright-core.
  "node nodejs"
  "npm npm"
  "chromium chromium"
  # STAC API (sen12stac api up, tests/test_api*.py): a private PostgreSQL cluster with PostGIS
  "/usr/lib/postgresql/15/bin/initdb postgresql"
  "/usr/share/postgresql/15/extension/postgis.control postgresql-15-postgis-3"
)
missing=()
for entry in "${NEEDED[@]}"; do
  probe=${entry%% *}; pkg=${entry##* }
  if ! command -v "$probe" >/dev/null 2>&1 && [ ! -e "$probe" ]; then missing+=("$pkg"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "system-deps: installing ${missing[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  # Others may be installing at the same time: wait for dpkg's lock instead of failing.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
fi
