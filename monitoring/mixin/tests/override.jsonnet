// The mixin for another deployment: another service selector, exporter, SLO, zone and shard
// labels and runbook location. scripts/check-monitoring.sh renders it, checks the rules with
// promtool and fails if anything of the defaults (job="syseng", 0.995, the default runbook
// location) is left in them.
(import '../render.jsonnet')(mixin=(import '../mixin.libsonnet') + {
  _config+:: {
    serviceSelector: 'job="checkout",env="prod"',
    exporterSelector: 'job="checkout_exporter"',
    prometheusSelector: 'job="prometheus-prod"',
    alertmanagerSelector: 'job="alertmanager-prod"',
    sloTarget: 0.999,
    latencyTargetSeconds: 0.1,
    zoneLabel: 'availability_zone',
    shardLabel: 'prometheus_shard',
    runbookURLPattern: 'https://wiki.example.com/checkout/runbooks#%s',
    'for'+: { burnSlow: '30m', latency: '5m' },
  },
})
