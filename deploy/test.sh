#!/usr/bin/env bash
# One command: install what is missing, build, run every test. Ends with xunit's summary and a total.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# Test assemblies run in parallel on small machines: one torch (OpenMP) thread per process avoids
# oversubscribing the cores, which made training steps 30× slower on 2 cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

./deploy/install-deps.sh
echo "test: building (Release)"
dotnet build GenerateCT.Federated.sln -c Release --no-restore --verbosity quiet -nologo -clp:NoSummary

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test GenerateCT.Federated.sln -c Release --no-build --verbosity minimal -nologo \
  --blame-hang --blame-hang-timeout 20m 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

# Sum the per-assembly xunit summaries into one closing line.
awk '/(Passed|Failed)!  - Failed:/ {
       for (i = 1; i <= NF; i++) {
         if ($i == "Failed:")  { f += $(i+1) }
         if ($i == "Passed:")  { p += $(i+1) }
         if ($i == "Skipped:") { s += $(i+1) }
       }
       n++
     }
     END { gsub(",", "", p); printf "Total: %d passed, %d failed, %d skipped\n", p, f, s; if (n == 0) exit 1 }' "$log" || { echo "test: no test assembly reported results" >&2; exit 1; }
exit "$rc"
