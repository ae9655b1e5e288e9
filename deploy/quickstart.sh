#!/usr/bin/env bash
# One command: install what is missing, build, put `gct` on PATH, and run the main job (`gct demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

./deploy/install-deps.sh
echo "quickstart: building (Release)"
dotnet build GenerateCT.Federated.sln -c Release --no-restore --verbosity quiet -nologo -clp:NoSummary

# `gct` on PATH (root installs); ./gct at the repository root works either way.
if [[ $EUID -eq 0 && -d /usr/local/bin ]]; then
  ln -sf "$(pwd)/gct" /usr/local/bin/gct
  echo "quickstart: gct installed as /usr/local/bin/gct"
fi

./gct demo "$@"
