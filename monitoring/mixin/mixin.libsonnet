// The syseng monitoring mixin: prometheusRules, prometheusAlerts and grafanaDashboards in the
// community's format, configured through _config (config.libsonnet). render.jsonnet writes
// them as the files under monitoring/; scripts/check-monitoring.sh re-renders and diffs them.
(import 'config.libsonnet')
+ (import 'rules.libsonnet')
+ (import 'alerts.libsonnet')
+ (import 'dashboard.libsonnet')
