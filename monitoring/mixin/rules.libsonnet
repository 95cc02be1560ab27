// Recording rules of the kit (rendered to monitoring/rules/recording.yml).
{
  local cfg = $._config { errorBudget: '(1 - %s)' % $._config.sloTarget },
  recordingHeader:: |||
  Recording rules of the syseng monitoring kit.

  Names follow level:metric:operations (https://prometheus.io/docs/practices/rules/):
    instance:  keeps job, zone, instance (one series per service instance)
    job_zone:  keeps job, zone
    job:       keeps job (the whole fleet of a job)
  Every level keeps `job` so that one Prometheus can monitor several deployments side by side.

  SLO (docs/operations.md#the-slo): 99.5% of requests answered non-5xx over 30 days, so the error
  budget is a 5xx ratio of 0.005. The burn-rate windows below are the ones the alerts in
  alerts.yml need (Google SRE workbook, chapter "Alerting on SLOs", multiwindow multi-burn-rate).

  Windows are written as literal range selectors ([1h]) so that a generator can rewrite them for
  short test overlays; rule names keep the nominal window.
|||,
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
              1d, 3d and 30d (the SLO's window) average the recorded 5m rates: rate() over days of
              raw samples of every instance is expensive at each evaluation. The mean of the 5m rates
              over a window equals the rate over that window apart from its 5-minute edges, so the
              ratio of the two means is the window's error ratio, weighted by traffic.
            |||,
            record: 'job:syseng_http_requests_errors:ratio_rate1d',
            expr: |||
              sum_over_time(job:syseng_http_requests_errors:rate5m[1d])
              /
              sum_over_time(job:syseng_http_requests:rate5m[1d])
            ||| % cfg,
          },
          {
            record: 'job:syseng_http_requests_errors:ratio_rate3d',
            expr: |||
              sum_over_time(job:syseng_http_requests_errors:rate5m[3d])
              /
              sum_over_time(job:syseng_http_requests:rate5m[3d])
            ||| % cfg,
          },
          {
            record: 'job:syseng_http_requests_errors:ratio_rate30d',
            expr: |||
              sum_over_time(job:syseng_http_requests_errors:rate5m[30d])
              /
              sum_over_time(job:syseng_http_requests:rate5m[30d])
            ||| % cfg,
          },
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
      {
        name: 'syseng.slo',
        comment:: |||
          Error ratio (5xx over all) per job over the short windows of the burn-rate alerts, from the
          raw counters. The ratios over 5m, 1d, 3d and 30d are in syseng.requests.
        |||,
        rules: [
          {
            record: 'job:syseng_http_requests_errors:ratio_rate30m',
            expr: |||
              (
                sum by (job) (rate(syseng_http_requests_total{code=~"5.."}[30m]))
                or
                sum by (job) (rate(syseng_http_requests_total[30m])) * 0
              )
              /
              sum by (job) (rate(syseng_http_requests_total[30m]))
            ||| % cfg,
          },
          {
            record: 'job:syseng_http_requests_errors:ratio_rate1h',
            expr: |||
              (
                sum by (job) (rate(syseng_http_requests_total{code=~"5.."}[1h]))
                or
                sum by (job) (rate(syseng_http_requests_total[1h])) * 0
              )
              /
              sum by (job) (rate(syseng_http_requests_total[1h]))
            ||| % cfg,
          },
          {
            record: 'job:syseng_http_requests_errors:ratio_rate2h',
            expr: |||
              (
                sum by (job) (rate(syseng_http_requests_total{code=~"5.."}[2h]))
                or
                sum by (job) (rate(syseng_http_requests_total[2h])) * 0
              )
              /
              sum by (job) (rate(syseng_http_requests_total[2h]))
            ||| % cfg,
          },
          {
            record: 'job:syseng_http_requests_errors:ratio_rate6h',
            expr: |||
              (
                sum by (job) (rate(syseng_http_requests_total{code=~"5.."}[6h]))
                or
                sum by (job) (rate(syseng_http_requests_total[6h])) * 0
              )
              /
              sum by (job) (rate(syseng_http_requests_total[6h]))
            ||| % cfg,
          },
        ],
      },
    ],
  },
}
