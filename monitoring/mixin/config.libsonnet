// Everything a deployment may want to change, in one place. Override with
//   (import 'mixin.libsonnet') + { _config+:: { serviceSelector: 'job="checkout"' } }
{
  _config+:: {
    // Label matchers (without braces) of the service's targets and of the multi-target
    // exporter's own targets; the exporter selector is used only by SysengExporterDown.
    serviceSelector: 'job="syseng"',
    exporterSelector: 'job="syseng_exporter"',
    // The Prometheus servers and Alertmanagers that evaluate and deliver these alerts, for the
    // self-monitoring alerts (empty: every one whose metrics this Prometheus has).
    prometheusSelector: '',
    alertmanagerSelector: '',

    // The SLO: this share of requests is answered non-5xx over sloWindow. The error budget is
    // (1 - sloTarget); every burn-rate threshold is a multiple of it.
    sloTarget: 0.995,
    sloWindow: '30d',
    sloWindowName: '30-day',  // sloWindow in words, for the alerts' text
    // Mean latency above which users wait noticeably (healthy: 25-60 ms).
    latencyTargetSeconds: 0.25,

    // Grouping labels: the failure domain every target carries, and the external label that
    // tells the Prometheus shards apart in a global store.
    zoneLabel: 'zone',
    shardLabel: 'shard',
    // The job in which every Prometheus of a shard scrapes itself (prometheus/sharded.yml): one
    // `up` series per server, replicas included, for SysengShardReplicaMissing.
    shardServerSelector: 'job="prometheus"',

    // Below this many requests per second for the whole job, an error-ratio page would be about
    // a handful of requests (at night, in a test deployment): the burn-rate pages need it.
    pageMinRequestRate: 1,
    // SysengTrafficDrop: a zone whose traffic fell below this share of its maximum over
    // trafficReferenceWindow, having had at least trafficMinRequestRate requests/s then.
    trafficDropRatio: 0.1,
    trafficMinRequestRate: 1,
    trafficReferenceWindow: '6h',
    // SysengTargetsVanished: fewer targets than this share of the most seen in the last hour.
    targetsVanishedRatio: 0.75,

    'for': {
      burnFast: '0m',
      burnSlow: '15m',
      latency: '10m',
      instanceLatency: '15m',
      instanceErrors: '15m',
      fleetInstancesDown: '5m',
      instanceDown: '5m',
      exporterCannotRead: '5m',
      targetsAbsent: '10m',
      exporterDown: '5m',
      trafficDrop: '10m',
      zoneVanished: '5m',
      targetsVanished: '10m',
      shardMissing: '2m',
      shardReplicaMissing: '5m',
      ruleFailures: '5m',
      notificationFailures: '10m',
    },

    // Where each alert's runbook is: %s is the alert name in lower case (the anchor of its
    // heading in docs/operations.md). Set it to where your copy of the docs is served.
    runbookURLPattern: 'https://github.com/syseng-challenge/syseng_exporter/blob/main/docs/operations.md#%s',
  },
}
