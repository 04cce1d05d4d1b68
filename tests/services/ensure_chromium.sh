#!/bin/sh
# Install Debian's headless-capable Chromium for the browser tests (tests/test_card_screens.py and
# tests/test_ui_browser.py, through Playwright) when it is missing and we are root on Debian/Ubuntu; otherwise do
# nothing (the tests then fail under `make test`, or skip with ARTIFLOW_TEST_REQUIRE_CHROMIUM=0, saying what to
# install). Playwright's own browser downloads are never used.
set -eu

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: Chromium is not installed and this is not root on Debian/Ubuntu;" \
         "install the 'chromium' package (sudo apt-get install chromium) for the browser tests." >&2
    exit 0
fi

echo "ensure_chromium: installing Debian's chromium package for the tests ..."
export DEBIAN_FRONTEND=noninteractive
# refresh the package lists only when apt does not know the package yet
if ! apt-cache show chromium >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
fi
if ! apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
command -v chromium >/dev/null
