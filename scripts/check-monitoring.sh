#!/usr/bin/env bash
# Checks the monitoring kit (monitoring/) with the real tools: every Prometheus config with
# promtool, the rules with promtool check/test, the dashboard's queries, the Alertmanager config
# and its routing with amtool, and what those tools do not check (tools/check_kit.py).
# usage: scripts/check-monitoring.sh        (from anywhere; needs promtool, amtool, python3)
set -euo pipefail
cd "$(dirname "$0")/.."
kit=monitoring
work=$(mktemp -d)
trap 'rm -rf "$work" "$kit"/prometheus/.check-*.yml' EXIT

step() { echo "-- $*"; }

step "mixin: the committed rules and dashboard equal a fresh render of monitoring/mixin/"
"$kit"/mixin/render.sh "$work/rendered"
for rendered in $(cd "$work/rendered" && find . -type f | sort); do
  diff -u "$kit/$rendered" "$work/rendered/$rendered" \
    || { echo "$kit/$rendered is stale: run $kit/mixin/render.sh" >&2; exit 1; }
done

step "mixin: another deployment's _config (mixin/tests/override.jsonnet) renders valid rules"
mkdir -p "$work/override/rules/shard" "$work/override/rules/global" "$work/override/dashboards"
jsonnet -J "$kit/mixin" -S -m "$work/override" "$kit/mixin/tests/override.jsonnet" >/dev/null
promtool check rules "$work"/override/rules/*.yml "$work"/override/rules/*/*.yml >/dev/null
# In rules, not comments: the selectors, the SLO, the runbook location, the zone and shard labels.
if grep -rnE 'job="syseng"|0\.995|99\.5%|github\.com/syseng|[(, ]zone[),=]|labels\.zone|[(, ]shard[),=]' \
    "$work/override/rules" | grep -vE '^[^:]+:[0-9]+:\s*#'; then
  echo "the override left the defaults above in the rendered rules" >&2; exit 1
fi
if ! { grep -q 'job="checkout",env="prod"' "$work/override/rules/alerts.yml" \
    && grep -q '(1 - 0.999)' "$work/override/rules/alerts.yml"; }; then
  echo "the override's selector or SLO is missing from the rendered alerts" >&2; exit 1
fi
python3 "$kit"/tools/check_kit.py dashboard "$work/override/dashboards/syseng.json" "$work/override-queries.json" >/dev/null
promtool check rules "$work/override-queries.json" >/dev/null
if grep -nE '0\.995|99\.5%' "$work/override/dashboards/syseng.json"; then
  echo "the override left the default SLO above in the rendered dashboard" >&2; exit 1
fi
echo "   override: valid rules and dashboard, none of the defaults left"

step "rules: promtool check rules (one Prometheus, and the shard/global split)"
promtool check rules "$kit"/rules/*.yml "$kit"/rules/shard/*.yml "$kit"/rules/global/*.yml

step "rules: promtool test rules (every alert and recording rule)"
promtool test rules "$kit"/tests/*_test.yml

step "rules: severity, annotations, runbook anchors, test coverage"
python3 "$kit"/tools/check_kit.py rules "$kit"/rules/alerts.yml "$kit"/rules/recording.yml \
  docs/operations.md "$kit"/tests/*_test.yml
python3 "$kit"/tools/check_kit.py rules "$kit"/rules/global/alerts.yml "$kit"/rules/global/recording.yml \
  docs/operations.md "$kit"/tests/*_test.yml

step "prometheus: promtool check config"
# Debian's promtool is built without Kubernetes discovery; for those configs check a copy with
# the discovery block removed (written beside the original, so relative paths still resolve).
kubernetes_sd_supported() {
  printf 'scrape_configs:\n  - job_name: probe\n    kubernetes_sd_configs: [{role: pod}]\n' \
    >"$work/k8s-probe.yml"
  promtool check config "$work/k8s-probe.yml" >/dev/null 2>&1
}
kubernetes_sd_supported && k8s=yes || k8s=no
configs=("$kit"/prometheus/*.yml)
for index in 0 1 2; do
  rendered="$kit/prometheus/.check-shard-$index-of-3.yml"
  "$kit"/prometheus/render-shard.sh "$index" 3 >"$rendered"
  grep -q "shard: \"$index\"" "$rendered" || { echo "render-shard.sh did not set shard $index" >&2; exit 1; }
  configs+=("$rendered")
done
for config in "${configs[@]}"; do
  if [ "$k8s" = no ] && grep -q 'kubernetes_sd_configs:' "$config"; then
    stripped="$kit/prometheus/.check-$(basename "$config" .yml)-without-k8s.yml"
    python3 "$kit"/tools/check_kit.py without-kubernetes-sd "$config" "$stripped"
    echo "   (promtool lacks kubernetes_sd: checking $config without its discovery blocks)"
    config=$stripped
  fi
  promtool check config "$config"
done

step "dashboard: JSON, template variables, units, every panel query"
python3 "$kit"/tools/check_kit.py dashboard "$kit"/dashboards/syseng.json "$work/dashboard-queries.json"
promtool check rules "$work/dashboard-queries.json"

step "alertmanager: amtool check-config and routing"
amtool check-config "$kit"/alertmanager/alertmanager.yml
route_of() {
  # (amtool warns that --config.file overrides --alertmanager.url: expected here)
  amtool config routes test --config.file="$kit"/alertmanager/alertmanager.yml "$@" 2>/dev/null
}
for severity in page ticket; do
  got=$(route_of alertname=SysengInstanceDown job=syseng "severity=$severity")
  [ "$got" = "$severity" ] || { echo "severity=$severity routes to '$got'" >&2; exit 1; }
done
got=$(route_of alertname=Unknown job=syseng)
[ "$got" = ticket ] || { echo "an alert without severity routes to '$got', want ticket" >&2; exit 1; }
got=$(route_of alertname=Watchdog severity=none)
[ "$got" = deadmansswitch ] || { echo "the Watchdog heartbeat routes to '$got', want deadmansswitch" >&2; exit 1; }
got=$(route_of alertname=SysengZoneVanished job=syseng severity=page zone=zone-a)
[ "$got" = page ] || { echo "SysengZoneVanished routes to '$got', want page" >&2; exit 1; }

echo "monitoring kit: all checks passed"
