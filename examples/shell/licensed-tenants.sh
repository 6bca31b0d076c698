#!/bin/sh
# The license check: prints the tenants of tenants.txt that licenses.txt lists, one a line.
# `baton schedule --tenants-command` runs it once a round, so a new license counts at once.
cd "$(dirname "$0")" && grep -v '^#' tenants.txt | grep -Fx -f licenses.txt
