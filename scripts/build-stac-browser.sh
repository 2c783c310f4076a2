#!/usr/bin/env bash
# Build Radiant Earth's STAC Browser once and cache it, for `sen12stac browse`.
#
#   scripts/build-stac-browser.sh              # the browser build (npm install ~50 s, build ~45 s)
#   scripts/build-stac-browser.sh --test-tools # also playwright-core, which the browser tests drive Chromium with
#   scripts/build-stac-browser.sh --print-dir  # print the build folder and exit
#   scripts/build-stac-browser.sh --cache DIR  # another cache folder (sen12stac browse passes its own)
#
# What it does (idempotent; a no-op when the build is there):
#   * `npm pack` @radiantearth/stac-browser@4.0.1 (the newest on npm; it ships sources, no dist);
#   * pins ol-stac to 1.1.0 (a newer ol-stac needs a newer OpenLayers than 4.0.1 pins);
#   * enables the runtime config script (`config.js` beside index.html) so ONE build serves any
#     catalog: `sen12stac browse` serves its own config.js (catalogUrl) next to the build;
#   * builds with hash history (no server-side routing) and path prefix "/";
#   * moves the result into $CACHE/stac-browser-4.0.1/dist atomically and removes node_modules
#     (415 MB; npm keeps its own download cache in ~/.npm, so a rebuild is offline-fast).
# After that, `sen12stac browse` needs no network.
#
# The cache folder: $SEN12STAC_BROWSER_CACHE, else $XDG_CACHE_HOME/sen12stac, else ~/.cache/sen12stac
# (shared by every clone of the project on the machine; never inside git).
set -euo pipefail

STAC_BROWSER_VERSION=4.0.1
OL_STAC_VERSION=1.1.0
PLAYWRIGHT_CORE_VERSION=1.65.1   # drives Debian's chromium (/usr/bin/chromium) in tests/test_browse.py

CACHE=${SEN12STAC_BROWSER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sen12stac}

want_tools=0
print_dir=0
while [ $# -gt 0 ]; do
  case $1 in
    --test-tools) want_tools=1 ;;
    --print-dir) print_dir=1 ;;
    --cache) shift; CACHE=${1:?--cache needs a folder} ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "build-stac-browser: unknown option $1 (use --test-tools, --print-dir or --cache DIR)" >&2; exit 2 ;;
  esac
  shift
done
BROWSER_DIR=$CACHE/stac-browser-$STAC_BROWSER_VERSION
TOOLS_DIR=$CACHE/playwright-core-$PLAYWRIGHT_CORE_VERSION
if [ $print_dir -eq 1 ]; then echo "$BROWSER_DIR"; exit 0; fi

browser_ready() { [ -f "$BROWSER_DIR/dist/index.html" ] && [ -f "$BROWSER_DIR/dist/.sen12stac-build" ]; }
tools_ready() { [ -f "$TOOLS_DIR/node_modules/playwright-core/package.json" ]; }

if browser_ready && { [ $want_tools -eq 0 ] || tools_ready; }; then
  exit 0
fi

for tool in node npm; do
  command -v $tool >/dev/null || { echo "build-stac-browser: $tool not found. Fix: run scripts/system-deps.sh (installs nodejs and npm)" >&2; exit 2; }
done

mkdir -p "$CACHE"
# One builder at a time per machine (other clones share the cache).
exec 9>"$CACHE/.build.lock"
flock -w 900 9 || { echo "build-stac-browser: another build holds $CACHE/.build.lock for 15 min. Fix: wait, or remove the lock if no build runs" >&2; exit 2; }

if ! browser_ready; then
  work=$(mktemp -d "$CACHE/.work.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "build-stac-browser: fetching @radiantearth/stac-browser@$STAC_BROWSER_VERSION into $work" >&2
  (cd "$work" && npm pack --silent "@radiantearth/stac-browser@$STAC_BROWSER_VERSION" >/dev/null)
  tar -xzf "$work"/radiantearth-stac-browser-$STAC_BROWSER_VERSION.tgz -C "$work"
  src=$work/package
  # Pin ol-stac exactly; the rest resolves as the package declares.
  (cd "$src" && npm pkg set "dependencies.ol-stac=$OL_STAC_VERSION")
  # Runtime configuration: uncomment the config.js script tag (docs/options.md of STAC Browser).
  sed -i 's#<!-- <script defer="defer" src="/config.js"></script> -->#<script defer="defer" src="/config.js"></script>#' "$src/public/index.html"
  grep -q '^ *<script defer="defer" src="/config.js"></script>' "$src/public/index.html" \
    || { echo "build-stac-browser: could not enable the runtime config.js in public/index.html" >&2; exit 1; }
  echo "build-stac-browser: npm install (about 50 s, 415 MB)" >&2
  (cd "$src" && npm install --no-audit --no-fund --loglevel=error)
  installed=$(cd "$src" && node -p "require('ol-stac/package.json').version")
  [ "$installed" = "$OL_STAC_VERSION" ] || { echo "build-stac-browser: ol-stac $installed installed, wanted $OL_STAC_VERSION" >&2; exit 1; }
  echo "build-stac-browser: npm run build (about 45 s)" >&2
  # Hash history: no server-side routing. No catalogUrl at build time: config.js sets it at run time.
  (cd "$src" && SB_historyMode=hash SB_pathPrefix=/ SB_noSourceMaps=true NODE_ENV=production npm run build --silent >"$work/build.log" 2>&1) \
    || { tail -40 "$work/build.log" >&2; exit 1; }
  printf 'window.STAC_BROWSER_CONFIG = {};\n' >"$src/dist/config.js"
  printf '{"stac-browser": "%s", "ol-stac": "%s", "historyMode": "hash", "runtimeConfig": "config.js"}\n' \
    "$STAC_BROWSER_VERSION" "$OL_STAC_VERSION" >"$src/dist/.sen12stac-build"
  cp "$src/LICENSE" "$src/dist/LICENSE-stac-browser.txt"
  rm -rf "$BROWSER_DIR.new" && mkdir -p "$BROWSER_DIR.new"
  mv "$src/dist" "$BROWSER_DIR.new/dist"
  rm -rf "$BROWSER_DIR" && mv "$BROWSER_DIR.new" "$BROWSER_DIR"
  echo "build-stac-browser: built $BROWSER_DIR/dist" >&2
fi

if [ $want_tools -eq 1 ] && ! tools_ready; then
  echo "build-stac-browser: npm install playwright-core@$PLAYWRIGHT_CORE_VERSION into $TOOLS_DIR" >&2
  mkdir -p "$TOOLS_DIR"
  (cd "$TOOLS_DIR" && npm install --no-audit --no-fund --loglevel=error --no-save "playwright-core@$PLAYWRIGHT_CORE_VERSION")
fi
