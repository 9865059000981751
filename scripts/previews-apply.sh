#!/usr/bin/env bash
# Carries out the preview-stack decisions of `python -m infra.previews plan --format lines`, read from stdin:
# one line per decision, "<action> <stack> <number> <head sha>". The decisions are made (and tested) in
# infra/previews.py; this only runs the Pulumi CLI for them. PULUMI_ORG, when set, qualifies stack names.
# Needs the Pulumi CLI logged in, cloud credentials, NEON_API_KEY and SENTRY_AUTH_TOKEN in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${PULUMI_ORG:+$PULUMI_ORG/}"
status=0
while read -r action stack number head; do
  [[ -z "${action:-}" ]] && continue
  qualified="${prefix}${stack}"
  echo "::group::${action} ${qualified} (pull request #${number}, ${head})"
  case "$action" in
    create)  pulumi stack init "$qualified" && pulumi up --yes --stack "$qualified" || status=1 ;;
    update)  pulumi up --yes --stack "$qualified" || status=1 ;;
    destroy) pulumi destroy --yes --stack "$qualified" && pulumi stack rm --yes "$qualified" || status=1 ;;
    skip)    echo "skipped: see the decision's reason in the JSON output" ;;
    *)       echo "unknown decision '${action}'" >&2; exit 2 ;;
  esac
  echo "::endgroup::"
done
exit "$status"
