// Recording rules of the kit (rendered to monitoring/rules/recording.yml).
{
  local cfg = $._config {
    errorBudget: '(1 - %s)' % $._config.sloTarget,
    sloPercent: (import 'lib/percent.libsonnet')($._config.sloTarget),
  },
  recordingHeader:: |||
  Recording rules of the syseng monitoring kit.

  Names follow level:metric:operations (https://prometheus.io/docs/practices/rules/):
    instance:  keeps job, zone, instance (one series per service instance)
    job_zone:  keeps job, zone
    job:       keeps job (the whole fleet of a job)
  Every level keeps `job` so that one Prometheus can monitor several deployments side by side.

  SLO (docs/operations.md#the-slo): %(sloPercent)s of requests answered non-5xx over %(sloWindow)s, so
  the error budget is a 5xx ratio of %(errorBudget)s. The burn-rate windows below are the ones the alerts in
  alerts.yml need (Google SRE workbook, chapter "Alerting on SLOs", multiwindow multi-burn-rate).

  Windows are written as literal range selectors ([1h]) so that a generator can rewrite them for
  short test overlays; rule names keep the nominal window.
||| % cfg,
  prometheusRules+:: {
    groups+: [
      {
        name: 'syseng.requests',
        comment:: |||
          Per-instance rates from the raw counters, then aggregates built on them, so a query over
          hundreds of instances reads these series instead of the raw ones. Rules that read other
          rules' results stay in this one group: a group evaluates its rules in order, so each step
          sees the values of the same step (separate groups run independently).
        |||,
        rules: [
          {
            record: 'instance_code:syseng_http_requests:rate5m',
            expr: 'sum by (job, %(zoneLabel)s, instance, code) (rate(syseng_http_requests_total[5m]))' % cfg,
          },
          {
            record: 'instance:syseng_http_requests:rate5m',
            expr: 'sum by (job, %(zoneLabel)s, instance) (rate(syseng_http_requests_total[5m]))' % cfg,
          },
          {
            comment:: |||
              An instance that never answered a 5xx has no code=~"5.." series at all; `or ... * 0`
              turns that into an explicit 0 so that ratios and sums stay defined.
            |||,
            record: 'instance:syseng_http_requests_errors:rate5m',
            expr: |||
              sum by (job, %(zoneLabel)s, instance) (rate(syseng_http_requests_total{code=~"5.."}[5m]))
              or
              sum by (job, %(zoneLabel)s, instance) (rate(syseng_http_requests_total[5m])) * 0
            ||| % cfg,
          },
          {
            record: 'instance:syseng_http_requests_errors:ratio_rate5m',
            expr: 'instance:syseng_http_requests_errors:rate5m / instance:syseng_http_requests:rate5m' % cfg,
          },
          {
            record: 'instance:syseng_http_request_duration_seconds_sum:rate5m',
            expr: 'sum by (job, %(zoneLabel)s, instance) (rate(syseng_http_request_duration_seconds_sum[5m]))' % cfg,
          },
          {
            record: 'instance:syseng_http_request_duration_seconds_count:rate5m',
            expr: 'sum by (job, %(zoneLabel)s, instance) (rate(syseng_http_request_duration_seconds_count[5m]))' % cfg,
          },
          {
            comment:: |||
              Mean latency: seconds spent per second divided by requests per second. Averaging the
              per-instance means instead would weight an idle instance like a busy one.
            |||,
            record: 'instance:syseng_http_request_duration_seconds:mean5m',
            expr: |||
              instance:syseng_http_request_duration_seconds_sum:rate5m
              /
              instance:syseng_http_request_duration_seconds_count:rate5m
            ||| % cfg,
          },
          {
            comment:: |||
              Aggregates per zone and per job, summed from the per-instance rates (sum of rates, never
              rate of sums: a restart of one instance must not look like a fleet-wide counter reset).
            |||,
            record: 'job_zone_code:syseng_http_requests:rate5m',
            expr: 'sum by (job, %(zoneLabel)s, code) (instance_code:syseng_http_requests:rate5m)' % cfg,
          },
          {
            record: 'job_zone:syseng_http_requests:rate5m',
            expr: 'sum by (job, %(zoneLabel)s) (instance:syseng_http_requests:rate5m)' % cfg,
          },
          {
            record: 'job_zone:syseng_http_requests_errors:rate5m',
            expr: 'sum by (job, %(zoneLabel)s) (instance:syseng_http_requests_errors:rate5m)' % cfg,
          },
          {
            record: 'job_zone:syseng_http_requests_errors:ratio_rate5m',
            expr: 'job_zone:syseng_http_requests_errors:rate5m / job_zone:syseng_http_requests:rate5m' % cfg,
          },
          {
            record: 'job_zone:syseng_http_request_duration_seconds:mean5m',
            expr: |||
              sum by (job, %(zoneLabel)s) (instance:syseng_http_request_duration_seconds_sum:rate5m)
              /
              sum by (job, %(zoneLabel)s) (instance:syseng_http_request_duration_seconds_count:rate5m)
            ||| % cfg,
          },
          {
            record: 'job_code:syseng_http_requests:rate5m',
            expr: 'sum by (job, code) (instance_code:syseng_http_requests:rate5m)' % cfg,
          },
          {
            record: 'job:syseng_http_requests:rate5m',
            expr: 'sum by (job) (instance:syseng_http_requests:rate5m)' % cfg,
          },
          {
            record: 'job:syseng_http_requests_errors:rate5m',
            expr: 'sum by (job) (instance:syseng_http_requests_errors:rate5m)' % cfg,
          },
          {
            record: 'job:syseng_http_request_duration_seconds:mean5m',
            expr: |||
              sum by (job) (instance:syseng_http_request_duration_seconds_sum:rate5m)
              /
              sum by (job) (instance:syseng_http_request_duration_seconds_count:rate5m)
            ||| % cfg,
          },
          {
            record: 'job:syseng_http_requests_errors:ratio_rate5m',
            expr: 'job:syseng_http_requests_errors:rate5m / job:syseng_http_requests:rate5m' % cfg,
          },
          {
            comment:: |||
              The burn-rate windows of alerts.yml: from the recorded job-level 5m rates, never from
              raw counters, since rate() over hours or days of every instance's samples is what
              costs most at each evaluation (about 2e9 samples a minute at 100,000 instances for
              30m-6h). The mean of the 5m rates over a window equals the rate over that window
              apart from its 5-minute edges, so the ratio of the two sums is the window's error
              ratio, weighted by traffic. 15m, the window of the fastest page, adds three
              consecutive 5m rates instead: exact, without the mean's extra 2.5 minutes of lag.
            |||,
            record: 'job:syseng_http_requests_errors:ratio_rate15m',
            expr: |||
              (
                job:syseng_http_requests_errors:rate5m
                + job:syseng_http_requests_errors:rate5m offset 5m
                + job:syseng_http_requests_errors:rate5m offset 10m
              )
              /
              (
                job:syseng_http_requests:rate5m
                + job:syseng_http_requests:rate5m offset 5m
                + job:syseng_http_requests:rate5m offset 10m
              )
            |||,
          },
        ] + [
          {
            record: 'job:syseng_http_requests_errors:ratio_rate' + window,
            expr: |||
              sum_over_time(job:syseng_http_requests_errors:rate5m[%(window)s])
              /
              sum_over_time(job:syseng_http_requests:rate5m[%(window)s])
            ||| % { window: window },
          }
          for window in ['30m', '1h', '2h', '6h', '1d', '3d', cfg.sloWindow]
        ],
      },
      {
        name: 'syseng.fleet',
        comment:: |||
          Fleet availability by instances: how many targets exist (Prometheus `up`) and how many of them
          deliver valid stats (`syseng_up == 1`). When a target's scrape fails its syseng_up series goes
          stale, so it counts as not answering; `or ... * 0` keeps the sum defined when none answers.
        |||,
        rules: [
          {
            record: 'job_zone:up:count',
            expr: 'count by (job, %(zoneLabel)s) (up{%(serviceSelector)s})' % cfg,
          },
          {
            record: 'job_zone:syseng_up:sum',
            expr: |||
              sum by (job, %(zoneLabel)s) (syseng_up{%(serviceSelector)s})
              or
              count by (job, %(zoneLabel)s) (up{%(serviceSelector)s}) * 0
            ||| % cfg,
          },
          {
            record: 'job_zone:syseng_up:ratio',
            expr: 'job_zone:syseng_up:sum / job_zone:up:count' % cfg,
          },
          {
            comment:: |||
              Per shard in a global store (its external label); on one Prometheus the same as
              job:up:count. SysengTargetsVanished and SysengZoneVanished compare it with its recent
              past, so that a shard that stops sending is not taken for a fleet that shrank.
            |||,
            record: 'job_shard:up:count',
            expr: 'count by (job, %(shardLabel)s) (up{%(serviceSelector)s})' % cfg,
          },
          {
            record: 'job:up:count',
            expr: 'sum by (job) (job_zone:up:count)' % cfg,
          },
          {
            record: 'job:syseng_up:sum',
            expr: 'sum by (job) (job_zone:syseng_up:sum)' % cfg,
          },
          {
            record: 'job:syseng_up:ratio',
            expr: 'job:syseng_up:sum / job:up:count' % cfg,
          },
        ],
      },
    ],
  },
}
