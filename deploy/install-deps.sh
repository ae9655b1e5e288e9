#!/usr/bin/env bash
# Installs what GenerateCT.Federated needs on Debian 12, idempotently: Debian packages (PostgreSQL,
# dcmtk, Orthanc, pydicom, nibabel) and the NuGet packages of the solution. Safe to run again: it
# only asks apt for packages that are missing. Needs root (apt) and the .NET 10 SDK on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  postgresql          # embedded/private clusters (initdb, pg_ctl) — the node's default database, and tests
  dcmtk               # storescu/echoscu/storescp/dcmdump: DICOM peers in tests and the ingest benchmark
  orthanc             # a real PACS peer in tests
  python3-pydicom     # independent DICOM reader in tests
  python3-nibabel     # independent NIfTI reader in tests
  python3-numpy
  ca-certificates
  util-linux          # runuser: PostgreSQL runs as the unprivileged 'postgres' user when we are root
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "install-deps: missing Debian packages: ${missing[*]} — run this script as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Package installs must not start services in this shell (containers, CI): policy-rc.d says no.
  created_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
  if ((created_policy)); then rm -f /usr/sbin/policy-rc.d; fi
else
  echo "install-deps: Debian packages present"
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "install-deps: the .NET 10 SDK is required (https://learn.microsoft.com/dotnet/core/install/linux-debian); 'dotnet' is not on PATH" >&2
  exit 1
fi
major=$(dotnet --version | cut -d. -f1)
if ((major < 10)); then
  echo "install-deps: .NET SDK $(dotnet --version) found; 10.0 or newer is required" >&2
  exit 1
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
echo "install-deps: restoring NuGet packages"
dotnet restore GenerateCT.Federated.sln --verbosity quiet
